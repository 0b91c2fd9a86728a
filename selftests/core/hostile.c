// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Every hostile-ring class (hostile.h) through the userspace translator. */
#include "test.h"
#include "fixture.h"
#include "hostile.h"
#include "core.h"

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
