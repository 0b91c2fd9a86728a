// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: the translation core (user/uxlate.c, the same headers BPF
 * runs) on a guest ring the fuzzer writes, with the back-end's used entries
 * and the guest's rewrites as a stream of operations.  Built with ASan and
 * UBSan (make fuzz), so a read or write outside guest memory, the shadow
 * ring or the queue state is a crash; the invariants below abort().
 *
 * Input:
 *   [0]  bit 0 big-endian guest; bits 1-3: ring size 2 << n; bits 4-5
 *        virtio-net header mode (none, TX slot, RX slot, RX in place);
 *        bit 6: 12-byte guest header (MRG_RXBUF) instead of 10
 *   [1]  max_chain (0: the ring size)
 *   [2]  starting index (low byte; high byte 0xff when bit 7 of [0])
 *   then the legacy descriptor table and avail ring, as guest memory bytes
 *   (copied to the ring's place; what is short stays zero), 16 * size +
 *   4 + 2 * size bytes;
 *   then operations, 4 bytes each [op a b c]:
 *     op % 4 == 0  the guest kicks, for at most a chains (0: all; a
 *                  poller's first part, vrm_ux_kick_some)
 *     op % 4 == 1  the back-end returns one entry: id a | b << 8, or with
 *                  c & 1 the head in the shadow avail slot a after the last
 *                  returned one; len c * 8; then the used path runs
 *     op % 4 == 2  the guest writes byte c at ring offset a | b << 8
 *     op % 4 == 3  the guest puts head b at its next avail slot and moves
 *                  its avail idx on by a % 4
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringgen.h"
#include "hostile.h"
#include "uxlate.h"

#define MEM_SIZE	(1u << 16)

#define FUZZ_NAME "fuzz_xlate"
#include "fuzz.h"

/* What each published chain offered the back-end, by head, as the shadow
 * descriptors said when it was published: its device-writable bytes, or
 * its whole length when it has none.  The bound of the used.len the guest
 * may be given for it. */
static uint64_t offered[VRM_MAX_RING];

/* The guest's used idx, and whether a buffer the guest offered covers it:
 * a header written back there (or the back-end's bytes) is the guest's own
 * doing, and the idx then says nothing of what the core committed. */
static uint64_t used_idx_gpa;
static bool aliased;

static void note_buffer(uint64_t addr, uint64_t len)
{
	if (addr < used_idx_gpa + 2 && addr + len > used_idx_gpa && addr + len >= addr)
		aliased = true;
}

/* Head `head`'s published indirect table (its shadow descriptor `d`)
 * obeys the rules: in the head's room of the shadow tables, no larger than
 * that room, linked in order, its entries in guest memory (the first may
 * be the head's header slot), read before write, no nesting.  Records
 * what it offered. */
static void check_table(const struct vrm_shadow_queue *sh, const struct tr_ring *t,
			const struct vrm_queue *q, uint16_t head, const struct vrm_desc *d)
{
	uint32_t per = vrm_itab_per(t->size), n = (uint32_t)tr_le(&d->len, 4) / 16;
	uint64_t base = q->hdr_gpa - VRM_SHADOW_HDR_OFF + VRM_SHADOW_ITAB_OFF + 16ull * head * per;
	uint64_t all = 0, writable = 0;
	bool wrote = false;

	CHECK(tr_le(&d->addr, 8) == base && tr_le(&d->len, 4) % 16 == 0 && n >= 1 && n <= per,
	      "table of head %u: addr 0x%llx len %llu published", head,
	      (unsigned long long)tr_le(&d->addr, 8), (unsigned long long)tr_le(&d->len, 4));
	for (uint32_t j = 0; j < n; j++) {
		const struct vrm_desc *e = &sh->itab[head * per + j];
		uint64_t addr = tr_le(&e->addr, 8), len = tr_le(&e->len, 4);
		uint16_t flags = (uint16_t)tr_le(&e->flags, 2);

		CHECK(!(flags & ~(VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE)),
		      "table entry flags 0x%x published", flags);
		CHECK((flags & VRM_VRING_DESC_F_NEXT) ? tr_le(&e->next, 2) == j + 1 && j + 1 < n
						     : j + 1 == n,
		      "table of head %u: entry %u links to %llu of %u", head, j,
		      (unsigned long long)tr_le(&e->next, 2), n);
		if (!(j == 0 && q->net_mode && addr >= q->hdr_gpa))
			CHECK(len && addr + len >= addr && addr + len <= t->mem_size,
			      "table entry: addr 0x%llx len %llu published", (unsigned long long)addr,
			      (unsigned long long)len);
		note_buffer(addr, len);
		if (flags & VRM_VRING_DESC_F_WRITE)
			wrote = true;
		else
			CHECK(!wrote, "read-only table entry %u after a write-only", j);
		all += len;
		writable += (flags & VRM_VRING_DESC_F_WRITE) ? len : 0;
	}
	offered[head] = wrote ? writable : all;
}

/* Every chain published at shadow slots [from, to) obeys the rules. */
static void check_published(const struct vrm_shadow_queue *sh, const struct tr_ring *t,
			    const struct vrm_queue *q, uint16_t from, uint16_t to)
{
	uint8_t seen[VRM_MAX_RING] = { 0 };
	uint16_t mask = t->size - 1;

	for (uint16_t s = from; s != to; s++) {
		uint16_t cur = (uint16_t)tr_le(&sh->avail.ring[s & mask], 2);
		uint64_t all = 0, writable = 0;
		bool wrote = false;

		CHECK(cur <= mask, "published head %u of a %u ring", cur, t->size);
		if (q->net_mode == VRM_NET_RX_SLOT || q->net_mode == VRM_NET_RX_INPLACE)
			note_buffer(q->rx_hdr[cur], VRM_NET_HDR_MODERN);
		for (unsigned len = 1;; len++) {
			const struct vrm_desc *d = &sh->desc[cur];
			uint64_t addr = tr_le(&d->addr, 8), dlen = tr_le(&d->len, 4);
			uint16_t flags = (uint16_t)tr_le(&d->flags, 2);

			CHECK(!seen[cur], "descriptor %u published twice in one kick", cur);
			seen[cur] = 1;
			if (len == 1 && (flags & VRM_VRING_DESC_F_INDIRECT)) {
				CHECK(flags == VRM_VRING_DESC_F_INDIRECT, "table head flags 0x%x", flags);
				check_table(sh, t, q, cur, d);
				break;
			}
			CHECK(len <= q->max_chain, "chain longer than %u", q->max_chain);
			CHECK(!(flags & ~(VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE)),
			      "flags 0x%x published", flags);
			/* A header slot points into the shadow region, at
			 * hdr_gpa; everything else into guest memory. */
			if (!(len == 1 && q->net_mode && addr >= q->hdr_gpa))
				CHECK(dlen && addr + dlen >= addr && addr + dlen <= t->mem_size,
				      "descriptor %u: addr 0x%llx len %llu published", cur,
				      (unsigned long long)addr, (unsigned long long)dlen);
			note_buffer(addr, dlen);
			if (flags & VRM_VRING_DESC_F_WRITE)
				wrote = true;
			else
				CHECK(!wrote, "read-only descriptor %u after a write-only", cur);
			all += dlen;
			writable += (flags & VRM_VRING_DESC_F_WRITE) ? dlen : 0;
			/* A request: its header in the head's slot, read-only,
			 * 16 bytes; its status byte device-writable, last. */
			if (q->net_mode == VRM_BLK_REQ && len == 1)
				CHECK(addr == q->hdr_gpa + 16ull * cur && dlen == 16 &&
				      !(flags & VRM_VRING_DESC_F_WRITE),
				      "request head %u: addr 0x%llx len %llu flags 0x%x published", cur,
				      (unsigned long long)addr, (unsigned long long)dlen, flags);
			if (q->net_mode == VRM_BLK_REQ && !(flags & VRM_VRING_DESC_F_NEXT))
				CHECK(len >= 2 && (flags & VRM_VRING_DESC_F_WRITE),
				      "request of %u descriptors published, its last flags 0x%x", len,
				      flags);
			if (!(flags & VRM_VRING_DESC_F_NEXT)) {
				offered[(uint16_t)tr_le(&sh->avail.ring[s & mask], 2)] =
					wrote ? writable : all;
				break;
			}
			cur = (uint16_t)tr_le(&d->next, 2);
			CHECK(cur <= mask, "next %u of a %u ring published", cur, t->size);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vrm_shadow_queue *sh;
	static struct vrm_scratch *scr;
	struct vrm_qstats st = { 0 };
	struct vrm_device dev;
	struct vrm_queue *q;
	struct tr_ring t;
	uint8_t *mem;
	uint16_t rsize, start, used_idx, image, gidx, gidx_was, gidx_seen, pre;
	bool guest_own = false;
	size_t pos = 3;

	if (size < 3)
		return 0;
	if (!sh) {
		sh = aligned_alloc(4096, sizeof(*sh));
		scr = vrm_ux_scratch_new();
		if (!sh || !scr)
			abort();
	}
	mem = calloc(1, MEM_SIZE);
	q = calloc(1, sizeof(*q));
	memset(offered, 0, sizeof(offered));
	aliased = false;
	if (!mem || !q)
		abort();
	rsize = (uint16_t)(2u << ((data[0] >> 1) & 7));
	tr_layout(&t, mem, MEM_SIZE, rsize, data[0] & 1);
	tr_device(&t, &dev, 1);
	start = data[2] | ((data[0] & 0x80) ? 0xff00 : 0);
	vrm_ux_shadow_reset(sh);
	CHECK(!vrm_ux_queue_setup(q, 0, rsize, tr_va(&t, t.ring_gpa), tr_va(&t, tr_avail_gpa(&t)),
				  tr_va(&t, tr_used_gpa(&t))), "queue setup refused size %u", rsize);
	/* An odd chain bound: a back-end that took INDIRECT_DESC (10-byte RX
	 * headers sharing a buffer with the frame become shadow tables). */
	q->flags = VRM_QF_ENABLED | ((data[1] & 1) ? VRM_QF_BE_INDIRECT : 0);
	if (data[1])
		q->max_chain = data[1] < rsize ? data[1] : rsize;
	q->net_mode = (data[0] >> 4) & 3;
	/* No header mode with the 12-byte bit: a virtio-blk queue. */
	if (!q->net_mode && (data[0] & 0x40))
		q->net_mode = VRM_BLK_REQ;
	q->net_hdr_len = (data[0] & 0x40) ? VRM_NET_HDR_MODERN : VRM_NET_HDR_LEGACY;
	q->hdr_gpa = 1ull << 48;
	q->last_avail = q->last_used = start;
	sh->avail.idx = vrm_swab16_if(VRM_ORDER_LE, start);
	sh->used.idx = vrm_swab16_if(VRM_ORDER_LE, start);
	used_idx = start;
	used_idx_gpa = tr_used_gpa(&t) + 2;
	gidx_was = gidx_seen = (uint16_t)tr_get(&t, used_idx_gpa, 2);
	t.avail_idx = start;

	image = (uint16_t)(16 * rsize + 4 + 2 * rsize);
	for (uint16_t i = 0; i < image && pos < size; i++, pos++) {
		uint64_t off = i < 16u * rsize ? i : vrm_legacy_avail_off(rsize) + (i - 16u * rsize);

		mem[t.ring_gpa + off] = data[pos];
	}

	struct vrm_ux_queue rq = { &dev, q, sh, scr, &st };

	for (; pos + 4 <= size; pos += 4) {
		uint8_t op = data[pos], a = data[pos + 1], b = data[pos + 2], c = data[pos + 3];
		uint32_t v, n, broken = dev.broken;
		uint16_t before = q->last_avail;

		switch (op & 3) {
		case 0:
			/* a: at most that many chains (a poller's first part),
			 * 0 all. */
			v = vrm_ux_kick_some(&rq, a, &n);
			CHECK(!a || n <= a, "%u chains from a kick limited to %u", n, a);
			CHECK(v < VRM_VERDICT_NR && v != VRM_DEFER, "kick verdict %u", v);
			CHECK(v == VRM_OK || dev.broken, "verdict %s but the device is not broken",
			      vrm_verdict_name(v));
			CHECK((uint16_t)(q->last_avail - before) == n, "%u chains, last_avail moved by %u",
			      n, (uint16_t)(q->last_avail - before));
			CHECK(!broken || n == 0, "a broken device published %u chains", n);
			CHECK(tr_le(&sh->avail.idx, 2) == q->last_avail, "shadow idx != last_avail");
			CHECK((uint16_t)(q->last_avail - q->last_used) <= rsize, "more in flight than the ring");
			check_published(sh, &t, q, before, q->last_avail);
			break;
		case 1: {
			uint32_t id = (c & 1) ? (uint32_t)tr_le(&sh->avail.ring[(uint16_t)(used_idx + a) &
								       (rsize - 1)], 2)
					      : (uint32_t)(a | b << 8);

			uint16_t first = q->last_used;

			/* The guest may have written its own used idx (op 2):
			 * its value stands until the device stores one. */
			pre = (uint16_t)tr_get(&t, used_idx_gpa, 2);
			guest_own |= pre != gidx_seen;
			tr_backend_use(sh, rsize, &used_idx, id, (uint32_t)c * 8);
			v = vrm_ux_complete(&rq, &n);
			for (uint16_t e = 0; e < n; e++) {
				uint64_t at = tr_used_gpa(&t) + 4 + 8ull * ((uint16_t)(first + e) & (rsize - 1));
				uint32_t gid = (uint32_t)tr_get(&t, at, 4), glen = (uint32_t)tr_get(&t, at + 4, 4);

				CHECK(gid < rsize && glen <= offered[gid],
				      "used.len %u of chain %u to the guest, it offered %llu", glen, gid,
				      (unsigned long long)(gid < rsize ? offered[gid] : 0));
			}
			CHECK(v < VRM_VERDICT_NR && v != VRM_DEFER, "used verdict %u", v);
			CHECK(v == VRM_OK || dev.broken, "used verdict %s, device not broken",
			      vrm_verdict_name(v));
			CHECK(!broken || n == 0, "a broken device returned %u entries", n);
			/* Committed whole packets: the guest's idx is last_used,
			 * but behind it while a merged packet's later buffers
			 * have not come (never past it, never back from what
			 * the device last stored).  With a packet open the
			 * device may store nothing: the idx stays as it was,
			 * the guest's own value included. */
			gidx = (uint16_t)tr_get(&t, used_idx_gpa, 2);
			if (q->rx_merge_left && !aliased)
				CHECK((gidx == pre && (guest_own || gidx != q->last_used)) ||
				      (gidx != q->last_used && (uint16_t)(gidx - gidx_was) <=
				       (uint16_t)(q->last_used - gidx_was)),
				      "guest used idx %u with a packet open, last_used %u, was %u",
				      gidx, q->last_used, gidx_was);
			else if (!q->rx_merge_left)
				CHECK(gidx == q->last_used || (!n && v != VRM_OK),
				      "guest used idx %u != last_used %u", gidx, q->last_used);
			if (gidx != pre || (!q->rx_merge_left && gidx == q->last_used)) {
				gidx_was = gidx;
				guest_own = false;
			}
			gidx_seen = gidx;
			break;
		}
		case 2:
			mem[t.ring_gpa + (uint16_t)(a | b << 8) % vrm_legacy_ring_bytes(rsize)] = c;
			break;
		case 3:
			tr_push_head(&t, b);
			t.avail_idx += (uint16_t)(a % 4);
			tr_publish(&t);
			break;
		}
	}
	free(q);
	free(mem);
	return 0;
}
