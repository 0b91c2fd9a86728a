// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Frames for a device, into its receive ring (backend_xdp_int.h): what the
 * steering program hands the device's socket goes through the receive
 * offloads (xdp_gro.c: checksums checked, TCP segments merged, as the
 * device negotiated GUEST_CSUM and GUEST_TSO4/6), and each packet fills
 * the guest's buffers behind a modern virtio-net header (the proxy puts it
 * in the guest's byte order and size on the way back).  With MRG_RXBUF a
 * packet takes as many buffers as it needs, num_buffers in its header;
 * without, one chain (a guest that offered TSO posts big ones).
 */
#include <string.h>

#include <vringmed/byteorder.h>

#include "backend_xdp_int.h"

#define LE VRM_ORDER_LE
#define BIT(n)	(1ull << (n))

/* A packet's bytes, source after source, into a receive chain. */
struct xb_scatter {
	const struct vrm_gro_piece *src;
	unsigned n, i;
	uint32_t off, done;	/* into src[i]; into this chain */
};

static bool xb_scatter_fn(void *ctx, uint8_t *p, uint32_t len)
{
	struct xb_scatter *s = ctx;

	while (len && s->i < s->n) {
		const struct vrm_gro_piece *src = &s->src[s->i];
		uint32_t k = src->len - s->off < len ? src->len - s->off : len;

		memcpy(p, src->p + s->off, k);
		p += k;
		len -= k;
		s->done += k;
		s->off += k;
		if (s->off == src->len) {
			s->i++;
			s->off = 0;
		}
	}
	return s->i < s->n;
}

static bool xb_room_fn(void *ctx, uint8_t *p, uint32_t len)
{
	*(uint32_t *)ctx += len;
	return true;
}

/*
 * One packet into the device's receive buffers: `src` is its bytes, the
 * 12-byte header `hdr` first, `total` in all.  False when the guest has
 * not posted room enough (the buffers stay the guest's: the packet is
 * the caller's to count as dropped).  Every buffer's used element goes
 * out with the others, under one idx.
 */
static bool xb_put_pkt(struct xb_dev *d, uint8_t *hdr, const struct vrm_gro_piece *src, unsigned nsrc,
		       uint32_t total)
{
	struct xb_vq *vq = &d->vq[XB_RX_Q];
	bool mrg = d->features & BIT(VU_NET_F_MRG_RXBUF);
	struct xb_scatter s = { .src = src, .n = nsrc };
	uint16_t heads[VRM_MAX_RING], save = vq->last_avail, n = 0;
	uint32_t room = 0;

	while (room < total) {
		int head = n < vq->num && (!n || mrg) ? xb_pop(vq) : -1;
		uint32_t r = 0;

		if (head < 0 || !xb_walk(d, vq, (uint16_t)head, true, xb_room_fn, &r)) {
			vq->last_avail = save;
			return false;
		}
		heads[n++] = (uint16_t)head;
		room += r;
	}
	vrm_st16(LE, (uint16_t *)(hdr + 10), n);	/* num_buffers */
	for (uint16_t k = 0; k < n; k++) {
		s.done = 0;
		xb_walk(d, vq, heads[k], true, xb_scatter_fn, &s);
		xb_used_put(vq, k, heads[k], s.done);
	}
	xb_used_publish(vq, n);
	return true;
}

/* A packet out of the receive offloads, into the guest. */
static void xb_emit(void *ctx, const struct vrm_gro_pkt *p)
{
	struct xb_dev *d = ctx;
	struct vrm_gro_piece src[VRM_GRO_MAX_SEGS + 2];
	uint8_t hdr[XB_VNET_HDR];
	unsigned n = 0;

	memcpy(hdr, p->vnet, sizeof(hdr));
	src[n++] = (struct vrm_gro_piece){ hdr, sizeof(hdr) };
	if (p->head_len)
		src[n++] = (struct vrm_gro_piece){ p->head, p->head_len };
	for (uint32_t i = 0; i < p->npieces && n < VRM_GRO_MAX_SEGS + 2; i++)
		src[n++] = p->piece[i];
	if (!xb_put_pkt(d, hdr, src, n, XB_VNET_HDR + p->len)) {
		d->slot->st.rx_drops += p->nsegs;
		return;
	}
	d->slot->st.rx_frames += p->nsegs;
	d->slot->st.rx_bytes += p->len;
}

