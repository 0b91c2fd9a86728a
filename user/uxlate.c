// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The userspace environment of the translation core. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "uxlate.h"

#ifdef VRM_CRASH_TEST
void (*vrm_crash_hook)(int point);
#undef VRM_CRASH_POINT
#define VRM_CRASH_POINT(n)					\
	do {							\
		vrm_compiler_barrier();				\
		if (vrm_crash_hook)				\
			vrm_crash_hook(n);			\
	} while (0)

/* What the tests count: the guest reads of this thread's kicks, and the
 * chains that took the fast path. */
_Thread_local struct vrm_ux_reads vrm_ux_reads;
_Thread_local unsigned long vrm_ux_fast_chains;
#define VRM_UX_COUNT_READ(len)	(vrm_ux_reads.calls++, vrm_ux_reads.bytes += (len))

static inline __u32 vrm_ux_count_fast_chains(__u32 chains)
{
	vrm_ux_fast_chains += chains;
	return chains;
}
#define VRM_FAST_CHAIN_LE(dev, q, sh, scr, f)					\
	vrm_ux_count_fast_chains(vrm_fast_chain(dev, q, sh, scr, f, VRM_ORDER_LE))
#define VRM_FAST_CHAIN_BE(dev, q, sh, scr, f)					\
	vrm_ux_count_fast_chains(vrm_fast_chain(dev, q, sh, scr, f, VRM_ORDER_BE))
#else
#define VRM_UX_COUNT_READ(len)	((void)0)
#endif

#define VRM_FAULT_VERDICT VRM_RING_FAULT
/* vrm_ux_kick_some: the chains this thread's kick takes at most (0: all). */
static _Thread_local __u16 vrm_kick_limit;
#define VRM_KICK_LIMIT vrm_kick_limit
#define vrm_loop(nr, cb, ctx)						\
	do {								\
		for (__u64 vrm_i_ = 0; vrm_i_ < (nr); vrm_i_++)		\
			if ((cb)(vrm_i_, (ctx)))				\
				break;					\
	} while (0)

bool vrm_ux_journal;

/* The daemon's kick rounds, journaled (vrm_ux_journal): desc_state as it
 * was, then the round, so that a daemon killed half-way through one leaves
 * no mark of a chain it never published (vrm_queue_resume).  A copy of at
 * most 4 KiB per round, on the daemon's rare kicks only: BPF does the rest. */
struct vrm_device;
struct vrm_queue;
struct vrm_shadow_queue;
struct vrm_scratch;
struct vrm_qstats;
static __u32 vrm_translate_journaled(struct vrm_device *dev, struct vrm_queue *q,
				    struct vrm_shadow_queue *sh, struct vrm_scratch *scr,
				    struct vrm_qstats *st, __u32 *chains);
#define VRM_TRANSLATE_ROUND vrm_translate_journaled

#include <vringmed/xlate.h>
#include <vringmed/xlate_used.h>

static __u32 vrm_translate_journaled(struct vrm_device *dev, struct vrm_queue *q,
				    struct vrm_shadow_queue *sh, struct vrm_scratch *scr,
				    struct vrm_qstats *st, __u32 *chains)
{
	__u32 v;

	if (!vrm_ux_journal)
		return vrm_translate(dev, q, sh, scr, st, chains);
	memcpy(q->kj_state, q->desc_state,
	       sizeof(q->desc_state[0]) * (q->size <= VRM_MAX_RING ? q->size : VRM_MAX_RING));
	q->kj_avail = q->last_avail;
	VRM_CRASH_POINT(12);
	q->kj_valid = 1;
	v = vrm_translate(dev, q, sh, scr, st, chains);
	VRM_CRASH_POINT(13);
	q->kj_valid = 0;
	return v;
}

/* The region holding [vmm_va, vmm_va + len), by VMM address. */
static const struct vrm_region *vrm_region_of(const struct vrm_device *dev, __u64 vmm_va,
					    __u64 len)
{
	for (__u32 i = 0; i < dev->nregions && i < VRM_MAX_REGIONS; i++) {
		const struct vrm_region *r = &dev->regions[i];

		if (vmm_va >= r->vmm_va && vmm_va - r->vmm_va <= r->size &&
		    len <= r->size - (vmm_va - r->vmm_va) && r->mediator_va)
			return r;
	}
	return NULL;
}

static void *vrm_env_ptr(const struct vrm_device *dev, __u64 vmm_va, __u64 len)
{
	const struct vrm_region *r = vrm_region_of(dev, vmm_va, len);

	return r ? (void *)(unsigned long)(r->mediator_va + (vmm_va - r->vmm_va)) : NULL;
}

