/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Inside one mediated device (proxy.h): its state, and what its rooms share.
 * The proxy is one object split by the peer each part talks to:
 *
 *   proxy.c          the session: listener, teardown, publish, tick
 *   proxy_vmm.c      the VMM face: the request table, its dispatcher, one
 *                    handler per request, the memory table
 *   proxy_backend.c  the back-end face: connect, send, stop and drain its
 *                    rings, replay to a back-end that came back
 *   proxy_queue.c    a queue's life: start, stop, the used path
 *   proxy_kick.c     how the guest's kicks reach the core (BPF or ours)
 *   proxy_poll.c     a busy queue polled: the used path and the kicks in
 *                    the device's thread, no wake-ups
 *   proxy_log.c      a migration's dirty log: the VMM's bitmap, to the
 *                    back-end and to the used path
 *
 * Every room runs on the proxy's one thread: nothing here is locked but
 * what vrm_proxy_info hands to other threads (pub).
 */
#ifndef VRINGMED_PROXY_INT_H
#define VRINGMED_PROXY_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <vringmed/abi.h>
#include <vringmed/vhost_user.h>

#include "clock.h"
#include "loader.h"
#include "proxy.h"
#include "upoll.h"
#include "uxlate.h"

#define BIT(n)		(1ull << (n))
#define VRP_NQ		VRM_PROXY_NQ
_Static_assert(VRP_NQ <= VRM_DEV_QUEUES, "a device's rings fit its queue slots");
/* Where the shadow region sits in the back-end's guest-physical space: far
 * above any guest RAM, checked against every region the VMM sends. */
#define VRP_SHADOW_GPA	(1ull << 48)

struct vrp_region {
	uint64_t gpa, size, uaddr, offset;
	void *map;
	size_t map_len;
	int fd;			/* ours (a dup): a back-end that comes back gets it */
};

/* A migration's dirty log (proxy_log.c): the VMM's bitmap, mapped. */
struct vrp_log {
	uint8_t *bits;			/* NULL: none */
	uint64_t size, offset;		/* the bitmap's bytes, and where in its file */
	void *map;
	size_t map_len;
	int fd;				/* ours (a dup): a back-end that comes back gets it */
	unsigned long marks, beyond;	/* pages marked; marks past its end, dropped */
	struct vrm_ux_dirty dirty;	/* what the used path calls */
};

struct vrp_queue {
	uint16_t num;
	uint16_t base;
	bool have_addr, enabled, started, endian_be, endian_set;
	bool resume;			/* picks up a dead daemon's ring state */
	uint64_t desc, avail, used;	/* VMM addresses */
	int kickfd;			/* the guest's kick eventfd (ours: a dup) */
	long kick_id;			/* its eventfd-id, registered with BPF */
	struct vrm_ev kick;		/* userspace path: kickfd in our loop */
	int be_kickfd;			/* userspace path: the back-end's kick fd */
	bool be_kick_sent;		/* the back-end has the kick fd of the path in use */
	/* BPF path: since when the guest's avail idx has been ahead of the
	 * translation with no progress (0: it is not). */
	uint64_t lag_since_ms;
	uint16_t lag_last_avail;
	int vmm_callfd;			/* the VMM's call eventfd */
	/* Event idx: the guest's used_event, behind the used idx since when
	 * (0: it is not behind; vrp_call_watch). */
	uint16_t used_event_seen;
	uint64_t used_event_since_ms;
	/* The tick's rescues of this ring (a call, or a translation no kick
	 * asked for), and those of the last VRP_RESCUE_WINDOW_MS. */
	unsigned long eidx_rescues;
	uint64_t rescue_window_ms;
	unsigned rescues_in_window;
	struct vrm_ev call;		/* ours, given to the back-end */
};