/* A frame not from the device's socket (a broadcast, another device's),
 * as it is, into the device's next receive buffers; false (counted) when
 * the guest has no room for it: the frame is dropped. */
bool xb_deliver(struct xb_dev *d, const uint8_t *frame, uint32_t len)
{
	uint8_t hdr[XB_VNET_HDR] = { 0 };
	struct vrm_gro_piece src[2] = { { hdr, sizeof(hdr) }, { frame, len } };

	if (!xb_put_pkt(d, hdr, src, 2, XB_VNET_HDR + len)) {
		d->slot->st.rx_drops++;
		return false;
	}
	d->slot->st.rx_frames++;
	d->slot->st.rx_bytes += len;
	return true;
}

/* What the device negotiated: TSO only with the checksum offload it
 * needs (virtio 1.x 5.1.3.1). */
static struct vrm_gro_offloads xb_offloads(const struct xb_dev *d)
{
	bool csum = d->features & BIT(VU_NET_F_GUEST_CSUM);

	return (struct vrm_gro_offloads){
		.csum = csum,
		.tso4 = csum && (d->features & BIT(VU_NET_F_GUEST_TSO4)),
		.tso6 = csum && (d->features & BIT(VU_NET_F_GUEST_TSO6)),
	};
}

static void xb_gro_count(struct xb_dev *d)
{
	struct vrm_xdp_stats *st = &d->slot->st;

	st->rx_csum_valid += d->gro.st.csum_valid;
	st->rx_csum_bad += d->gro.st.csum_bad;
	st->rx_coalesced += d->gro.st.coalesced;
	st->rx_merged += d->gro.st.merged;
	memset(&d->gro.st, 0, sizeof(d->gro.st));
}

/* What the steering program handed the device's socket, one batch through
 * the offloads into its guest; every frame goes back to the fill ring
 * once the batch is out, whether it fitted or not. */
void xb_rx(struct xb_dev *d)
{
	struct xb_port *pt = d->port;
	uint64_t bases[XB_BATCH];
	uint32_t at = 0, n, nb = 0;

	if (!d->xsk)
		return;
	n = xsk_ring_cons__peek(&d->rx, XB_BATCH, &at);
	if (!n)
		return;
	vrm_gro_begin(&d->gro, xb_offloads(d), xb_emit, d);
	for (uint32_t k = 0; k < n; k++) {
		const struct xdp_desc *rd = xsk_ring_cons__rx_desc(&d->rx, at + k);
		uint64_t a = xsk_umem__extract_addr(rd->addr);
		uint64_t base = a - a % XB_FRAME_SIZE;

		if (base >= (uint64_t)XB_NFRAMES * XB_FRAME_SIZE ||
		    pt->frame[base / XB_FRAME_SIZE] != XB_FR_FILL || rd->len > XB_FRAME_SIZE - a % XB_FRAME_SIZE) {
			pt->bad_frames++;
			continue;
		}
		vrm_gro_add(&d->gro, xsk_umem__get_data(pt->umem_area, xsk_umem__add_offset_to_addr(rd->addr)),
			    rd->len);
		bases[nb++] = base;
	}
	vrm_gro_end(&d->gro);
	for (uint32_t k = 0; k < nb; k++)
		xb_frame_put(pt, bases[k], XB_FR_FILL);
	xb_gro_count(d);
	xsk_ring_cons__release(&d->rx, n);
}
