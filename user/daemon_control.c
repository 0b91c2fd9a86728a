// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's control socket: connect, write one line, read one JSON
 * document.  The commands are a table (vrd_cmds: the words, the argument
 * they take, the handler, the help); one dispatcher matches a line against
 * it, and the same table writes the --help line and the answer to a line
 * it does not know.
 *
 * Whoever may connect may add devices, which listen and connect where they
 * say: the socket is 0600 from the start, never the socket group's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <jansson.h>

#include "access.h"
#include "clock.h"
#include "daemon.h"
#include "qstats_json.h"
#include "defaults.h"
#include "log.h"
#include "proxy.h"
#include "uxlate.h"

/* What follows a command's words. */
enum vrd_arg {
	VRD_ARG_NONE,		/* nothing: the line is the words */
	VRD_ARG_SPEC,		/* a device: NAME,vmm=PATH,backend=PATH[,kick=...] */
	VRD_ARG_NAME,		/* a device's name */
};

struct vrd_cmd {
	const char *words;
	enum vrd_arg arg;
	json_t *(*fn)(struct vrd_daemon *d, const char *arg);
	const char *help;	/* for --help; NULL: an alias, not shown */
};

/* How an argument is named in the answer to an unknown line. */
static const char *const vrd_arg_names[] = {
	[VRD_ARG_NONE] = "", [VRD_ARG_SPEC] = " SPEC", [VRD_ARG_NAME] = " NAME",
};

static json_t *vrd_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

static json_t *vrd_error(const char *why)
{
	return json_pack("{s:s}", "error", why);
}

/* One device as `device list` tells it. */
static json_t *vrd_device_json(const struct vrm_proxy_info *in)
{
	char feat[24], bfeat[24];
	json_t *o;

	snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)in->guest_features);
	snprintf(bfeat, sizeof(bfeat), "0x%llx", (unsigned long long)in->backend_features);
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s}",
		      "slot", (int)in->slot, "name", in->name, "vmm_socket", in->vmm_path,
		      "backend_socket", in->backend_path, "state", in->state,
		      /* Negotiated: unknown before the guest says (a blk
		       * device's order is configured). */
		      "byte_order", !in->negotiated && in->type != VRM_DEV_BLK ? "unknown" :
				    in->order == VRM_ORDER_BE ? "big" : "little",
		      "virtio", !in->negotiated ? "unknown" : in->legacy ? "legacy" : "modern",
		      "features", feat, "backend_features", bfeat, "vmm_pid", (int)in->vmm_pid,
		      "sessions", (int)in->sessions, "teardowns", (int)in->teardowns,
		      "deferred_kicks_completed", (int)in->deferred_done,
		      "last_error", in->last_error);
	/* How kicks reach the core ("auto" until the first ring runs), and
	 * why; how often the rings started (pauses, resets). */
	json_object_set_new(o, "kick_path", json_string(vrm_kick_path_name(in->kick_path)));
	/* Who opens the VMM's socket: the VMM (we listen) or we (vmm_client). */
	json_object_set_new(o, "vmm_client", json_boolean(in->vmm_client));
	json_object_set_new(o, "kick_path_why", json_string(in->kick_why));
	json_object_set_new(o, "starts", json_integer((json_int_t)in->starts));
	/* A busy queue's polling: its longest idle spell (0: never). */
	json_object_set_new(o, "poll_us", json_integer((json_int_t)in->poll_us));
	json_object_set_new(o, "type", json_string(in->type == VRM_DEV_BLK ? "blk" : "net"));
	json_object_set_new(o, "memory_regions", json_integer((json_int_t)in->mem_regions));
	json_object_set_new(o, "guest_memory_bytes", json_integer((json_int_t)in->mem_bytes));
	return o;
}

/* An array of what `add` makes of every running device. */
static json_t *vrd_each_device(struct vrd_daemon *d,
			       void (*add)(struct vrd_daemon *d, const struct vrm_proxy_info *in,
					   json_t *arr))
{
	json_t *arr = json_array();

	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		struct vrm_proxy_info in;

		if (!d->dev[i])
			continue;
		vrm_proxy_info(d->dev[i]->p, &in);
		add(d, &in, arr);
	}
	return arr;
}

