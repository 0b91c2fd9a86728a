/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One mediated virtio-net device in vringmedd: a vhost-user back-end towards
 * the VMM (legacy and cross-endian welcome) and a vhost-user front-end
 * towards a modern-only back-end (always VERSION_1, little-endian rings).
 *
 *   VMM --vmm socket--> [proxy] --backend socket--> modern back-end
 *
 * The VMM's guest memory regions go to the back-end unchanged, plus one more
 * region: the shadow map (BPF_F_MMAPABLE), whose rings the back-end is told
 * to use.  The guest's kick eventfd goes to the back-end unchanged too, and is
 * registered with the BPF kick path, so the shadow ring is filled before the
 * back-end wakes.  The back-end's call eventfd is ours: on a call the proxy
 * moves used entries (and RX headers) back to the guest and signals the VMM.
 *
 * Event-driven: every fd is an epoll entry of the loop given to
 * vrm_proxy_new, whose data points at a struct vrm_ev.  One thread runs a
 * proxy's loop (vringmedd: a thread per device); vrm_proxy_info and
 * vrm_proxy_name may be called from others.
 */
#ifndef VRINGMED_PROXY_H
#define VRINGMED_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vrm_bpf;

/* An epoll entry: the loop calls fn(ev, events). */
struct vrm_ev {
	int fd;
	void (*fn)(struct vrm_ev *ev, uint32_t events);
	void *ctx;
	int arg;
};

int vrm_ev_add(int epfd, struct vrm_ev *ev, uint32_t events);
void vrm_ev_del(int epfd, struct vrm_ev *ev);

/* The events of one epoll_wait(), each to its handler; an event whose
 * registration a handler before it in the same batch ended (its fd is -1
 * then: a VMM's hang-up tears the session down, a queue's call fd with an
 * event waiting behind it is closed and its vrm_ev cleared) is dropped. */
struct epoll_event;
void vrm_ev_dispatch(const struct epoll_event *evs, int n);

/*
 * How a device's guest kicks reach the translation core.  BPF: a program at
 * a notification point that sees the VMM's kicks (the write() tracepoint for
 * a VMM that writes its kick eventfds; fentry on eventfd_signal_mask where
 * the host allows trampolines, which also sees the signals KVM makes in the
 * kernel).  Userspace: the daemon's device thread wakes on the guest's kick
 * eventfd, translates with the same core and kicks the back-end through an
 * eventfd of its own; the only way for kicks no attached hook sees.
 */
enum vrm_kick_path {
	VRM_KICK_AUTO = 0,	/* configuration only: BPF where a hook sees the kicks */
	VRM_KICK_BPF,
	VRM_KICK_USERSPACE,
};
const char *vrm_kick_path_name(enum vrm_kick_path k);
/* "auto", "bpf" or "userspace" (kick=, --kick-path): 0 or -EINVAL. */
int vrm_kick_path_parse(const char *name, enum vrm_kick_path *out);

struct vrm_proxy_cfg {
	char name[32];		/* VRM_DEV_NAME_LEN: kept in the device map */
	char vmm_path[108];	/* we listen here, or connect (vmm_client) (sun_path size) */
	char backend_path[108];	/* we connect here when a VMM arrives */
	enum vrm_kick_path kick;	/* kick=auto|bpf|userspace */
	bool kick_set;		/* ... was given (else the daemon's default) */
	/* type=net|blk (enum vrm_dev_type, default net).  A block device's
	 * config space is fetched by the VMM before its guest says a byte
	 * order, so order=be|le (enum vrm_order) is the device's, given here,
	 * and its rings must agree with it when they start. */
	uint8_t type;
	uint8_t order;
	/* poll=US: the longest idle spell the device thread polls a busy
	 * queue through (upoll.h), 0: never; poll_set: given (else the
	 * daemon's default, VRM_PROXY_POLL_US). */
	unsigned poll_us;
	bool poll_set;
	/* event_idx=on: VIRTIO_RING_F_EVENT_IDX offered to the guest and taken
	 * from a back-end that offers it, each side mediated on its own
	 * (docs/design.md, Notifications); off withholds it from both.  On by
	 * default for net devices; off for blk, where no guest has run it. */
	bool event_idx;
	/* vmm_client=on: the VMM listens at vmm_path (QEMU's chardev with
	 * server=on) and we connect, and again whenever it is not there or
	 * goes away; off (the default): we listen there. */
	bool vmm_client;
};
#define VRM_PROXY_POLL_US	50
#define VRM_PROXY_POLL_US_MAX	1000

/* Parses "NAME,vmm=PATH,backend=PATH[,kick=auto|bpf|userspace][,poll=US|off]
 * [,event_idx=on|off][,type=net|blk][,order=be|le]" (order=, and only it, with type=blk); 0 or
 * -EINVAL with *why set. */
int vrm_proxy_parse(const char *spec, struct vrm_proxy_cfg *cfg, const char **why);
/* Why devices a and b cannot both run (one socket for two things: the
 * second listener would take the first's socket over, or the daemon would
 * connect to itself), or NULL. */
const char *vrm_proxy_paths_clash(const struct vrm_proxy_cfg *a, const struct vrm_proxy_cfg *b);

struct vrm_proxy;

/* Rings a device has at most: virtio-net's two pairs of receive and
 * transmit queues, virtio-blk's four request queues (VRM_DEV_QUEUES). */
#define VRM_PROXY_NQ	4

