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
#include "uxlate.h"

struct fx {
	struct tr_ring t;
	struct vrm_device dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	struct vrm_qstats st;
	struct vrm_ux_queue rq;
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
	vrm_ux_shadow_reset(f->sh);
	if (vrm_ux_queue_setup(f->q, 0, size, tr_va(&f->t, f->t.ring_gpa),
			       tr_va(&f->t, tr_avail_gpa(&f->t)), tr_va(&f->t, tr_used_gpa(&f->t))))
		return -1;
	f->q->flags = VRM_QF_ENABLED;
	f->rq = (struct vrm_ux_queue){ &f->dev, f->q, f->sh, vrm_ux_scratch_new(), &f->st };
	return f->rq.scr ? 0 : -1;
}

static inline void fx_fini(struct fx *f)
{
	vrm_ux_scratch_free(f->rq.scr);
	free(f->sh);
	free(f->q);
	tr_free(&f->t);
}

#endif
