/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* floor_copy's context (tools/kick_floor.bpf.c), shared with bench_kick;
 * the includer provides __u32/__u64 (vmlinux.h or linux/types.h). */
#ifndef VRINGMED_KICK_FLOOR_H
#define VRINGMED_KICK_FLOOR_H

struct floor_copy_args {
	__u64 avail_va;		/* the guest's avail ring, this process */
	__u64 desc_va;		/* its descriptor table */
	__u32 n;		/* chains: heads and descriptors to copy */
	__u32 _pad;
};

#endif
