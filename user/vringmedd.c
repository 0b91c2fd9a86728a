// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd: the loader daemon.  Loads vringmed's BPF object, attaches the
 * notification sources the host allows, pins maps and links under one
 * flock-protected pin root; each device's thread completes in userspace the
 * kicks BPF hands over (deferred kicks) with the same translation core.
 *
 * For every device given with --device (or added through the control
 * socket) it is a vhost-user proxy (user/proxy.c): a back-end towards the
 * VMM, a front-end towards a modern-only back-end.
 *
 * A clean stop (SIGTERM, SIGINT) removes every pin it owns.  A crash leaves
 * the pins: the programs keep translating kicks in the kernel, and the next
 * vringmedd adopts maps, links and counters as they are.
 *
 * Threads: the main one owns signals, the deferred-kick ring buffer, the
 * control socket, slot allocation and the watchdog; every device runs in a
 * thread of its own, with its own epoll loop over that proxy's fds (VMM and
 * back-end sockets, the back-end's calls: the used path) and that device's
 * deferred kicks.  All of a device's userspace work on its queues happens in
 * its thread, so a back-end that stops answering holds its own device and
 * nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "access.h"
#include "loader.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "sdnotify.h"
#include "uxlate.h"
#include "vringmed.skel.h"

#define VRD_SCAN_MS 200	/* deferred flags are rescanned this often */
#define VRD_POLL_TURNS 32	/* a polling device's turns between looks at its fds */
/* How long `device del` and a stop wait for a device's thread to end its
 * session before they abandon it (vrd_dev_join): the main thread serves the
 * control socket, the ring buffer and the watchdog of every device. */
#define VRD_JOIN_MS 500
#define VRD_CONTROL "/run/vringmed/control.sock"

struct vmd;

/* A device and the thread that runs it. */
struct vrd_dev {
	struct vmd *d;
	struct vrm_proxy *p;
	uint32_t slot;
	int epfd;			/* the device's own loop */
	struct vrm_ev wake;		/* eventfd: a deferred kick, or stop */
	pthread_t thr;
	atomic_bool stop;
	atomic_int fate;		/* enum vrd_fate */
	char name[32];			/* ... for once the proxy may be gone */
	char vmm_path[108];
};

/* Who frees a device that was asked to stop: whoever of the main thread
 * and the device's own settles it first (vrd_dev_join, vrd_dev_main). */
enum vrd_fate {
	VRD_RUNNING,
	VRD_ENDED,		/* the thread ended in time: the main thread joins it */
	VRD_ABANDONED,		/* it did not: it frees itself when it ends */
};

/* A slot whose device was abandoned: reserved, with its name and VMM
 * socket, until its thread ends (it still tears its session down there). */
struct vrd_zombie {
	atomic_bool live;
	char name[32];
	char vmm_path[108];
};

struct vmd {
	struct vrm_bpf b;
	struct ring_buffer *rb;
	__u32 broken_seen[VRM_MAX_DEVICES];
	int epfd;
	struct vrd_dev *dev[VRM_MAX_DEVICES];
	struct vrd_zombie zombie[VRM_MAX_DEVICES];
	struct vrm_ev ctl;
	const char *ctl_path;
	struct vrm_metrics *metrics;
	const char *label_state[VRM_MAX_DEVICES];	/* last state told to metrics */
	enum vrm_kick_path label_kick[VRM_MAX_DEVICES];
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: vringmedd [OPTIONS]\n"
"\n"
"Loads vringmed's BPF programs, attaches them to the kick notification points\n"
"this host allows, pins maps and links under PIN_ROOT, and completes the kicks\n"
"BPF could not finish.  Stop it with SIGTERM or SIGINT to remove what it\n"
"pinned; after a crash, start it again and it adopts the pinned state (kicks\n"
"are translated meanwhile) and resumes each ring where it was when the same\n"
"VMM reconnects.\n"
"\n"
"  -d, --device NAME,vmm=PATH,backend=PATH[,kick=auto|bpf|userspace][,poll=US|off]\n"
"                       mediate a virtio-net device: listen for the VMM's\n"
"                       vhost-user connection on PATH, and connect to the\n"
"                       modern back-end's socket when the VMM arrives\n"
"                       (repeatable, up to %d devices); kick= as --kick-path,\n"
"                       poll= as --poll\n"
"  -k, --kick-path auto|bpf|userspace\n"
"                       how guest kicks reach the translation (default auto:\n"
"                       BPF where an attached hook sees them, else userspace;\n"
"                       a BPF device whose kicks go unseen switches itself)\n"
"  -P, --poll US|off    a busy queue is polled by its device thread, the guest's\n"
"                       kicks and the back-end's calls off, through idle spells\n"
"                       of up to US microseconds (default %d, at most %d; off:\n"
"                       never; the spell adapts, and an idle device is not polled)\n"
"  -c, --control PATH   control socket, mode 0600 (default " VRD_CONTROL ";\n"
"                       'none': off)\n"
"  -g, --socket-group NAME|GID\n"
"                       VMM sockets are 0660 with this group (default 0600),\n"
"                       and a VMM or back-end whose gid it is is admitted\n"
"  -u, --allow-uid NAME|UID\n"
"                       a VMM or back-end running as this uid is admitted\n"
"                       (repeatable, up to %d; root and the daemon's own uid\n"
"                       always are); any other peer is refused\n"
"  -m, --metrics ADDR:PORT\n"
"                       Prometheus endpoint http://ADDR:PORT/metrics (default\n"
"                       127.0.0.1:9464, loopback only; 'none': off)\n"
"  -f, --config FILE    settings, one a line: 'device NAME,vmm=PATH,backend=PATH',\n"
"                       'pin-root DIR', 'control PATH|none', 'metrics ADDR:PORT|none',\n"
"                       'socket-group NAME', 'allow-uid UID' ('#' comments);\n"
"                       options on the command line win\n"
"  -p, --pin-root DIR   bpffs directory it owns (default " VRM_PIN_ROOT ")\n"
"  -v, --verbose        debug logging (twice: libbpf's too)\n"
"  -q, --quiet          warnings only\n"
"  -h, --help           this text\n"
"\n"
"Control socket: connect, write one line, read the JSON answer:\n"
"  device list | device add NAME,vmm=PATH,backend=PATH | device del NAME | stats\n"
"\n"
"Peers: a VMM is admitted, and a back-end handed guest memory, only when\n"
"SO_PEERCRED says its uid is root, the daemon's or an --allow-uid one, or its\n"
"gid is the --socket-group's.\n"
"\n"
"Example (QEMU with -chardev socket,path=/run/vm0.sock -netdev vhost-user):\n"
"  vringmedd --device net0,vmm=/run/vm0.sock,backend=/run/testpmd0.sock\n",
		VRM_MAX_DEVICES, VRM_PROXY_POLL_US, VRM_PROXY_POLL_US_MAX, VRM_ACCESS_MAX_UIDS);
}

