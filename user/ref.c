// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The userspace environment of the translation core. */
#include <errno.h>
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

__u32 vm_ref_kick(struct vm_ref_queue *rq, __u32 *chains)
{
	__u32 v = vm_kick(rq->dev, rq->q, rq->sh, rq->scr, rq->st, chains);

	if (v == VM_DEFER)
		vm_queue_defer(rq->q);	/* the daemon is the caller: its scan sees it */
	return v;
}

__u32 vm_ref_complete(struct vm_ref_queue *rq, __u32 *returned)
{
	return vm_complete(rq->dev, rq->q, rq->sh, rq->st, returned);
}

int vm_ref_guest_avail(struct vm_ref_queue *rq, __u16 *idx)
{
	const __u16 *g = vm_env_ptr(rq->dev, rq->q->avail_va + VM_AVAIL_IDX_OFF, sizeof(*g));

	if (!g)
		return -EFAULT;
	*idx = vm_swab16_if((enum vm_order)rq->dev->order, __atomic_load_n(g, __ATOMIC_ACQUIRE));
	return 0;
}

bool vm_ref_guest_wants_call(struct vm_ref_queue *rq)
{
	return vm_guest_wants_call(rq->dev, rq->q);
}

__u32 vm_ref_resume(struct vm_ref_queue *rq)
{
	return vm_queue_resume(rq->dev, rq->q, rq->sh);
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
