// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: vringmedd's VMM face, the vhost-user request table and
 * handlers of user/proxy_vmm.c, as a VMM drives it.  The proxy runs as in the daemon: its
 * listening socket, its epoll entries dispatched the daemon's way, its
 * back-end connection to a real socket, served by a small modern back-end in
 * a thread of this process (it answers GET_FEATURES, GET_PROTOCOL_FEATURES,
 * GET_QUEUE_NUM (two queue pairs: rings 0-3) and GET_VRING_BASE, takes
 * everything else and closes the fds it is given).
 * The fuzz input is what the VMM writes, with real fds alongside: eventfds
 * and memfds of guest memory.  Checked: ASan and UBSan; the proxy keeps
 * running and takes a well-formed session after any input; no fd is left
 * open once the proxy is freed.
 *
 * The BPF maps are plain memory here and the map updates the proxy makes
 * (kick fds, VMM tgids, counters) go to small tables in this file: this
 * target is about the handler; tests/test_proxy drives the same handler
 * with the real maps and real peers.
 *
 * Input: records of [ctl][len, 2 bytes LE][len bytes], each written with
 * one sendmsg.  ctl bits 0-1: fds to pass (0-3); bit 2: memfds (else
 * eventfds); bit 3: the VMM disconnects after the record and connects
 * again; bit 4: BPF deferred a kick on both rings (the proxy's thread must
 * finish it over whatever the rings hold, and wake the back-end).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <vringmed/abi.h>
#include <vringmed/vhost_user.h>

#include "loader.h"
#include "log.h"
#include "proxy.h"
#include "vu_wire.h"

#define FUZZ_NAME "fuzz_proxy"
#include "fuzz.h"

#define GUEST_MEM	(1u << 20)

/* ---- the maps, as plain memory ---- */

static struct vrm_bpf maps;
static int shadow_fd = -1;
static uint32_t kick_ids[64];
static int nkick;

int vrm_bpf_add_kickfd(struct vrm_bpf *b, __u32 eventfd_id, __u32 queue)
{
	(void)b;
	CHECK(queue < VRM_MAX_QUEUES, "kick fd for queue %u", queue);
	if (nkick == 64)
		return -ENOSPC;
	kick_ids[nkick++] = eventfd_id;
	return 0;
}

int vrm_bpf_del_kickfd(struct vrm_bpf *b, __u32 eventfd_id)
{
	(void)b;
	for (int i = 0; i < nkick; i++)
		if (kick_ids[i] == eventfd_id) {
			kick_ids[i] = kick_ids[--nkick];
			return 0;
		}
	return -ENOENT;
}

int vrm_bpf_del_kickfds_of(struct vrm_bpf *b, __u32 first_queue, __u32 nqueues)
{
	int n = nkick;

	(void)b;
	CHECK(first_queue + nqueues <= VRM_MAX_QUEUES, "queues %u+%u", first_queue, nqueues);
	nkick = 0;
	return n;
}

int vrm_bpf_add_vmm(struct vrm_bpf *b, __u32 tgid)
{
	(void)b;
	CHECK(tgid == (__u32)getpid(), "VMM tgid %u is not the connecting process", tgid);
	return 0;
}

int vrm_bpf_del_vmm(struct vrm_bpf *b, __u32 tgid)
{
	(void)b;
	(void)tgid;
	return 0;
}

int vrm_bpf_shadow_fd(const struct vrm_bpf *b, __u32 slot)
{
	(void)b;
	CHECK(slot < VRM_MAX_DEVICES, "shadow map of device slot %u", slot);
	return shadow_fd;
}

int vrm_bpf_clear_stats(struct vrm_bpf *b, __u32 queue)
{
	CHECK(queue < VRM_MAX_QUEUES, "stats of queue %u", queue);
	memset(&b->ustats[queue], 0, sizeof(b->ustats[queue]));
	return 0;
}

/* ---- the back-end ---- */

static char dir[64], be_path[108], vmm_path[108];

static void *backend(void *arg)
{
	int lsn = (int)(intptr_t)arg;

	for (;;) {
		int fd = accept(lsn, NULL, NULL);
		struct vu_msg m, r;

		if (fd < 0)
			continue;
		while (vu_recv(fd, &m) > 0) {
			vu_msg_close_fds(&m);
			vu_msg_init(&r, m.request);
			r.flags = VU_VERSION | VU_FLAG_REPLY;
			if (m.request == VU_GET_FEATURES)
				vu_put_u64(&r, 0, (1ull << VU_F_VERSION_1) |
					   (1ull << VU_F_PROTOCOL_FEATURES) |
					   (1ull << VU_NET_F_MRG_RXBUF) | (1ull << VU_NET_F_MQ));
			else if (m.request == VU_GET_PROTOCOL_FEATURES)
				vu_put_u64(&r, 0, 1ull << VU_PF_MQ);
			else if (m.request == VU_GET_QUEUE_NUM)
				vu_put_u64(&r, 0, 2);	/* two pairs: rings 0-3 */
			else if (m.request == VU_GET_VRING_BASE) {
				vu_put_u32(&r, 0, vu_get_u32(&m, 0));
				vu_put_u32(&r, 4, 0);
				r.size = VU_STATE_SIZE;
			} else
				continue;
			if (vu_send(fd, &r))
				break;
		}
		close(fd);
	}
	return NULL;
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 8))
		abort();
	return fd;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
		abort();
	return fd;
}