/* One owner per pin root: an exclusive flock on the directory itself (bpffs
 * holds no regular files to lock).  The kernel drops it when we die. */
static int vrd_lock(const char *root)
{
	int fd;

	if (mkdir(root, 0700) && errno != EEXIST) {
		pr_warn("cannot create pin root %s: %s\n", root, strerror(errno));
		return -errno;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("cannot open pin root %s: %s\n", root, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		pr_warn("%s is owned by another running vringmedd\n", root);
		close(fd);
		return -EBUSY;
	}
	return fd;
}

/* The ring buffer tells the main thread; the device's thread completes the
 * kick (vrm_proxy_tick), where its queues and kick fds are.  A slot no device
 * runs has no session whose guest memory the daemon mapped: its deferred
 * flag stays until a VMM connects and the ring (re)starts, which translates
 * whatever is pending. */
static int vrd_on_deferred(void *ctx, void *data, size_t len)
{
	const struct vrm_defer_event *ev = data;
	struct vmd *d = ctx;
	struct vrd_dev *dv;
	uint64_t one = 1;

	if (len < sizeof(*ev) || ev->queue >= VRM_MAX_QUEUES)
		return 0;
	dv = d->dev[ev->queue / VRM_DEV_QUEUES];
	if (dv && write(dv->wake.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("wake eventfd: %s\n", strerror(errno));
	return 0;
}

/* The labels only the daemon knows, to the exporter when they change. */
static void vrd_labels(struct vmd *d)
{
	for (int i = 0; i < VRM_MAX_DEVICES && d->metrics; i++) {
		struct vrm_proxy_info in;

		if (!d->dev[i]) {
			if (d->label_state[i])
				vrm_metrics_set_device(d->metrics, (uint32_t)i, NULL, NULL, NULL);
			d->label_state[i] = NULL;
			continue;
		}
		vrm_proxy_info(d->dev[i]->p, &in);
		if (in.state != d->label_state[i] || in.kick_path != d->label_kick[i])
			vrm_metrics_set_device(d->metrics, in.slot, in.backend_path, in.state,
					      in.kick_path == VRM_KICK_AUTO ? NULL :
					      vrm_kick_path_name(in.kick_path));
		d->label_state[i] = in.state;
		d->label_kick[i] = in.kick_path;
		vrm_metrics_set_calls(d->metrics, in.slot, in.calls, in.calls_suppressed,
				     VRM_PROXY_NQ);
		{
			unsigned long us[VRM_PROXY_NQ];

			for (unsigned q = 0; q < VRM_PROXY_NQ; q++)
				us[q] = (unsigned long)(in.poll_ns[q] / 1000);
			vrm_metrics_set_poll(d->metrics, in.slot, in.poll_periods, in.poll_chains, us,
					    VRM_PROXY_NQ);
		}
	}
}

/* One line per breakage, however hard the guest keeps trying (later
 * verdicts only count: vringmed_errors_total), and one when a reset clears
 * it.  By the thread that runs the device, after every turn of its loop, so
 * a breakage its own session resets at once is still told. */
static void vrd_report_broken(struct vmd *d, __u32 i)
{
	__u32 v = VRM_READ_ONCE(d->b.devices[i].broken);

	if (v != d->broken_seen[i] && v)
		pr_warn("device %.*s (slot %u) broken: %s (needs reset)\n",
			VRM_DEV_NAME_LEN, d->b.devices[i].name, i, vrm_verdict_name(v));
	else if (!v && d->broken_seen[i])
		pr_info("device %.*s (slot %u) reset: translating again\n",
			VRM_DEV_NAME_LEN, d->b.devices[i].name, i);
	d->broken_seen[i] = v;
}

/* The slots no device thread runs. */
static void vrd_scan(struct vmd *d)
{
	for (__u32 i = 0; i < VRM_MAX_DEVICES; i++)
		if (!d->dev[i] && !atomic_load(&d->zombie[i].live))
			vrd_report_broken(d, i);
}

/* ---- devices: a thread each ---- */

static void vrd_dev_on_wake(struct vrm_ev *ev, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(ev->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("wake eventfd: %s\n", strerror(errno));
}

static void vrd_dev_free(struct vrd_dev *dv)
{
	if (dv->wake.fd >= 0)
		close(dv->wake.fd);
	if (dv->epfd >= 0)
		close(dv->epfd);
	free(dv);
}

/* The device's thread is done.  Abandoned, nobody will join it: it frees
 * what is left of it and gives its slot back. */
static void vrd_dev_ended(struct vrd_dev *dv)
{
	struct vrd_zombie *z = &dv->d->zombie[dv->slot];
	int running = VRD_RUNNING;

	if (atomic_compare_exchange_strong(&dv->fate, &running, VRD_ENDED))
		return;
	pr_info("device %s: its abandoned thread ended; slot %u is free again\n", dv->name,
		dv->slot);
	vrd_dev_free(dv);
	atomic_store(&z->live, false);
}

static uint64_t vrd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void *vrd_dev_main(void *arg)
{
	struct vrd_dev *dv = arg;
	uint64_t ticked = 0;
	unsigned turns = 0;

	while (!atomic_load(&dv->stop)) {
		struct epoll_event evs[16];
		bool polling = vrm_proxy_polling(dv->p);
		int n = 0;

		/* A polled queue runs between the loop's looks at its fds,
		 * which then do not wait, and are taken only every few turns
		 * while it keeps finding work. */
		if (!polling || ++turns >= VRD_POLL_TURNS) {
			turns = 0;
			n = epoll_wait(dv->epfd, evs, 16, polling ? 0 : VRD_SCAN_MS);
		}
		if (n < 0 && errno != EINTR) {
			/* Never seen; the main thread alone ends a device. */
			pr_warn("device %s: epoll_wait: %s\n", vrm_proxy_name(dv->p), strerror(errno));
			usleep(VRD_SCAN_MS * 1000);
			continue;
		}
		for (int i = 0; i < n; i++) {
			struct vrm_ev *ev = evs[i].data.ptr;

			ev->fn(ev, evs[i].events);
		}
		if (vrm_proxy_polling(dv->p)) {
			/* Idle, the CPU goes to whoever else wants it, and the
			 * fds are looked at on the next turn. */
			if (!vrm_proxy_poll(dv->p)) {
				turns = VRD_POLL_TURNS;
				sched_yield();
			}
			if (n <= 0 && vrd_now_ms() - ticked < VRD_SCAN_MS)
				continue;
		}
		ticked = vrd_now_ms();
		/* Deferred kicks (woken by the ring buffer, or found here
		 * when it overflowed or the kick came while no daemon ran),
		 * used entries a call did not announce, the published info. */
		vrm_proxy_tick(dv->p);
		vrd_report_broken(dv->d, dv->slot);
	}
	/* The session's teardown is this device's business: a back-end slow
	 * to let go holds this thread only. */
	vrm_proxy_free(dv->p);
	vrd_dev_ended(dv);
	return NULL;
}

/* Asks the device's thread to end its session and stop. */
static void vrd_dev_stop(struct vrd_dev *dv)
{
	uint64_t one = 1;

	atomic_store(&dv->stop, true);
	if (write(dv->wake.fd, &one, sizeof(one)) < 0)
		pr_debug("wake eventfd: %s\n", strerror(errno));
}

/* A deadline VRD_JOIN_MS from now, for pthread_timedjoin_np. */
static struct timespec vrd_join_deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (VRD_JOIN_MS % 1000) * 1000000L;
	ts.tv_sec += VRD_JOIN_MS / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

/*
 * Waits for a stopped device's thread until `deadline`.  A thread still
 * busy then is held by a peer (a back-end that does not answer, a VMM that
 * does not read: each bounded, but by seconds; or worse): it is abandoned,
 * detached, and ends its session and frees itself whenever it can; its
 * slot, name and VMM socket stay reserved until then.  The main thread
 * never waits longer, whatever the peers do.
 */
static void vrd_dev_join(struct vmd *d, struct vrd_dev *dv, const struct timespec *deadline)
{
	struct vrd_zombie *z = &d->zombie[dv->slot];
	int running = VRD_RUNNING;

	d->dev[dv->slot] = NULL;
	if (!pthread_timedjoin_np(dv->thr, NULL, deadline)) {
		vrd_dev_free(dv);
		return;
	}
	/* dv stays until the exchange below: the thread frees it only once
	 * abandoned.  The proxy may be gone already. */
	snprintf(z->name, sizeof(z->name), "%s", dv->name);
	snprintf(z->vmm_path, sizeof(z->vmm_path), "%s", dv->vmm_path);
	atomic_store(&z->live, true);
	if (atomic_compare_exchange_strong(&dv->fate, &running, VRD_ABANDONED)) {
		pthread_detach(dv->thr);
		pr_warn("device %s: its thread did not end its session within %d ms (a peer "
			"holds it): abandoned; slot %u and %s stay reserved until it ends\n",
			dv->name, VRD_JOIN_MS, dv->slot, z->vmm_path);
		return;
	}
	/* It ended meanwhile. */
	atomic_store(&z->live, false);
	pthread_join(dv->thr, NULL);
	vrd_dev_free(dv);
}

static struct vrd_dev *vrd_dev_start(struct vmd *d, uint32_t slot, const struct vrm_proxy_cfg *cfg)
{
	struct vrd_dev *dv = calloc(1, sizeof(*dv));
	int err;

	if (!dv)
		return NULL;
	dv->d = d;
	dv->slot = slot;
	snprintf(dv->name, sizeof(dv->name), "%s", cfg->name);
	snprintf(dv->vmm_path, sizeof(dv->vmm_path), "%s", cfg->vmm_path);
	dv->epfd = epoll_create1(EPOLL_CLOEXEC);
	dv->wake = (struct vrm_ev){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
				   .fn = vrd_dev_on_wake, .ctx = dv };
	if (dv->epfd < 0 || dv->wake.fd < 0 || vrm_ev_add(dv->epfd, &dv->wake, EPOLLIN))
		goto fail;
	dv->p = vrm_proxy_new(&d->b, dv->epfd, slot, cfg);
	if (!dv->p)
		goto fail;
	err = pthread_create(&dv->thr, NULL, vrd_dev_main, dv);
	if (err) {
		vrm_proxy_free(dv->p);
		errno = err;
		goto fail;
	}
	return dv;
fail:
	err = errno;
	vrd_dev_free(dv);
	errno = err;
	return NULL;
}

/* --kick-path: the kick path of devices that do not say (kick=). */
static enum vrm_kick_path vrd_kick_default = VRM_KICK_AUTO;
/* --poll: the polling of devices that do not say (poll=). */
static unsigned vrd_poll_default = VRM_PROXY_POLL_US;

static int vrd_add_device(struct vmd *d, const char *spec, char *err, size_t errlen)
{
	struct vrm_proxy_cfg cfg;
	const char *why = NULL;
	int slot = -1;

	if (vrm_proxy_parse(spec, &cfg, &why)) {
		snprintf(err, errlen, "bad device '%s': %s", spec, why);
		return -EINVAL;
	}
	if (!cfg.kick_set)
		cfg.kick = vrd_kick_default;
	if (!cfg.poll_set)
		cfg.poll_us = vrd_poll_default;
	bool taken[VRM_MAX_DEVICES];

	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		if (d->dev[i] && !strcmp(vrm_proxy_name(d->dev[i]->p), cfg.name)) {
			snprintf(err, errlen, "device %s exists already", cfg.name);
			return -EEXIST;
		}
		/* An abandoned device's thread still owns its slot and socket. */
		if (atomic_load(&d->zombie[i].live) && (!strcmp(d->zombie[i].name, cfg.name) ||
							!strcmp(d->zombie[i].vmm_path, cfg.vmm_path))) {
			snprintf(err, errlen, "device %s (%s) is still ending its abandoned session: "
				 "try again later", d->zombie[i].name, d->zombie[i].vmm_path);
			return -EBUSY;
		}
		taken[i] = d->dev[i] != NULL || atomic_load(&d->zombie[i].live);
	}
	slot = vrm_proxy_pick_slot(&d->b, cfg.name, taken);
	if (slot < 0) {
		snprintf(err, errlen, "no free device slot (at most %d devices)", VRM_MAX_DEVICES);
		return -ENOSPC;
	}
	d->dev[slot] = vrd_dev_start(d, (uint32_t)slot, &cfg);
	if (!d->dev[slot]) {
		int e = errno;

		snprintf(err, errlen, "device %s: cannot listen on %s: %s", cfg.name, cfg.vmm_path,
			 strerror(e));
		return -e;
	}
	return 0;
}

static int vrd_del_device(struct vmd *d, const char *name)
{
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i] && !strcmp(vrm_proxy_name(d->dev[i]->p), name)) {
			struct timespec deadline = vrd_join_deadline();

			vrd_dev_stop(d->dev[i]);
			vrd_dev_join(d, d->dev[i], &deadline);
			return 0;
		}
	return -ENOENT;
}

static json_t *vrd_device_list(struct vmd *d)
{
	json_t *arr = json_array();

	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		struct vrm_proxy_info in;
		char feat[24], bfeat[24];

		if (!d->dev[i])
			continue;
		vrm_proxy_info(d->dev[i]->p, &in);
		snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)in.guest_features);
		snprintf(bfeat, sizeof(bfeat), "0x%llx", (unsigned long long)in.backend_features);
		json_array_append_new(arr, json_pack(
			"{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:s}",
			"slot", (int)in.slot, "name", in.name, "vmm_socket", in.vmm_path,
			"backend_socket", in.backend_path, "state", in.state,
			"byte_order", in.order == VRM_ORDER_BE ? "big" : "little",
			"virtio", in.legacy ? "legacy" : "modern",
			"features", feat, "backend_features", bfeat, "vmm_pid", (int)in.vmm_pid,
			"sessions", (int)in.sessions, "teardowns", (int)in.teardowns,
			"deferred_kicks_completed", (int)in.deferred_done,
			"last_error", in.last_error));
		/* How kicks reach the core ("auto" until the first ring runs),
		 * and why; how often the rings started (pauses, resets). */
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "kick_path",
				    json_string(vrm_kick_path_name(in.kick_path)));
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "kick_path_why",
				    json_string(in.kick_why));
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "starts",
				    json_integer((json_int_t)in.starts));
		/* A busy queue's polling: its longest idle spell (0: never). */
		json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "poll_us",
				    json_integer((json_int_t)in.poll_us));
	}
	return arr;
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