/* The dirty log of the entry point running on this thread (NULL: none). */
static _Thread_local const struct vrm_ux_dirty *vrm_dirty;

/* Guest memory only: a pointer outside every region (the shadow region, a
 * header slot) is the mediator's own memory and never marked. */
static void vrm_env_wrote(const struct vrm_device *dev, const void *at, __u64 len)
{
	const struct vrm_ux_dirty *d = vrm_dirty;
	uintptr_t a = (uintptr_t)at;

	if (!d)
		return;
	for (__u32 i = 0; i < dev->nregions && i < VRM_MAX_REGIONS; i++) {
		const struct vrm_region *r = &dev->regions[i];

		if (r->mediator_va && a - (uintptr_t)r->mediator_va < r->size) {
			d->mark(d->ctx, r->gpa + (a - (uintptr_t)r->mediator_va), len);
			return;
		}
	}
}

static long vrm_env_read(const struct vrm_device *dev, void *dst, __u32 len, __u64 vmm_va)
{
	const void *src = vrm_env_ptr(dev, vmm_va, len);

	VRM_UX_COUNT_READ(len);
	if (!src) {
		/* As bpf_probe_read_user leaves it: the copy may be the
		 * header slot itself, which BPF and this agree on. */
		memset(dst, 0, len);
		return -EFAULT;
	}
	memcpy(dst, src, len);
	return 0;
}

static void vrm_env_publish_idx(struct vrm_shadow_queue *sh, __u16 idx)
{
	/* Release: the descriptors and avail slots are visible first. */
	__atomic_store_n(&sh->avail.idx, vrm_swab16_if(VRM_ORDER_LE, idx), __ATOMIC_RELEASE);
}

int vrm_ux_queue_setup(struct vrm_queue *q, __u32 dev_slot, __u16 size,
		       __u64 desc_va, __u64 avail_va, __u64 used_va)
{
	if (!vrm_ring_size_ok(size, VRM_MAX_RING))
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->dev = dev_slot;
	q->size = size;
	q->max_chain = size;
	q->desc_va = desc_va;
	q->avail_va = avail_va;
	q->used_va = used_va;
	return 0;
}

void vrm_ux_shadow_reset(struct vrm_shadow_queue *sh)
{
	memset(sh, 0, sizeof(*sh));
}

/*
 * Guest memory that faults.  The mediator maps the VMM's memory files, and
 * a VMM may shrink one under it (ftruncate): the next access past the new
 * end raises SIGBUS, whose default action ends the process that serves
 * every device.  Each entry point below that touches guest memory runs
 * under a guard: a SIGBUS at an address of the guard's device's guest
 * memory jumps back to the entry point, which marks that device broken
 * (VRM_RING_FAULT) and returns; any other SIGBUS is ours and kills as it
 * would have.  The core holds no lock a jump could leave behind but the
 * queue's busy flag, which the kick entry point drops; the core may have
 * left a half-done round in the queue's state, which the broken flag fences
 * off until the VMM resets the device.
 */
static _Thread_local sigjmp_buf *vrm_guard_jmp;
static _Thread_local const struct vrm_device *vrm_guard_dev;
_Thread_local struct vrm_ux_fault vrm_ux_fault;

static bool vrm_guard_in_guest(const struct vrm_device *dev, uintptr_t a)
{
	for (__u32 i = 0; dev && i < dev->nregions && i < VRM_MAX_REGIONS; i++) {
		const struct vrm_region *r = &dev->regions[i];

		if (r->mediator_va && a - (uintptr_t)r->mediator_va < r->size)
			return true;
	}
	return false;
}

static void vrm_guard_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = vrm_guard_jmp;

	(void)sig;
	(void)uc;
	if (jb && vrm_guard_in_guest(vrm_guard_dev, (uintptr_t)si->si_addr)) {
		vrm_guard_jmp = NULL;
		vrm_ux_fault.n++;
		vrm_ux_fault.addr = si->si_addr;
		vrm_ux_fault.dev = vrm_guard_dev;
		siglongjmp(*jb, 1);
	}
	/* Not the guest's: the faulting access runs again and kills. */
	signal(SIGBUS, SIG_DFL);
}

