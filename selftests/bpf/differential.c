// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* BPF and the userspace translator on 100000 generated rings: the same
 * verdicts, the same bytes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "ringgen.h"
#include "hostile.h"
#include "uxlate.h"
#include "loader.h"
#include "bpf_test.h"

/* ---- differential: BPF vs the userspace reference on generated rings ---- */

/* The generator's state: seeded at the start of the test, so the run
 * checks the same rings whichever tests ran before it. */
#define DIFF_SEED 0x9e3779b97f4a7c15ull
static uint64_t rng_state;
/* Indirect tables the reference translated in the run. */
static long diff_tables, diff_splits;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

struct diff_side {
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
};

static bool diff_equal(const struct diff_side *a, const struct diff_side *b, uint16_t size,
		       char *why, size_t why_len)
{
	if (a->dev->broken != b->dev->broken)
		return snprintf(why, why_len, "broken %s vs %s", vrm_verdict_name(a->dev->broken),
				vrm_verdict_name(b->dev->broken)), false;
	if (a->q->last_avail != b->q->last_avail)
		return snprintf(why, why_len, "last_avail %u vs %u", a->q->last_avail,
				b->q->last_avail), false;
	if (memcmp(a->sh->desc, b->sh->desc, 16u * size))
		return snprintf(why, why_len, "shadow descriptors differ"), false;
	if (a->sh->avail.idx != b->sh->avail.idx ||
	    memcmp(a->sh->avail.ring, b->sh->avail.ring, 2u * size))
		return snprintf(why, why_len, "shadow avail ring differs"), false;
	if (memcmp(a->q->desc_state, b->q->desc_state, 4u * size))
		return snprintf(why, why_len, "descriptor ownership differs"), false;
	if (memcmp(a->sh->hdr, b->sh->hdr, sizeof(a->sh->hdr[0]) * size))
		return snprintf(why, why_len, "shadow header slots differ"), false;
	if (memcmp(a->q->rx_hdr, b->q->rx_hdr, sizeof(a->q->rx_hdr[0]) * size))
		return snprintf(why, why_len, "RX header addresses differ"), false;
	if (memcmp(a->q->offered, b->q->offered, sizeof(a->q->offered[0]) * size))
		return snprintf(why, why_len, "bytes offered per chain differ"), false;
	/* The shadow tables of the heads published as tables. */
	for (uint16_t i = 0; i < size; i++) {
		uint32_t per = vrm_itab_per(size), len = (uint32_t)tr_le(&a->sh->desc[i].len, 4);

		if (!(tr_le(&a->sh->desc[i].flags, 2) & VRM_VRING_DESC_F_INDIRECT))
			continue;
		if (len > 16 * per || memcmp(&a->sh->itab[i * per], &b->sh->itab[i * per], len))
			return snprintf(why, why_len, "shadow table of head %u differs", i), false;
	}
	return true;
}

/* One generated ring: random size, order, start index (so u16 wrap is
 * common), descriptors handed out up, down (Linux's free list once the ring
 * has gone round) or shuffled (completions out of order), chains of 1-5
 * descriptors, a quarter of them behind an indirect descriptor, over 1-3
 * kicks, guest memory in one region or two, and in a
 * third of the rings a hostile class or random garbage in the last kick. */
