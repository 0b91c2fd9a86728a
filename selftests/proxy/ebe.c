// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Back-ends the tests play in place of testpmd. */
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "vu_wire.h"
#include "proxy_test.h"

/* A back-end that takes connections and never answers: listening, never
 * accepting, so the daemon's GET_FEATURES waits for its whole timeout. */
int mute_backend(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 4)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static uint8_t *ebe_ptr(struct ebe *e, uint64_t uaddr)
{
	return e->shadow && uaddr >= e->sh_uaddr && uaddr - e->sh_uaddr < e->sh_len
		? (uint8_t *)e->shadow + (uaddr - e->sh_uaddr) : NULL;
}

static void ebe_reply_u64(int s, uint32_t req, uint64_t v)
{
	struct vu_msg r;

	vu_msg_init(&r, req);
	r.flags = VU_VERSION | VU_FLAG_REPLY;
	vu_put_u64(&r, 0, v);
	vu_send(s, &r);
}

static void ebe_return(struct ebe *e);

/* One message from the daemon; false when the connection ended. */
static bool ebe_message(struct ebe *e, int s)
{
	struct vu_msg m;
	uint32_t idx;

	if (vu_recv(s, &m) != 1)
		return false;
	idx = m.size >= 4 ? vu_get_u32(&m, 0) : 0;
	switch (m.request) {
	case VU_GET_FEATURES:
		ebe_reply_u64(s, m.request, BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF) |
			      (e->logs ? BIT(VU_F_LOG_ALL) | BIT(VU_F_PROTOCOL_FEATURES) : 0));
		break;
	case VU_GET_PROTOCOL_FEATURES:
		ebe_reply_u64(s, m.request, BIT(VU_PF_LOG_SHMFD));
		break;
	case VU_SET_LOG_BASE: {
		struct stat st;
		struct vu_msg r;

		/* Taken (a file of its own) and answered, as DPDK does: an
		 * empty reply. */
		if (m.nfds == 1 && !fstat(m.fds[0], &st)) {
			atomic_store(&e->log_file_size, (unsigned long long)st.st_size);
			atomic_fetch_add(&e->log_bases, 1);
		}
		vu_msg_init(&r, m.request);
		r.flags = VU_VERSION | VU_FLAG_REPLY;
		vu_send(s, &r);
		break;
	}
	case VU_SET_MEM_TABLE:
		/* The last region is the shadow map: the rings are there. */
		for (uint32_t i = 0; i < vu_get_u32(&m, 0) && i < (uint32_t)m.nfds; i++) {
			uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;

			if (vu_get_u64(&m, off) < (1ull << 48) || e->shadow)
				continue;
			e->sh_len = vu_get_u64(&m, off + 8);
			e->sh_uaddr = vu_get_u64(&m, off + 16);
			e->shadow = mmap(NULL, e->sh_len, PROT_READ | PROT_WRITE, MAP_SHARED, m.fds[i], 0);
			if (e->shadow == MAP_FAILED)
				e->shadow = NULL;
		}
		break;
	case VU_SET_VRING_NUM:
		if (idx == 1)
			e->num = (uint16_t)vu_get_u32(&m, 4);
		break;
	case VU_SET_VRING_BASE:
		if (idx == 1)
			e->last = (uint16_t)vu_get_u32(&m, 4);
		break;
	case VU_SET_VRING_ADDR:
		if (idx == 1) {
			e->avail = ebe_ptr(e, vu_get_u64(&m, VU_ADDR_AVAIL_OFF));
			e->used = ebe_ptr(e, vu_get_u64(&m, VU_ADDR_USED_OFF));
		}
		break;
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
		if (idx == 1 && m.nfds == 1) {
			int *fd = m.request == VU_SET_VRING_KICK ? &e->kick : &e->call;

			if (*fd >= 0)
				close(*fd);
			*fd = vu_msg_take_fd(&m, 0);
		}
		break;
	case VU_GET_VRING_BASE: {
		unsigned slow = atomic_load(&e->stop_ms);
		struct vu_msg r;

		/* A data path that takes its time to let go of the ring. */
		if (slow) {
			usleep(slow * 1000);
			atomic_fetch_add(&e->stops, 1);
			atomic_store(&e->stopped_ms, mono_ms());
		}

		/* A back-end finishes what it holds before it answers (a
		 * block back-end its requests in flight). */
		if (idx == 1 && atomic_load(&e->at_stop))
			ebe_return(e);
		vu_msg_init(&r, m.request);
		r.flags = VU_VERSION | VU_FLAG_REPLY;
		vu_put_u32(&r, 0, idx);
		vu_put_u32(&r, 4, idx == 1 ? e->last : 0);
		vu_send(s, &r);
		break;
	}
	default:
		break;
	}
	vu_msg_close_fds(&m);
	return true;
}

