// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A migration's dirty log through the proxy, with testpmd behind it (its io
 * forwarding sends every TX frame back on RX): the VMM turns logging on as
 * QEMU's vhost_dev_set_log does, the guest sends and receives, and every
 * guest page the mediator wrote (used rings, the RX headers it converts in
 * place) is marked, while nothing past guest memory ever is (the shadow
 * region sits there, at 1 << 48).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "vu_wire.h"
#include "proxy_test.h"

#define SHADOW_GPA	(1ull << 48)
#define LOG_PAGE	4096ull
#define RXBUF_GPA	0x40000u	/* one page per RX buffer */
#define RXBUFS		8
#define FRAMES		4
/* The bitmap covers the shadow region too (a sparse file), so that a mark
 * there would land, and be seen. */
#define LOG_BYTES	((SHADOW_GPA + (64ull << 20)) / LOG_PAGE / 8)
/* Bitmap bytes of guest memory: the test maps these only. */
#define LOG_GUEST	(MEM_SIZE / LOG_PAGE / 8)

static uint64_t used_gpa(unsigned q)
{
	return RING_GPA(q) + vrm_legacy_used_off(QSIZE);
}

static bool marked(const uint8_t *bits, uint64_t gpa)
{
	uint64_t page = gpa / LOG_PAGE;

	return bits[page / 8] & (1u << (page % 8));
}

/* RX buffers 0..RXBUFS-1, device-writable, one page each, and a kick. */
static void rx_post(struct vmm *v)
{
	uint64_t ring = RING_GPA(0);

	for (uint16_t k = 0; k < RXBUFS; k++) {
		g64(v, ring + 16ull * k, RXBUF_GPA + LOG_PAGE * k);
		g32(v, ring + 16ull * k + 8, 2048);
		g16(v, ring + 16ull * k + 12, VRM_VRING_DESC_F_WRITE);
		g16(v, ring + vrm_legacy_avail_off(QSIZE) + 4 + 2ull * k, k);
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g16(v, ring + vrm_legacy_avail_off(QSIZE) + 2, RXBUFS);
	if (write(v->kick[0], &(uint64_t){ 1 }, 8) != 8)
		VRM_TRUE(!"kick write");
}

/* QEMU's vhost_dev_set_log: features with LOG_ALL on or off, then each
 * ring's addresses again with VHOST_VRING_F_LOG and its used ring's guest
 * address.  0, or what the daemon refused. */
static int set_log(struct vmm *v, bool on)
{
	struct vu_msg m, r;

	vu_send_u64(v->sock, VU_SET_FEATURES, v->feat | (on ? BIT(VU_F_LOG_ALL) : 0), -1);
	for (uint32_t q = 0; q < 2; q++) {
		uint64_t ring = (uint64_t)(uintptr_t)v->mem + RING_GPA(q);

		vu_msg_init(&m, VU_SET_VRING_ADDR);
		m.flags |= VU_FLAG_NEED_REPLY;
		vu_put_u32(&m, 0, q);
		vu_put_u32(&m, 4, on ? 1u << VU_VRING_F_LOG : 0);
		vu_put_u64(&m, VU_ADDR_DESC_OFF, ring);
		vu_put_u64(&m, VU_ADDR_USED_OFF, ring + vrm_legacy_used_off(QSIZE));
		vu_put_u64(&m, VU_ADDR_AVAIL_OFF, ring + vrm_legacy_avail_off(QSIZE));
		vu_put_u64(&m, VU_ADDR_LOG_OFF, on ? used_gpa(q) : 0);
		if (vu_call(v->sock, &m, &r) || vu_get_u64(&r, 0))
			return -1;
	}
	return 0;
}

/* SET_LOG_BASE with the bitmap in `fd`; 0 once the daemon answered (after
 * its back-end did). */
static int set_log_base(struct vmm *v, int fd)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_SET_LOG_BASE);
	vu_put_u64(&m, 0, LOG_BYTES);
	vu_put_u64(&m, 8, 0);
	m.fds[0] = fd;
	m.nfds = 1;
	if (vu_call(v->sock, &m, &r))
		return -1;
	vu_msg_close_fds(&r);
	return 0;
}

