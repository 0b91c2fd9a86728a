// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* virtio-blk: a legacy request's header through the header slot, both byte
 * orders; its used entry; the config space's fields. */
#include <string.h>

#include <vringmed/xlate_blk.h>

#include "test.h"
#include "fixture.h"
#include "core.h"

/* A request at the next descriptors: header (16 bytes, read-only), `data`
 * bytes of data (device-writable for a read), the status byte.  The header
 * is written by hand in the guest's order.  Returns the head. */
static uint16_t blk_request(struct fx *f, uint32_t type, uint64_t sector, uint32_t data, bool read)
{
	uint16_t h = tr_add_chain(&f->t, data ? 3 : 2, data && read ? 2 : 1, 16);
	uint16_t m = (uint16_t)(f->q->size - 1), d = (h + 1) & m, s = (h + (data ? 2 : 1)) & m;
	uint64_t hdr = f->t.data_gpa + 0x10000 + 16ull * h;

	tr_set_desc(&f->t, h, hdr, 16, VRM_VRING_DESC_F_NEXT, d);
	tr_put(&f->t, hdr, type, 4);
	tr_put(&f->t, hdr + 4, 0x01020304, 4);		/* ioprio */
	tr_put(&f->t, hdr + 8, sector, 8);
	if (data)
		tr_set_desc(&f->t, d, f->t.data_gpa + 0x20000 + 4096ull * h, data,
			    VRM_VRING_DESC_F_NEXT | (read ? VRM_VRING_DESC_F_WRITE : 0), s);
	tr_set_desc(&f->t, s, f->t.data_gpa + 0x18000 + h, 1, VRM_VRING_DESC_F_WRITE, 0);
	return h;
}

static void blk_queue(struct fx *f)
{
	f->q->net_mode = VRM_BLK_REQ;
	f->q->hdr_gpa = NET_HDR_GPA;
}

VRM_TEST(blk_requests)
{
	static const struct { const char *name; uint32_t type, want_type, data; bool read; } reqs[] = {
		{ "read", VRM_BLK_T_IN, VRM_BLK_T_IN, 4096, true },
		{ "write", VRM_BLK_T_OUT, VRM_BLK_T_OUT, 512, false },
		{ "flush", VRM_BLK_T_FLUSH, VRM_BLK_T_FLUSH, 0, false },
		{ "flush_out", VRM_BLK_T_FLUSH_OUT, VRM_BLK_T_FLUSH, 0, false },
		{ "get_id", VRM_BLK_T_GET_ID, VRM_BLK_T_GET_ID, VRM_BLK_ID_BYTES, true },
	};

	for (int be = 0; be <= 1; be++) {
		for (unsigned r = 0; r < sizeof(reqs) / sizeof(reqs[0]); r++) {
			struct fx f;
			uint16_t used = 0, h, n;
			uint32_t chains, ret;
			uint8_t before[16];

			if (!vrm_subtest("%s_%s", reqs[r].name, order_name(be)))
				continue;
			fx_setup(&f, 64, be);
			blk_queue(&f);
			tr_add_chain(&f.t, 1, 0, 8);	/* heads other than 0 too */
			f.q->net_mode = VRM_NET_NONE;
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			blk_queue(&f);
			h = blk_request(&f, reqs[r].type, 0x0102030405060708ull, reqs[r].data,
					reqs[r].read);
			n = reqs[r].data ? 3 : 2;
			memcpy(before, f.t.mem + f.t.data_gpa + 0x10000 + 16ull * h, 16);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			VRM_EQ(f.dev.broken, 0);
			/* The header descriptor points at the head's slot, 16
			 * bytes, and the slot holds the header little-endian. */
			VRM_EQ(tr_le(&f.sh->desc[h].addr, 8), NET_HDR_GPA + 16ull * h);
			VRM_EQ(tr_le(&f.sh->desc[h].len, 4), 16);
			VRM_EQ(tr_le(&f.sh->desc[h].flags, 2), VRM_VRING_DESC_F_NEXT);
			VRM_EQ(tr_le(&f.sh->desc[h].next, 2), (h + 1) & 63);
			VRM_EQ(tr_le(f.sh->hdr[h], 4), reqs[r].want_type);
			VRM_EQ(tr_le(f.sh->hdr[h] + 4, 4), 0x01020304);
			VRM_EQ(tr_le(f.sh->hdr[h] + 8, 8), 0x0102030405060708ull);
			/* The guest's header is left as it was. */
			VRM_EQ(memcmp(before, f.t.mem + f.t.data_gpa + 0x10000 + 16ull * h, 16), 0);
			/* Data and status as the guest has them. */
			for (uint16_t k = 1; k < n; k++)
				VRM_TRUE(shadow_matches_guest(&f, (uint16_t)((h + k) & 63)));
			VRM_EQ(f.q->offered[h], reqs[r].read ? reqs[r].data + 1 : 1);
			/* The back-end's answer: what it wrote, status included. */
			backend_use(&f, &used, 0, 8);
			backend_use(&f, &used, h, reqs[r].read ? reqs[r].data + 1 : 1);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 2, 2), 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 4 + 8 + 0, 4), h);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 4 + 8 + 4, 4),
			       reqs[r].read ? reqs[r].data + 1 : 1);
			fx_fini(&f);
		}
	}
}

