// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A queue mediated by the loaded BPF object: see bfx.h. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "bfx.h"
#include "uxlate.h"

int bfx_init(struct bfx *f, struct vrm_bpf *b, uint32_t slot, uint16_t size, int big_endian,
	     uint64_t mem_size)
{
	memset(f, 0, sizeof(*f));
	if (tr_init(&f->t, size, big_endian, mem_size))
		return -ENOMEM;
	f->slot = slot;
	f->qslot = VRM_QSLOT(slot, 0);
	f->dev = &b->devices[slot];
	f->q = &b->queues[f->qslot];
	f->sh = &b->shadow[f->qslot];
	tr_device(&f->t, f->dev, getpid());
	/* The programs are attached: no kick may find the device active
	 * while its queue is half set up. */
	f->dev->flags = 0;
	f->dev->first_queue = f->qslot;
	vrm_ux_shadow_reset(f->sh);
	if (vrm_ux_queue_setup(f->q, slot, size, tr_va(&f->t, f->t.ring_gpa),
			       tr_va(&f->t, tr_avail_gpa(&f->t)), tr_va(&f->t, tr_used_gpa(&f->t)))) {
		tr_free(&f->t);
		return -EINVAL;
	}
	vrm_bpf_clear_stats(b, f->qslot);
	f->q->flags = VRM_QF_ENABLED;
	f->dev->flags = VRM_DF_ACTIVE;
	return 0;
}

void bfx_fini(struct bfx *f)
{
	f->dev->flags = 0;
	f->q->flags = 0;
	tr_free(&f->t);
}
