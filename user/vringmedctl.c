// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedctl: look at vringmed the way bpftool looks at BPF.
 *
 *   vringmedctl [OPTIONS] OBJECT COMMAND [ARGS]
 *
 * It reads the maps pinned under the pin root directly, so it works while
 * vringmedd is down (after a crash, say); when the daemon answers on its
 * control socket it adds what only the daemon knows (session state, sockets).
 * Objects and commands match by prefix, like bpftool's: `vringmedctl dev l`.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include <vringmed/abi.h>
#include "cli.h"
#include "defaults.h"
#include "num.h"
#include "qstats_json.h"
#include "uxlate.h"
#include "view.h"
#include "xdp_view.h"

/* The options, read once in main. */
static struct {
	const char *root, *ctl;
	bool json, watch;
	double interval;	/* stats --watch: seconds between refreshes */
	uint32_t count;		/* ... and how many (0: until Ctrl-C) */
} opt = {
	.root = VRM_PIN_ROOT,
	.ctl = VRM_CONTROL_PATH,
	.interval = 1.0,
};
static volatile sig_atomic_t stop;

static bool is_prefix(const char *arg, const char *word)
{
	return *arg && !strncmp(arg, word, strlen(arg));
}

/* The daemon's JSON answer to `cmd` on its control socket, or NULL when
 * it does not answer (it is down: the maps still tell the rest). */
static json_t *daemon_query(const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = VRM_CONTROL_TIMEOUT_S };
	char buf[65536];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (strlen(opt.ctl) >= sizeof(sa.sun_path))
		return NULL;
	strcpy(sa.sun_path, opt.ctl);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) != (ssize_t)strlen(cmd)) {
		close(fd);
		return NULL;
	}
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = 0;
	return json_loads(buf, 0, NULL);
}

static json_t *daemon_devices(void)
{
	return daemon_query("device list\n");
}

static json_t *daemon_entry(json_t *list, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (!strcmp(json_string_value(json_object_get(e, "name")) ?: "", name))
			return e;
	return NULL;
}

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : dflt;
}

static long long jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

static double jreal(json_t *o, const char *k)
{
	return json_real_value(json_object_get(o, k));
}

/* Queue q of a device, from the maps: its counters, errors by verdict. */
static json_t *queue_json(const struct vrm_view *v, __u32 qslot, __u32 q)
{
	struct vrm_qstats st;

	return vrm_view_stats(v, qslot, &st) ? NULL : vrm_qstats_json(&st, q);
}

/* A device from the maps, with what the daemon's `device list` (dl) adds. */
static json_t *device_json(const struct vrm_view *v, unsigned slot, json_t *dl, bool queues)
{
	const struct vrm_device *d = &v->devices[slot];
	char name[VRM_DEV_NAME_LEN + 8], feat[24];
	json_t *o, *de;

	vrm_view_device_name(v, slot, name, sizeof(name));
	de = daemon_entry(dl, name);
	snprintf(feat, sizeof(feat), "0x%llx", (unsigned long long)d->features);
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:b, s:s, s:i, s:s, s:s, s:I}",
		      "name", name, "slot", (int)slot,
		      "byte_order", vrm_view_order_name(d), "virtio", vrm_view_virtio_name(d),
		      "features", feat,
		      "active", (d->flags & VRM_DF_ACTIVE) != 0,
		      "broken", d->broken ? vrm_verdict_name(d->broken) : "no",
		      "vmm_pid", (int)d->tgid,
		      "state", de ? jstr(de, "state", "?") :
			       dl ? "not configured" : "unknown (daemon not reachable)",
		      "backend", de ? jstr(de, "backend_socket", "") : "",
		      "generation", (json_int_t)d->generation);
	/* The daemon's: how the guest's kicks reach the core, and why. */
	json_object_set_new(o, "kick_path", json_string(de ? jstr(de, "kick_path", "?") : "unknown"));
	json_object_set_new(o, "kick_path_why", json_string(de ? jstr(de, "kick_path_why", "") : ""));
	json_object_set_new(o, "type", json_string(d->type == VRM_DEV_BLK ? "blk" : "net"));
	/* The daemon's: the VMM's socket, and who opens it (vmm_client: the
	 * VMM listens, vringmedd connects). */
	json_object_set_new(o, "vmm_socket", json_string(de ? jstr(de, "vmm_socket", "") : ""));
	json_object_set_new(o, "vmm_client", json_boolean(de && json_is_true(json_object_get(de, "vmm_client"))));
	/* The daemon's: the VMM's memory table as it stands. */
	json_object_set_new(o, "memory_regions", json_integer(de ? jint(de, "memory_regions") : 0));
	json_object_set_new(o, "guest_memory_bytes", json_integer(de ? jint(de, "guest_memory_bytes") : 0));
	if (queues) {
		json_t *qs = json_array();
		__u32 nq = d->nqueues && d->nqueues <= VRM_DEV_QUEUES ? d->nqueues : 2;

		for (__u32 q = 0; q < nq && d->first_queue + q < VRM_MAX_QUEUES; q++) {
			json_t *row = queue_json(v, d->first_queue + q, q);

			if (row)
				json_array_append_new(qs, row);
		}
		json_object_set_new(o, "queues", qs);
	}
	return o;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));

	if (s) {
		puts(s);
		free(s);
	}
}