/* Per device and queue: what BPF and the daemon did (counters summed over
 * CPUs), with the errors by verdict name. */
static json_t *vrd_stats(struct vmd *d)
{
	json_t *arr = json_array();

	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		struct vrm_proxy_info in;

		if (!d->dev[i])
			continue;
		vrm_proxy_info(d->dev[i]->p, &in);
		for (uint32_t q = 0; q < VRM_DEV_QUEUES; q++) {
			uint32_t qs = in.slot * VRM_DEV_QUEUES + q;
			struct vrm_qstats st;
			json_t *errs = json_object();

			if (vrm_bpf_read_stats(&d->b, qs, &st))
				continue;
			if (!st.kicks && !st.used && q >= 2)
				continue;	/* a virtio-net device has two */
			for (uint32_t v = VRM_AVAIL_JUMP; v < VRM_VERDICT_NR; v++)
				if (st.errors[v])
					json_object_set_new(errs, vrm_verdict_name(v),
							    json_integer((json_int_t)st.errors[v]));
			json_t *row;

			row = json_pack(
				"{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
				"device", in.name, "queue", (int)q,
				"kicks", (json_int_t)st.kicks, "kicks_empty", (json_int_t)st.kicks_empty,
				"chains", (json_int_t)st.chains, "descriptors", (json_int_t)st.descs,
				"used", (json_int_t)st.used, "deferred", (json_int_t)st.deferred,
				"read_faults", (json_int_t)st.read_faults,
				"foreign", (json_int_t)st.foreign, "errors", errs);
			if (row && q < VRM_PROXY_NQ) {
				/* The used path's, since this daemon started. */
				json_object_set_new(row, "guest_calls",
						    json_integer((json_int_t)in.calls[q]));
				json_object_set_new(row, "guest_calls_suppressed",
						    json_integer((json_int_t)in.calls_suppressed[q]));
				/* The mode the queue ran in: its kicks' path, "+poll"
				 * once it was polled; the polling periods, the chains
				 * translated meanwhile (kicks the guest did not make)
				 * and the time. */
				json_object_set_new(row, "mode", json_string(vrd_queue_mode(&in, q)));
				json_object_set_new(row, "poll_periods",
						    json_integer((json_int_t)in.poll_periods[q]));
				json_object_set_new(row, "poll_chains",
						    json_integer((json_int_t)in.poll_chains[q]));
				json_object_set_new(row, "poll_us",
						    json_integer((json_int_t)(in.poll_ns[q] / 1000)));
			}
			json_array_append_new(arr, row);
		}
	}
	return arr;
}