int vrm_ux_guard_install(void)
{
	/* SA_NODEFER: the jump leaves the handler for good, and SIGBUS must
	 * not stay blocked in this thread (sigsetjmp(.., 0) keeps no mask). */
	struct sigaction sa = { .sa_sigaction = vrm_guard_sigbus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? -errno : 0;
}

static inline void vrm_guard_enter(sigjmp_buf *jb, const struct vrm_device *dev)
{
	vrm_guard_dev = dev;
	/* The handler must see both before the first guest access. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vrm_guard_jmp = jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void vrm_guard_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vrm_guard_jmp = NULL;
}

/* After a guarded access faulted: the device is broken, and the kick's
 * busy flag (held: a kick faults only inside its translation) dropped. */
static __u32 vrm_guard_faulted(struct vrm_ux_queue *rq, bool held_busy)
{
	vrm_mark_broken(rq->dev, rq->st, VRM_RING_FAULT);
	if (held_busy)
		__sync_lock_test_and_set(&rq->q->busy, 0);
	return VRM_RING_FAULT;
}

/* The guard stands written out in each guarded entry point (this one,
 * vrm_ux_complete): sigsetjmp must run in the frame that stays live while
 * the guarded core runs, so it cannot move into a helper that returns. */
__u32 vrm_ux_kick(struct vrm_ux_queue *rq, __u32 *chains)
{
	sigjmp_buf jb;
	__u32 v;

	if (sigsetjmp(jb, 0)) {
		*chains = 0;
		return vrm_guard_faulted(rq, true);
	}
	vrm_guard_enter(&jb, rq->dev);
	v = vrm_kick(rq->dev, rq->q, rq->sh, rq->scr, rq->st, chains);
	vrm_guard_leave();
	if (v == VRM_DEFER)
		vrm_queue_defer(rq->q);	/* the daemon is the caller: its scan sees it */
	return v;
}

__u32 vrm_ux_kick_some(struct vrm_ux_queue *rq, __u16 limit, __u32 *chains)
{
	__u32 v;

	vrm_kick_limit = limit;
	v = vrm_ux_kick(rq, chains);
	vrm_kick_limit = 0;
	return v;
}

/* vrm_used_flush, guarded: a stopping queue's used idx at last_used. */
void vrm_ux_used_flush(struct vrm_ux_queue *rq)
{
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		vrm_dirty = NULL;
		vrm_guard_faulted(rq, false);
		return;
	}
	vrm_guard_enter(&jb, rq->dev);
	vrm_dirty = rq->dirty;
	vrm_used_flush(rq->dev, rq->q);
	vrm_dirty = NULL;
	vrm_guard_leave();
}

/* Guarded as vrm_ux_kick is, written out for the same reason. */
__u32 vrm_ux_complete(struct vrm_ux_queue *rq, __u32 *returned)
{
	sigjmp_buf jb;
	__u32 v;

	if (sigsetjmp(jb, 0)) {
		*returned = 0;
		vrm_dirty = NULL;
		return vrm_guard_faulted(rq, false);
	}
	vrm_guard_enter(&jb, rq->dev);
	vrm_dirty = rq->dirty;
	v = vrm_complete(rq->dev, rq->q, rq->sh, rq->st, returned);
	vrm_dirty = NULL;
	vrm_guard_leave();
	return v;
}

/* A u16 of the guest's rings at VMM address `va`, guarded, in host order. */
static int vrm_ux_ring_u16(struct vrm_ux_queue *rq, __u64 va, __u16 *out)
{
	const __u16 *g = vrm_env_ptr(rq->dev, va, sizeof(*g));
	sigjmp_buf jb;
	__u16 v;

	if (!g)
		return -EFAULT;
	if (sigsetjmp(jb, 0)) {
		vrm_guard_faulted(rq, false);
		return -EFAULT;
	}
	vrm_guard_enter(&jb, rq->dev);
	v = __atomic_load_n(g, __ATOMIC_ACQUIRE);
	vrm_guard_leave();
	*out = vrm_swab16_if((enum vrm_order)rq->dev->order, v);
	return 0;
}

int vrm_ux_guest_avail(struct vrm_ux_queue *rq, __u16 *idx)
{
	return vrm_ux_ring_u16(rq, rq->q->avail_va + VRM_AVAIL_IDX_OFF, idx);
}

int vrm_ux_guest_used_idx(struct vrm_ux_queue *rq, __u16 *idx)
{
	return vrm_ux_ring_u16(rq, rq->q->used_va + VRM_USED_IDX_OFF, idx);
}

int vrm_ux_guest_used_event(struct vrm_ux_queue *rq, __u16 *event)
{
	return vrm_ux_ring_u16(rq, rq->q->avail_va + vrm_used_event_off(rq->q->size), event);
}

bool vrm_ux_guest_wants_call(struct vrm_ux_queue *rq)
{
	sigjmp_buf jb;
	bool want;

	if (sigsetjmp(jb, 0)) {
		vrm_guard_faulted(rq, false);
		return false;
	}
	vrm_guard_enter(&jb, rq->dev);
	want = vrm_guest_wants_call(rq->dev, rq->q);
	vrm_guard_leave();
	return want;
}

static inline void vrm_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	vrm_compiler_barrier();
#endif
}

