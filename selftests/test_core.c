// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the translation core through the userspace reference
 * mediator.  Built natively and for s390x: on the big-endian host the
 * "foreign" order is little-endian, so both directions are exercised for
 * real, not simulated.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "ringgen.h"
#include "fixture.h"
#include "hostile.h"
#include "race.h"
#include "uxlate.h"
#include "backend.h"

const char *vrm_test_suite = "test_core";

static const char *order_name(int be)
{
	return be ? "be" : "le";
}

/* A core test cannot go on without its fixture. */
static void fx_setup(struct fx *f, uint16_t size, int big_endian)
{
	if (fx_init(f, size, big_endian))
		abort();
}

static uint32_t fx_kick(struct fx *f, uint32_t *chains)
{
	uint32_t c;

	return vrm_ux_kick(&f->rq, chains ? chains : &c);
}

/* The shadow descriptor i must equal guest descriptor i, as numbers. */
static bool shadow_matches_guest(struct fx *f, uint16_t i)
{
	const struct vrm_desc *sd = &f->sh->desc[i];
	uint64_t g = tr_desc_gpa(&f->t, i);
	uint16_t flags = tr_get(&f->t, g + 12, 2);

	return VRM_EQ(tr_le(&sd->addr, 8), tr_get(&f->t, g, 8)) &&
	       VRM_EQ(tr_le(&sd->len, 4), tr_get(&f->t, g + 8, 4)) &&
	       VRM_EQ(tr_le(&sd->flags, 2), flags) &&
	       VRM_EQ(tr_le(&sd->next, 2),
		     (flags & VRM_VRING_DESC_F_NEXT) ? tr_get(&f->t, g + 14, 2) : 0);
}

static void backend_use(struct fx *f, uint16_t *used_idx, uint32_t id, uint32_t len)
{
	tr_backend_use(f->sh, f->q->size, used_idx, id, len);
}

VRM_TEST(layout)
{
	static const struct { uint32_t size; uint64_t avail, used, total; } want[] = {
		{ 8, 128, 4096, 4096 + 6 + 64 },
		{ 256, 4096, 8192, 8192 + 6 + 2048 },
		{ 1024, 16384, 20480, 20480 + 6 + 8192 },
	};

	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!vrm_subtest("legacy_size_%u", want[i].size))
			continue;
		VRM_EQ(vrm_legacy_avail_off(want[i].size), want[i].avail);
		VRM_EQ(vrm_legacy_used_off(want[i].size), want[i].used);
		VRM_EQ(vrm_legacy_ring_bytes(want[i].size), want[i].total);
	}
	if (vrm_subtest("ring_size_rules")) {
		VRM_TRUE(vrm_ring_size_ok(256, VRM_MAX_RING));
		VRM_TRUE(!vrm_ring_size_ok(0, VRM_MAX_RING));
		VRM_TRUE(!vrm_ring_size_ok(384, VRM_MAX_RING));
		VRM_TRUE(!vrm_ring_size_ok(2048, VRM_MAX_RING));
	}
	if (vrm_subtest("shadow_parts_page_aligned")) {
		VRM_EQ(VRM_SHADOW_AVAIL_OFF % 4096, 0);
		VRM_EQ(VRM_SHADOW_USED_OFF % 4096, 0);
		VRM_EQ(sizeof(struct vrm_shadow_queue) % 4096, 0);
	}
}

VRM_TEST(byteorder)
{
	const uint8_t b16[2] = { 0x12, 0x34 };
	const uint8_t b32[4] = { 0x12, 0x34, 0x56, 0x78 };
	const uint8_t b64[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	__u16 v16;
	__u32 v32;
	__u64 v64;

	memcpy(&v16, b16, 2);
	memcpy(&v32, b32, 4);
	memcpy(&v64, b64, 8);
	if (vrm_subtest("load_be")) {
		VRM_EQ(vrm_ld16(VRM_ORDER_BE, &v16), 0x1234);
		VRM_EQ(vrm_ld32(VRM_ORDER_BE, &v32), 0x12345678);
		VRM_EQ(vrm_ld64(VRM_ORDER_BE, &v64), 0x0102030405060708ull);
	}
	if (vrm_subtest("load_le")) {
		VRM_EQ(vrm_ld16(VRM_ORDER_LE, &v16), 0x3412);
		VRM_EQ(vrm_ld32(VRM_ORDER_LE, &v32), 0x78563412);
		VRM_EQ(vrm_ld64(VRM_ORDER_LE, &v64), 0x0807060504030201ull);
	}
	if (vrm_subtest("store_roundtrip")) {
		uint8_t out[8];
		__u64 w;

		vrm_st64(VRM_ORDER_BE, &w, 0x0102030405060708ull);
		memcpy(out, &w, 8);
		VRM_EQ(out[0], 1);
		VRM_EQ(out[7], 8);
		vrm_st64(VRM_ORDER_LE, &w, 0x0102030405060708ull);
		memcpy(out, &w, 8);
		VRM_EQ(out[0], 8);
		VRM_EQ(out[7], 1);
	}
}

VRM_TEST(translate)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint32_t chains;

		if (vrm_subtest("single_desc_%s", order_name(be))) {
			fx_setup(&f, 256, be);
			tr_add_chain(&f.t, 1, 0, 1500);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			shadow_matches_guest(&f, 0);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 1);
			VRM_EQ(tr_le(&f.sh->avail.ring[0], 2), 0);
			VRM_EQ(f.st.descs, 1);
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
		if (vrm_subtest("chains_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			tr_add_chain(&f.t, 3, 1, 100);	/* 2 out + 1 in */
			tr_add_chain(&f.t, 1, 1, 4096);	/* rx buffer */
			tr_add_chain(&f.t, 5, 0, 9);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 3);
			for (uint16_t i = 0; i < 9; i++)
				shadow_matches_guest(&f, i);
			VRM_EQ(tr_le(&f.sh->avail.ring[0], 2), 0);
			VRM_EQ(tr_le(&f.sh->avail.ring[1], 2), 3);
			VRM_EQ(tr_le(&f.sh->avail.ring[2], 2), 4);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 3);
			VRM_EQ(f.st.descs, 9);
			VRM_EQ(f.st.chains, 3);
			fx_fini(&f);
		}
		if (vrm_subtest("nothing_new_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 0);
			VRM_EQ(f.st.kicks_empty, 1);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 0);
			fx_fini(&f);
		}
		if (vrm_subtest("full_ring_%s", order_name(be))) {
			fx_setup(&f, 1024, be);
			for (int i = 0; i < 1024; i++)
				tr_add_chain(&f.t, 1, 0, 64);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1024);
			shadow_matches_guest(&f, 1023);
			VRM_EQ(tr_le(&f.sh->avail.ring[1023], 2), 1023);
			VRM_EQ(f.st.batch[11], 1);
			fx_fini(&f);
		}
	}
}

