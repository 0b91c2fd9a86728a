// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A VMM and the guest side of a virtio-blk device in one process: its own
 * small vhost-user front-end (wire helpers from user/vu_wire.c) plus a
 * driver that reads, writes, flushes and asks the disk's ID, and checks
 * every byte and status.
 *
 * Built natively and for s390x (static, run under qemu-s390x-static).  In
 * --legacy mode (the default) the rings, the request headers and the config
 * space are in THIS process's byte order, written and read with plain C
 * stores and loads, as a legacy guest kernel does: under qemu-s390x-static
 * that is a real big-endian legacy driver.  In --modern mode they are
 * little-endian (VIRTIO_F_VERSION_1).  Only the vhost-user wire is always
 * little-endian (vu_wire.c does that).
 *
 *   vu_blk_driver --socket PATH [--legacy|--modern] [--force] [--seed N]
 *                 [--sectors N] [--timeout-ms T] [-v]
 *
 * The disk holds blk_pattern(offset, 0) (selftests/blk_pattern.h) when the
 * run starts.  The driver checks the config space (capacity --sectors,
 * blk_size 512), asks the ID (GET_ID), writes blk_pattern(offset, seed) to
 * sectors [BLK_WRITE_FIRST, +BLK_WRITE_SECTORS), flushes (FLUSH, and
 * legacy's FLUSH_OUT), reads the whole disk back and compares, and sends
 * one request of a type the device does not serve (SCSI), whose status
 * must say so.
 *
 * stdout, one line:
 *   vu_blk_driver: mode=legacy order=big requests=N reads=N writes=N flushes=N
 *                  id=STRING unsupp=N bad_status=N bad_data=N bad_len=N
 *                  capacity=N RESULT: PASS|FAIL
 * Exit: 0 PASS, 1 FAIL, 2 usage or protocol error or the back-end gone,
 * 3 the back-end cannot take a cross-endian legacy ring (no
 * VHOST_USER_PROTOCOL_F_CROSS_ENDIAN) and --force was not given.
 */
#include <errno.h>
#include <getopt.h>
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

#include "blk_pattern.h"
#include "vu_client.h"
#include "vu_wire.h"

#define BIT(n)		(1ull << (n))

#define MEM_SIZE	(1u << 20)
#define MEM_GPA		0x100000ull	/* not 0: a GPA/offset confusion shows */
#define RING_SIZE	128u
#define HDR_OFF		0x10000u	/* a request's header: 16 bytes per slot */
#define STATUS_OFF	0x11000u	/* its status byte */
#define DATA_OFF	0x20000u	/* its data: DATA_LEN per slot */
#define DATA_LEN	4096u
#define NSLOT		32u		/* requests in flight: 3 descriptors each */

#define T_IN		0
#define T_OUT		1
#define T_SCSI		2
#define T_FLUSH		4
#define T_FLUSH_OUT	5
#define T_GET_ID	8
#define S_OK		0
#define S_UNSUPP	2
#define CONFIG_LEN	60	/* up to write_zeroes_may_unmap and its padding */
#define VRM_BLK_ID_LEN	20

enum { EXIT_PASS = 0, EXIT_FAIL = 1, EXIT_PROTO = VUC_EXIT_PROTO, EXIT_NO_CROSS = 3 };

static struct {
	const char *socket;
	bool modern, force, verbose;
	unsigned seed, sectors;
	int timeout_ms;
} opt = { .seed = 1, .sectors = BLK_DISK_BYTES / BLK_SECTOR, .timeout_ms = 20000 };

static int memfd = -1, kickfd = -1, callfd = -1;
static int reqfd = -1;	/* the back-end's request channel: held, as QEMU does */
static uint8_t *mem;
static struct vrm_desc *desc;
static __u16 *avail, *used_hdr;
static struct vrm_used_elem *used;
static uint16_t avail_idx, last_used;

static struct {
	unsigned requests, reads, writes, flushes, unsupp, bad_status, bad_data, bad_len;
	uint64_t capacity;
	char id[VRM_BLK_ID_LEN + 1];
} st;

static void vlog(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "vu_blk_driver: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/* Guest-order fields: a legacy driver stores native values with plain C
 * stores; a modern one little-endian. */
static void st16(__u16 *p, uint16_t v)
{
	*(volatile __u16 *)p = opt.modern ? vrm_swab16_if(VRM_ORDER_LE, v) : v;
}

static void st32(__u32 *p, uint32_t v)
{
	*p = opt.modern ? vrm_swab32_if(VRM_ORDER_LE, v) : v;
}

static void st64(__u64 *p, uint64_t v)
{
	*p = opt.modern ? vrm_swab64_if(VRM_ORDER_LE, v) : v;
}

static uint16_t ld16(const __u16 *p)
{
	uint16_t v = *(const volatile __u16 *)p;

	return opt.modern ? vrm_swab16_if(VRM_ORDER_LE, v) : v;
}

static uint32_t ld32(const __u32 *p)
{
	uint32_t v = *(const volatile __u32 *)p;

	return opt.modern ? vrm_swab32_if(VRM_ORDER_LE, v) : v;
}

/* ---- vhost-user front-end (the requests: vu_client.c) ---- */

/* GET_CONFIG of the first CONFIG_LEN bytes; the capacity and blk_size as
 * this driver reads them (its own order when legacy). */
static void get_config(uint64_t *capacity, uint32_t *blk_size)
{
	struct vu_msg m, r;
	__u64 cap;
	__u32 bs;
	int rc;

	vu_msg_init(&m, VU_GET_CONFIG);
	vu_put_u32(&m, 0, 0);
	vu_put_u32(&m, 4, CONFIG_LEN);
	vu_put_u32(&m, 8, 0);
	m.size = VU_CONFIG_HDR_SIZE + CONFIG_LEN;
	memset(m.payload + VU_CONFIG_HDR_SIZE, 0, CONFIG_LEN);
	rc = vu_call(vuc_sock, &m, &r);
	if (rc)
		vuc_die("GET_CONFIG", rc);
	if (r.size != VU_CONFIG_HDR_SIZE + CONFIG_LEN) {
		fprintf(stderr, "vu_blk_driver: GET_CONFIG reply of %u bytes\n", r.size);
		exit(EXIT_PROTO);
	}
	memcpy(&cap, r.payload + VU_CONFIG_HDR_SIZE, 8);
	memcpy(&bs, r.payload + VU_CONFIG_HDR_SIZE + 20, 4);
	*capacity = opt.modern ? vrm_swab64_if(VRM_ORDER_LE, cap) : cap;
	*blk_size = opt.modern ? vrm_swab32_if(VRM_ORDER_LE, bs) : bs;
}

/* QEMU's order: GET_FEATURES, GET/SET_PROTOCOL_FEATURES, the back-end's
 * request channel, SET_OWNER, GET_CONFIG (realize); then SET_FEATURES,
 * the memory table and the ring (start). */
static void negotiate(void)
{
	uint64_t offered, want, pf = 0, pf_want = 0;
	bool cross;
	uint32_t bs;

	offered = vuc_get_u64(VU_GET_FEATURES);
	if (offered & BIT(VU_F_PROTOCOL_FEATURES)) {
		pf = vuc_get_u64(VU_GET_PROTOCOL_FEATURES);
		pf_want = pf & (BIT(VU_PF_CONFIG) | BIT(VU_PF_BACKEND_REQ) |
				(opt.modern ? 0 : BIT(VU_PF_CROSS_ENDIAN)));
		vuc_send_u64(VU_SET_PROTOCOL_FEATURES, pf_want, -1);
	}
	vlog("offered features 0x%llx, protocol features 0x%llx\n", (unsigned long long)offered,
	     (unsigned long long)pf);
	/* A legacy ring in another order than the back-end's host needs
	 * SET_VRING_ENDIAN. */
	cross = !opt.modern && vrm_host_order() != VRM_ORDER_LE;
	if (cross && !(pf_want & BIT(VU_PF_CROSS_ENDIAN)) && !opt.force) {
		printf("vu_blk_driver: the back-end offers no CROSS_ENDIAN: a big-endian legacy "
		       "ring cannot work (--force to try)\n");
		exit(EXIT_NO_CROSS);
	}
	if (!(pf_want & BIT(VU_PF_CONFIG))) {
		fprintf(stderr, "vu_blk_driver: the back-end offers no CONFIG protocol feature\n");
		exit(EXIT_PROTO);
	}
	if (pf_want & BIT(VU_PF_BACKEND_REQ)) {
		int sv[2];
		struct vu_msg m;

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
			perror("vu_blk_driver: socketpair");
			exit(EXIT_PROTO);
		}
		vu_msg_init(&m, VU_SET_BACKEND_REQ_FD);
		m.fds[0] = sv[1];
		m.nfds = 1;
		vuc_send(&m);
		close(sv[1]);
		reqfd = sv[0];
	}
	vuc_send(&(struct vu_msg){ .request = VU_SET_OWNER, .flags = VU_VERSION });
	get_config(&st.capacity, &bs);
	vlog("config: capacity %llu, blk_size %u\n", (unsigned long long)st.capacity, bs);
	if (st.capacity != opt.sectors || ((offered & BIT(VU_BLK_F_BLK_SIZE)) && bs != BLK_SECTOR)) {
		fprintf(stderr, "vu_blk_driver: config space: capacity %llu (want %u), blk_size %u "
			"(want %u)\n", (unsigned long long)st.capacity, opt.sectors, bs, BLK_SECTOR);
		st.bad_data++;
	}
	want = offered & (BIT(VU_BLK_F_SIZE_MAX) | BIT(VU_BLK_F_SEG_MAX) | BIT(VU_BLK_F_BLK_SIZE) |
			  BIT(VU_BLK_F_FLUSH) | BIT(VU_BLK_F_TOPOLOGY));
	if (opt.modern)
		want |= offered & BIT(VU_F_VERSION_1);
	if (offered & BIT(VU_F_PROTOCOL_FEATURES))
		want |= BIT(VU_F_PROTOCOL_FEATURES);
	vuc_send_u64(VU_SET_FEATURES, want, -1);

	vuc_set_mem_table(MEM_GPA, MEM_SIZE, mem, memfd);
	vuc_send_state(VU_SET_VRING_NUM, 0, RING_SIZE);
	vuc_send_state(VU_SET_VRING_BASE, 0, 0);
	if (cross)
		vuc_send_state(VU_SET_VRING_ENDIAN, 0, VU_VRING_BIG_ENDIAN);
	vuc_set_vring_addr(0, desc, used_hdr, avail);
	vuc_send_u64(VU_SET_VRING_KICK, 0, kickfd);
	vuc_send_u64(VU_SET_VRING_CALL, 0, callfd);
	if (offered & BIT(VU_F_PROTOCOL_FEATURES))
		vuc_send_state(VU_SET_VRING_ENABLE, 0, 1);
}

/* ---- the guest driver ---- */

static uint64_t gpa(uint32_t off)
{
	return MEM_GPA + off;
}

static void set_desc(uint16_t i, uint32_t off, uint32_t len, uint16_t flags, uint16_t next)
{
	st64(&desc[i].addr, gpa(off));
	st32(&desc[i].len, len);
	st16(&desc[i].flags, flags);
	st16(&desc[i].next, next);
}

/* Request slot s: header, data (len bytes, none when 0), status; posted,
 * not yet published. */
static void post(unsigned s, uint32_t type, uint64_t sector, uint32_t len, bool read)
{
	uint16_t h = (uint16_t)(3 * s);
	__u32 *hdr = (__u32 *)(mem + HDR_OFF + 16 * s);

	st32(&hdr[0], type);
	st32(&hdr[1], 0);
	st64((__u64 *)&hdr[2], sector);
	mem[STATUS_OFF + s] = 0xee;
	set_desc(h, HDR_OFF + 16 * s, 16, VRM_VRING_DESC_F_NEXT, len ? h + 1 : h + 2);
	if (len)
		set_desc(h + 1, DATA_OFF + DATA_LEN * s, len,
			 VRM_VRING_DESC_F_NEXT | (read ? VRM_VRING_DESC_F_WRITE : 0), h + 2);
	set_desc(h + 2, STATUS_OFF + s, 1, VRM_VRING_DESC_F_WRITE, 0);
	st16(&avail[2 + avail_idx % RING_SIZE], h);
	avail_idx++;
	st.requests++;
}

static void kick(void)
{
	uint64_t one = 1;

	__atomic_thread_fence(__ATOMIC_RELEASE);
	st16(&avail[1], avail_idx);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (write(kickfd, &one, sizeof(one)) != sizeof(one)) {
		perror("vu_blk_driver: kick");
		exit(EXIT_PROTO);
	}
}

/* Waits for `n` used entries; checks each one's status and length against
 * want_status[slot], want_len[slot]. */
static void reap(unsigned n, const uint8_t *want_status, const uint32_t *want_len)
{
	int64_t deadline = vuc_now_ms() + opt.timeout_ms;

	while (n) {
		uint16_t idx = ld16(&used_hdr[1]);
		struct pollfd pfd = { .fd = callfd, .events = POLLIN };
		uint64_t cnt;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		for (; last_used != idx && n; last_used++, n--) {
			const struct vrm_used_elem *e = &used[last_used % RING_SIZE];
			uint32_t id = ld32(&e->id), len = ld32(&e->len);
			unsigned s = id / 3;

			if (id % 3 || s >= NSLOT) {
				fprintf(stderr, "vu_blk_driver: used id %u is no request of ours\n", id);
				exit(EXIT_FAIL);
			}
			if (mem[STATUS_OFF + s] != want_status[s]) {
				if (st.bad_status++ < 3)
					fprintf(stderr, "vu_blk_driver: slot %u status %u (want %u)\n", s,
						mem[STATUS_OFF + s], want_status[s]);
			}
			if (len != want_len[s] && st.bad_len++ < 3)
				fprintf(stderr, "vu_blk_driver: slot %u used.len %u (want %u)\n", s, len,
					want_len[s]);
		}
		if (!n)
			break;
		if (vuc_now_ms() > deadline) {
			fprintf(stderr, "vu_blk_driver: %u requests not back within %d ms\n", n,
				opt.timeout_ms);
			st.bad_status += n;
			return;
		}
		if (poll(&pfd, 1, 100) > 0 && read(callfd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
			perror("vu_blk_driver: call");
	}
}

/* Sectors [first, first + count) read or written in DATA_LEN requests,
 * NSLOT at a time.  Writes carry blk_pattern(seed); reads are compared
 * with the seed their sectors hold (written ones: opt.seed). */
static void rw(bool read, uint64_t first, uint64_t count)
{
	const uint32_t per = DATA_LEN / BLK_SECTOR;
	uint8_t want_status[NSLOT];
	uint32_t want_len[NSLOT];
	uint64_t sec[NSLOT];

	for (uint64_t at = first; at < first + count;) {
		unsigned n = 0;

		for (; n < NSLOT && at < first + count; n++, at += per) {
			uint8_t *d = mem + DATA_OFF + DATA_LEN * n;

			sec[n] = at;
			if (read)
				memset(d, 0x5a, DATA_LEN);
			else
				for (uint32_t b = 0; b < DATA_LEN; b++)
					d[b] = blk_pattern(at * BLK_SECTOR + b, opt.seed);
			want_status[n] = S_OK;
			want_len[n] = read ? DATA_LEN + 1 : 1;
			post(n, read ? T_IN : T_OUT, at, DATA_LEN, read);
		}
		kick();
		reap(n, want_status, want_len);
		for (unsigned s = 0; s < n; s++) {
			const uint8_t *d = mem + DATA_OFF + DATA_LEN * s;

			if (read) {
				st.reads++;
				for (uint32_t b = 0; b < DATA_LEN; b++) {
					uint64_t off = sec[s] * BLK_SECTOR + b, sector = off / BLK_SECTOR;
					unsigned seed = sector >= BLK_WRITE_FIRST &&
							sector < BLK_WRITE_FIRST + BLK_WRITE_SECTORS ?
							opt.seed : 0;

					if (d[b] != blk_pattern(off, seed)) {
						if (st.bad_data++ < 3)
							fprintf(stderr, "vu_blk_driver: byte %llu read "
								"0x%02x, want 0x%02x\n",
								(unsigned long long)off, d[b],
								blk_pattern(off, seed));
						break;
					}
				}
			} else {
				st.writes++;
			}
		}
	}
}

/* One request without data (a flush, an unserved type), or GET_ID. */
static void one(uint32_t type, uint32_t len, uint8_t want_status, uint32_t want_len)
{
	uint8_t ws[NSLOT] = { [0] = want_status };
	uint32_t wl[NSLOT] = { [0] = want_len };

	memset(mem + DATA_OFF, 0x5a, DATA_LEN);
	post(0, type, 0, len, true);
	kick();
	reap(1, ws, wl);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vu_blk_driver --socket PATH [--legacy|--modern] [--force] [--seed N]\n"
		   "                     [--sectors N] [--timeout-ms T] [-v]\n");
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "legacy", no_argument, NULL, 'L' },
		{ "modern", no_argument, NULL, 'M' },
		{ "force", no_argument, NULL, 'f' },
		{ "seed", required_argument, NULL, 'e' },
		{ "sectors", required_argument, NULL, 'n' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ 0 }
	};
	const uint8_t *id;
	bool pass;
	int c;

	vuc_init("vu_blk_driver");
	while ((c = getopt_long(argc, argv, "s:v", lo, NULL)) != -1) {
		switch (c) {
		case 's': opt.socket = optarg; break;
		case 'L': opt.modern = false; break;
		case 'M': opt.modern = true; break;
		case 'f': opt.force = true; break;
		case 'e': opt.seed = (unsigned)strtoul(optarg, NULL, 0); break;
		case 'n': opt.sectors = (unsigned)strtoul(optarg, NULL, 0); break;
		case 't': opt.timeout_ms = atoi(optarg); break;
		case 'v': opt.verbose = true; break;
		default: usage(stderr); return EXIT_PROTO;
		}
	}
	if (!opt.socket || !opt.seed) {
		usage(stderr);
		return EXIT_PROTO;
	}
	memfd = memfd_create("vu_blk_driver", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, MEM_SIZE)) {
		perror("vu_blk_driver: memfd");
		return EXIT_PROTO;
	}
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		perror("vu_blk_driver: mmap");
		return EXIT_PROTO;
	}
	desc = (struct vrm_desc *)mem;
	avail = (__u16 *)(mem + vrm_legacy_avail_off(RING_SIZE));
	used_hdr = (__u16 *)(mem + vrm_legacy_used_off(RING_SIZE));
	used = (struct vrm_used_elem *)(mem + vrm_legacy_used_off(RING_SIZE) + VRM_USED_RING_OFF);
	kickfd = eventfd(0, EFD_CLOEXEC);
	callfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (kickfd < 0 || callfd < 0) {
		perror("vu_blk_driver: eventfd");
		return EXIT_PROTO;
	}
	vuc_connect(opt.socket);
	negotiate();

	one(T_GET_ID, VRM_BLK_ID_LEN, S_OK, VRM_BLK_ID_LEN + 1);
	id = mem + DATA_OFF;
	memcpy(st.id, id, VRM_BLK_ID_LEN);
	for (unsigned i = 0; i < VRM_BLK_ID_LEN && st.id[i]; i++)
		if (st.id[i] < 0x21 || st.id[i] > 0x7e)
			st.id[i] = '?';
	if (!st.id[0] || strchr(st.id, '?')) {
		fprintf(stderr, "vu_blk_driver: GET_ID gave no printable ID\n");
		st.bad_data++;
	}
	rw(false, BLK_WRITE_FIRST, BLK_WRITE_SECTORS);
	one(T_FLUSH, 0, S_OK, 1);
	st.flushes++;
	if (!opt.modern) {	/* legacy's name for a flush */
		one(T_FLUSH_OUT, 0, S_OK, 1);
		st.flushes++;
	}
	rw(true, 0, opt.sectors);
	one(T_SCSI, 0, S_UNSUPP, 1);
	st.unsupp++;

	pass = !st.bad_status && !st.bad_data && !st.bad_len &&
	       st.reads == opt.sectors * BLK_SECTOR / DATA_LEN;
	printf("vu_blk_driver: mode=%s order=%s requests=%u reads=%u writes=%u flushes=%u id=%s "
	       "unsupp=%u bad_status=%u bad_data=%u bad_len=%u capacity=%llu RESULT: %s\n", opt.modern ? "modern" : "legacy",
	       opt.modern || vrm_host_order() == VRM_ORDER_LE ? "little" : "big", st.requests,
	       st.reads, st.writes, st.flushes, st.id[0] ? st.id : "-", st.unsupp, st.bad_status,
	       st.bad_data, st.bad_len, (unsigned long long)st.capacity, pass ? "PASS" : "FAIL");
	return pass ? EXIT_PASS : EXIT_FAIL;
}
