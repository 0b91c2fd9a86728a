/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* floor_copy's and floor_prims' contexts (tools/kick_floor.bpf.c), shared with bench_kick;
 * the includer provides __u32/__u64 (vmlinux.h or linux/types.h). */
#ifndef VRINGMED_KICK_FLOOR_H
#define VRINGMED_KICK_FLOOR_H

struct floor_copy_args {
	__u64 avail_va;		/* the guest's avail ring, this process */
	__u64 desc_va;		/* its descriptor table */
	__u32 n;		/* chains: heads and descriptors to copy */
	__u32 _pad;
};

/* floor_prims: what each primitive the kick is made of costs here, timed
 * inside one run of the program over `n` calls of each (bpf_loop). */
enum floor_prim {
	FP_LOOP,		/* an empty bpf_loop callback: the loop's own cost */
	FP_READ_USER,		/* bpf_probe_read_user, 2 bytes */
	FP_READ_KERNEL,		/* bpf_probe_read_kernel, 2 bytes */
	FP_CALL,		/* a call of a global subprogram */
	FP_XCHG,		/* an atomic exchange on a map value */
	FP_CLOCK,		/* bpf_ktime_get_ns */
	FP_NR
};

struct floor_prims_args {
	__u64 user_va;		/* 2 readable bytes of this process */
	__u32 n;
	__u32 _pad;
	__u64 ns[FP_NR];	/* out: the n calls of each, in ns */
};

#endif