static bool diff_one(struct tr_ring *t, struct diff_side *ref, struct diff_side *bpfs,
		     struct vrm_scratch *scr, uint32_t slot, char *why, size_t why_len)
{
	static const uint16_t sizes[] = { 2, 4, 8, 16, 32, 64, 128, 256, 1024 };
	uint16_t size = sizes[rnd(9)];
	uint16_t start = (uint16_t)rnd(65536);
	int be = rnd(2), kicks = 1 + rnd(3), hostile = rnd(3) == 0, be_indirect = rnd(2);
	/* A quarter of the rings are queues whose headers need the mediator:
	 * virtio-net TX or RX header slots, 10- or 12-byte legacy headers,
	 * mergeable RX buffers with the header in place, or virtio-blk
	 * requests (the 16-byte header through its slot). */
	int net = rnd(4) ? VRM_NET_NONE : (int[]){ VRM_NET_TX_SLOT, VRM_NET_RX_SLOT, VRM_NET_RX_INPLACE,
						   VRM_BLK_REQ }[rnd(4)];
	int hlen = net == VRM_BLK_REQ ? 16 : net == VRM_NET_RX_INPLACE ? 12 :
		   net == VRM_NET_RX_SLOT || rnd(2) ? 10 : 12;
	struct vrm_qstats rst = { 0 };
	struct vrm_ux_queue rq = { ref->dev, ref->q, ref->sh, scr, &rst };
	uint32_t descs_left;

	t->size = size;
	t->big_endian = be;
	t->avail_idx = start;
	t->next_desc = (uint16_t)rnd(size);
	t->perm = NULL;
	if (rnd(3)) {
		static uint16_t perm[VRM_MAX_RING];
		int down = rnd(2);

		for (uint16_t i = 0; i < size; i++)
			perm[i] = down ? (uint16_t)(size - 1 - i) : i;
		for (uint16_t i = size; !down && i > 1; i--) {
			uint16_t j = (uint16_t)rnd(i), tmp = perm[i - 1];

			perm[i - 1] = perm[j];
			perm[j] = tmp;
		}
		t->perm = perm;
	}
	t->data_gpa = vrm_align_up(t->ring_gpa + vrm_legacy_ring_bytes(size), 4096);
	memset(t->mem + t->ring_gpa, 0, vrm_legacy_ring_bytes(size));
	descs_left = size;

	tr_device(t, ref->dev, getpid());
	if (!rnd(4)) {
		/* Guest memory in two regions, split somewhere among the
		 * buffers: chains across the split, buffers across it. */
		uint64_t split = t->data_gpa + 64ull * rnd(size) + rnd(2) * 32;
		struct vrm_region *r = ref->dev->regions;

		ref->dev->nregions = 2;
		r[1] = r[0];
		r[0].size = split;
		r[1].gpa = split;
		r[1].size -= split;
		r[1].vmm_va += split;
		r[1].mediator_va += split;
	}
	*bpfs->dev = *ref->dev;
	bpfs->dev->first_queue = VRM_QSLOT(slot, 0);
	for (int s = 0; s < 2; s++) {
		struct diff_side *d = s ? bpfs : ref;

		vrm_ux_queue_setup(d->q, slot, size, tr_va(t, t->ring_gpa),
				   tr_va(t, tr_avail_gpa(t)), tr_va(t, tr_used_gpa(t)));
		/* Half the back-ends took INDIRECT_DESC: a 10-byte-header RX
		 * buffer with its frame becomes a shadow table (BPF defers
		 * it to the daemon's pass). */
		d->q->flags = VRM_QF_ENABLED | (be_indirect ? VRM_QF_BE_INDIRECT : 0);
		d->q->last_avail = start;
		d->q->max_chain = 1 + rnd(size);
		d->q->net_mode = (uint8_t)net;
		d->q->net_hdr_len = (uint8_t)hlen;
		d->q->hdr_gpa = 0x700000000ull + 0x10000ull * slot;
		memset(d->q->rx_hdr, 0, sizeof(d->q->rx_hdr));
		memset(d->q->offered, 0, sizeof(d->q->offered));
		memset(d->sh->hdr, 0, sizeof(d->sh->hdr));
		memset(d->sh->desc, 0, 16u * size);
		memset(&d->sh->avail, 0, 4 + 2u * size);
	}
	bpfs->q->max_chain = ref->q->max_chain;

