/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The userspace reference mediator: the translation core over memory this
 * process can address.  Used by the daemon (deferred kicks, completions),
 * the userspace relay of the perf comparison, and the tests.
 */
#ifndef VRINGMED_REF_H
#define VRINGMED_REF_H

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>

struct vm_scratch;

/* One mediated queue.  The structs may live in BPF maps (mmapped) or in
 * plain memory; the core treats both alike. */
struct vm_ref_queue {
	struct vm_device *dev;
	struct vm_queue *q;
	struct vm_shadow_queue *sh;
	struct vm_scratch *scr;
	struct vm_qstats *st;
};

/* Sets the queue's configuration and clears its state: the device's ring
 * of `size` entries at the given VMM addresses.  Returns 0 or -EINVAL. */
int vm_ref_queue_setup(struct vm_queue *q, __u32 dev_slot, __u16 size,
		       __u64 desc_va, __u64 avail_va, __u64 used_va);

/* Clears the shadow ring of a queue (modern layout, flags owned by us). */
void vm_ref_shadow_reset(struct vm_shadow_queue *sh);

/* Kick direction: returns a verdict (enum vm_verdict); *chains published. */
__u32 vm_ref_kick(struct vm_ref_queue *rq, __u32 *chains);

/* Completion direction: returns a verdict; *returned used entries. */
__u32 vm_ref_complete(struct vm_ref_queue *rq, __u32 *returned);

/* After a completion that returned entries: true when the guest wants its
 * call (it has not set VRING_AVAIL_F_NO_INTERRUPT; vm_guest_wants_call). */
bool vm_ref_guest_wants_call(struct vm_ref_queue *rq);

/* The guest's avail idx, in its byte order: 0, or -EFAULT when the ring
 * is not in memory the daemon maps. */
int vm_ref_guest_avail(struct vm_ref_queue *rq, __u16 *idx);

/* Guest memory that faults (a VMM shrank its memory file): the entry points
 * above that touch guest memory catch the SIGBUS once this handler is
 * installed (process-wide; 0 or -errno), mark that device broken
 * (VM_RING_FAULT) and return; a SIGBUS anywhere else still kills.  What
 * this thread caught last, for the caller to tell. */
int vm_ref_guard_install(void);
struct vm_ref_fault {
	unsigned long n;		/* faults caught by this thread */
	void *addr;			/* the last one's address */
	const struct vm_device *dev;	/* ... and device */
};
extern _Thread_local struct vm_ref_fault vm_ref_fault;

/* The daemon sets it: its kick rounds are journaled so that a daemon killed
 * half-way through one can be followed by another (vm_ref_resume). */
extern bool vm_ref_journal;

/* Makes a queue a dead daemon left whole again (vm_queue_resume): called
 * with the queue disabled, before it runs again.  Returns a verdict. */
__u32 vm_ref_resume(struct vm_ref_queue *rq);

#ifdef VM_CRASH_TEST
/* Crash tests: called at every VM_CRASH_POINT of the core; may longjmp. */
extern void (*vm_crash_hook)(int point);
#endif

/* The guest reads (bulk copies of guest memory) this thread's kicks made,
 * and their bytes: what the tests and benches count. */
struct vm_ref_reads {
	unsigned long calls, bytes;
};
extern _Thread_local struct vm_ref_reads vm_ref_reads;
/* Chains this thread's kicks published on the chain fast path. */
extern _Thread_local unsigned long vm_ref_fast_chains;

/* Allocates / frees the per-queue scratch the core needs. */
struct vm_scratch *vm_ref_scratch_new(void);
void vm_ref_scratch_free(struct vm_scratch *scr);

const char *vm_verdict_name(__u32 verdict);

/* The core's queue unlock, exposed for the lock tests. */
bool vm_queue_unlock_for_test(struct vm_queue *q);

#endif /* VRINGMED_REF_H */