static int cmd_device_list(const struct vrm_view *v, char **args)
{
	json_t *dl = daemon_devices(), *arr = json_array();
	char name[VRM_DEV_NAME_LEN + 8];

	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++)
		if (vrm_view_device_name(v, s, name, sizeof(name)))
			json_array_append_new(arr, device_json(v, s, dl, false));
	if (opt.json) {
		print_json(arr);
	} else {
		size_t i;
		json_t *e;

		printf("%-16s %4s %-4s %-6s %-7s %-18s %-10s %-24s %s\n", "DEVICE", "SLOT", "TYPE",
		       "ORDER", "VIRTIO", "FEATURES", "ACTIVE", "STATE", "BROKEN");
		json_array_foreach(arr, i, e)
			printf("%-16s %4lld %-4s %-6s %-7s %-18s %-10s %-24s %s\n", jstr(e, "name", ""),
			       jint(e, "slot"), jstr(e, "type", ""), jstr(e, "byte_order", ""),
			       jstr(e, "virtio", ""),
			       jstr(e, "features", ""),
			       json_is_true(json_object_get(e, "active")) ? "yes" : "no",
			       jstr(e, "state", ""), jstr(e, "broken", ""));
		if (!json_array_size(arr))
			printf("(no devices)\n");
		if (!dl)
			fprintf(stderr, "note: vringmedd does not answer on %s; showing the pinned maps\n",
				opt.ctl);
	}
	json_decref(arr);
	json_decref(dl);
	return 0;
}

/* A device by slot number or by name: its slot, or -1. */
static long device_slot(const struct vrm_view *v, const char *which)
{
	char name[VRM_DEV_NAME_LEN + 8];
	uint32_t slot;

	if (vrm_parse_u32(which, 0, UINT32_MAX, &slot)) {
		for (unsigned s = 0; s < VRM_MAX_DEVICES; s++)
			if (vrm_view_device_name(v, s, name, sizeof(name)) && !strcmp(name, which))
				return s;
		return -1;
	}
	if (slot >= VRM_MAX_DEVICES || !vrm_view_device_name(v, slot, name, sizeof(name)))
		return -1;
	return slot;
}

