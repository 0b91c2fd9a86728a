// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench-kick's floor: programs at vrm_tp_write's hook that do a growing
 * prefix of its work and nothing else, so the added latency of a kick can be
 * split into what the hook itself costs, what finding the kick costs, and
 * what translating it costs.  Not part of the product: bench_kick only.
 *
 *   floor_empty   returns at once: the tracepoint's own machinery
 *   floor_tgid    + the registered-VMM test every write() on the host pays
 *   floor_efd     + the fd -> eventfd-id walk a VMM's write() pays
 *
 * And one run under BPF_PROG_TEST_RUN beside vrm_test_kick:
 *
 *   floor_copy    the guest reads a kick of n single-descriptor chains
 *                 needs (avail idx, n heads, n descriptors: three bulk
 *                 bpf_probe_read_user calls) and nothing else: no
 *                 validation, no byte swap, no shadow write
 *   floor_prims   each primitive the kick is made of (a user read, a
 *                 kernel read, a subprogram call, an atomic, the clock),
 *                 n calls of each timed inside the program
 *
 * And floor_raw, an empty program at the raw sys_enter tracepoint (every
 * system call), to set the two hooks a kick program could use side by side.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "../bpf/eventfd_id.bpf.h"
#include "kick_floor.h"
#include "vringmed/abi.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* The VMM test as vrm_tp_write makes it first: its slot of a direct-mapped
 * set (vrm_fastsets' vmm[], abi.h), one load. */
__u32 floor_vmm_slots[VRM_VMM_SLOTS];

/* Written so the compiler keeps the work. */
__u64 floor_ids;

/* Where floor_copy copies to (as the kick's scratch). */
__u8 floor_heads[512];
__u8 floor_descs[4096];

SEC("tracepoint/syscalls/sys_enter_write")
int floor_empty(struct trace_event_raw_sys_enter *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int floor_tgid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (floor_vmm_slots[tgid & (VRM_VMM_SLOTS - 1)] == tgid)
		floor_ids++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int floor_efd(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	long id;

	if (floor_vmm_slots[tgid & (VRM_VMM_SLOTS - 1)] != tgid)
		return 0;
	id = vrm_eventfd_id(ctx->args[0]);
	if (id >= 0)
		floor_ids += id;
	return 0;
}

SEC("raw_tracepoint/sys_enter")
int floor_raw(struct bpf_raw_tracepoint_args *ctx)
{
	/* The test vrm_tp_write would need here: which system call. */
	if (ctx->args[1] == 1)	/* __NR_write on x86_64 */
		floor_ids++;
	return 0;
}

SEC("syscall")
int floor_copy(struct floor_copy_args *a)
{
	__u32 n = a->n;
	__u16 idx;

	if (n > 256)
		return 1;
	if (bpf_probe_read_user(&idx, sizeof(idx), (const void *)(unsigned long)(a->avail_va + 2)) ||
	    bpf_probe_read_user(floor_heads, n * 2, (const void *)(unsigned long)(a->avail_va + 4)) ||
	    bpf_probe_read_user(floor_descs, n * 16, (const void *)(unsigned long)a->desc_va))
		return 1;
	floor_ids += idx + floor_heads[0] + floor_descs[0];
	return 0;
}

static __u64 prim_va;
static __u64 prim_word;

static long prim_loop(__u64 i, void *c)
{
	return 0;
}

static long prim_read_user(__u64 i, void *c)
{
	__u16 v;

	bpf_probe_read_user(&v, sizeof(v), (const void *)(unsigned long)prim_va);
	*(__u64 *)c += v;
	return 0;
}

static long prim_read_kernel(__u64 i, void *c)
{
	__u16 v;

	bpf_probe_read_kernel(&v, sizeof(v), &prim_word);
	*(__u64 *)c += v;
	return 0;
}

__attribute__((noinline)) int floor_prim_callee(int x)
{
	return x > 1000000 ? 0 : x + 1;
}

static long prim_call(__u64 i, void *c)
{
	*(__u64 *)c += floor_prim_callee((int)i);
	return 0;
}

static long prim_xchg(__u64 i, void *c)
{
	__sync_lock_test_and_set(&prim_word, i);
	return 0;
}

static long prim_clock(__u64 i, void *c)
{
	*(__u64 *)c += bpf_ktime_get_ns();
	return 0;
}

#define FLOOR_PRIM(slot, fn)						\
	do {								\
		t0 = bpf_ktime_get_ns();				\
		bpf_loop(n, fn, &acc, 0);				\
		a->ns[slot] = bpf_ktime_get_ns() - t0;			\
	} while (0)

SEC("syscall")
int floor_prims(struct floor_prims_args *a)
{
	__u64 t0, acc = 0;
	__u32 n = a->n;

	prim_va = a->user_va;
	FLOOR_PRIM(FP_LOOP, prim_loop);
	FLOOR_PRIM(FP_READ_USER, prim_read_user);
	FLOOR_PRIM(FP_READ_KERNEL, prim_read_kernel);
	FLOOR_PRIM(FP_CALL, prim_call);
	FLOOR_PRIM(FP_XCHG, prim_xchg);
	FLOOR_PRIM(FP_CLOCK, prim_clock);
	floor_ids += acc;
	return 0;
}
