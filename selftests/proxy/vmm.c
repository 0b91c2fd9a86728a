// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The VMM the tests play: a vhost-user front-end and a legacy guest. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "vu_wire.h"
#include "proxy_test.h"

int vmm_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = 5 };

	strcpy(sa.sun_path, path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* True when the peer closed the connection (within 2 s). */
bool closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, 2000) == 1 && recv(fd, &c, 1, 0) <= 0;
}

int send_state(struct vmm *v, uint32_t req, uint32_t idx, uint32_t num, bool ack)
{
	struct vu_msg m, r;

	vu_msg_state(&m, req, idx, num);
	if (!ack)
		return vu_send(v->sock, &m);
	m.flags |= VU_FLAG_NEED_REPLY;
	if (vu_call(v->sock, &m, &r))
		return -EIO;
	return (int)vu_get_u64(&r, 0);	/* 0 acked, else refused */
}

/* The memory table and each ring from `base`, as QEMU's vhost_dev_start
 * sends them (the kick and call eventfds made once, the same every time). */
int vmm_rings_start(struct vmm *v, const uint16_t *base)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_SET_MEM_TABLE);
	m.flags |= VU_FLAG_NEED_REPLY;
	vu_put_u32(&m, 0, 1);
	vu_put_u32(&m, 4, 0);
	vu_put_u64(&m, 8, 0);
	vu_put_u64(&m, 16, MEM_SIZE);
	vu_put_u64(&m, 24, (uint64_t)(uintptr_t)v->mem);
	vu_put_u64(&m, 32, 0);
	m.fds[0] = v->memfd;
	m.nfds = 1;
	if (vu_call(v->sock, &m, &r) || vu_get_u64(&r, 0))
		return -1;
	for (uint32_t q = 0; q < 2; q++) {
		uint64_t ring = (uint64_t)(uintptr_t)v->mem + RING_GPA(q);

		send_state(v, VU_SET_VRING_NUM, q, QSIZE, false);
		send_state(v, VU_SET_VRING_BASE, q, base[q], false);
		if (v->order == VRM_ORDER_BE && send_state(v, VU_SET_VRING_ENDIAN, q,
							  VU_VRING_BIG_ENDIAN, true))
			return -1;
		vu_msg_init(&m, VU_SET_VRING_ADDR);
		vu_put_u32(&m, 0, q);
		vu_put_u32(&m, 4, 0);
		vu_put_u64(&m, VU_ADDR_DESC_OFF, ring);
		vu_put_u64(&m, VU_ADDR_USED_OFF, ring + vrm_legacy_used_off(QSIZE));
		vu_put_u64(&m, VU_ADDR_AVAIL_OFF, ring + vrm_legacy_avail_off(QSIZE));
		vu_put_u64(&m, 32, 0);
		vu_send(v->sock, &m);
		if (v->kick[q] <= 0)
			v->kick[q] = eventfd(0, EFD_CLOEXEC);
		if (v->call[q] <= 0)
			v->call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		vu_send_u64(v->sock, VU_SET_VRING_KICK, q, v->kick[q]);
		vu_send_u64(v->sock, VU_SET_VRING_CALL, q, v->call[q]);
		if (send_state(v, VU_SET_VRING_ENABLE, q, 1, true))
			return -1;
	}
	return 0;
}

/* A VM pause as QEMU's vhost_dev_stop makes it: each ring stopped
 * (GET_VRING_BASE; base[q] is the answer), its byte order set back to the
 * host's.  0, or -1 when the daemon did not answer. */
int vmm_pause(struct vmm *v, uint16_t *base)
{
	for (uint32_t q = 0; q < 2; q++) {
		struct vu_msg m, r;

		vu_msg_init(&m, VU_GET_VRING_BASE);
		vu_put_u32(&m, 0, q);
		vu_put_u32(&m, 4, 0);
		if (vu_call(v->sock, &m, &r) || r.size != VU_STATE_SIZE || vu_get_u32(&r, 0) != q)
			return -1;
		base[q] = (uint16_t)vu_get_u32(&r, 4);
		if (v->order == VRM_ORDER_BE &&
		    send_state(v, VU_SET_VRING_ENDIAN, q, VU_VRING_LITTLE_ENDIAN, true))
			return -1;
	}
	return 0;
}

/* ... and resumed (vhost_dev_start): features, memory, rings from base. */
int vmm_resume(struct vmm *v, const uint16_t *base)
{
	vu_send_u64(v->sock, VU_SET_FEATURES, v->feat, -1);
	return vmm_rings_start(v, base);
}

/* Everything QEMU says to start a legacy virtio-net device in `order`, its
 * guest memory in `memfd` (MEM_SIZE bytes, taken over). */
int vmm_start_fd(struct vmm *v, const char *path, enum vrm_order order, int memfd)
{
	struct vu_msg m;
	uint64_t feat;
	static const uint16_t zero[2];

	memset(v, 0, sizeof(*v));
	v->order = order;
	v->sock = vmm_connect(path);
	v->memfd = memfd;
	if (v->sock < 0 || v->memfd < 0)
		return -1;
	v->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	if (v->mem == MAP_FAILED)
		return -1;
	if (vu_get_u64_reply(v->sock, VU_GET_FEATURES, &v->offered) ||
	    vu_get_u64_reply(v->sock, VU_GET_PROTOCOL_FEATURES, &v->pf))
		return -1;
	/* As QEMU: LOG_SHMFD whenever offered (a migration needs it). */
	vu_send_u64(v->sock, VU_SET_PROTOCOL_FEATURES,
		    v->pf & (BIT(VU_PF_CROSS_ENDIAN) | BIT(VU_PF_REPLY_ACK) | BIT(VU_PF_LOG_SHMFD)), -1);
	vu_msg_init(&m, VU_SET_OWNER);
	vu_send(v->sock, &m);
	feat = v->offered & (BIT(VU_NET_F_MRG_RXBUF) | BIT(VU_F_PROTOCOL_FEATURES) |
			     (vmm_event_idx ? BIT(VU_F_EVENT_IDX) : 0));
	vu_send_u64(v->sock, VU_SET_FEATURES, feat, -1);
	v->feat = feat;
	return vmm_rings_start(v, zero);
}

