/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A real legacy device end to end, without a VMM: a legacy driver process
 * (native, or s390x under qemu-s390x-static) writes its ring into a memfd and
 * kicks an eventfd; BPF translates at the write(); a backend process blocked
 * in read() on that eventfd checks the shadow ring it finds when it wakes.
 * Used by the tests and the demo.
 */
#ifndef VRINGMED_RIG_H
#define VRINGMED_RIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "loader.h"

#define DRV_MEM		(1u << 20)
#define DRV_RING_GPA	0x1000
#define DRV_SIZE	64

struct rig {
	const char *name;
	int big_endian;
	uint32_t slot;		/* device slot in the maps */
	uint32_t qslot;		/* its one queue: VRM_QSLOT(slot, 0), set by rig_start */
	int memfd, kickfd;
	pid_t driver, backend;
	FILE *drv_in, *drv_out;
	FILE *report_f;		/* backend -> us: "IDX BAD" per wake */
	uint16_t expect_idx;
	void *local;		/* our mapping of guest memory */
};

/* Starts driver and backend and registers the device; 0 or -errno. */
int rig_start(struct vrm_bpf *b, struct rig *r);
/* The driver adds n chains and kicks; *seen is the shadow avail idx the
 * backend found when it woke, *bad whether any descriptor differed. */
int rig_kick(struct rig *r, unsigned n, unsigned *kicked, unsigned *seen, int *bad);
void rig_stop(struct vrm_bpf *b, struct rig *r);
bool rig_have_qemu_user(void);

#endif