/* The device slot for `name`: the one a previous daemon used for it (its
 * state and counters are adopted), else a slot nobody named, else one whose
 * owner is gone (taken[] marks the slots of running proxies); -ENOSPC. */
int vrm_proxy_pick_slot(const struct vrm_bpf *b, const char *name, const bool *taken);
/* Why vrm_proxy_new could not listen on the VMM's socket (its errno). */
const char *vrm_proxy_listen_why(int err);
/* A deleted device's slot, no longer listed (vringmedctl, the metrics):
 * its session ended and its kick fds are gone, so no program reads it. */
void vrm_proxy_forget_slot(struct vrm_bpf *b, uint32_t slot);

/* Device slot `slot` of the maps, queues from slot * VRM_DEV_QUEUES.
 * Listens on cfg->vmm_path (replacing a stale socket file).  NULL with
 * errno set on failure (logged). */
struct vrm_proxy *vrm_proxy_new(struct vrm_bpf *b, int epfd, uint32_t slot,
			      const struct vrm_proxy_cfg *cfg);
/* Tears down the session, stops listening, removes the socket file. */
void vrm_proxy_free(struct vrm_proxy *p);
/* After every turn of the proxy's loop (and at least every 200 ms): the
 * kicks BPF deferred to userspace (translated, then the back-end woken),
 * used entries a missed call left behind, and what vrm_proxy_info tells. */
void vrm_proxy_tick(struct vrm_proxy *p);
/* Whether a queue of the proxy is being polled (its guest's kicks and its
 * back-end's calls off): then the loop does not sleep, but calls
 * vrm_proxy_poll after every turn, which returns whether it found work. */
bool vrm_proxy_polling(const struct vrm_proxy *p);
bool vrm_proxy_poll(struct vrm_proxy *p);
/* Whether a watch of the proxy's ticks waits to see a guest past its
 * avail_event or behind its used_event for long enough (event idx): then
 * the loop ticks sooner than every 200 ms, so a rescue comes on time. */
bool vrm_proxy_watching(const struct vrm_proxy *p);
/* A VMM is attached, or the session was adopted and waits for its VMM: any
 * state but listening.  From the proxy's own thread. */
bool vrm_proxy_attached(const struct vrm_proxy *p);

struct vrm_proxy_info {
	const char *name, *vmm_path, *backend_path;
	/* "adopted" (a previous daemon's session, until its VMM reconnects),
	 * "listening" (or "connecting": vmm_client), "negotiating", "running", "stopped" (the VMM stopped
	 * every ring: a pause, a driver reset), "broken" */
	const char *state;
	enum vrm_kick_path kick_path;	/* the one in use (auto until a ring runs) */
	unsigned long starts;		/* times the rings started: pauses, resets */
	char kick_why[160];
	uint32_t slot;
	uint8_t type;		/* enum vrm_dev_type */
	unsigned nqueues;	/* the rings it has: as many queues as its back-end */
	pid_t vmm_pid;
	bool vmm_client;	/* we connect to the VMM's socket */
	bool legacy;
	bool negotiated;		/* a guest ever set its features (the map holds them) */
	int order;		/* enum vrm_order */
	uint64_t guest_features, backend_features;
	/* The VMM's memory table: regions, and bytes in all (a memory
	 * hot-plug sends it again). */
	uint32_t mem_regions;
	uint64_t mem_bytes;
	unsigned long sessions, teardowns;
	unsigned long deferred_done;	/* deferred kicks it completed */
	/* Per queue, since the daemon started: used-path rounds that returned
	 * entries and told the guest (its call eventfd written), and those
	 * that did not, for it had asked not to be told (it polls:
	 * VRING_AVAIL_F_NO_INTERRUPT). */
	unsigned long calls[VRM_PROXY_NQ], calls_suppressed[VRM_PROXY_NQ];
	/* Polling (upoll.h), per queue since the daemon started: periods
	 * polled, chains translated while polling (kicks the guest did not
	 * make), kicks a sleeping back-end got for the first part of a batch,
	 * and the time; poll_us as configured (0: off). */
	unsigned poll_us;
	enum vrm_kick_path queue_path[VRM_PROXY_NQ];	/* each queue's last, auto: never ran */
	unsigned long poll_periods[VRM_PROXY_NQ], poll_chains[VRM_PROXY_NQ];
	unsigned long poll_first_kicks[VRM_PROXY_NQ];
	uint64_t poll_ns[VRM_PROXY_NQ];
	/* Event idx, per queue since the daemon started: the guest's posts
	 * the daemon found with no kick made, the guest's calls its
	 * used_event said were not wanted, the back-end's kicks its
	 * avail_event said were not wanted (upoll.h). */
	unsigned long eidx_kicks_saved[VRM_PROXY_NQ], eidx_calls_saved[VRM_PROXY_NQ];
	unsigned long eidx_be_kicks_saved[VRM_PROXY_NQ];
	/* ... and the tick's rescues of a guest that lost an event-idx race
	 * (vrp_call_watch, vrp_watch_kicks). */
	unsigned long eidx_rescues[VRM_PROXY_NQ];
	char last_error[160];
};
/* As of the proxy's last vrm_proxy_tick (or its creation): safe to call from
 * any thread while another runs the proxy; never waits for its back-end. */
void vrm_proxy_info(struct vrm_proxy *p, struct vrm_proxy_info *out);
const char *vrm_proxy_name(const struct vrm_proxy *p);

#endif
