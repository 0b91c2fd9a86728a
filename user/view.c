// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A read-only view of vringmed's maps: see view.h. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "defaults.h"
#include "uxlate.h"
#include "view.h"
#include "vringmed.skel.h"

static size_t map_bytes(size_t entries, size_t value)
{
	long page = sysconf(_SC_PAGESIZE);

	return (entries * value + (size_t)page - 1) & ~((size_t)page - 1);
}

static int pinned_fd(const char *root, const char *name)
{
	char path[512];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, name) >= sizeof(path))
		return -ENAMETOOLONG;
	return bpf_obj_get(path);
}

int vrm_view_open(struct vrm_view *v, const char *root)
{
	DIR *d;
	struct dirent *e;
	void *p;

	memset(v, 0, sizeof(*v));
	v->own = true;
	v->devices_fd = v->stats_fd = v->ustats_fd = -1;
	v->ncpu = libbpf_num_possible_cpus();
	v->devices_fd = pinned_fd(root, VRM_MAP_DEVICES);
	v->stats_fd = pinned_fd(root, VRM_MAP_STATS);
	v->ustats_fd = pinned_fd(root, VRM_MAP_USTATS);
	if (v->devices_fd < 0 || v->stats_fd < 0 || v->ustats_fd < 0) {
		int err = errno == ENOENT ? -ENOENT : -errno;

		vrm_view_close(v);
		return err;
	}
	p = mmap(NULL, map_bytes(VRM_MAX_DEVICES, sizeof(struct vrm_device)), PROT_READ, MAP_SHARED,
		 v->devices_fd, 0);
	v->devices = p == MAP_FAILED ? NULL : p;
	p = mmap(NULL, map_bytes(VRM_MAX_QUEUES, sizeof(struct vrm_qstats)), PROT_READ, MAP_SHARED,
		 v->ustats_fd, 0);
	v->ustats = p == MAP_FAILED ? NULL : p;
	if (!v->devices) {
		int err = -errno;

		vrm_view_close(v);
		return err;
	}
	/* Programs: the links pinned as link_<program>. */
	d = opendir(root);
	while (d && (e = readdir(d)) && v->nprogs < VRM_VIEW_MAX_PROGS) {
		struct bpf_link_info li = {};
		__u32 len = sizeof(li);
		struct vrm_view_prog *vp;
		int lfd;

		if (strncmp(e->d_name, "link_", 5))
			continue;
		lfd = pinned_fd(root, e->d_name);
		if (lfd < 0)
			continue;
		vp = &v->progs[v->nprogs++];
		snprintf(vp->name, sizeof(vp->name), "%s", e->d_name + 5);
		vp->attached = true;
		vp->fd = -1;
		if (!bpf_obj_get_info_by_fd(lfd, &li, &len))
			vp->fd = bpf_prog_get_fd_by_id(li.prog_id);
		close(lfd);
	}
	if (d)
		closedir(d);
	return 0;
}

void vrm_view_from_bpf(struct vrm_view *v, struct vrm_bpf *b)
{
	struct bpf_program *prog;

	memset(v, 0, sizeof(*v));
	v->devices_fd = bpf_map__fd(b->skel->maps.vrm_devices);
	v->stats_fd = bpf_map__fd(b->skel->maps.vrm_qstats);
	v->ustats_fd = bpf_map__fd(b->skel->maps.vrm_ustats);
	v->devices = b->devices;
	v->ustats = b->ustats;
	v->ncpu = libbpf_num_possible_cpus();
	/* The programs behind the links: an adopted link runs a program this
	 * process did not load. */
	for (int i = 0; i < b->nlinks && v->nprogs < VRM_VIEW_MAX_PROGS; i++) {
		struct vrm_view_prog *vp = &v->progs[v->nprogs];
		struct bpf_link_info li = {};
		__u32 ll = sizeof(li);

		if (bpf_obj_get_info_by_fd(bpf_link__fd(b->links[i]), &li, &ll))
			continue;
		snprintf(vp->name, sizeof(vp->name), "%s", b->link_prog[i]);
		vp->fd = bpf_prog_get_fd_by_id(li.prog_id);
		vp->attached = true;
		v->nprogs++;
	}
	v->nlink_progs = v->nprogs;	/* their fds are ours to close */
	bpf_object__for_each_program(prog, b->skel->obj) {
		struct vrm_view_prog *vp;
		struct bpf_prog_info pi = {};
		__u32 len = sizeof(pi);

		bool linked = false;

		for (int i = 0; i < b->nlinks; i++)
			linked |= !strcmp(b->link_prog[i], bpf_program__name(prog));
		if (v->nprogs == VRM_VIEW_MAX_PROGS || bpf_program__fd(prog) < 0 || linked)
			continue;
		vp = &v->progs[v->nprogs++];
		snprintf(vp->name, sizeof(vp->name), "%s", bpf_program__name(prog));
		vp->fd = bpf_program__fd(prog);
		if (bpf_obj_get_info_by_fd(vp->fd, &pi, &len))
			continue;
		for (int i = 0; i < b->nlinks; i++) {
			struct bpf_link_info li = {};
			__u32 ll = sizeof(li);

			if (!bpf_obj_get_info_by_fd(bpf_link__fd(b->links[i]), &li, &ll) &&
			    li.prog_id == pi.id)
				vp->attached = true;
		}
	}
}

