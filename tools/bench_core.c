// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Instruction-count benchmark of the translation core (kick direction),
 * through the userspace translator.  Meant to run under
 *   valgrind --tool=callgrind --toggle-collect=bench_kick_256
 * (or --toggle-collect=bench_kick_empty); tools/bench-core.sh does that.
 *
 *   bench_core be|le
 *
 * One ring of 256 entries, 256 single-descriptor chains published at once,
 * one kick: bench_kick_256() is the measured region.  A warm-up kick on a
 * separate, identical queue runs first (under a different function name, so
 * it is not collected) to take lazy PLT binding, ifunc resolution and first
 * page touches out of the figure.  bench_kick_empty() then kicks the drained
 * queue once more: the fixed cost of a kick that finds nothing new.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "uxlate.h"
#include "ringgen.h"
#include "fixture.h"

#define BENCH_RING	256
#define BENCH_CHAINS	256

/* The same set-up as the core tests (testlib/fixture.h). */
static void bq_init(struct fx *b, uint16_t size, int big_endian)
{
	if (fx_init(b, size, big_endian)) {
		fprintf(stderr, "bench_core: queue set-up failed (out of memory?)\n");
		exit(2);
	}
}

/* The guest adds `n` single-descriptor chains and publishes them. */
static void bq_fill(struct fx *b, int n)
{
	for (int i = 0; i < n; i++)
		tr_add_chain(&b->t, 1, 0, 64);
	tr_publish(&b->t);
}

/*
 * The kick functions.  External, noinline and noclone so each stays one
 * symbol callgrind can toggle on (no .constprop/.isra clones); the warm-up
 * ones have other names so they are never collected.
 */
#define BENCH_KICK(name)							\
	__attribute__((noinline, noclone, used))				\
	__u32 name(struct vrm_ux_queue *rq, __u32 *chains)			\
	{									\
		return vrm_ux_kick(rq, chains);					\
	}

BENCH_KICK(bench_warmup_kick)
BENCH_KICK(bench_warmup_empty)
BENCH_KICK(bench_kick_256)
BENCH_KICK(bench_kick_empty)

/* Device headers (bench-core.sh --headers): BENCH_HDR_CHAINS chains of a
 * header and what follows, in one kick, with the header translated
 * (virtio-blk requests: header, data, status; virtio-net TX: header,
 * frame), and the same chains on a queue without header mode: the
 * difference is the header's cost. */
#define BENCH_HDR_CHAINS 64

BENCH_KICK(bench_kick_blk)
BENCH_KICK(bench_kick_plain3)
BENCH_KICK(bench_kick_net_tx)
BENCH_KICK(bench_kick_plain2)

/* A queue of BENCH_HDR_CHAINS chains of `n` descriptors whose first is a
 * `hlen`-byte header and whose last `nw` are device-writable, in header
 * mode `mode`. */
static void bq_headers(struct fx *b, int be, int n, int nw, uint32_t hlen, uint8_t mode)
{
	bq_init(b, BENCH_RING, be);
	b->q->net_mode = mode;
	b->q->net_hdr_len = mode == VRM_NET_TX_SLOT ? (uint8_t)hlen : 0;
	b->q->hdr_gpa = 1ull << 48;
	for (int i = 0; i < BENCH_HDR_CHAINS; i++) {
		uint16_t h = tr_add_chain(&b->t, n, nw, 64);

		tr_set_desc(&b->t, h, b->t.data_gpa + 64ull * h, hlen, VRM_VRING_DESC_F_NEXT,
			    (h + 1) & (BENCH_RING - 1));
	}
	tr_publish(&b->t);
}

static int check(const char *what, __u32 verdict, __u32 chains, __u32 want);

static int bench_headers(int be)
{
	static const struct {
		__u32 (*fn)(struct vrm_ux_queue *, __u32 *);
		const char *name;
		int n, nw;
		uint32_t hlen;
		uint8_t mode;
	} runs[] = {
		{ bench_kick_blk, "blk", 3, 1, 16, VRM_BLK_REQ },
		{ bench_kick_plain3, "plain3", 3, 1, 16, VRM_NET_NONE },
		{ bench_kick_net_tx, "net_tx", 2, 0, 10, VRM_NET_TX_SLOT },
		{ bench_kick_plain2, "plain2", 2, 0, 10, VRM_NET_NONE },
	};
	int bad = 0;

	for (unsigned r = 0; r < sizeof(runs) / sizeof(runs[0]); r++) {
		struct fx warm, meas;
		__u32 chains, v;

		bq_headers(&warm, be, runs[r].n, runs[r].nw, runs[r].hlen, runs[r].mode);
		v = bench_warmup_kick(&warm.rq, &chains);
		bad |= check("warm-up", v, chains, BENCH_HDR_CHAINS);
		bq_headers(&meas, be, runs[r].n, runs[r].nw, runs[r].hlen, runs[r].mode);
		v = runs[r].fn(&meas.rq, &chains);
		bad |= check(runs[r].name, v, chains, BENCH_HDR_CHAINS);
		fx_fini(&warm);
		fx_fini(&meas);
	}
	printf("bench_core: headers order=%s chains=%d %s\n", be ? "be" : "le", BENCH_HDR_CHAINS,
	       bad ? "FAILED" : "ok");
	return bad;
}

static int check(const char *what, __u32 verdict, __u32 chains, __u32 want)
{
	if (verdict != VRM_OK || chains != want) {
		fprintf(stderr, "bench_core: %s: verdict %s (%u), chains %u, want VRM_OK and %u\n",
			what, vrm_verdict_name(verdict), verdict, chains, want);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct fx warm, meas;
	__u32 verdict, chains;
	int be, bad = 0;

	if (argc < 2 || argc > 3 || (strcmp(argv[1], "be") && strcmp(argv[1], "le")) ||
	    (argc == 3 && strcmp(argv[2], "headers"))) {
		fprintf(stderr, "usage: %s be|le [headers]\n", argv[0]);
		return 2;
	}
	be = !strcmp(argv[1], "be");
	if (argc == 3)
		return bench_headers(be);

	/* Warm-up on a separate, identical queue: same code paths, not
	 * collected. */
	bq_init(&warm, BENCH_RING, be);
	bq_fill(&warm, BENCH_CHAINS);
	verdict = bench_warmup_kick(&warm.rq, &chains);
	bad |= check("warm-up kick", verdict, chains, BENCH_CHAINS);
	verdict = bench_warmup_empty(&warm.rq, &chains);
	bad |= check("warm-up empty kick", verdict, chains, 0);

	/* The measured queue: everything set up before the measured call. */
	bq_init(&meas, BENCH_RING, be);
	bq_fill(&meas, BENCH_CHAINS);
	verdict = bench_kick_256(&meas.rq, &chains);
	bad |= check("bench_kick_256", verdict, chains, BENCH_CHAINS);
	if (!bad && (meas.st.chains != BENCH_CHAINS || meas.st.descs != BENCH_CHAINS)) {
		fprintf(stderr, "bench_core: stats say %llu chains, %llu descs\n",
			(unsigned long long)meas.st.chains, (unsigned long long)meas.st.descs);
		bad = 1;
	}

	/* The drained queue kicked again: the fixed cost of a kick. */
	verdict = bench_kick_empty(&meas.rq, &chains);
	bad |= check("bench_kick_empty", verdict, chains, 0);

	printf("bench_core: order=%s ring=%d chains=%d %s\n", argv[1], BENCH_RING,
	       BENCH_CHAINS, bad ? "FAILED" : "ok");
	fx_fini(&warm);
	fx_fini(&meas);
	return bad;
}