/* ---- control socket: one line in, one JSON document out ---- */

static json_t *vrd_control_cmd(struct vmd *d, char *line)
{
	char err[256] = "";
	size_t n = strcspn(line, "\r\n");

	line[n] = 0;
	if (!strcmp(line, "device list") || !strcmp(line, "device"))
		return vrd_device_list(d);
	if (!strcmp(line, "stats"))
		return vrd_stats(d);
	if (!strncmp(line, "device add ", 11)) {
		if (vrd_add_device(d, line + 11, err, sizeof(err)))
			return json_pack("{s:s}", "error", err);
		return json_pack("{s:b}", "ok", 1);
	}
	if (!strncmp(line, "device del ", 11)) {
		if (vrd_del_device(d, line + 11))
			return json_pack("{s:s}", "error", "no such device");
		return json_pack("{s:b}", "ok", 1);
	}
	return json_pack("{s:s}", "error",
			 "unknown command: expected 'device list', 'device add SPEC', "
			 "'device del NAME' or 'stats'");
}

static void vrd_on_control(struct vrm_ev *ev, uint32_t events)
{
	struct vmd *d = ev->ctx;
	struct timeval tv = { .tv_sec = 1 };
	char line[600];
	json_t *ans;
	char *out;
	size_t got;
	ssize_t n;
	int fd;

	(void)events;
	fd = accept4(ev->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	/* A client that never writes costs at most a second. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* One line, however it was split on the way (socat, a script's two
	 * writes): up to the newline, the end, or the timeout. */
	for (got = 0; got < sizeof(line) - 1 && !memchr(line, '\n', got); got += (size_t)n) {
		n = recv(fd, line + got, sizeof(line) - 1 - got, 0);
		if (n <= 0)
			break;
	}
	if (got > 0) {
		line[got] = 0;
		ans = vrd_control_cmd(d, line);
		out = json_dumps(ans, JSON_COMPACT);
		if (out) {
			if (send(fd, out, strlen(out), MSG_NOSIGNAL) < 0 ||
			    send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
				pr_debug("control: reply lost: %s\n", strerror(errno));
			free(out);
		}
		json_decref(ans);
	}
	close(fd);
}

static int vrd_control_open(struct vmd *d, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	char *slash;
	struct stat st;

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
	if (!lstat(path, &st) && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = probe >= 0 && !connect(probe, (struct sockaddr *)&sa, sizeof(sa));

		if (probe >= 0)
			close(probe);
		if (live) {
			pr_warn("control socket %s is served by another vringmedd "
				"(use --control PATH or --control none)\n", path);
			return -EADDRINUSE;
		}
		unlink(path);	/* stale, from a crashed run */
	}
	d->ctl = (struct vrm_ev){ .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
				 .fn = vrd_on_control, .ctx = d };
	/* 0600 from the start, never the socket group's: whoever may talk
	 * here may add devices, which listen and connect where they say. */
	if (d->ctl.fd < 0 || (errno = -vrm_access_listen(d->ctl.fd, path, 8, false)) ||
	    vrm_ev_add(d->epfd, &d->ctl, EPOLLIN)) {
		int e = errno;

		pr_warn("cannot serve the control socket %s: %s\n", path, strerror(e));
		if (d->ctl.fd >= 0)
			close(d->ctl.fd);
		d->ctl.fd = -1;
		return -e;
	}
	d->ctl_path = path;
	return 0;
}

static void vrd_on_ringbuf(struct vrm_ev *ev, uint32_t events)
{
	struct vmd *d = ev->ctx;

	(void)events;
	ring_buffer__consume(d->rb);
}

static volatile int vrd_stop_sig;

static void vrd_on_signal(struct vrm_ev *ev, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(ev->fd, &si, sizeof(si)) == sizeof(si))
		vrd_stop_sig = (int)si.ssi_signo;
}

/*
 * The configuration file: one setting a line, '#' starts a comment.
 *   device NAME,vmm=PATH,backend=PATH     (repeatable)
 *   pin-root DIR
 *   control PATH|none
 *   metrics ADDR:PORT|none
 *   socket-group NAME|GID
 *   allow-uid NAME|UID                    (repeatable)
 * Command-line options win over the file; devices from both are served,
 * uids from both are allowed.
 * Returns 0, or 2 with the line at fault named.
 */
/* --socket-group and --allow-uid, from the command line or the file;
 * 0, or -1 with the reason on stderr. */
static int vrd_opt_group(const char *name)
{
	int err = vrm_access_set_group(name);

	if (err)
		fprintf(stderr, "vringmedd: socket group '%s': %s\n", name,
			err == -ENOENT ? "no such group" : strerror(-err));
	return err ? -1 : 0;
}

static int vrd_opt_uid(const char *name)
{
	int err = vrm_access_allow_uid(name);

	if (err)
		fprintf(stderr, "vringmedd: allowed uid '%s': %s\n", name,
			err == -ENOENT ? "no such user" : err == -ENOSPC ? "too many" :
			strerror(-err));
	return err ? -1 : 0;
}

static int vrd_read_config(const char *path, const char **devspec, int *ndev,
			   const char **root, const char **ctl, bool root_set, bool ctl_set,
			   char *maddr, unsigned maddrlen, unsigned *mport, bool m_set,
			   bool *group_set)
{
	FILE *f = fopen(path, "r");
	char line[600];
	int lineno = 0;

	if (!f) {
		fprintf(stderr, "vringmedd: cannot read %s: %s\n", path, strerror(errno));
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		char *key, *val, *end;

		lineno++;
		line[strcspn(line, "#\r\n")] = 0;
		key = line + strspn(line, " \t");
		if (!*key)
			continue;
		val = key + strcspn(key, " \t");
		if (*val)
			*val++ = 0;
		val += strspn(val, " \t");
		end = val + strlen(val);
		while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = 0;
		if (!*val)
			goto bad;
		if (!strcmp(key, "device")) {
			if (*ndev == VRM_MAX_DEVICES)
				goto bad;
			devspec[(*ndev)++] = strdup(val);
		} else if (!strcmp(key, "pin-root")) {
			if (!root_set)
				*root = strdup(val);
		} else if (!strcmp(key, "control")) {
			if (!ctl_set)
				*ctl = strdup(val);
		} else if (!strcmp(key, "metrics")) {
			if (!m_set && vrm_metrics_parse(val, maddr, maddrlen, mport))
				goto bad;
		} else if (!strcmp(key, "socket-group")) {
			if (!*group_set && vrd_opt_group(val))
				goto bad;
		} else if (!strcmp(key, "allow-uid")) {
			if (vrd_opt_uid(val))
				goto bad;
		} else {
			goto bad;
		}
	}
	fclose(f);
	return 0;
bad:
	fprintf(stderr, "vringmedd: %s:%d: expected 'device NAME,vmm=PATH,backend=PATH', "
		"'pin-root DIR', 'control PATH|none', 'metrics ADDR:PORT|none', "
		"'socket-group NAME' or 'allow-uid UID' (at most %d devices)\n", path, lineno,
		VRM_MAX_DEVICES);
	fclose(f);
	return 2;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "control", required_argument, NULL, 'c' },
		{ "config", required_argument, NULL, 'f' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "pin-root", required_argument, NULL, 'p' },
		{ "kick-path", required_argument, NULL, 'k' },
		{ "poll", required_argument, NULL, 'P' },
		{ "socket-group", required_argument, NULL, 'g' },
		{ "allow-uid", required_argument, NULL, 'u' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *root = VRM_PIN_ROOT, *ctl = VRD_CONTROL, *config = NULL;
	char maddr[64];
	unsigned mport = VRM_METRICS_PORT;
	unsigned long long wd_usec;
	struct timespec wd_last = { 0 };
	bool root_set = false, ctl_set = false, m_set = false, zombies = false, group_set = false;
	struct timespec deadline;
	const char *devspec[VRM_MAX_DEVICES];
	struct vrm_bpf_opts opts = { .attach = true };
	struct vrm_ev sev, rbev;
	struct vmd *d;
	sigset_t mask;
	int c, verbose = 0, ndev = 0, lockfd, sfd, err = 1;

	/* Our kick rounds leave a journal: a kill -9 anywhere is resumable. */
	vrm_ux_journal = true;
	snprintf(maddr, sizeof(maddr), "%s", VRM_METRICS_ADDR);
	while ((c = getopt_long(argc, argv, "d:c:f:m:p:k:P:g:u:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (ndev == VRM_MAX_DEVICES) {
				fprintf(stderr, "vringmedd: at most %d devices\n", VRM_MAX_DEVICES);
				return 2;
			}
			devspec[ndev++] = optarg;
			break;
		case 'c': ctl = optarg; ctl_set = true; break;
		case 'f': config = optarg; break;
		case 'm':
			m_set = true;
			if (vrm_metrics_parse(optarg, maddr, sizeof(maddr), &mport)) {
				fprintf(stderr, "vringmedd: bad --metrics '%s': expected ADDR:PORT, "
					"PORT or none\n", optarg);
				return 2;
			}
			break;
		case 'p': root = optarg; root_set = true; break;
		case 'g':
			if (vrd_opt_group(optarg))
				return 2;
			group_set = true;
			break;
		case 'u':
			if (vrd_opt_uid(optarg))
				return 2;
			break;
		case 'k':
			if (!strcmp(optarg, "auto"))
				vrd_kick_default = VRM_KICK_AUTO;
			else if (!strcmp(optarg, "bpf"))
				vrd_kick_default = VRM_KICK_BPF;
			else if (!strcmp(optarg, "userspace"))
				vrd_kick_default = VRM_KICK_USERSPACE;
			else {
				fprintf(stderr, "vringmedd: bad --kick-path '%s': expected auto, bpf "
					"or userspace\n", optarg);
				return 2;
			}
			break;
		case 'P': {
			char *end;
			long us = strtol(optarg, &end, 10);

			if (!strcmp(optarg, "off")) {
				vrd_poll_default = 0;
			} else if (end == optarg || *end || us < 0 || us > VRM_PROXY_POLL_US_MAX) {
				fprintf(stderr, "vringmedd: bad --poll '%s': expected off or microseconds, "
					"0 to %d\n", optarg, VRM_PROXY_POLL_US_MAX);
				return 2;
			} else {
				vrd_poll_default = (unsigned)us;
			}
			break;
		}
		case 'v': verbose++; break;
		case 'q': verbose = -1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vringmedd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (config && vrd_read_config(config, devspec, &ndev, &root, &ctl, root_set, ctl_set,
				      maddr, sizeof(maddr), &mport, m_set, &group_set))
		return 2;
	for (int i = 0; i < ndev; i++) {
		struct vrm_proxy_cfg cfg;
		const char *why;

		if (vrm_proxy_parse(devspec[i], &cfg, &why)) {
			fprintf(stderr, "vringmedd: bad --device '%s': %s\n", devspec[i], why);
			return 2;
		}
	}
	vrm_log_set_level(verbose < 0 ? VRM_LOG_WARN : verbose ? VRM_LOG_DEBUG : VRM_LOG_INFO);
	vrm_log_libbpf_debug(verbose >= 2);
	if (strlen(root) >= sizeof(((struct vrm_bpf *)0)->pin_root) - 1) {
		pr_warn("pin root path too long: %s\n", root);
		return 2;
	}
	if (access("/sys/fs/bpf", W_OK)) {
		pr_warn("/sys/fs/bpf is not writable: run as root with bpffs mounted (make setup)\n");
		return 1;
	}

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	d->ctl.fd = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	lockfd = vrd_lock(root);
	if (lockfd < 0 || d->epfd < 0)
		goto out_free;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0) {
		/* Without it SIGTERM would never be seen: blocked, unread. */
		pr_warn("cannot create a signalfd for SIGTERM and SIGINT: %s\n", strerror(errno));
		goto out_lock;
	}
	signal(SIGPIPE, SIG_IGN);

	opts.pin_root = root;
	if (vrm_bpf_load(&d->b, &opts))
		goto out_lock;
	d->rb = ring_buffer__new(bpf_map__fd(d->b.skel->maps.vrm_deferred), vrd_on_deferred, d,
				 NULL);
	if (!d->rb) {
		pr_warn("failed to open ring buffer vrm_deferred: %s\n", strerror(errno));
		goto out_bpf;
	}
	pr_info("%s %s: %d notification sources attached%s%s%s\n",
		d->b.adopted ? "adopted" : "pinned", root, d->b.nlinks,
		d->b.have_kvm ? ", KVM tracepoints" : "", d->b.have_fentry ? ", fentry" : "",
		d->b.links_only ? " (their programs kept running, not reloaded)" : "");

	sev = (struct vrm_ev){ .fd = sfd, .fn = vrd_on_signal, .ctx = d };
	rbev = (struct vrm_ev){ .fd = ring_buffer__epoll_fd(d->rb), .fn = vrd_on_ringbuf, .ctx = d };
	if (vrm_ev_add(d->epfd, &sev, EPOLLIN) || vrm_ev_add(d->epfd, &rbev, EPOLLIN)) {
		pr_warn("epoll: %s\n", strerror(errno));
		goto out_rb;
	}
	if (strcmp(ctl, "none") && vrd_control_open(d, ctl))
		goto out_rb;
	/* Device slots nobody configures again are cleared: their VMMs went
	 * with the vhost-user connections of the daemon that died. */
	for (int i = 0; i < ndev; i++) {
		char why[256];

		if (vrd_add_device(d, devspec[i], why, sizeof(why))) {
			pr_warn("%s\n", why);
			goto out_devs;
		}
	}
	if (mport && vrm_metrics_start(&d->metrics, &d->b, maddr, mport))
		goto out_devs;
	vrd_labels(d);
	printf("vringmedd ready: pid %d, pin root %s, %d devices, control %s, metrics %s%s%.0u\n",
	       (int)getpid(), root, ndev, d->ctl_path ? d->ctl_path : "off",
	       mport ? maddr : "off", mport ? ":" : "", mport);
	fflush(stdout);
	vrm_sd_notify("READY=1");
	wd_usec = vrm_sd_watchdog_usec();

	vrd_scan(d);
	while (!vrd_stop_sig) {
		struct epoll_event evs[16];
		int n = epoll_wait(d->epfd, evs, 16, VRD_SCAN_MS);

		if (n < 0 && errno != EINTR) {
			pr_warn("epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++) {
			struct vrm_ev *ev = evs[i].data.ptr;

			ev->fn(ev, evs[i].events);
		}
		vrd_scan(d);
		vrd_labels(d);
		if (wd_usec) {
			/* systemd's watchdog: pet it at half its interval. */
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if ((now.tv_sec - wd_last.tv_sec) * 1000000ull +
			    (unsigned long long)(now.tv_nsec - wd_last.tv_nsec) / 1000 >= wd_usec / 2) {
				vrm_sd_notify("WATCHDOG=1");
				wd_last = now;
			}
		}
	}
	vrm_sd_notify("STOPPING=1");
	if (vrd_stop_sig) {
		pr_info("signal %d: removing pins under %s and exiting\n", vrd_stop_sig, root);
		err = 0;
	}
out_devs:
	vrm_metrics_stop(d->metrics);
	/* Every device winds down at once; then they are waited for, all
	 * within one VRD_JOIN_MS. */
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i])
			vrd_dev_stop(d->dev[i]);
	deadline = vrd_join_deadline();
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i])
			vrd_dev_join(d, d->dev[i], &deadline);
	/* Abandoned threads die with the process: what they would have
	 * removed is removed here, and what they still use (the maps, the
	 * daemon's state) is left to the exit. */
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (atomic_load(&d->zombie[i].live)) {
			zombies = true;
			unlink(d->zombie[i].vmm_path);
		}
	if (d->ctl.fd >= 0) {
		close(d->ctl.fd);
		unlink(d->ctl_path);
	}
	if (!err)
		vrm_bpf_unpin(&d->b);
	if (zombies) {
		pr_warn("exiting with abandoned device threads\n");
		return err;
	}
out_rb:
	ring_buffer__free(d->rb);
out_bpf:
	vrm_bpf_close(&d->b);
out_lock:
	if (err && lockfd >= 0)
		rmdir(root);	/* only if empty: a failed first start leaves nothing */
	if (lockfd >= 0)
		close(lockfd);
out_free:
	if (d->epfd >= 0)
		close(d->epfd);
	free(d);
	return err;
}