static int log_file(void)
{
	int fd = memfd_create("vmm-log", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, (off_t)LOG_BYTES)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* log_file() and our mapping of its guest part in *bits; false (a failed
 * check) when either cannot be had. */
static bool log_open(int *fd, uint8_t **bits)
{
	*fd = log_file();
	if (!VRM_TRUE(*fd >= 0))
		return false;
	*bits = mmap(NULL, LOG_GUEST, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	return VRM_TRUE(*bits != MAP_FAILED);
}

/* Traffic: TX frames first..first+n-1, echoed by testpmd into the RX
 * buffers; true once every one came back. */
static bool traffic(struct vmm *v, uint16_t first, uint16_t n)
{
	for (uint16_t k = first; k < first + n; k++)
		vmm_tx(v, k);
	for (int t = 0; t < 200 && gl16(v, used_gpa(0) + 2) < first + n; t++)
		usleep(10000);
	return vmm_tx_used(v, first + n, 2000) == first + n && gl16(v, used_gpa(0) + 2) == first + n;
}

/* Nothing in the bitmap past guest memory's bits was ever written: no data
 * in the sparse file beyond them. */
static bool nothing_past_guest(int fd)
{
	off_t data = lseek(fd, (off_t)(LOG_GUEST + LOG_PAGE) & ~(off_t)(LOG_PAGE - 1), SEEK_DATA);

	if (data >= 0)
		vrm_fail_at(__FILE__, __LINE__, "the log has data at byte %lld (guest-physical "
			 "0x%llx and up) past guest memory", (long long)data,
			 (unsigned long long)data * 8 * LOG_PAGE);
	return data < 0 && errno == ENXIO;
}

/* The pages marked, as a list for the log: what testpmd marks besides the
 * mediator is its business, and shown. */
static void say_marked(const uint8_t *bits)
{
	char list[256] = "";
	size_t n = 0;

	for (uint64_t page = 0; page < MEM_SIZE / LOG_PAGE && n < sizeof(list) - 16; page++)
		if (marked(bits, page * LOG_PAGE))
			n += (size_t)snprintf(list + n, sizeof(list) - n, " 0x%llx",
					      (unsigned long long)(page * LOG_PAGE));
	printf("      guest pages marked:%s\n", list);
}

VRM_TEST(dirty_log)
{
	struct vmm v = { .sock = -1 };
	int fd = -1, fd2 = -1;
	uint8_t *bits = MAP_FAILED;

	if (!bring_up())
		return;
	if (!peer_alive(&tp_a) && !VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pl"), 0))
		return;
	if (!VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0))
		goto out;
	if (vrm_subtest("offered")) {
		/* testpmd logs into a shared bitmap: so may the guest. */
		VRM_TRUE(v.offered & BIT(VU_F_LOG_ALL));
		VRM_TRUE(v.pf & BIT(VU_PF_LOG_SHMFD));
	}
	rx_post(&v);
	if (!log_open(&fd, &bits))
		goto out;
	if (vrm_subtest("set_log_base")) {
		VRM_EQ(set_log_base(&v, fd), 0);
		VRM_EQ(set_log(&v, true), 0);
		VRM_TRUE(peer_log_has(&dmn, "dirty log of", 2000));
	}
	if (vrm_subtest("mediator_writes_marked")) {
		VRM_TRUE(traffic(&v, 0, FRAMES));
		/* The used rings: entries and idx, written by the mediator
		 * alone (testpmd's are the shadow rings'). */
		VRM_TRUE(marked(bits, used_gpa(0)));
		VRM_TRUE(marked(bits, used_gpa(1)));
		/* The RX headers, converted in place (big-endian with
		 * MRG_RXBUF): the mediator's, and testpmd's frame data. */
		for (unsigned k = 0; k < FRAMES; k++)
			VRM_TRUE(marked(bits, RXBUF_GPA + LOG_PAGE * k));
		VRM_TRUE(!marked(bits, RXBUF_GPA + LOG_PAGE * (RXBUFS - 1)));
		VRM_TRUE(nothing_past_guest(fd));
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		say_marked(bits);
	}
	if (vrm_subtest("resized_log")) {
		/* A larger guest, a larger bitmap: the new one gets the marks. */
		fd2 = log_file();
		memset(bits, 0, LOG_GUEST);
		VRM_TRUE(fd2 >= 0 && set_log_base(&v, fd2) == 0);
		VRM_TRUE(traffic(&v, FRAMES, 1));
		VRM_TRUE(!marked(bits, used_gpa(1)));
		munmap(bits, LOG_GUEST);
		bits = fd2 < 0 ? MAP_FAILED :
		       mmap(NULL, LOG_GUEST, PROT_READ | PROT_WRITE, MAP_SHARED, fd2, 0);
		VRM_TRUE(bits != MAP_FAILED && marked(bits, used_gpa(1)) && marked(bits, used_gpa(0)));
		VRM_TRUE(nothing_past_guest(fd2));
	}
	if (vrm_subtest("logging_off") && bits != MAP_FAILED) {
		/* The migration ended: the mediator's writes go unmarked. */
		VRM_EQ(set_log(&v, false), 0);
		memset(bits, 0, LOG_GUEST);
		VRM_TRUE(traffic(&v, FRAMES + 1, 1));
		VRM_TRUE(!marked(bits, used_gpa(1)));
		VRM_TRUE(!marked(bits, used_gpa(0)));
	}
	if (vrm_subtest("log_outside_its_file")) {
		/* The VMM's sizes are untrusted: a log past the end of its
		 * file would SIGBUS the daemon at the first mark. */
		int small = memfd_create("vmm-log-small", MFD_CLOEXEC);
		struct vu_msg m, r;

		VRM_TRUE(small >= 0 && ftruncate(small, 4096) == 0);
		vu_msg_init(&m, VU_SET_LOG_BASE);
		vu_put_u64(&m, 0, 2 * LOG_PAGE);	/* the file has one page */
		vu_put_u64(&m, 8, 0);
		m.fds[0] = small;
		m.nfds = 1;
		VRM_TRUE(vu_call(v.sock, &m, &r) != 0);	/* no answer: the session ends */
		VRM_TRUE(peer_log_has(&dmn, "is not inside its memory file", 2000));
		VRM_TRUE(peer_alive(&dmn));
		if (small >= 0)
			close(small);
	}
out:
	if (bits != MAP_FAILED)
		munmap(bits, LOG_GUEST);
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	vmm_stop(&v);
}

/*
 * The stop at the end of a migration, under logging: a back-end that
 * returns a chain only when told to stop (its own GET_VRING_BASE) and does
 * not call, so the stop alone brings the entry to the guest's used ring:
 * before the VMM's GET_VRING_BASE is answered, and marked.  The back-end
 * was handed the log, a file of its own.
 */
VRM_TEST(dirty_log_stop)
{
	struct vmm v = { .sock = -1 };
	uint8_t *bits = MAP_FAILED;
	uint16_t base[2];
	struct ebe e;
	int fd = -1;

	if (!ebe_session_logging(&e, &v))
		goto out;
	if (!log_open(&fd, &bits))
		goto out;
	if (vrm_subtest("backend_gets_the_log")) {
		VRM_TRUE(v.offered & BIT(VU_F_LOG_ALL));
		VRM_EQ(set_log_base(&v, fd), 0);
		VRM_EQ(set_log(&v, true), 0);
		VRM_EQ(atomic_load(&e.log_bases), 1);
		VRM_EQ(atomic_load(&e.log_file_size), LOG_BYTES);
	}
	if (vrm_subtest("stop_completes_logged")) {
		atomic_store(&e.no_call, 1);
		atomic_store(&e.at_stop, 1);
		vmm_tx(&v, 0);
		usleep(100000);
		VRM_EQ(atomic_load(&e.returned), 0);
		memset(bits, 0, LOG_GUEST);
		if (VRM_EQ(vmm_pause(&v, base), 0)) {
			VRM_EQ(atomic_load(&e.returned), 1);
			VRM_EQ(base[1], 1);
			VRM_EQ(gl16(&v, used_gpa(1) + 2), 1);
			VRM_TRUE(marked(bits, used_gpa(1)));
		}
		VRM_TRUE(nothing_past_guest(fd));
	}
out:
	if (bits != MAP_FAILED)
		munmap(bits, LOG_GUEST);
	if (fd >= 0)
		close(fd);
	ebe_session_end(&e, &v);
}
