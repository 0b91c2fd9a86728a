/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The hostile class "the guest rewrites entries while they are read": a
 * thread flips descriptor 0 between a valid buffer, a zero-length one and
 * one outside guest memory while the mediator translates.  Copy-once means
 * the shadow may hold only values that passed validation: a published zero
 * length or outside address would be a double fetch.
 */
#ifndef VRINGMED_RACE_H
#define VRINGMED_RACE_H

#include <pthread.h>
#include <stdatomic.h>
#include "ringgen.h"
#include "ref.h"

struct race {
	struct tr_ring *t;
	atomic_int stop;
	atomic_ulong flips;
	pthread_t thread;
};

static void *race_flipper(void *arg)
{
	struct race *r = arg;
	unsigned n = 0;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		atomic_store_explicit(&r->flips, n, memory_order_relaxed);
		switch (n++ % 3) {
		case 0: tr_set_desc(r->t, 0, r->t->data_gpa, 16, 0, 0); break;
		case 1: tr_set_desc(r->t, 0, r->t->data_gpa, 0, 0, 0); break;
		case 2: tr_set_desc(r->t, 0, r->t->mem_size + 4096, 16, 0, 0); break;
		}
	}
	return NULL;
}

static inline int race_start(struct race *r, struct tr_ring *t)
{
	r->t = t;
	atomic_store(&r->stop, 0);
	atomic_store(&r->flips, 0);
	if (pthread_create(&r->thread, NULL, race_flipper, r))
		return -1;
	/* Translate only while the guest is really rewriting. */
	while (atomic_load(&r->flips) < 1000)
		;
	return 0;
}

static inline void race_stop(struct race *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
}

/* Classifies one translation of descriptor 0: 1 valid published, 0 refused
 * with a verdict the flipper can cause, -1 the copy-once rule was broken. */
static inline int race_outcome(const struct vm_shadow_queue *sh, const struct tr_ring *t,
			       uint32_t verdict)
{
	if (verdict == VM_ZERO_LEN || verdict == VM_BUF_OUTSIDE_MEM)
		return 0;
	if (verdict != VM_OK)
		return -1;
	/* The flipper writes byte by byte, so the guest itself produces torn
	 * mixes of its versions; any of them may be published if it is valid.
	 * What may never be published is a value that fails validation. */
	uint64_t addr = tr_le(&sh->desc[0].addr, 8), len = tr_le(&sh->desc[0].len, 4);

	return len != 0 && addr < t->mem_size && len <= t->mem_size - addr ? 1 : -1;
}

/* The whole run: `iterations` translations of a one-entry ring while the
 * flipper rewrites it.  `kick` translates the queue (reference or BPF).
 * Counts go to out[0] published valid, out[1] refused, out[2] published
 * invalid; returns the number of rewrites during the run, or -1. */
static inline long race_copy_once(struct tr_ring *t, struct vm_device *dev, struct vm_queue *q,
				  struct vm_shadow_queue *sh, uint32_t slot,
				  uint32_t (*kick)(void *ctx), void *ctx, int iterations,
				  long out[3])
{
	struct race r;
	unsigned long flips;

	out[0] = out[1] = out[2] = 0;
	if (race_start(&r, t))
		return -1;
	flips = atomic_load(&r.flips);
	/* At least `iterations`, and on until the guest thread really ran
	 * alongside (a busy 2-CPU host may not schedule it for a while). */
	for (long i = 0; i < iterations ||
			 (atomic_load(&r.flips) - flips < 10000 && i < 100L * iterations); i++) {
		int o;

		vm_ref_queue_setup(q, slot, t->size, tr_va(t, t->ring_gpa),
				   tr_va(t, tr_avail_gpa(t)), tr_va(t, tr_used_gpa(t)));
		q->flags = VM_QF_ENABLED;
		dev->broken = 0;
		t->avail_idx = 0;
		tr_push_head(t, 0);
		tr_publish(t);
		o = race_outcome(sh, t, kick(ctx));
		out[o == 1 ? 0 : o == 0 ? 1 : 2]++;
	}
	flips = atomic_load(&r.flips) - flips;
	race_stop(&r);
	return (long)flips;
}

#endif