	for (int k = 0; k < kicks; k++) {
		uint32_t chains = 1 + rnd(size), rc, bc;
		uint32_t rv, bv;
		struct vrm_test_args a;

		for (uint32_t c = 0; c < chains; c++) {
			int n = 1 + rnd(VRM_FAST_CHAIN + 1);	/* one longer than the fast path takes */

			int nw = rnd(n + 1);
			uint16_t head;

			if ((uint32_t)n > descs_left)
				break;
			/* Mostly well-formed net chains, so both sides convert. */
			if (net == VRM_NET_TX_SLOT && rnd(8))
				nw = 0;
			if ((net == VRM_NET_RX_SLOT || net == VRM_NET_RX_INPLACE) && rnd(8))
				nw = n;
			/* A request: header, data, status written by the device
			 * (requests come many to a ring: fewer are malformed). */
			if (net == VRM_BLK_REQ && rnd(32)) {
				n = n < 2 ? 2 : n;
				nw = 1 + rnd(n - 1);
			}
			if ((uint32_t)n > descs_left)
				break;
			if (rnd(4)) {
				head = tr_add_chain(t, n, nw, 1 + rnd(9000));
				/* (A lone RX buffer of a 10-byte-header queue
				 * keeps its length half the time: header and
				 * frame in one.) */
				if (net && rnd(net == VRM_BLK_REQ ? 32 :
					       net == VRM_NET_RX_SLOT && n == 1 && be_indirect ? 2 : 8))
					tr_put(t, tr_desc_gpa(t, head) + 8, (uint64_t)hlen, 4);
			} else {
				/* The same chain behind one INDIRECT descriptor,
				 * its entries in table order or scattered (the
				 * walk starts at entry 0), up to the most a
				 * table takes, one descriptor of the ring. */
				uint16_t at[VRM_ITAB_MAX];
				uint32_t m = n + (rnd(4) ? 0 : rnd(vrm_itab_per(size)));

				m = m > vrm_itab_per(size) ? vrm_itab_per(size) : m;
				nw = nw > (int)m ? (int)m : nw;
				for (uint32_t e = 0; e < m; e++)
					at[e] = (uint16_t)e;
				for (uint32_t e = m - 1; rnd(2) && e > 1; e--) {
					uint16_t j = (uint16_t)(1 + rnd(e)), tmp = at[e];

					at[e] = at[j];
					at[j] = tmp;
				}
				head = tr_add_indirect_at(t, (int)m, nw, 1 + rnd(9000), at);
				if (net && rnd(net == VRM_BLK_REQ ? 32 : 8))
					tr_put(t, tr_itab_gpa(t, head) + 8, (uint64_t)hlen, 4);
				n = 1;
			}
			for (int b = 0; (net == VRM_NET_TX_SLOT || net == VRM_BLK_REQ) && b < hlen; b++)
				t->mem[t->data_gpa + 64ull * head + b] = (uint8_t)rnd(256);
			descs_left -= n;
		}
		if (hostile && k == kicks - 1) {
			if (rnd(4) == 0) {
				/* Random garbage in a random descriptor, of the
				 * ring or of a table. */
				uint64_t g = rnd(2) ? tr_desc_gpa(t, rnd(size)) :
					     tr_itab_gpa(t, rnd(size)) + 16ull * rnd(4);

				for (int b = 0; b < 16; b++)
					t->mem[g + b] = (uint8_t)rnd(256);
			} else {
				const struct hostile *h;

				do
					h = &hostiles[rnd(N_HOSTILES)];
				while (h->used_side);
				h->make(&(struct hctx){ t, ref->q, ref->sh });
				bpfs->q->max_chain = ref->q->max_chain;
				bpfs->q->avail_va = ref->q->avail_va;
				bpfs->q->net_mode = ref->q->net_mode;
				bpfs->q->net_hdr_len = ref->q->net_hdr_len;
			}
		}
		tr_publish(t);
		rv = vrm_ux_kick(&rq, &rc);
		if (vrm_bpf_test_kick(&B, VRM_QSLOT(slot, 0), &a))
			return snprintf(why, why_len, "test run failed: %s", strerror(errno)), false;
		bv = a.verdict;
		bc = a.chains;
		if (bv == VRM_DEFER) {
			/* What the daemon does with a deferred kick. */
			struct vrm_qstats dst = { 0 };
			struct vrm_ux_queue dq = { bpfs->dev, bpfs->q, bpfs->sh, scr, &dst };
			uint32_t more;

			bpfs->q->deferred = 0;
			bv = vrm_ux_kick(&dq, &more);
			bc += more;
		}
		if (rv != bv || rc != bc)
			return snprintf(why, why_len, "kick %d: verdict %s/%u vs %s/%u (size %u, %s)",
					k, vrm_verdict_name(rv), rc, vrm_verdict_name(bv), bc, size,
					be ? "be" : "le"), false;
		diff_tables += rst.indirect;
		rst.indirect = 0;
		/* Heads the mediator made tables of (vrm_net_rx_split):
		 * shadow INDIRECT over a guest descriptor that is not. */
		for (uint16_t i = 0; net == VRM_NET_RX_SLOT && i < size; i++)
			diff_splits += (tr_le(&ref->sh->desc[i].flags, 2) & VRM_VRING_DESC_F_INDIRECT) &&
				       !(tr_get(t, tr_desc_gpa(t, i) + 12, 2) & VRM_VRING_DESC_F_INDIRECT) &&
				       ref->q->desc_state[i].owner == i + 1;
		if (!diff_equal(ref, bpfs, size, why, why_len))
			return false;
		if (rv != VRM_OK)
			break;
	}
	return true;
}