/*
 * The order a driver hands descriptors out in: up (a fresh ring), down
 * (Linux's free list, last returned first, once the ring has gone round)
 * or shuffled (completions out of order), single descriptors and chains of
 * 3.  Every chain is published as the guest wrote it, and a kick that
 * fills the ring copies the descriptor table in at most three bulk reads
 * (plus one each for the avail idx and the heads), none more than the
 * table, where reading once per head not above the last would take 256
 * reads for a ring's worth of heads coming down.
 * Then on a large ring: heads clustered in a corner are read as their span,
 * and four heads far apart as four small reads, not a copy of the table.
 */
static void fill_perm(uint16_t *perm, uint16_t size, int how)
{
	uint32_t seed = 2024u + size;

	for (uint16_t i = 0; i < size; i++)
		perm[i] = how == 1 ? (uint16_t)(size - 1 - i) : i;
	for (uint16_t i = size; how == 2 && i > 1; i--) {
		uint16_t j, tmp;

		seed = seed * 1103515245u + 12345u;
		j = (uint16_t)((seed >> 8) % i);
		tmp = perm[i - 1];
		perm[i - 1] = perm[j];
		perm[j] = tmp;
	}
}

VRM_TEST(head_orders)
{
	static const uint16_t sizes[] = { 8, 256, 1024 };
	static const char *const how_name[] = { "up", "down", "shuffled" };
	static uint16_t perm[VRM_MAX_RING], heads[VRM_MAX_RING];

	for (int be = 0; be <= 1; be++)
		for (unsigned si = 0; si < 3; si++)
			for (int how = 0; how < 3; how++)
				for (int len = 1; len <= 3; len += 2) {
					uint16_t size = sizes[si];
					uint32_t n = size / len, chains;
					struct vrm_ux_reads r0;
					unsigned long calls, bytes;
					struct fx f;

					if (!vrm_subtest("%s_%u_chains_of_%d_%s", how_name[how], size, len,
							order_name(be)))
						continue;
					fx_setup(&f, size, be);
					fill_perm(perm, size, how);
					f.t.perm = perm;
					for (uint32_t i = 0; i < n; i++)
						heads[i] = tr_add_chain(&f.t, len, len > 1, 64);
					tr_publish(&f.t);
					r0 = vrm_ux_reads;
					VRM_EQ(fx_kick(&f, &chains), VRM_OK);
					calls = vrm_ux_reads.calls - r0.calls;
					bytes = vrm_ux_reads.bytes - r0.bytes;
					VRM_EQ(chains, n);
					for (uint32_t i = 0; i < n; i++)
						if (!VRM_EQ(tr_le(&f.sh->avail.ring[i], 2), heads[i]))
							break;
					for (uint32_t d = 0; d < n * len; d++)
						if (!shadow_matches_guest(&f, perm[d]))
							break;
					VRM_CHECK(calls <= 5, "%lu guest reads, want <= 5", calls);
					VRM_CHECK(bytes <= 2u + 2u * n + 16u * (3u * size + 3 * 8),
						 "%lu bytes read for a table of %u bytes", bytes, 16u * size);
					VRM_EQ(f.dev.broken, 0);
					fx_fini(&f);
				}

	if (vrm_subtest("clustered_1024")) {
		/* 100 heads shuffled within 120 descriptors of a big ring: one
		 * pass finds their span, and that is what is read, not the
		 * table. */
		struct vrm_ux_reads r0;
		uint32_t chains;
		struct fx f;

		fx_setup(&f, 1024, 1);
		fill_perm(perm, 120, 2);
		for (unsigned i = 0; i < 100; i++) {
			uint16_t h = (uint16_t)(300 + perm[i]);

			tr_set_desc(&f.t, h, f.t.data_gpa + 64ull * h, 64, 0, 0);
			tr_push_head(&f.t, h);
		}
		tr_publish(&f.t);
		r0 = vrm_ux_reads;
		VRM_EQ(fx_kick(&f, &chains), VRM_OK);
		VRM_EQ(chains, 100);
		for (unsigned i = 0; i < 100; i++)
			if (!VRM_EQ(tr_le(&f.sh->avail.ring[i], 2), 300 + perm[i]) ||
			    !shadow_matches_guest(&f, (uint16_t)(300 + perm[i])))
				break;
		VRM_CHECK(vrm_ux_reads.calls - r0.calls <= 5, "%lu guest reads, want <= 5",
			 vrm_ux_reads.calls - r0.calls);
		VRM_CHECK(vrm_ux_reads.bytes - r0.bytes <= 2 + 200 + 16 * (100 + 8 + 120 + 8),
			 "%lu bytes read for 100 descriptors within 120", vrm_ux_reads.bytes - r0.bytes);
		fx_fini(&f);
	}
	if (vrm_subtest("sparse_1024")) {
		static const uint16_t far[] = { 900, 10, 500, 300 };
		struct vrm_ux_reads r0;
		uint32_t chains;
		struct fx f;

		fx_setup(&f, 1024, 1);
		for (unsigned i = 0; i < 4; i++) {
			tr_set_desc(&f.t, far[i], f.t.data_gpa + 64ull * far[i], 64, 0, 0);
			tr_push_head(&f.t, far[i]);
		}
		tr_publish(&f.t);
		r0 = vrm_ux_reads;
		VRM_EQ(fx_kick(&f, &chains), VRM_OK);
		VRM_EQ(chains, 4);
		for (unsigned i = 0; i < 4; i++) {
			VRM_EQ(tr_le(&f.sh->avail.ring[i], 2), far[i]);
			shadow_matches_guest(&f, far[i]);
		}
		VRM_CHECK(vrm_ux_reads.bytes - r0.bytes <= 2 + 8 + 16 * 4 * 16,
			 "%lu bytes read for 4 descriptors", vrm_ux_reads.bytes - r0.bytes);
		fx_fini(&f);
	}
}

/* Free-running u16 indices: start just below the wrap and go round the
 * ring several times, completing as the backend would. */
