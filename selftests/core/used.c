// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The used path: back-end completions into the guest's used ring, and a
 * back-end that lies. */
#include "test.h"
#include "fixture.h"
#include "backend.h"
#include "core.h"

VRM_TEST(used)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t chains, ret;

		if (vrm_subtest("back_to_guest_order_%s", order_name(be))) {
			fx_setup(&f, 32, be);
			tr_add_chain(&f.t, 2, 1, 64);		/* head 0 */
			tr_add_chain(&f.t, 1, 1, 0xc0000);	/* head 2 */
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			backend_use(&f, &used, 2, 0x0a0b0c);
			backend_use(&f, &used, 0, 17);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 2, 2), 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 4, 4), 2);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 8, 4), 0x0a0b0c);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 12, 4), 0);
			VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 16, 4), 17);
			VRM_EQ(f.st.used, 2);
			/* The freed descriptors may be reused by the guest. */
			f.t.next_desc = 0;
			tr_add_chain(&f.t, 3, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			fx_fini(&f);
		}
	}
}

static uint32_t bk_kick_ref(void *ctx, uint32_t *chains)
{
	return fx_kick(ctx, chains);
}

static struct bk fx_bk(struct fx *f)
{
	return (struct bk){ &f->t, &f->dev, f->q, f->sh, bk_kick_ref, f, 0 };
}

/* What the back-end can write (the shadow ring) steers none of the used
 * path's writes, and bounds none of what it passes on (backend.h). */
VRM_TEST(hostile_backend)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		struct bk b;

		if (vrm_subtest("rx_header_address_rewritten_%s", order_name(be))) {
			fx_setup(&f, 16, be);
			b = fx_bk(&f);
			bk_rx_redirect(&b);
			fx_fini(&f);
		}
		for (int over = -1; over < BK_NCHAINS; over++) {
			if (!vrm_subtest("used_len_%s%d_%s", over < 0 ? "all_within" : "over_at_",
					over < 0 ? BK_NCHAINS : over, order_name(be)))
				continue;
			fx_setup(&f, 32, be);
			b = fx_bk(&f);
			bk_used_len(&b, over);
			fx_fini(&f);
		}
		/* A 10-byte legacy RX header: the back-end was offered the
		 * 12-byte slot, and counts it. */
		if (vrm_subtest("used_len_rx_slot_%s", order_name(be))) {
			uint16_t used = 0;
			uint32_t chains, ret;

			for (int over = 0; over <= 1; over++) {
				fx_setup(&f, 16, be);
				used = 0;
				f.q->net_mode = VRM_NET_RX_SLOT;
				f.q->net_hdr_len = 10;
				f.q->hdr_gpa = 0x700000000ull;
				tr_add_chain(&f.t, 2, 2, 1500);
				tr_set_desc(&f.t, 0, f.t.data_gpa, 10,
					    VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, 1);
				tr_publish(&f.t);
				VRM_EQ(fx_kick(&f, &chains), VRM_OK);
				backend_use(&f, &used, 0, 12 + 1500 + over);
				VRM_EQ(vrm_ux_complete(&f.rq, &ret), over ? VRM_USED_LEN : VRM_OK);
				if (!over)
					VRM_EQ(tr_get(&f.t, tr_used_gpa(&f.t) + 8, 4), 10 + 1500);
				fx_fini(&f);
			}
		}
	}
}
