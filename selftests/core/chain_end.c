// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A chain's end is known to the used path and the journal. */
#include "test.h"
#include "fixture.h"
#include "core.h"

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