VRM_TEST(wraparound)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 65530, size = 16;
		uint32_t chains, ret, total = 0;

		if (!vrm_subtest("u16_wrap_%s", order_name(be)))
			continue;
		fx_setup(&f, size, be);
		f.t.avail_idx = 65530;
		f.q->last_avail = f.q->last_used = 65530;
		tr_put_le(&f.sh->avail.idx, 65530, 2);
		tr_put_le(&f.sh->used.idx, 65530, 2);
		for (int round = 0; round < 10; round++) {
			uint16_t heads[5];

			for (int k = 0; k < 5; k++)
				heads[k] = tr_add_chain(&f.t, 2, 1, 32);
			tr_publish(&f.t);
			if (!VRM_EQ(fx_kick(&f, &chains), VRM_OK) || !VRM_EQ(chains, 5))
				break;
			for (int k = 0; k < 5; k++) {
				uint16_t slot = (uint16_t)(f.t.avail_idx - 5 + k) & (size - 1);

				VRM_EQ(tr_le(&f.sh->avail.ring[slot], 2), heads[k]);
				shadow_matches_guest(&f, heads[k]);
				backend_use(&f, &used, heads[k], 32);
			}
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), f.t.avail_idx);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 5);
			total += chains;
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 2, 2), used);
		}
		VRM_EQ(total, 50);
		VRM_EQ(f.q->last_avail, (uint16_t)(65530 + 50));
		VRM_EQ(f.dev.broken, 0);
		fx_fini(&f);
	}
}

VRM_TEST(used)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t chains, ret;

		if (vrm_subtest("back_to_guest_order_%s", order_name(be))) {
			fx_setup(&f, 32, be);
			tr_add_chain(&f.t, 2, 1, 64);		/* head 0 */
			tr_add_chain(&f.t, 1, 1, 0xc0000);	/* head 2 */
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			backend_use(&f, &used, 2, 0x0a0b0c);
			backend_use(&f, &used, 0, 17);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 2, 2), 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 4, 4), 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 8, 4), 0x0a0b0c);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 12, 4), 0);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 16, 4), 17);
			VRM_EQ(f.st.used, 2);
			/* The freed descriptors may be reused by the guest. */
			f.t.next_desc = 0;
			tr_add_chain(&f.t, 3, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			fx_fini(&f);
		}
	}
}

static uint32_t bk_kick_ref(void *ctx, uint32_t *chains)
{
	return fx_kick(ctx, chains);
}

static struct bk fx_bk(struct fx *f)
{
	return (struct bk){ &f->t, &f->dev, f->q, f->sh, bk_kick_ref, f, 0 };
}

/* What the back-end can write (the shadow ring) steers none of the used
 * path's writes, and bounds none of what it passes on (backend.h). */
VRM_TEST(hostile_backend)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		struct bk b;

		if (vrm_subtest("rx_header_address_rewritten_%s", order_name(be))) {
			fx_setup(&f, 16, be);
			b = fx_bk(&f);
			bk_rx_redirect(&b);
			fx_fini(&f);
		}
		for (int over = -1; over < BK_NCHAINS; over++) {
			if (!vrm_subtest("used_len_%s%d_%s", over < 0 ? "all_within" : "over_at_",
					over < 0 ? BK_NCHAINS : over, order_name(be)))
				continue;
			fx_setup(&f, 32, be);
			b = fx_bk(&f);
			bk_used_len(&b, over);
			fx_fini(&f);
		}
		/* A 10-byte legacy RX header: the back-end was offered the
		 * 12-byte slot, and counts it. */
		if (vrm_subtest("used_len_rx_slot_%s", order_name(be))) {
			uint16_t used = 0;
			uint32_t chains, ret;

			for (int over = 0; over <= 1; over++) {
				fx_setup(&f, 16, be);
				used = 0;
				f.q->net_mode = VRM_NET_RX_SLOT;
				f.q->net_hdr_len = 10;
				f.q->hdr_gpa = 0x700000000ull;
				tr_add_chain(&f.t, 2, 2, 1500);
				tr_set_desc(&f.t, 0, f.t.data_gpa, 10,
					    VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, 1);
				tr_publish(&f.t);
				VRM_EQ(fx_kick(&f, &chains), VRM_OK);
				backend_use(&f, &used, 0, 12 + 1500 + over);
				VRM_EQ(vrm_ux_complete(&f.rq, &ret), over ? VRM_USED_LEN : VRM_OK);
				if (!over)
					VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 8, 4), 10 + 1500);
				fx_fini(&f);
			}
		}
	}
}

/* virtio-net headers (struct vrm_queue net_mode): written by hand in the
 * guest's order, checked byte by byte on the shadow side. */
#define NET_HDR_GPA 0x700000000ull	/* where the backend sees the slots */

static void put_net_hdr(struct fx *f, uint64_t gpa, int hlen, uint16_t nb)
{
	f->t.mem[gpa] = 0x01;			/* flags: NEEDS_CSUM */
	f->t.mem[gpa + 1] = 0x03;		/* gso_type */
	tr_put(&f->t, gpa + 2, 0x1234, 2);	/* hdr_len */
	tr_put(&f->t, gpa + 4, 0x5678, 2);	/* gso_size */
	tr_put(&f->t, gpa + 6, 0x0102, 2);	/* csum_start */
	tr_put(&f->t, gpa + 8, 0x0304, 2);	/* csum_offset */
	if (hlen == 12)
		tr_put(&f->t, gpa + 10, nb, 2);	/* num_buffers */
}

static void net_queue(struct fx *f, uint8_t mode, uint8_t hlen)
{
	f->q->net_mode = mode;
	f->q->net_hdr_len = hlen;
	f->q->hdr_gpa = NET_HDR_GPA;
}

/* What a modern backend writes: the 12-byte little-endian header. */
static void put_modern_hdr(uint8_t *p, uint16_t nb)
{
	static const uint8_t h[10] = { 0x01, 0x03, 0x34, 0x12, 0x78, 0x56, 0x02, 0x01, 0x04, 0x03 };

	memcpy(p, h, sizeof(h));
	tr_put_le(p + 10, nb, 2);
}

static bool guest_hdr_is(struct fx *f, uint64_t gpa, int hlen, uint16_t nb)
{
	return VRM_EQ(f->t.mem[gpa], 0x01) && VRM_EQ(f->t.mem[gpa + 1], 0x03) &&
	       VRM_EQ(tr_get(&f->t, gpa + 2, 2), 0x1234) && VRM_EQ(tr_get(&f->t, gpa + 4, 2), 0x5678) &&
	       VRM_EQ(tr_get(&f->t, gpa + 6, 2), 0x0102) && VRM_EQ(tr_get(&f->t, gpa + 8, 2), 0x0304) &&
	       (hlen == 10 || VRM_EQ(tr_get(&f->t, gpa + 10, 2), nb));
}

