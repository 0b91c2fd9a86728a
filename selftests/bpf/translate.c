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
			if (!bpf())
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
		if (vrm_subtest("wrap_%s", order_name(be))) {
			if (!bpf())
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

		if (!bpf())
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

		if (!bpf())
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