/* Requests back to back, across the ring's wrap: every header in its own
 * head's slot, and the guest's headers untouched. */
VRM_TEST(blk_ring_wraps)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t chains, ret;

		if (!vrm_subtest("%s", order_name(be)))
			continue;
		fx_setup(&f, 16, be);
		blk_queue(&f);
		for (int round = 0; round < 12; round++) {
			uint16_t heads[5];

			for (int i = 0; i < 5; i++)
				heads[i] = blk_request(&f, VRM_BLK_T_OUT, 1000u * round + i, 512, false);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 5);
			for (int i = 0; i < 5; i++) {
				VRM_EQ(tr_le(f.sh->hdr[heads[i]] + 8, 8), 1000u * round + i);
				backend_use(&f, &used, heads[i], 1);
			}
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 5);
			/* The chains went back: the next round takes the next
			 * descriptors, round the ring (15 per round of 16). */
			f.t.next_desc = (uint16_t)(f.t.next_desc + 1);
		}
		VRM_EQ(f.dev.broken, 0);
		fx_fini(&f);
	}
}

/* The config space: every field wider than a byte swapped, bytes left,
 * a part that cuts a field refused, the same order left as it is. */
VRM_TEST(blk_config)
{
	uint8_t cfg[VRM_BLK_CONFIG_BYTES], orig[VRM_BLK_CONFIG_BYTES];

	for (unsigned i = 0; i < sizeof(cfg); i++)
		orig[i] = (uint8_t)(i + 1);
	if (vrm_subtest("whole")) {
		memcpy(cfg, orig, sizeof(cfg));
		VRM_EQ(vrm_blk_config_convert(cfg, 0, 60, VRM_ORDER_LE, VRM_ORDER_BE), 0);
		VRM_EQ(tr_le(cfg, 8), 0x0102030405060708ull);		/* capacity */
		VRM_EQ(tr_le(cfg + 20, 4), 0x15161718);			/* blk_size */
		VRM_EQ(tr_le(cfg + 16, 2), 0x1112);			/* cylinders */
		VRM_EQ(cfg[18], 19);					/* heads */
		VRM_EQ(cfg[19], 20);					/* sectors */
		VRM_EQ(cfg[24], 25);					/* physical_block_exp */
		VRM_EQ(cfg[32], 33);					/* writeback */
		VRM_EQ(tr_le(cfg + 34, 2), 0x2324);			/* num_queues */
		VRM_EQ(tr_le(cfg + 52, 4), 0x35363738);			/* max_write_zeroes_seg */
		VRM_EQ(cfg[56], 57);					/* write_zeroes_may_unmap */
		VRM_EQ(cfg[60], 61);					/* beyond the part */
		VRM_EQ(vrm_blk_config_convert(cfg, 0, 60, VRM_ORDER_BE, VRM_ORDER_LE), 0);
		VRM_EQ(memcmp(cfg, orig, sizeof(cfg)), 0);
	}
	if (vrm_subtest("part")) {
		memcpy(cfg, orig + 32, 1);	/* wce alone, as QEMU's SET_CONFIG */
		VRM_EQ(vrm_blk_config_convert(cfg, 32, 1, VRM_ORDER_BE, VRM_ORDER_LE), 0);
		VRM_EQ(cfg[0], 33);
		memcpy(cfg, orig + 20, 4);	/* blk_size alone */
		VRM_EQ(vrm_blk_config_convert(cfg, 20, 4, VRM_ORDER_BE, VRM_ORDER_LE), 0);
		VRM_EQ(tr_le(cfg, 4), 0x15161718);
	}
	if (vrm_subtest("field_cut_in_two")) {
		memcpy(cfg, orig, sizeof(cfg));
		VRM_EQ(vrm_blk_config_convert(cfg, 4, 8, VRM_ORDER_BE, VRM_ORDER_LE), -1);
		VRM_EQ(vrm_blk_config_convert(cfg, 0, 22, VRM_ORDER_BE, VRM_ORDER_LE), -1);
	}
	if (vrm_subtest("same_order")) {
		memcpy(cfg, orig, sizeof(cfg));
		VRM_EQ(vrm_blk_config_convert(cfg, 0, sizeof(cfg), VRM_ORDER_BE, VRM_ORDER_BE), 0);
		VRM_EQ(memcmp(cfg, orig, sizeof(cfg)), 0);
	}
}