VRM_TEST(net_headers)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t chains, ret;

		for (int hlen = 10; hlen <= 12; hlen += 2) {
			if (!vrm_subtest("tx_slot_%d_%s", hlen, order_name(be)))
				continue;
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_TX_SLOT, (uint8_t)hlen);
			tr_add_chain(&f.t, 2, 0, 64);	/* header + frame */
			tr_set_desc(&f.t, 0, f.t.data_gpa, (uint32_t)hlen, VRM_VRING_DESC_F_NEXT, 1);
			put_net_hdr(&f, f.t.data_gpa, hlen, 7);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			/* The header descriptor now points at slot 0, 12 bytes. */
			VRM_EQ(tr_le(&f.sh->desc[0].addr, 8), NET_HDR_GPA);
			VRM_EQ(tr_le(&f.sh->desc[0].len, 4), 12);
			VRM_EQ(tr_le(&f.sh->desc[0].flags, 2), VRM_VRING_DESC_F_NEXT);
			VRM_EQ(tr_le(&f.sh->desc[0].next, 2), 1);
			shadow_matches_guest(&f, 1);
			{
				uint8_t want[12];

				put_modern_hdr(want, 0);	/* num_buffers 0 on TX */
				VRM_EQ(memcmp(f.sh->hdr[0], want, 12), 0);
			}
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
		/* A mergeable RX buffer must be device-writable and hold the
		 * 12-byte header, or the used path has nowhere to put it: one
		 * such buffer among good ones breaks the device, and only the
		 * good ones before it are published (the fast path for single
		 * descriptors checks what the general step checks). */
		for (int bad = 0; bad < 2; bad++) {
			if (!vrm_subtest("rx_inplace_%s_%s", bad ? "read_only" : "shorter_than_header",
					order_name(be)))
				continue;
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_RX_INPLACE, 12);
			for (int i = 0; i < 5; i++)
				tr_add_chain(&f.t, 1, 1, 1500);
			tr_set_desc(&f.t, 3, f.t.data_gpa + 64 * 3, bad ? 1500 : 11,
				    bad ? 0 : VRM_VRING_DESC_F_WRITE, 0);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_NET_HDR);
			VRM_EQ(f.dev.broken, VRM_NET_HDR);
			VRM_EQ(f.st.errors[VRM_NET_HDR], 1);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 3);
			fx_fini(&f);
		}
		if (vrm_subtest("tx_header_not_alone_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_TX_SLOT, 12);
			tr_add_chain(&f.t, 1, 0, 200);	/* header + frame in one */
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_NET_HDR);
			VRM_EQ(f.dev.broken, VRM_NET_HDR);
			VRM_EQ(f.st.errors[VRM_NET_HDR], 1);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 0);
			fx_fini(&f);
		}
		if (vrm_subtest("rx_slot_10_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			used = 0;
			net_queue(&f, VRM_NET_RX_SLOT, 10);
			tr_add_chain(&f.t, 2, 2, 1500);
			tr_set_desc(&f.t, 0, f.t.data_gpa, 10,
				    VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, 1);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(tr_le(&f.sh->desc[0].addr, 8), NET_HDR_GPA);
			VRM_EQ(tr_le(&f.sh->desc[0].len, 4), 12);
			VRM_EQ(tr_le(&f.sh->desc[0].flags, 2),
			      VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE);
			/* The backend fills the slot and 100 bytes of frame. */
			put_modern_hdr(f.sh->hdr[0], 1);
			backend_use(&f, &used, 0, 12 + 100);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 1);
			guest_hdr_is(&f, f.t.data_gpa, 10, 0);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 8, 4), 10 + 100);
			fx_fini(&f);
		}
		if (vrm_subtest("rx_inplace_merged_%s", order_name(be))) {
			uint64_t b0, b1, b2;

			fx_setup(&f, 64, be);
			used = 0;
			net_queue(&f, VRM_NET_RX_INPLACE, 12);
			for (int i = 0; i < 3; i++)
				tr_add_chain(&f.t, 1, 1, 64);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 3);
			b0 = tr_le(&f.sh->desc[0].addr, 8);
			b1 = tr_le(&f.sh->desc[1].addr, 8);
			b2 = tr_le(&f.sh->desc[2].addr, 8);
			/* One packet over buffers 0 and 1, one in buffer 2. */
			put_modern_hdr(f.t.mem + b0, 2);
			memset(f.t.mem + b1, 0xab, 12);		/* payload, not a header */
			put_modern_hdr(f.t.mem + b2, 1);
			backend_use(&f, &used, 0, 64);
			backend_use(&f, &used, 1, 30);
			backend_use(&f, &used, 2, 40);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 3);
			guest_hdr_is(&f, b0, 12, 2);
			VRM_EQ(f.t.mem[b1 + 10], 0xab);
			VRM_EQ(f.t.mem[b1 + 3], 0xab);
			guest_hdr_is(&f, b2, 12, 1);
			VRM_EQ(f.q->rx_merge_left, 0);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 4 + 8 + 4, 4), 30);
			fx_fini(&f);
		}
		if (vrm_subtest("rx_slot_header_too_short_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_RX_SLOT, 10);
			tr_add_chain(&f.t, 1, 1, 1500);	/* 10-byte header mode, one buffer */
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_NET_HDR);
			VRM_EQ(f.dev.broken, VRM_NET_HDR);
			fx_fini(&f);
		}
	}
}

/*
 * Chains have a fast path of their own (vrm_fast_chain) where they are
 * simple: at most VRM_FAST_CHAIN descriptors, all in the window and in one
 * region.  What it refuses goes to the general step, and a chain it gives
 * up on half-way must leave no ownership mark behind, or the general step
 * would find the chain's own head in flight and break the device.
 */
static bool chain_owned(struct fx *f, uint16_t head, uint16_t first, int n)
{
	for (int m = 0; m < n; m++) {
		const struct vrm_desc_state *ds = &f->q->desc_state[first + m];

		if (!VRM_EQ(ds->owner, head + 1) ||
		    !VRM_EQ(ds->next, m + 1 < n ? first + m + 1 : VRM_DESC_END))
			return false;
	}
	return true;
}

