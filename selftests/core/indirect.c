// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Indirect tables through the userspace reference: the shadow table, the
 * used path, headers behind an indirect descriptor.  A guest rewriting its
 * table while the mediator reads it: races.c (copy_once_indirect). */
#include <string.h>

#include <vringmed/xlate_blk.h>

#include "test.h"
#include "fixture.h"
#include "core.h"

/* The shadow entry j of head h's table. */
static const struct vrm_desc *itab(struct fx *f, uint16_t h, uint16_t j)
{
	return &f->sh->itab[h * vrm_itab_per(f->q->size) + j];
}

/* Head h's shadow descriptor points at its table of n entries. */
static bool shadow_head_is_table(struct fx *f, uint16_t h, uint32_t n)
{
	uint64_t want = f->q->hdr_gpa - VRM_SHADOW_HDR_OFF + VRM_SHADOW_ITAB_OFF +
			16ull * h * vrm_itab_per(f->q->size);

	return VRM_EQ(tr_le(&f->sh->desc[h].addr, 8), want) &&
	       VRM_EQ(tr_le(&f->sh->desc[h].len, 4), 16 * n) &&
	       VRM_EQ(tr_le(&f->sh->desc[h].flags, 2), VRM_VRING_DESC_F_INDIRECT);
}

/* Shadow entry j equals the guest's table entry at slot `at`, linked to
 * j + 1 where the guest's links on. */
static bool entry_matches(struct fx *f, uint16_t h, uint16_t j, uint16_t at)
{
	const struct vrm_desc *sd = itab(f, h, j);
	uint64_t g = tr_itab_gpa(&f->t, h) + 16ull * at;
	uint16_t flags = tr_get(&f->t, g + 12, 2);

	return VRM_EQ(tr_le(&sd->addr, 8), tr_get(&f->t, g, 8)) &&
	       VRM_EQ(tr_le(&sd->len, 4), tr_get(&f->t, g + 8, 4)) &&
	       VRM_EQ(tr_le(&sd->flags, 2), flags) &&
	       VRM_EQ(tr_le(&sd->next, 2), (flags & VRM_VRING_DESC_F_NEXT) ? j + 1 : 0);
}

VRM_TEST(indirect_tables)
{
	/* A walk starts at entry 0 and goes where the links say. */
	static const uint16_t scattered[] = { 0, 5, 7, 2, 6, 1, 4, 3 };

	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0, h[3];
		uint32_t chains, ret;

		if (vrm_subtest("walked_and_returned_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			h[0] = tr_add_indirect(&f.t, 3, 1, 100);
			h[1] = tr_add_chain(&f.t, 2, 1, 8);		/* direct between */
			h[2] = tr_add_indirect_at(&f.t, 8, 2, 40, scattered);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 3);
			VRM_EQ(f.st.indirect, 2);
			VRM_EQ(f.st.descs, 1 + 3 + 2 + 1 + 8);	/* heads count too */
			shadow_head_is_table(&f, h[0], 3);
			shadow_head_is_table(&f, h[2], 8);
			for (int j = 0; j < 3; j++)
				entry_matches(&f, h[0], j, j);
			/* Walked along the links, published in walk order. */
			for (int j = 0; j < 8; j++)
				entry_matches(&f, h[2], j, scattered[j]);
			shadow_matches_guest(&f, h[1]);
			/* One used entry per table, by its head, bounded by
			 * the table's writable bytes. */
			VRM_EQ(f.q->offered[h[0]], 100);
			VRM_EQ(f.q->offered[h[2]], 80);
			backend_use(&f, &used, h[2], 80);
			backend_use(&f, &used, h[0], 100);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 4, 4), h[2]);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 12, 4), h[0]);
			/* The heads are free again: the guest posts them anew. */
			f.t.next_desc = h[0];
			tr_add_indirect(&f.t, 2, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			shadow_head_is_table(&f, h[0], 2);
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
		/* The largest table a ring takes, and a ring whose heads share
		 * the room so that each gets fewer entries. */
		for (int size = 16; size <= 1024; size *= 64) {
			uint32_t per = vrm_itab_per((uint32_t)size);

			if (!vrm_subtest("largest_table_ring_%d_%s", size, order_name(be)))
				continue;
			fx_setup(&f, (uint16_t)size, be);
			f.t.next_desc = (uint16_t)(size - 1);	/* the last head */
			h[0] = tr_add_indirect(&f.t, (int)per, 1, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			shadow_head_is_table(&f, h[0], per);
			entry_matches(&f, h[0], (uint16_t)(per - 1), (uint16_t)(per - 1));
			VRM_EQ(per, size == 16 ? VRM_ITAB_MAX : VRM_ITAB_ENTRIES / 1024);
			/* Linux's virtio-net fills MAX_SKB_FRAGS + 2 = 19
			 * entries (a TSO frame, a big receive buffer). */
			VRM_TRUE(per >= 19);
			fx_fini(&f);
		}
	}
}

