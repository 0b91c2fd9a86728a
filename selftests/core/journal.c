// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Crash consistency: a daemon killed anywhere, resumed from its journal;
 * a guest that reuses a chain the moment it is returned. */
#include <stdio.h>
#include <string.h>

#include "test.h"
#include "fixture.h"
#include "hostile.h"
#include "core.h"

/*
 * Crash consistency (kill -9 of the daemon anywhere).  The core is
 * built here with VRM_CRASH_TEST: every VRM_CRASH_POINT calls a hook, which
 * "kills" the run at the chosen hit by jumping out of it, leaving the queue,
 * shadow ring and guest memory exactly as a killed daemon would.  Then the
 * resume a new daemon does, then the rest of the work: guest memory, shadow
 * ring and queue state must equal those of a run that never crashed, so no
 * used entry was lost, none returned twice, no header converted twice, and
 * the descriptors are free again for the guest's next round.
 */
#include <setjmp.h>

static jmp_buf crash_jb;
static int crash_point, crash_hits;

static void crash_hook(int point)
{
	if (point == crash_point && --crash_hits == 0)
		longjmp(crash_jb, 1);
}

/* Runs `complete` (true) or a kick; true when it was killed on the way. */
static bool run_killed_at(struct fx *f, bool complete, int point, int hit)
{
	uint32_t n;

	crash_point = point;
	crash_hits = hit;
	vrm_crash_hook = crash_hook;
	if (setjmp(crash_jb)) {
		vrm_crash_hook = NULL;
		return true;
	}
	if (complete)
		vrm_ux_complete(&f->rq, &n);
	else
		vrm_ux_kick(&f->rq, &n);
	vrm_crash_hook = NULL;
	return false;
}

struct crash_case {
	const char *name;
	uint8_t mode, hlen;
};

static const struct crash_case crash_cases[] = {
	{ "plain", VRM_NET_NONE, 0 },
	{ "tx_slot", VRM_NET_TX_SLOT, 10 },
	{ "rx_slot", VRM_NET_RX_SLOT, 10 },
	{ "rx_inplace", VRM_NET_RX_INPLACE, 12 },
};
#define CRASH_CHAINS 6

/* The guest posts CRASH_CHAINS chains of the case's shape. */
static void crash_post(struct fx *f, const struct crash_case *c)
{
	f->t.next_desc = 0;
	for (int i = 0; i < CRASH_CHAINS; i++) {
		uint16_t h;

		switch (c->mode) {
		case VRM_NET_TX_SLOT:
			h = tr_add_chain(&f->t, 2, 0, 64);
			tr_set_desc(&f->t, h, f->t.data_gpa + 64ull * h, c->hlen,
				    VRM_VRING_DESC_F_NEXT, (uint16_t)(h + 1));
			put_net_hdr(f, f->t.data_gpa + 64ull * h, c->hlen, 0);
			break;
		case VRM_NET_RX_SLOT:
			h = tr_add_chain(&f->t, 2, 2, 64);
			tr_set_desc(&f->t, h, f->t.data_gpa + 64ull * h, c->hlen,
				    VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, (uint16_t)(h + 1));
			break;
		case VRM_NET_RX_INPLACE:
			tr_add_chain(&f->t, 1, 1, 64);
			break;
		default:
			tr_add_chain(&f->t, 2, 1, 64);
		}
	}
	tr_publish(&f->t);
}

/* The back-end returns every chain, last first; RX headers as a modern
 * back-end writes them (in place: packets of 2, 1 and 3 buffers). */
static void crash_backend(struct fx *f, const struct crash_case *c, uint16_t *used)
{
	static const uint16_t nb[CRASH_CHAINS] = { 2, 0, 1, 3, 0, 0 };
	uint16_t per = c->mode == VRM_NET_RX_INPLACE ? 1 : 2;

	for (int i = 0; i < CRASH_CHAINS; i++) {
		int k = c->mode == VRM_NET_RX_INPLACE ? i : CRASH_CHAINS - 1 - i;
		uint16_t h = (uint16_t)(k * per);

		if (c->mode == VRM_NET_RX_SLOT)
			put_modern_hdr(f->sh->hdr[h], 1);
		if (c->mode == VRM_NET_RX_INPLACE) {
			uint8_t *b = f->t.mem + tr_le(&f->sh->desc[h].addr, 8);

			if (nb[k])
				put_modern_hdr(b, nb[k]);
			else
				memset(b, 0xa0 + k, 12);	/* payload, not a header */
		}
		tr_backend_use(f->sh, f->q->size, used, h, 12u + 40u + (uint32_t)k);
	}
}

/* Everything the guest, the back-end and the next kick can see. */
static bool crash_same(struct fx *a, struct fx *b)
{
	return VRM_EQ(memcmp(a->t.mem, b->t.mem, a->t.mem_size), 0) &&
	       VRM_EQ(memcmp(a->sh, b->sh, sizeof(*a->sh)), 0) &&
	       VRM_EQ(b->q->last_avail, a->q->last_avail) &&
	       VRM_EQ(b->q->last_used, a->q->last_used) &&
	       VRM_EQ(b->q->rx_merge_left, a->q->rx_merge_left) &&
	       VRM_EQ(memcmp(a->q->desc_state, b->q->desc_state, sizeof(a->q->desc_state)), 0) &&
	       VRM_EQ(b->q->busy, 0) && VRM_EQ(b->dev.broken, 0);
}