static void print_device(json_t *o, long slot)
{
	size_t i;
	json_t *q;

	printf("device %s (slot %ld): %s, %s virtio, %s-endian rings, features %s, %s, "
	       "broken: %s\n", jstr(o, "name", ""), slot,
	       !strcmp(jstr(o, "type", ""), "blk") ? "virtio-blk" : "virtio-net",
	       jstr(o, "virtio", ""), jstr(o, "byte_order", ""),
	       jstr(o, "features", ""),
	       json_is_true(json_object_get(o, "active")) ? "active" : "inactive",
	       jstr(o, "broken", ""));
	printf("  state: %s; VMM pid %lld; back-end %s\n", jstr(o, "state", ""),
	       jint(o, "vmm_pid"), jstr(o, "backend", "-"));
	if (*jstr(o, "vmm_socket", ""))
		printf("  VMM socket: %s (%s)\n", jstr(o, "vmm_socket", ""),
		       json_is_true(json_object_get(o, "vmm_client")) ? "the VMM listens, vringmedd connects"
								      : "vringmedd listens");
	if (jint(o, "memory_regions"))
		printf("  guest memory: %lld MiB in %lld region%s\n",
		       jint(o, "guest_memory_bytes") >> 20, jint(o, "memory_regions"),
		       jint(o, "memory_regions") == 1 ? "" : "s");
	printf("  kick path: %s%s%s\n", jstr(o, "kick_path", ""),
	       *jstr(o, "kick_path_why", "") ? ": " : "", jstr(o, "kick_path_why", ""));
	json_array_foreach(json_object_get(o, "queues"), i, q)
		printf("  queue %lld: kicks %lld, chains %lld, descriptors %lld, indirect tables %lld, "
		       "used %lld, deferred %lld, read faults %lld\n", jint(q, "queue"),
		       jint(q, "kicks"), jint(q, "chains"), jint(q, "descriptors"),
		       jint(q, "indirect_tables"), jint(q, "used"), jint(q, "deferred"),
		       jint(q, "read_faults"));
}

static int cmd_device_show(const struct vrm_view *v, char **args)
{
	long slot = device_slot(v, args[0]);
	json_t *dl, *o;

	if (slot < 0) {
		fprintf(stderr, "vringmedctl: no device '%s' (vringmedctl device list)\n", args[0]);
		return 1;
	}
	dl = daemon_devices();
	o = device_json(v, (unsigned)slot, dl, true);
	if (opt.json)
		print_json(o);
	else
		print_device(o, slot);
	json_decref(o);
	json_decref(dl);
	return 0;
}

/* What only the daemon counts for a queue (its used path's calls to the
 * guest, the mode the queue ran in, its polling, what event idx saved and
 * rescued), from its own `stats`, into the row taken from the maps. */
static void stats_add_daemon(json_t *row, json_t *ds)
{
	static const char *const keys[] = {
		"guest_calls", "guest_calls_suppressed", "mode", "poll_periods", "poll_chains",
		"poll_us", "event_idx_guest_kicks_saved", "event_idx_guest_calls_saved",
		"event_idx_backend_kicks_saved", "event_idx_rescues",
	};
	size_t i;
	json_t *d;

	json_array_foreach(ds, i, d) {
		if (strcmp(jstr(d, "device", ""), jstr(row, "device", "-")) ||
		    jint(d, "queue") != jint(row, "queue") || !json_object_get(d, "guest_calls"))
			continue;
		for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (json_object_get(d, keys[k]))
				json_object_set(row, keys[k], json_object_get(d, keys[k]));
		return;
	}
}

/* Every (device, queue) row of counters, as JSON. */
static json_t *stats_rows(const struct vrm_view *v)
{
	json_t *rows = json_array(), *ds = daemon_query("stats\n");
	char name[VRM_DEV_NAME_LEN + 8];

	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++) {
		json_t *o, *q;
		size_t i;

		if (!vrm_view_device_name(v, s, name, sizeof(name)))
			continue;
		o = device_json(v, s, NULL, true);
		json_array_foreach(json_object_get(o, "queues"), i, q) {
			json_object_set_new(q, "device", json_string(name));
			if (json_is_array(ds))
				stats_add_daemon(q, ds);
			json_array_append(rows, q);
		}
		json_decref(o);
	}
	json_decref(ds);
	return rows;
}

