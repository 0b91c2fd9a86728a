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
#include <jansson.h>

#include <vringmed/abi.h>
#include "uxlate.h"
#include "view.h"

#define CTL_DEFAULT "/run/vringmed/control.sock"

static const char *root = VRM_PIN_ROOT, *ctl = CTL_DEFAULT;
static bool json;
static volatile sig_atomic_t stop;

static void usage(FILE *f)
{
	fprintf(f,
"usage: vringmedctl [OPTIONS] OBJECT COMMAND [ARGS]\n"
"\n"
"  device list               devices: name, slot, byte order, virtio version,\n"
"                            features, state, broken verdict\n"
"  device show NAME|SLOT     one device, with its queues' counters\n"
"  stats                     per device and queue: kicks, chains, descriptors,\n"
"                            used entries, deferred kicks, errors, and (from\n"
"                            the daemon, when it answers) its calls to the guest\n"
"  stats --watch [--interval S] [--count N]\n"
"                            the same, refreshed, with rates per second\n"
"  program list              the BPF programs: attached, runs, run time\n"
"  metrics                   the Prometheus text vringmedd would serve\n"
"\n"
"Options:\n"
"  -p, --pin-root DIR   where vringmedd pinned its maps (default " VRM_PIN_ROOT ")\n"
"  -c, --control PATH   vringmedd's control socket (default " CTL_DEFAULT ")\n"
"  -j, --json           JSON output (every listing)\n"
"  -h, --help           this text\n"
"\n"
"It reads the pinned maps, so it works while vringmedd is down.  Objects and\n"
"commands may be abbreviated: 'vringmedctl dev l', 'vringmedctl st -j'.\n"
"Exit status: 0 ok, 1 no vringmed state or no such device, 2 usage.\n");
}

static bool is_prefix(const char *arg, const char *word)
{
	return *arg && !strncmp(arg, word, strlen(arg));
}

/* The daemon's `device list` answer, or NULL when it does not answer. */
/* The daemon's JSON answer to `cmd` on its control socket, or NULL when
 * it does not answer (it is down: the maps still tell the rest). */