struct vrm_proxy {
	struct vrm_proxy_cfg cfg;
	struct vrm_bpf *b;
	int epfd;
	uint32_t slot;
	struct vrm_ev lsn, vmm, be;
	pid_t vmm_pid;
	struct vrm_scratch *scratch[VRP_NQ];

	uint64_t be_features, be_pf, offered, guest_features, vmm_pf;
	unsigned be_nq;		/* the back-end's GET_QUEUE_NUM; 1 without multiqueue */
	bool features_set, legacy, order_latched, owner_sent, be_proto, vmm_added;
	int order;
	enum vrm_kick_path kick_path;	/* how the guest's kicks reach the core */
	int told_order;			/* what the log said of the last start */
	uint64_t told_features;
	unsigned long starts;		/* device starts (first, after a stop) */
	char kick_why[160];		/* ... and why */
	struct vrp_region reg[VRM_MAX_REGIONS];
	int nreg;
	struct vrp_queue q[VRP_NQ];
	/* type=blk: the VMM's end of its back-end request channel, and ours
	 * with the back-end, on which it says its config changed
	 * (proxy_blk.c). */
	int vmm_req_fd;
	struct vrm_ev be_req;
	struct vrp_log log;

	const char *state;
	bool adopted;		/* the slot still holds a dead daemon's session */
	/* That session's rings ran and stay in the pinned queue state, so
	 * the VMM reconnecting after our crash may resume them where they
	 * are (vrp_can_resume); with its VMM, features and byte order. */
	bool rs_valid[VRP_NQ];
	uint32_t rs_tgid;
	uint64_t rs_features;
	int rs_order;
	/* The back-end went away while the VMM session goes on: every VMM
	 * request still changes our state, nothing goes to the back-end, and
	 * the tick connects again and replays the state (vrp_be_reconnect). */
	bool be_down, be_retrying;
	uint64_t be_acked;		/* the features the back-end was given */
	uint64_t be_down_since_ms, be_next_try_ms;
	/* vmm_client: when to try the VMM's socket next, and whether its
	 * absence was said since it was last there. */
	uint64_t vmm_next_try_ms;
	bool vmm_wait_said;
	unsigned long be_reconnects;
	unsigned be_rings;	/* rings the back-end may be using (bit per ring) */
	unsigned be_stopped;	/* rings it stopped before the VMM stopped ours */
	uint16_t be_stopped_at[VRP_NQ];
	time_t be_warned;
	unsigned long faults_told;	/* vrm_ux_fault.n of this thread, told */
	unsigned long unsealed_told;	/* the session whose unsealable memory was told */
	char last_error[160];
	unsigned long sessions, teardowns, deferred_done;
	unsigned long calls[VRP_NQ], calls_suppressed[VRP_NQ];
	/* Each queue's polling (proxy_poll.c): its state, and its counters
	 * since the daemon started. */
	struct vrm_ux_poll poll[VRP_NQ];
	/* The kick path each queue last ran on, kept when the session ends:
	 * its counters' mode. */
	enum vrm_kick_path queue_path[VRP_NQ];
	/* What vrm_proxy_info tells other threads: a copy made by the thread
	 * running the proxy (vrp_publish), so a reader never waits for a
	 * proxy stuck on its back-end and never sees a field half written. */
	pthread_mutex_t pub_lock;
	struct vrm_proxy_info pub;
};

const struct vrm_ux_dirty *vrp_log_dirty(struct vrm_proxy *p);

static inline struct vrm_device *vrp_dev(struct vrm_proxy *p)
{
	return &p->b->devices[p->slot];
}

static inline uint32_t vrp_qslot(struct vrm_proxy *p, unsigned i)
{
	return VRM_QSLOT(p->slot, i);
}

/* Queue i as the translation core sees it, with the daemon's counters. */
static inline struct vrm_ux_queue vrp_rq(struct vrm_proxy *p, unsigned i)
{
	uint32_t qs = vrp_qslot(p, i);

	return (struct vrm_ux_queue){ vrp_dev(p), &p->b->queues[qs], &p->b->shadow[qs],
				      p->scratch[i], &p->b->ustats[qs], vrp_log_dirty(p) };
}