static void vrd_add_device_row(struct vrd_daemon *d, const struct vrm_proxy_info *in,
			       json_t *arr)
{
	json_array_append_new(arr, vrd_device_json(in));
}

static json_t *vrd_cmd_device_list(struct vrd_daemon *d, const char *arg)
{
	return vrd_each_device(d, vrd_add_device_row);
}

/* How queue q's kicks reached the core: the kick path it last ran on, and
 * "+poll" once its device thread polled it. */
static const char *vrd_queue_mode(const struct vrm_proxy_info *in, unsigned q)
{
	bool polled = in->poll_periods[q] != 0;

	switch (in->queue_path[q]) {
	case VRM_KICK_BPF:
		return polled ? "bpf+poll" : "bpf";
	case VRM_KICK_USERSPACE:
		return polled ? "userspace+poll" : "userspace";
	default:
		return polled ? "poll" : "none";
	}
}

/* Queue q of a device: what BPF and the daemon did (counters summed over
 * CPUs), with the errors by verdict name; NULL when it has nothing. */
static json_t *vrd_queue_stats(struct vrd_daemon *d, const struct vrm_proxy_info *in, uint32_t q)
{
	struct vrm_qstats st;
	json_t *row, *counters;

	if (vrm_bpf_read_stats(&d->b, in->slot * VRM_DEV_QUEUES + q, &st))
		return NULL;
	if (!st.kicks && !st.used && q >= in->nqueues)
		return NULL;	/* a ring the device does not have */
	/* "device" first: readers of the text find a row by its start. */
	row = json_pack("{s:s}", "device", in->name);
	counters = vrm_qstats_json(&st, q);
	if (row && counters)
		json_object_update(row, counters);
	json_decref(counters);
	if (row && q < VRM_PROXY_NQ) {
		/* The used path's, since this daemon started. */
		json_object_set_new(row, "guest_calls", json_integer((json_int_t)in->calls[q]));
		json_object_set_new(row, "guest_calls_suppressed",
				    json_integer((json_int_t)in->calls_suppressed[q]));
		/* The mode the queue ran in: its kicks' path, "+poll" once it
		 * was polled; the polling periods, the chains translated
		 * meanwhile (kicks the guest did not make), the back-end's
		 * kicks for a batch's first part, and the time. */
		json_object_set_new(row, "mode", json_string(vrd_queue_mode(in, q)));
		json_object_set_new(row, "poll_periods",
				    json_integer((json_int_t)in->poll_periods[q]));
		json_object_set_new(row, "poll_chains",
				    json_integer((json_int_t)in->poll_chains[q]));
		json_object_set_new(row, "poll_first_kicks",
				    json_integer((json_int_t)in->poll_first_kicks[q]));
		json_object_set_new(row, "poll_us", json_integer((json_int_t)(in->poll_ns[q] / 1000)));
		/* What event idx saved: the guest's kicks and calls, the
		 * back-end's kicks. */
		json_object_set_new(row, "event_idx_guest_kicks_saved",
				    json_integer((json_int_t)in->eidx_kicks_saved[q]));
		json_object_set_new(row, "event_idx_guest_calls_saved",
				    json_integer((json_int_t)in->eidx_calls_saved[q]));
		json_object_set_new(row, "event_idx_backend_kicks_saved",
				    json_integer((json_int_t)in->eidx_be_kicks_saved[q]));
		json_object_set_new(row, "event_idx_rescues",
				    json_integer((json_int_t)in->eidx_rescues[q]));
		/* Of the kicks, the translation rounds the daemon ran itself
		 * (polling, re-arming, deferred): the rest came from the
		 * guest. */
		if (d->b.ustats)
			json_object_set_new(row, "kicks_userspace",
					    json_integer((json_int_t)d->b.ustats[in->slot * VRM_DEV_QUEUES + q].kicks));
	}
	return row;
}

