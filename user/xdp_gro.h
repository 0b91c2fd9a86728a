/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Receive offloads of the XDP back-end, in software: what a NIC's
 * checksum check and LRO would do for the frames an AF_XDP socket hands
 * the back-end, done on the host because the guest (a TCG one above all)
 * pays far more per frame and per byte than the host does.
 *
 *   - checksum: a TCP or UDP frame over IPv4 or IPv6 whose checksum is
 *     computed here and found right is marked VIRTIO_NET_HDR_F_DATA_VALID
 *     (GUEST_CSUM); nothing is marked that was not checked.
 *   - coalescing: consecutive in-order segments of one TCP flow in one
 *     receive batch become one frame of up to 64 KiB with a GSO header
 *     (GUEST_TSO4/6): the guest takes one frame where the wire had dozens.
 *
 * A batch: vrm_gro_begin, vrm_gro_add for each frame in arrival order,
 * vrm_gro_end.  Packets come out through the emit callback, in order for
 * every flow (a frame that merges with nothing ends every open merge
 * first); the frames added must stay where they are until vrm_gro_end
 * returns.  Frames are anyone's: every length is checked against the
 * frame before it is used.
 */
#ifndef VRINGMED_XDP_GRO_H
#define VRINGMED_XDP_GRO_H

#include <stdbool.h>
#include <stdint.h>

#define VRM_GRO_VNET_HDR	12u	/* the modern virtio-net header, num_buffers included */
#define VRM_GRO_MAX_HDR		128u	/* Ethernet + IPv6 + TCP with 40 bytes of options */
#define VRM_GRO_MAX_SEGS	64u	/* segments in one merged frame */
#define VRM_GRO_MAX_IP		65535u	/* an IP packet's length field */
#define VRM_GRO_FLOWS		8u	/* merges open at once */

/* virtio-net header values (virtio 1.x 5.1.6). */
#define VRM_VNET_F_DATA_VALID	2u
#define VRM_VNET_GSO_TCPV4	1u
#define VRM_VNET_GSO_TCPV6	4u

/* What a batch's coalescer may do: the device's negotiated offloads. */
struct vrm_gro_offloads {
	bool csum;		/* GUEST_CSUM: mark checked frames */
	bool tso4, tso6;	/* GUEST_TSO4/6: merge TCP over IPv4/IPv6 */
};

struct vrm_gro_piece {
	const uint8_t *p;
	uint32_t len;
};

/* One packet for the guest: its virtio-net header (little-endian, as the
 * modern rings have it; num_buffers left 0 for the deliverer), then
 * head_len bytes of head (a merged frame's rewritten headers), then the
 * pieces.  An unmerged frame is one piece, head_len 0. */
struct vrm_gro_pkt {
	uint8_t vnet[VRM_GRO_VNET_HDR];
	uint32_t head_len, npieces, len;	/* len: the frame's, header excluded */
	uint32_t nsegs;				/* the wire frames it stands for */
	uint8_t head[VRM_GRO_MAX_HDR];
	struct vrm_gro_piece piece[VRM_GRO_MAX_SEGS];
};

typedef void (*vrm_gro_emit_fn)(void *ctx, const struct vrm_gro_pkt *pkt);

struct vrm_gro_flow {
	bool open, closed;	/* closed: a short or PSH segment ended it */
	bool v6;
	uint32_t seq_at;	/* opening order */
	uint32_t l3, l4, hlen;	/* offsets of IP, TCP, payload */
	int32_t ts;		/* offset of the timestamp option's values in head, -1 */
	uint32_t next_seq, mss, payload, last_tsval, last_tsecr;
	uint32_t psum;		/* the payloads' ones'-complement sum, unfolded */
	const uint8_t *first;	/* the first segment's frame, sent as it is when alone */
	uint32_t first_len;
	uint8_t psh;
	struct vrm_gro_pkt pkt;
};

struct vrm_gro_stats {
	uint64_t csum_valid;	/* frames marked DATA_VALID */
	uint64_t csum_bad;	/* checksum computed and wrong: not marked */
	uint64_t coalesced;	/* wire frames that went into a merged frame */
	uint64_t merged;	/* merged frames made */
};

struct vrm_gro {
	struct vrm_gro_offloads off;
	vrm_gro_emit_fn emit;
	void *ctx;
	uint32_t nopen, seq;
	struct vrm_gro_stats st;
	struct vrm_gro_flow flow[VRM_GRO_FLOWS];
	struct vrm_gro_pkt one;	/* a frame that goes alone */
};

void vrm_gro_begin(struct vrm_gro *g, struct vrm_gro_offloads off, vrm_gro_emit_fn emit, void *ctx);
void vrm_gro_add(struct vrm_gro *g, const uint8_t *frame, uint32_t len);
void vrm_gro_end(struct vrm_gro *g);

/* The ones'-complement sum of `len` bytes added to `sum`, unfolded, in
 * the host's order (RFC 1071: loaded, folded and stored natively it is
 * right on either order); vrm_csum_fold gives the 16 bits. */
uint32_t vrm_csum_partial(const uint8_t *p, uint32_t len, uint32_t sum);
uint16_t vrm_csum_fold(uint32_t sum);

#endif