/* Where this device's shadow map sits in its back-end's guest-physical
 * space: each device's at its own place in the range above the guest's. */
static inline uint64_t vrp_shadow_gpa(struct vrm_proxy *p)
{
	return VRP_SHADOW_GPA + (uint64_t)p->slot * VRM_SHADOW_DEV_BYTES;
}

/* What came of a VMM request: the dispatcher acts on it. */
enum vrp_result {
	VRP_OK,		/* done (REPLY_ACK, when asked for, says 0) */
	VRP_REPLIED,	/* done, and the request's own reply sent */
	VRP_REFUSED,	/* not done; with REPLY_ACK the VMM is told (1) and the
			 * session goes on, else it cannot be told: it ends */
	VRP_FATAL,	/* the session ends (REPLY_ACK, when asked for, says 1 first) */
	VRP_ENDED,	/* the handler ended the session itself */
};

/* One request on its way through the dispatcher to its handler. */
struct vrp_req {
	struct vu_msg *m;
	uint32_t idx;		/* rows that name a ring: a ring we have ... */
	struct vrp_queue *vq;	/* ... and its state */
	int fd;			/* VRP_FD_RING, VRP_FD_ONE rows: the handler's to keep or close;
				 * -1 when the VMM sent VU_VRING_NOFD */
	int err;		/* refused, fatal: why, -errno, for the log */
};

enum vrp_result vrp_refuse(struct vrp_req *req, int err);
enum vrp_result vrp_fatal(struct vrp_req *req, int err);
enum vrp_result vrp_sent(struct vrp_req *req, int err);
enum vrp_result vrp_replied(struct vrp_req *req, int err);
int vrp_reply(struct vrm_proxy *p, const struct vu_msg *m, struct vu_msg *rep);

static inline bool vrp_is_blk(const struct vrm_proxy *p)
{
	return p->cfg.type == VRM_DEV_BLK;
}

/* The rings the device has: as many queues as the back-end has
 * (GET_QUEUE_NUM: virtio-net's pairs, virtio-blk's request queues), one
 * without multiqueue, up to VRP_NQ rings. */
static inline unsigned vrp_nq(const struct vrm_proxy *p)
{
	unsigned n = p->be_nq ? p->be_nq : 1;

	if (vrp_is_blk(p))
		return n < VRP_NQ ? n : VRP_NQ;
	return 2 * (n < VRP_NQ / 2 ? n : VRP_NQ / 2);
}

/* Whether any of the device's rings runs. */
static inline bool vrp_any_started(const struct vrm_proxy *p)
{
	for (unsigned i = 0; i < VRP_NQ; i++)
		if (p->q[i].started)
			return true;
	return false;
}

/* What GET_QUEUE_NUM tells the VMM: queue pairs for net, queues for blk. */
static inline unsigned vrp_queue_num(const struct vrm_proxy *p)
{
	return vrp_is_blk(p) ? vrp_nq(p) : vrp_nq(p) / 2;
}