VRM_TEST(fast_chains)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint32_t chains;
		unsigned long fc0;

		for (int len = 2; len <= VRM_FAST_CHAIN + 1; len++) {
			uint16_t heads[3];

			if (!vrm_subtest("chains_of_%d_%s", len, order_name(be)))
				continue;
			fx_setup(&f, 64, be);
			for (int i = 0; i < 3; i++)
				heads[i] = tr_add_chain(&f.t, len, 1, 64);
			tr_publish(&f.t);
			fc0 = vrm_ux_fast_chains;
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 3);
			for (uint16_t d = 0; d < 3 * len; d++)
				if (!shadow_matches_guest(&f, d))
					break;
			for (int i = 0; i < 3; i++) {
				VRM_EQ(tr_le(&f.sh->avail.ring[i], 2), heads[i]);
				chain_owned(&f, heads[i], heads[i], len);
			}
			/* longer than VRM_FAST_CHAIN: the general step's */
			VRM_EQ(vrm_ux_fast_chains - fc0, len <= VRM_FAST_CHAIN ? 3 : 0);
			VRM_EQ(f.st.descs, 3 * len);
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
		if (vrm_subtest("across_regions_%s", order_name(be))) {
			/* Guest memory in two regions.  Chain 0-1 lies in the
			 * first; chain 2-3's frame in the second, so the fast
			 * path marks 2, meets 3 outside its region, takes the
			 * mark back and leaves the chain to the general step;
			 * chain 4-5 is then outside the last region used. */
			uint64_t split;

			fx_setup(&f, 64, be);
			split = f.t.mem_size / 2;
			f.dev.nregions = 2;
			f.dev.regions[0].size = split;
			f.dev.regions[1].gpa = split;
			f.dev.regions[1].size = f.t.mem_size - split;
			f.dev.regions[1].vmm_va = f.dev.regions[0].vmm_va + split;
			f.dev.regions[1].mediator_va = f.dev.regions[0].mediator_va + split;
			for (int i = 0; i < 3; i++)
				tr_add_chain(&f.t, 2, 1, 64);
			tr_set_desc(&f.t, 3, split + 4096, 64, VRM_VRING_DESC_F_WRITE, 0);
			tr_publish(&f.t);
			fc0 = vrm_ux_fast_chains;
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 3);
			for (uint16_t d = 0; d < 6; d++)
				if (!shadow_matches_guest(&f, d))
					break;
			for (uint16_t h = 0; h < 6; h += 2)
				chain_owned(&f, h, h, 2);
			VRM_EQ(vrm_ux_fast_chains - fc0, 1);
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
		if (vrm_subtest("loop_%s", order_name(be))) {
			/* 0 -> 1 -> 0: the fast path meets its own mark, takes
			 * both back, and the general step names the loop. */
			fx_setup(&f, 64, be);
			tr_set_desc(&f.t, 0, f.t.data_gpa, 64, VRM_VRING_DESC_F_NEXT, 1);
			tr_set_desc(&f.t, 1, f.t.data_gpa + 64, 64, VRM_VRING_DESC_F_NEXT, 0);
			tr_push_head(&f.t, 0);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_CHAIN_LOOP);
			VRM_EQ(chains, 0);
			VRM_EQ(f.dev.broken, VRM_CHAIN_LOOP);
			fx_fini(&f);
		}
		if (vrm_subtest("net_tx_%s", order_name(be))) {
			/* A legacy virtio-net TX queue: header and frame, each
			 * header converted into its slot on the fast path. */
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_TX_SLOT, 12);
			for (uint16_t h = 0; h < 6; h += 2) {
				tr_add_chain(&f.t, 2, 0, 64);
				tr_set_desc(&f.t, h, f.t.data_gpa + 64ull * h, 12, VRM_VRING_DESC_F_NEXT,
					    (uint16_t)(h + 1));
				put_net_hdr(&f, f.t.data_gpa + 64ull * h, 12, 7);
			}
			tr_publish(&f.t);
			fc0 = vrm_ux_fast_chains;
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 3);
			VRM_EQ(vrm_ux_fast_chains - fc0, 3);
			for (uint16_t h = 0; h < 6; h += 2) {
				uint8_t want[12];

				VRM_EQ(tr_le(&f.sh->desc[h].addr, 8), NET_HDR_GPA + 16ull * h);
				VRM_EQ(tr_le(&f.sh->desc[h].len, 4), 12);
				VRM_EQ(tr_le(&f.sh->desc[h].flags, 2), VRM_VRING_DESC_F_NEXT);
				VRM_EQ(tr_le(&f.sh->desc[h].next, 2), h + 1);
				shadow_matches_guest(&f, (uint16_t)(h + 1));
				put_modern_hdr(want, 0);	/* num_buffers 0 on TX */
				VRM_EQ(memcmp(f.sh->hdr[h], want, 12), 0);
				chain_owned(&f, h, h, 2);
			}
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
	}
}

/* Each class: the verdict is named, the device is broken, the counter went
 * up, nothing after the bad entry was published, the device stays broken,
 * and a second device next to it keeps translating. */
VRM_TEST(hostile)
{
	for (unsigned i = 0; i < sizeof(hostiles) / sizeof(hostiles[0]); i++) {
		for (int be = 0; be <= 1; be++) {
			const struct hostile *h = &hostiles[i];
			struct fx f, other;
			uint32_t chains, ret, v;

			if (!vrm_subtest("%s_%s", h->name, order_name(be)))
				continue;
			fx_setup(&f, 16, be);
			fx_setup(&other, 16, !be);
			tr_add_chain(&f.t, 1, 0, 8);	/* one good chain first */
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			h->make(&(struct hctx){ &f.t, f.q, f.sh });
			v = h->used_side ? vrm_ux_complete(&f.rq, &ret) : fx_kick(&f, &chains);
			VRM_CHECK(v == h->verdict, "verdict: expected %s, got %s",
				 vrm_verdict_name(h->verdict), vrm_verdict_name(v));
			VRM_EQ(f.dev.broken, h->verdict);
			VRM_EQ(f.st.errors[h->verdict], 1);
			if (!h->used_side)
				VRM_EQ(tr_le(&f.sh->avail.idx, 2), 1);
			/* Broken stays broken: a valid kick translates nothing. */
			tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), h->verdict);
			VRM_EQ(chains, 0);
			/* The neighbour is unaffected. */
			tr_add_chain(&other.t, 2, 1, 8);
			tr_publish(&other.t);
			VRM_EQ(fx_kick(&other, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			VRM_EQ(other.dev.broken, 0);
			fx_fini(&other);
			fx_fini(&f);
		}
	}
}

VRM_TEST(lock)
{
	struct vrm_queue q = { 0 };

	if (vrm_subtest("contended_kick_is_redone")) {
		VRM_TRUE(vrm_ux_queue_setup(&q, 0, 8, 0, 0, 0) == 0);
		/* Holder takes the lock; a second kicker fails and leaves
		 * kick_pending; the holder's unlock tells it to go again. */
		struct vrm_device dev = { 0 };
		struct vrm_shadow_queue *sh = aligned_alloc(4096, sizeof(*sh));
		struct vrm_qstats st = { 0 };
		struct vrm_ux_queue rq = { &dev, &q, sh, vrm_ux_scratch_new(), &st };
		uint32_t chains;

		q.busy = 1;
		VRM_EQ(vrm_ux_kick(&rq, &chains), VRM_OK);
		VRM_EQ(st.contended, 1);
		VRM_EQ(q.kick_pending, 1);
		/* The holder's unlock sees the pending kick and re-takes the
		 * lock so it translates once more. */
		VRM_TRUE(vrm_queue_unlock_for_test(&q));
		VRM_EQ(q.busy, 1);
		VRM_EQ(q.kick_pending, 0);
		VRM_TRUE(!vrm_queue_unlock_for_test(&q));
		VRM_EQ(q.busy, 0);
		vrm_ux_scratch_free(rq.scr);
		free(sh);
	}
}

