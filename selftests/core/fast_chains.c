// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The chain fast path and what it leaves to the general step. */
#include <string.h>

#include "test.h"
#include "fixture.h"
#include "core.h"

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