/* libFuzzer ends with exit(): the sockets and their folder go with it. */
static void remove_dir(void)
{
	unlink(be_path);
	unlink(vmm_path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static pthread_t t;

	(void)argc;
	(void)argv;
	vrm_log_set_level(getenv("FUZZ_PROXY_LOG") ? VRM_LOG_DEBUG : VRM_LOG_QUIET);
	maps.devices = calloc(VRM_MAX_DEVICES, sizeof(*maps.devices));
	maps.queues = calloc(VRM_MAX_QUEUES, sizeof(*maps.queues));
	maps.ustats = calloc(VRM_MAX_QUEUES, sizeof(*maps.ustats));
	shadow_fd = memfd_create("fuzz-shadow", MFD_CLOEXEC);
	if (!maps.devices || !maps.queues || !maps.ustats || shadow_fd < 0 ||
	    ftruncate(shadow_fd, (off_t)VRM_MAX_QUEUES * sizeof(*maps.shadow)))
		abort();
	maps.shadow = mmap(NULL, (size_t)VRM_MAX_QUEUES * sizeof(*maps.shadow),
			   PROT_READ | PROT_WRITE, MAP_SHARED, shadow_fd, 0);
	if (maps.shadow == MAP_FAILED)
		abort();
	snprintf(dir, sizeof(dir), "/tmp/fuzz-proxy-%d", (int)getpid());
	if (mkdir(dir, 0700) && errno != EEXIST)
		abort();
	snprintf(be_path, sizeof(be_path), "%s/be.sock", dir);
	snprintf(vmm_path, sizeof(vmm_path), "%s/vmm.sock", dir);
	unlink(be_path);
	atexit(remove_dir);
	if (pthread_create(&t, NULL, backend, (void *)(intptr_t)listen_at(be_path)))
		abort();
	return 0;
}

/* The daemon's loop, until nothing more happens; replies to the VMM are
 * read and dropped. */
static void pump(int epfd, struct vrm_proxy *p, int vmm)
{
	for (int rounds = 0; rounds < 64; rounds++) {
		struct epoll_event evs[16];
		int n = epoll_wait(epfd, evs, 16, 0);
		char buf[4096];

		for (int i = 0; i < n; i++) {
			struct vrm_ev *ev = evs[i].data.ptr;

			ev->fn(ev, evs[i].events);
		}
		vrm_proxy_tick(p);
		while (vmm >= 0 && recv(vmm, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
		if (n <= 0 && rounds)
			break;
	}
}

static void send_record(int s, const uint8_t *p, size_t len, unsigned nfds, bool memfd)
{
	int fds[3];

	for (unsigned i = 0; i < nfds; i++) {
		fds[i] = memfd ? memfd_create("fuzz-guest", MFD_CLOEXEC) : eventfd(0, EFD_CLOEXEC);
		if (fds[i] < 0 || (memfd && ftruncate(fds[i], GUEST_MEM)))
			abort();
	}
	if (len || nfds)
		(void)fuzz_send(s, p, len, fds, (int)nfds, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

/* A well-formed session start: the proxy must still take one. */
static bool proxy_answers(int epfd, struct vrm_proxy *p)
{
	int s = connect_to(vmm_path);
	struct vu_msg m;
	uint64_t v = 0;
	int rc;

	pump(epfd, p, -1);
	vu_msg_init(&m, VU_GET_FEATURES);
	rc = vu_send(s, &m);
	pump(epfd, p, -1);
	if (!rc) {
		struct timeval tv = { .tv_sec = 1 };

		setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		rc = vu_recv(s, &m) > 0 && m.request == VU_GET_FEATURES && m.size == 8 ? 0 : -1;
		if (!rc)
			v = vu_get_u64(&m, 0);
		vu_msg_close_fds(&m);
	}
	close(s);
	pump(epfd, p, -1);
	return !rc && (v & (1ull << VU_F_VERSION_1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vrm_proxy_cfg cfg = { .name = "fuzz0" };
	int before = fuzz_open_fds(), epfd, vmm;
	struct vrm_proxy *p;
	size_t at = 0;

	snprintf(cfg.vmm_path, sizeof(cfg.vmm_path), "%s", vmm_path);
	snprintf(cfg.backend_path, sizeof(cfg.backend_path), "%s", be_path);
	memset(maps.devices, 0, VRM_MAX_DEVICES * sizeof(*maps.devices));
	memset(maps.queues, 0, VRM_MAX_QUEUES * sizeof(*maps.queues));
	nkick = 0;
	epfd = epoll_create1(EPOLL_CLOEXEC);
	p = vrm_proxy_new(&maps, epfd, 0, &cfg);
	CHECK(p, "vrm_proxy_new failed");
	vmm = connect_to(vmm_path);

	while (at + 3 <= size) {
		uint8_t ctl = data[at];
		size_t len = (size_t)data[at + 1] | (size_t)data[at + 2] << 8;

		at += 3;
		if (len > size - at)
			len = size - at;
		send_record(vmm, data + at, len, ctl & 3, ctl & 4);
		at += len;
		if (ctl & 16)
			for (uint32_t q = 0; q < 2; q++)
				maps.queues[VRM_QSLOT(0, q)].deferred = 1;
		pump(epfd, p, vmm);
		if (ctl & 8) {
			close(vmm);
			pump(epfd, p, -1);
			vmm = connect_to(vmm_path);
		}
	}
	close(vmm);
	pump(epfd, p, -1);
	CHECK(proxy_answers(epfd, p), "the proxy no longer takes a VMM after this input");
	vrm_proxy_free(p);
	close(epfd);
	/* The back-end thread closes its end when it sees ours close. */
	for (int i = 0; i < 200 && fuzz_open_fds() != before; i++)
		usleep(1000);
	CHECK(fuzz_open_fds() == before, "%d fds open after the input, %d before", fuzz_open_fds(), before);
	return 0;
}
