// SPDX-License-Identifier: GPL-2.0
/* The vhost-user front-end of the test drivers: see vu_client.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vu_client.h"

int vuc_sock = -1;
void (*vuc_on_error)(const char *what, int err);
static const char *vuc_who = "vu_client";

void vuc_init(const char *who)
{
	vuc_who = who;
}

int64_t vuc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vuc_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

void vuc_die(const char *what, int err)
{
	if (vuc_on_error)
		vuc_on_error(what, err);
	fprintf(stderr, "%s: %s failed: %s\n", vuc_who, what,
		err == -EPROTO ? "unexpected reply from the back-end" :
		err == -EBADMSG ? "malformed message from the back-end" :
		err == -EPIPE ? "the back-end closed the connection" :
		err == -EAGAIN ? "the back-end did not answer within 5 s" : strerror(-err));
	exit(VUC_EXIT_PROTO);
}

int vuc_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int64_t deadline = vuc_now_ms() + 5000;
	int fd, err;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "%s: socket path too long: %s\n", vuc_who, path);
		exit(VUC_EXIT_PROTO);
	}
	strcpy(sa.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			fprintf(stderr, "%s: socket: %s\n", vuc_who, strerror(errno));
			exit(VUC_EXIT_PROTO);
		}
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		err = errno;
		close(fd);
		if ((err != ENOENT && err != ECONNREFUSED && err != EAGAIN) ||
		    vuc_now_ms() > deadline) {
			fprintf(stderr, "%s: connect to %s failed: %s\n", vuc_who, path,
				strerror(err));
			exit(VUC_EXIT_PROTO);
		}
		vuc_sleep_ms(50);
	}
	/* A back-end that never answers must not hang the driver. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	vuc_sock = fd;
	return fd;
}

void vuc_send(struct vu_msg *m)
{
	int rc = vu_send(vuc_sock, m);

	if (rc)
		vuc_die(vu_request_name(m->request), rc);
}

void vuc_send_u64(uint32_t req, uint64_t v, int fd)
{
	int rc = vu_send_u64(vuc_sock, req, v, fd);

	if (rc)
		vuc_die(vu_request_name(req), rc);
}

uint64_t vuc_get_u64(uint32_t req)
{
	uint64_t v = 0;
	int rc = vu_get_u64_reply(vuc_sock, req, &v);

	if (rc)
		vuc_die(vu_request_name(req), rc);
	return v;
}

void vuc_send_state(uint32_t req, uint32_t idx, uint32_t num)
{
	struct vu_msg m;

	vu_msg_init(&m, req);
	vu_put_u32(&m, 0, idx);
	vu_put_u32(&m, 4, num);
	vuc_send(&m);
}

void vuc_set_mem_table(uint64_t gpa, uint64_t size, const void *uaddr, int fd)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_SET_MEM_TABLE);
	vu_put_u32(&m, 0, 1);
	vu_put_u32(&m, 4, 0);
	vu_put_u64(&m, VU_MEM_HDR_SIZE + 0, gpa);
	vu_put_u64(&m, VU_MEM_HDR_SIZE + 8, size);
	vu_put_u64(&m, VU_MEM_HDR_SIZE + 16, (uint64_t)(uintptr_t)uaddr);
	vu_put_u64(&m, VU_MEM_HDR_SIZE + 24, 0);
	m.fds[0] = fd;
	m.nfds = 1;
	vuc_send(&m);
}

void vuc_set_vring_addr(uint32_t idx, const void *desc, const void *used, const void *avail)
{
	struct vu_msg m;

	vu_msg_init(&m, VU_SET_VRING_ADDR);
	vu_put_u32(&m, 0, idx);
	vu_put_u32(&m, 4, 0);
	vu_put_u64(&m, VU_ADDR_DESC_OFF, (uint64_t)(uintptr_t)desc);
	vu_put_u64(&m, VU_ADDR_USED_OFF, (uint64_t)(uintptr_t)used);
	vu_put_u64(&m, VU_ADDR_AVAIL_OFF, (uint64_t)(uintptr_t)avail);
	vu_put_u64(&m, 32, 0);
	vuc_send(&m);
}