static void print_stats(json_t *rows)
{
	size_t i;
	json_t *r;

	printf("%-16s %5s %10s %10s %12s %10s %9s %7s %21s %-14s %12s %21s\n", "DEVICE", "QUEUE",
	       "KICKS", "CHAINS", "DESCRIPTORS", "USED", "DEFERRED", "ERRORS", "CALLS/SUPPRESSED",
	       "MODE", "POLL_CHAINS", "EVENT_IDX_KICKS/CALLS");
	json_array_foreach(rows, i, r) {
		long long errs = 0;
		const char *k;
		json_t *e;
		char calls[48] = "-";	/* the daemon's; "-" when it is down */
		char polled[24] = "-";
		char eidx[48] = "-";	/* saved by event idx: the guest's kicks, calls */

		json_object_foreach(json_object_get(r, "errors"), k, e)
			errs += json_integer_value(e);
		if (json_object_get(r, "guest_calls"))
			snprintf(calls, sizeof(calls), "%lld/%lld", jint(r, "guest_calls"),
				 jint(r, "guest_calls_suppressed"));
		if (json_object_get(r, "poll_chains"))
			snprintf(polled, sizeof(polled), "%lld", jint(r, "poll_chains"));
		if (json_object_get(r, "event_idx_guest_kicks_saved"))
			snprintf(eidx, sizeof(eidx), "%lld/%lld", jint(r, "event_idx_guest_kicks_saved"),
				 jint(r, "event_idx_guest_calls_saved"));
		printf("%-16s %5lld %10lld %10lld %12lld %10lld %9lld %7lld %21s %-14s %12s %21s\n",
		       jstr(r, "device", ""), jint(r, "queue"), jint(r, "kicks"), jint(r, "chains"),
		       jint(r, "descriptors"), jint(r, "used"), jint(r, "deferred"), errs, calls,
		       jstr(r, "mode", "-"), polled, eidx);
	}
}

static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

/* Rates per second of the counters since the previous rows (prev), dt
 * seconds ago; 0 for the first. */
static void stats_rates(json_t *rows, json_t *prev, double dt)
{
	static const char *const counters[][2] = {
		{ "kicks", "kicks_per_s" },
		{ "descriptors", "descriptors_per_s" },
		{ "used", "used_per_s" },
	};
	size_t i;
	json_t *r;

	json_array_foreach(rows, i, r) {
		json_t *p = prev ? json_array_get(prev, i) : NULL;

		for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++)
			json_object_set_new(r, counters[c][1], json_real(p && dt > 0 ?
				(double)(jint(r, counters[c][0]) - jint(p, counters[c][0])) / dt : 0));
	}
}

static void print_watch(json_t *rows)
{
	size_t i;
	json_t *r;

	if (opt.json) {
		char *s = json_dumps(rows, JSON_COMPACT);

		if (s)
			puts(s);
		free(s);
		return;
	}
	if (isatty(1))
		printf("\033[H\033[2J");
	printf("vringmed stats (pin root %s), every %g s; Ctrl-C stops\n", opt.root, opt.interval);
	printf("%-16s %5s %12s %10s %14s %10s %10s %9s\n", "DEVICE", "QUEUE", "KICKS", "KICKS/S",
	       "DESCRIPTORS", "DESCS/S", "USED/S", "DEFERRED");
	json_array_foreach(rows, i, r)
		printf("%-16s %5lld %12lld %10.1f %14lld %10.1f %10.1f %9lld\n",
		       jstr(r, "device", ""), jint(r, "queue"), jint(r, "kicks"),
		       jreal(r, "kicks_per_s"), jint(r, "descriptors"),
		       jreal(r, "descriptors_per_s"), jreal(r, "used_per_s"), jint(r, "deferred"));
}

/* stats --watch: the rows every --interval, --count times (0: until
 * Ctrl-C or SIGTERM). */
static int cmd_stats_watch(const struct vrm_view *v, char **args)
{
	struct timespec t0, t1;
	json_t *prev = NULL;

	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t n = 0; !stop && (!opt.count || n < opt.count); n++) {
		json_t *rows;

		if (n) {
			struct timespec ts = { (time_t)opt.interval,
					       (long)((opt.interval - (time_t)opt.interval) * 1e9) };

			nanosleep(&ts, NULL);
		}
		rows = stats_rows(v);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		stats_rates(rows, prev, (double)(t1.tv_sec - t0.tv_sec) +
				       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		t0 = t1;
		print_watch(rows);
		fflush(stdout);
		json_decref(prev);
		prev = rows;
	}
	json_decref(prev);
	return 0;
}

