// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* virtio-net headers: legacy 10- and 12-byte headers both ways, the
 * header slots, RX in place. */
#include <string.h>

#include "test.h"
#include "fixture.h"
#include "core.h"

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
		/* A packet over three buffers the back-end returns in two
		 * goes: the guest sees none of it until the last (a guest
		 * takes num_buffers entries when it sees the first), then all. */
		if (vrm_subtest("rx_inplace_merged_whole_%s", order_name(be))) {
			uint64_t b0, gidx;

			fx_setup(&f, 64, be);
			used = 0;
			net_queue(&f, VRM_NET_RX_INPLACE, 12);
			for (int i = 0; i < 4; i++)
				tr_add_chain(&f.t, 1, 1, 64);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			b0 = tr_le(&f.sh->desc[0].addr, 8);
			put_modern_hdr(f.t.mem + b0, 3);
			memset(f.t.mem + tr_le(&f.sh->desc[1].addr, 8), 0xab, 12);
			memset(f.t.mem + tr_le(&f.sh->desc[2].addr, 8), 0xcd, 12);
			put_modern_hdr(f.t.mem + tr_le(&f.sh->desc[3].addr, 8), 1);
			backend_use(&f, &used, 0, 64);
			backend_use(&f, &used, 1, 64);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			gidx = tr_used_gpa(&f.t) + 2;
			VRM_EQ(tr_get(&f.t, gidx, 2), 0);	/* none of the packet yet */
			VRM_EQ(f.q->last_used, 2);
			VRM_EQ(f.q->rx_merge_left, 1);
			backend_use(&f, &used, 2, 40);
			backend_use(&f, &used, 3, 50);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(tr_get(&f.t, gidx, 2), 4);
			guest_hdr_is(&f, b0, 12, 3);
			VRM_EQ(f.q->rx_merge_left, 0);
			fx_fini(&f);
		}
		/* A back-end's header claiming more buffers than the ring
		 * holds: a packet that can never complete, so a verdict, not a
		 * queue waiting for it for ever; the guest sees none of it. */
		if (vrm_subtest("rx_inplace_merged_over_ring_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			used = 0;
			net_queue(&f, VRM_NET_RX_INPLACE, 12);
			tr_add_chain(&f.t, 1, 1, 64);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			put_modern_hdr(f.t.mem + tr_le(&f.sh->desc[0].addr, 8), 65);
			backend_use(&f, &used, 0, 64);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_NET_HDR);
			VRM_EQ(ret, 0);
			VRM_EQ(f.dev.broken, VRM_NET_HDR);
			VRM_EQ(f.st.errors[VRM_NET_HDR], 1);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 2, 2), 0);
			fx_fini(&f);
		}
		/* Header and frame in one buffer, 10-byte header mode (Linux's
		 * small buffers without MRG_RXBUF): with a back-end that took
		 * INDIRECT_DESC the head becomes a two-entry shadow table, the
		 * header slot and the buffer past the guest's header, so the
		 * frame lands where the guest looks for it; without one, the
		 * device is broken. */
		if (vrm_subtest("rx_slot_one_buffer_no_indirect_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_RX_SLOT, 10);
			tr_add_chain(&f.t, 1, 1, 1500);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_NET_HDR);
			VRM_EQ(f.dev.broken, VRM_NET_HDR);
			fx_fini(&f);
		}
		for (int over = 0; over <= 1; over++) {
			uint64_t g, tab;
			const struct vrm_desc *t;

			if (!vrm_subtest("rx_slot_one_buffer_%s_%s", over ? "used_len_over" : "table",
					order_name(be)))
				continue;
			fx_setup(&f, 64, be);
			used = 0;
			net_queue(&f, VRM_NET_RX_SLOT, 10);
			f.q->flags |= VRM_QF_BE_INDIRECT;
			tr_add_chain(&f.t, 1, 1, 10 + 1518);
			g = tr_get(&f.t, tr_desc_gpa(&f.t, 0), 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			tab = NET_HDR_GPA - VRM_SHADOW_HDR_OFF + VRM_SHADOW_ITAB_OFF;
			VRM_EQ(tr_le(&f.sh->desc[0].addr, 8), tab);
			VRM_EQ(tr_le(&f.sh->desc[0].len, 4), 32);
			VRM_EQ(tr_le(&f.sh->desc[0].flags, 2), VRM_VRING_DESC_F_INDIRECT);
			t = &f.sh->itab[0];
			VRM_EQ(tr_le(&t[0].addr, 8), NET_HDR_GPA);
			VRM_EQ(tr_le(&t[0].len, 4), 12);
			VRM_EQ(tr_le(&t[0].flags, 2), VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE);
			VRM_EQ(tr_le(&t[0].next, 2), 1);
			VRM_EQ(tr_le(&t[1].addr, 8), g + 10);
			VRM_EQ(tr_le(&t[1].len, 4), 1518);
			VRM_EQ(tr_le(&t[1].flags, 2), VRM_VRING_DESC_F_WRITE);
			VRM_EQ(f.q->offered[0], 12 + 1518);
			/* The back-end fills the slot and 100 bytes of frame
			 * where the second entry says (or, over, one byte more
			 * than the table offers). */
			put_modern_hdr(f.sh->hdr[0], 1);
			memset(f.t.mem + g + 10, 0x5a, 100);
			backend_use(&f, &used, 0, over ? 12 + 1518 + 1 : 12 + 100);
			if (over) {
				VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_USED_LEN);
				VRM_EQ(f.dev.broken, VRM_USED_LEN);
				fx_fini(&f);
				continue;
			}
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 1);
			guest_hdr_is(&f, g, 10, 0);
			VRM_EQ(f.t.mem[g + 10], 0x5a);
			VRM_EQ(f.t.mem[g + 109], 0x5a);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 8, 4), 10 + 100);
			VRM_EQ(f.dev.broken, 0);
			fx_fini(&f);
		}
		/* ... but a chain whose head holds header and data is not a
		 * layout any driver uses: refused. */
		if (vrm_subtest("rx_slot_head_with_data_chained_%s", order_name(be))) {
			fx_setup(&f, 64, be);
			net_queue(&f, VRM_NET_RX_SLOT, 10);
			f.q->flags |= VRM_QF_BE_INDIRECT;
			tr_add_chain(&f.t, 2, 2, 1500);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_NET_HDR);
			VRM_EQ(f.dev.broken, VRM_NET_HDR);
			fx_fini(&f);
		}
	}
}
