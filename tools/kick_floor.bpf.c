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
