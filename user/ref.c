// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The userspace environment of the translation core. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"

#ifdef VM_CRASH_TEST
void (*vm_crash_hook)(int point);
#undef VM_CRASH_POINT
#define VM_CRASH_POINT(n)					\
	do {							\
		vm_compiler_barrier();				\
		if (vm_crash_hook)				\
			vm_crash_hook(n);			\
	} while (0)
#endif

#define VM_FAULT_VERDICT VM_RING_FAULT
#define vm_loop(nr, cb, ctx)						\
	do {								\
		for (__u64 vm_i_ = 0; vm_i_ < (nr); vm_i_++)		\
			if ((cb)(vm_i_, (ctx)))				\
				break;					\
	} while (0)

bool vm_ref_journal;

/* The daemon's kick rounds, journaled (vm_ref_journal): desc_state as it
 * was, then the round, so that a daemon killed half-way through one leaves
 * no mark of a chain it never published (vm_queue_resume).  A copy of at
 * most 4 KiB per round, on the daemon's rare kicks only: BPF does the rest. */
struct vm_device;
struct vm_queue;
struct vm_shadow_queue;
struct vm_scratch;
struct vm_qstats;
static __u32 vm_translate_journaled(struct vm_device *dev, struct vm_queue *q,
				    struct vm_shadow_queue *sh, struct vm_scratch *scr,
				    struct vm_qstats *st, __u32 *chains);
#define VM_TRANSLATE_ROUND vm_translate_journaled

/* The chain fast path, counted: what the tests see of which path took a
 * chain. */
static inline __u32 vm_ref_count_fast_chains(__u32 chains)
{
	vm_ref_fast_chains += chains;
	return chains;
}
#define VM_FAST_CHAIN_LE(dev, q, sh, scr, f)					\
	vm_ref_count_fast_chains(vm_fast_chain(dev, q, sh, scr, f, VM_ORDER_LE))
#define VM_FAST_CHAIN_BE(dev, q, sh, scr, f)					\
	vm_ref_count_fast_chains(vm_fast_chain(dev, q, sh, scr, f, VM_ORDER_BE))

#include <vringmed/xlate.h>
#include <vringmed/xlate_used.h>

_Thread_local unsigned long vm_ref_fast_chains;

static __u32 vm_translate_journaled(struct vm_device *dev, struct vm_queue *q,
				    struct vm_shadow_queue *sh, struct vm_scratch *scr,
				    struct vm_qstats *st, __u32 *chains)
{
	__u32 v;

	if (!vm_ref_journal)
		return vm_translate(dev, q, sh, scr, st, chains);
	memcpy(q->kj_state, q->desc_state,
	       sizeof(q->desc_state[0]) * (q->size <= VM_MAX_RING ? q->size : VM_MAX_RING));
	q->kj_avail = q->last_avail;
	VM_CRASH_POINT(12);
	q->kj_valid = 1;
	v = vm_translate(dev, q, sh, scr, st, chains);
	VM_CRASH_POINT(13);
	q->kj_valid = 0;
	return v;
}

/* The region holding [vmm_va, vmm_va + len), by VMM address. */
static const struct vm_region *vm_region_of(const struct vm_device *dev, __u64 vmm_va,
					    __u64 len)
{
	for (__u32 i = 0; i < dev->nregions && i < VM_MAX_REGIONS; i++) {
		const struct vm_region *r = &dev->regions[i];

		if (vmm_va >= r->vmm_va && vmm_va - r->vmm_va <= r->size &&
		    len <= r->size - (vmm_va - r->vmm_va) && r->mediator_va)
			return r;
	}
	return NULL;
}

static void *vm_env_ptr(const struct vm_device *dev, __u64 vmm_va, __u64 len)
{
	const struct vm_region *r = vm_region_of(dev, vmm_va, len);

	return r ? (void *)(unsigned long)(r->mediator_va + (vmm_va - r->vmm_va)) : NULL;
}

_Thread_local struct vm_ref_reads vm_ref_reads;