static uint32_t race_kick_ref(void *ctx)
{
	uint32_t chains;

	return fx_kick(ctx, &chains);
}

VRM_TEST(guest_rewrites_while_read)
{
	struct fx f;
	long n[3], flips;

	if (!vrm_subtest("copy_once"))
		return;
	fx_setup(&f, 8, 1);
	flips = race_copy_once(&f.t, &f.dev, f.q, f.sh, 0, race_kick_ref, &f, 20000, n);
	race_copy_once_verify("", flips, n);
	fx_fini(&f);
}

static uint32_t storm_kick_ref(void *ctx, uint32_t *chains)
{
	return vrm_ux_kick(ctx, chains);
}

/* The concurrency case through the reference: 1e6 kicks against a
 * guest thread rewriting its ring, in the foreign byte order of the host. */
VRM_TEST(guest_storm)
{
	struct tr_ring t;
	struct vrm_device dev;
	struct vrm_queue *q = calloc(1, sizeof(*q));
	struct vrm_shadow_queue *sh = aligned_alloc(4096, sizeof(*sh));
	struct vrm_qstats st = { 0 };
	struct storm_result res;
	const long kicks = 1000000;
	int foreign = __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__;

	if (!vrm_subtest("rewrites_during_1e6_kicks") || !VRM_TRUE(q && sh) ||
	    !VRM_EQ(storm_mem(&t, 16, foreign, 1 << 20), 0)) {
		free(q);
		free(sh);
		return;
	}
	tr_device(&t, &dev, getpid());
	vrm_ux_shadow_reset(sh);
	struct vrm_ux_queue rq = { &dev, q, sh, vrm_ux_scratch_new(), &st };

	VRM_EQ(race_storm(&t, &dev, q, sh, 0, storm_kick_ref, &rq, kicks, &res), 0);
	race_storm_verify("", &res, kicks);
	vrm_ux_scratch_free(rq.scr);
	storm_mem_free(&t);
	free(sh);
	free(q);
}

/*
 * Crash consistency (kill -9 of the daemon anywhere).  The core is
 * built here with VRM_CRASH_TEST: every VRM_CRASH_POINT calls a hook, which
 * "kills" the run at the chosen hit by jumping out of it, leaving the queue,
 * shadow ring and guest memory exactly as a killed daemon would.  Then the
 * resume a new daemon does, then the rest of the work: guest memory, shadow
 * ring and queue state must equal those of a run that never crashed, so no
 * used entry was lost, none returned twice, no header converted twice, and
 * the descriptors are free again for the guest's next round.
 */
#include <setjmp.h>

static jmp_buf crash_jb;
static int crash_point, crash_hits;

static void crash_hook(int point)
{
	if (point == crash_point && --crash_hits == 0)
		longjmp(crash_jb, 1);
}

/* Runs `complete` (true) or a kick; true when it was killed on the way. */
static bool run_killed_at(struct fx *f, bool complete, int point, int hit)
{
	uint32_t n;

	crash_point = point;
	crash_hits = hit;
	vrm_crash_hook = crash_hook;
	if (setjmp(crash_jb)) {
		vrm_crash_hook = NULL;
		return true;
	}
	if (complete)
		vrm_ux_complete(&f->rq, &n);
	else
		vrm_ux_kick(&f->rq, &n);
	vrm_crash_hook = NULL;
	return false;
}

struct crash_case {
	const char *name;
	uint8_t mode, hlen;
};

static const struct crash_case crash_cases[] = {
	{ "plain", VRM_NET_NONE, 0 },
	{ "tx_slot", VRM_NET_TX_SLOT, 10 },
	{ "rx_slot", VRM_NET_RX_SLOT, 10 },
	{ "rx_inplace", VRM_NET_RX_INPLACE, 12 },
};
#define CRASH_CHAINS 6

/* The guest posts CRASH_CHAINS chains of the case's shape. */
static void crash_post(struct fx *f, const struct crash_case *c)
{
	f->t.next_desc = 0;
	for (int i = 0; i < CRASH_CHAINS; i++) {
		uint16_t h;

		switch (c->mode) {
		case VRM_NET_TX_SLOT:
			h = tr_add_chain(&f->t, 2, 0, 64);
			tr_set_desc(&f->t, h, f->t.data_gpa + 64ull * h, c->hlen,
				    VRM_VRING_DESC_F_NEXT, (uint16_t)(h + 1));
			put_net_hdr(f, f->t.data_gpa + 64ull * h, c->hlen, 0);
			break;
		case VRM_NET_RX_SLOT:
			h = tr_add_chain(&f->t, 2, 2, 64);
			tr_set_desc(&f->t, h, f->t.data_gpa + 64ull * h, c->hlen,
				    VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, (uint16_t)(h + 1));
			break;
		case VRM_NET_RX_INPLACE:
			tr_add_chain(&f->t, 1, 1, 64);
			break;
		default:
			tr_add_chain(&f->t, 2, 1, 64);
		}
	}
	tr_publish(&f->t);
}

/* The back-end returns every chain, last first; RX headers as a modern
 * back-end writes them (in place: packets of 2, 1 and 3 buffers). */
static void crash_backend(struct fx *f, const struct crash_case *c, uint16_t *used)
{
	static const uint16_t nb[CRASH_CHAINS] = { 2, 0, 1, 3, 0, 0 };
	uint16_t per = c->mode == VRM_NET_RX_INPLACE ? 1 : 2;

	for (int i = 0; i < CRASH_CHAINS; i++) {
		int k = c->mode == VRM_NET_RX_INPLACE ? i : CRASH_CHAINS - 1 - i;
		uint16_t h = (uint16_t)(k * per);

		if (c->mode == VRM_NET_RX_SLOT)
			put_modern_hdr(f->sh->hdr[h], 1);
		if (c->mode == VRM_NET_RX_INPLACE) {
			uint8_t *b = f->t.mem + tr_le(&f->sh->desc[h].addr, 8);

			if (nb[k])
				put_modern_hdr(b, nb[k]);
			else
				memset(b, 0xa0 + k, 12);	/* payload, not a header */
		}
		tr_backend_use(f->sh, f->q->size, used, h, 12u + 40u + (uint32_t)k);
	}
}