static void vrd_add_stats_rows(struct vrd_daemon *d, const struct vrm_proxy_info *in,
			       json_t *arr)
{
	for (uint32_t q = 0; q < VRM_DEV_QUEUES; q++) {
		json_t *row = vrd_queue_stats(d, in, q);

		if (row)
			json_array_append_new(arr, row);
	}
}

static json_t *vrd_cmd_stats(struct vrd_daemon *d, const char *arg)
{
	return vrd_each_device(d, vrd_add_stats_rows);
}

static json_t *vrd_cmd_device_add(struct vrd_daemon *d, const char *spec)
{
	char err[1024] = "";

	if (vrd_add_device(d, spec, VRD_CONTROL, err, sizeof(err))) {
		pr_warn("control: device add refused: %s\n", err);
		return vrd_error(err);
	}
	vrd_control_save(d);
	return vrd_ok();
}

static json_t *vrd_cmd_device_del(struct vrd_daemon *d, const char *name)
{
	struct vrd_dev *dv = vrd_find(d, name);
	bool ours = dv && dv->origin == VRD_CONTROL;

	if (vrd_del_device(d, name))
		return vrd_error("no such device");
	if (ours)
		vrd_control_save(d);
	return vrd_ok();
}

/* ---- the control socket's devices, kept for the next daemon ---------- */

/* "<control socket>.devices": in the socket's directory (/run/vringmed under
 * the unit: gone with a reboot). */
static bool vrd_devices_file(const struct vrd_daemon *d, char *buf, size_t len)
{
	return d->ctl_path && (size_t)snprintf(buf, len, "%s.devices", d->ctl_path) < len;
}

void vrd_control_save(struct vrd_daemon *d)
{
	char path[256], tmp[272];
	int n = 0, fd;
	FILE *f;

	if (!vrd_devices_file(d, path, sizeof(path)))
		return;
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		pr_warn("cannot write %s: %s: the control socket's devices will not outlive this "
			"daemon\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	fprintf(f, "# vringmedd's devices added on its control socket %s, for the next vringmedd\n"
		"# after a restart, a stop with SIGTERM or a crash; written by the daemon,\n"
		"# removed by SIGINT\n",
		d->ctl_path);
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i] && d->dev[i]->origin == VRD_CONTROL) {
			fprintf(f, "%s\n", d->dev[i]->spec);
			n++;
		}
	/* All or nothing: a daemon killed while writing leaves the old file. */
	if (fflush(f) || fsync(fileno(f)) || fclose(f) || (n ? rename(tmp, path) : unlink(path) &&
							   errno != ENOENT)) {
		pr_warn("cannot write %s: %s\n", path, strerror(errno));
		unlink(tmp);
		return;
	}
	if (!n)
		unlink(tmp);
}

void vrd_control_restore(struct vrd_daemon *d)
{
	char path[256], line[VRD_SPEC_LEN + 2], err[1024];
	struct vrm_proxy_cfg cfg;
	const char *why;
	bool changed = false;
	FILE *f;

	if (!vrd_devices_file(d, path, sizeof(path)) || !(f = fopen(path, "re")))
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0] || line[0] == '#')
			continue;
		if (vrm_proxy_parse(line, &cfg, &why)) {
			pr_warn("%s: '%s' left out: %s\n", path, line, why);
			changed = true;
		} else if (vrd_find(d, cfg.name)) {
			pr_info("%s: device %s is configured here already: that one runs\n", path,
				cfg.name);
			changed = true;
		} else if (vrd_add_device(d, line, VRD_CONTROL, err, sizeof(err))) {
			pr_warn("%s: %s\n", path, err);
			changed = true;
		} else {
			pr_info("device %s: added again, as the control socket added it before the "
				"daemon restarted (%s)\n", cfg.name, path);
		}
	}
	fclose(f);
	if (changed)
		vrd_control_save(d);
}

void vrd_control_forget(struct vrd_daemon *d)
{
	char path[256];

	if (vrd_devices_file(d, path, sizeof(path)))
		unlink(path);
}