/* The busy lock, taken without raising kick_pending (a kick holds it for
 * microseconds, and one told to redo too often defers). */
static void vrm_busy_lock(struct vrm_queue *q)
{
	while (__sync_val_compare_and_swap(&q->busy, 0, 1) != 0)
		vrm_cpu_relax();
}

/* With event idx under the busy lock: avail_event then names a position no
 * kick has moved past.  A kick that found the lock held left its work to
 * us: it counts as entries waiting. */
bool vrm_ux_guest_kicks(struct vrm_ux_queue *rq, bool want)
{
	bool lock = vrm_guest_event_idx(rq->dev), pending;
	sigjmp_buf jb;

	if (sigsetjmp(jb, 0)) {
		vrm_dirty = NULL;
		vrm_guard_faulted(rq, lock);
		return false;
	}
	if (lock)
		vrm_busy_lock(rq->q);
	vrm_guard_enter(&jb, rq->dev);
	vrm_dirty = rq->dirty;
	pending = vrm_guest_kicks(rq->dev, rq->q, want);
	vrm_dirty = NULL;
	vrm_guard_leave();
	if (lock) {
		__sync_lock_test_and_set(&rq->q->busy, 0);
		pending |= want && VRM_READ_ONCE(rq->q->kick_pending);
	}
	return pending;
}

/* vrm_guest_kicks_armed, guarded: it reads the guest's avail_event. */
static bool vrm_ux_guest_armed(struct vrm_ux_queue *rq)
{
	sigjmp_buf jb;
	bool armed;

	if (!vrm_guest_event_idx(rq->dev))
		return true;
	if (sigsetjmp(jb, 0)) {
		vrm_guard_faulted(rq, false);
		return true;
	}
	vrm_guard_enter(&jb, rq->dev);
	armed = vrm_guest_kicks_armed(rq->dev, rq->q);
	vrm_guard_leave();
	return armed;
}

__u32 vrm_ux_guest_rearm(struct vrm_ux_queue *rq, __u32 *chains, __u32 *found)
{
	__u32 v = VRM_OK, c;

	*chains = *found = 0;
	for (unsigned r = 0; r < VRM_MAX_RING && !vrm_ux_guest_armed(rq); r++) {
		if (rq->dev->broken || !(VRM_READ_ONCE(rq->q->flags) & VRM_QF_ENABLED) ||
		    !vrm_ux_guest_kicks(rq, true))
			break;
		*found += 1;
		v = vrm_ux_kick(rq, &c);
		*chains += c;
		if (v != VRM_OK)
			break;
	}
	return v;
}

bool vrm_ux_backend_calls(struct vrm_ux_queue *rq, bool want, __u32 *chains)
{
	struct vrm_queue *q = rq->q;
	bool pending;

	*chains = 0;
	vrm_busy_lock(q);
	pending = vrm_backend_calls(q, rq->sh, want);
	__sync_lock_test_and_set(&q->busy, 0);
	/* A kick that found the lock held left its work to the holder. */
	if (VRM_READ_ONCE(q->kick_pending))
		vrm_ux_kick(rq, chains);
	return pending;
}

bool vrm_ux_backend_calls_rearm(struct vrm_ux_queue *rq)
{
	return vrm_backend_calls_rearm(rq->q, rq->sh);
}

bool vrm_ux_backend_wants_kick(struct vrm_ux_queue *rq)
{
	return vrm_backend_wants_kick(rq->q, rq->sh);
}

bool vrm_ux_backend_asleep(struct vrm_ux_queue *rq)
{
	return vrm_backend_asleep(rq->q, rq->sh);
}

__u32 vrm_ux_resume(struct vrm_ux_queue *rq)
{
	sigjmp_buf jb;
	__u32 v;

	if (sigsetjmp(jb, 0))
		return vrm_guard_faulted(rq, false);
	vrm_guard_enter(&jb, rq->dev);
	v = vrm_queue_resume(rq->dev, rq->q, rq->sh);
	vrm_guard_leave();
	return v;
}

struct vrm_scratch *vrm_ux_scratch_new(void)
{
	return calloc(1, sizeof(struct vrm_scratch));
}

void vrm_ux_scratch_free(struct vrm_scratch *scr)
{
	free(scr);
}

const char *vrm_verdict_name(__u32 verdict)
{
	static const char *const names[] = {
#define VRM_X_NAME(name, str) str,
		VRM_VERDICTS(VRM_X_NAME)
#undef VRM_X_NAME
	};

	return verdict < VRM_VERDICT_NR ? names[verdict] : "unknown";
}

#ifdef VRM_CRASH_TEST
bool vrm_queue_unlock_for_test(struct vrm_queue *q)
{
	return vrm_queue_unlock(q);
}
#endif
