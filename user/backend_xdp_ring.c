// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A device's shadow rings in the XDP back-end (backend_xdp_int.h): the
 * transmit ring's chains become frames out of the interface (or into
 * another device on it), frames for the device fill its receive ring's
 * buffers behind a modern virtio-net header (the proxy puts it in the
 * guest's byte order and size on the way back).  The rings are modern
 * (VERSION_1): every field little-endian, read through the accessors.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <vringmed/byteorder.h>

#include "backend_xdp_int.h"

#define LE VRM_ORDER_LE

/* Guest-physical [gpa, gpa+len) in our mapping, or NULL when no one
 * region holds all of it. */
void *xb_gpa(struct xb_dev *d, uint64_t gpa, uint32_t len)
{
	for (int i = 0; i < d->nreg; i++) {
		struct xb_region *r = &d->reg[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return r->ptr + (gpa - r->gpa);
	}
	return NULL;
}

/* The same for the proxy's own addresses (the rings' addresses). */
void *xb_ua(struct xb_dev *d, uint64_t ua, uint64_t len)
{
	for (int i = 0; i < d->nreg; i++) {
		struct xb_region *r = &d->reg[i];

		if (ua >= r->uaddr && ua - r->uaddr <= r->size && len <= r->size - (ua - r->uaddr))
			return r->ptr + (ua - r->uaddr);
	}
	return NULL;
}

/* The next chain the ring holds, or -1. */
static int xb_pop(struct xb_vq *vq)
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

static void xb_push(struct xb_vq *vq, uint16_t head, uint32_t len)
{
	struct vrm_used_elem *e = (struct vrm_used_elem *)(vq->used + 4) + vq->used_idx % vq->num;

	vrm_st32(LE, &e->id, head);
	vrm_st32(LE, &e->len, len);
	/* The element before the idx that hands it over. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	vrm_st16(LE, (uint16_t *)(vq->used + 2), ++vq->used_idx);
	vq->need_call = true;
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
 * False for a chain that is not a chain: an index out of the ring, a
 * buffer out of the memory table, longer than the ring, indirect.
 */
static bool xb_walk(struct xb_dev *d, struct xb_vq *vq, uint16_t head, bool writable,
		    bool (*fn)(void *ctx, uint8_t *p, uint32_t len), void *ctx)
{
	uint16_t i = head;

	for (unsigned n = 0; n < vq->num; n++) {
		const struct vrm_desc *dp;
		uint16_t flags;
		uint32_t len;
		uint8_t *p;

		if (i >= vq->num)
			return false;
		dp = &vq->desc[i];
		flags = vrm_ld16(LE, &dp->flags);
		len = vrm_ld32(LE, &dp->len);
		if (flags & VRM_VRING_DESC_F_INDIRECT)
			return false;
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

/* Scattering a header and a frame into a receive chain. */
struct xb_scatter {
	const uint8_t *src[2];
	uint32_t left[2], done;
};

static bool xb_scatter_fn(void *ctx, uint8_t *p, uint32_t len)
{
	struct xb_scatter *s = ctx;

	for (unsigned i = 0; i < 2 && len; i++) {
		uint32_t k = len < s->left[i] ? len : s->left[i];

		memcpy(p, s->src[i], k);
		s->src[i] += k;
		s->left[i] -= k;
		s->done += k;
		p += k;
		len -= k;
	}
	return s->left[1] > 0;
}

static bool xb_room_fn(void *ctx, uint8_t *p, uint32_t len)
{
	*(uint32_t *)ctx += len;
	return true;
}

/* One frame into the device's next receive buffer; false (counted) when
 * it has none or the frame does not fit: the frame is dropped. */
bool xb_deliver(struct xb_dev *d, const uint8_t *frame, uint32_t len)
{
	struct xb_vq *vq = &d->vq[XB_RX_Q];
	uint8_t hdr[XB_VNET_HDR] = { 0 };
	struct xb_scatter s = { { hdr, frame }, { XB_VNET_HDR, len }, 0 };
	uint32_t room = 0;
	uint16_t save = vq->last_avail;
	int head = xb_pop(vq);

	if (head < 0 || !xb_walk(d, vq, (uint16_t)head, true, xb_room_fn, &room) ||
	    room < XB_VNET_HDR + len) {
		vq->last_avail = save;	/* the buffer stays the guest's */
		d->slot->st.rx_drops++;
		return false;
	}
	vrm_st16(LE, (uint16_t *)(hdr + 10), 1);	/* num_buffers */
	xb_walk(d, vq, (uint16_t)head, true, xb_scatter_fn, &s);
	xb_push(vq, (uint16_t)head, s.done);
	d->slot->st.rx_frames++;
	d->slot->st.rx_bytes += len;
	return true;
}

/* What the steering program handed the device's socket, into its guest;
 * every frame goes back to the fill ring whether it fitted or not. */
void xb_rx(struct xb_dev *d)
{
	struct xb_port *pt = d->port;
	uint32_t at = 0, n;

	if (!d->xsk)
		return;
	n = xsk_ring_cons__peek(&d->rx, XB_BATCH, &at);
	for (uint32_t k = 0; k < n; k++) {
		const struct xdp_desc *rd = xsk_ring_cons__rx_desc(&d->rx, at + k);
		uint64_t a = xsk_umem__extract_addr(rd->addr);
		uint64_t base = a - a % XB_FRAME_SIZE;

		if (base >= (uint64_t)XB_NFRAMES * XB_FRAME_SIZE ||
		    pt->frame[base / XB_FRAME_SIZE] != XB_FR_FILL || rd->len > XB_FRAME_SIZE - a % XB_FRAME_SIZE) {
			pt->bad_frames++;
			continue;
		}
		xb_deliver(d, xsk_umem__get_data(pt->umem_area, xsk_umem__add_offset_to_addr(rd->addr)),
			   rd->len);
		xb_frame_put(pt, base, XB_FR_FILL);
	}
	if (n)
		xsk_ring_cons__release(&d->rx, n);
}
