/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A queue mediated by the loaded BPF object: device, queue and shadow ring
 * in the object's maps, the guest's legacy ring (testlib/ringgen.h) in this
 * process, and this process the device's VMM.  Shared by test_bpf and
 * bench-kick so the benchmark measures the set-up the tests check.
 */
#ifndef VRINGMED_BFX_H
#define VRINGMED_BFX_H

#include <stdint.h>

#include "loader.h"
#include "ringgen.h"

struct bfx {
	struct tr_ring t;
	uint32_t slot;		/* device slot */
	uint32_t qslot;		/* its queue 0: VRM_QSLOT(slot, 0) */
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
};

/* Sets up device `slot` of `b` with one enabled queue of `size` entries
 * over `mem_size` bytes of guest memory, its counters cleared; the device
 * is inactive until the queue is complete.  0, or -errno. */
int bfx_init(struct bfx *f, struct vrm_bpf *b, uint32_t slot, uint16_t size, int big_endian,
	     uint64_t mem_size);
/* Deactivates device and queue, frees the guest memory. */
void bfx_fini(struct bfx *f);

#endif
