// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Start-up probe: can this host attach trampolines (fentry)? */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("fentry/eventfd_signal_mask")
int BPF_PROG(vrm_probe_fentry)
{
	return 0;
}
