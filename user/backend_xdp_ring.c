// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A device's shadow rings in the XDP back-end (backend_xdp_int.h): the
 * transmit ring's chains become frames out of the interface (or into
 * another device on it); backend_xdp_rx.c fills the receive ring.  The
 * rings are modern (VERSION_1): every field little-endian, read through
 * the accessors.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <vringmed/byteorder.h>

#include "backend_xdp_int.h"

#define LE VRM_ORDER_LE

/* [addr, addr+len) in our mapping, addr being guest-physical (ua false) or
 * the proxy's own address of it (ua: the rings' addresses); NULL when no
 * one region holds all of it. */
static void *xb_addr(struct xb_dev *d, uint64_t addr, uint64_t len, bool ua)
{
	for (int i = 0; i < d->nreg; i++) {
		struct xb_region *r = &d->reg[i];
		uint64_t start = ua ? r->uaddr : r->gpa;

		if (addr >= start && addr - start <= r->size && len <= r->size - (addr - start))
			return r->ptr + (addr - start);
	}
	return NULL;
}

void *xb_gpa(struct xb_dev *d, uint64_t gpa, uint32_t len)
{
	return xb_addr(d, gpa, len, false);
}

void *xb_ua(struct xb_dev *d, uint64_t ua, uint64_t len)
{
	return xb_addr(d, ua, len, true);
}

/* The next chain the ring holds, or -1. */
int xb_pop(struct xb_vq *vq)
{
	uint16_t idx;

	if (!vq->running)
		return -1;
	/* The avail idx before the ring slot it covers: pairs with the
	 * release the translation publishes the idx with. */
	idx = vrm_swab16_if(LE, __atomic_load_n(&vq->avail[1], __ATOMIC_ACQUIRE));
	if (idx == vq->last_avail)
		return -1;
	return vrm_ld16(LE, &vq->avail[2 + vq->last_avail++ % vq->num]);
}

/* Used element `k` after the ring's used idx, not yet handed over. */
void xb_used_put(struct xb_vq *vq, uint16_t k, uint16_t head, uint32_t len)
{
	struct vrm_used_elem *e = (struct vrm_used_elem *)(vq->used + 4) +
				  (uint16_t)(vq->used_idx + k) % vq->num;

	vrm_st32(LE, &e->id, head);
	vrm_st32(LE, &e->len, len);
}

/* The `n` elements put handed over at once: a packet's buffers reach the
 * other side together (a guest takes a merged packet's num_buffers
 * entries as there, or drops it). */
void xb_used_publish(struct xb_vq *vq, uint16_t n)
{
	/* The elements before the idx that hands them over. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vq->used_idx += n;
	vrm_st16(LE, (uint16_t *)(vq->used + 2), vq->used_idx);
	vq->need_call = true;
}

static void xb_push(struct xb_vq *vq, uint16_t head, uint32_t len)
{
	xb_used_put(vq, 0, head, len);
	xb_used_publish(vq, 1);
}

void xb_flush_calls(struct xb_dev *d)
{
	uint64_t one = 1;

	for (unsigned i = 0; i < 2; i++) {
		if (!d->vq[i].need_call || d->vq[i].callfd < 0)
			continue;
		d->vq[i].need_call = false;
		if (write(d->vq[i].callfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			d->vq[i].callfd = -1;
	}
}

/*
 * Walks chain `head` of vq, calling fn for each descriptor whose WRITE flag
 * is `writable` (with the bytes it covers); stops when fn returns false.
 * An indirect descriptor (the mediator's shadow tables: a guest's table,
 * or a 10-byte-header RX buffer split in two) is walked in its table.
 * False for a chain that is not a chain: an index out of the ring or the
 * table, a buffer or table out of the memory table, longer than the ring,
 * a table in a table or with a link after it.
 */
bool xb_walk(struct xb_dev *d, struct xb_vq *vq, uint16_t head, bool writable,
	     bool (*fn)(void *ctx, uint8_t *p, uint32_t len), void *ctx)
{
	const struct vrm_desc *desc = vq->desc;
	unsigned num = vq->num, steps = vq->num;
	bool table = false;
	uint16_t i = head;

	for (unsigned n = 0; n < steps; n++) {
		const struct vrm_desc *dp;
		uint16_t flags;
		uint32_t len;
		uint8_t *p;

		if (i >= num)
			return false;
		dp = &desc[i];
		flags = vrm_ld16(LE, &dp->flags);
		len = vrm_ld32(LE, &dp->len);
		if (flags & VRM_VRING_DESC_F_INDIRECT) {
			if (table || (flags & VRM_VRING_DESC_F_NEXT) || !len ||
			    len % sizeof(*desc) || len / sizeof(*desc) > XB_MAX_TABLE)
				return false;
			desc = xb_gpa(d, vrm_ld64(LE, &dp->addr), len);
			if (!desc)
				return false;
			table = true;
			num = len / sizeof(*desc);
			steps = n + 1 + num;
			i = 0;
			continue;
		}
		if (!!(flags & VRM_VRING_DESC_F_WRITE) == writable && len) {
			p = xb_gpa(d, vrm_ld64(LE, &dp->addr), len);
			if (!p)
				return false;
			if (!fn(ctx, p, len))
				return true;
		}
		if (!(flags & VRM_VRING_DESC_F_NEXT))
			return true;
		i = vrm_ld16(LE, &dp->next);
	}
	return false;
}

/* Gathering a transmitted chain into a frame, the header skipped. */
struct xb_gather {
	uint8_t *out;
	uint32_t skip, len, cap;
	bool too_big;
};

static bool xb_gather_fn(void *ctx, uint8_t *p, uint32_t len)
{
	struct xb_gather *g = ctx;
	uint32_t k = len < g->skip ? len : g->skip;

	g->skip -= k;
	p += k;
	len -= k;
	if (len > g->cap - g->len) {
		g->too_big = true;
		return false;
	}
	memcpy(g->out + g->len, p, len);
	g->len += len;
	return true;
}

/* A frame a device sent goes to the devices on the interface it is for
 * (broadcast, multicast: all of them) and, unless it was for one of them
 * alone, out of the interface: true when it goes out. */
static bool xb_switch(struct xb_dev *d, const uint8_t *f, uint32_t len)
{
	struct xb_port *pt = d->port;
	struct xb_dev *to;

	if (f[0] & 1) {
		for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++) {
			if (pt->dev[i] && pt->dev[i] != d && xb_deliver(pt->dev[i], f, len))
				d->slot->st.local_frames++;
		}
		return true;
	}
	to = xb_find_mac(pt, f);
	if (!to)
		return true;
	if (to != d && xb_deliver(to, f, len))
		d->slot->st.local_frames++;
	return false;
}

