// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The XDP back-end's receive offloads (user/xdp_gro.c) on crafted frames:
 * what merges, what does not and stays in order, and every header field
 * and checksum of what comes out, checked here by a byte-wise reference
 * sum of the test's own (also on the big-endian s390x build).
 */
#include <string.h>

#include "test.h"
#include "xdp_gro.h"
#include "csum_ref.h"

#define MAXOUT	80
#define SRC4	0x0a000202u
#define DST4	0x0a00020fu

/* One crafted segment. */
struct seg {
	bool v6, ts, ipopt, frag, nodf, bad, hbh;
	uint8_t flags, ttl;
	uint16_t sport, win;
	uint32_t seq, plen, tsval;
	uint8_t mssopt;		/* nonzero: an MSS option (different options) */
};

/* What came out: each packet flattened, header first. */
struct out {
	unsigned n;
	uint32_t len[MAXOUT], nsegs[MAXOUT];
	uint8_t buf[MAXOUT][VRM_GRO_VNET_HDR + 70000];
};

static struct out out;

static void collect(void *ctx, const struct vrm_gro_pkt *p)
{
	uint8_t *b;

	if (out.n >= MAXOUT)
		return;
	b = out.buf[out.n];
	memcpy(b, p->vnet, VRM_GRO_VNET_HDR);
	memcpy(b + VRM_GRO_VNET_HDR, p->head, p->head_len);
	b += VRM_GRO_VNET_HDR + p->head_len;
	for (uint32_t i = 0; i < p->npieces; i++) {
		memcpy(b, p->piece[i].p, p->piece[i].len);
		b += p->piece[i].len;
	}
	out.len[out.n] = p->len;
	out.nsegs[out.n++] = p->nsegs;
}

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t be32(const uint8_t *p) { return (uint32_t)be16(p) << 16 | be16(p + 2); }
static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, v >> 16); put16(p + 2, v); }

/* The TCP checksum of the IP packet at ip (the L4 header at l4) is right. */
static bool ref_l4_ok(const uint8_t *ip, const uint8_t *l4, uint32_t l4len, bool v6, uint8_t proto)
{
	uint32_t s = v6 ? ref_sum(ip + 8, 32, 0) : ref_sum(ip + 12, 8, 0);

	s += proto + l4len;
	return ref_fold(ref_sum(l4, l4len, s)) == 0xffff;
}

static uint8_t pay(uint32_t seq) { return (uint8_t)(seq * 7 + (seq >> 8)); }

/* Segment s as a frame in f; its length. */
static uint32_t mk(uint8_t *f, const struct seg *s)
{
	uint32_t l3 = 14, iph = s->v6 ? 40 : (s->ipopt ? 24 : 20), ext = s->hbh ? 8 : 0;
	uint32_t l4 = l3 + iph + ext, doff = 20 + (s->ts ? 12 : 0) + (s->mssopt ? 4 : 0), k;
	uint8_t *ip = f + l3, *t = f + l4;

	memset(f, 0, l4 + doff);
	memcpy(f, "\x52\x54\x00\x12\x34\x56\x02\x00\x00\x00\x00\x02", 12);
	put16(f + 12, s->v6 ? 0x86dd : 0x0800);
	if (s->v6) {
		put32(ip, 0x60000000);
		put16(ip + 4, ext + doff + s->plen);
		ip[6] = s->hbh ? 0 : 6;
		ip[7] = s->ttl ? s->ttl : 64;
		ip[23] = 2;
		ip[39] = 15;
		ip[24] = ip[8] = 0xfd;
		if (s->hbh)
			memcpy(ip + 40, "\x06\x00\x01\x04\x00\x00\x00\x00", 8);
	} else {
		ip[0] = 0x40 | (uint8_t)(iph / 4);
		put16(ip + 2, iph + doff + s->plen);
		put16(ip + 6, (s->nodf ? 0 : 0x4000) | (s->frag ? 0x2000 : 0));
		ip[8] = s->ttl ? s->ttl : 64;
		ip[9] = 6;
		put32(ip + 12, SRC4);
		put32(ip + 16, DST4);
		if (s->ipopt)
			memcpy(ip + 20, "\x01\x01\x01\x00", 4);
		put16(ip + 10, (uint16_t)~ref_fold(ref_sum(ip, iph, 0)));
	}
	put16(t, s->sport ? s->sport : 8080);
	put16(t + 2, 40000);
	put32(t + 4, s->seq);
	put32(t + 8, 777);
	t[12] = (uint8_t)(doff / 4 << 4);
	t[13] = s->flags ? s->flags : 0x10;
	put16(t + 14, s->win ? s->win : 500);
	k = 20;
	if (s->mssopt) {
		memcpy(t + k, "\x02\x04\x05", 3);
		t[k + 3] = s->mssopt;
		k += 4;
	}
	if (s->ts) {
		memcpy(t + k, "\x01\x01\x08\x0a", 4);
		put32(t + k + 4, s->tsval);
		put32(t + k + 8, 99);
	}
	for (uint32_t i = 0; i < s->plen; i++)
		t[doff + i] = pay(s->seq + i);
	put16(t + 16, (uint16_t)~ref_fold(ref_sum(t, doff + s->plen,
			ref_sum(s->v6 ? ip + 8 : ip + 12, s->v6 ? 32 : 8, 0) + 6 + doff + s->plen)));
	if (s->bad)
		t[doff] ^= 1;
	return l4 + doff + s->plen;
}