static json_t *daemon_query(const char *cmd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 1 };
	char buf[65536];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (strlen(ctl) >= sizeof(sa.sun_path))
		return NULL;
	strcpy(sa.sun_path, ctl);
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
		      "byte_order", d->order == VRM_ORDER_BE ? "big" : "little",
		      "virtio", (d->features >> 32) & 1 ? "modern" : "legacy", "features", feat,
		      "active", (d->flags & VRM_DF_ACTIVE) != 0,
		      "broken", d->broken ? vrm_verdict_name(d->broken) : "no",
		      "vmm_pid", (int)d->tgid,
		      "state", de ? jstr(de, "state", "?") : dl ? "not configured" : "unknown (daemon not reachable)",
		      "backend", de ? jstr(de, "backend_socket", "") : "",
		      "generation", (json_int_t)d->generation);
	/* The daemon's: how the guest's kicks reach the core, and why. */
	json_object_set_new(o, "kick_path", json_string(de ? jstr(de, "kick_path", "?") : "unknown"));
	json_object_set_new(o, "kick_path_why", json_string(de ? jstr(de, "kick_path_why", "") : ""));
	if (queues) {
		json_t *qs = json_array();
		__u32 nq = d->nqueues && d->nqueues <= VRM_DEV_QUEUES ? d->nqueues : 2;

		for (__u32 q = 0; q < nq && d->first_queue + q < VRM_MAX_QUEUES; q++) {
			struct vrm_qstats st;
			json_t *errs = json_object();

			if (vrm_view_stats(v, d->first_queue + q, &st))
				continue;
			for (__u32 r = VRM_AVAIL_JUMP; r < VRM_VERDICT_NR; r++)
				if (st.errors[r])
					json_object_set_new(errs, vrm_verdict_name(r),
							    json_integer((json_int_t)st.errors[r]));
			json_array_append_new(qs, json_pack(
				"{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "queue", (int)q,
				"kicks", (json_int_t)st.kicks, "kicks_empty", (json_int_t)st.kicks_empty,
				"chains", (json_int_t)st.chains, "descriptors", (json_int_t)st.descs,
				"used", (json_int_t)st.used, "deferred", (json_int_t)st.deferred,
				"read_faults", (json_int_t)st.read_faults,
				"foreign", (json_int_t)st.foreign, "errors", errs));
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

static int cmd_device_list(const struct vrm_view *v)
{
	json_t *dl = daemon_devices(), *arr = json_array();
	char name[VRM_DEV_NAME_LEN + 8];

	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++)
		if (vrm_view_device_name(v, s, name, sizeof(name)))
			json_array_append_new(arr, device_json(v, s, dl, false));
	if (json) {
		print_json(arr);
	} else {
		size_t i;
		json_t *e;

		printf("%-16s %4s %-6s %-7s %-18s %-10s %-24s %s\n", "DEVICE", "SLOT", "ORDER",
		       "VIRTIO", "FEATURES", "ACTIVE", "STATE", "BROKEN");
		json_array_foreach(arr, i, e)
			printf("%-16s %4lld %-6s %-7s %-18s %-10s %-24s %s\n", jstr(e, "name", ""),
			       json_integer_value(json_object_get(e, "slot")),
			       jstr(e, "byte_order", ""), jstr(e, "virtio", ""),
			       jstr(e, "features", ""),
			       json_is_true(json_object_get(e, "active")) ? "yes" : "no",
			       jstr(e, "state", ""), jstr(e, "broken", ""));
		if (!json_array_size(arr))
			printf("(no devices)\n");
		if (!dl)
			fprintf(stderr, "note: vringmedd does not answer on %s; showing the pinned maps\n",
				ctl);
	}
	json_decref(arr);
	json_decref(dl);
	return 0;
}

static int cmd_device_show(const struct vrm_view *v, const char *which)
{
	char name[VRM_DEV_NAME_LEN + 8], *end;
	long slot = strtol(which, &end, 10);
	json_t *dl, *o;

	for (unsigned s = 0; s < VRM_MAX_DEVICES && (*end || slot < 0); s++)
		if (vrm_view_device_name(v, s, name, sizeof(name)) && !strcmp(name, which))
			slot = s, end = (char *)"";
	if (*end || slot < 0 || slot >= VRM_MAX_DEVICES ||
	    !vrm_view_device_name(v, (unsigned)slot, name, sizeof(name))) {
		fprintf(stderr, "vringmedctl: no device '%s' (vringmedctl device list)\n", which);
		return 1;
	}
	dl = daemon_devices();
	o = device_json(v, (unsigned)slot, dl, true);
	if (json) {
		print_json(o);
	} else {
		size_t i;
		json_t *q;

		printf("device %s (slot %ld): %s virtio, %s-endian rings, features %s, %s, broken: %s\n",
		       jstr(o, "name", ""), slot, jstr(o, "virtio", ""), jstr(o, "byte_order", ""),
		       jstr(o, "features", ""),
		       json_is_true(json_object_get(o, "active")) ? "active" : "inactive",
		       jstr(o, "broken", ""));
		printf("  state: %s; VMM pid %lld; back-end %s\n", jstr(o, "state", ""),
		       json_integer_value(json_object_get(o, "vmm_pid")), jstr(o, "backend", "-"));
		printf("  kick path: %s%s%s\n", jstr(o, "kick_path", ""),
		       *jstr(o, "kick_path_why", "") ? ": " : "", jstr(o, "kick_path_why", ""));
		json_array_foreach(json_object_get(o, "queues"), i, q)
			printf("  queue %lld: kicks %lld, chains %lld, descriptors %lld, used %lld, "
			       "deferred %lld, read faults %lld\n",
			       json_integer_value(json_object_get(q, "queue")),
			       json_integer_value(json_object_get(q, "kicks")),
			       json_integer_value(json_object_get(q, "chains")),
			       json_integer_value(json_object_get(q, "descriptors")),
			       json_integer_value(json_object_get(q, "used")),
			       json_integer_value(json_object_get(q, "deferred")),
			       json_integer_value(json_object_get(q, "read_faults")));
	}
	json_decref(o);
	json_decref(dl);
	return 0;
}

/* Every (device, queue) row of counters, as JSON. */
static long long jint(json_t *o, const char *k)
{
	return json_integer_value(json_object_get(o, k));
}

/* What only the daemon counts for a queue (its used path's calls to the
 * guest), from its own `stats`, into the row taken from the maps. */
static void stats_add_daemon(json_t *row, json_t *ds)
{
	size_t i;
	json_t *d;

	json_array_foreach(ds, i, d) {
		if (strcmp(jstr(d, "device", ""), jstr(row, "device", "-")) ||
		    jint(d, "queue") != jint(row, "queue") || !json_object_get(d, "guest_calls"))
			continue;
		json_object_set(row, "guest_calls", json_object_get(d, "guest_calls"));
		json_object_set(row, "guest_calls_suppressed",
				json_object_get(d, "guest_calls_suppressed"));
		/* The mode the queue ran in, and its polling. */
		json_object_set(row, "mode", json_object_get(d, "mode"));
		json_object_set(row, "poll_periods", json_object_get(d, "poll_periods"));
		json_object_set(row, "poll_chains", json_object_get(d, "poll_chains"));
		json_object_set(row, "poll_us", json_object_get(d, "poll_us"));
		return;
	}
}

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

static void on_sigint(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_stats(const struct vrm_view *v, bool watch, double interval, long count)
{
	json_t *prev = NULL;
	struct timespec t0, t1;

	if (!watch) {
		json_t *rows = stats_rows(v);

		if (json) {
			print_json(rows);
		} else {
			size_t i;
			json_t *r;

			printf("%-16s %5s %10s %10s %12s %10s %9s %7s %21s %-14s %12s\n", "DEVICE",
			       "QUEUE", "KICKS", "CHAINS", "DESCRIPTORS", "USED", "DEFERRED", "ERRORS",
			       "CALLS/SUPPRESSED", "MODE", "POLL_CHAINS");
			json_array_foreach(rows, i, r) {
				long long errs = 0;
				const char *k;
				json_t *e;
				char calls[48] = "-";	/* the daemon's; "-" when it is down */

				json_object_foreach(json_object_get(r, "errors"), k, e)
					errs += json_integer_value(e);
				char polled[24] = "-";

				if (json_object_get(r, "guest_calls"))
					snprintf(calls, sizeof(calls), "%lld/%lld", jint(r, "guest_calls"),
						 jint(r, "guest_calls_suppressed"));
				if (json_object_get(r, "poll_chains"))
					snprintf(polled, sizeof(polled), "%lld", jint(r, "poll_chains"));
				printf("%-16s %5lld %10lld %10lld %12lld %10lld %9lld %7lld %21s %-14s %12s\n",
				       jstr(r, "device", ""), jint(r, "queue"), jint(r, "kicks"),
				       jint(r, "chains"), jint(r, "descriptors"), jint(r, "used"),
				       jint(r, "deferred"), errs, calls, jstr(r, "mode", "-"), polled);
			}
		}
		json_decref(rows);
		return 0;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long n = 0; !stop && (count <= 0 || n < count); n++) {
		json_t *rows;
		double dt;
		size_t i;
		json_t *r;

		if (n) {
			struct timespec ts = { (time_t)interval,
					       (long)((interval - (time_t)interval) * 1e9) };

			nanosleep(&ts, NULL);
		}
		rows = stats_rows(v);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		dt = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
		t0 = t1;
		json_array_foreach(rows, i, r) {
			json_t *p = prev ? json_array_get(prev, i) : NULL;

			json_object_set_new(r, "kicks_per_s", json_real(p && dt > 0 ?
				(double)(jint(r, "kicks") - jint(p, "kicks")) / dt : 0));
			json_object_set_new(r, "descriptors_per_s", json_real(p && dt > 0 ?
				(double)(jint(r, "descriptors") - jint(p, "descriptors")) / dt : 0));
			json_object_set_new(r, "used_per_s", json_real(p && dt > 0 ?
				(double)(jint(r, "used") - jint(p, "used")) / dt : 0));
		}
		if (json) {
			char *s = json_dumps(rows, JSON_COMPACT);

			if (s)
				puts(s);
			free(s);
		} else {
			if (isatty(1))
				printf("\033[H\033[2J");
			printf("vringmed stats (pin root %s), every %.1f s; Ctrl-C stops\n", root,
			       interval);
			printf("%-16s %5s %12s %10s %14s %10s %10s %9s\n", "DEVICE", "QUEUE", "KICKS",
			       "KICKS/S", "DESCRIPTORS", "DESCS/S", "USED/S", "DEFERRED");
			json_array_foreach(rows, i, r)
				printf("%-16s %5lld %12lld %10.1f %14lld %10.1f %10.1f %9lld\n",
				       jstr(r, "device", ""), jint(r, "queue"), jint(r, "kicks"),
				       json_real_value(json_object_get(r, "kicks_per_s")),
				       jint(r, "descriptors"),
				       json_real_value(json_object_get(r, "descriptors_per_s")),
				       json_real_value(json_object_get(r, "used_per_s")),
				       jint(r, "deferred"));
		}
		fflush(stdout);
		json_decref(prev);
		prev = rows;
	}
	json_decref(prev);
	return 0;
}

static int cmd_program_list(const struct vrm_view *v)
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
	if (json) {
		print_json(arr);
	} else {
		printf("%-20s %-9s %12s %16s %10s\n", "PROGRAM", "ATTACHED", "RUNS", "RUN_TIME_NS",
		       "NS/RUN");
		json_array_foreach(arr, i, e)
			printf("%-20s %-9s %12lld %16lld %10.1f\n", jstr(e, "program", ""),
			       json_is_true(json_object_get(e, "attached")) ? "yes" : "no",
			       jint(e, "runs"), jint(e, "run_time_ns"),
			       json_real_value(json_object_get(e, "ns_per_run")));
		printf("(run counts need kernel.bpf_stats_enabled=1)\n");
	}
	json_decref(arr);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'p' },
		{ "control", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "watch", no_argument, NULL, 'w' },
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	double interval = 1.0;
	long count = 0;
	bool watch = false;
	struct vrm_view v;
	const char *obj, *cmd;
	int c, err;

	while ((c = getopt_long(argc, argv, "p:c:jwi:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': root = optarg; break;
		case 'c': ctl = optarg; break;
		case 'j': json = true; break;
		case 'w': watch = true; break;
		case 'i': interval = atof(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (interval < 0.05)
		interval = 0.05;
	obj = argv[optind];
	cmd = optind + 1 < argc ? argv[optind + 1] : "";
	if (!is_prefix(obj, "device") && !is_prefix(obj, "stats") && !is_prefix(obj, "program") &&
	    !is_prefix(obj, "metrics") && !is_prefix(obj, "help")) {
		fprintf(stderr, "vringmedctl: unknown object '%s': device, stats, program, metrics\n",
			obj);
		return 2;
	}
	if (is_prefix(obj, "help")) {
		usage(stdout);
		return 0;
	}

	err = vrm_view_open(&v, root);
	if (err) {
		if (err == -ENOENT)
			fprintf(stderr, "vringmedctl: no vringmed state under %s: is vringmedd "
				"running? (start it, or give its --pin-root)\n", root);
		else
			fprintf(stderr, "vringmedctl: cannot read the maps under %s: %s%s\n", root,
				strerror(-err), err == -EPERM || err == -EACCES ? " (run as root)" : "");
		return 1;
	}
	if (is_prefix(obj, "device")) {
		if (!*cmd || is_prefix(cmd, "list"))
			err = cmd_device_list(&v);
		else if (is_prefix(cmd, "show") && optind + 2 < argc)
			err = cmd_device_show(&v, argv[optind + 2]);
		else {
			fprintf(stderr, "vringmedctl: device list | device show NAME|SLOT\n");
			err = 2;
		}
	} else if (is_prefix(obj, "stats")) {
		err = cmd_stats(&v, watch || (*cmd && is_prefix(cmd, "watch")), interval, count);
	} else if (is_prefix(obj, "program")) {
		if (!*cmd || is_prefix(cmd, "list"))
			err = cmd_program_list(&v);
		else {
			fprintf(stderr, "vringmedctl: program list\n");
			err = 2;
		}
	} else {
		vrm_view_prometheus(&v, NULL, stdout);
		err = 0;
	}
	vrm_view_close(&v);
	return err;
}
