/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A queue mediated by the userspace reference over a test ring: guest
 * memory, device, queue state, shadow ring, scratch and counters.  Shared by
 * the core tests and bench-core so both measure the same set-up.
 */
#ifndef VRINGMED_FIXTURE_H
#define VRINGMED_FIXTURE_H

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ringgen.h"
#include "ref.h"

struct fx {
	struct tr_ring t;
	struct vm_device dev;
	struct vm_queue *q;
	struct vm_shadow_queue *sh;
	struct vm_qstats st;
	struct vm_ref_queue rq;
};

/* 0, or -1 when memory ran out. */
static inline int fx_init(struct fx *f, uint16_t size, int big_endian)
{
	memset(f, 0, sizeof(*f));
	if (tr_init(&f->t, size, big_endian, 1 << 20))
		return -1;
	tr_device(&f->t, &f->dev, getpid());
	f->q = calloc(1, sizeof(*f->q));
	f->sh = aligned_alloc(4096, sizeof(*f->sh));
	if (!f->q || !f->sh)
		return -1;
	vm_ref_shadow_reset(f->sh);
	if (vm_ref_queue_setup(f->q, 0, size, tr_va(&f->t, f->t.ring_gpa),
			       tr_va(&f->t, tr_avail_gpa(&f->t)), tr_va(&f->t, tr_used_gpa(&f->t))))
		return -1;
	f->q->flags = VM_QF_ENABLED;
	f->rq = (struct vm_ref_queue){ &f->dev, f->q, f->sh, vm_ref_scratch_new(), &f->st };
	return f->rq.scr ? 0 : -1;
}

static inline void fx_fini(struct fx *f)
{
	vm_ref_scratch_free(f->rq.scr);
	free(f->sh);
	free(f->q);
	tr_free(&f->t);
}

#endif
