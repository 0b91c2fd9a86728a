// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A guest that rewrites its ring while BPF reads it. */
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "bfx.h"
#include "race.h"
#include "uxlate.h"
#include "loader.h"
#include "bpf_test.h"

static uint32_t race_kick_bpf(void *ctx)
{
	uint32_t chains;

	return bkick(ctx, &chains);
}

VRM_TEST(bpf_guest_rewrites_while_read)
{
	struct bfx f;
	long n[3], flips;

	if (!vrm_subtest("copy_once") || !bpf_tk())
		return;
	bfx_setup(&f, 5, 8, 1);
	flips = race_copy_once(&f.t, f.dev, f.q, f.sh, 5, race_kick_bpf, &f, 20000, n, 0);
	race_copy_once_verify(" (BPF)", flips, n);
	bfx_fini(&f);
	if (!vrm_subtest("copy_once_indirect"))
		return;
	bfx_setup(&f, 5, 8, 1);
	flips = race_copy_once(&f.t, f.dev, f.q, f.sh, 5, race_kick_bpf, &f, 20000, n,
			       tr_itab_gpa(&f.t, 0));
	race_copy_once_verify(" (BPF, indirect)", flips, n);
	bfx_fini(&f);
}

static uint32_t storm_kick_bpf(void *ctx, uint32_t *chains)
{
	return bkick(ctx, chains);
}

/* The concurrency case in the kernel: 1e6 kicks of the BPF program
 * against a guest thread rewriting its ring.  The queue next to it (its
 * shadow ring and state, filled with a pattern) must not change by a byte. */
VRM_TEST(bpf_guest_storm)
{
	const uint32_t slot = 6, qs = VRM_QSLOT(slot, 0), canary = VRM_QSLOT(7, 0);
	const long kicks = 1000000;
	struct storm_result res;
	struct vrm_qstats st;
	struct bfx f;
	bool intact = true;

	if (!vrm_subtest("rewrites_during_1e6_kicks") || !bpf_tk())
		return;
	memset(&f, 0, sizeof(f));
	if (!VRM_EQ(storm_mem(&f.t, 16, 1, 1 << 20), 0))
		return;
	f.slot = slot;
	f.qslot = qs;
	f.dev = &B.devices[slot];
	f.q = &B.queues[qs];
	f.sh = &B.shadow[qs];
	tr_device(&f.t, f.dev, getpid());
	f.dev->first_queue = qs;
	vrm_ux_shadow_reset(f.sh);
	vrm_bpf_clear_stats(&B, qs);
	memset(&B.shadow[canary], 0xa5, sizeof(B.shadow[canary]));
	memset(&B.queues[canary], 0x5a, sizeof(B.queues[canary]));

	VRM_EQ(race_storm(&f.t, f.dev, f.q, f.sh, slot, storm_kick_bpf, &f, kicks, &res), 0);
	race_storm_verify(" (BPF)", &res, kicks);
	/* No read strayed outside guest memory (the guard pages would fault). */
	if (VRM_EQ(vrm_bpf_read_stats(&B, qs, &st), 0)) {
		VRM_EQ(st.read_faults, 0);
		VRM_EQ(st.kicks, (uint64_t)kicks);
	}
	for (size_t i = 0; i < sizeof(B.shadow[canary]); i++)
		intact &= ((uint8_t *)&B.shadow[canary])[i] == 0xa5;
	for (size_t i = 0; i < sizeof(B.queues[canary]); i++)
		intact &= ((uint8_t *)&B.queues[canary])[i] == 0x5a;
	VRM_CHECK(intact, "the neighbouring queue's shadow ring or state changed");
	memset(&B.queues[canary], 0, sizeof(B.queues[canary]));
	f.dev->flags = 0;
	f.q->flags = 0;
	storm_mem_free(&f.t);
}
