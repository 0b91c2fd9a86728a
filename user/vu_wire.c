// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vhost-user framing: see vu_wire.h. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <vringmed/byteorder.h>
#include "vu_wire.h"

/* Unaligned little-endian fields (payload offsets need not be aligned). */
static uint32_t le32_at(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return vrm_swab32_if(VRM_ORDER_LE, v);
}

static uint64_t le64_at(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return vrm_swab64_if(VRM_ORDER_LE, v);
}

static void put_le32(void *p, uint32_t v)
{
	v = vrm_swab32_if(VRM_ORDER_LE, v);
	memcpy(p, &v, sizeof(v));
}

static void put_le64(void *p, uint64_t v)
{
	v = vrm_swab64_if(VRM_ORDER_LE, v);
	memcpy(p, &v, sizeof(v));
}

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n == 0)
			return got ? -EPIPE : 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	return 1;
}

int vu_recv(int sock, struct vu_msg *m)
{
	uint8_t hdr[VU_HDR_SIZE];
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	ssize_t n;
	int rc;

	m->nfds = 0;
	m->size = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int cnt = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

		for (int i = 0; i < cnt; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		vu_msg_close_fds(m);
		return -EBADMSG;
	}
	if ((size_t)n < sizeof(hdr)) {
		rc = read_full(sock, hdr + n, sizeof(hdr) - (size_t)n);
		if (rc <= 0) {
			vu_msg_close_fds(m);
			return rc ? rc : -EPIPE;
		}
	}
	m->request = le32_at(hdr);
	m->flags = le32_at(hdr + 4);
	m->size = le32_at(hdr + 8);
	if ((m->flags & VU_VERSION_MASK) != VU_VERSION || m->size > VU_MAX_PAYLOAD) {
		vu_msg_close_fds(m);
		return -EBADMSG;
	}
	if (m->size) {
		rc = read_full(sock, m->payload, m->size);
		if (rc <= 0) {
			vu_msg_close_fds(m);
			return rc ? rc : -EPIPE;
		}
	}
	return 1;
}

int vu_send(int sock, const struct vu_msg *m)
{
	uint8_t hdr[VU_HDR_SIZE];
	union {
		char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)m->payload, m->size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = m->size ? 2 : 1 };
	size_t total = sizeof(hdr) + m->size;
	ssize_t n;

	if (m->size > VU_MAX_PAYLOAD || m->nfds < 0 || m->nfds > VU_MAX_FDS)
		return -EINVAL;
	put_le32(hdr, m->request);
	put_le32(hdr + 4, m->flags);
	put_le32(hdr + 8, m->size);
	if (m->nfds) {
		struct cmsghdr *c;

		memset(u.buf, 0, sizeof(u.buf));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)m->nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)m->nfds);
		memcpy(CMSG_DATA(c), m->fds, sizeof(int) * (size_t)m->nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n != total)
		return -EIO;	/* unix stream sockets do not split small writes */
	return 0;
}

