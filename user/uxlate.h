/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The userspace translator: the translation core over memory this
 * process can address.  Used by the daemon (deferred kicks, completions),
 * the userspace relay of the perf comparison, and the tests.
 */
#ifndef VRINGMED_UXLATE_H
#define VRINGMED_UXLATE_H

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>

struct vrm_scratch;

/* One mediated queue.  The structs may live in BPF maps (mmapped) or in
 * plain memory; the core treats both alike. */
/* Dirty logging (a migration): `mark` is told of every range of guest
 * memory the used path wrote, by guest-physical address, after the write. */
struct vrm_ux_dirty {
	void (*mark)(void *ctx, __u64 gpa, __u64 len);
	void *ctx;
};

struct vrm_ux_queue {
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	struct vrm_scratch *scr;
	struct vrm_qstats *st;
	const struct vrm_ux_dirty *dirty;	/* NULL: not logging */
};

/* Sets the queue's configuration and clears its state: the device's ring
 * of `size` entries at the given VMM addresses.  Returns 0 or -EINVAL. */
int vrm_ux_queue_setup(struct vrm_queue *q, __u32 dev_slot, __u16 size,
		       __u64 desc_va, __u64 avail_va, __u64 used_va);

/* Clears the shadow ring of a queue (modern layout, flags owned by us). */
void vrm_ux_shadow_reset(struct vrm_shadow_queue *sh);

/* Kick direction: returns a verdict (enum vrm_verdict); *chains published. */
__u32 vrm_ux_kick(struct vrm_ux_queue *rq, __u32 *chains);
/* The same, taking at most `limit` chains (0: all); the rest stays for
 * the next call. */
__u32 vrm_ux_kick_some(struct vrm_ux_queue *rq, __u16 limit, __u32 *chains);

/* Completion direction: returns a verdict; *returned used entries. */
__u32 vrm_ux_complete(struct vrm_ux_queue *rq, __u32 *returned);
/* A stopping queue: the guest's used idx at last_used, a packet whose later
 * buffers did not come published as far as it came (vrm_used_flush). */
void vrm_ux_used_flush(struct vrm_ux_queue *rq);

/* After a completion that returned entries: true when the guest wants its
 * call (it has not set VRING_AVAIL_F_NO_INTERRUPT; vrm_guest_wants_call). */
bool vrm_ux_guest_wants_call(struct vrm_ux_queue *rq);

/* The guest's kicks on or off (VRING_USED_F_NO_NOTIFY in its used flags,
 * or avail_event with event idx: vrm_guest_kicks).  On: true when its avail
 * ring holds entries not yet translated, which the caller must translate
 * (no kick may come for them). */
bool vrm_ux_guest_kicks(struct vrm_ux_queue *rq, bool want);

/* Event idx toward the guest, its kicks on: avail_event moved to the
 * translation's position (a kick that translated since left it behind, and
 * the guest kicks only when it passes avail_event), with the re-check, and
 * what that finds translated here, until the two agree.  Nothing to do
 * without event idx or when they agree already.  Returns a verdict;
 * *chains translated, *found: re-checks that found entries the guest posted
 * without a kick. */
__u32 vrm_ux_guest_rearm(struct vrm_ux_queue *rq, __u32 *chains, __u32 *found);

/* Event idx toward the back-end, its calls on, after a completion: the
 * shadow used_event moved to the used path's position, with the re-check
 * (vrm_backend_calls_rearm).  True when the back-end used entries
 * meanwhile, which the caller returns (no call may come for them). */
bool vrm_ux_backend_calls_rearm(struct vrm_ux_queue *rq);

/* The back-end's calls on or off (VRING_AVAIL_F_NO_INTERRUPT in the shadow
 * avail flags, vrm_backend_calls), under the queue's busy lock.  On: true
 * when the back-end used entries not yet returned, which the caller must
 * return (no call may come for them).  *chains: what a kick that came
 * meanwhile left to this call, translated here. */
bool vrm_ux_backend_calls(struct vrm_ux_queue *rq, bool want, __u32 *chains);

/* After chains went into the shadow ring: true unless the back-end asked
 * for no kicks (VRING_USED_F_NO_NOTIFY, or its avail_event with event idx;
 * vrm_backend_wants_kick).  The daemon's thread only. */
bool vrm_ux_backend_wants_kick(struct vrm_ux_queue *rq);
/* The back-end asks for a kick for the next entry (vrm_backend_asleep): a
 * hint, with no effect on the kick decisions. */
bool vrm_ux_backend_asleep(struct vrm_ux_queue *rq);

/* The guest's used_event (event idx), in its byte order: 0, or -EFAULT. */
int vrm_ux_guest_used_event(struct vrm_ux_queue *rq, __u16 *event);

/* The guest's avail idx, in its byte order: 0, or -EFAULT when the ring
 * is not in memory the daemon maps. */
int vrm_ux_guest_avail(struct vrm_ux_queue *rq, __u16 *idx);

/* The guest's used idx as published, likewise. */
int vrm_ux_guest_used_idx(struct vrm_ux_queue *rq, __u16 *idx);

/* Guest memory that faults (a VMM shrank its memory file): the entry points
 * above that touch guest memory catch the SIGBUS once this handler is
 * installed (process-wide; 0 or -errno), mark that device broken
 * (VRM_RING_FAULT) and return; a SIGBUS anywhere else still kills.  What
 * this thread caught last, for the caller to tell. */
int vrm_ux_guard_install(void);
struct vrm_ux_fault {
	unsigned long n;		/* faults caught by this thread */
	void *addr;			/* the last one's address */
	const struct vrm_device *dev;	/* ... and device */
};
extern _Thread_local struct vrm_ux_fault vrm_ux_fault;

/* The daemon sets it: its kick rounds are journaled so that a daemon killed
 * half-way through one can be followed by another (vrm_ux_resume). */
extern bool vrm_ux_journal;

/* Makes a queue a dead daemon left whole again (vrm_queue_resume): called
 * with the queue disabled, before it runs again.  Returns a verdict. */
__u32 vrm_ux_resume(struct vrm_ux_queue *rq);

/*
 * Test builds: test_core compiles this translator itself with
 * -DVRM_CRASH_TEST, and only there do the hooks below exist.  The daemon,
 * the tools and libvringmed.a have none of them: no hook to call and no
 * counter to bump on their kick paths.
 */
#ifdef VRM_CRASH_TEST
/* Crash tests: called at every VRM_CRASH_POINT of the core; may longjmp. */
extern void (*vrm_crash_hook)(int point);

/* The guest reads (bulk copies of guest memory) this thread's kicks made,
 * and their bytes. */
struct vrm_ux_reads {
	unsigned long calls, bytes;
};
extern _Thread_local struct vrm_ux_reads vrm_ux_reads;
/* Chains this thread's kicks published on the chain fast path. */
extern _Thread_local unsigned long vrm_ux_fast_chains;

/* The core's queue unlock, for the lock tests. */
bool vrm_queue_unlock_for_test(struct vrm_queue *q);
#endif

/* Allocates / frees the per-queue scratch the core needs. */
struct vrm_scratch *vrm_ux_scratch_new(void);
void vrm_ux_scratch_free(struct vrm_scratch *scr);

const char *vrm_verdict_name(__u32 verdict);

#endif /* VRINGMED_UXLATE_H */
