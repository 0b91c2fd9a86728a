// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Deterministic kicks through BPF_PROG_TEST_RUN, both byte orders. */
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "bfx.h"
#include "loader.h"
#include "bpf_test.h"

VRM_TEST(bpf_translate)
{
	for (int be = 0; be <= 1; be++) {
		struct bfx f;
		uint32_t chains;
		struct vrm_qstats st;

		if (vrm_subtest("chains_%s", order_name(be))) {
			if (!bpf_tk())
				continue;
			bfx_setup(&f, 1, 64, be);
			tr_add_chain(&f.t, 3, 1, 100);
			tr_add_chain(&f.t, 1, 1, 4096);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 2);
			for (uint16_t i = 0; i < 4; i++) {
				uint64_t g = tr_desc_gpa(&f.t, i);

				VRM_EQ(tr_le(&f.sh->desc[i].addr, 8), tr_get(&f.t, g, 8));
				VRM_EQ(tr_le(&f.sh->desc[i].len, 4), tr_get(&f.t, g + 8, 4));
				VRM_EQ(tr_le(&f.sh->desc[i].flags, 2), tr_get(&f.t, g + 12, 2));
			}
			VRM_EQ(tr_le(&f.sh->avail.ring[1], 2), 3);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 2);
			VRM_EQ(f.q->last_avail, 2);
			VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
			VRM_EQ(st.kicks, 1);
			VRM_EQ(st.descs, 4);
			VRM_EQ(st.chains, 2);
			bfx_fini(&f);
		}
		/* A 10-byte-header RX queue, back-end with INDIRECT_DESC:
		 * single buffers holding header and frame become two-entry
		 * shadow tables in BPF itself (vrm_fast_split), not in a
		 * deferred pass; a header with a descriptor of its own stays
		 * a slot. */
		if (vrm_subtest("rx_split_%s", order_name(be))) {
			uint64_t g;

			if (!bpf_tk())
				continue;
			bfx_setup(&f, 1, 64, be);
			f.q->net_mode = VRM_NET_RX_SLOT;
			f.q->net_hdr_len = VRM_NET_HDR_LEGACY;
			f.q->hdr_gpa = 0x700000000ull;
			f.q->flags |= VRM_QF_BE_INDIRECT;
			for (int i = 0; i < 20; i++)
				tr_add_chain(&f.t, 1, 1, 1528);
			g = tr_get(&f.t, tr_desc_gpa(&f.t, 7), 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 20);
			VRM_EQ(tr_le(&f.sh->desc[7].flags, 2), VRM_VRING_DESC_F_INDIRECT);
			VRM_EQ(tr_le(&f.sh->desc[7].len, 4), 32);
			VRM_EQ(tr_le(&f.sh->desc[7].addr, 8),
			       0x700000000ull - VRM_SHADOW_HDR_OFF + VRM_SHADOW_ITAB_OFF +
				       16ull * 7 * vrm_itab_per(64));
			VRM_EQ(tr_le(&f.sh->itab[7 * vrm_itab_per(64)].addr, 8),
			       0x700000000ull + 7 * VRM_SHADOW_HDR_SLOT);
			VRM_EQ(tr_le(&f.sh->itab[7 * vrm_itab_per(64) + 1].addr, 8), g + 10);
			VRM_EQ(tr_le(&f.sh->itab[7 * vrm_itab_per(64) + 1].len, 4), 1518);
			VRM_EQ(f.q->offered[7], 1530);
			VRM_EQ(f.q->rx_hdr[7], g);
			VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
			VRM_EQ(st.deferred, 0);
			VRM_EQ(st.chains, 20);
			bfx_fini(&f);
		}
		if (vrm_subtest("wrap_%s", order_name(be))) {
			if (!bpf_tk())
				continue;
			bfx_setup(&f, 1, 8, be);
			f.t.avail_idx = f.q->last_avail = 65533;
			for (int i = 0; i < 6; i++)
				tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 6);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 3);
			VRM_EQ(tr_le(&f.sh->avail.ring[65533 & 7], 2), 0);
			VRM_EQ(tr_le(&f.sh->avail.ring[2], 2), 5);
			bfx_fini(&f);
		}
	}
	/* A queue slot whose state names a device other than the one whose
	 * range it is in: no shadow map is chosen for it, nothing is read or
	 * written (the per-device shadow maps rest on this). */
	if (vrm_subtest("queue_outside_its_device_refused")) {
		struct bfx f, other;
		uint32_t chains;

		if (!bpf_tk())
			return;
		bfx_setup(&f, 1, 8, 0);
		bfx_setup(&other, 2, 8, 0);	/* device 2 active too */
		f.q->dev = 2;
		tr_add_chain(&f.t, 1, 0, 8);
		tr_publish(&f.t);
		VRM_EQ(bkick(&f, &chains), VRM_BAD_CONFIG);
		VRM_EQ(chains, 0);
		VRM_EQ(f.q->last_avail, 0);
		VRM_EQ(tr_le(&f.sh->avail.idx, 2), 0);
		VRM_EQ(tr_le(&other.sh->avail.idx, 2), 0);
		f.q->dev = 1;
		VRM_EQ(bkick(&f, &chains), VRM_OK);	/* and it was only that */
		VRM_EQ(chains, 1);
		bfx_fini(&other);
		bfx_fini(&f);
	}
	if (vrm_subtest("foreign_tgid_reads_nothing")) {
		struct bfx f;
		struct vrm_qstats st;
		uint32_t chains;

		if (!bpf_tk())
			return;
		bfx_setup(&f, 1, 8, 1);
		f.dev->tgid = 1;	/* init is not our VMM */
		tr_add_chain(&f.t, 1, 0, 8);
		tr_publish(&f.t);
		VRM_EQ(bkick(&f, &chains), VRM_OK);
		VRM_EQ(chains, 0);
		VRM_EQ(f.q->last_avail, 0);
		VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
		VRM_EQ(st.foreign, 1);
		bfx_fini(&f);
	}
}