/* Runs one batch of `n` segments through the coalescer. */
static struct vrm_gro_stats run(const struct seg *s, unsigned n, struct vrm_gro_offloads off)
{
	static uint8_t frames[MAXOUT][2048];
	static struct vrm_gro g;
	uint32_t len[MAXOUT];

	memset(&g, 0, sizeof(g));
	out.n = 0;
	for (unsigned i = 0; i < n; i++)
		len[i] = mk(frames[i], &s[i]);
	vrm_gro_begin(&g, off, collect, NULL);
	for (unsigned i = 0; i < n; i++)
		vrm_gro_add(&g, frames[i], len[i]);
	vrm_gro_end(&g);
	return g.st;
}

static const struct vrm_gro_offloads ALL = { true, true, true };

/* Output packet i: a TCP frame whose IP and TCP checksums are right, whose
 * payload is the stream from `seq` on for `plen` bytes, with the virtio
 * header's flags, GSO type and size. */
static void check_pkt(unsigned i, uint32_t seq, uint32_t plen, uint8_t flags, uint8_t gso,
		      uint16_t gso_size)
{
	const uint8_t *v = out.buf[i], *f = v + VRM_GRO_VNET_HDR, *ip = f + 14, *t;
	bool v6 = be16(f + 12) == 0x86dd;
	uint32_t iph = v6 ? 40 : (ip[0] & 15) * 4u, l4len, doff, bad = 0;

	if (!VRM_CHECK(i < out.n, "packet %u of %u", i, out.n))
		return;
	VRM_EQ(v[0], flags);
	VRM_EQ(v[1], gso);
	VRM_EQ(v[4] | v[5] << 8, gso_size);
	l4len = v6 ? be16(ip + 4) : be16(ip + 2) - iph;
	t = ip + iph;
	doff = (t[12] >> 4) * 4u;
	if (gso)
		VRM_EQ(v[2] | v[3] << 8, 14 + iph + doff);
	VRM_EQ(out.len[i], 14 + iph + l4len);
	if (!v6)
		VRM_EQ(ref_fold(ref_sum(ip, iph, 0)), 0xffff);
	VRM_TRUE(ref_l4_ok(ip, t, l4len, v6, 6));
	VRM_EQ(be32(t + 4), seq);
	VRM_EQ(l4len - doff, plen);
	for (uint32_t k = 0; k < plen && k < l4len - doff; k++)
		bad += t[doff + k] != pay(seq + k);
	VRM_EQ(bad, 0);
}

#define NS(a) (sizeof(a) / sizeof((a)[0]))

