// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The kick lock, and a guest that rewrites its ring while it is read. */
#include <stdlib.h>
#include <unistd.h>

#include "test.h"
#include "fixture.h"
#include "race.h"
#include "core.h"

VRM_TEST(lock)
{
	struct vrm_queue q = { 0 };

	if (vrm_subtest("contended_kick_is_redone")) {
		VRM_TRUE(vrm_ux_queue_setup(&q, 0, 8, 0, 0, 0) == 0);
		/* Holder takes the lock; a second kicker fails and leaves
		 * kick_pending; the holder's unlock tells it to go again. */
		struct vrm_device dev = { 0 };
		struct vrm_shadow_queue *sh = aligned_alloc(4096, sizeof(*sh));
		struct vrm_qstats st = { 0 };
		struct vrm_ux_queue rq = { &dev, &q, sh, vrm_ux_scratch_new(), &st };
		uint32_t chains;

		q.busy = 1;
		VRM_EQ(vrm_ux_kick(&rq, &chains), VRM_OK);
		VRM_EQ(st.contended, 1);
		VRM_EQ(q.kick_pending, 1);
		/* The holder's unlock sees the pending kick and re-takes the
		 * lock so it translates once more. */
		VRM_TRUE(vrm_queue_unlock_for_test(&q));
		VRM_EQ(q.busy, 1);
		VRM_EQ(q.kick_pending, 0);
		VRM_TRUE(!vrm_queue_unlock_for_test(&q));
		VRM_EQ(q.busy, 0);
		vrm_ux_scratch_free(rq.scr);
		free(sh);
	}
}

static uint32_t race_kick_ref(void *ctx)
{
	uint32_t chains;

	return fx_kick(ctx, &chains);
}

VRM_TEST(guest_rewrites_while_read)
{
	struct fx f;
	long n[3], flips;

	if (!vrm_subtest("copy_once"))
		return;
	fx_setup(&f, 8, 1);
	flips = race_copy_once(&f.t, &f.dev, f.q, f.sh, 0, race_kick_ref, &f, 20000, n, 0);
	race_copy_once_verify("", flips, n);
	fx_fini(&f);
	if (!vrm_subtest("copy_once_indirect"))
		return;
	fx_setup(&f, 8, 1);
	flips = race_copy_once(&f.t, &f.dev, f.q, f.sh, 0, race_kick_ref, &f, 20000, n,
			       tr_itab_gpa(&f.t, 0));
	race_copy_once_verify(" (indirect)", flips, n);
	fx_fini(&f);
}

static uint32_t storm_kick_ref(void *ctx, uint32_t *chains)
{
	return vrm_ux_kick(ctx, chains);
}

/* The concurrency case through the reference: 1e6 kicks against a
 * guest thread rewriting its ring, in the foreign byte order of the host. */
VRM_TEST(guest_storm)
{
	struct tr_ring t;
	struct vrm_device dev;
	struct vrm_queue *q = calloc(1, sizeof(*q));
	struct vrm_shadow_queue *sh = aligned_alloc(4096, sizeof(*sh));
	struct vrm_qstats st = { 0 };
	struct storm_result res;
	const long kicks = 1000000;
	int foreign = __BYTE_ORDER__ != __ORDER_BIG_ENDIAN__;

	if (!vrm_subtest("rewrites_during_1e6_kicks") || !VRM_TRUE(q && sh) ||
	    !VRM_EQ(storm_mem(&t, 16, foreign, 1 << 20), 0)) {
		free(q);
		free(sh);
		return;
	}
	tr_device(&t, &dev, getpid());
	vrm_ux_shadow_reset(sh);
	struct vrm_ux_queue rq = { &dev, q, sh, vrm_ux_scratch_new(), &st };

	VRM_EQ(race_storm(&t, &dev, q, sh, 0, storm_kick_ref, &rq, kicks, &res), 0);
	race_storm_verify("", &res, kicks);
	vrm_ux_scratch_free(rq.scr);
	storm_mem_free(&t);
	free(sh);
	free(q);
}
