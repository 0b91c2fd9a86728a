// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Every kick-side hostile class and a lying back-end, with the kick in BPF. */
#include "test.h"
#include "bfx.h"
#include "hostile.h"
#include "backend.h"
#include "uxlate.h"
#include "loader.h"
#include "bpf_test.h"

/* Every kick-side hostile class inside BPF: same verdict as the core tests,
 * device broken, counter up, neighbour device unaffected.  A faulting ring
 * is handed to the daemon (VRM_DEFER) and the daemon's userspace pass gives
 * the verdict. */
VRM_TEST(bpf_hostile)
{
	for (unsigned i = 0; i < N_HOSTILES; i++) {
		for (int be = 0; be <= 1; be++) {
			const struct hostile *h = &hostiles[i];
			struct bfx f, other;
			struct vrm_qstats st;
			uint32_t chains, v;

			if (h->used_side)
				continue;	/* the used path is userspace only */
			if (!vrm_subtest("%s_%s", h->name, order_name(be)) || !bpf_tk())
				continue;
			bfx_setup(&f, 2, 16, be);
			bfx_setup(&other, 3, 16, !be);
			tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			h->make(&(struct hctx){ &f.t, f.q, f.sh });
			v = bkick(&f, &chains);
			if (h->verdict == VRM_RING_FAULT) {
				struct vrm_ux_queue rq = { f.dev, f.q, f.sh, vrm_ux_scratch_new(),
							   &(struct vrm_qstats){ 0 } };

				VRM_EQ(v, VRM_DEFER);
				VRM_EQ(f.q->deferred, 1);
				VRM_EQ(f.dev->broken, 0);
				VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
				VRM_EQ(st.deferred, 1);
				VRM_TRUE(st.read_faults >= 1);
				v = vrm_ux_kick(&rq, &chains);	/* the daemon's pass */
				vrm_ux_scratch_free(rq.scr);
			} else {
				VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
				VRM_EQ(st.errors[h->verdict], 1);
			}
			VRM_CHECK(v == h->verdict, "verdict: expected %s, got %s",
				 vrm_verdict_name(h->verdict), vrm_verdict_name(v));
			VRM_EQ(f.dev->broken, h->verdict);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 1);
			tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), h->verdict);
			VRM_EQ(chains, 0);
			tr_add_chain(&other.t, 2, 1, 8);
			tr_publish(&other.t);
			VRM_EQ(bkick(&other, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			VRM_EQ(other.dev->broken, 0);
			bfx_fini(&other);
			bfx_fini(&f);
		}
	}
}

static uint32_t bk_kick_bpf(void *ctx, uint32_t *chains)
{
	return bkick(ctx, chains);
}

/* backend.h with the kick in BPF: what BPF recorded at kick time is what
 * the daemon's used path goes by. */
VRM_TEST(bpf_hostile_backend)
{
	for (int be = 0; be <= 1; be++) {
		struct bfx f;
		struct bk b;

		if (vrm_subtest("rx_header_address_rewritten_%s", order_name(be)) && bpf_tk()) {
			bfx_setup(&f, 2, 16, be);
			b = (struct bk){ &f.t, f.dev, f.q, f.sh, bk_kick_bpf, &f, 0 };
			bk_rx_redirect(&b);
			bfx_fini(&f);
		}
		for (int over = -1; over < BK_NCHAINS; over++) {
			if (!vrm_subtest("used_len_%s%d_%s", over < 0 ? "all_within" : "over_at_",
					over < 0 ? BK_NCHAINS : over, order_name(be)) || !bpf_tk())
				continue;
			bfx_setup(&f, 2, 32, be);
			b = (struct bk){ &f.t, f.dev, f.q, f.sh, bk_kick_bpf, &f, 0 };
			bk_used_len(&b, over);
			bfx_fini(&f);
		}
	}
}