VRM_TEST(gro_merges)
{
	if (vrm_subtest("contiguous_v4")) {
		struct seg s[5];
		struct vrm_gro_stats st;

		for (unsigned i = 0; i < 5; i++)
			s[i] = (struct seg){ .seq = 1000 + 1448 * i, .plen = i < 4 ? 1448 : 501 };
		s[4].flags = 0x18;	/* PSH on the last */
		st = run(s, 5, ALL);
		VRM_EQ(out.n, 1);
		VRM_EQ(out.nsegs[0], 5);
		check_pkt(0, 1000, 4 * 1448 + 501, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV4, 1448);
		VRM_EQ(out.buf[0][12 + 14 + 20 + 13], 0x18);	/* PSH kept */
		VRM_EQ(st.coalesced, 5);
		VRM_EQ(st.merged, 1);
		VRM_EQ(st.csum_valid, 5);
		VRM_EQ(st.csum_bad, 0);
	}
	if (vrm_subtest("timestamps_forward_last_kept")) {
		struct seg s[3];
		const uint8_t *t = out.buf[0] + 12 + 34;

		for (unsigned i = 0; i < 3; i++)
			s[i] = (struct seg){ .seq = 7 + 1000 * i, .plen = 1000, .ts = true, .tsval = 50 + i };
		run(s, 3, ALL);
		VRM_EQ(out.n, 1);
		check_pkt(0, 7, 3000, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV4, 1000);
		VRM_EQ(be32(t + 24), 52);	/* NOP NOP kind len TSval */
	}
	if (vrm_subtest("v6")) {
		struct seg s[4];

		for (unsigned i = 0; i < 4; i++)
			s[i] = (struct seg){ .v6 = true, .seq = 0xfffff000u + 1200 * i, .plen = 1200 };
		run(s, 4, ALL);
		VRM_EQ(out.n, 1);
		check_pkt(0, 0xfffff000u, 4800, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV6, 1200);
	}
	if (vrm_subtest("odd_mss")) {
		struct seg s[3];

		for (unsigned i = 0; i < 3; i++)
			s[i] = (struct seg){ .seq = 1 + 999 * i, .plen = 999 };
		run(s, 3, ALL);
		VRM_EQ(out.n, 1);
		check_pkt(0, 1, 2997, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV4, 999);
	}
	if (vrm_subtest("two_flows_interleaved")) {
		struct seg s[6];

		for (unsigned i = 0; i < 6; i++)
			s[i] = (struct seg){ .seq = 100 + 1000 * (i / 2), .plen = 1000,
					     .sport = i & 1 ? 8081 : 8080 };
		run(s, 6, ALL);
		VRM_EQ(out.n, 2);
		check_pkt(0, 100, 3000, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV4, 1000);
		check_pkt(1, 100, 3000, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV4, 1000);
		VRM_EQ(be16(out.buf[0] + 12 + 34), 8080);
		VRM_EQ(be16(out.buf[1] + 12 + 34), 8081);
	}
	if (vrm_subtest("split_at_64k")) {
		struct seg s[60];
		uint32_t seq = 5, n1;

		for (unsigned i = 0; i < 60; i++)
			s[i] = (struct seg){ .seq = 5 + 1448 * i, .plen = 1448 };
		run(s, 60, ALL);
		VRM_EQ(out.n, 2);
		n1 = out.nsegs[0];
		VRM_TRUE(20 + 20 + 1448 * n1 <= 65535 && 20 + 20 + 1448 * (n1 + 1) > 65535);
		check_pkt(0, seq, 1448 * n1, VRM_VNET_F_DATA_VALID, VRM_VNET_GSO_TCPV4, 1448);
		check_pkt(1, seq + 1448 * n1, 1448 * (60 - n1), VRM_VNET_F_DATA_VALID,
			  VRM_VNET_GSO_TCPV4, 1448);
	}
}

/* Each case: segments 0..n-1 of one flow, one of them spoiled; what must
 * come out, in order: (first segment, segments in it, merged?). */
struct nomerge {
	const char *name;
	unsigned spoil;
	void (*spoil_fn)(struct seg *s);
	unsigned nout;
	struct { unsigned first, nsegs; uint8_t flags; } o[4];
};

static void sp_gap(struct seg *s) { s->seq += 1; }
static void sp_syn(struct seg *s) { s->flags = 0x12; }
static void sp_fin(struct seg *s) { s->flags = 0x11; }
static void sp_rst(struct seg *s) { s->flags = 0x14; }
static void sp_urg(struct seg *s) { s->flags = 0x30; }
static void sp_opt(struct seg *s) { s->mssopt = 0xb4; }
static void sp_ipopt(struct seg *s) { s->ipopt = true; }
static void sp_frag(struct seg *s) { s->frag = true; }
static void sp_nodf(struct seg *s) { s->nodf = true; }
static void sp_ttl(struct seg *s) { s->ttl = 63; }
static void sp_win(struct seg *s) { s->win = 501; }
static void sp_bad(struct seg *s) { s->bad = true; }
static void sp_ts_back(struct seg *s) { s->tsval = 1; }
static void sp_short(struct seg *s) { s->plen = 500; }

