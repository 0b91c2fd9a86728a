// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The kick: guest chains into the shadow ring, in any head order, across
 * the u16 wrap. */
#include <string.h>

#include "test.h"
#include "fixture.h"
#include "hostile.h"
#include "core.h"

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