bool vmm_event_idx;

int vmm_start(struct vmm *v, const char *path, enum vrm_order order)
{
	int fd = memfd_create("vmm-guest", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, MEM_SIZE)) {
		close(fd);
		fd = -1;
	}
	return vmm_start_fd(v, path, order, fd);
}

void vmm_stop(struct vmm *v)
{
	if (v->sock >= 0)
		close(v->sock);
	for (int q = 0; q < 2; q++) {
		if (v->kick[q] > 0)
			close(v->kick[q]);
		if (v->call[q] > 0)
			close(v->call[q]);
	}
	if (v->mem && v->mem != MAP_FAILED)
		munmap(v->mem, MEM_SIZE);
	if (v->memfd > 0)
		close(v->memfd);
	v->sock = -1;
}

/* Guest-order stores into the ring, as the legacy driver would make them. */
void g16(struct vmm *v, uint64_t gpa, uint16_t x)
{
	x = vrm_swab16_if(v->order, x);
	memcpy(v->mem + gpa, &x, 2);
}

void g32(struct vmm *v, uint64_t gpa, uint32_t x)
{
	x = vrm_swab32_if(v->order, x);
	memcpy(v->mem + gpa, &x, 4);
}

void g64(struct vmm *v, uint64_t gpa, uint64_t x)
{
	x = vrm_swab64_if(v->order, x);
	memcpy(v->mem + gpa, &x, 8);
}

uint16_t gl16(struct vmm *v, uint64_t gpa)
{
	uint16_t x;

	memcpy(&x, v->mem + gpa, 2);
	return vrm_swab16_if(v->order, x);
}

/* The chain of one TX frame, unpublished (proxy_test.h). */
void vmm_tx_chain(struct vmm *v, uint16_t slot, uint16_t pair)
{
	uint64_t ring = RING_GPA(1), d = ring + 32ull * pair;
	uint64_t hdr = BUF_GPA + 256ull * pair, frame = hdr + 16;

	memset(v->mem + hdr, 0, 12);
	memset(v->mem + frame, 0xff, 6);
	memset(v->mem + frame + 6, 0x52, 6);
	g16(v, frame + 12, 0xb588);	/* ethertype 0x88b5, network order */
	g64(v, d, hdr);
	g32(v, d + 8, 12);
	g16(v, d + 12, VRM_VRING_DESC_F_NEXT);
	g16(v, d + 14, (uint16_t)(2 * pair + 1));
	g64(v, d + 16, frame);
	g32(v, d + 24, 60);
	g16(v, d + 28, 0);
	g16(v, d + 30, 0);
	g16(v, ring + vrm_legacy_avail_off(QSIZE) + 4 + 2ull * slot, (uint16_t)(2 * pair));
}

/* One TX frame (header descriptor + frame descriptor) and a kick.  With
 * `evict`, the ring's page leaves the VMM's page tables before the kick (as
 * reclaim or migration would make it): BPF's read of it faults, the kick is
 * deferred, and the daemon must finish it.  With `kick` false the frame is
 * posted and the caller kicks. */
void vmm_tx_post(struct vmm *v, uint16_t n, bool evict, bool kick)
{
	uint64_t ring = RING_GPA(1);

	vmm_tx_chain(v, n, n);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g16(v, ring + vrm_legacy_avail_off(QSIZE) + 2, (uint16_t)(n + 1));
	/* The page holds the descriptors and the avail ring (64 entries). */
	if (evict && madvise(v->mem + ring, 4096, MADV_DONTNEED))
		VRM_TRUE(!"madvise(MADV_DONTNEED)");
	if (kick && write(v->kick[1], &(uint64_t){ 1 }, 8) != 8)
		VRM_TRUE(!"kick write");
}

void vmm_tx_ex(struct vmm *v, uint16_t n, bool evict)
{
	vmm_tx_post(v, n, evict, true);
}

void vmm_tx(struct vmm *v, uint16_t n)
{
	vmm_tx_ex(v, n, false);
}

/* The guest's TX used idx (in its byte order) once it reaches `want`, or
 * as it is after `ms`. */
uint16_t vmm_tx_used(struct vmm *v, uint16_t want, int ms)
{
	uint64_t used_idx = RING_GPA(1) + vrm_legacy_used_off(QSIZE) + 2;
	uint16_t got = gl16(v, used_idx);

	for (int t = 0; t < ms / 10 && got != want; t++) {
		usleep(10000);
		got = gl16(v, used_idx);
	}
	/* With event idx, as a driver whose callbacks are on: call me at the
	 * next entry. */
	if (v->feat & BIT(VU_F_EVENT_IDX))
		g16(v, RING_GPA(1) + vrm_legacy_avail_off(QSIZE) + 4 + 2ull * QSIZE, got);
	return got;
}