static int cmd_stats(const struct vrm_view *v, char **args)
{
	json_t *rows;

	if (opt.watch)
		return cmd_stats_watch(v, args);
	rows = stats_rows(v);
	if (opt.json)
		print_json(rows);
	else
		print_stats(rows);
	json_decref(rows);
	return 0;
}

static int cmd_program_list(const struct vrm_view *v, char **args)
{
	json_t *arr = json_array();
	size_t i;
	json_t *e;

	for (int p = 0; p < v->nprogs; p++) {
		__u64 runs, ns;

		vrm_view_prog_stats(&v->progs[p], &runs, &ns);
		json_array_append_new(arr, json_pack("{s:s, s:b, s:I, s:I, s:f}",
			"program", v->progs[p].name, "attached", v->progs[p].attached,
			"runs", (json_int_t)runs, "run_time_ns", (json_int_t)ns,
			"ns_per_run", runs ? (double)ns / (double)runs : 0.0));
	}
	if (opt.json) {
		print_json(arr);
	} else {
		printf("%-20s %-9s %12s %16s %10s\n", "PROGRAM", "ATTACHED", "RUNS", "RUN_TIME_NS",
		       "NS/RUN");
		json_array_foreach(arr, i, e)
			printf("%-20s %-9s %12lld %16lld %10.1f\n", jstr(e, "program", ""),
			       json_is_true(json_object_get(e, "attached")) ? "yes" : "no",
			       jint(e, "runs"), jint(e, "run_time_ns"), jreal(e, "ns_per_run"));
		printf("(run counts need kernel.bpf_stats_enabled=1)\n");
	}
	json_decref(arr);
	return 0;
}

static int cmd_xdp_list(const struct vrm_view *v, char **args)
{
	json_t *arr = vrm_xdp_view(opt.root), *e, *m;
	size_t i, k;

	if (opt.json) {
		print_json(arr);
		json_decref(arr);
		return 0;
	}
	printf("%-16s %-9s %10s %10s %10s %10s  %s\n", "INTERFACE", "ATTACHED", "STEERED",
	       "PASSED", "FLOODED", "NO_SOCKET", "MACS (socket)");
	json_array_foreach(arr, i, e) {
		json_t *vd = json_object_get(e, "verdicts");

		printf("%-16s %-9s %10lld %10lld %10lld %10lld ", jstr(e, "interface", ""),
		       json_is_true(json_object_get(e, "attached")) ? "yes" : "no",
		       jint(vd, "steered"), jint(vd, "passed"), jint(vd, "flooded"),
		       jint(vd, "no_socket"));
		json_array_foreach(json_object_get(e, "macs"), k, m)
			printf(" %s (%lld)", jstr(m, "mac", ""), jint(m, "socket"));
		printf("\n");
	}
	json_decref(arr);
	return 0;
}

/* A change asked of the daemon: its answer, said; exit 0 when it did it. */
static int daemon_change(const char *verb, const char *arg, const char *done)
{
	char cmd[1024];
	json_t *a;
	const char *why;
	int rc;

	if (strpbrk(arg, "\r\n") ||
	    (size_t)snprintf(cmd, sizeof(cmd), "device %s %s\n", verb, arg) >= sizeof(cmd)) {
		fprintf(stderr, "vringmedctl: device %s: the argument is too long or spans lines\n",
			verb);
		return 2;
	}
	a = daemon_query(cmd);
	if (!a) {
		fprintf(stderr, "vringmedctl: vringmedd does not answer on %s: is it running? "
			"(start it, or give its --control)\n", opt.ctl);
		return 1;
	}
	why = json_string_value(json_object_get(a, "error"));
	rc = why ? 1 : 0;
	if (opt.json)
		print_json(a);
	else if (why)
		fprintf(stderr, "vringmedctl: device %s %s: %s\n", verb, arg, why);
	else
		printf("device %.*s %s\n", (int)strcspn(arg, ","), arg, done);
	json_decref(a);
	return rc;
}

static int cmd_device_add(const struct vrm_view *v, char **args)
{
	return daemon_change("add", args[0], "added");
}

static int cmd_device_del(const struct vrm_view *v, char **args)
{
	return daemon_change("del", args[0], "removed");
}