VRM_TEST(gro_does_not_merge)
{
	/* Segment 2 of 4 spoiled: 0+1 merged, 2 alone (marked when its
	 * checksum is right), then 3: alone where 2 breaks the flow's run
	 * for it too (its sequence, its options), merged with 2 where 2
	 * could open a merge. */
	static const struct nomerge cases[] = {
		{ "gap", 2, sp_gap, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "syn", 2, sp_syn, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "fin", 2, sp_fin, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "rst", 2, sp_rst, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "urg", 2, sp_urg, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "options_differ", 2, sp_opt, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "ip_option", 2, sp_ipopt, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "fragment", 2, sp_frag, 3, { { 0, 2, 2 }, { 2, 1, 0 }, { 3, 1, 2 } } },
		{ "no_df", 2, sp_nodf, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "ttl_differs", 2, sp_ttl, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "window_differs", 2, sp_win, 3, { { 0, 2, 2 }, { 2, 1, 2 }, { 3, 1, 2 } } },
		{ "bad_checksum", 2, sp_bad, 3, { { 0, 2, 2 }, { 2, 1, 0 }, { 3, 1, 2 } } },
		{ "timestamp_backwards", 2, sp_ts_back, 2, { { 0, 2, 2 }, { 2, 2, 2 } } },
		{ "short_ends_it", 1, sp_short, 2, { { 0, 2, 2 }, { 2, 2, 2 } } },
	};

	for (unsigned c = 0; c < NS(cases); c++) {
		const struct nomerge *k = &cases[c];
		struct seg s[4];
		uint32_t seq[4];

		if (!vrm_subtest("%s", k->name))
			continue;
		for (unsigned i = 0; i < 4; i++)
			s[i] = (struct seg){ .seq = 1000 * i, .plen = 1000, .ts = true, .tsval = 10 + i };
		k->spoil_fn(&s[k->spoil]);
		for (unsigned i = 0; i < 4; i++)
			seq[i] = s[i].seq;
		run(s, 4, ALL);
		VRM_EQ(out.n, k->nout);
		for (unsigned i = 0; i < k->nout && i < out.n; i++) {
			const uint8_t *t;
			unsigned first = k->o[i].first;

			VRM_EQ(out.nsegs[i], k->o[i].nsegs);
			VRM_EQ(out.buf[i][0], k->o[i].flags);
			VRM_EQ(out.buf[i][1], k->o[i].nsegs > 1 ? VRM_VNET_GSO_TCPV4 : 0);
			/* In order: each packet starts at the segment it should. */
			t = out.buf[i] + 12 + 14 + (s[first].ipopt ? 24 : 20);
			VRM_EQ(be32(t + 4), seq[first]);
		}
	}
}