/* proxy.c: the session */
void vrp_err(struct vrm_proxy *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vrp_teardown(struct vrm_proxy *p, const char *why);
void vrp_unmap_regions(struct vrm_proxy *p);

/* proxy_vmm.c: the VMM face */
void vrp_on_vmm(struct vrm_ev *ev, uint32_t events);

/* proxy_backend.c: the back-end face.  The sends return 0, or -errno only
 * before the VMM set features (the session must end: vrp_be_send). */
int vrp_backend_connect(struct vrm_proxy *p);
int vrp_be_send(struct vrm_proxy *p, struct vu_msg *m);
int vrp_be_u64(struct vrm_proxy *p, uint32_t req, uint64_t v, int fd);
int vrp_be_state(struct vrm_proxy *p, uint32_t req, uint32_t idx, uint32_t num);
int vrp_be_mem_table(struct vrm_proxy *p, const struct vrp_region *reg, uint32_t n);
int vrp_be_ring_addr(struct vrm_proxy *p, unsigned i);
void vrp_be_drain(struct vrm_proxy *p, unsigned i);
bool vrp_be_stop_ring(struct vrm_proxy *p, unsigned i);
void vrp_keep(struct vrm_proxy *p, bool hold);
void vrp_be_stop_rings(struct vrm_proxy *p);
void vrp_be_reconnect(struct vrm_proxy *p);

/* proxy_queue.c: a queue's life */
void vrp_queue_quiesce(struct vrm_proxy *p, unsigned i);
void vrp_queue_stop(struct vrm_proxy *p, unsigned i);
void vrp_queue_clear(struct vrm_proxy *p, unsigned i);
int vrp_queue_try_start(struct vrm_proxy *p, unsigned i);
bool vrp_can_resume(struct vrm_proxy *p, unsigned i, uint16_t base);
bool vrp_same_ring(struct vrm_proxy *p, unsigned i);
bool vrp_guest_agrees(struct vrm_proxy *p, unsigned i);
void vrp_shadow_reset(struct vrm_proxy *p, unsigned i);
void vrp_complete(struct vrm_proxy *p, unsigned i);
void vrp_signal_vmm(struct vrp_queue *vq);
void vrp_on_call(struct vrm_ev *ev, uint32_t events);
const char *vrp_order_name(int order);

/* proxy_blk.c: what a virtio-blk device has of its own: its config space
 * in the device's byte order, the back-end's news that it changed. */
enum vrp_result vrp_get_config(struct vrm_proxy *p, struct vrp_req *req);
enum vrp_result vrp_set_config(struct vrm_proxy *p, struct vrp_req *req);
enum vrp_result vrp_set_backend_req_fd(struct vrm_proxy *p, struct vrp_req *req);
uint64_t vrp_blk_be_pf(struct vrm_proxy *p);
int vrp_blk_be_connected(struct vrm_proxy *p);
void vrp_blk_close(struct vrm_proxy *p);
void vrp_blk_queue_mode(struct vrm_proxy *p, struct vrm_queue *q);
int vrp_blk_order_check(struct vrm_proxy *p, unsigned i, int order);

/* proxy_poll.c: a busy queue polled */
void vrp_poll_on_call(struct vrm_proxy *p, unsigned i);
bool vrp_poll_turn(struct vrm_proxy *p, unsigned i);
void vrp_poll_end(struct vrm_proxy *p, unsigned i);
void vrp_poll_start(struct vrm_proxy *p, unsigned i);
void vrp_tell_guest(struct vrm_proxy *p, unsigned i, uint32_t returned);
void vrp_poll_tell(struct vrm_proxy *p, unsigned i, const struct vrm_ux_poll_turn *t);
void vrp_call_watch(struct vrm_proxy *p, unsigned i);

/* proxy_log.c: the dirty log (vrp_log_dirty above) */
enum vrp_result vrp_set_log_base(struct vrm_proxy *p, struct vrp_req *req);
enum vrp_result vrp_set_log_fd(struct vrm_proxy *p, struct vrp_req *req);
int vrp_log_replay(struct vrm_proxy *p);
void vrp_log_close(struct vrm_proxy *p);

/* proxy_kick.c: the kick paths */
int vrp_kick_attach(struct vrm_proxy *p, unsigned i);
void vrp_kick_decide(struct vrm_proxy *p);
int vrp_be_set_kick(struct vrm_proxy *p, unsigned i);
void vrp_kick_backend(struct vrm_proxy *p, unsigned i);
uint32_t vrp_user_kick(struct vrm_proxy *p, unsigned i);
void vrp_deferred(struct vrm_proxy *p);
void vrp_watch_kicks(struct vrm_proxy *p);

#endif
