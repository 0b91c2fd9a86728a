// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The XDP back-end's steering program, one per interface: a unicast frame
 * whose destination MAC a device owns goes to that device's AF_XDP socket;
 * everything else goes on to the kernel.  Broadcast and multicast (ARP, IPv6
 * neighbour discovery) must reach every device and the host, and XDP cannot
 * clone a frame: they go to the kernel, whose copy the daemon's packet
 * socket hands to each device.  The daemon fills vrm_xdp_macs as it learns
 * each device's MAC from the frames the device sends.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include <vringmed/xdp_steer.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VRM_XDP_MAX_SOCKS);
	__type(key, __u64);
	__type(value, __u32);
} vrm_xdp_macs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, VRM_XDP_MAX_SOCKS);
	__type(key, __u32);
	__type(value, __u32);
} vrm_xdp_xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VRM_XDP_NSTATS);
	__type(key, __u32);
	__type(value, __u64);
} vrm_xdp_stats SEC(".maps");

static __always_inline int count(__u32 what, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&vrm_xdp_stats, &what);

	if (n)
		(*n)++;
	return verdict;
}

SEC("xdp")
int vrm_xdp_steer(struct xdp_md *ctx)
{
	const __u8 *data = (const __u8 *)(long)ctx->data;
	const __u8 *end = (const __u8 *)(long)ctx->data_end;
	__u64 mac = 0;
	__u32 *sock;
	long r;

	if (data + 14 > end)
		return count(VRM_XDP_PASSED, XDP_PASS);
	if (data[0] & 1)	/* the group bit: broadcast, multicast */
		return count(VRM_XDP_FLOODED, XDP_PASS);
	for (int i = 0; i < 6; i++)
		mac = mac << 8 | data[i];
	sock = bpf_map_lookup_elem(&vrm_xdp_macs, &mac);
	if (!sock)
		return count(VRM_XDP_PASSED, XDP_PASS);
	r = bpf_redirect_map(&vrm_xdp_xsks, *sock, XDP_PASS);
	return count(r == XDP_REDIRECT ? VRM_XDP_STEERED : VRM_XDP_NO_SOCKET, r);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