static const struct vrd_cmd vrd_cmds[] = {
	{ "device list", VRD_ARG_NONE, vrd_cmd_device_list, "device list" },
	{ "device add", VRD_ARG_SPEC, vrd_cmd_device_add,
	  "device add NAME,vmm=PATH,backend=PATH" },
	{ "device del", VRD_ARG_NAME, vrd_cmd_device_del, "device del NAME" },
	{ "stats", VRD_ARG_NONE, vrd_cmd_stats, "stats" },
	{ "device", VRD_ARG_NONE, vrd_cmd_device_list, NULL },
};

#define VRD_NCMDS (sizeof(vrd_cmds) / sizeof(vrd_cmds[0]))

void vrd_control_usage(FILE *f)
{
	const char *sep = "  ";

	for (size_t i = 0; i < VRD_NCMDS; i++)
		if (vrd_cmds[i].help) {
			fprintf(f, "%s%s", sep, vrd_cmds[i].help);
			sep = " | ";
		}
	fputc('\n', f);
}

/* "unknown command: expected 'device list', ..., or 'stats'". */
static json_t *vrd_unknown(void)
{
	char why[256];
	size_t n = 0, shown = 0, last = 0;

	for (size_t i = 0; i < VRD_NCMDS; i++)
		if (vrd_cmds[i].help)
			last = i;
	n += (size_t)snprintf(why, sizeof(why), "unknown command: expected ");
	for (size_t i = 0; i < VRD_NCMDS && n < sizeof(why); i++) {
		if (!vrd_cmds[i].help)
			continue;
		n += (size_t)snprintf(why + n, sizeof(why) - n, "%s'%s%s'",
				      !shown ? "" : i == last ? " or " : ", ", vrd_cmds[i].words,
				      vrd_arg_names[vrd_cmds[i].arg]);
		shown++;
	}
	return vrd_error(why);
}

/* The dispatcher: the row whose words are the line (or, for one that takes
 * an argument, its start, a space and the argument). */
static json_t *vrd_control_cmd(struct vrd_daemon *d, char *line)
{
	line[strcspn(line, "\r\n")] = 0;
	for (size_t i = 0; i < VRD_NCMDS; i++) {
		const struct vrd_cmd *c = &vrd_cmds[i];
		size_t len = strlen(c->words);

		if (c->arg == VRD_ARG_NONE && !strcmp(line, c->words))
			return c->fn(d, NULL);
		if (c->arg != VRD_ARG_NONE && !strncmp(line, c->words, len) && line[len] == ' ')
			return c->fn(d, line + len + 1);
	}
	return vrd_unknown();
}

/*
 * Clients are served from the main loop without ever waiting on one: each
 * is a non-blocking socket in the loop with a buffer of its own, answered
 * once its line is whole (however it was split on the way: socat, a
 * script's two writes) or it ends, and closed after VRM_CONTROL_TIMEOUT_S
 * without one.  A full house closes its oldest client: idle clients can
 * neither hold the loop (the signals, the watchdog) nor lock an operator
 * out.
 */
struct vrd_client {
	struct vrm_ev ev;
	struct vrd_daemon *d;
	struct vrd_client *next;	/* closed, to be freed */
	uint64_t since_ms;
	size_t got;
	char line[600];
};

/* Closed now, freed at the next tick: an event of it may still wait in the
 * batch the loop is dispatching (vrm_ev_dispatch skips a closed one). */
static void vrd_client_close(struct vrd_daemon *d, struct vrd_client *c)
{
	for (int i = 0; i < VRD_CTL_CLIENTS; i++)
		if (d->ctl_client[i] == c)
			d->ctl_client[i] = NULL;
	vrm_ev_del(d->epfd, &c->ev);
	close(c->ev.fd);
	c->ev.fd = -1;
	c->next = d->ctl_closed;
	d->ctl_closed = c;
}

static void vrd_clients_free(struct vrd_daemon *d)
{
	while (d->ctl_closed) {
		struct vrd_client *c = d->ctl_closed;

		d->ctl_closed = c->next;
		free(c);
	}
}

