/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A read-only view of vringmed's state, the same whether it comes from the
 * daemon's loaded object or from the maps pinned under a pin root (so
 * vringmedctl works while the daemon is down): devices, per-queue counters
 * (BPF's per-CPU ones summed, plus the daemon's), and the programs.  The
 * Prometheus exporter and vringmedctl both read through it.
 */
#ifndef VRINGMED_VIEW_H
#define VRINGMED_VIEW_H

#include <stdbool.h>
#include <stdio.h>
#include <vringmed/abi.h>

struct vrm_bpf;

#define VRM_VIEW_MAX_PROGS 8

struct vrm_view_prog {
	char name[32];
	int fd;			/* -1: not loaded */
	bool attached;
};

struct vrm_view {
	int devices_fd, stats_fd, ustats_fd;
	bool own;		/* fds and mappings are ours to close */
	int nlink_progs;	/* borrowed view: progs[0, n) are fds we opened */
	const struct vrm_device *devices;
	const struct vrm_qstats *ustats;
	int ncpu;
	struct vrm_view_prog progs[VRM_VIEW_MAX_PROGS];
	int nprogs;
};

/* From the maps pinned under `root`: 0, or -errno (-ENOENT: nothing pinned). */
int vrm_view_open(struct vrm_view *v, const char *root);
/* Borrowed from a loaded object (the daemon). */
void vrm_view_from_bpf(struct vrm_view *v, struct vrm_bpf *b);
void vrm_view_close(struct vrm_view *v);

/* Counters of queue slot q: 0 or -errno. */
int vrm_view_stats(const struct vrm_view *v, __u32 q, struct vrm_qstats *sum);
/* The name of device slot `slot` ("dev<slot>" when it has none); false when
 * the slot is not in use (no name, not active). */
bool vrm_view_device_name(const struct vrm_view *v, __u32 slot, char *buf, size_t len);
/* run count and run time of a program (0 when stats are off). */
int vrm_view_prog_stats(const struct vrm_view_prog *p, __u64 *runs, __u64 *ns);

/* The used path's calls to the guest, per device slot and queue, since the
 * daemon started (known[slot]: the slot's figures are there). */
struct vrm_view_calls {
	bool known[VRM_MAX_DEVICES];
	unsigned long calls[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	unsigned long suppressed[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	/* Its polling (upoll.h): periods, chains translated while polling,
	 * kicks for a batch's first part, microseconds polled. */
	unsigned long poll_periods[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	unsigned long poll_chains[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	unsigned long poll_first_kicks[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	unsigned long poll_us[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	/* What event idx saved: the guest's kicks and calls, the back-end's
	 * kicks. */
	unsigned long eidx_kicks[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	unsigned long eidx_calls[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	unsigned long eidx_be_kicks[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
	/* The tick's rescues of an event-idx guest that lost a race. */
	unsigned long eidx_rescues[VRM_MAX_DEVICES][VRM_DEV_QUEUES];
};

/* Labels and counters the daemon knows and the maps do not. */
struct vrm_view_extra {
	const char *backend[VRM_MAX_DEVICES];	/* back-end socket, or NULL */
	const char *state[VRM_MAX_DEVICES];	/* session state, or NULL */
	const char *kick_path[VRM_MAX_DEVICES];	/* "bpf", "userspace", or NULL */
	struct vrm_view_calls calls;
};

/* Prometheus text exposition format 0.0.4 of everything in the view; `up`:
 * whether vringmedd runs (vringmed_up). */
void vrm_view_prometheus(const struct vrm_view *v, const struct vrm_view_extra *x, bool up,
			 FILE *out);
/* A device's byte order and virtio version as the maps say them, "unknown"
 * before its guest negotiated (a blk device's order is configured). */
const char *vrm_view_order_name(const struct vrm_device *d);
const char *vrm_view_virtio_name(const struct vrm_device *d);

/* Batch-size buckets of vrm_qstats.batch: the upper bound of bucket i
 * (chains per kick), UINT32_MAX for the last. */
__u32 vrm_view_batch_le(unsigned i);

#endif