VRM_TEST(differential)
{
	const uint32_t slot = 4;
	long rings = getenv("VRM_DIFF_RINGS") ? atol(getenv("VRM_DIFF_RINGS")) : 100000;
	long mismatches = 0, broken = 0;
	struct tr_ring t;
	struct vrm_device rdev;
	struct vrm_queue *rq;
	struct vrm_shadow_queue *rsh;
	struct vrm_scratch *scr;
	struct diff_side ref, bs;
	char why[160];

	if (!vrm_subtest("bpf_equals_reference") || !bpf_tk())
		return;
	rng_state = DIFF_SEED;
	diff_tables = diff_splits = 0;
	if (tr_init(&t, 1024, 0, 1 << 20))
		abort();
	rq = calloc(1, sizeof(*rq));
	rsh = aligned_alloc(4096, sizeof(*rsh));
	scr = vrm_ux_scratch_new();
	ref = (struct diff_side){ &rdev, rq, rsh };
	bs = (struct diff_side){ &B.devices[slot], &B.queues[VRM_QSLOT(slot, 0)],
				 &B.shadow[VRM_QSLOT(slot, 0)] };
	for (long r = 0; r < rings; r++) {
		if (!diff_one(&t, &ref, &bs, scr, slot, why, sizeof(why))) {
			if (mismatches++ < 5)
				printf("      ring %ld: %s\n", r, why);
		}
		broken += rdev.broken != 0;
	}
	printf("differential: %ld rings, %ld mismatches (%ld ended broken, %ld indirect tables, "
	       "%ld RX buffers split)\n", rings, mismatches, broken, diff_tables, diff_splits);
	VRM_EQ(mismatches, 0);
	VRM_TRUE(diff_tables > rings);	/* the indirect share really ran */
	VRM_TRUE(diff_splits > rings / 1000);	/* and the split RX buffers */
	VRM_TRUE(rings >= 100000 || getenv("VRM_DIFF_RINGS"));
	VRM_TRUE(broken > rings / 10);	/* the hostile share really ran */
	B.devices[slot].flags = 0;
	B.queues[VRM_QSLOT(slot, 0)].flags = 0;
	vrm_ux_scratch_free(scr);
	free(rsh);
	free(rq);
	tr_free(&t);
}