/* The first entry of a table is the header, as a direct chain's head. */
VRM_TEST(indirect_headers)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t h;
		uint32_t chains;

		if (vrm_subtest("net_tx_%s", order_name(be))) {
			uint8_t want[12];
			uint64_t hdr;

			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_TX_SLOT, 10);
			f.t.next_desc = 9;
			h = tr_add_indirect(&f.t, 3, 0, 200);
			hdr = f.t.data_gpa + 0x30000;
			tr_set_entry(&f.t, tr_itab_gpa(&f.t, h), 0, hdr, 10, VRM_VRING_DESC_F_NEXT, 1);
			put_net_hdr(&f, hdr, 10, 0);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			shadow_head_is_table(&f, h, 3);
			VRM_EQ(tr_le(&itab(&f, h, 0)->addr, 8), NET_HDR_GPA + 16ull * h);
			VRM_EQ(tr_le(&itab(&f, h, 0)->len, 4), 12);
			put_modern_hdr(want, 0);
			VRM_EQ(memcmp(f.sh->hdr[h], want, 12), 0);
			entry_matches(&f, h, 1, 1);
			fx_fini(&f);
		}
		if (vrm_subtest("net_tx_header_not_alone_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_TX_SLOT, 10);
			tr_add_indirect(&f.t, 2, 0, 200);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_NET_HDR);
			VRM_EQ(f.st.errors[VRM_NET_HDR], 1);
			fx_fini(&f);
		}
		if (vrm_subtest("blk_request_%s", order_name(be))) {
			uint64_t hdr;
			uint32_t v;

			fx_setup(&f, 64, be);
			f.q->net_mode = VRM_BLK_REQ;
			f.q->hdr_gpa = NET_HDR_GPA;
			f.t.next_desc = 5;
			h = tr_add_indirect(&f.t, 4, 3, 512);	/* header, read data x2, status */
			hdr = f.t.data_gpa + 0x30000;
			tr_set_entry(&f.t, tr_itab_gpa(&f.t, h), 0, hdr, 16, VRM_VRING_DESC_F_NEXT, 1);
			tr_set_entry(&f.t, tr_itab_gpa(&f.t, h), 3, f.t.data_gpa + 0x31000, 1,
				     VRM_VRING_DESC_F_WRITE, 0);
			tr_put(&f.t, hdr, VRM_BLK_T_IN, 4);
			tr_put(&f.t, hdr + 4, 0x01020304, 4);
			tr_put(&f.t, hdr + 8, 0x1122334455667788ull, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			shadow_head_is_table(&f, h, 4);
			VRM_EQ(tr_le(&itab(&f, h, 0)->addr, 8), NET_HDR_GPA + 16ull * h);
			VRM_EQ(tr_le(&itab(&f, h, 0)->len, 4), 16);
			VRM_EQ(tr_le(f.sh->hdr[h], 4), VRM_BLK_T_IN);
			VRM_EQ(tr_le(f.sh->hdr[h] + 8, 8), 0x1122334455667788ull);
			VRM_EQ(f.q->offered[h], 512 + 512 + 1);
			/* A table whose last entry the device cannot write. */
			tr_add_indirect(&f.t, 2, 0, 16);
			tr_publish(&f.t);
			v = fx_kick(&f, &chains);
			VRM_EQ(v, VRM_BLK_STATUS);
			fx_fini(&f);
		}
	}
}
