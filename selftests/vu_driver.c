// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A VMM and the guest side of a virtio-net device in one process: its own
 * small vhost-user front-end (wire helpers from user/vu_wire.c) plus a driver
 * that sends Ethernet frames on TX and expects them back on RX (testpmd in io
 * forward mode returns every frame).
 *
 * Built natively and for s390x (static, run under qemu-s390x-static).  In
 * --legacy mode the rings and the virtio-net headers are in THIS process's
 * byte order, written with plain C stores, as a legacy guest kernel writes
 * them: under qemu-s390x-static that is a real big-endian legacy driver.  In
 * --modern mode they are little-endian (VIRTIO_F_VERSION_1).  Only the
 * vhost-user wire is always little-endian (vu_wire.c does that).
 *
 *   vu_driver --socket PATH [--legacy|--modern] [--no-mrg-rxbuf] [--frames N]
 *             [--ring SIZE] [--force] [--timeout-ms T] [--hold-ms H]
 *             [--reconnect [--away-drop]] [--stream] [--gap-ms G] [--pause-every N]
 *             [--resets R] [--any-mac]
 *             [--indirect] [--indirect-entries N] [-v]
 *
 * --any-mac: a frame back may come from another MAC to another (a network
 * that answers: the XDP back-end's tests); the rest of it must be the same.
 * --pause-every N: every N frames sent, with frames in flight, the rings are
 * stopped and started again the way QEMU pauses and resumes a VM (QMP stop,
 * cont): GET_VRING_BASE and SET_VRING_ENDIAN back to little-endian per ring,
 * then features, memory table and each ring again from the base the stop
 * answered, which must be the guest's used idx; nothing may be lost or come
 * back twice.  --resets R: after the frames, R times a device reset (rings
 * stopped and started from 0 elsewhere in memory, with RX buffers elsewhere,
 * as a guest driver reloaded or a guest rebooted) and the frames again; what
 * the reset left behind is filled with a pattern, and a byte of it that
 * changes afterwards is a stray write (stray_writes=, a FAIL).
 *
 * --reconnect: when the back-end goes away, connect again and restart the
 * rings where the guest is, as QEMU does for a vhost-user back-end that
 * restarts (each ring at the guest's used idx); the frames go on.
 * --away-drop: before that, as QEMU with the link down meanwhile, one more
 * frame is sent and every TX chain from the used idx on is returned by the
 * VMM itself, length 0 (away_dropped=): the ring restarts at a used idx
 * the back-end never wrote.
 * --stream: send until SIGTERM/SIGINT (or N frames), then let everything in
 * flight come back and report.  Together they are the crash soak's VMM.
 * --gap-ms G: one frame at a time, the next G ms after the last came back
 * (a quiet guest: its rings mostly hold nothing in flight).
 *
 * stdout, one line:
 *   vu_driver: mode=legacy order=big mrg_rxbuf=1 sent=N received=M
 *              bad_header=K bad_payload=J ... stray_writes=S RESULT: PASS|FAIL
 * Exit: 0 PASS, 1 FAIL, 2 usage or protocol error or the back-end gone, 3 the back-end cannot
 * take a cross-endian legacy ring (no VHOST_USER_PROTOCOL_F_CROSS_ENDIAN)
 * and --force was not given.
 */
#include <errno.h>
#include <getopt.h>
#include <setjmp.h>
#include <signal.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <vringmed/byteorder.h>
#include <vringmed/vhost_user.h>
#include <vringmed/vring.h>

#include "vu_client.h"
#include "vu_wire.h"

#define BIT(n)		(1ull << (n))

#define MEM_SIZE	(8u << 20)
/* Guest-physical base of the one region: not 0, so a confusion of GPA and
 * offset (or of GPA and user address) cannot go unnoticed. */
#define MEM_GPA		0x100000ull
#define RING_OFF(q)	(0x10000ull * (q))	/* 64 KiB: a legacy ring of 1024 fits */
#define RX_BUF_OFF	0x40000ull
#define RX_BUF_LEN	2048u
#define TX_BUF_OFF	0x200000ull
#define TX_SLOT_LEN	256u			/* header @0, frame @32 */
#define TX_FRAME_AT	32u
#define TX_TABLE_AT	144u			/* --indirect: the frame's table */
/* --indirect-entries over 2: each TX slot's table in a room of its own. */
#define TX_TABLES_OFF	0x300000ull
#define TX_TABLE_MAX	32u
#define MAX_RING	1024u
/* A device reset moves the rings and the RX buffers to the other of two
 * places, as a rebooted guest's driver finds its memory laid out anew, and
 * fills the places it left with POISON: a byte there that changes later is
 * a write the device made to memory the guest no longer gave it. */
#define RING_GEN_OFF	0x20000ull		/* the second place's rings */
#define RX_BUF_OFF2	0x400000ull		/* and its RX buffers */
#define POISON		0xa5

#define FRAME_LEN	100u
#define MAX_FRAMES	(1u << 30)		/* --stream: 128 MiB of "seen" bits at most */
#define ETH_HLEN	14u
#define ETHERTYPE_HI	0x88
#define ETHERTYPE_LO	0xb5
#define SRC_MAC_LAST	0x01
static const uint8_t frame_magic[4] = { 'V', 'M', 'E', 'D' };

/* Exit codes. */
enum { EXIT_PASS = 0, EXIT_FAIL = 1, EXIT_PROTO = VUC_EXIT_PROTO, EXIT_NO_CROSS = 3 };

enum { RXQ = 0, TXQ = 1, NQ = 2 };

struct queue {
	unsigned idx;
	unsigned size;
	uint8_t *ring;			/* our mapping of the ring */
	struct vrm_desc *desc;
	__u16 *avail;			/* flags, idx, ring[size], used_event */
	__u16 *used_hdr;		/* flags, idx */
	struct vrm_used_elem *used;
	uint16_t avail_idx;		/* next free avail slot (free-running) */
	uint16_t last_used;		/* next used entry to read */
	int kick, call;
};

static struct {
	const char *socket;
	bool legacy, no_mrg, force, verbose, reconnect, stream, any_mac, indirect, away_drop;
	const char *hostile;		/* --hostile CLASS, or NULL */
	unsigned frames, ring, pause_every, resets;
	int timeout_ms, hold_ms, gap_ms;
	unsigned indirect_entries;
} opt = { .frames = 64, .ring = 256, .timeout_ms = 10000, .indirect_entries = 2 };

static uint8_t *mem;
static int memfd = -1;
static struct queue vq[NQ];
static bool mrg_rxbuf;
static unsigned hdr_len;
static bool sock_dead;
static volatile sig_atomic_t stop_sending, want_progress;
static unsigned reconnects;
static uint64_t neg_pf;			/* what negotiate() found */
static uint64_t neg_features;		/* what negotiate() acked */
static unsigned tx_tables;		/* --indirect: TX frames sent behind a table */
static uint8_t *away_seqs;		/* --away-drop: a bit per frame sent while away */
static unsigned gen;			/* which place the rings and RX buffers are in */
static bool poisoned;			/* the other place is POISON */
static unsigned stray_writes;		/* bytes of it the device changed */
static void tx_indirect(struct queue *tx, uint16_t h, uint8_t *buf);
static unsigned pauses, bad_pauses;
static bool neg_endian;			/* SET_VRING_ENDIAN per ring */

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "vu_driver: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* reconnect(): a failure while setting up again means "try again". */
static bool in_reconnect;
static jmp_buf reconnect_jb;

static void reconnect_error(const char *what, int err)
{
	if (in_reconnect) {
		vlog("%s failed while reconnecting: %s; again\n", what, strerror(-err));
		longjmp(reconnect_jb, 1);
	}
}

/*
 * Ring and header fields.  A legacy driver stores native values with plain
 * C stores (no byte order anywhere: that is what a legacy guest does); a
 * modern one stores little-endian.  Reads of fields the device writes are
 * volatile: the back-end changes them under us.
 */
static void st16(__u16 *p, uint16_t v)
{
	if (opt.legacy)
		*(volatile __u16 *)p = v;
	else
		*(volatile __u16 *)p = vrm_swab16_if(VRM_ORDER_LE, v);
}

static void st32(__u32 *p, uint32_t v)
{
	if (opt.legacy)
		*p = v;
	else
		*p = vrm_swab32_if(VRM_ORDER_LE, v);
}

static void st64(__u64 *p, uint64_t v)
{
	if (opt.legacy)
		*p = v;
	else
		*p = vrm_swab64_if(VRM_ORDER_LE, v);
}

static uint16_t ld16(const __u16 *p)
{
	uint16_t v = *(const volatile __u16 *)p;

	return opt.legacy ? v : vrm_swab16_if(VRM_ORDER_LE, v);
}

static uint32_t ld32(const __u32 *p)
{
	uint32_t v = *(const volatile __u32 *)p;

	return opt.legacy ? v : vrm_swab32_if(VRM_ORDER_LE, v);
}

static uint64_t gpa_of(const void *p)
{
	return MEM_GPA + (uint64_t)((const uint8_t *)p - mem);
}

/* ---- vhost-user front-end (the requests: vu_client.c) ---- */

/* The device's features and the protocol set-up, in QEMU's order:
 * GET_FEATURES, GET/SET_PROTOCOL_FEATURES (vhost_user_backend_init),
 * SET_OWNER (vhost_dev_init), then at start SET_FEATURES. */
static bool negotiate(uint64_t *pf_out)
{
	uint64_t offered, want, pf = 0, pf_want = 0;
	bool cross = false;

	offered = vuc_get_u64(VU_GET_FEATURES);
	vlog("offered features 0x%llx\n", (unsigned long long)offered);
	if (offered & BIT(VU_F_PROTOCOL_FEATURES)) {
		pf = vuc_get_u64(VU_GET_PROTOCOL_FEATURES);
		vlog("offered protocol features 0x%llx\n", (unsigned long long)pf);
		/* Ask only for what is used: no REPLY_ACK, no MQ. */
		if (opt.legacy)
			pf_want = pf & BIT(VU_PF_CROSS_ENDIAN);
		vuc_send_u64(VU_SET_PROTOCOL_FEATURES, pf_want, -1);
	}
	cross = (pf_want & BIT(VU_PF_CROSS_ENDIAN)) != 0;
	vuc_send(&(struct vu_msg){ .request = VU_SET_OWNER, .flags = VU_VERSION });

	if (!opt.legacy && !(offered & BIT(VU_F_VERSION_1))) {
		fprintf(stderr, "vu_driver: the back-end does not offer VIRTIO_F_VERSION_1\n");
		exit(EXIT_PROTO);
	}
	/* A minimal MAC-less virtio-net: no offloads, no control queue, and
	 * for legacy none of INDIRECT_DESC, EVENT_IDX, ANY_LAYOUT (so the TX
	 * header sits in its own descriptor, as Linux does without
	 * ANY_LAYOUT). */
	want = 0;
	if (!opt.legacy)
		want |= BIT(VU_F_VERSION_1);
	if (!opt.no_mrg)
		want |= BIT(VU_NET_F_MRG_RXBUF);
	/* --indirect: each TX frame (header, frame) behind one indirect
	 * descriptor, as Linux's virtio-net posts one of more segments. */
	if (opt.indirect && !(offered & BIT(VU_F_INDIRECT_DESC))) {
		fprintf(stderr, "vu_driver: --indirect, but the back-end does not offer INDIRECT_DESC\n");
		exit(EXIT_PROTO);
	}
	if (opt.indirect)
		want |= BIT(VU_F_INDIRECT_DESC);
	want &= offered;
	if (offered & BIT(VU_F_PROTOCOL_FEATURES))
		want |= BIT(VU_F_PROTOCOL_FEATURES);
	vuc_send_u64(VU_SET_FEATURES, want, -1);
	neg_features = want;
	vlog("acked features 0x%llx, protocol features 0x%llx\n",
	     (unsigned long long)want, (unsigned long long)pf_want);
	mrg_rxbuf = want & BIT(VU_NET_F_MRG_RXBUF);
	hdr_len = (mrg_rxbuf || !opt.legacy) ? 12 : 10;
	*pf_out = (offered & BIT(VU_F_PROTOCOL_FEATURES)) ? (pf | BIT(63)) : 0;
	return cross;
}

static void set_mem_table(void)
{
	vuc_set_mem_table(MEM_GPA, MEM_SIZE, mem, memfd);
}

static uint64_t ring_off(unsigned g, unsigned idx)
{
	return (g ? RING_GEN_OFF : 0) + RING_OFF(idx);
}

static uint64_t rx_buf_off(unsigned g)
{
	return g ? RX_BUF_OFF2 : RX_BUF_OFF;
}

/* Queue q's ring in the current place. */
static void queue_place(struct queue *q)
{
	q->ring = mem + ring_off(gen, q->idx);
	q->desc = (struct vrm_desc *)q->ring;
	q->avail = (__u16 *)(q->ring + vrm_legacy_avail_off(q->size));
	q->used_hdr = (__u16 *)(q->ring + vrm_legacy_used_off(q->size));
	q->used = (struct vrm_used_elem *)(q->ring + vrm_legacy_used_off(q->size) +
					  VRM_USED_RING_OFF);
}

/* Place g's rings and RX buffers: filled with POISON, or the bytes in them
 * that are not. */
static unsigned place_poison(unsigned g, bool fill)
{
	struct { uint64_t off, len; } area[NQ + 1] = {
		{ ring_off(g, RXQ), RING_OFF(1) }, { ring_off(g, TXQ), RING_OFF(1) },
		{ rx_buf_off(g), (uint64_t)RX_BUF_LEN * (opt.ring / 2) },
	};
	unsigned changed = 0;

	for (unsigned a = 0; a < NQ + 1; a++) {
		uint8_t *b = mem + area[a].off;

		if (fill)
			memset(b, POISON, area[a].len);
		else
			for (uint64_t i = 0; i < area[a].len; i++)
				changed += b[i] != POISON;
	}
	return changed;
}

/* The place left behind, looked at before it is used again. */
static void stray_check(void)
{
	unsigned n = poisoned ? place_poison(gen ^ 1, false) : 0;

	if (n && !stray_writes)
		fprintf(stderr, "vu_driver: %u bytes written to rings or RX buffers given up at "
				"a device reset\n", n);
	stray_writes += n;
}

static void queue_init(struct queue *q, unsigned idx)
{
	q->idx = idx;
	q->size = opt.ring;
	queue_place(q);
	st16(&q->avail[0], 0);		/* flags: we want interrupts */
	st16(&q->avail[1], 0);
	q->kick = eventfd(0, EFD_CLOEXEC);
	q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->kick < 0 || q->call < 0) {
		fprintf(stderr, "vu_driver: eventfd: %s\n", strerror(errno));
		exit(EXIT_PROTO);
	}
}

/* Per ring, QEMU's vhost_virtqueue_start order: NUM, BASE, ENDIAN (legacy,
 * cross-endian only), ADDR, KICK, CALL. */
static void queue_start(struct queue *q, bool send_endian, uint16_t base)
{
	vuc_send_state(VU_SET_VRING_NUM, q->idx, q->size);
	vuc_send_state(VU_SET_VRING_BASE, q->idx, base);
	if (send_endian)
		vuc_send_state(VU_SET_VRING_ENDIAN, q->idx, VU_VRING_BIG_ENDIAN);
	vuc_set_vring_addr(q->idx, q->desc, q->used_hdr, q->avail);
	vuc_send_u64(VU_SET_VRING_KICK, q->idx, q->kick);
	vuc_send_u64(VU_SET_VRING_CALL, q->idx, q->call);
}

/* ---- the guest driver ---- */

static void kick(struct queue *q)
{
	uint64_t one = 1;

	/* The avail idx store before the used flags load (Linux's
	 * virtqueue_kick_prepare: virtio_mb). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ld16(&q->used_hdr[0]) & VRM_VRING_USED_F_NO_NOTIFY)
		return;
	if (write(q->kick, &one, sizeof(one)) != sizeof(one)) {
		fprintf(stderr, "vu_driver: kick of queue %u: %s\n", q->idx, strerror(errno));
		exit(EXIT_PROTO);
	}
}

static void publish(struct queue *q)
{
	/* Descriptors and ring slots before the idx the device reads. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(&q->avail[1], q->avail_idx);
}

static void make_frame(uint8_t *f, uint32_t seq)
{
	memset(f, 0xff, 6);
	f[6] = 0x52; f[7] = 0x54; f[8] = 0; f[9] = 0; f[10] = 0; f[11] = SRC_MAC_LAST;
	f[12] = ETHERTYPE_HI;
	f[13] = ETHERTYPE_LO;
	memcpy(f + ETH_HLEN, frame_magic, 4);
	/* The sequence number in network order, byte by byte: the frame's
	 * bytes are the same whatever our byte order. */
	f[ETH_HLEN + 4] = (uint8_t)(seq >> 24);
	f[ETH_HLEN + 5] = (uint8_t)(seq >> 16);
	f[ETH_HLEN + 6] = (uint8_t)(seq >> 8);
	f[ETH_HLEN + 7] = (uint8_t)seq;
	for (unsigned i = ETH_HLEN + 8; i < FRAME_LEN; i++)
		f[i] = (uint8_t)(seq * 7 + i);
}

struct stats {
	unsigned sent, received, bad_header, bad_payload, bad_used;
	unsigned written_off;		/* --stream: frames the back-end dropped */
	unsigned away_dropped;		/* --away-drop: frames the VMM dropped itself */
	unsigned resent;		/* ... that came back all the same */
	unsigned tx_left;		/* TX chains not back at the end */
	bool fatal;
};

static void post_rx(struct queue *q, uint16_t id)
{
	st16(&q->avail[2 + q->avail_idx % q->size], id);
	q->avail_idx++;
}

static void rx_setup(struct queue *q, unsigned nbufs)
{
	for (unsigned i = 0; i < nbufs; i++) {
		struct vrm_desc *d = &q->desc[i];

		st64(&d->addr, MEM_GPA + rx_buf_off(gen) + (uint64_t)RX_BUF_LEN * i);
		st32(&d->len, RX_BUF_LEN);
		st16(&d->flags, VRM_VRING_DESC_F_WRITE);
		st16(&d->next, 0);
		post_rx(q, (uint16_t)i);
	}
	publish(q);
}

/* Checks one frame that came back.  `seen` marks sequence numbers already
 * received (a duplicate is a bad payload too). */
static void rx_check(struct stats *st, const uint8_t *buf, uint32_t len, uint8_t *seen)
{
	uint8_t want[FRAME_LEN];
	const uint8_t *f = buf + hdr_len;
	uint32_t seq;
	uint16_t nb;
	bool bad_hdr = false;

	/* virtio_net_hdr: flags u8 @0, gso_type u8 @1, ..., num_buffers u16
	 * @10 (with MRG_RXBUF or VERSION_1), in the guest's order. */
	if (buf[0] != 0 || buf[1] != 0)
		bad_hdr = true;
	if (mrg_rxbuf) {
		memcpy(&nb, buf + 10, sizeof(nb));
		nb = opt.legacy ? nb : vrm_swab16_if(VRM_ORDER_LE, nb);
		if (nb != 1) {
			if (st->bad_header < 3)
				fprintf(stderr, "vu_driver: RX num_buffers %u (want 1)\n", nb);
			bad_hdr = true;
		}
	}
	if (len != hdr_len + FRAME_LEN) {
		if (st->bad_header < 3)
			fprintf(stderr, "vu_driver: RX used.len %u (want %u)\n", len,
				hdr_len + FRAME_LEN);
		bad_hdr = true;
	}
	if (bad_hdr)
		st->bad_header++;
	if (len < hdr_len + ETH_HLEN + 8 || len > RX_BUF_LEN ||
	    memcmp(f + ETH_HLEN, frame_magic, 4)) {
		st->bad_payload++;
		return;
	}
	seq = (uint32_t)f[ETH_HLEN + 4] << 24 | (uint32_t)f[ETH_HLEN + 5] << 16 |
	      (uint32_t)f[ETH_HLEN + 6] << 8 | f[ETH_HLEN + 7];
	make_frame(want, seq);
	if (away_seqs && seq < st->sent && (away_seqs[seq / 8] & (1u << (seq % 8)))) {
		/* Sent while no back-end ran, its chain returned by the
		 * VMM: no back-end may ever have been handed it. */
		fprintf(stderr, "vu_driver: frame %u, dropped by the VMM, came back\n", seq);
		st->resent++;
		return;
	}
	if (seq >= st->sent || (seen[seq / 8] & (1u << (seq % 8))) ||
	    memcmp(f + (opt.any_mac ? 12 : 0), want + (opt.any_mac ? 12 : 0),
		   FRAME_LEN - (opt.any_mac ? 12 : 0))) {
		st->bad_payload++;
		return;
	}
	seen[seq / 8] |= (uint8_t)(1u << (seq % 8));
}

/* Used entries of `q` the device published since last time, or -1 when its
 * used idx is nonsense (moved by more than was in flight). */
/* TX frame `seq` in chain slot `slot` (heads 2*slot, 2*slot+1, or one
 * indirect descriptor), into the next avail slot; published by the caller. */
static void tx_post(struct queue *tx, uint16_t slot, uint32_t seq)
{
	uint16_t h = (uint16_t)(2 * slot), d = (uint16_t)(h + 1);
	uint8_t *buf = mem + TX_BUF_OFF + (uint64_t)TX_SLOT_LEN * slot;

	/* All-zero header: flags 0, gso_type NONE, num_buffers 0. */
	memset(buf, 0, hdr_len);
	make_frame(buf + TX_FRAME_AT, seq);
	if (opt.indirect) {
		tx_indirect(tx, h, buf);
	} else {
		st64(&tx->desc[h].addr, gpa_of(buf));
		st32(&tx->desc[h].len, hdr_len);
		st16(&tx->desc[h].flags, VRM_VRING_DESC_F_NEXT);
		st16(&tx->desc[h].next, d);
		st64(&tx->desc[d].addr, gpa_of(buf + TX_FRAME_AT));
		st32(&tx->desc[d].len, FRAME_LEN);
		st16(&tx->desc[d].flags, 0);
		st16(&tx->desc[d].next, 0);
	}
	st16(&tx->avail[2 + tx->avail_idx % tx->size], h);
	tx->avail_idx++;
}

/* --away-drop: what QEMU does to a TX ring while its vhost-user back-end is
 * gone (link down: virtio_net_drop_tx_queue_data): from the guest's used
 * idx (virtio_queue_restore_last_avail_idx) to its avail idx, every chain
 * is returned with length 0 by the VMM itself, so the ring restarts with a
 * used idx the back-end never wrote.  The frames are lost (those in flight
 * may have gone out before the back-end went); their chains come back
 * through the usual TX completions.  Returns how many. */
static unsigned away_drop_tx(struct queue *tx)
{
	uint16_t u = ld16(&tx->used_hdr[1]), n = (uint16_t)(tx->avail_idx - u);

	for (uint16_t k = 0; k < n; k++, u++) {
		struct vrm_used_elem *e = &tx->used[u % tx->size];

		st32(&e->id, ld16(&tx->avail[2 + u % tx->size]));
		st32(&e->len, 0);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(&tx->used_hdr[1], u);
	vlog("away: the VMM returned %u TX chains itself (used idx %u)\n", n, u);
	return n;
}

static int used_pending(struct queue *q, unsigned inflight, struct stats *st)
{
	uint16_t idx = ld16(&q->used_hdr[1]);
	uint16_t n = (uint16_t)(idx - q->last_used);

	if (n > inflight) {
		fprintf(stderr, "vu_driver: queue %u: used idx %u moved by %u with %u in flight\n",
			q->idx, idx, n, inflight);
		st->fatal = true;
		return -1;
	}
	/* The idx before the entries it covers. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return n;
}

static void watch_socket(void)
{
	struct vu_msg m;
	char c;
	ssize_t n;
	int rc;

	n = recv(vuc_sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fprintf(stderr, "vu_driver: the back-end closed the connection\n");
		sock_dead = true;
		return;
	}
	/* We never asked for a message: say what came, ignore it. */
	rc = vu_recv(vuc_sock, &m);
	if (rc <= 0) {
		fprintf(stderr, "vu_driver: garbage from the back-end (%s); not reading it any more\n",
			rc ? strerror(-rc) : "EOF");
		sock_dead = true;
		return;
	}
	fprintf(stderr, "vu_driver: unexpected %s (%u) from the back-end, ignored\n",
		vu_request_name(m.request), m.request);
	vu_msg_close_fds(&m);
}

/* The back-end went away and --reconnect: what QEMU does with reconnect=1
 * once the socket is back.  The guest and its rings stay as they are; each
 * ring restarts at the guest's used idx (virtio_queue_restore_last_avail_idx:
 * the VMM cannot ask a dead back-end where it was), same kick and call fds. */
static void reconnect(void)
{
	static int64_t t0, tries;
	uint64_t pf;

	t0 = vuc_now_ms();
	tries = 0;
	in_reconnect = true;
	/* The dying daemon's listening socket may still take a connection
	 * and then reset it: that and any other failure on the way, again. */
	if (setjmp(reconnect_jb) && (++tries > 100 || vuc_now_ms() - t0 > 10000)) {
		fprintf(stderr, "vu_driver: could not reconnect within 10 s\n");
		exit(EXIT_PROTO);
	}
	close(vuc_sock);
	vuc_connect(opt.socket);
	negotiate(&pf);
	if (pf != neg_pf) {
		fprintf(stderr, "vu_driver: the back-end came back with other protocol features\n");
		exit(EXIT_PROTO);
	}
	set_mem_table();
	for (unsigned q = 0; q < NQ; q++)
		queue_start(&vq[q], neg_endian, ld16(&vq[q].used_hdr[1]));
	if (pf)
		for (unsigned q = 0; q < NQ; q++)
			vuc_send_state(VU_SET_VRING_ENABLE, q, 1);
	in_reconnect = false;
	sock_dead = false;
	reconnects++;
	fprintf(stderr, "vu_driver: reconnected (%u) after %lld ms; rings restarted at used idx "
		"rx=%u tx=%u\n", reconnects, (long long)(vuc_now_ms() - t0),
		ld16(&vq[RXQ].used_hdr[1]), ld16(&vq[TXQ].used_hdr[1]));
}

/* GET_VRING_BASE of ring q: stops it; its base (a malformed answer ends
 * the run). */
static uint16_t get_vring_base(unsigned q)
{
	struct vu_msg m, r;
	int rc;

	vu_msg_init(&m, VU_GET_VRING_BASE);
	vu_put_u32(&m, 0, q);
	vu_put_u32(&m, 4, 0);
	rc = vu_call(vuc_sock, &m, &r);
	if (rc)
		vuc_die("GET_VRING_BASE", rc);
	vu_msg_close_fds(&r);
	if (r.size != VU_STATE_SIZE || vu_get_u32(&r, 0) != q) {
		fprintf(stderr, "vu_driver: GET_VRING_BASE of ring %u: reply of %u bytes "
				"for ring %u\n", q, r.size, vu_get_u32(&r, 0));
		exit(EXIT_PROTO);
	}
	return (uint16_t)vu_get_u32(&r, 4);
}

/*
 * A VM paused and resumed (QEMU's vhost_dev_stop, then vhost_dev_start):
 * each ring stopped with GET_VRING_BASE, its byte order set back to the
 * host's, then the device started again: features, memory table, each ring
 * from where the stop said, enabled.  The guest and its rings stay as they
 * are, frames in flight included.  The stop must answer the guest's used
 * idx: the device returned everything it had finished before answering.
 */
static void pause_resume(void)
{
	uint16_t base[NQ];

	for (unsigned q = 0; q < NQ; q++) {
		base[q] = get_vring_base(q);
		if (base[q] != ld16(&vq[q].used_hdr[1])) {
			fprintf(stderr, "vu_driver: pause %u: ring %u stopped at %u, the guest's "
					"used idx is %u\n", pauses, q, base[q],
				ld16(&vq[q].used_hdr[1]));
			bad_pauses++;
		}
		if (neg_endian)
			vuc_send_state(VU_SET_VRING_ENDIAN, q, VU_VRING_LITTLE_ENDIAN);
	}
	vuc_sleep_ms(10);
	vuc_send_u64(VU_SET_FEATURES, neg_features, -1);
	set_mem_table();
	for (unsigned q = 0; q < NQ; q++)
		queue_start(&vq[q], neg_endian, base[q]);
	if (neg_pf)
		for (unsigned q = 0; q < NQ; q++)
			vuc_send_state(VU_SET_VRING_ENABLE, q, 1);
	pauses++;
	vlog("pause %u: rings restarted at rx=%u tx=%u\n", pauses, base[RXQ], base[TXQ]);
}

static void on_stop(int sig)
{
	(void)sig;
	stop_sending = 1;
}

/* SIGUSR1: one "progress" line, so a test can see frames flow mid-run. */
static void on_progress(int sig)
{
	(void)sig;
	want_progress = 1;
}

static void exchange(struct stats *st)
{
	struct queue *rx = &vq[RXQ], *tx = &vq[TXQ];
	unsigned nrx = opt.ring / 2, ntx = opt.ring / 2;
	unsigned tx_inflight = 0, nfree = ntx;
	uint16_t *free_slots = calloc(ntx, sizeof(*free_slots));
	uint8_t *seen = calloc(opt.frames / 8 + 1, 1);	/* a bit per frame */
	uint8_t *tx_out = calloc(ntx, 1);	/* chains we posted, not back */
	int64_t deadline = vuc_now_ms() + opt.timeout_ms, last_rx = vuc_now_ms();
	unsigned next_pause = opt.pause_every;
	int64_t next_send = 0;	/* --gap-ms */

	if (!free_slots || !seen || !tx_out) {
		fprintf(stderr, "vu_driver: out of memory\n");
		exit(EXIT_PROTO);
	}
	for (unsigned i = 0; i < ntx; i++)
		free_slots[i] = (uint16_t)(ntx - 1 - i);
	rx_setup(rx, nrx);
	kick(rx);

	while (!st->fatal) {
		bool progress = false;
		unsigned posted = 0;
		int n;

		/* TX: as many frames as there are free chains and RX buffers
		 * to take them back (testpmd drops what it cannot deliver). */
		if (sock_dead && opt.reconnect && !st->fatal) {
			/* QEMU with the link down while its back-end is away:
			 * a frame the guest sends meanwhile, and every TX chain
			 * from the used idx on, completed by the VMM itself. */
			if (opt.away_drop && nfree) {
				uint16_t slot = free_slots[--nfree];

				/* No back-end ever had it: it must not come back
				 * (resent=, a FAIL). */
				away_seqs[st->sent / 8] |= (uint8_t)(1u << (st->sent % 8));
				tx_out[slot] = 1;
				tx_post(tx, slot, st->sent);
				publish(tx);
				st->sent++;
				tx_inflight++;
			}
			if (opt.away_drop)
				st->away_dropped += away_drop_tx(tx);
			reconnect();
		}
		if (want_progress) {
			want_progress = 0;
			printf("vu_driver: progress sent=%u received=%u\n", st->sent, st->received);
			fflush(stdout);
		}
		if (opt.gap_ms && !sock_dead)
			watch_socket();	/* a quiet guest's VMM knows before it sends */
		while (st->sent < opt.frames && !stop_sending && nfree && !(opt.gap_ms && sock_dead) &&
		       (!next_pause || st->sent < next_pause) &&
		       (int)(st->sent - st->received - st->written_off) < (int)nrx &&
		       (!opt.gap_ms || (!tx_inflight && st->sent == st->received + st->written_off &&
					vuc_now_ms() >= next_send))) {
			uint16_t slot = free_slots[--nfree];

			tx_out[slot] = 1;
			tx_post(tx, slot, st->sent);
			st->sent++;
			tx_inflight++;
			posted++;
			next_send = vuc_now_ms() + opt.gap_ms;
		}
		if (posted) {
			publish(tx);
			kick(tx);
			progress = true;
		}
		if (next_pause && st->sent >= next_pause && !sock_dead) {
			pause_resume();
			next_pause += opt.pause_every;
		}

		/* TX completions: the chains come back free. */
		n = used_pending(tx, tx_inflight, st);
		for (int i = 0; i < n; i++) {
			struct vrm_used_elem *u = &tx->used[tx->last_used % tx->size];
			uint32_t id = ld32(&u->id);

			tx->last_used++;
			if (id >= 2 * ntx || (id & 1)) {
				fprintf(stderr, "vu_driver: TX used id %u is not a head we made\n", id);
				st->bad_used++;
				continue;
			}
			if (!tx_out[id / 2]) {
				fprintf(stderr, "vu_driver: TX chain %u came back twice\n", id);
				st->bad_used++;
				continue;
			}
			tx_out[id / 2] = 0;
			free_slots[nfree++] = (uint16_t)(id / 2);
			tx_inflight--;
			progress = true;
		}

		/* RX: check, then give the buffer back. */
		n = used_pending(rx, nrx, st);
		for (int i = 0; i < n; i++) {
			struct vrm_used_elem *u = &rx->used[rx->last_used % rx->size];
			uint32_t id = ld32(&u->id), len = ld32(&u->len);

			rx->last_used++;
			if (id >= nrx) {
				fprintf(stderr, "vu_driver: RX used id %u is not a buffer we posted\n", id);
				st->bad_used++;
				continue;
			}
			st->received++;
			last_rx = vuc_now_ms();
			rx_check(st, mem + rx_buf_off(gen) + (uint64_t)RX_BUF_LEN * id,
				 len > RX_BUF_LEN ? RX_BUF_LEN : len, seen);
			post_rx(rx, (uint16_t)id);
		}
		if (n > 0) {
			publish(rx);
			kick(rx);
			progress = true;
		}

		if ((st->sent == opt.frames || stop_sending) && st->received >= st->sent &&
		    !tx_inflight)
			break;
		if (opt.stream && !tx_inflight && st->sent > st->received + st->written_off &&
		    vuc_now_ms() - last_rx > 1000) {
			/* Every chain is back and nothing arrived for a second:
			 * the back-end dropped the rest (testpmd counts them). */
			st->written_off = st->sent - st->received;
			if (stop_sending)
				break;
		}
		if (opt.stream && !stop_sending)
			deadline = vuc_now_ms() + opt.timeout_ms;	/* runs until told */
		if (vuc_now_ms() > deadline) {
			fprintf(stderr, "vu_driver: timed out after %d ms (%u in TX flight)\n",
				opt.timeout_ms, tx_inflight);
			break;
		}
		if (!progress) {
			/* Calls wake us; a polling back-end may not call at
			 * all, so look at the used idx every few ms anyway. */
			struct pollfd p[3] = {
				{ .fd = rx->call, .events = POLLIN },
				{ .fd = tx->call, .events = POLLIN },
				{ .fd = sock_dead ? -1 : vuc_sock, .events = POLLIN },
			};
			uint64_t cnt;

			if (poll(p, 3, 5) > 0) {
				for (int i = 0; i < 2; i++)
					if (p[i].revents & POLLIN &&
					    read(p[i].fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
						fprintf(stderr, "vu_driver: read call fd: %s\n",
							strerror(errno));
				if (p[2].revents)
					watch_socket();
			}
		}
	}
	st->tx_left = tx_inflight;
	free(free_slots);
	free(seen);
	free(tx_out);
}

static void hold(void)
{
	int64_t end = vuc_now_ms() + opt.hold_ms;

	while (!sock_dead && vuc_now_ms() < end) {
		struct pollfd p = { .fd = vuc_sock, .events = POLLIN };
		int64_t left = end - vuc_now_ms();

		if (poll(&p, 1, left > 1000 ? 1000 : (int)(left > 0 ? left : 0)) > 0)
			watch_socket();
	}
	if (!sock_dead)
		return;
	/* The back-end went away: keep the rest of the hold anyway, the
	 * caller asked for the process to stay. */
	while (vuc_now_ms() < end)
		vuc_sleep_ms(50);
}

/* Stops the rings the way QEMU's vhost_dev_stop does: GET_VRING_BASE per
 * ring, whose reply comes after the back-end stopped using the ring (just
 * closing the socket leaves that to the back-end's own time).  The base is
 * where the back-end stopped reading the avail ring: with nothing left in
 * flight, every entry it returned (RX buffers still posted do not count). */
static bool stop_rings(bool proto)
{
	bool ok = true;

	if (proto)
		for (unsigned q = 0; q < NQ; q++)
			vuc_send_state(VU_SET_VRING_ENABLE, q, 0);
	for (unsigned q = 0; q < NQ; q++) {
		uint16_t base = get_vring_base(q);

		vlog("ring %u stopped at avail idx %u (used entries we reaped: %u)\n", q, base,
		     vq[q].last_used);
		if (base != vq[q].last_used)
			ok = false;
	}
	return ok;
}

/* --indirect: the TX frame in `buf` (header @0, frame @TX_FRAME_AT) as a
 * table behind descriptor `h`, in this process's byte order: the header,
 * then the frame in --indirect-entries - 1 pieces (as a TSO frame's
 * fragments); two entries after the frame in the slot, more in a room of
 * the slot's own. */
static void tx_indirect(struct queue *tx, uint16_t h, uint8_t *buf)
{
	unsigned n = opt.indirect_entries, slot = (unsigned)(buf - (mem + TX_BUF_OFF)) / TX_SLOT_LEN;
	struct vrm_desc *t = n > 2 ? (struct vrm_desc *)(mem + TX_TABLES_OFF +
							(uint64_t)slot * TX_TABLE_MAX * sizeof(*t))
				   : (struct vrm_desc *)(buf + TX_TABLE_AT);

	st64(&t[0].addr, gpa_of(buf));
	st32(&t[0].len, hdr_len);
	st16(&t[0].flags, VRM_VRING_DESC_F_NEXT);
	st16(&t[0].next, 1);
	for (unsigned i = 1; i < n; i++) {
		uint32_t lo = (i - 1) * FRAME_LEN / (n - 1), hi = i * FRAME_LEN / (n - 1);

		st64(&t[i].addr, gpa_of(buf + TX_FRAME_AT + lo));
		st32(&t[i].len, hi - lo);
		st16(&t[i].flags, i + 1 < n ? VRM_VRING_DESC_F_NEXT : 0);
		st16(&t[i].next, (uint16_t)(i + 1 < n ? i + 1 : 0));
	}
	st64(&tx->desc[h].addr, gpa_of(t));
	st32(&tx->desc[h].len, n * sizeof(*t));
	st16(&tx->desc[h].flags, VRM_VRING_DESC_F_INDIRECT);
	st16(&tx->desc[h].next, 0);
	tx_tables++;
}

/* ---- --hostile: one malformed TX chain, then a device reset ---- */

static const char *const hostile_classes[] = {
	"head_out_of_range", "next_out_of_range", "chain_loop", "zero_length",
	"buffer_outside_memory", "addr_len_overflow", "write_before_read", "avail_idx_jump",
};

static bool hostile_known(const char *c)
{
	for (size_t i = 0; i < sizeof(hostile_classes) / sizeof(hostile_classes[0]); i++)
		if (!strcmp(c, hostile_classes[i]))
			return true;
	return false;
}

/* Writes one chain of the class on the TX ring (every chain is back, so
 * descriptors 0 to 2 are ours), publishes, kicks, and waits: a mediator
 * that trusted it would hand it on and a used entry would come back. */
static unsigned hostile_post(struct queue *tx)
{
	const char *c = opt.hostile;
	uint8_t *buf = mem + TX_BUF_OFF;
	uint16_t used0 = ld16(&tx->used_hdr[1]), head = 0;
	uint64_t addr = gpa_of(buf);
	uint32_t len = hdr_len;
	uint16_t flags = 0, next = 0;

	memset(buf, 0, TX_SLOT_LEN);
	if (!strcmp(c, "head_out_of_range"))
		head = (uint16_t)tx->size;
	else if (!strcmp(c, "next_out_of_range"))
		flags = VRM_VRING_DESC_F_NEXT, next = (uint16_t)(tx->size + 1);
	else if (!strcmp(c, "chain_loop"))
		flags = VRM_VRING_DESC_F_NEXT, next = 1;
	else if (!strcmp(c, "zero_length"))
		len = 0;
	else if (!strcmp(c, "buffer_outside_memory"))
		addr = MEM_GPA + MEM_SIZE - 4, len = 64;
	else if (!strcmp(c, "addr_len_overflow"))
		addr = ~0ull - 8, len = 64;
	else if (!strcmp(c, "write_before_read"))	/* header, write-only frame, read-only */
		flags = VRM_VRING_DESC_F_NEXT, next = 1;
	st64(&tx->desc[0].addr, addr);
	st32(&tx->desc[0].len, len);
	st16(&tx->desc[0].flags, flags);
	st16(&tx->desc[0].next, next);
	/* Descriptor 1: the frame, pointing back to 0 for the loop. */
	st64(&tx->desc[1].addr, gpa_of(buf + TX_FRAME_AT));
	st32(&tx->desc[1].len, FRAME_LEN);
	st16(&tx->desc[1].flags, !strcmp(c, "chain_loop") ? VRM_VRING_DESC_F_NEXT :
				 !strcmp(c, "write_before_read") ?
				 VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE : 0);
	st16(&tx->desc[1].next, !strcmp(c, "write_before_read") ? 2 : 0);
	st64(&tx->desc[2].addr, gpa_of(buf + TX_FRAME_AT));
	st32(&tx->desc[2].len, 8);
	st16(&tx->desc[2].flags, 0);
	st16(&tx->desc[2].next, 0);
	make_frame(buf + TX_FRAME_AT, 0);
	st16(&tx->avail[2 + tx->avail_idx % tx->size], head);
	tx->avail_idx += !strcmp(c, "avail_idx_jump") ? tx->size + 1 : 1;
	publish(tx);
	kick(tx);
	vuc_sleep_ms(500);
	return (uint16_t)(ld16(&tx->used_hdr[1]) - used0);
}

/* A device reset as a VMM does it: the rings stopped (GET_VRING_BASE),
 * and started again from index 0, in the other place (gen), the one left
 * filled with POISON. */
static void device_reset(uint64_t pf, bool send_endian)
{
	uint64_t cnt;

	stop_rings(pf != 0);
	stray_check();
	place_poison(gen, true);
	poisoned = true;
	gen ^= 1;
	for (unsigned q = 0; q < NQ; q++) {
		queue_place(&vq[q]);
		memset(vq[q].ring, 0, RING_OFF(1));
		vq[q].avail_idx = 0;
		vq[q].last_used = 0;
		while (read(vq[q].call, &cnt, sizeof(cnt)) == sizeof(cnt))
			;
		queue_start(&vq[q], send_endian, 0);
	}
	if (pf)
		for (unsigned q = 0; q < NQ; q++)
			vuc_send_state(VU_SET_VRING_ENABLE, q, 1);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vu_driver --socket PATH [--legacy|--modern] [--no-mrg-rxbuf] [--frames N]\n"
		"                 [--ring SIZE] [--force] [--timeout-ms T] [--hold-ms H]\n"
		"                 [--hostile CLASS] [--reconnect [--away-drop]] [--stream] [--pause-every N]\n"
		"                 [--resets R] [--any-mac] [--indirect] [--indirect-entries N] [-v]\n"
		"  A VMM plus the guest side of a virtio-net device over vhost-user: sends\n"
		"  N Ethernet frames on TX and expects every one back on RX (testpmd, io\n"
		"  forwarding).  --legacy writes the rings in this process's byte order\n"
		"  (big-endian as s390x under qemu-s390x-static), --modern little-endian.\n"
		"  --force goes on when the back-end cannot take a cross-endian legacy ring.\n"
		"  --hostile CLASS: after the frames, one malformed TX chain (head_out_of_range,\n"
		"  next_out_of_range, chain_loop, zero_length, buffer_outside_memory,\n"
		"  addr_len_overflow, write_before_read, avail_idx_jump) that must not come\n"
		"  back used, then a device reset and the frames again: RESULT is theirs.\n"
		"  --indirect: each TX frame behind one indirect descriptor (INDIRECT_DESC);\n"
		"  --indirect-entries N (2-32, default 2): the header and N - 1 pieces of it.\n"
		"  --reconnect: when the back-end goes away, connect again and restart the\n"
		"  rings at the guest's used idx, as QEMU does (reconnect=1); --away-drop:\n"
		"  first, as QEMU with the link down, one more frame sent and every TX\n"
		"  chain from the used idx on returned by the VMM itself (away_dropped=).\n"
		"  --stream: send until SIGTERM/SIGINT, let what is in flight come back,\n"
		"  report (reconnects=, written_off= frames the back-end dropped).\n"
		"  --gap-ms G: one frame at a time, the next G ms after the last came back.\n"
		"  --pause-every N: every N frames, with frames in flight, stop and start the\n"
		"  rings as QEMU pauses and resumes a VM; each stop must answer the guest's\n"
		"  used idx (pauses=, bad_pauses=).  --resets R: after the frames, R device\n"
		"  resets (rings and RX buffers moved, started from 0), each followed by the\n"
		"  frames again; a write to what a reset left behind is a FAIL (stray_writes=).\n"
		"  Exit: 0 PASS, 1 FAIL, 2 usage or protocol error or back-end gone,\n"
		"  3 no CROSS_ENDIAN.\n");
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 0);
	return !errno && *s && !*end && *v <= max;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "legacy", no_argument, NULL, 'L' },
		{ "modern", no_argument, NULL, 'M' },
		{ "no-mrg-rxbuf", no_argument, NULL, 'n' },
		{ "frames", required_argument, NULL, 'f' },
		{ "ring", required_argument, NULL, 'r' },
		{ "force", no_argument, NULL, 'F' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "hold-ms", required_argument, NULL, 'H' },
		{ "hostile", required_argument, NULL, 'X' },
		{ "reconnect", no_argument, NULL, 'R' },
		{ "stream", no_argument, NULL, 'S' },
		{ "away-drop", no_argument, NULL, 'D' },
		{ "gap-ms", required_argument, NULL, 'G' },
		{ "indirect", no_argument, NULL, 'I' },
		{ "indirect-entries", required_argument, NULL, 'E' },
		{ "pause-every", required_argument, NULL, 'P' },
		{ "resets", required_argument, NULL, 'Z' },
		{ "any-mac", no_argument, NULL, 'A' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	bool big = vrm_host_order() == VRM_ORDER_BE, cross_ok, need_endian;
	struct stats st = { 0 };
	unsigned long v;
	uint64_t pf;
	int c;

	vuc_init("vu_driver");
	vuc_on_error = reconnect_error;
	opt.legacy = true;
	while ((c = getopt_long(argc, argv, "s:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 's': opt.socket = optarg; break;
		case 'L': opt.legacy = true; break;
		case 'M': opt.legacy = false; break;
		case 'n': opt.no_mrg = true; break;
		case 'F': opt.force = true; break;
		case 'A': opt.any_mac = true; break;
		case 'X':
			if (!hostile_known(optarg))
				goto bad;
			opt.hostile = optarg;
			break;
		case 'v': opt.verbose = true; break;
		case 'R': opt.reconnect = true; break;
		case 'S': opt.stream = true; break;
		case 'D': opt.away_drop = true; break;
		case 'I': opt.indirect = true; break;
		case 'E':
			if (!parse_uint(optarg, TX_TABLE_MAX, &v) || v < 2 || v > FRAME_LEN + 1)
				goto bad;
			opt.indirect_entries = (unsigned)v;
			opt.indirect = true;
			break;
		case 'h': usage(stdout); return 0;
		case 'f':
			if (!parse_uint(optarg, MAX_FRAMES, &v) || !v)
				goto bad;
			opt.frames = (unsigned)v;
			break;
		case 'r':
			if (!parse_uint(optarg, MAX_RING, &v) || !vrm_ring_size_ok((uint32_t)v, MAX_RING) ||
			    v < 4)
				goto bad;
			opt.ring = (unsigned)v;
			break;
		case 't':
			if (!parse_uint(optarg, 3600000, &v) || !v)
				goto bad;
			opt.timeout_ms = (int)v;
			break;
		case 'H':
			if (!parse_uint(optarg, 3600000, &v))
				goto bad;
			opt.hold_ms = (int)v;
			break;
		case 'G':
			if (!parse_uint(optarg, 60000, &v))
				goto bad;
			opt.gap_ms = (int)v;
			break;
		case 'P':
			if (!parse_uint(optarg, MAX_FRAMES, &v) || !v)
				goto bad;
			opt.pause_every = (unsigned)v;
			break;
		case 'Z':
			if (!parse_uint(optarg, 10000, &v))
				goto bad;
			opt.resets = (unsigned)v;
			break;
		default:
			usage(stderr);
			return EXIT_PROTO;
		}
	}
	if (!opt.socket || optind != argc) {
		usage(stderr);
		return EXIT_PROTO;
	}
	if (opt.stream) {
		struct sigaction sa = { .sa_handler = on_stop };

		if (opt.frames == 64)		/* not given: as many as it takes */
			opt.frames = MAX_FRAMES;
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	if (opt.away_drop) {
		away_seqs = calloc(opt.frames / 8 + 1, 1);
		if (!away_seqs) {
			fprintf(stderr, "vu_driver: out of memory\n");
			return EXIT_PROTO;
		}
	}
	{
		struct sigaction sa = { .sa_handler = on_progress };

		sigaction(SIGUSR1, &sa, NULL);
	}
	/* A write to a socket the back-end closed is an error, not a kill. */
	signal(SIGPIPE, SIG_IGN);

	memfd = memfd_create("vu_driver-guest", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE)) {
		fprintf(stderr, "vu_driver: guest memory memfd: %s\n", strerror(errno));
		return EXIT_PROTO;
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		fprintf(stderr, "vu_driver: mmap guest memory: %s\n", strerror(errno));
		return EXIT_PROTO;
	}
	vlog("guest memory at %p, gpa 0x%llx, %u bytes\n", (void *)mem,
	     (unsigned long long)MEM_GPA, MEM_SIZE);

	vuc_connect(opt.socket);
	cross_ok = negotiate(&pf);
	/* A legacy ring in a byte order other than the host's (little-endian
	 * on every host vringmed serves) needs SET_VRING_ENDIAN, which needs
	 * the protocol feature; QEMU fails here with "vhost_set_vring_endian
	 * failed: Operation not supported (95)". */
	need_endian = opt.legacy && big;
	if (need_endian && !cross_ok) {
		fprintf(stderr, "vu_driver: backend cannot do cross-endian legacy rings "
				"(no VHOST_USER_PROTOCOL_F_CROSS_ENDIAN)%s\n",
			opt.force ? "; --force: going on without SET_VRING_ENDIAN" : "");
		if (!opt.force)
			return EXIT_NO_CROSS;
	}
	neg_pf = pf;
	neg_endian = need_endian && cross_ok;
	set_mem_table();
	for (unsigned q = 0; q < NQ; q++) {
		queue_init(&vq[q], q);
		queue_start(&vq[q], need_endian && cross_ok, 0);
	}
	if (pf)		/* protocol features negotiated: rings start disabled */
		for (unsigned q = 0; q < NQ; q++)
			vuc_send_state(VU_SET_VRING_ENABLE, q, 1);

	exchange(&st);
	if (opt.hostile && !sock_dead) {
		bool before = st.received == st.sent && !st.bad_header && !st.bad_payload &&
			      !st.bad_used && !st.fatal;
		unsigned back;

		printf("vu_driver: before_reset sent=%u received=%u RESULT: %s\n", st.sent,
		       st.received, before ? "PASS" : "FAIL");
		back = hostile_post(&vq[TXQ]);
		printf("vu_driver: hostile %s posted: %u used entries came back\n", opt.hostile,
		       back);
		fflush(stdout);
		device_reset(pf, need_endian && cross_ok);
		memset(&st, 0, sizeof(st));
		exchange(&st);
		st.fatal |= !before || back != 0;
	}

	for (unsigned n = 0; n < opt.resets && !sock_dead && !st.fatal; n++) {
		bool ok = st.received == st.sent && !st.bad_header && !st.bad_payload &&
			  !st.bad_used && !st.tx_left;

		printf("vu_driver: before_reset %u sent=%u received=%u RESULT: %s\n", n + 1,
		       st.sent, st.received, ok ? "PASS" : "FAIL");
		fflush(stdout);
		device_reset(pf, need_endian && cross_ok);
		memset(&st, 0, sizeof(st));
		exchange(&st);
		st.fatal |= !ok;
	}
	st.fatal |= bad_pauses != 0;
	stray_check();
	st.fatal |= stray_writes != 0 || st.resent != 0;

	/* --stream: the back-end may drop frames (testpmd counts them; the
	 * caller compares); what must hold here is that nothing came back
	 * damaged or twice and every TX chain came back. */
	if (opt.indirect)
		printf("vu_driver: indirect_desc=1 tx_tables=%u\n", tx_tables);
	printf("vu_driver: mode=%s order=%s mrg_rxbuf=%d sent=%u received=%u bad_header=%u "
	       "bad_payload=%u bad_used=%u tx_unreturned=%u reconnects=%u away_dropped=%u "
	       "resent=%u pauses=%u bad_pauses=%u stray_writes=%u RESULT: %s\n",
	       opt.legacy ? "legacy" : "modern",
	       opt.legacy ? (big ? "big" : "little") : "little", mrg_rxbuf, st.sent,
	       st.received, st.bad_header, st.bad_payload, st.bad_used, st.tx_left, reconnects,
	       st.away_dropped, st.resent, pauses, bad_pauses, stray_writes,
	       ((st.received == st.sent || opt.stream) && !st.bad_header && !st.bad_payload &&
		!st.bad_used && !st.tx_left && !st.fatal) ? "PASS" : "FAIL");
	fflush(stdout);
	if (opt.hold_ms)
		hold();
	if (!sock_dead && !stop_rings(pf != 0))
		fprintf(stderr, "vu_driver: note: GET_VRING_BASE differs from what the back-end returned\n");
	if ((st.received == st.sent || opt.stream) && !st.bad_header && !st.bad_payload &&
	    !st.bad_used && !st.tx_left && !st.fatal)
		return EXIT_PASS;
	/* A back-end that went away is a lost session (a protocol error),
	 * whether it left during set-up or once the rings ran: which of the
	 * two it was is a race on when the socket's close is seen. */
	return sock_dead ? EXIT_PROTO : EXIT_FAIL;
bad:
	fprintf(stderr, "vu_driver: bad value for --%s: %s\n",
		c == 'f' ? "frames" : c == 'r' ? "ring" : c == 't' ? "timeout-ms" :
		c == 'X' ? "hostile" : c == 'P' ? "pause-every" : c == 'Z' ? "resets" :
		c == 'G' ? "gap-ms" : "hold-ms",
		optarg);
	usage(stderr);
	return EXIT_PROTO;
}
