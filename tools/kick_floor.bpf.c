// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * bench-kick's floor: programs at vm_tp_write's hook that do a growing
 * prefix of its work and nothing else, so the added latency of a kick can be
 * split into what the hook itself costs, what finding the kick costs, and
 * what translating it costs.  Not part of the product: bench_kick only.
 *
 *   floor_empty   returns at once: the tracepoint's own machinery
 *   floor_tgid    + the registered-VMM lookup every write() on the host pays
 *   floor_efd     + the fd -> eventfd-id walk a VMM's write() pays
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "../bpf/eventfd_id.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} floor_vmms SEC(".maps");

/* Written so the compiler keeps the work. */
__u64 floor_ids;

SEC("tracepoint/syscalls/sys_enter_write")
int floor_empty(struct trace_event_raw_sys_enter *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int floor_tgid(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_lookup_elem(&floor_vmms, &tgid))
		floor_ids++;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int floor_efd(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	long id;

	if (!bpf_map_lookup_elem(&floor_vmms, &tgid))
		return 0;
	id = vm_eventfd_id(ctx->args[0]);
	if (id >= 0)
		floor_ids += id;
	return 0;
}