VRM_TEST(gro_marks)
{
	if (vrm_subtest("v6_extension_header_checked_not_merged")) {
		struct seg s[2] = { { .v6 = true, .hbh = true, .seq = 0, .plen = 100 },
				    { .v6 = true, .hbh = true, .seq = 100, .plen = 100 } };

		run(s, 2, ALL);
		VRM_EQ(out.n, 2);
		VRM_EQ(out.buf[0][0], 0);	/* not a TCP header we parse */
		VRM_EQ(out.buf[1][1], 0);
	}
	if (vrm_subtest("tso_off_checked_not_merged")) {
		struct seg s[3] = { { .seq = 0, .plen = 100 }, { .seq = 100, .plen = 100 },
				    { .v6 = true, .seq = 0, .plen = 100 } };
		struct vrm_gro_stats st = run(s, 3, (struct vrm_gro_offloads){ .csum = true });

		VRM_EQ(out.n, 3);
		for (unsigned i = 0; i < 3; i++) {
			VRM_EQ(out.buf[i][0], VRM_VNET_F_DATA_VALID);
			VRM_EQ(out.buf[i][1], 0);
		}
		VRM_EQ(st.csum_valid, 3);
	}
	if (vrm_subtest("csum_off_nothing_marked")) {
		struct seg s[2] = { { .seq = 0, .plen = 100 }, { .seq = 100, .plen = 100 } };
		struct vrm_gro_stats st = run(s, 2, (struct vrm_gro_offloads){ 0 });

		VRM_EQ(out.n, 2);
		VRM_EQ(out.buf[0][0] | out.buf[1][0], 0);
		VRM_EQ(st.csum_valid, 0);
	}
	if (vrm_subtest("pure_ack_marked_alone")) {
		struct seg s[1] = { { .seq = 0, .plen = 0 } };

		run(s, 1, ALL);
		VRM_EQ(out.n, 1);
		VRM_EQ(out.buf[0][0], VRM_VNET_F_DATA_VALID);
		VRM_EQ(out.buf[0][1], 0);
	}
	if (vrm_subtest("tcp_header_past_the_segment")) {
		static struct vrm_gro g;
		uint8_t f[2][2048];
		uint32_t len[2];

		out.n = 0;
		memset(&g, 0, sizeof(g));
		vrm_gro_begin(&g, ALL, collect, NULL);
		for (int i = 0; i < 2; i++) {
			struct seg s = { .seq = 100 * (uint32_t)i, .plen = 0 };

			len[i] = mk(f[i], &s);
			f[i][14 + 20 + 12] = 0xf0;	/* 60 bytes of header in 20 */
			vrm_gro_add(&g, f[i], len[i]);
		}
		vrm_gro_end(&g);
		VRM_EQ(out.n, 2);
		VRM_EQ(out.buf[0][0] | out.buf[1][0], 0);
		VRM_EQ(out.nsegs[0] + out.nsegs[1], 2);
		VRM_EQ(g.st.csum_valid + g.st.csum_bad, 0);
	}
	if (vrm_subtest("cut_short_not_marked")) {
		static struct vrm_gro g;
		uint8_t f[2048];
		struct seg s = { .seq = 0, .plen = 100 };
		uint32_t len = mk(f, &s);

		out.n = 0;
		memset(&g, 0, sizeof(g));
		vrm_gro_begin(&g, ALL, collect, NULL);
		vrm_gro_add(&g, f, len - 1);	/* IP says one byte more */
		vrm_gro_add(&g, f, 13);		/* no EtherType */
		vrm_gro_end(&g);
		VRM_EQ(out.n, 2);
		VRM_EQ(out.buf[0][0] | out.buf[1][0], 0);
		VRM_EQ(out.len[0], len - 1);
	}
}

VRM_TEST(gro_udp_and_other_frames)
{
	static struct vrm_gro g;
	uint8_t f[3][128];
	uint32_t s;

	if (!vrm_subtest("udp_checked_arp_passed"))
		return;
	/* UDP over IPv4 from 10.0.2.2:53 to 10.0.2.15:4000, 4 bytes. */
	for (int i = 0; i < 2; i++) {
		uint8_t *ip = f[i] + 14, *u = ip + 20;

		memset(f[i], 0, sizeof(f[i]));
		put16(f[i] + 12, 0x0800);
		ip[0] = 0x45;
		put16(ip + 2, 32);
		ip[8] = 64;
		ip[9] = 17;
		put32(ip + 12, SRC4);
		put32(ip + 16, DST4);
		put16(ip + 10, (uint16_t)~ref_fold(ref_sum(ip, 20, 0)));
		put16(u, 53);
		put16(u + 2, 4000);
		put16(u + 4, 12);
		memcpy(u + 8, "abcd", 4);
		s = ref_sum(u, 12, ref_sum(ip + 12, 8, 0) + 17 + 12);
		if (i == 0)
			put16(u + 6, (uint16_t)~ref_fold(s));	/* f[1]: 0, no checksum */
	}
	memset(f[2], 0, 60);
	put16(f[2] + 12, 0x0806);
	memset(&g, 0, sizeof(g));
	out.n = 0;
	vrm_gro_begin(&g, ALL, collect, NULL);
	for (int i = 0; i < 3; i++)
		vrm_gro_add(&g, f[i], i < 2 ? 46 : 60);
	vrm_gro_end(&g);
	VRM_EQ(out.n, 3);
	VRM_EQ(out.buf[0][0], VRM_VNET_F_DATA_VALID);
	VRM_EQ(out.buf[1][0], 0);
	VRM_EQ(out.buf[2][0], 0);
	VRM_EQ(g.st.csum_valid, 1);
}