static void vrd_client_answer(struct vrd_daemon *d, struct vrd_client *c)
{
	json_t *ans = vrd_control_cmd(d, c->line);
	char *out = json_dumps(ans, JSON_COMPACT);

	/* The client asked and reads: the answer fits its socket's buffer. */
	if (out && (send(c->ev.fd, out, strlen(out), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 ||
		    send(c->ev.fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0))
		pr_debug("control: reply lost: %s\n", strerror(errno));
	free(out);
	json_decref(ans);
}

static void vrd_on_client(struct vrm_ev *ev, uint32_t events)
{
	struct vrd_client *c = ev->ctx;
	struct vrd_daemon *d = c->d;
	ssize_t n;

	(void)events;
	n = recv(ev->fd, c->line + c->got, sizeof(c->line) - 1 - c->got, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		c->got += (size_t)n;
	c->line[c->got] = 0;
	if (n > 0 && !memchr(c->line, '\n', c->got) && c->got < sizeof(c->line) - 1)
		return;		/* more to come */
	if (c->got)
		vrd_client_answer(d, c);
	vrd_client_close(d, c);
}

static void vrd_on_control(struct vrm_ev *ev, uint32_t events)
{
	struct vrd_daemon *d = ev->ctx;
	struct vrd_client *c;
	int fd, slot = -1, oldest = 0;

	(void)events;
	fd = accept4(ev->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	for (int i = 0; i < VRD_CTL_CLIENTS && slot < 0; i++)
		if (!d->ctl_client[i])
			slot = i;
		else if (d->ctl_client[i]->since_ms < d->ctl_client[oldest]->since_ms)
			oldest = i;
	if (slot < 0) {
		vrd_client_close(d, d->ctl_client[oldest]);
		slot = oldest;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->ev = (struct vrm_ev){ .fd = fd, .fn = vrd_on_client, .ctx = c };
	c->d = d;
	c->since_ms = vrm_now_ms();
	if (vrm_ev_add(d->epfd, &c->ev, EPOLLIN)) {
		close(fd);
		free(c);
		return;
	}
	d->ctl_client[slot] = c;
}

void vrd_control_tick(struct vrd_daemon *d)
{
	uint64_t now = vrm_now_ms();

	vrd_clients_free(d);
	for (int i = 0; i < VRD_CTL_CLIENTS; i++)
		if (d->ctl_client[i] && now - d->ctl_client[i]->since_ms >= VRM_CONTROL_TIMEOUT_S * 1000)
			vrd_client_close(d, d->ctl_client[i]);
}

/* A socket file at `path` nobody serves (a crashed run's) is removed; one
 * another vringmedd serves is refused.  0 or -EADDRINUSE. */
int vrd_control_open(struct vrd_daemon *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		pr_warn("control socket path too long: %s\n", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		if (mkdir(dir, 0755) && errno != EEXIST) {
			pr_warn("cannot create %s: %s\n", dir, strerror(errno));
			return -errno;
		}
	}
	err = vrm_access_claim(path);
	if (err == -EADDRINUSE)
		pr_warn("control socket %s is served by another vringmedd "
			"(use --control PATH or --control none)\n", path);
	else if (err == -EEXIST)
		pr_warn("control socket %s exists and is not a socket\n", path);
	if (err)
		return err;
	d->ctl = (struct vrm_ev){ .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
				 .fn = vrd_on_control, .ctx = d };
	if (d->ctl.fd < 0 || (errno = -vrm_access_listen(d->ctl.fd, path, 8, false)) ||
	    vrm_ev_add(d->epfd, &d->ctl, EPOLLIN)) {
		err = errno;
		pr_warn("cannot serve the control socket %s: %s\n", path, strerror(err));
		if (d->ctl.fd >= 0)
			close(d->ctl.fd);
		d->ctl.fd = -1;
		return -err;
	}
	d->ctl_path = path;
	return 0;
}

void vrd_control_close(struct vrd_daemon *d)
{
	for (int i = 0; i < VRD_CTL_CLIENTS; i++)
		if (d->ctl_client[i])
			vrd_client_close(d, d->ctl_client[i]);
	vrd_clients_free(d);
	if (d->ctl.fd < 0)
		return;
	close(d->ctl.fd);
	unlink(d->ctl_path);
	d->ctl.fd = -1;
}
