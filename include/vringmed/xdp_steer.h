/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The XDP back-end's steering program (bpf/xdp_steer.bpf.c) and the daemon
 * (user/backend_xdp.c): one program per interface, steering a frame by its
 * destination MAC to the AF_XDP socket of the device that owns the MAC.
 * Fixed-width types only: these cross the BPF/user boundary.
 */
#ifndef VRINGMED_XDP_STEER_H
#define VRINGMED_XDP_STEER_H

#include "compat.h"

/* Devices (AF_XDP sockets) one interface steers to: the XSKMAP's size. */
#define VRM_XDP_MAX_SOCKS	16

/* Map names (at most 15 characters), pinned as PIN_ROOT "/xdp-IFACE/" X. */
#define VRM_XDP_MAP_MACS	"vrm_xdp_macs"	/* MAC (low 48 bits of a u64) -> socket */
#define VRM_XDP_MAP_XSKS	"vrm_xdp_xsks"	/* socket -> AF_XDP socket */
#define VRM_XDP_MAP_STATS	"vrm_xdp_stats"	/* per CPU: enum vrm_xdp_stat -> frames */
#define VRM_XDP_PROG		"vrm_xdp_steer"

/* What the program did with a frame. */
enum vrm_xdp_stat {
	VRM_XDP_STEERED,	/* to a device's socket */
	VRM_XDP_PASSED,		/* not a device's: to the kernel */
	VRM_XDP_FLOODED,	/* broadcast/multicast: to the kernel, which hands
				 * the daemon's packet socket a copy for the devices */
	VRM_XDP_NO_SOCKET,	/* a device's MAC without a socket: to the kernel */
	VRM_XDP_NSTATS,
};

#endif