/* Everything the guest, the back-end and the next kick can see. */
static bool crash_same(struct fx *a, struct fx *b)
{
	return VRM_EQ(memcmp(a->t.mem, b->t.mem, a->t.mem_size), 0) &&
	       VRM_EQ(memcmp(a->sh, b->sh, sizeof(*a->sh)), 0) &&
	       VRM_EQ(b->q->last_avail, a->q->last_avail) &&
	       VRM_EQ(b->q->last_used, a->q->last_used) &&
	       VRM_EQ(b->q->rx_merge_left, a->q->rx_merge_left) &&
	       VRM_EQ(memcmp(a->q->desc_state, b->q->desc_state, sizeof(a->q->desc_state)), 0) &&
	       VRM_EQ(b->q->busy, 0) && VRM_EQ(b->dev.broken, 0);
}

/* The reference: the same work, never killed. */
static void crash_reference(struct fx *f, int be, const struct crash_case *c, bool kick_only)
{
	uint16_t used = 0;
	uint32_t n;

	fx_setup(f, 16, be);
	net_queue(f, c->mode, c->hlen);
	crash_post(f, c);
	VRM_EQ(fx_kick(f, &n), VRM_OK);
	if (kick_only)
		return;
	crash_backend(f, c, &used);
	VRM_EQ(vrm_ux_complete(&f->rq, &n), VRM_OK);
	VRM_EQ(n, CRASH_CHAINS);
}

VRM_TEST(crash_resume)
{
	static const int complete_points[] = { 1, 2, 3, 4, 5, 6 }, kick_points[] = { 10, 11, 12, 13 };

	vrm_ux_journal = true;		/* as the daemon runs */
	for (int be = 0; be <= 1; be++) {
		for (unsigned ci = 0; ci < sizeof(crash_cases) / sizeof(crash_cases[0]); ci++) {
			const struct crash_case *c = &crash_cases[ci];
			unsigned crashes = 0, cases = 0;
			struct fx ref, f;
			uint32_t n;

			if (!vrm_subtest("completion_%s_%s", c->name, order_name(be)))
				continue;
			crash_reference(&ref, be, c, false);
			for (unsigned p = 0; p < 6; p++) {
				for (int hit = 1; hit <= CRASH_CHAINS; hit++) {
					uint16_t used = 0;

					fx_setup(&f, 16, be);
					net_queue(&f, c->mode, c->hlen);
					crash_post(&f, c);
					VRM_EQ(fx_kick(&f, &n), VRM_OK);
					crash_backend(&f, c, &used);
					cases++;
					if (run_killed_at(&f, true, complete_points[p], hit)) {
						crashes++;
						VRM_EQ(vrm_ux_resume(&f.rq), VRM_OK);
						VRM_EQ(vrm_ux_complete(&f.rq, &n), VRM_OK);
					}
					if (!crash_same(&ref, &f))
						fprintf(stderr, "      (killed at point %d, hit %d)\n",
							complete_points[p], hit);
					/* The guest's next round takes the same descriptors. */
					crash_post(&f, c);
					VRM_EQ(fx_kick(&f, &n), VRM_OK);
					VRM_EQ(n, CRASH_CHAINS);
					fx_fini(&f);
				}
			}
			if (vrm_test_verbose())
				printf("      %u runs, %u killed half-way\n", cases, crashes);
			VRM_TRUE(crashes >= 5 * CRASH_CHAINS);
			fx_fini(&ref);
		}
		for (unsigned ci = 0; ci < sizeof(crash_cases) / sizeof(crash_cases[0]); ci++) {
			const struct crash_case *c = &crash_cases[ci];
			struct fx ref, f;
			unsigned crashes = 0;
			uint32_t n;

			if (!vrm_subtest("kick_%s_%s", c->name, order_name(be)))
				continue;
			crash_reference(&ref, be, c, true);
			for (unsigned p = 0; p < 4; p++) {
				fx_setup(&f, 16, be);
				net_queue(&f, c->mode, c->hlen);
				crash_post(&f, c);
				if (run_killed_at(&f, false, kick_points[p], 1)) {
					crashes++;
					VRM_EQ(f.q->busy, 1);	/* the dead daemon's lock */
					VRM_EQ(vrm_ux_resume(&f.rq), VRM_OK);
					VRM_EQ(fx_kick(&f, &n), VRM_OK);
				}
				if (!crash_same(&ref, &f))
					fprintf(stderr, "      (killed at point %d)\n", kick_points[p]);
				fx_fini(&f);
			}
			VRM_EQ(crashes, 4);
			fx_fini(&ref);
		}
	}
	vrm_ux_journal = false;
}

/* The guest may post a chain again the moment the used idx moves: the chain
 * must be free by then.  The crash hook stands in for the guest here,
 * right after each commit. */
static struct fx *reuse_fx;
static unsigned reuse_ok, reuse_bad;

static void reuse_hook(int point)
{
	struct fx *f = reuse_fx;
	uint16_t g, id;
	uint32_t n;

	if (point != 5)
		return;
	g = (uint16_t)tr_get(&f->t, tr_used_gpa(&f->t) + 2, 2);
	id = (uint16_t)tr_get(&f->t, tr_used_gpa(&f->t) + 4 + 8ull * ((g - 1) & (f->t.size - 1)), 4);
	tr_push_head(&f->t, id);
	tr_publish(&f->t);
	vrm_crash_hook = NULL;		/* no recursion through the kick */
	if (vrm_ux_kick(&f->rq, &n) == VRM_OK && n == 1)
		reuse_ok++;
	else
		reuse_bad++;
	vrm_crash_hook = reuse_hook;
}

VRM_TEST(guest_reuses_at_commit)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t n;

		if (!vrm_subtest("chain_free_before_used_idx_%s", order_name(be)))
			continue;
		fx_setup(&f, 16, be);
		crash_post(&f, &crash_cases[0]);
		VRM_EQ(fx_kick(&f, &n), VRM_OK);
		crash_backend(&f, &crash_cases[0], &used);
		reuse_fx = &f;
		reuse_ok = reuse_bad = 0;
		vrm_crash_hook = reuse_hook;
		VRM_EQ(vrm_ux_complete(&f.rq, &n), VRM_OK);
		vrm_crash_hook = NULL;
		VRM_EQ(n, CRASH_CHAINS);
		VRM_EQ(reuse_ok, CRASH_CHAINS);
		VRM_EQ(reuse_bad, 0);
		VRM_EQ(f.dev.broken, 0);
		fx_fini(&f);
	}
}

/*
 * The used path asks the guest's avail flags whether it wants its call
 * (vrm_guest_wants_call): in the guest's byte order, and after a full fence
 * that pairs with the guest's between clearing VRING_AVAIL_F_NO_INTERRUPT
 * and its last look at the used idx before it sleeps.
 */
static void gw_flags(struct fx *f, uint16_t v)
{
	__atomic_store_n((uint16_t *)(f->t.mem + tr_avail_gpa(&f->t)),
			 vrm_swab16_if(f->dev.order, v), __ATOMIC_RELAXED);
}