/* The reference: the same work, never killed. */
static void crash_reference(struct fx *f, int be, const struct crash_case *c, bool kick_only)
{
	uint16_t used = 0;
	uint32_t n;

	fx_setup(f, 16, be);
	net_queue(f, c->mode, c->hlen);
	crash_post(f, c);
	VRM_EQ(fx_kick(f, &n), VRM_OK);
	if (kick_only)
		return;
	crash_backend(f, c, &used);
	VRM_EQ(vrm_ux_complete(&f->rq, &n), VRM_OK);
	VRM_EQ(n, CRASH_CHAINS);
}

VRM_TEST(crash_resume)
{
	static const int complete_points[] = { 1, 2, 3, 4, 5, 6 }, kick_points[] = { 10, 11, 12, 13 };

	vrm_ux_journal = true;		/* as the daemon runs */
	for (int be = 0; be <= 1; be++) {
		for (unsigned ci = 0; ci < sizeof(crash_cases) / sizeof(crash_cases[0]); ci++) {
			const struct crash_case *c = &crash_cases[ci];
			unsigned crashes = 0, cases = 0;
			struct fx ref, f;
			uint32_t n;

			if (!vrm_subtest("completion_%s_%s", c->name, order_name(be)))
				continue;
			crash_reference(&ref, be, c, false);
			for (unsigned p = 0; p < 6; p++) {
				for (int hit = 1; hit <= CRASH_CHAINS; hit++) {
					uint16_t used = 0;

					fx_setup(&f, 16, be);
					net_queue(&f, c->mode, c->hlen);
					crash_post(&f, c);
					VRM_EQ(fx_kick(&f, &n), VRM_OK);
					crash_backend(&f, c, &used);
					cases++;
					if (run_killed_at(&f, true, complete_points[p], hit)) {
						crashes++;
						VRM_EQ(vrm_ux_resume(&f.rq), VRM_OK);
						VRM_EQ(vrm_ux_complete(&f.rq, &n), VRM_OK);
					}
					if (!crash_same(&ref, &f))
						fprintf(stderr, "      (killed at point %d, hit %d)\n",
							complete_points[p], hit);
					/* The guest's next round takes the same descriptors. */
					crash_post(&f, c);
					VRM_EQ(fx_kick(&f, &n), VRM_OK);
					VRM_EQ(n, CRASH_CHAINS);
					fx_fini(&f);
				}
			}
			if (vrm_test_verbose())
				printf("      %u runs, %u killed half-way\n", cases, crashes);
			VRM_TRUE(crashes >= 5 * CRASH_CHAINS);
			fx_fini(&ref);
		}
		for (unsigned ci = 0; ci < sizeof(crash_cases) / sizeof(crash_cases[0]); ci++) {
			const struct crash_case *c = &crash_cases[ci];
			struct fx ref, f;
			unsigned crashes = 0;
			uint32_t n;

			if (!vrm_subtest("kick_%s_%s", c->name, order_name(be)))
				continue;
			crash_reference(&ref, be, c, true);
			for (unsigned p = 0; p < 4; p++) {
				fx_setup(&f, 16, be);
				net_queue(&f, c->mode, c->hlen);
				crash_post(&f, c);
				if (run_killed_at(&f, false, kick_points[p], 1)) {
					crashes++;
					VRM_EQ(f.q->busy, 1);	/* the dead daemon's lock */
					VRM_EQ(vrm_ux_resume(&f.rq), VRM_OK);
					VRM_EQ(fx_kick(&f, &n), VRM_OK);
				}
				if (!crash_same(&ref, &f))
					fprintf(stderr, "      (killed at point %d)\n", kick_points[p]);
				fx_fini(&f);
			}
			VRM_EQ(crashes, 4);
			fx_fini(&ref);
		}
	}
	vrm_ux_journal = false;
}

/* The guest may post a chain again the moment the used idx moves: the chain
 * must be free by then.  The crash hook stands in for the guest here,
 * right after each commit. */
static struct fx *reuse_fx;
static unsigned reuse_ok, reuse_bad;

static void reuse_hook(int point)
{
	struct fx *f = reuse_fx;
	uint16_t g, id;
	uint32_t n;

	if (point != 5)
		return;
	g = (uint16_t)tr_get(&f->t, tr_used_gpa(&f->t) + 2, 2);
	id = (uint16_t)tr_get(&f->t, tr_used_gpa(&f->t) + 4 + 8ull * ((g - 1) & (f->t.size - 1)), 4);
	tr_push_head(&f->t, id);
	tr_publish(&f->t);
	vrm_crash_hook = NULL;		/* no recursion through the kick */
	if (vrm_ux_kick(&f->rq, &n) == VRM_OK && n == 1)
		reuse_ok++;
	else
		reuse_bad++;
	vrm_crash_hook = reuse_hook;
}

VRM_TEST(guest_reuses_at_commit)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint16_t used = 0;
		uint32_t n;

		if (!vrm_subtest("chain_free_before_used_idx_%s", order_name(be)))
			continue;
		fx_setup(&f, 16, be);
		crash_post(&f, &crash_cases[0]);
		VRM_EQ(fx_kick(&f, &n), VRM_OK);
		crash_backend(&f, &crash_cases[0], &used);
		reuse_fx = &f;
		reuse_ok = reuse_bad = 0;
		vrm_crash_hook = reuse_hook;
		VRM_EQ(vrm_ux_complete(&f.rq, &n), VRM_OK);
		vrm_crash_hook = NULL;
		VRM_EQ(n, CRASH_CHAINS);
		VRM_EQ(reuse_ok, CRASH_CHAINS);
		VRM_EQ(reuse_bad, 0);
		VRM_EQ(f.dev.broken, 0);
		fx_fini(&f);
	}
}