void vrm_view_close(struct vrm_view *v)
{
	if (!v->own) {
		for (int i = 0; i < v->nlink_progs; i++)
			if (v->progs[i].fd >= 0)
				close(v->progs[i].fd);
		v->nlink_progs = 0;
		return;
	}
	if (v->devices)
		munmap((void *)v->devices, map_bytes(VRM_MAX_DEVICES, sizeof(struct vrm_device)));
	if (v->ustats)
		munmap((void *)v->ustats, map_bytes(VRM_MAX_QUEUES, sizeof(struct vrm_qstats)));
	for (int i = 0; i < v->nprogs; i++)
		if (v->progs[i].fd >= 0)
			close(v->progs[i].fd);
	if (v->devices_fd >= 0)
		close(v->devices_fd);
	if (v->stats_fd >= 0)
		close(v->stats_fd);
	if (v->ustats_fd >= 0)
		close(v->ustats_fd);
	memset(v, 0, sizeof(*v));
}

int vrm_view_stats(const struct vrm_view *v, __u32 q, struct vrm_qstats *sum)
{
	struct vrm_qstats *per;
	int err = 0;

	memset(sum, 0, sizeof(*sum));
	if (q >= VRM_MAX_QUEUES || v->ncpu <= 0)
		return -EINVAL;
	per = calloc((size_t)v->ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	if (bpf_map_lookup_elem(v->stats_fd, &q, per)) {
		err = -errno;
		goto out;
	}
	/* Per-CPU values summed at read time, then the daemon's own work. */
	for (int c = 0; c <= v->ncpu; c++) {
		const __u64 *src = (const __u64 *)(c < v->ncpu ? &per[c] :
						   v->ustats ? &v->ustats[q] : NULL);
		__u64 *dst = (__u64 *)sum;

		for (size_t i = 0; src && i < sizeof(*sum) / sizeof(__u64); i++)
			dst[i] += src[i];
	}
out:
	free(per);
	return err;
}

bool vrm_view_device_name(const struct vrm_view *v, __u32 slot, char *buf, size_t len)
{
	const struct vrm_device *d = &v->devices[slot];

	if (d->name[0]) {
		snprintf(buf, len, "%.*s", (int)sizeof(d->name), d->name);
		return true;
	}
	snprintf(buf, len, "dev%u", slot);
	return (d->flags & VRM_DF_ACTIVE) != 0;
}

int vrm_view_prog_stats(const struct vrm_view_prog *p, __u64 *runs, __u64 *ns)
{
	*runs = *ns = 0;
	return p->fd >= 0 ? vrm_bpf_prog_runtime(p->fd, runs, ns) : -ENOENT;
}

__u32 vrm_view_batch_le(unsigned i)
{
	/* vrm_batch_bucket(): 0, 1, 2-3, 4-7, ..., 512-1023, 1024+ */
	return i == 0 ? 0 : i + 1 >= VRM_BATCH_BUCKETS ? UINT32_MAX : (1u << i) - 1;
}

/* ---- Prometheus text format 0.0.4 ---- */

/* Label values: backslash, double quote and newline escaped. */
static void esc(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n') {
			fputs("\\n", out);
			continue;
		}
		fputc(*s, out);
	}
}