void vu_msg_close_fds(struct vu_msg *m)
{
	for (int i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

int vu_msg_take_fd(struct vu_msg *m, int i)
{
	int fd;

	if (i < 0 || i >= m->nfds)
		return -1;
	fd = m->fds[i];
	m->fds[i] = -1;
	return fd;
}

void vu_msg_init(struct vu_msg *m, uint32_t request)
{
	m->request = request;
	m->flags = VU_VERSION;
	m->size = 0;
	m->nfds = 0;
}

/* Where a field of `len` bytes at `off` is written, the payload grown to
 * hold it; NULL past the largest payload. */
static uint8_t *vu_put_at(struct vu_msg *m, uint32_t off, uint32_t len)
{
	if (off > VU_MAX_PAYLOAD - len)
		return NULL;
	if (m->size < off + len)
		m->size = off + len;
	return m->payload + off;
}

void vu_put_u32(struct vu_msg *m, uint32_t off, uint32_t v)
{
	uint8_t *p = vu_put_at(m, off, 4);

	if (p)
		put_le32(p, v);
}

void vu_put_u64(struct vu_msg *m, uint32_t off, uint64_t v)
{
	uint8_t *p = vu_put_at(m, off, 8);

	if (p)
		put_le64(p, v);
}

/* Whether the payload holds `len` bytes at `off`.  Not off + len <= size:
 * an offset near 2^32 would wrap past it. */
static bool vu_has(const struct vu_msg *m, uint32_t off, uint32_t len)
{
	return off <= m->size && m->size - off >= len;
}

uint32_t vu_get_u32(const struct vu_msg *m, uint32_t off)
{
	return vu_has(m, off, 4) ? le32_at(m->payload + off) : 0;
}

uint64_t vu_get_u64(const struct vu_msg *m, uint32_t off)
{
	return vu_has(m, off, 8) ? le64_at(m->payload + off) : 0;
}

int vu_call(int sock, struct vu_msg *req, struct vu_msg *reply)
{
	int rc = vu_send(sock, req);

	if (rc)
		return rc;
	rc = vu_recv(sock, reply);
	if (rc <= 0)
		return rc ? rc : -EPIPE;
	if (reply->request != req->request || !(reply->flags & VU_FLAG_REPLY)) {
		vu_msg_close_fds(reply);
		return -EPROTO;
	}
	return 0;
}

void vu_msg_state(struct vu_msg *m, uint32_t request, uint32_t idx, uint32_t num)
{
	vu_msg_init(m, request);
	vu_put_u32(m, 0, idx);
	vu_put_u32(m, 4, num);
}

void vu_msg_u64(struct vu_msg *m, uint32_t request, uint64_t v, int fd)
{
	vu_msg_init(m, request);
	vu_put_u64(m, 0, v);
	if (fd >= 0) {
		m->fds[0] = fd;
		m->nfds = 1;
	}
}

int vu_send_u64(int sock, uint32_t request, uint64_t v, int fd)
{
	struct vu_msg m;

	vu_msg_u64(&m, request, v, fd);
	return vu_send(sock, &m);
}

int vu_get_u64_reply(int sock, uint32_t request, uint64_t *v)
{
	struct vu_msg req, rep;
	int rc;

	vu_msg_init(&req, request);
	rc = vu_call(sock, &req, &rep);
	if (rc)
		return rc;
	vu_msg_close_fds(&rep);
	if (rep.size != 8)
		return -EPROTO;
	*v = vu_get_u64(&rep, 0);
	return 0;
}

const char *vu_request_name(uint32_t r)
{
	/* A name a request: rows alike in shape, each its own. */
	static const char *const names[] = {
		[VU_GET_FEATURES] = "GET_FEATURES", [VU_SET_FEATURES] = "SET_FEATURES",
		[VU_SET_OWNER] = "SET_OWNER", [VU_RESET_OWNER] = "RESET_OWNER",
		[VU_SET_MEM_TABLE] = "SET_MEM_TABLE", [VU_SET_LOG_BASE] = "SET_LOG_BASE",
		[VU_SET_LOG_FD] = "SET_LOG_FD", [VU_SET_VRING_NUM] = "SET_VRING_NUM",
		[VU_SET_VRING_ADDR] = "SET_VRING_ADDR", [VU_SET_VRING_BASE] = "SET_VRING_BASE",
		[VU_GET_VRING_BASE] = "GET_VRING_BASE", [VU_SET_VRING_KICK] = "SET_VRING_KICK",
		[VU_SET_VRING_CALL] = "SET_VRING_CALL", [VU_SET_VRING_ERR] = "SET_VRING_ERR",
		[VU_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
		[VU_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
		[VU_GET_QUEUE_NUM] = "GET_QUEUE_NUM", [VU_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
		[VU_SEND_RARP] = "SEND_RARP", [VU_NET_SET_MTU] = "NET_SET_MTU",
		[VU_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD", [VU_IOTLB_MSG] = "IOTLB_MSG",
		[VU_SET_VRING_ENDIAN] = "SET_VRING_ENDIAN", [VU_GET_CONFIG] = "GET_CONFIG",
		[VU_SET_CONFIG] = "SET_CONFIG", [VU_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
		[VU_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD", [VU_RESET_DEVICE] = "RESET_DEVICE",
		[VU_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS", [VU_ADD_MEM_REG] = "ADD_MEM_REG",
		[VU_REM_MEM_REG] = "REM_MEM_REG", [VU_SET_STATUS] = "SET_STATUS",
		[VU_GET_STATUS] = "GET_STATUS",
	};

	if (r < sizeof(names) / sizeof(names[0]) && names[r])
		return names[r];
	return "UNKNOWN";
}