static long vm_env_read(const struct vm_device *dev, void *dst, __u32 len, __u64 vmm_va)
{
	const void *src = vm_env_ptr(dev, vmm_va, len);

	vm_ref_reads.calls++;
	vm_ref_reads.bytes += len;
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

static void vm_env_publish_idx(struct vm_shadow_queue *sh, __u16 idx)
{
	/* Release: the descriptors and avail slots are visible first. */
	__atomic_store_n(&sh->avail.idx, vm_swab16_if(VM_ORDER_LE, idx), __ATOMIC_RELEASE);
}

int vm_ref_queue_setup(struct vm_queue *q, __u32 dev_slot, __u16 size,
		       __u64 desc_va, __u64 avail_va, __u64 used_va)
{
	if (!vm_ring_size_ok(size, VM_MAX_RING))
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

void vm_ref_shadow_reset(struct vm_shadow_queue *sh)
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
 * (VM_RING_FAULT) and returns; any other SIGBUS is ours and kills as it
 * would have.  The core holds no lock a jump could leave behind but the
 * queue's busy flag, which the kick entry point drops; the core may have
 * left a half-done round in the queue's state, which the broken flag fences
 * off until the VMM resets the device.
 */
static _Thread_local sigjmp_buf *vm_guard_jmp;
static _Thread_local const struct vm_device *vm_guard_dev;
_Thread_local struct vm_ref_fault vm_ref_fault;

static bool vm_guard_in_guest(const struct vm_device *dev, uintptr_t a)
{
	for (__u32 i = 0; dev && i < dev->nregions && i < VM_MAX_REGIONS; i++) {
		const struct vm_region *r = &dev->regions[i];

		if (r->mediator_va && a - (uintptr_t)r->mediator_va < r->size)
			return true;
	}
	return false;
}

static void vm_guard_sigbus(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *jb = vm_guard_jmp;

	(void)sig;
	(void)uc;
	if (jb && vm_guard_in_guest(vm_guard_dev, (uintptr_t)si->si_addr)) {
		vm_guard_jmp = NULL;
		vm_ref_fault.n++;
		vm_ref_fault.addr = si->si_addr;
		vm_ref_fault.dev = vm_guard_dev;
		siglongjmp(*jb, 1);
	}
	/* Not the guest's: the faulting access runs again and kills. */
	signal(SIGBUS, SIG_DFL);
}

int vm_ref_guard_install(void)
{
	/* SA_NODEFER: the jump leaves the handler for good, and SIGBUS must
	 * not stay blocked in this thread (sigsetjmp(.., 0) keeps no mask). */
	struct sigaction sa = { .sa_sigaction = vm_guard_sigbus,
				.sa_flags = SA_SIGINFO | SA_NODEFER };

	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, NULL) ? -errno : 0;
}

static inline void vm_guard_enter(sigjmp_buf *jb, const struct vm_device *dev)
{
	vm_guard_dev = dev;
	/* The handler must see both before the first guest access. */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vm_guard_jmp = jb;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void vm_guard_leave(void)
{
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	vm_guard_jmp = NULL;
}

/* After a guarded access faulted: the device is broken, and the kick's
 * busy flag (held: a kick faults only inside its translation) dropped. */
static __u32 vm_guard_faulted(struct vm_ref_queue *rq, bool held_busy)
{
	vm_mark_broken(rq->dev, rq->st, VM_RING_FAULT);
	if (held_busy)
		__sync_lock_test_and_set(&rq->q->busy, 0);
	return VM_RING_FAULT;
}

__u32 vm_ref_kick(struct vm_ref_queue *rq, __u32 *chains)
{
	sigjmp_buf jb;
	__u32 v;

	if (sigsetjmp(jb, 0)) {
		*chains = 0;
		return vm_guard_faulted(rq, true);
	}
	vm_guard_enter(&jb, rq->dev);
	v = vm_kick(rq->dev, rq->q, rq->sh, rq->scr, rq->st, chains);
	vm_guard_leave();
	if (v == VM_DEFER)
		vm_queue_defer(rq->q);	/* the daemon is the caller: its scan sees it */
	return v;
}

__u32 vm_ref_complete(struct vm_ref_queue *rq, __u32 *returned)
{
	sigjmp_buf jb;
	__u32 v;

	if (sigsetjmp(jb, 0)) {
		*returned = 0;
		return vm_guard_faulted(rq, false);
	}
	vm_guard_enter(&jb, rq->dev);
	v = vm_complete(rq->dev, rq->q, rq->sh, rq->st, returned);
	vm_guard_leave();
	return v;
}

int vm_ref_guest_avail(struct vm_ref_queue *rq, __u16 *idx)
{
	const __u16 *g = vm_env_ptr(rq->dev, rq->q->avail_va + VM_AVAIL_IDX_OFF, sizeof(*g));
	sigjmp_buf jb;
	__u16 v;

	if (!g)
		return -EFAULT;
	if (sigsetjmp(jb, 0)) {
		vm_guard_faulted(rq, false);
		return -EFAULT;
	}
	vm_guard_enter(&jb, rq->dev);
	v = __atomic_load_n(g, __ATOMIC_ACQUIRE);
	vm_guard_leave();
	*idx = vm_swab16_if((enum vm_order)rq->dev->order, v);
	return 0;
}

bool vm_ref_guest_wants_call(struct vm_ref_queue *rq)
{
	sigjmp_buf jb;
	bool want;

	if (sigsetjmp(jb, 0)) {
		vm_guard_faulted(rq, false);
		return false;
	}
	vm_guard_enter(&jb, rq->dev);
	want = vm_guest_wants_call(rq->dev, rq->q);
	vm_guard_leave();
	return want;
}

__u32 vm_ref_resume(struct vm_ref_queue *rq)
{
	sigjmp_buf jb;
	__u32 v;

	if (sigsetjmp(jb, 0))
		return vm_guard_faulted(rq, false);
	vm_guard_enter(&jb, rq->dev);
	v = vm_queue_resume(rq->dev, rq->q, rq->sh);
	vm_guard_leave();
	return v;
}

struct vm_scratch *vm_ref_scratch_new(void)
{
	return calloc(1, sizeof(struct vm_scratch));
}

void vm_ref_scratch_free(struct vm_scratch *scr)
{
	free(scr);
}

const char *vm_verdict_name(__u32 verdict)
{
	static const char *const names[] = {
#define VM_X_NAME(name, str) str,
		VM_VERDICTS(VM_X_NAME)
#undef VM_X_NAME
	};

	return verdict < VM_VERDICT_NR ? names[verdict] : "unknown";
}

bool vm_queue_unlock_for_test(struct vm_queue *q)
{
	return vm_queue_unlock(q);
}