static uint16_t gw_used_idx(struct fx *f)
{
	return vrm_swab16_if(f->dev.order, __atomic_load_n((uint16_t *)(f->t.mem + tr_used_gpa(&f->t) + 2),
							  __ATOMIC_ACQUIRE));
}

/* The device side of the race: the back-end returns every chain it finds
 * in the shadow ring at once, then the used path runs and calls the guest
 * when it wants. */
struct gw {
	struct fx *f;
	atomic_int stop;
	atomic_ulong calls;
	pthread_t thread;
};

static void *gw_device(void *arg)
{
	struct gw *g = arg;
	struct fx *f = g->f;
	uint16_t seen = 0, used = 0;

	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		uint16_t a = (uint16_t)tr_le(&f->sh->avail.idx, 2);
		uint32_t n;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (a == seen)
			continue;
		for (; seen != a; seen++)
			backend_use(f, &used, (uint32_t)tr_le(&f->sh->avail.ring[seen & (f->q->size - 1)], 2), 1);
		if (vrm_ux_complete(&f->rq, &n) != VRM_OK)
			break;
		if (n && vrm_ux_guest_wants_call(&f->rq))
			atomic_fetch_add(&g->calls, 1);
	}
	return NULL;
}

static uint64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

VRM_TEST(guest_wants_call)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint32_t chains, ret;
		uint16_t used = 0;

		if (vrm_subtest("flag_in_guest_order_%s", order_name(be))) {
			fx_setup(&f, 8, be);
			tr_add_chain(&f.t, 1, 1, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			backend_use(&f, &used, 0, 8);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 1);
			VRM_TRUE(vrm_ux_guest_wants_call(&f.rq));
			gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
			VRM_TRUE(!vrm_ux_guest_wants_call(&f.rq));
			/* Other bits are not the guest's "no": only bit 0 counts,
			 * in the guest's order (0x0100 is bit 8 in it). */
			gw_flags(&f, 0x0100);
			VRM_TRUE(vrm_ux_guest_wants_call(&f.rq));
			/* Flags it cannot read: the guest is told. */
			gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
			f.q->avail_va = tr_va(&f.t, f.t.mem_size + 4096);
			VRM_TRUE(vrm_ux_guest_wants_call(&f.rq));
			fx_fini(&f);
		}
	}
	/* The driver polls with NO_INTERRUPT set, then clears it, fences and
	 * looks at its used idx once more before it sleeps; it must never
	 * sleep through a completion the used path did not call it for. */
	for (int be = 0; be <= 1; be++) {
		enum { ROUNDS = 20000 };
		unsigned lost = 0, slept = 0, polled = 0, stuck = 0;
		struct gw g = { 0 };
		struct fx f;
		uint32_t chains;

		if (!vrm_subtest("no_lost_wakeup_%s", order_name(be)))
			continue;
		fx_setup(&f, 8, be);
		g.f = &f;
		gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
		if (!VRM_EQ(pthread_create(&g.thread, NULL, gw_device, &g), 0)) {
			fx_fini(&f);
			continue;
		}
		for (unsigned i = 0; i < ROUNDS && !stuck; i++) {
			unsigned long calls0;
			uint64_t t0;

			f.t.next_desc = f.t.avail_idx % 8;	/* one chain in flight */
			tr_add_chain(&f.t, 1, 1, 8);
			tr_publish(&f.t);
			if (!VRM_EQ(fx_kick(&f, &chains), VRM_OK))
				break;
			for (unsigned s = i % 97; s; s--)	/* poll for a varying while */
				__asm__ __volatile__("" ::: "memory");
			if (gw_used_idx(&f) == f.t.avail_idx) {
				polled++;
				continue;
			}
			calls0 = atomic_load(&g.calls);
			gw_flags(&f, 0);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (gw_used_idx(&f) != f.t.avail_idx) {
				/* Asleep until called, 5 s at most. */
				slept++;
				t0 = gw_now_ms();
				while (atomic_load(&g.calls) == calls0) {
					if (gw_now_ms() - t0 > 5000) {
						if (gw_used_idx(&f) == f.t.avail_idx)
							lost++;	/* came back, no call */
						else
							stuck++;
						break;
					}
				}
			}
			/* Whatever woke it, the chain is back before the next. */
			t0 = gw_now_ms();
			while (gw_used_idx(&f) != f.t.avail_idx && gw_now_ms() - t0 < 5000)
				;
			gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
		}
		atomic_store(&g.stop, 1);
		pthread_join(g.thread, NULL);
		VRM_EQ(lost, 0);
		VRM_EQ(stuck, 0);
		VRM_EQ(f.dev.broken, 0);
		VRM_EQ(gw_used_idx(&f), f.t.avail_idx);
		if (vrm_test_verbose())
			printf("      %u rounds: %u found it polling, %u slept and were called, %lu calls\n",
			       ROUNDS, polled, slept, atomic_load(&g.calls));
		fx_fini(&f);
	}
}

/*
 * A chain's end is its last descriptor, whose link in the queue state is
 * VRM_DESC_END: the used path's walk (vrm_chain_len) must not run on into
 * descriptor 0 when that one belongs to the same chain (with 0 as the last
 * link, a chain through descriptor 0 would be walked round to the ring's
 * size, once per lap of the ring).  The journal keeps the length.
 */
VRM_TEST(chain_end_known)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t chains, ret;

		if (!vrm_subtest("through_descriptor_0_%s", order_name(be)))
			continue;
		fx_setup(&f, 8, be);
		tr_add_chain(&f.t, 1, 1, 16);		/* head 0, alone */
		tr_publish(&f.t);
		VRM_EQ(fx_kick(&f, &chains), VRM_OK);
		backend_use(&f, &used, 0, 16);
		VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
		VRM_EQ(ret, 1);
		VRM_EQ(f.q->jr_len, 1);			/* was 8: round the ring */
		f.t.next_desc = 7;
		tr_add_chain(&f.t, 3, 1, 16);		/* 7 -> 0 -> 1 */
		tr_publish(&f.t);
		VRM_EQ(fx_kick(&f, &chains), VRM_OK);
		VRM_EQ(chains, 1);
		backend_use(&f, &used, 7, 16);
		VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
		VRM_EQ(ret, 1);
		VRM_EQ(f.q->jr_len, 3);			/* was 8 */
		/* All three are free again: the guest may post them anew. */
		f.t.next_desc = 7;
		tr_add_chain(&f.t, 3, 1, 16);
		tr_publish(&f.t);
		VRM_EQ(fx_kick(&f, &chains), VRM_OK);
		VRM_EQ(chains, 1);
		VRM_EQ(f.dev.broken, 0);
		fx_fini(&f);
	}
}
