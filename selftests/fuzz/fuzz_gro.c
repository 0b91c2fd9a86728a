// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: the XDP back-end's receive offloads (user/xdp_gro.c)
 * on frames from the wire, which are anyone's.  Each frame sits in a heap
 * buffer of exactly its length, so ASan sees any read past it.  Every
 * packet that comes out must be made of bytes of the batch's frames, say
 * its length and account for every frame, and when it is a merged one carry
 * a GSO header that matches its headers and right IP and TCP checksums.
 *
 * Input: [0] offloads (bit 0 csum, 1 tso4, 2 tso6), then frames, each a
 * 2-byte little-endian length and its bytes (up to 64 frames).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xdp_gro.h"
#include "csum_ref.h"

#define FUZZ_NAME "fuzz_gro"
#include "fuzz.h"

#define NFRAMES 64

static struct {
	const uint8_t *p[NFRAMES];
	uint32_t len[NFRAMES];
	unsigned n, segs;
	uint8_t flat[VRM_GRO_MAX_HDR + VRM_GRO_MAX_IP + 64];
} b;

static bool in_frames(const uint8_t *p, uint32_t len)
{
	for (unsigned i = 0; i < b.n; i++)
		if (p >= b.p[i] && len <= b.len[i] && p - b.p[i] <= b.len[i] - len)
			return true;
	return false;
}

/* A merged packet: headers as the GSO header says, checksums right. */
static void check_merged(const struct vrm_gro_pkt *pkt)
{
	const uint8_t *f = b.flat, *ip = f + 14;
	bool v6 = f[12] == 0x86 && f[13] == 0xdd;
	uint32_t iph = v6 ? 40 : 20, l4len, s;

	CHECK(pkt->vnet[0] == VRM_VNET_F_DATA_VALID, "merged packet not marked valid");
	CHECK(pkt->vnet[1] == (v6 ? VRM_VNET_GSO_TCPV6 : VRM_VNET_GSO_TCPV4), "gso type %u", pkt->vnet[1]);
	CHECK((uint32_t)(pkt->vnet[2] | pkt->vnet[3] << 8) == pkt->head_len, "hdr_len");
	CHECK(pkt->head_len >= 14 + iph + 20 && pkt->len <= 14 + VRM_GRO_MAX_IP, "lengths");
	l4len = v6 ? (uint32_t)(ip[4] << 8 | ip[5]) : (uint32_t)(ip[2] << 8 | ip[3]) - iph;
	CHECK(14 + iph + l4len == pkt->len, "IP length %u, packet %u", l4len, pkt->len);
	if (!v6)
		CHECK(ref_fold(ref_sum(ip, 20, 0)) == 0xffff, "IPv4 header checksum");
	s = v6 ? ref_sum(ip + 8, 32, 0) : ref_sum(ip + 12, 8, 0);
	CHECK(ref_fold(ref_sum(ip + iph, l4len, s + 6 + l4len)) == 0xffff, "TCP checksum");
}

static void emit(void *ctx, const struct vrm_gro_pkt *pkt)
{
	uint32_t at = pkt->head_len;

	CHECK(pkt->head_len <= VRM_GRO_MAX_HDR && pkt->npieces <= VRM_GRO_MAX_SEGS, "counts");
	CHECK(pkt->nsegs >= 1 && (pkt->head_len || pkt->nsegs == 1), "segments");
	memcpy(b.flat, pkt->head, pkt->head_len);
	for (uint32_t i = 0; i < pkt->npieces; i++) {
		CHECK(in_frames(pkt->piece[i].p, pkt->piece[i].len), "a piece outside the frames");
		CHECK(at + pkt->piece[i].len <= sizeof(b.flat), "too long");
		memcpy(b.flat + at, pkt->piece[i].p, pkt->piece[i].len);
		at += pkt->piece[i].len;
	}
	CHECK(at == pkt->len, "length %u, bytes %u", pkt->len, at);
	if (pkt->head_len)
		check_merged(pkt);
	else
		CHECK(!pkt->vnet[1], "an unmerged packet with a GSO type");
	b.segs += pkt->nsegs;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vrm_gro g;
	struct vrm_gro_offloads off;
	uint8_t *frames[NFRAMES];
	size_t at = 1;

	if (size < 1)
		return 0;
	off = (struct vrm_gro_offloads){ data[0] & 1, data[0] & 2, data[0] & 4 };
	b.n = b.segs = 0;
	while (b.n < NFRAMES && at + 2 <= size) {
		uint32_t len = data[at] | data[at + 1] << 8;

		at += 2;
		if (len > 2048 || len > size - at)
			break;
		frames[b.n] = malloc(len ? len : 1);
		memcpy(frames[b.n], data + at, len);
		b.p[b.n] = frames[b.n];
		b.len[b.n++] = len;
		at += len;
	}
	memset(&g, 0, sizeof(g));
	vrm_gro_begin(&g, off, emit, NULL);
	for (unsigned i = 0; i < b.n; i++)
		vrm_gro_add(&g, b.p[i], b.len[i]);
	vrm_gro_end(&g);
	CHECK(b.segs == b.n, "%u frames in, %u out", b.n, b.segs);
	for (unsigned i = 0; i < b.n; i++)
		free(frames[i]);
	return 0;
}
