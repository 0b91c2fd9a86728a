/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A hostile back-end against the used path, run by the core tests (kick in
 * the reference) and the BPF tests (kick in the kernel): what the kick
 * recorded of each chain must be all that steers the used path, whatever
 * the back-end wrote in the shadow ring it was given.  The used path runs
 * in userspace either way, as the daemon runs it.
 */
#ifndef VRINGMED_BACKEND_H
#define VRINGMED_BACKEND_H

#include <string.h>
#include "ringgen.h"
#include "hostile.h"
#include "uxlate.h"
#include "test.h"

/* A queue under test: the guest ring, the state the kick and the used path
 * share, and the kick of the side under test. */
struct bk {
	struct tr_ring *t;
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	uint32_t (*kick)(void *ctx, uint32_t *chains);
	void *ctx;
	uint16_t used;		/* the back-end's used idx */
};

static inline uint32_t bk_complete(struct bk *b, uint32_t *returned)
{
	struct vrm_qstats st = { 0 };
	struct vrm_ux_queue rq = { b->dev, b->q, b->sh, NULL, &st };

	return vrm_ux_complete(&rq, returned);
}

/* A modern (little-endian) virtio-net header with `nb` buffers, as a
 * back-end writes it. */
static inline void bk_modern_hdr(uint8_t *p, uint16_t nb)
{
	static const uint8_t h[10] = { 0x01, 0x03, 0x34, 0x12, 0x78, 0x56, 0x02, 0x01, 0x04, 0x03 };

	memcpy(p, h, sizeof(h));
	tr_put_le(p + 10, nb, 2);
}

/*
 * Mergeable RX (the header at the start of the buffer, converted in place
 * on the way back): a buffer of one descriptor (the fast path's) and a
 * chain of two (the general step's) are in flight; the back-end fills each
 * with a one-buffer packet, then points their shadow descriptors at other
 * guest memory holding what looks like a header of three buffers.  The
 * used path must convert the headers where the guest put the buffers and
 * leave that memory alone; following the back-end it would convert the
 * wrong bytes and take the next buffer for the second of a packet.
 */
static inline void bk_rx_redirect(struct bk *b)
{
	struct tr_ring *t = b->t;
	const uint64_t victim = t->mem_size - 64;
	uint16_t heads[2];
	uint8_t before[VRM_NET_HDR_MODERN];
	uint32_t chains, ret;

	b->q->net_mode = VRM_NET_RX_INPLACE;
	b->q->net_hdr_len = VRM_NET_HDR_MODERN;
	b->q->hdr_gpa = 0x700000000ull;
	heads[0] = tr_add_chain(t, 1, 1, 1500);
	heads[1] = tr_add_chain(t, 2, 2, 1500);
	tr_publish(t);
	if (!VRM_EQ(b->kick(b->ctx, &chains), VRM_OK) || !VRM_EQ(chains, 2))
		return;
	bk_modern_hdr(t->mem + victim, 3);
	memcpy(before, t->mem + victim, sizeof(before));
	for (int i = 0; i < 2; i++) {
		uint64_t buf = tr_get(t, tr_desc_gpa(t, heads[i]), 8);

		bk_modern_hdr(t->mem + buf, 1);
		tr_put_le(&b->sh->desc[heads[i]].addr, victim, 8);
		tr_backend_use(b->sh, t->size, &b->used, heads[i], 100);
	}
	VRM_EQ(bk_complete(b, &ret), VRM_OK);
	VRM_EQ(ret, 2);
	VRM_CHECK(!memcmp(t->mem + victim, before, sizeof(before)),
		 "the back-end's address was written: memory at 0x%llx changed",
		 (unsigned long long)victim);
	VRM_EQ(b->q->rx_merge_left, 0);
	for (int i = 0; i < 2; i++) {
		uint64_t buf = tr_get(t, tr_desc_gpa(t, heads[i]), 8);

		/* In the guest's order now: hdr_len and num_buffers. */
		VRM_EQ(tr_get(t, buf + 2, 2), 0x1234);
		VRM_EQ(tr_get(t, buf + 10, 2), 1);
	}
	VRM_EQ(b->dev->broken, 0);
}

/*
 * used.len against what each chain offered (vrm_offer): device-writable
 * bytes, or the whole length of a chain with none.  One chain of each path
 * the kick has: single descriptors (the fast path), a chain of two (the
 * fast chain path), chains longer than that (the general step), each with
 * and without device-writable descriptors.  The back-end returns each with
 * exactly what it offered, except chain `over` (-1: none), which gets one
 * byte more: that one gets the verdict, the ones before it reach the guest.
 */
static const struct bk_chain {
	int n, nwrite;
	uint32_t len, offered;
} bk_chains[] = {
	{ 1, 1, 1500, 1500 },	/* an RX buffer */
	{ 1, 0, 64, 64 },	/* a TX frame */
	{ 2, 1, 200, 200 },	/* a request and its reply */
	{ 2, 0, 100, 200 },	/* TX header and frame */
	{ 6, 3, 40, 120 },	/* longer than the fast path takes */
	{ 6, 0, 50, 300 },
};
#define BK_NCHAINS (int)(sizeof(bk_chains) / sizeof(bk_chains[0]))

static inline void bk_used_len(struct bk *b, int over)
{
	struct tr_ring *t = b->t;
	uint16_t heads[BK_NCHAINS];
	uint32_t chains, ret;

	for (int i = 0; i < BK_NCHAINS; i++)
		heads[i] = tr_add_chain(t, bk_chains[i].n, bk_chains[i].nwrite, bk_chains[i].len);
	tr_publish(t);
	if (!VRM_EQ(b->kick(b->ctx, &chains), VRM_OK) || !VRM_EQ(chains, BK_NCHAINS))
		return;
	for (int i = 0; i < BK_NCHAINS; i++)
		tr_backend_use(b->sh, t->size, &b->used, heads[i],
			       bk_chains[i].offered + (i == over));
	if (over < 0) {
		VRM_EQ(bk_complete(b, &ret), VRM_OK);
		VRM_EQ(ret, BK_NCHAINS);
		VRM_EQ(b->dev->broken, 0);
	} else {
		VRM_EQ(bk_complete(b, &ret), VRM_USED_LEN);
		VRM_EQ(ret, over);
		VRM_EQ(b->dev->broken, VRM_USED_LEN);
	}
	for (int i = 0; i < (over < 0 ? BK_NCHAINS : over); i++)
		VRM_EQ(tr_get(t, tr_used_gpa(t) + 8 + 8ull * i, 4), bk_chains[i].offered);
}

#endif
