// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The XDP back-end's receive offloads in software (xdp_gro.h): checksums
 * checked, TCP segments of one flow merged.  Everything here reads frames
 * from the wire, anyone's: each header is bounded by the frame and by the
 * IP length field before a byte of it is read, and a frame that is not
 * understood goes to the guest as it came, unmarked.
 *
 * What merges (what Linux's GRO and the old LRO agreed on): TCP over IPv4
 * without options or fragments and with DF, or over IPv6 without
 * extension headers; only ACK, and PSH on the last segment; contiguous
 * sequence numbers, the same acknowledgement and window, the same TOS/TTL
 * (traffic class, flow label, hop limit), the same options but for the
 * timestamp's values, which may only move forward (the merged frame takes
 * the last segment's, as LRO did); every segment the merged frame's MSS
 * but the last, which may be shorter and ends it.  Each segment's
 * checksum is checked first, so a merged frame's is computed from sums
 * already known good.
 */
#include <string.h>

#include "xdp_gro.h"

#define ETH_HLEN	14u
#define TCP_F_FIN	0x01
#define TCP_F_PSH	0x08
#define TCP_F_ACK	0x10

static uint16_t ld16be(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t ld32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void st16be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void st16le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* End-around carry: ones'-complement addition of two partial sums. */
static uint32_t csum_add(uint32_t a, uint32_t b)
{
	a += b;
	return a + (a < b);
}

uint32_t vrm_csum_partial(const uint8_t *p, uint32_t len, uint32_t sum)
{
	uint64_t acc = sum;
	uint32_t w;
	uint16_t h;

	for (; len >= 16; p += 16, len -= 16) {
		uint32_t v[4];

		memcpy(v, p, 16);
		acc += (uint64_t)v[0] + v[1] + v[2] + v[3];
	}
	for (; len >= 4; p += 4, len -= 4) {
		memcpy(&w, p, 4);
		acc += w;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the first of a 16-bit word, the second 0. */
		uint8_t last[2] = { p[0], 0 };

		memcpy(&h, last, 2);
		acc += h;
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t vrm_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* A partial sum moved to an odd offset of the data it is part of. */
static uint32_t csum_shift(uint32_t sum, uint32_t offset)
{
	return offset & 1 ? sum >> 8 | sum << 24 : sum;
}

/* What one frame is, as far as the offloads care. */
struct xg_frame {
	bool v6, tcp, checked, valid, mergeable;
	uint8_t proto;
	uint32_t l3, l4, end;	/* offsets: IP, L4, the IP packet's end */
	uint32_t hlen;		/* TCP: where the payload starts */
	uint32_t pseudo, psum;	/* the pseudo header's sum; TCP: the payload's */
};

/* The IP header: bounds, no fragment, the IPv4 header's own checksum
 * right (a merged frame gets a new one: a wrong one is not laundered).
 * False for what is not IPv4 or IPv6 or not whole. */
static bool xg_ip(const uint8_t *f, uint32_t len, struct xg_frame *x)
{
	const uint8_t *ip = f + ETH_HLEN;
	uint8_t ph[40] = { 0 };
	uint32_t et, l4len;

	if (len < ETH_HLEN + 20)
		return false;
	et = ld16be(f + 12);
	x->l3 = ETH_HLEN;
	if (et == 0x0800 && (ip[0] >> 4) == 4) {
		uint32_t ihl = (ip[0] & 15u) * 4, tot = ld16be(ip + 2);

		if (ihl < 20 || tot < ihl || ETH_HLEN + tot > len || (ip[6] & 0x3f) || ip[7] ||
		    vrm_csum_fold(vrm_csum_partial(ip, ihl, 0)) != 0xffff)
			return false;
		x->proto = ip[9];
		x->l4 = ETH_HLEN + ihl;
		x->end = ETH_HLEN + tot;
		l4len = tot - ihl;
		memcpy(ph, ip + 12, 8);
		ph[9] = x->proto;
		st16be(ph + 10, l4len);
		x->pseudo = vrm_csum_partial(ph, 12, 0);
		x->mergeable = ihl == 20 && (ip[6] & 0x40);	/* no options, DF */
		return true;
	}
	if (et == 0x86dd && len >= ETH_HLEN + 40 && (ip[0] >> 4) == 6) {
		l4len = ld16be(ip + 4);
		if (!l4len || ETH_HLEN + 40 + l4len > len)
			return false;	/* a jumbogram, or cut short */
		x->v6 = true;
		x->proto = ip[6];
		x->l4 = ETH_HLEN + 40;
		x->end = x->l4 + l4len;
		memcpy(ph, ip + 8, 32);
		st16be(ph + 34, l4len);
		ph[39] = x->proto;
		x->pseudo = vrm_csum_partial(ph, 40, 0);
		x->mergeable = true;
		return true;
	}
	return false;
}

/* The frame's TCP or UDP checksum, computed: x->checked when there is one
 * to check, x->valid when it is right. */
static void xg_classify(const uint8_t *f, uint32_t len, struct xg_frame *x)
{
	const uint8_t *l4;
	uint32_t l4len, doff, sum;
	bool ip_mergeable;

	memset(x, 0, sizeof(*x));
	if (!xg_ip(f, len, x))
		return;
	/* Mergeable only once the TCP header below is known whole. */
	ip_mergeable = x->mergeable;
	x->mergeable = false;
	l4 = f + x->l4;
	l4len = x->end - x->l4;
	if (x->proto == 6 && l4len >= 20) {
		doff = (l4[12] >> 4) * 4u;
		if (doff < 20 || doff > l4len)
			return;
		x->tcp = x->checked = true;
		x->hlen = x->l4 + doff;
		x->psum = vrm_csum_partial(l4 + doff, l4len - doff, 0);
		sum = csum_add(x->pseudo, vrm_csum_partial(l4, doff, x->psum));
		x->valid = vrm_csum_fold(sum) == 0xffff;
		/* Only ACK, and PSH (which ends a merge), with data. */
		x->mergeable = ip_mergeable && x->valid && (l4[13] & ~TCP_F_PSH) == TCP_F_ACK &&
			       l4len > doff;
		return;
	}
	/* UDP: over IPv4 a zero checksum is none (nothing to check); over
	 * IPv6 it is wrong. */
	if (x->proto == 17 && l4len >= 8 && ld16be(l4 + 4) == l4len &&
	    (x->v6 || ld16be(l4 + 6))) {
		x->checked = true;
		x->valid = vrm_csum_fold(vrm_csum_partial(l4, l4len, x->pseudo)) == 0xffff;
	}
}

/* Where the timestamp option's values are in TCP header `t` of `doff`
 * bytes (an offset from t), or -1. */
static int32_t xg_ts_at(const uint8_t *t, uint32_t doff)
{
	for (uint32_t i = 20; i < doff;) {
		if (t[i] == 0)
			break;
		if (t[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= doff || t[i + 1] < 2 || i + t[i + 1] > doff)
			break;
		if (t[i] == 8 && t[i + 1] == 10)
			return (int32_t)i + 2;
		i += t[i + 1];
	}
	return -1;
}

static void xg_emit_one(struct vrm_gro *g, const uint8_t *f, uint32_t len, bool valid)
{
	struct vrm_gro_pkt *p = &g->one;

	memset(p->vnet, 0, sizeof(p->vnet));
	if (valid) {
		p->vnet[0] = VRM_VNET_F_DATA_VALID;
		g->st.csum_valid++;
	}
	p->head_len = 0;
	p->npieces = 1;
	p->piece[0] = (struct vrm_gro_piece){ f, len };
	p->len = len;
	p->nsegs = 1;
	g->emit(g->ctx, p);
}

/* A merge's headers made those of the one frame it became: lengths, the
 * IPv4 header's checksum, PSH, the last timestamp, the TCP checksum. */
static void xg_rewrite(struct vrm_gro_flow *fl)
{
	uint8_t *h = fl->pkt.head, *ip = h + fl->l3, *t = h + fl->l4;
	uint32_t tcplen = fl->hlen - fl->l4 + fl->payload, sum;
	uint16_t c;

	if (fl->v6) {
		st16be(ip + 4, tcplen);
		sum = vrm_csum_partial(ip + 8, 32, 0);
	} else {
		st16be(ip + 2, fl->hlen - fl->l3 + fl->payload);
		st16be(ip + 10, 0);
		c = (uint16_t)~vrm_csum_fold(vrm_csum_partial(ip, 20, 0));
		memcpy(ip + 10, &c, 2);
		sum = vrm_csum_partial(ip + 12, 8, 0);
	}
	t[13] |= fl->psh;
	if (fl->ts >= 0) {
		uint8_t v[8];

		for (int i = 0; i < 4; i++) {
			v[i] = (uint8_t)(fl->last_tsval >> (24 - 8 * i));
			v[4 + i] = (uint8_t)(fl->last_tsecr >> (24 - 8 * i));
		}
		memcpy(t + fl->ts, v, 8);
	}
	st16be(t + 16, 0);
	{
		uint8_t ph[4] = { 0, 6, (uint8_t)(tcplen >> 8), (uint8_t)tcplen };

		sum = vrm_csum_partial(ph, 4, sum);
	}
	sum = csum_add(sum, vrm_csum_partial(t, fl->hlen - fl->l4, fl->psum));
	c = (uint16_t)~vrm_csum_fold(sum);
	memcpy(t + 16, &c, 2);
}

/* An open merge goes to the guest: its first frame as it came when it is
 * alone, else the one frame the segments make. */
static void xg_flush(struct vrm_gro *g, struct vrm_gro_flow *fl)
{
	struct vrm_gro_pkt *p = &fl->pkt;

	fl->open = false;
	g->nopen--;
	if (p->nsegs == 1) {
		xg_emit_one(g, fl->first, fl->first_len, true);
		return;
	}
	xg_rewrite(fl);
	memset(p->vnet, 0, sizeof(p->vnet));
	p->vnet[0] = VRM_VNET_F_DATA_VALID;
	p->vnet[1] = fl->v6 ? VRM_VNET_GSO_TCPV6 : VRM_VNET_GSO_TCPV4;
	st16le(p->vnet + 2, fl->hlen);
	st16le(p->vnet + 4, fl->mss);
	p->head_len = fl->hlen;
	p->len = fl->hlen + fl->payload;
	g->st.csum_valid += p->nsegs;
	g->st.coalesced += p->nsegs;
	g->st.merged++;
	g->emit(g->ctx, p);
}

/* Every open merge, in the order they were opened. */
static void xg_flush_all(struct vrm_gro *g)
{
	while (g->nopen) {
		struct vrm_gro_flow *old = NULL;

		for (unsigned i = 0; i < VRM_GRO_FLOWS; i++)
			if (g->flow[i].open && (!old || g->flow[i].seq_at < old->seq_at))
				old = &g->flow[i];
		xg_flush(g, old);
	}
}

static void xg_open(struct vrm_gro *g, struct vrm_gro_flow *fl, const uint8_t *f, uint32_t len,
		    const struct xg_frame *x)
{
	const uint8_t *t = f + x->l4;
	uint32_t plen = x->end - x->hlen;

	fl->open = true;
	fl->closed = t[13] & TCP_F_PSH;
	fl->psh = t[13] & TCP_F_PSH;
	fl->v6 = x->v6;
	fl->seq_at = g->seq++;
	fl->l3 = x->l3;
	fl->l4 = x->l4;
	fl->hlen = x->hlen;
	fl->ts = xg_ts_at(t, x->hlen - x->l4);
	if (fl->ts >= 0) {
		fl->last_tsval = ld32be(t + fl->ts);
		fl->last_tsecr = ld32be(t + fl->ts + 4);
	}
	fl->next_seq = ld32be(t + 4) + plen;
	fl->mss = fl->payload = plen;
	fl->psum = x->psum;
	fl->first = f;
	fl->first_len = len;
	memcpy(fl->pkt.head, f, x->hlen);
	fl->pkt.piece[0] = (struct vrm_gro_piece){ f + x->hlen, plen };
	fl->pkt.npieces = fl->pkt.nsegs = 1;
	g->nopen++;
}

/* Frame f is of open merge fl's flow: the same MACs and EtherType, the
 * same addresses, the same ports. */
static bool xg_same_flow(const struct vrm_gro_flow *fl, const uint8_t *f, const struct xg_frame *x)
{
	const uint8_t *h = fl->pkt.head;

	if (fl->v6 != x->v6 || fl->l4 != x->l4 || memcmp(h, f, ETH_HLEN))
		return false;
	if (x->v6 ? memcmp(h + fl->l3 + 8, f + x->l3 + 8, 32) :
		    memcmp(h + fl->l3 + 12, f + x->l3 + 12, 8))
		return false;
	return !memcmp(h + fl->l4, f + x->l4, 4);
}

/* Whether segment f of fl's flow may join it (xdp_gro.c's top comment). */
static bool xg_fits(const struct vrm_gro_flow *fl, const uint8_t *f, const struct xg_frame *x)
{
	const uint8_t *h = fl->pkt.head, *t = f + x->l4, *ht = h + fl->l4;
	const uint8_t *ip = f + x->l3, *hip = h + fl->l3;
	uint32_t plen = x->end - x->hlen, ts = (uint32_t)fl->ts;

	if (fl->closed || x->hlen != fl->hlen || plen > fl->mss || ld32be(t + 4) != fl->next_seq ||
	    fl->pkt.npieces >= VRM_GRO_MAX_SEGS ||
	    fl->hlen - fl->l3 + fl->payload + plen > VRM_GRO_MAX_IP)
		return false;
	if (memcmp(t + 8, ht + 8, 4) || memcmp(t + 14, ht + 14, 2))	/* ack, window */
		return false;
	if (x->v6 ? memcmp(ip, hip, 4) || ip[7] != hip[7] : ip[1] != hip[1] || ip[8] != hip[8])
		return false;
	if (fl->ts < 0)
		return !memcmp(t + 20, ht + 20, x->hlen - x->l4 - 20);
	if (memcmp(t + 20, ht + 20, ts - 20) || memcmp(t + ts + 8, ht + ts + 8, x->hlen - x->l4 - ts - 8))
		return false;
	return (int32_t)(ld32be(t + ts) - fl->last_tsval) >= 0;
}

static void xg_append(struct vrm_gro_flow *fl, const uint8_t *f, const struct xg_frame *x)
{
	const uint8_t *t = f + x->l4;
	uint32_t plen = x->end - x->hlen;

	fl->psum = csum_add(fl->psum, csum_shift(x->psum, fl->payload));
	fl->pkt.piece[fl->pkt.npieces++] = (struct vrm_gro_piece){ f + x->hlen, plen };
	fl->pkt.nsegs++;
	fl->payload += plen;
	fl->next_seq += plen;
	fl->psh = t[13] & TCP_F_PSH;
	fl->closed = fl->psh || plen < fl->mss;
	if (fl->ts >= 0) {
		fl->last_tsval = ld32be(t + fl->ts);
		fl->last_tsecr = ld32be(t + fl->ts + 4);
	}
}

void vrm_gro_begin(struct vrm_gro *g, struct vrm_gro_offloads off, vrm_gro_emit_fn emit, void *ctx)
{
	g->off = off;
	g->emit = emit;
	g->ctx = ctx;
	g->nopen = 0;
	for (unsigned i = 0; i < VRM_GRO_FLOWS; i++)
		g->flow[i].open = false;
}

void vrm_gro_add(struct vrm_gro *g, const uint8_t *frame, uint32_t len)
{
	struct vrm_gro_flow *fl = NULL, *free_fl = NULL;
	struct xg_frame x;

	if (!g->off.csum) {
		xg_emit_one(g, frame, len, false);
		return;
	}
	xg_classify(frame, len, &x);
	g->st.csum_bad += x.checked && !x.valid;
	if (!x.mergeable || !(x.v6 ? g->off.tso6 : g->off.tso4)) {
		/* Whatever merges end here first: no flow overtakes itself. */
		xg_flush_all(g);
		xg_emit_one(g, frame, len, x.checked && x.valid);
		return;
	}
	for (unsigned i = 0; i < VRM_GRO_FLOWS && !fl; i++) {
		if (!g->flow[i].open)
			free_fl = free_fl ? free_fl : &g->flow[i];
		else if (xg_same_flow(&g->flow[i], frame, &x))
			fl = &g->flow[i];
	}
	if (fl && xg_fits(fl, frame, &x)) {
		xg_append(fl, frame, &x);
		return;
	}
	if (fl) {
		xg_flush(g, fl);
	} else if (!free_fl) {
		xg_flush_all(g);
		fl = &g->flow[0];
	} else {
		fl = free_fl;
	}
	xg_open(g, fl, frame, len, &x);
}

void vrm_gro_end(struct vrm_gro *g)
{
	xg_flush_all(g);
}