static int cmd_metrics(const struct vrm_view *v, char **args)
{
	json_t *dl = daemon_devices();

	/* From the maps; vringmed_up says whether the daemon answers. */
	vrm_view_prometheus(v, NULL, dl != NULL, stdout);
	json_decref(dl);
	return 0;
}

static void usage(FILE *f);

static int cmd_help(const struct vrm_view *v, char **args)
{
	usage(stdout);
	return 0;
}

/*
 * The commands: OBJECT COMMAND [ARGS], each matched by prefix.  An object
 * alone runs its first row.  A row without a command is the object alone,
 * whatever words follow it; an object with none answers words it does not
 * know with its rows' usage.
 */
struct cmd {
	const char *object;
	const char *command;	/* NULL: the object alone */
	int nargs;		/* words it needs after the command */
	int (*fn)(const struct vrm_view *v, char **args);
	bool no_view;		/* runs without the pinned maps */
	const char *usage;	/* NULL: not in --help */
	const char *help;
};

static const struct cmd cmds[] = {
	{ "device", "list", 0, cmd_device_list, false, "device list",
	  "devices: name, slot, byte order, virtio version,\nfeatures, state, broken verdict" },
	{ "device", "show", 1, cmd_device_show, false, "device show NAME|SLOT",
	  "one device, with its queues' counters" },
	{ "device", "add", 1, cmd_device_add, true, "device add NAME,vmm=PATH,backend=PATH[,...]",
	  "vringmedd mediates one more device, at once\n(the --device spec; the config file is not\nchanged)" },
	{ "device", "del", 1, cmd_device_del, true, "device del NAME",
	  "vringmedd ends the device's sessions and\nforgets it" },
	{ "stats", NULL, 0, cmd_stats, false, "stats",
	  "per device and queue: kicks, chains, descriptors,\nindirect tables, used entries, "
	  "deferred kicks, errors, and (from\nthe daemon, when it answers) its calls to the guest" },
	{ "stats", "watch", 0, cmd_stats_watch, false, "stats --watch [--interval S] [--count N]",
	  "the same, refreshed, with rates per second" },
	{ "program", "list", 0, cmd_program_list, false, "program list",
	  "the BPF programs: attached, runs, run time" },
	{ "xdp", "list", 0, cmd_xdp_list, false, "xdp list",
	  "the XDP back-end's interfaces: its program attached,\nits verdicts, the MACs it steers" },
	{ "metrics", NULL, 0, cmd_metrics, false, "metrics",
	  "the Prometheus text vringmedd would serve" },
	{ "help", NULL, 0, cmd_help, true, NULL, NULL },
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

static void usage(FILE *f)
{
	fprintf(f, "usage: vringmedctl [OPTIONS] OBJECT COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < NCMDS; i++)
		if (cmds[i].usage)
			vrm_usage_row(f, cmds[i].usage, 25, cmds[i].help);
	fprintf(f,
"\n"
"Options:\n"
"  -p, --pin-root DIR   where vringmedd pinned its maps (default " VRM_PIN_ROOT ")\n"
"  -c, --control PATH   vringmedd's control socket (default " VRM_CONTROL_PATH ")\n"
"  -j, --json           JSON output (every listing)\n"
"  -w, --watch          stats: refreshed, with rates per second\n"
"  -i, --interval S     stats --watch: seconds between refreshes (default 1,\n"
"                       at least 0.05)\n"
"  -n, --count N        stats --watch: this many refreshes (default 0: until\n"
"                       Ctrl-C)\n"
"  -V, --version        the version, and libbpf's\n"
"  -h, --help           this text\n"
"\n"
"It reads the pinned maps, so it works while vringmedd is down.  Objects and\n"
"commands may be abbreviated: 'vringmedctl dev l', 'vringmedctl st -j'.\n"
"Exit status: 0 ok, 1 no vringmed state or no such device, 2 usage.\n");
}

/* The first row of the object `word` abbreviates, or NULL. */
static const struct cmd *find_object(const char *word)
{
	for (size_t i = 0; i < NCMDS; i++)
		if (is_prefix(word, cmds[i].object))
			return &cmds[i];
	return NULL;
}

/* The row of object o for the words that follow it (argc of them), or
 * NULL, said with the object's usage. */
static const struct cmd *find_command(const struct cmd *o, int argc, char **argv)
{
	const struct cmd *alone = NULL;
	char use[256] = "";
	size_t n = 0;

	if (!argc)
		return o;
	for (const struct cmd *c = o; c < cmds + NCMDS && !strcmp(c->object, o->object); c++) {
		/* The words a command takes, no fewer and no more: a word
		 * left over is a mistake to say, not to pass over. */
		if (c->command && is_prefix(argv[0], c->command)) {
			if (argc - 1 == c->nargs)
				return c;
			fprintf(stderr, "vringmedctl: expected %s\n", c->usage);
			return NULL;
		}
		if (!c->command && !alone)
			alone = c;
		n += (size_t)snprintf(use + n, n < sizeof(use) ? sizeof(use) - n : 0, "%s%s",
				      n ? " | " : "", c->usage);
	}
	if (alone)
		fprintf(stderr, "vringmedctl: unexpected '%s' after '%s': %s\n", argv[0], o->object,
			use);
	else
		fprintf(stderr, "vringmedctl: unknown command '%s': %s\n", argv[0], use);
	return NULL;
}

static void unknown_object(const char *word)
{
	fprintf(stderr, "vringmedctl: unknown object '%s': ", word);
	for (size_t i = 0; i < NCMDS; i++)
		if (cmds[i].usage && (!i || strcmp(cmds[i - 1].object, cmds[i].object)))
			fprintf(stderr, "%s%s", i ? ", " : "", cmds[i].object);
	fputc('\n', stderr);
}

/* The options before, between and after the words; -1 to go on, else the
 * exit code. */
static int parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c, err;

	while ((c = getopt_long(argc, argv, "p:c:jwi:n:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': opt.root = optarg; break;
		case 'c': opt.ctl = optarg; break;
		case 'j': opt.json = true; break;
		case 'w': opt.watch = true; break;
		case 'i':
			/* Faster than this, the refresh is all it would do. */
			err = vrm_parse_double(optarg, 0.05, 86400, &opt.interval);
			if (err) {
				fprintf(stderr, "vringmedctl: bad --interval '%s': expected seconds, "
					"a number from 0.05 to 86400\n", optarg);
				return 2;
			}
			break;
		case 'n':
			err = vrm_parse_u32(optarg, 0, UINT32_MAX, &opt.count);
			if (err) {
				fprintf(stderr, "vringmedctl: bad --count '%s': expected a whole number "
					"from 0 (until Ctrl-C) to %u\n", optarg, UINT32_MAX);
				return 2;
			}
			break;
		case 'V':
			printf("vringmedctl %s (libbpf %u.%u)\n", VRINGMED_VERSION,
			       libbpf_major_version(), libbpf_minor_version());
			return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/* The pinned maps, or why not (exit code 1). */
static int open_view(struct vrm_view *v)
{
	int err = vrm_view_open(v, opt.root);

	if (!err)
		return 0;
	if (err == -ENOENT)
		fprintf(stderr, "vringmedctl: no vringmed state under %s: is vringmedd "
			"running? (start it, or give its --pin-root)\n", opt.root);
	else
		fprintf(stderr, "vringmedctl: cannot read the maps under %s: %s%s\n", opt.root,
			strerror(-err), err == -EPERM || err == -EACCES ? " (run as root)" : "");
	return 1;
}

int main(int argc, char **argv)
{
	const struct cmd *o, *c;
	struct vrm_view v;
	int err;

	err = parse_options(argc, argv);
	if (err >= 0)
		return err;
	argv += optind;
	argc -= optind;
	o = find_object(argv[0]);
	if (!o) {
		unknown_object(argv[0]);
		return 2;
	}
	c = find_command(o, argc - 1, argv + 1);
	if (!c)
		return 2;
	if (c->no_view)
		return c->fn(NULL, argv + 2);
	if (open_view(&v))
		return 1;
	err = c->fn(&v, argv + 2);
	vrm_view_close(&v);
	return err;
}
