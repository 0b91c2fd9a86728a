/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The built-in XDP back-end: a net device's back-end that is a host
 * interface (backend=xdp:IFACE), in vringmedd itself.  The proxy talks to
 * it as to any back-end, vhost-user over a socket (a socketpair), so the
 * proxy has one back-end face; the back-end's thread consumes the shadow
 * rings, sends the guest's frames out of IFACE through an AF_XDP socket
 * and fills the guest's receive buffers with what the steering program
 * (bpf/xdp_steer.bpf.c) hands that socket.  docs/xdp.md has the design.
 */
#ifndef VRINGMED_BACKEND_XDP_H
#define VRINGMED_BACKEND_XDP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define VRM_XDP_PREFIX	"xdp:"

/* Whether a backend= value names the built-in XDP back-end. */
bool vrm_xdp_is_spec(const char *backend);

/* Where the interfaces' programs and maps are pinned (PIN_ROOT/xdp-IFACE):
 * set once before the first vrm_xdp_connect. */
void vrm_xdp_set_pin_root(const char *root);

/* Device `name` connects to the XDP back-end of `spec` ("xdp:IFACE"); the
 * interface's back-end (program, UMEM, thread) starts with its first
 * device.  Our end of the vhost-user socket, or -errno (logged). */
int vrm_xdp_connect(const char *spec, const char *name);

/* A device's frames and drops, both directions, since the daemon started. */
struct vrm_xdp_stats {
	char iface[16];
	const char *mode;		/* "zero-copy", "copy" */
	const char *attach;		/* "multiprog", "single program" */
	uint64_t tx_frames, tx_bytes, tx_drops;	/* guest -> IFACE, dropped: ring or UMEM full, bad chain */
	uint64_t rx_frames, rx_bytes, rx_drops;	/* IFACE -> guest, dropped: no guest buffer, too big */
	uint64_t local_frames;			/* guest -> guest on the same interface */
	/* Receive offloads (docs/xdp.md): frames whose checksum was checked
	 * and marked valid, found wrong (passed unmarked), merged into
	 * larger frames, and the merged frames made. */
	uint64_t rx_csum_valid, rx_csum_bad, rx_coalesced, rx_merged;
};
/* 0 with *out filled, -ENOENT when `name` has no XDP session. */
int vrm_xdp_stats(const char *name, struct vrm_xdp_stats *out);

/* The back-end's Prometheus metrics (counters per device and direction,
 * the steering program's verdicts per interface), appended to a scrape. */
void vrm_xdp_prometheus(FILE *out);

/* At the daemon's end, once the devices' sessions ended: stops the ports'
 * threads and takes the steering programs off their interfaces. */
void vrm_xdp_shutdown(void);

#endif
