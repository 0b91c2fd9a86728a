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

#endif