static void head(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

struct qrow {
	char dev[VRM_DEV_NAME_LEN + 8];
	__u32 slot, queue;
	struct vrm_qstats st;
};

/* Every (device, queue) with counters: devices in use, their queues. */
static int collect(const struct vrm_view *v, struct qrow *rows)
{
	int n = 0;

	for (__u32 s = 0; s < VRM_MAX_DEVICES; s++) {
		const struct vrm_device *d = &v->devices[s];
		char name[VRM_DEV_NAME_LEN + 8];
		__u32 nq;

		if (!vrm_view_device_name(v, s, name, sizeof(name)))
			continue;
		nq = d->nqueues ? d->nqueues : 2;
		if (nq > VRM_DEV_QUEUES || d->first_queue + nq > VRM_MAX_QUEUES)
			nq = 0;
		for (__u32 q = 0; q < nq && n < VRM_MAX_QUEUES; q++) {
			snprintf(rows[n].dev, sizeof(rows[n].dev), "%s", name);
			rows[n].slot = s;
			rows[n].queue = q;
			if (!vrm_view_stats(v, d->first_queue + q, &rows[n].st))
				n++;
		}
	}
	return n;
}

/* A per-queue counter the daemon keeps (x), for the rows of the maps. */
static void daemon_counter(FILE *out, const struct qrow *rows, int nrows,
			   const struct vrm_view_extra *x, const char *metric,
			   const unsigned long (*val)[VRM_DEV_QUEUES], const char *help)
{
	char name[96];

	snprintf(name, sizeof(name), "vringmed_%s_total", metric);
	head(out, name, "counter", help);
	for (int i = 0; i < nrows; i++) {
		if (!x->calls.known[rows[i].slot] || rows[i].queue >= VRM_DEV_QUEUES)
			continue;
		fprintf(out, "%s{device=\"", name);
		esc(out, rows[i].dev);
		fprintf(out, "\",queue=\"%u\"} %lu\n", rows[i].queue, val[rows[i].slot][rows[i].queue]);
	}
}

/* Who serves these metrics, and which build. */
static void prom_self(FILE *out, bool up)
{
	head(out, "vringmed_up", "gauge", "1 while vringmedd runs (it serves these metrics).");
	fprintf(out, "vringmed_up %d\n", up);
	head(out, "vringmed_build_info", "gauge", "vringmed's version, as a label.");
	fprintf(out, "vringmed_build_info{version=\"%s\",libbpf=\"%u.%u\"} 1\n", VRINGMED_VERSION,
		libbpf_major_version(), libbpf_minor_version());
}

/* One series per device in use: what it negotiated, where it runs. */
static void prom_device_info(FILE *out, const struct vrm_view *v, const struct vrm_view_extra *x)
{
	head(out, "vringmed_device_info", "gauge",
	     "One per device: its type (net, blk), negotiated byte order, virtio version, features and back-end.");
	for (__u32 s = 0; s < VRM_MAX_DEVICES; s++) {
		const struct vrm_device *d = &v->devices[s];
		char name[VRM_DEV_NAME_LEN + 8];

		if (!vrm_view_device_name(v, s, name, sizeof(name)))
			continue;
		fprintf(out, "vringmed_device_info{device=\"");
		esc(out, name);
		fprintf(out, "\",slot=\"%u\",byte_order=\"%s\",virtio=\"%s\",features=\"0x%llx\","
			"active=\"%s\",state=\"", s, vrm_view_order_name(d), vrm_view_virtio_name(d),
			(unsigned long long)d->features,
			d->flags & VRM_DF_ACTIVE ? "yes" : "no");
		esc(out, x && x->state[s] ? x->state[s] : "unknown");
		fprintf(out, "\",backend=\"");
		esc(out, x && x->backend[s] ? x->backend[s] : "");
		fprintf(out, "\",type=\"%s\"} 1\n", d->type == VRM_DEV_BLK ? "blk" : "net");
	}
}

/* The daemon's: how each device's kicks reach the translation. */
static void prom_kick_path(FILE *out, const struct vrm_view *v, const struct vrm_view_extra *x)
{
	static const char *const paths[] = { "bpf", "userspace" };

	head(out, "vringmed_kick_path", "gauge",
	     "How a device's guest kicks reach the translation: 1 for the path in use (bpf: a program at the notification point; userspace: the daemon, where no attached hook sees the kicks), 0 for the other, both 0 while no ring runs.");
	for (__u32 s = 0; s < VRM_MAX_DEVICES; s++) {
		char name[VRM_DEV_NAME_LEN + 8];

		if (!x->state[s] || !vrm_view_device_name(v, s, name, sizeof(name)))
			continue;
		for (unsigned k = 0; k < 2; k++) {
			fprintf(out, "vringmed_kick_path{device=\"");
			esc(out, name);
			fprintf(out, "\",path=\"%s\"} %d\n", paths[k],
				x->kick_path[s] && !strcmp(x->kick_path[s], paths[k]));
		}
	}
}

static void prom_broken(FILE *out, const struct vrm_view *v)
{
	head(out, "vringmed_device_broken", "gauge",
	     "1 when a device was marked broken (reason label: the first verdict), else 0.");
	for (__u32 s = 0; s < VRM_MAX_DEVICES; s++) {
		char name[VRM_DEV_NAME_LEN + 8];
		__u32 b = v->devices[s].broken;

		if (!vrm_view_device_name(v, s, name, sizeof(name)))
			continue;
		fprintf(out, "vringmed_device_broken{device=\"");
		esc(out, name);
		fprintf(out, "\",reason=\"%s\"} %d\n", b ? vrm_verdict_name(b) : "none", b != 0);
	}
}

#define COUNTER(field, metric, help)						\
	do {									\
		head(out, "vringmed_" metric "_total", "counter", help);	\
		for (int i = 0; i < nrows; i++) {				\
			fprintf(out, "vringmed_" metric "_total{device=\"");	\
			esc(out, rows[i].dev);					\
			fprintf(out, "\",queue=\"%u\"} %llu\n", rows[i].queue,	\
				(unsigned long long)rows[i].st.field);		\
		}								\
	} while (0)

/* The per-queue counters, BPF's and the daemon's. */
static void prom_queue_counters(FILE *out, const struct qrow *rows, int nrows,
				const struct vrm_view_extra *x)
{
	COUNTER(kicks, "kicks", "Kick notifications that reached the queue.");
	COUNTER(kicks_empty, "kicks_empty", "Kicks that found nothing new in the avail ring.");
	COUNTER(chains, "chains", "Descriptor chains translated into the shadow ring.");
	COUNTER(descs, "descriptors", "Descriptors translated into the shadow ring.");
	COUNTER(indirect, "indirect_tables", "Indirect tables translated into shadow tables.");
	COUNTER(used, "used", "Used entries returned to the guest.");
	COUNTER(read_faults, "read_faults", "Guest ring reads that faulted.");
	COUNTER(deferred, "deferred_kicks", "Kicks BPF handed to userspace to finish.");
	COUNTER(contended, "contended_kicks", "Kicks that found the queue busy (redone by the holder).");
	COUNTER(foreign, "foreign_kicks", "Kicks from a process other than the device's VMM (ignored).");

	if (x) {
		/* The daemon's own, from its used path, since it started. */
		daemon_counter(out, rows, nrows, x, "guest_calls", x->calls.calls,
			       "Used-path rounds that returned entries and told the guest (its call eventfd written), since vringmedd started.");
		daemon_counter(out, rows, nrows, x, "guest_calls_suppressed", x->calls.suppressed,
			       "Used-path rounds that returned entries without a call: the guest polls (VRING_AVAIL_F_NO_INTERRUPT).");
		daemon_counter(out, rows, nrows, x, "poll_periods", x->calls.poll_periods,
			       "Periods a busy queue was polled by its device thread, the guest's kicks and the back-end's calls off, since vringmedd started.");
		daemon_counter(out, rows, nrows, x, "poll_chains", x->calls.poll_chains,
			       "Chains the device thread translated while it polled: kicks the guest did not make.");
		daemon_counter(out, rows, nrows, x, "poll_first_kicks", x->calls.poll_first_kicks,
			       "Kicks a sleeping back-end got, while its queue was polled, for the first 16 chains of a batch, the rest translated as it woke.");
		daemon_counter(out, rows, nrows, x, "event_idx_guest_kicks_saved", x->calls.eidx_kicks,
			       "Event idx: the guest's posts the device thread found, re-arming avail_event, with no kick made for them.");
		daemon_counter(out, rows, nrows, x, "event_idx_guest_calls_saved", x->calls.eidx_calls,
			       "Event idx: used-path rounds that returned entries without a call, the guest's used_event not passed.");
		daemon_counter(out, rows, nrows, x, "event_idx_backend_kicks_saved", x->calls.eidx_be_kicks,
			       "Event idx: translations the back-end was not kicked for, its avail_event not passed.");
		daemon_counter(out, rows, nrows, x, "event_idx_rescues", x->calls.eidx_rescues,
			       "Event idx: the daemon's tick found the guest past avail_event with no kick, or asleep with its used_event passed, and translated or called for it.");
		head(out, "vringmed_poll_seconds_total", "counter",
		     "Time a queue was polled by its device thread.");
		for (int i = 0; i < nrows; i++) {
			if (!x->calls.known[rows[i].slot] || rows[i].queue >= VRM_DEV_QUEUES)
				continue;
			fprintf(out, "vringmed_poll_seconds_total{device=\"");
			esc(out, rows[i].dev);
			fprintf(out, "\",queue=\"%u\"} %.6f\n", rows[i].queue,
				x->calls.poll_us[rows[i].slot][rows[i].queue] / 1e6);
		}
	}
}

static void prom_errors(FILE *out, const struct qrow *rows, int nrows)
{
	head(out, "vringmed_errors_total", "counter",
	     "Verdicts that broke a device, by reason (the first one wins, later ones count).");
	for (int i = 0; i < nrows; i++)
		for (__u32 r = VRM_AVAIL_JUMP; r < VRM_VERDICT_NR; r++) {
			fprintf(out, "vringmed_errors_total{device=\"");
			esc(out, rows[i].dev);
			fprintf(out, "\",queue=\"%u\",reason=\"%s\"} %llu\n", rows[i].queue,
				vrm_verdict_name(r), (unsigned long long)rows[i].st.errors[r]);
		}
}

static void prom_batch(FILE *out, const struct qrow *rows, int nrows)
{
	head(out, "vringmed_kick_batch_chains", "histogram",
	     "Chains translated per kick (per translation round).");
	for (int i = 0; i < nrows; i++) {
		unsigned long long cum = 0;

		for (unsigned b = 0; b < VRM_BATCH_BUCKETS; b++) {
			__u32 le = vrm_view_batch_le(b);

			cum += rows[i].st.batch[b];
			fprintf(out, "vringmed_kick_batch_chains_bucket{device=\"");
			esc(out, rows[i].dev);
			if (le == UINT32_MAX)
				fprintf(out, "\",queue=\"%u\",le=\"+Inf\"} %llu\n", rows[i].queue, cum);
			else
				fprintf(out, "\",queue=\"%u\",le=\"%u\"} %llu\n", rows[i].queue, le, cum);
		}
		fprintf(out, "vringmed_kick_batch_chains_sum{device=\"");
		esc(out, rows[i].dev);
		fprintf(out, "\",queue=\"%u\"} %llu\n", rows[i].queue,
			(unsigned long long)rows[i].st.chains);
		fprintf(out, "vringmed_kick_batch_chains_count{device=\"");
		esc(out, rows[i].dev);
		fprintf(out, "\",queue=\"%u\"} %llu\n", rows[i].queue, cum);
	}
}

/* The exporter reports on its programs: attached, runs, run time. */
static void prom_programs(FILE *out, const struct vrm_view *v)
{
	head(out, "vringmed_program_attached", "gauge",
	     "1 when the BPF program is attached to its notification point.");
	for (int i = 0; i < v->nprogs; i++)
		fprintf(out, "vringmed_program_attached{program=\"%s\"} %d\n", v->progs[i].name,
			v->progs[i].attached);
	head(out, "vringmed_program_runs_total", "counter",
	     "Runs of the BPF program (kernel.bpf_stats_enabled=1; else 0).");
	for (int i = 0; i < v->nprogs; i++) {
		__u64 runs, ns;

		vrm_view_prog_stats(&v->progs[i], &runs, &ns);
		fprintf(out, "vringmed_program_runs_total{program=\"%s\"} %llu\n", v->progs[i].name,
			(unsigned long long)runs);
	}
	head(out, "vringmed_program_run_time_seconds_total", "counter",
	     "Time spent in the BPF program (kernel.bpf_stats_enabled=1; else 0).");
	for (int i = 0; i < v->nprogs; i++) {
		__u64 runs, ns;

		vrm_view_prog_stats(&v->progs[i], &runs, &ns);
		fprintf(out, "vringmed_program_run_time_seconds_total{program=\"%s\"} %.9f\n",
			v->progs[i].name, (double)ns / 1e9);
	}
}

const char *vrm_view_order_name(const struct vrm_device *d)
{
	if (!d->features && d->type != VRM_DEV_BLK)
		return "unknown";
	return d->order == VRM_ORDER_BE ? "big" : "little";
}

const char *vrm_view_virtio_name(const struct vrm_device *d)
{
	if (!d->features)
		return "unknown";
	return (d->features >> 32) & 1 ? "modern" : "legacy";
}

void vrm_view_prometheus(const struct vrm_view *v, const struct vrm_view_extra *x, bool up,
			 FILE *out)
{
	struct qrow *rows = calloc(VRM_MAX_QUEUES, sizeof(*rows));
	int nrows = rows ? collect(v, rows) : 0;

	prom_self(out, up);
	prom_device_info(out, v, x);
	if (x)
		prom_kick_path(out, v, x);
	prom_broken(out, v);
	prom_queue_counters(out, rows, nrows, x);
	prom_errors(out, rows, nrows);
	prom_batch(out, rows, nrows);
	prom_programs(out, v);
	free(rows);
}