/* A kick: every new TX chain back, then the call. */
static void ebe_kicked(struct ebe *e)
{
	uint64_t v;

	if (read(e->kick, &v, sizeof(v)) != sizeof(v) || !e->avail || !e->used || !e->num)
		return;
	atomic_fetch_add(&e->wakes, 1);
	if (!atomic_load(&e->at_stop))
		ebe_return(e);
}

/* Every TX chain in the avail ring back, then the call (unless no_call). */
static void ebe_return(struct ebe *e)
{
	uint16_t idx;

	if (!e->avail || !e->used || !e->num)
		return;
	idx = __atomic_load_n((uint16_t *)(e->avail + 2), __ATOMIC_ACQUIRE);
	if (idx == e->last)
		return;		/* woken before the chains were there */
	for (; e->last != idx; e->last++) {
		uint16_t slot = e->last % e->num, head;

		memcpy(&head, e->avail + 4 + 2 * slot, 2);
		memcpy(e->used + 4 + 8 * slot, &(uint32_t){ head }, 4);
		memset(e->used + 8 + 8 * slot, 0, 4);
		atomic_fetch_add(&e->returned, 1);
	}
	__atomic_store_n((uint16_t *)(e->used + 2), idx, __ATOMIC_RELEASE);
	if (!atomic_load(&e->no_call) && e->call >= 0 && write(e->call, &(uint64_t){ 1 }, 8) != 8)
		return;
}

static void *ebe_main(void *arg)
{
	struct ebe *e = arg;
	int s = -1;

	while (!atomic_load(&e->stop)) {
		struct pollfd p[2] = { { .fd = s >= 0 ? s : e->lsn, .events = POLLIN },
				       { .fd = e->kick, .events = POLLIN } };

		if (poll(p, e->kick >= 0 ? 2 : 1, 100) <= 0)
			continue;
		if (p[0].revents && s < 0) {
			s = accept4(e->lsn, NULL, NULL, SOCK_CLOEXEC);
		} else if (p[0].revents && !ebe_message(e, s)) {
			break;
		}
		if (e->kick >= 0 && (p[1].revents & POLLIN))
			ebe_kicked(e);
	}
	if (s >= 0)
		close(s);
	return NULL;
}

static int ebe_start(struct ebe *e, const char *path, bool logs)
{
	memset(e, 0, sizeof(*e));
	e->kick = e->call = -1;
	e->logs = logs;
	e->lsn = mute_backend(path);	/* listening; this thread accepts */
	if (e->lsn < 0 || pthread_create(&e->thr, NULL, ebe_main, e))
		return -1;
	e->running = true;
	return 0;
}

static void ebe_stop(struct ebe *e, const char *path)
{
	atomic_store(&e->stop, 1);
	if (e->running)
		pthread_join(e->thr, NULL);
	if (e->shadow)
		munmap(e->shadow, e->sh_len);
	if (e->kick >= 0)
		close(e->kick);
	if (e->call >= 0)
		close(e->call);
	if (e->lsn >= 0)
		close(e->lsn);
	unlink(path);
}

/* neta with the test's back-end in place of testpmd, and a big-endian
 * legacy VMM session on it, running; false (and a failure) if not. */
static bool ebe_session_ex(struct ebe *e, struct vmm *v, bool logs)
{
	memset(e, 0, sizeof(*e));
	e->kick = e->call = e->lsn = -1;
	if (!bring_up())
		return false;
	if (peer_alive(&tp_a))
		peer_stop(&tp_a, SIGKILL);
	if (!VRM_EQ(ebe_start(e, be_a, logs), 0) || !VRM_EQ(vmm_start(v, vmm_a, VRM_ORDER_BE), 0))
		return false;
	return VRM_TRUE(device_has("neta", "\"state\":\"running\""));
}

bool ebe_session(struct ebe *e, struct vmm *v)
{
	return ebe_session_ex(e, v, false);
}

bool ebe_session_logging(struct ebe *e, struct vmm *v)
{
	return ebe_session_ex(e, v, true);
}

void ebe_close(struct ebe *e)
{
	ebe_stop(e, be_a);
}

/* Ends it: neta listens again, the socket is free for testpmd. */
void ebe_session_end(struct ebe *e, struct vmm *v)
{
	vmm_stop(v);
	if (up)
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
	ebe_stop(e, be_a);
}