/* What became of a transmitted chain. */
enum xb_txr { XB_TX_WAIT, XB_TX_DONE, XB_TX_QUEUED };

/* One chain of the transmit ring into a UMEM frame on the port's TX ring
 * (the anchor's: one socket sends for every device, one ring to wake):
 * QUEUED; DONE when it went to devices only or was dropped; WAIT when
 * there is no room (the chain stays in the ring). */
static enum xb_txr xb_tx_one(struct xb_dev *d)
{
	struct xb_port *pt = d->port;
	struct xb_vq *vq = &d->vq[XB_TX_Q];
	struct xb_gather g = { .skip = XB_VNET_HDR, .cap = XB_FRAME_SIZE };
	uint64_t addr;
	uint32_t at = 0;
	int head;

	if (d->tx_inflight >= XB_TX_MAX || xsk_prod_nb_free(&pt->anchor_tx, 1) < 1)
		return XB_TX_WAIT;
	if (xb_frame_get(pt, &addr))
		return XB_TX_WAIT;
	head = xb_pop(vq);
	if (head < 0) {
		xb_frame_put(pt, addr, XB_FR_FREE);
		return XB_TX_WAIT;
	}
	g.out = xsk_umem__get_data(pt->umem_area, addr);
	if (!xb_walk(d, vq, (uint16_t)head, false, xb_gather_fn, &g) || g.too_big || g.len < 14) {
		d->slot->st.tx_drops++;
		xb_frame_put(pt, addr, XB_FR_FREE);
		xb_push(vq, (uint16_t)head, 0);
		return XB_TX_DONE;
	}
	xb_learn(d, g.out);
	if (!xb_switch(d, g.out, g.len)) {
		xb_frame_put(pt, addr, XB_FR_FREE);
		xb_push(vq, (uint16_t)head, 0);
		return XB_TX_DONE;
	}
	xsk_ring_prod__reserve(&pt->anchor_tx, 1, &at);
	xsk_ring_prod__tx_desc(&pt->anchor_tx, at)->addr = addr;
	xsk_ring_prod__tx_desc(&pt->anchor_tx, at)->len = g.len;
	xsk_ring_prod__tx_desc(&pt->anchor_tx, at)->options = 0;
	pt->frame[addr / XB_FRAME_SIZE] = XB_FR_TX;
	pt->owner[addr / XB_FRAME_SIZE] = (uint8_t)d->idx;
	pt->nstate[XB_FR_FREE]--;
	pt->nstate[XB_FR_TX]++;
	d->tx_inflight++;
	d->slot->st.tx_frames++;
	d->slot->st.tx_bytes += g.len;
	xb_push(vq, (uint16_t)head, 0);
	return XB_TX_QUEUED;
}

/* The device's transmit ring, as far as the UMEM and its TX ring let. */
void xb_tx(struct xb_dev *d)
{
	unsigned queued = 0;
	enum xb_txr r = XB_TX_DONE;

	if (!d->xsk)
		return;
	/* Only what was reserved on the TX ring is submitted: a chain that
	 * went to another device took no slot. */
	for (unsigned n = 0; d->vq[XB_TX_Q].running && n < XB_BATCH * 4 && r != XB_TX_WAIT; n++) {
		r = xb_tx_one(d);
		queued += r == XB_TX_QUEUED;
	}
	if (queued)
		xsk_ring_prod__submit(&d->port->anchor_tx, queued);
}

/* The frames on the port's TX ring go out.  In copy mode a wake-up sends
 * a few dozen only: the rest wait for the next, so every turn with frames
 * out makes one. */
void xb_tx_kick(struct xb_port *pt)
{
	if (pt->nstate[XB_FR_TX] && xsk_ring_prod__needs_wakeup(&pt->anchor_tx))
		sendto(xsk_socket__fd(pt->anchor), NULL, 0, MSG_DONTWAIT, NULL, 0);
}
