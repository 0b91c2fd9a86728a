// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's vhost-user faces against a real dpdk-testpmd, driven by a
 * small VMM written here with the wire helpers: what the VMM is offered,
 * what the back-end is given (VERSION_1, the shadow region), the byte order
 * latch, a TX chain that goes round the whole loop (BPF at the kick, testpmd,
 * the used path back in guest order), and hostile VMM messages: each ends
 * that session with a log line and a counter, never the daemon, never the
 * neighbouring device, and leaks no fd.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>
#include <vringmed/vhost_user.h>
#include <vringmed/vring.h>

#include <stddef.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <liburing.h>

#include "peers.h"
#include "test.h"
#include "vu_wire.h"

const char *vrm_test_suite = "test_proxy";

#define BIT(n)		(1ull << (n))
#define MEM_SIZE	(1u << 20)
#define QSIZE		64
#define RING_GPA(q)	(0x1000u + (q) * 0x4000u)
#define BUF_GPA		0x20000u

static char dir[64], root[96], ctl[128], vmm_a[128], vmm_b[128], be_a[128], be_b[128];
static struct peer tp_a, tp_b, dmn;

/* Sizes of the BPF maps process `pid` has mapped (/proc/PID/maps lines of
 * anon_inode:bpf-map), at most `max`; returns how many, or -1. */
static int bpf_map_mappings(pid_t pid, unsigned long long *sizes, int max)
{
	char path[64], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi;

		if (!strstr(line, "bpf-map") || sscanf(line, "%llx-%llx", &lo, &hi) != 2)
			continue;
		if (n < max)
			sizes[n] = hi - lo;
		n++;
	}
	fclose(f);
	return n;
}
static bool up;

static int ctl_query(const char *cmd, char *out, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 2 };	/* a daemon that hangs fails, not hangs */
	ssize_t n, got = 0;

	strcpy(sa.sun_path, ctl);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	while ((size_t)got < len - 1 && (n = read(fd, out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = 0;
	close(fd);
	return 0;
}

/* The JSON object of device `name` in "device list" holds `needle`. */
static bool device_has(const char *name, const char *needle)
{
	char buf[8192], key[64], *obj, *end;

	for (int t = 0; t < 40; t++) {
		if (!ctl_query("device list", buf, sizeof(buf))) {
			snprintf(key, sizeof(key), "\"name\":\"%s\"", name);
			obj = strstr(buf, key);
			end = obj ? strchr(obj, '}') : NULL;
			if (end) {
				*end = 0;
				if (strstr(obj, needle))
					return true;
			}
		}
		usleep(50000);
	}
	return false;
}

static int vmm_connect(const char *path)
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
static bool closed_by_peer(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, 2000) == 1 && recv(fd, &c, 1, 0) <= 0;
}

struct vmm {
	int sock;
	uint8_t *mem;
	int memfd;
	int kick[2], call[2];
	uint64_t offered, pf, feat;
	enum vrm_order order;
};

static int send_state(struct vmm *v, uint32_t req, uint32_t idx, uint32_t num, bool ack)
{
	struct vu_msg m, r;

	vu_msg_init(&m, req);
	vu_put_u32(&m, 0, idx);
	vu_put_u32(&m, 4, num);
	if (!ack)
		return vu_send(v->sock, &m);
	m.flags |= VU_FLAG_NEED_REPLY;
	if (vu_call(v->sock, &m, &r))
		return -EIO;
	return (int)vu_get_u64(&r, 0);	/* 0 acked, else refused */
}

/* The memory table and each ring from `base`, as QEMU's vhost_dev_start
 * sends them (the kick and call eventfds made once, the same every time). */
static int vmm_rings_start(struct vmm *v, const uint16_t *base)
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
static int vmm_pause(struct vmm *v, uint16_t *base)
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
static int vmm_resume(struct vmm *v, const uint16_t *base)
{
	vu_send_u64(v->sock, VU_SET_FEATURES, v->feat, -1);
	return vmm_rings_start(v, base);
}

/* Everything QEMU says to start a legacy virtio-net device in `order`, its
 * guest memory in `memfd` (MEM_SIZE bytes, taken over). */
static int vmm_start_fd(struct vmm *v, const char *path, enum vrm_order order, int memfd)
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
	vu_send_u64(v->sock, VU_SET_PROTOCOL_FEATURES,
		    v->pf & (BIT(VU_PF_CROSS_ENDIAN) | BIT(VU_PF_REPLY_ACK)), -1);
	vu_msg_init(&m, VU_SET_OWNER);
	vu_send(v->sock, &m);
	feat = v->offered & (BIT(VU_NET_F_MRG_RXBUF) | BIT(VU_F_PROTOCOL_FEATURES));
	vu_send_u64(v->sock, VU_SET_FEATURES, feat, -1);
	v->feat = feat;
	return vmm_rings_start(v, zero);
}

static int vmm_start(struct vmm *v, const char *path, enum vrm_order order)
{
	int fd = memfd_create("vmm-guest", MFD_CLOEXEC);

	if (fd >= 0 && ftruncate(fd, MEM_SIZE)) {
		close(fd);
		fd = -1;
	}
	return vmm_start_fd(v, path, order, fd);
}

static void vmm_stop(struct vmm *v)
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
static void g16(struct vmm *v, uint64_t gpa, uint16_t x)
{
	x = vrm_swab16_if(v->order, x);
	memcpy(v->mem + gpa, &x, 2);
}

static void g32(struct vmm *v, uint64_t gpa, uint32_t x)
{
	x = vrm_swab32_if(v->order, x);
	memcpy(v->mem + gpa, &x, 4);
}

static void g64(struct vmm *v, uint64_t gpa, uint64_t x)
{
	x = vrm_swab64_if(v->order, x);
	memcpy(v->mem + gpa, &x, 8);
}

static uint16_t gl16(struct vmm *v, uint64_t gpa)
{
	uint16_t x;

	memcpy(&x, v->mem + gpa, 2);
	return vrm_swab16_if(v->order, x);
}

/* One TX frame (header descriptor + frame descriptor) and a kick.  With
 * `evict`, the ring's page leaves the VMM's page tables before the kick (as
 * reclaim or migration would make it): BPF's read of it faults, the kick is
 * deferred, and the daemon must finish it.  With `kick` false the frame is
 * posted and the caller kicks. */
static void vmm_tx_post(struct vmm *v, uint16_t n, bool evict, bool kick)
{
	uint64_t ring = RING_GPA(1), d = ring + 32ull * n;
	uint64_t hdr = BUF_GPA + 256ull * n, frame = hdr + 16;

	memset(v->mem + hdr, 0, 12);
	memset(v->mem + frame, 0xff, 6);
	memset(v->mem + frame + 6, 0x52, 6);
	g16(v, frame + 12, 0xb588);	/* ethertype 0x88b5, network order */
	g64(v, d, hdr);
	g32(v, d + 8, 12);
	g16(v, d + 12, VRM_VRING_DESC_F_NEXT);
	g16(v, d + 14, (uint16_t)(2 * n + 1));
	g64(v, d + 16, frame);
	g32(v, d + 24, 60);
	g16(v, d + 28, 0);
	g16(v, d + 30, 0);
	g16(v, ring + vrm_legacy_avail_off(QSIZE) + 4 + 2ull * n, (uint16_t)(2 * n));
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g16(v, ring + vrm_legacy_avail_off(QSIZE) + 2, (uint16_t)(n + 1));
	/* The page holds the descriptors and the avail ring (64 entries). */
	if (evict && madvise(v->mem + ring, 4096, MADV_DONTNEED))
		VRM_TRUE(!"madvise(MADV_DONTNEED)");
	if (kick && write(v->kick[1], &(uint64_t){ 1 }, 8) != 8)
		VRM_TRUE(!"kick write");
}

static void vmm_tx_ex(struct vmm *v, uint16_t n, bool evict)
{
	vmm_tx_post(v, n, evict, true);
}

static void vmm_tx(struct vmm *v, uint16_t n)
{
	vmm_tx_ex(v, n, false);
}

/* The guest's TX used idx (in its byte order) once it reaches `want`, or
 * as it is after `ms`. */
static uint16_t vmm_tx_used(struct vmm *v, uint16_t want, int ms)
{
	uint64_t used_idx = RING_GPA(1) + vrm_legacy_used_off(QSIZE) + 2;
	uint16_t got = gl16(v, used_idx);

	for (int t = 0; t < ms / 10 && got != want; t++) {
		usleep(10000);
		got = gl16(v, used_idx);
	}
	return got;
}

/* Whatever happens to the tests (a filter, a failure), nothing stays. */
static bool started;	/* something of bring_up's may be running */

static void cleanup(void)
{
	if (!started)
		return;
	started = false;
	peer_stop(&dmn, SIGTERM);
	peer_stop(&tp_a, SIGTERM);
	peer_stop(&tp_b, SIGTERM);
	if (getenv("VRM_KEEP_LOGS"))
		printf("logs kept in %s\n", dir);
	else
		peers_rmdir(dir);
	rmdir(root);	/* a daemon that failed to load may leave it empty */
	up = false;
}

/* A TCP port of loopback nobody listens on now (for the metrics). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int metrics_port;

static bool bring_up(void)
{
	char da[300], db[300], maddr[32];
	const char *args[] = { "-c", ctl, "-d", da, "-d", db, "-v", "-m", maddr, NULL };

	if (up)
		return true;
	if (started)
		return false;	/* a failed bring-up is not retried */
	if (!have_testpmd()) {
		VRM_TRUE(!"dpdk-testpmd is installed (make setup)");
		return false;
	}
	if (peers_tmpdir(dir, sizeof(dir), "proxy"))
		return false;
	started = true;	/* from here on, cleanup() stops whatever started */
	atexit(cleanup);
	snprintf(root, sizeof(root), "/sys/fs/bpf/vringmed-proxy-%d", (int)getpid());
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", dir);
	snprintf(vmm_a, sizeof(vmm_a), "%s/vmm-a.sock", dir);
	snprintf(vmm_b, sizeof(vmm_b), "%s/vmm-b.sock", dir);
	snprintf(be_a, sizeof(be_a), "%s/be-a.sock", dir);
	snprintf(be_b, sizeof(be_b), "%s/be-b.sock", dir);
	snprintf(da, sizeof(da), "neta,vmm=%s,backend=%s", vmm_a, be_a);
	snprintf(db, sizeof(db), "netb,vmm=%s,backend=%s", vmm_b, be_b);
	metrics_port = free_port();
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", metrics_port);
	if (!VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa"), 0) ||
	    !VRM_EQ(testpmd_start(&tp_b, dir, be_b, "pb"), 0) ||
	    !VRM_EQ(vringmedd_start(&dmn, dir, root, args), 0))
		return false;
	up = true;
	signal(SIGPIPE, SIG_IGN);	/* a peer that died is a result, not our end */
	return true;
}

VRM_TEST(vmm_face)
{
	struct vmm v;

	if (!bring_up())
		return;
	if (vrm_subtest("offers")) {
		int s = vmm_connect(vmm_a);
		uint64_t f = 0, pf = 0;

		VRM_TRUE(s >= 0);
		VRM_EQ(vu_get_u64_reply(s, VU_GET_FEATURES, &f), 0);
		VRM_EQ(vu_get_u64_reply(s, VU_GET_PROTOCOL_FEATURES, &pf), 0);
		VRM_TRUE(f & BIT(VU_F_VERSION_1));	/* a modern guest may have it */
		VRM_TRUE(f & BIT(VU_F_PROTOCOL_FEATURES));
		VRM_TRUE(!(f & BIT(VU_F_INDIRECT_DESC)));
		VRM_TRUE(!(f & BIT(VU_F_EVENT_IDX)));
		VRM_TRUE(!(f & BIT(VU_F_ANY_LAYOUT)));
		VRM_TRUE(pf & BIT(VU_PF_CROSS_ENDIAN));
		close(s);
	}
	if (vrm_subtest("legacy_big_endian_session")) {
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0);
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_TRUE(device_has("neta", "\"byte_order\":\"big\""));
		VRM_TRUE(device_has("neta", "\"virtio\":\"legacy\""));
		/* The back-end got a modern device, the shadow region mapped. */
		VRM_TRUE(peer_log_has(&tp_a, "negotiated Virtio features", 2000));
		VRM_TRUE(testpmd_negotiated(&tp_a) & BIT(VU_F_VERSION_1));
		VRM_TRUE(!peer_log_has(&tp_a, "mmap", 0) ||
			!peer_log_has(&tp_a, "failed", 0));
		/* It maps one BPF map, this device's shadow rings: no other
		 * device's ring is within its reach. */
		if (vrm_subtest("backend_maps_only_its_shadow_map")) {
			unsigned long long sizes[8];
			int n = bpf_map_mappings(tp_a.pid, sizes, 8);

			VRM_EQ(n, 1);
			if (n >= 1)
				VRM_EQ(sizes[0], (unsigned long long)VRM_SHADOW_DEV_BYTES);
		}
		if (vrm_subtest("byte_order_latched_while_running"))
			VRM_TRUE(send_state(&v, VU_SET_VRING_ENDIAN, 0, VU_VRING_LITTLE_ENDIAN,
					   true) != 0);
		if (vrm_subtest("tx_round_trip")) {
			uint64_t used_idx = RING_GPA(1) + vrm_legacy_used_off(QSIZE) + 2;

			for (uint16_t n = 0; n < 8; n++)
				vmm_tx(&v, n);
			/* testpmd consumed the shadow chains and returned them;
			 * the used path wrote the guest's used ring in BE. */
			VRM_EQ(vmm_tx_used(&v, 8, 2000), 8);
			VRM_EQ(gl16(&v, used_idx + 2), 0);	/* first id: head 0 */
		}
		vmm_stop(&v);
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
	}
	if (vrm_subtest("second_session_same_device")) {
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_LE), 0);
		VRM_TRUE(device_has("neta", "\"byte_order\":\"little\""));
		vmm_stop(&v);
	}
}

/* A SET_MEM_TABLE of n regions {gpa, size, file size} over fresh memfds. */
static int send_mem_table(int s, unsigned n, const uint64_t (*reg)[3])
{
	struct vu_msg m;
	int rc;

	vu_msg_init(&m, VU_SET_MEM_TABLE);
	vu_put_u32(&m, 0, n);
	vu_put_u32(&m, 4, 0);
	for (unsigned i = 0; i < n; i++) {
		uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;

		m.fds[i] = memfd_create("vm-hostile", MFD_CLOEXEC);
		if (m.fds[i] < 0 || ftruncate(m.fds[i], (off_t)reg[i][2]))
			return -1;
		vu_put_u64(&m, off, reg[i][0]);
		vu_put_u64(&m, off + 8, reg[i][1]);
		vu_put_u64(&m, off + 16, 0x7f0000000000ull + (i << 30));
		vu_put_u64(&m, off + 24, 0);
	}
	m.nfds = (int)n;
	rc = vu_send(s, &m);
	for (unsigned i = 0; i < n; i++)
		close(m.fds[i]);
	return rc;
}

/* Malformed messages: each gets a log line naming it and ends
 * only that VMM's connection. */
static void bad_messages(void)
{
	static const uint64_t overlap[2][3] = { { 0, 1 << 20, 1 << 20 },
						{ 1 << 19, 1 << 20, 1 << 20 } };
	static const uint64_t wraps[1][3] = { { ~0ull - 4095, 1 << 20, 1 << 20 } };
	static const uint64_t short_fd[1][3] = { { 0, 1 << 22, 4096 } };
	static const uint64_t zero_size[1][3] = { { 0, 0, 4096 } };
	static const uint64_t many[8][3] = { { 0 } };
	static const struct {
		const char *name, *log;
		int kind;		/* 0: mem table, 1: raw message */
		unsigned n;
		const uint64_t (*reg)[3];
		uint32_t req, size;
	} cases[] = {
		{ "mem_regions_overlap", "regions 0 and 1 overlap", 0, 2, overlap },
		{ "mem_region_wraps", "region 0 is invalid", 0, 1, wraps },
		{ "mem_region_beyond_its_fd", "not a memory file of at least 4194304 bytes", 0, 1,
		  short_fd },
		{ "mem_region_zero_size", "region 0 is invalid", 0, 1, zero_size },
		{ "mem_too_many_regions", "malformed SET_MEM_TABLE: 8 regions", 0, 8, many },
		{ "set_features_short", "malformed message from the VMM", 1, 0, NULL,
		  VU_SET_FEATURES, 4 },
		{ "set_vring_addr_short", "malformed message from the VMM", 1, 0, NULL,
		  VU_SET_VRING_ADDR, 8 },
		{ "set_vring_num_long", "malformed message from the VMM", 1, 0, NULL,
		  VU_SET_VRING_NUM, 16 },
		{ "vring_index_out_of_range", "malformed message from the VMM", 1, 0, NULL,
		  VU_SET_VRING_NUM, 8 },
		{ "unknown_request", "(999) is not supported", 1, 0, NULL, 999, 0 },
		{ "kick_without_fd", "malformed message from the VMM", 1, 0, NULL,
		  VU_SET_VRING_KICK, 8 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int s;

		if (!vrm_subtest("%s", cases[i].name))
			continue;
		s = vmm_connect(vmm_a);
		if (!VRM_TRUE(s >= 0))
			continue;
		if (cases[i].kind == 0) {
			VRM_EQ(send_mem_table(s, cases[i].n, cases[i].reg), 0);
		} else {
			struct vu_msg m;

			vu_msg_init(&m, cases[i].req);
			memset(m.payload, 0, cases[i].size);
			m.size = cases[i].size;
			if (!strcmp(cases[i].name, "vring_index_out_of_range"))
				vu_put_u32(&m, 0, 7);
			VRM_EQ(vu_send(s, &m), 0);
		}
		VRM_TRUE(closed_by_peer(s));
		close(s);
		VRM_CHECK(peer_log_has(&dmn, cases[i].log, 2000), "vringmedd did not log \"%s\"",
			 cases[i].log);
	}
}

/* A hostile VMM ends its own session, never the daemon or device b. */
VRM_TEST(hostile_vmm)
{
	struct vmm b;
	int s, fds0, fds1;

	if (!bring_up())
		return;
	VRM_EQ(vmm_start(&b, vmm_b, VRM_ORDER_BE), 0);
	/* Counted once neta's last session is wholly gone: each device ends
	 * its sessions in its own thread, at its own pace. */
	VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
	fds0 = peer_nfds(&dmn);

	if (vrm_subtest("bad_version")) {
		uint8_t junk[12] = { 1, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0 };

		s = vmm_connect(vmm_a);
		VRM_TRUE(write(s, junk, sizeof(junk)) == sizeof(junk));
		VRM_TRUE(closed_by_peer(s));
		close(s);
		VRM_TRUE(peer_log_has(&dmn, "malformed message from the VMM", 2000));
	}
	if (vrm_subtest("oversized_payload")) {
		uint8_t hdr[12] = { 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0x10, 0 };	/* 1 MiB */

		s = vmm_connect(vmm_a);
		VRM_TRUE(write(s, hdr, sizeof(hdr)) == sizeof(hdr));
		VRM_TRUE(closed_by_peer(s));
		close(s);
	}
	if (vrm_subtest("unsupported_request")) {
		struct vu_msg m;

		s = vmm_connect(vmm_a);
		vu_msg_init(&m, VU_GET_CONFIG);
		vu_put_u32(&m, 0, 0);
		VRM_EQ(vu_send(s, &m), 0);
		VRM_TRUE(closed_by_peer(s));
		close(s);
		VRM_TRUE(peer_log_has(&dmn, "GET_CONFIG (24) is not supported", 2000));
	}
	if (vrm_subtest("mem_table_without_fds")) {
		struct vu_msg m;

		s = vmm_connect(vmm_a);
		vu_msg_init(&m, VU_SET_MEM_TABLE);
		vu_put_u32(&m, 0, 1);
		vu_put_u64(&m, 8 + 24, 0);
		VRM_EQ(vu_send(s, &m), 0);
		VRM_TRUE(closed_by_peer(s));
		close(s);
		VRM_TRUE(peer_log_has(&dmn, "malformed SET_MEM_TABLE", 2000));
	}
	if (vrm_subtest("ring_too_big")) {
		s = vmm_connect(vmm_a);
		struct vmm t = { .sock = s };

		send_state(&t, VU_SET_VRING_NUM, 0, 4096, false);
		VRM_TRUE(closed_by_peer(s));
		close(s);
	}
	if (vrm_subtest("half_sent_message_holds_nothing")) {
		/* SET_FEATURES, 8 payload bytes announced, 4 sent: the daemon
		 * must not sit in a read waiting for the rest (fuzz_proxy found
		 * that it did, and every device stopped with it). */
		uint8_t part[16] = { VU_SET_FEATURES, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0 };
		uint8_t rest[4] = { 0 };
		struct vu_msg m;
		uint64_t v = 0;

		s = vmm_connect(vmm_a);
		VRM_TRUE(write(s, part, sizeof(part)) == sizeof(part));
		usleep(200000);
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
		/* The rest comes: the message is taken as if whole at once. */
		VRM_TRUE(write(s, rest, sizeof(rest)) == sizeof(rest));
		vu_msg_init(&m, VU_GET_FEATURES);
		VRM_EQ(vu_send(s, &m), 0);
		VRM_EQ(vu_recv(s, &m), 1);
		v = vu_get_u64(&m, 0);
		VRM_TRUE(v & (1ull << VU_F_VERSION_1));
		/* Half a message, then gone: that session ends, nothing else. */
		VRM_TRUE(write(s, part, 6) == 6);
		close(s);
		VRM_TRUE(peer_log_has(&dmn, "malformed message from the VMM: Broken pipe", 2000));
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
	}
	bad_messages();
	if (vrm_subtest("neighbour_unharmed_no_fd_leak")) {
		VRM_TRUE(peer_alive(&dmn));
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		VRM_TRUE(device_has("neta", "\"teardowns\":"));
		fds1 = peer_nfds(&dmn);
		VRM_EQ(fds1, fds0);
	}
	vmm_stop(&b);
}

/* SET_VRING_ADDR with REPLY_ACK, addresses desc/avail/used: the ack (0
 * taken, else refused), or -1 when the daemon did not answer. */
static int set_vring_addr(int s, uint64_t desc, uint64_t avail, uint64_t used)
{
	struct vu_msg m, r;

	vu_msg_init(&m, VU_SET_VRING_ADDR);
	m.flags |= VU_FLAG_NEED_REPLY;
	vu_put_u32(&m, 0, 0);
	vu_put_u32(&m, 4, 0);
	vu_put_u64(&m, VU_ADDR_DESC_OFF, desc);
	vu_put_u64(&m, VU_ADDR_USED_OFF, used);
	vu_put_u64(&m, VU_ADDR_AVAIL_OFF, avail);
	vu_put_u64(&m, 32, 0);
	if (vu_call(s, &m, &r))
		return -1;
	return (int)vu_get_u64(&r, 0);
}

/* virtio's ring alignment (desc 16, avail 2, used 4): a misaligned ring is
 * refused (REPLY_ACK says so, the session goes on), an aligned one taken.
 * (They were taken: the core's atomics on a misaligned index can split a
 * cache line.) */
VRM_TEST(vring_addr_alignment)
{
	static const struct {
		const char *name;
		uint64_t desc, avail, used;
	} bad[] = {
		{ "desc_8", 0x10008, 0x11000, 0x12000 },
		{ "avail_odd", 0x10000, 0x11001, 0x12000 },
		{ "used_2", 0x10000, 0x11000, 0x12002 },
	};
	uint64_t f = 0, pf = 0;
	int s;

	if (!vrm_subtest("refused_and_session_goes_on") || !bring_up())
		return;
	s = vmm_connect(vmm_a);
	if (!VRM_TRUE(s >= 0))
		return;
	VRM_EQ(vu_get_u64_reply(s, VU_GET_FEATURES, &f), 0);
	VRM_EQ(vu_get_u64_reply(s, VU_GET_PROTOCOL_FEATURES, &pf), 0);
	VRM_TRUE(pf & BIT(VU_PF_REPLY_ACK));
	VRM_EQ(vu_send_u64(s, VU_SET_PROTOCOL_FEATURES, BIT(VU_PF_REPLY_ACK), -1), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		VRM_CHECK(set_vring_addr(s, bad[i].desc, bad[i].avail, bad[i].used) == 1,
			 "%s: not refused", bad[i].name);
	VRM_TRUE(peer_log_has(&dmn, "queue 0: misaligned ring addresses refused", 2000));
	/* A refusal, not the end of the session. */
	VRM_EQ(vu_get_u64_reply(s, VU_GET_FEATURES, &f), 0);
	/* Aligned is taken (and goes to the back-end). */
	VRM_EQ(set_vring_addr(s, 0x10000, 0x11002, 0x12004), 0);
	close(s);
	VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
}

/* The link /proc/PID/fd/N names, or "" when N is not open. */
static void fd_link(pid_t pid, int fd, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, out, len - 1);
	out[n > 0 ? n : 0] = 0;
}

/* A `device add` that fails before its socket exists (the VMM path is a
 * plain file) closes nothing of the daemon's.  (It closed fd 0, whatever
 * the daemon held there: calloc's 0 stood for "no listening socket".) */
VRM_TEST(failed_add_closes_nothing)
{
	char plain[160], cmd[400], buf[512], before[256], after[256];
	FILE *f;

	if (!vrm_subtest("fd_0_stays") || !bring_up())
		return;
	snprintf(plain, sizeof(plain), "%s/not-a-socket", dir);
	f = fopen(plain, "w");
	if (!VRM_TRUE(f != NULL))
		return;
	fclose(f);
	fd_link(dmn.pid, 0, before, sizeof(before));
	VRM_TRUE(before[0] != 0);	/* the daemon holds something at 0 */
	snprintf(cmd, sizeof(cmd), "device add netx,vmm=%s,backend=%s", plain, be_a);
	VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
	VRM_TRUE(strstr(buf, "\"error\"") != NULL);
	fd_link(dmn.pid, 0, after, sizeof(after));
	VRM_STREQ(after, before);
	VRM_TRUE(peer_alive(&dmn));
	unlink(plain);
}

/* vringmedd whose signalfd cannot be made (a descriptor limit that leaves
 * none for it) says so and exits, rather than run deaf to SIGTERM or fail
 * later with another object's error. */
VRM_TEST(signalfd_failure)
{
	char log[160], r2[96], line[512];
	bool said = false;
	pid_t pid;
	int st = 0;
	FILE *f;

	if (!vrm_subtest("said_and_exits") || !bring_up())
		return;
	snprintf(log, sizeof(log), "%s/signalfd.log", dir);
	snprintf(r2, sizeof(r2), "/sys/fs/bpf/vringmed-sfd-%d", (int)getpid());
	pid = fork();
	if (pid == 0) {
		/* 0-2 open, then epoll (3) and the pin root's lock (4): the
		 * signalfd would be the fifth. */
		struct rlimit rl = { 5, 5 };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		int nul = open("/dev/null", O_RDONLY);

		if (fd < 0 || nul < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
		    (nul != 0 && dup2(nul, 0) < 0))
			_exit(126);
		for (int i = 3; i < 64; i++)
			close(i);
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(126);
		execl(".output/vringmedd", "vringmedd", "-p", r2, "-c", "none", "-m", "none",
		      NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f))
		said |= strstr(line, "cannot create a signalfd") != NULL;
	if (f)
		fclose(f);
	VRM_TRUE(said);
	rmdir(r2);
}

/* Guest memory of MEM_SIZE bytes as a VMM may hand it over: a memfd that
 * allows sealing and is not sealed, one sealed as QEMU's
 * memory-backend-memfd seals it, one that cannot be sealed, a file. */
enum guest_mem { MEM_SEALABLE, MEM_SEALED, MEM_UNSEALABLE, MEM_FILE };

static int guest_mem(enum guest_mem kind)
{
	char path[160];
	int fd;

	if (kind == MEM_FILE) {
		snprintf(path, sizeof(path), "%s/guest-ram", dir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		unlink(path);
	} else {
		fd = memfd_create("vmm-guest", MFD_CLOEXEC |
				  (kind == MEM_UNSEALABLE ? 0 : MFD_ALLOW_SEALING));
	}
	if (fd >= 0 && (ftruncate(fd, MEM_SIZE) ||
			(kind == MEM_SEALED &&
			 fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The daemon's control socket answers within a second. */
static bool ctl_answers_fast(void)
{
	char buf[8192];
	uint64_t t0 = mono_ms();

	if (ctl_query("device list", buf, sizeof(buf)) || !strstr(buf, "\"name\":\"netb\""))
		return false;
	return mono_ms() - t0 < 1000;
}

/*
 * A VMM shrinks the memory file it handed over: a memfd that can
 * be sealed is sealed against it, so the truncation fails; one that cannot,
 * or a file, is truncated under the daemon, whose next access to it raises
 * SIGBUS: that device breaks, says why, and the daemon, the other device and
 * the control socket carry on.  (The daemon died of the SIGBUS, every device
 * with it.)
 */
VRM_TEST(guest_memory_shrinks)
{
	static const struct {
		const char *name;
		enum guest_mem kind;
	} shrunk[] = {
		{ "unsealable_memfd_truncated", MEM_UNSEALABLE },
		{ "file_truncated", MEM_FILE },
	};
	struct vmm v = { .sock = -1 }, b = { .sock = -1 };
	int seals;

	if (vrm_subtest("sealable_memfd_is_sealed") && bring_up()) {
		if (!peer_alive(&tp_a))
			VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa3"), 0);
		VRM_EQ(vmm_start_fd(&v, vmm_a, VRM_ORDER_BE, guest_mem(MEM_SEALABLE)), 0);
		seals = fcntl(v.memfd, F_GET_SEALS);
		VRM_CHECK(seals >= 0 && (seals & F_SEAL_SHRINK), "seals 0x%x: no F_SEAL_SHRINK", seals);
		/* Only once sealed: unsealed, the truncation would be the test
		 * below, and kill an unguarded daemon. */
		if (seals >= 0 && (seals & F_SEAL_SHRINK)) {
			VRM_TRUE(ftruncate(v.memfd, 0) < 0 && errno == EPERM);
			VRM_TRUE(ftruncate(v.memfd, 2 * MEM_SIZE) == 0);	/* growing is the VMM's */
		}
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
		vmm_stop(&v);
	}
	if (vrm_subtest("sealed_memfd_taken") && bring_up()) {
		VRM_EQ(vmm_start_fd(&v, vmm_a, VRM_ORDER_LE, guest_mem(MEM_SEALED)), 0);
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
		vmm_stop(&v);
	}
	for (size_t i = 0; i < sizeof(shrunk) / sizeof(shrunk[0]); i++) {
		uint16_t nb = 0;

		if (!vrm_subtest("%s", shrunk[i].name) || !bring_up())
			continue;
		/* Nothing of the rest without both sessions: it writes their
		 * rings. */
		if (!VRM_EQ(vmm_start(&b, vmm_b, VRM_ORDER_LE), 0) ||
		    !VRM_EQ(vmm_start_fd(&v, vmm_a, VRM_ORDER_BE, guest_mem(shrunk[i].kind)), 0)) {
			vmm_stop(&v);
			vmm_stop(&b);
			continue;
		}
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_TRUE(peer_log_has(&dmn, "cannot be sealed against shrinking", 2000));
		/* A chain posted, then the memory taken away, then the kick:
		 * BPF's read faults, the daemon's too (and its tick's look at
		 * the ring would, with no kick at all). */
		vmm_tx_post(&v, 0, false, false);
		VRM_EQ(ftruncate(v.memfd, 0), 0);
		VRM_EQ(write(v.kick[1], &(uint64_t){ 1 }, 8), 8);
		VRM_TRUE(peer_log_has(&dmn, "device neta: guest memory faulted (SIGBUS", 2000));
		VRM_TRUE(peer_alive(&dmn));
		VRM_TRUE(device_has("neta", "\"state\":\"broken\""));
		VRM_TRUE(device_has("neta", "guest memory faulted"));
		VRM_TRUE(ctl_answers_fast());
		for (int k = 0; k < 4; k++)
			vmm_tx(&b, nb++);
		VRM_EQ(vmm_tx_used(&b, nb, 2000), nb);
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
		vmm_stop(&v);
		vmm_stop(&b);
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		VRM_TRUE(peer_alive(&dmn));
	}
}

/* GET_FEATURES requests on `s`, never reading a reply, until the daemon
 * stops taking them (for 300 ms): its replies filled the socket back to us
 * and it sits in a send. */
static int flood_get_features(int s)
{
	const uint8_t req[VU_HDR_SIZE] = { VU_GET_FEATURES, 0, 0, 0, VU_VERSION, 0, 0, 0 };
	struct pollfd pf = { .fd = s, .events = POLLOUT };
	int n = 0;

	while (n < 100000) {
		if (send(s, req, sizeof(req), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(req))
			n++;
		else if (errno != EAGAIN || poll(&pf, 1, 300) != 1)
			break;
	}
	return n;
}

/* Adds neta back (its abandoned thread may take a moment to end). */
static bool neta_back(void)
{
	char cmd[400], buf[512];

	snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s", vmm_a, be_a);
	for (int t = 0; t < 80; t++) {
		if (!ctl_query(cmd, buf, sizeof(buf)) && strstr(buf, "\"ok\""))
			return true;
		usleep(100000);
	}
	return false;
}

/*
 * A VMM that sends requests and never reads the replies: the
 * device's thread blocks in a send.  `device del` of it answers within a
 * second all the same (its thread is abandoned, and ends when it can), the
 * control socket answers, the other device's traffic goes on; and left
 * alone, such a session ends by itself once a reply waited
 * VRP_VMM_TIMEOUT.  (The thread blocked for ever, and `device del` and
 * SIGTERM, joining it, froze the daemon's main thread with it.)
 */
VRM_TEST(vmm_stops_reading)
{
	struct vmm b = { .sock = -1 };
	char buf[8192];
	uint64_t t0;
	uint16_t nb = 0;
	int s = -1, n;

	if (vrm_subtest("device_del_within_1s") && bring_up()) {
		if (!peer_alive(&tp_a))
			VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa4"), 0);
		VRM_EQ(vmm_start(&b, vmm_b, VRM_ORDER_LE), 0);
		s = vmm_connect(vmm_a);
		VRM_TRUE(s >= 0 && device_has("neta", "\"state\":\"negotiating\""));
		n = flood_get_features(s);
		printf("      %d requests sent, none read back\n", n);
		t0 = mono_ms();
		VRM_EQ(ctl_query("device del neta", buf, sizeof(buf)), 0);
		VRM_CHECK(strstr(buf, "\"ok\"") != NULL, "device del answered '%s'", buf);
		VRM_CHECK(mono_ms() - t0 < 1000, "device del took %llu ms",
			 (unsigned long long)(mono_ms() - t0));
		VRM_TRUE(ctl_answers_fast());
		VRM_TRUE(peer_log_has(&dmn, "device neta: its thread did not end its session", 1000));
		for (int k = 0; k < 4; k++)
			vmm_tx(&b, nb++);
		VRM_EQ(vmm_tx_used(&b, nb, 2000), nb);
		close(s);	/* its send fails, its thread ends, the slot comes back */
		s = -1;
		VRM_TRUE(neta_back());
		VRM_TRUE(peer_log_has(&dmn, "device neta: its abandoned thread ended", 2000));
		vmm_stop(&b);
	}
	if (vrm_subtest("session_ends_by_itself") && bring_up()) {
		s = vmm_connect(vmm_a);
		VRM_TRUE(s >= 0 && device_has("neta", "\"state\":\"negotiating\""));
		flood_get_features(s);
		t0 = mono_ms();
		VRM_TRUE(peer_log_has(&dmn, "device neta: GET_FEATURES failed: Resource temporarily "
				     "unavailable", 5000));
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		printf("      the session ended %llu ms after the flood\n",
		       (unsigned long long)(mono_ms() - t0));
		VRM_TRUE(ctl_answers_fast());
	}
	if (s >= 0)
		close(s);
	vmm_stop(&b);
	VRM_TRUE(peer_alive(&dmn));
}

#define NOBODY	65534	/* uid nobody, gid nogroup */

/* Drops to uid `uid`, gid `gid` (and `gid2` as a supplementary group when
 * not -1), in a child about to _exit. */
static void become(uid_t uid, gid_t gid, gid_t gid2)
{
	gid_t groups[1] = { gid2 };

	if (setgroups(gid2 == (gid_t)-1 ? 0 : 1, groups) || setgid(gid) || setuid(uid))
		_exit(125);
}

/* A VMM as uid/gid connects to `path` and asks GET_FEATURES: 0 answered,
 * 1 the connection closed unanswered, 2 it could not connect. */
static int vmm_as(const char *path, uid_t uid, gid_t gid, gid_t gid2, pid_t *child)
{
	int st = -1, s;
	pid_t pid = fork();

	if (pid == 0) {
		uint64_t f;

		become(uid, gid, gid2);
		s = vmm_connect(path);
		if (s < 0)
			_exit(2);
		_exit(vu_get_u64_reply(s, VU_GET_FEATURES, &f) ? 1 : 0);
	}
	if (child)
		*child = pid;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A back-end as uid nobody listening at `path` (its directory nobody's):
 * writes to `report` how many bytes the first connection brought in 3 s. */
static pid_t squatter(const char *path, int report, int ready)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct pollfd p;
		char buf[256];
		int l, c, got = 0, n;

		become(NOBODY, NOBODY, (gid_t)-1);
		strcpy(sa.sun_path, path);
		l = socket(AF_UNIX, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4))
			_exit(2);
		if (write(ready, "r", 1) != 1)
			_exit(2);
		p = (struct pollfd){ .fd = l, .events = POLLIN };
		if (poll(&p, 1, 5000) == 1 && (c = accept(l, NULL, NULL)) >= 0) {
			p = (struct pollfd){ .fd = c, .events = POLLIN };
			while (poll(&p, 1, 3000) == 1 && (n = (int)read(c, buf, sizeof(buf))) > 0)
				got += n;
		} else {
			got = -1;
		}
		if (write(report, &got, sizeof(got)) != sizeof(got))
			_exit(2);
		unlink(path);
		_exit(0);
	}
	return pid;
}

/*
 * Who may be a peer: the daemon's sockets are 0600 from the
 * start; a VMM of another uid is refused even where the file's mode would
 * let it in; a back-end path squatted by another uid is handed nothing;
 * --socket-group makes VMM sockets 0660 with that group and admits it, and
 * --allow-uid a uid.  (Sockets had the umask's mode, any VMM was taken, and
 * the daemon sent whoever listened at the back-end path every region of
 * guest memory.)
 */
VRM_TEST(peer_access)
{
	char sq_dir[160], sq_path[200], vmm_c[160], cmd[600], buf[512];
	struct stat st;
	pid_t child = 0;

	if (vrm_subtest("socket_modes_0600") && bring_up()) {
		VRM_TRUE(!stat(vmm_a, &st) && S_ISSOCK(st.st_mode));
		VRM_EQ(st.st_mode & 07777, 0600);
		VRM_TRUE(!stat(ctl, &st));
		VRM_EQ(st.st_mode & 07777, 0600);
	}
	if (vrm_subtest("vmm_of_another_uid_refused") && bring_up()) {
		char needle[96];

		/* Widened on purpose, as an operator or an ACL could: the file
		 * would let it in, the credentials do not. */
		chmod(dir, 0711);
		chmod(vmm_a, 0666);
		VRM_EQ(vmm_as(vmm_a, NOBODY, NOBODY, (gid_t)-1, &child), 1);
		snprintf(needle, sizeof(needle), "device neta: VMM connection refused: pid %d uid %d",
			 (int)child, NOBODY);
		VRM_TRUE(peer_log_has(&dmn, needle, 2000));
		chmod(vmm_a, 0600);
		/* As the file has it: not even a connection. */
		VRM_EQ(vmm_as(vmm_a, NOBODY, NOBODY, (gid_t)-1, NULL), 2);
		chmod(dir, 0700);
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
	}
	if (vrm_subtest("squatted_backend_refused") && bring_up()) {
		int rep[2], rdy[2], got = -2, s;
		char c;

		snprintf(sq_dir, sizeof(sq_dir), "%s/squat", dir);
		snprintf(sq_path, sizeof(sq_path), "%s/be.sock", sq_dir);
		snprintf(vmm_c, sizeof(vmm_c), "%s/vmm-c.sock", dir);
		mkdir(sq_dir, 0755);
		VRM_EQ(chown(sq_dir, NOBODY, NOBODY), 0);
		chmod(dir, 0711);
		VRM_EQ(pipe(rep), 0);
		VRM_EQ(pipe(rdy), 0);
		child = squatter(sq_path, rep[1], rdy[1]);
		VRM_EQ(read(rdy[0], &c, 1), 1);
		snprintf(cmd, sizeof(cmd), "device add netc,vmm=%s,backend=%s", vmm_c, sq_path);
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
		VRM_TRUE(strstr(buf, "\"ok\"") != NULL);
		s = vmm_connect(vmm_c);
		VRM_TRUE(s >= 0 && closed_by_peer(s));
		if (s >= 0)
			close(s);
		VRM_TRUE(peer_log_has(&dmn, "refused: its listener is pid", 2000));
		VRM_EQ(read(rep[0], &got, sizeof(got)), sizeof(got));
		VRM_CHECK(got == 0, "the squatter got %d bytes (-1: no connection)", got);
		waitpid(child, NULL, 0);
		VRM_EQ(ctl_query("device del netc", buf, sizeof(buf)), 0);
		close(rep[0]);
		close(rep[1]);
		close(rdy[0]);
		close(rdy[1]);
		rmdir(sq_dir);
		chmod(dir, 0700);
	}
	if (vrm_subtest("socket_group_and_allow_uid") && bring_up()) {
		char r2[96], c2[160], vmm_g[160], spec[400], needle[96], none[160];
		const char *args[] = { "-c", c2, "-g", "nogroup", "-u", "daemon", "-d", spec, "-v",
				       NULL };
		struct peer d2 = { 0 };

		snprintf(r2, sizeof(r2), "/sys/fs/bpf/vringmed-proxy2-%d", (int)getpid());
		snprintf(c2, sizeof(c2), "%s/ctl2.sock", dir);
		snprintf(vmm_g, sizeof(vmm_g), "%s/vmm-g.sock", dir);
		snprintf(none, sizeof(none), "%s/nobody-listens.sock", dir);
		snprintf(spec, sizeof(spec), "netg,vmm=%s,backend=%s", vmm_g, none);
		if (VRM_EQ(vringmedd_start(&d2, dir, r2, args), 0)) {
			VRM_TRUE(!stat(vmm_g, &st));
			VRM_EQ(st.st_mode & 07777, 0660);
			VRM_EQ(st.st_gid, NOBODY);
			VRM_TRUE(!stat(c2, &st));
			VRM_EQ(st.st_mode & 07777, 0600);
			chmod(dir, 0711);
			/* The group's member: in by the file and by its gid (its
			 * session then ends: no back-end listens). */
			vmm_as(vmm_g, NOBODY, NOBODY, (gid_t)-1, &child);
			snprintf(needle, sizeof(needle), "device netg: VMM pid %d connected", (int)child);
			VRM_TRUE(peer_log_has(&d2, needle, 2000));
			/* uid daemon (1), in the group only as a supplementary one:
			 * the file lets it in, --allow-uid admits it. */
			vmm_as(vmm_g, 1, 1, NOBODY, &child);
			snprintf(needle, sizeof(needle), "device netg: VMM pid %d connected", (int)child);
			VRM_TRUE(peer_log_has(&d2, needle, 2000));
			/* Another uid, the same way in: refused. */
			vmm_as(vmm_g, 2, 2, NOBODY, &child);
			snprintf(needle, sizeof(needle), "VMM connection refused: pid %d uid 2", (int)child);
			VRM_TRUE(peer_log_has(&d2, needle, 2000));
			chmod(dir, 0700);
			VRM_TRUE(WIFEXITED(peer_stop(&d2, SIGTERM)));
		}
		rmdir(r2);
	}
}

/* The back-end dies: the daemon lives, the VMM session goes on waiting
 * for a back-end to come back (test_vhost testpmd_restart: it does), and
 * ends when the VMM goes. */
VRM_TEST(backend_dies)
{
	struct vmm v;

	if (!bring_up())
		return;
	if (vrm_subtest("kill_9_testpmd")) {
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0);
		peer_stop(&tp_a, SIGKILL);
		VRM_TRUE(peer_log_has(&dmn, "the VMM session goes on", 3000));
		VRM_TRUE(!closed_by_peer(v.sock));
		VRM_TRUE(peer_alive(&dmn));
		VRM_TRUE(device_has("neta", "\"state\":\"back-end down\""));
		vmm_stop(&v);
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		/* The other device still starts sessions. */
		VRM_EQ(vmm_start(&v, vmm_b, VRM_ORDER_LE), 0);
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
		vmm_stop(&v);
	}
}

/* A back-end that takes connections and never answers: listening, never
 * accepting, so the daemon's GET_FEATURES waits for its whole timeout. */
static int mute_backend(const char *path)
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

/* neta's back-end stops answering while netb carries traffic: every device
 * runs in a thread of its own, so netb's used path, netb's new sessions and
 * the control socket go on while neta's session waits out its back-end
 * (5 s), and then that session alone ends.  (With one thread for all, netb
 * stood still for those 5 s.) */
VRM_TEST(backend_hangs)
{
	struct vmm vb = { .sock = -1 };
	int mute, s = -1;
	uint64_t t0;

	if (!bring_up())
		return;
	if (peer_alive(&tp_a))
		peer_stop(&tp_a, SIGKILL);
	mute = mute_backend(be_a);
	if (!VRM_TRUE(mute >= 0) || !VRM_EQ(vmm_start(&vb, vmm_b, VRM_ORDER_BE), 0))
		goto out;
	s = vmm_connect(vmm_a);
	t0 = mono_ms();
	/* neta's thread is now inside GET_FEATURES to the mute back-end. */
	VRM_TRUE(s >= 0 && device_has("neta", "\"state\":\"negotiating\""));
	if (vrm_subtest("neighbour_traffic_flows")) {
		for (uint16_t n = 0; n < 8; n++)
			vmm_tx(&vb, n);
		VRM_EQ(vmm_tx_used(&vb, 8, 1500), 8);
		printf("      netb's 8 frames back %llu ms after neta's back-end went mute\n",
		       (unsigned long long)(mono_ms() - t0));
		/* Long before neta's 5 s are up (one thread for all: after). */
		VRM_TRUE(mono_ms() - t0 < 3000);
	}
	if (vrm_subtest("control_socket_answers")) {
		char buf[8192];
		uint64_t c0 = mono_ms();

		if (!VRM_EQ(ctl_query("stats", buf, sizeof(buf)), 0))
			printf("      ctl_query: %s\n", strerror(errno));
		VRM_TRUE(strstr(buf, "\"device\":\"netb\"") != NULL);
		VRM_TRUE(mono_ms() - c0 < 1000);
	}
	if (vrm_subtest("neighbour_session_starts")) {
		vmm_stop(&vb);
		VRM_EQ(vmm_start(&vb, vmm_b, VRM_ORDER_LE), 0);
		VRM_TRUE(device_has("netb", "\"byte_order\":\"little\""));
	}
	/* All of it while neta still waited: the two overlapped. */
	VRM_TRUE(mono_ms() - t0 < 4500);
	VRM_TRUE(device_has("neta", "\"state\":\"negotiating\""));
	if (vrm_subtest("mute_session_ends_alone")) {
		VRM_TRUE(peer_log_has(&dmn, "feature query failed", 8000));
		VRM_TRUE(closed_by_peer(s));
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
		VRM_TRUE(peer_alive(&dmn));
	}
out:
	vmm_stop(&vb);
	if (s >= 0)
		close(s);
	if (mute >= 0)
		close(mute);
	unlink(be_a);	/* the next test starts a testpmd there */
}

/*
 * A modern back-end that, unlike testpmd (which polls), looks at a ring only
 * when its kick eventfd wakes it, as libvhost-user and rust-vmm back-ends
 * do: it maps the shadow region, returns every TX chain it finds and
 * signals its call eventfd.  A thread of the test.
 */
struct ebe {
	int lsn;
	pthread_t thr;
	bool running;
	atomic_int stop;
	atomic_int no_call;		/* return chains without calling */
	atomic_int at_stop;		/* return TX chains only when stopped */
	atomic_uint wakes, returned;
	void *shadow;
	uint64_t sh_uaddr, sh_len;
	uint8_t *avail, *used;		/* TX ring, in the shadow region */
	uint16_t num, last;
	int kick, call;
};

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
		ebe_reply_u64(s, m.request, BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF));
		break;
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
		struct vu_msg r;

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

static int ebe_start(struct ebe *e, const char *path)
{
	memset(e, 0, sizeof(*e));
	e->kick = e->call = -1;
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

static uint64_t pinned_counter(uint32_t q, size_t field_off);

/* neta with the test's back-end in place of testpmd, and a big-endian
 * legacy VMM session on it, running; false (and a failure) if not. */
static bool ebe_session(struct ebe *e, struct vmm *v)
{
	memset(e, 0, sizeof(*e));
	e->kick = e->call = e->lsn = -1;
	if (!bring_up())
		return false;
	if (peer_alive(&tp_a))
		peer_stop(&tp_a, SIGKILL);
	if (!VRM_EQ(ebe_start(e, be_a), 0) || !VRM_EQ(vmm_start(v, vmm_a, VRM_ORDER_BE), 0))
		return false;
	return VRM_TRUE(device_has("neta", "\"state\":\"running\""));
}

/* Ends it: neta listens again, the socket is free for testpmd. */
static void ebe_session_end(struct ebe *e, struct vmm *v)
{
	vmm_stop(v);
	if (up)
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
	ebe_stop(e, be_a);
}

/* Kicks BPF cannot finish (here: the ring's page is not in the VMM's page
 * tables, so BPF's read faults) are finished by the device's thread in
 * vringmedd, which must then wake the back-end itself: the guest's kick
 * woke it before the chains were there, and a back-end that waits for kicks
 * would not look again: TX frames would stay in the shadow ring until the
 * guest's next kick. */
VRM_TEST(backend_waits_for_kicks)
{
	uint32_t txq = VRM_QSLOT(0, 1);	/* neta is slot 0 */
	uint64_t faults0, deferred0;
	struct vmm v = { .sock = -1 };
	struct ebe e;

	if (!ebe_session(&e, &v))
		goto out;
	if (vrm_subtest("kicks_on_time")) {
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
	}
	faults0 = pinned_counter(txq, offsetof(struct vrm_qstats, read_faults));
	deferred0 = pinned_counter(txq, offsetof(struct vrm_qstats, deferred));
	if (vrm_subtest("deferred_kicks_reach_the_backend")) {
		/* Each frame waits for the one before: nothing else kicks. */
		for (uint16_t n = 1; n <= 3; n++) {
			vmm_tx_ex(&v, n, true);
			if (!VRM_EQ(vmm_tx_used(&v, (uint16_t)(n + 1), 2000), n + 1))
				break;
		}
		VRM_EQ(atomic_load(&e.returned), 4);
		/* It was the deferred path: BPF's reads faulted, every time. */
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, read_faults)) >= faults0 + 3);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, deferred)) >= deferred0 + 3);
		VRM_TRUE(device_has("neta", "\"deferred_kicks_completed\":"));
		VRM_TRUE(!device_has("neta", "\"deferred_kicks_completed\":0,"));
		printf("      %llu kicks deferred, back-end woken %u times, %u of 4 frames back\n",
		       (unsigned long long)(pinned_counter(txq, offsetof(struct vrm_qstats, deferred)) -
					    deferred0),
		       atomic_load(&e.wakes), atomic_load(&e.returned));
	}
out:
	ebe_session_end(&e, &v);
}

/* How many calls the VMM's eventfd counted since the last look (it is
 * non-blocking: 0 when there were none). */
static uint64_t vmm_calls(struct vmm *v, int q)
{
	uint64_t n = 0;

	return read(v->call[q], &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/* The number after `"key":` in the `stats` row of `dev` queue `q`, or -1. */
static long long stats_field(const char *dev, int q, const char *key)
{
	char buf[16384], row[64], k[64], *at, *end;

	if (ctl_query("stats", buf, sizeof(buf)))
		return -1;
	snprintf(row, sizeof(row), "\"device\":\"%s\",\"queue\":%d,", dev, q);
	snprintf(k, sizeof(k), "\"%s\":", key);
	at = strstr(buf, row);
	if (!at)
		return -1;
	end = strstr(at + 1, "{\"device\":");	/* the next row */
	if (end)
		*end = 0;
	at = strstr(at, k);
	return at ? strtoll(at + strlen(k), NULL, 10) : -1;
}

/*
 * A guest that polls its used ring sets VRING_AVAIL_F_NO_INTERRUPT (Linux's
 * NAPI and TX paths do): the used path returns its entries without a call,
 * as any device it could have had would, and calls it again once it clears
 * the flag: each call the guest asked not to get is a VM exit on a real
 * host.
 */
VRM_TEST(guest_polls)
{
	uint64_t flags = RING_GPA(1) + vrm_legacy_avail_off(QSIZE);
	struct vmm v = { .sock = -1 };
	long long calls0, supp0;
	struct ebe e;

	if (!ebe_session(&e, &v))
		goto out;
	vmm_tx(&v, 0);
	VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
	usleep(50000);
	VRM_TRUE(vmm_calls(&v, 1) >= 1);		/* a guest that sleeps is called */
	calls0 = stats_field("neta", 1, "guest_calls");
	supp0 = stats_field("neta", 1, "guest_calls_suppressed");
	VRM_TRUE(calls0 >= 1);
	VRM_TRUE(supp0 >= 0);
	if (vrm_subtest("no_call_while_it_polls")) {
		g16(&v, flags, VRM_VRING_AVAIL_F_NO_INTERRUPT);	/* guest order */
		for (uint16_t n = 1; n <= 3; n++) {
			vmm_tx(&v, n);
			if (!VRM_EQ(vmm_tx_used(&v, (uint16_t)(n + 1), 2000), n + 1))
				break;
		}
		usleep(300000);		/* a tick of the device's thread too */
		VRM_EQ(vmm_calls(&v, 1), 0);
		VRM_TRUE(stats_field("neta", 1, "guest_calls_suppressed") >= supp0 + 3);
		VRM_EQ(stats_field("neta", 1, "guest_calls"), calls0);
	}
	if (vrm_subtest("called_again_once_it_sleeps")) {
		g16(&v, flags, 0);
		vmm_tx(&v, 4);
		VRM_EQ(vmm_tx_used(&v, 5, 2000), 5);
		usleep(50000);
		VRM_TRUE(vmm_calls(&v, 1) >= 1);
		VRM_TRUE(stats_field("neta", 1, "guest_calls") >= calls0 + 1);
	}
	printf("      5 frames back; guest_calls %lld, guest_calls_suppressed %lld\n",
	       stats_field("neta", 1, "guest_calls"), stats_field("neta", 1, "guest_calls_suppressed"));
out:
	ebe_session_end(&e, &v);
}

/* Counters of queue slot `q`, summed over CPUs, from the pinned map. */
static uint64_t pinned_counter(uint32_t q, size_t field_off)
{
	char path[160];
	int fd, ncpu = libbpf_num_possible_cpus();
	struct vrm_qstats *per = calloc((size_t)ncpu, sizeof(*per));
	uint64_t sum = 0;

	snprintf(path, sizeof(path), "%s/%s", root, VRM_MAP_STATS);
	fd = bpf_obj_get(path);
	if (fd >= 0 && per && !bpf_map_lookup_elem(fd, &q, per))
		for (int c = 0; c < ncpu; c++)
			sum += *(uint64_t *)((char *)&per[c] + field_off);
	if (fd >= 0)
		close(fd);
	free(per);
	return sum;
}

/* kill -9 of vringmedd mid-session: the kernel keeps translating the
 * guest's kicks, a new vringmedd adopts slot, byte order and counters, and
 * the VMM's next session runs. */
VRM_TEST(daemon_restart)
{
	char da[300], db[300];
	char maddr[32];
	const char *args[] = { "-c", ctl, "-d", da, "-d", db, "-m", maddr, NULL };
	uint32_t txq = 0 * VRM_DEV_QUEUES + 1;	/* neta is slot 0 */
	uint64_t kicks0 = 0, kicks1 = 0, descs1 = 0;
	struct vmm v;

	if (!bring_up())
		return;
	snprintf(da, sizeof(da), "neta,vmm=%s,backend=%s", vmm_a, be_a);
	snprintf(db, sizeof(db), "netb,vmm=%s,backend=%s", vmm_b, be_b);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", metrics_port);
	if (!peer_alive(&tp_a) && !VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa2"), 0))
		return;
	if (vrm_subtest("kill_9_mid_session")) {
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0);
		vmm_tx(&v, 0);
		usleep(200000);
		kicks0 = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
		VRM_TRUE(kicks0 >= 1);
		peer_stop(&dmn, SIGKILL);
		VRM_TRUE(closed_by_peer(v.sock));
		VRM_TRUE(access(root, F_OK) == 0);	/* pins stay */
		/* The daemon is gone; the guest kicks on and BPF translates. */
		vmm_tx(&v, 1);
		vmm_tx(&v, 2);
		usleep(100000);
		kicks1 = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
		descs1 = pinned_counter(txq, offsetof(struct vrm_qstats, descs));
		VRM_EQ(kicks1, kicks0 + 2);
		VRM_TRUE(descs1 >= 6);
	}
	if (vrm_subtest("restart_adopts")) {
		/* The same devices, this time from a configuration file. */
		char conf[160];
		const char *fargs[] = { "-f", conf, "-m", maddr, NULL };
		FILE *f;

		snprintf(conf, sizeof(conf), "%s/vringmedd.conf", dir);
		f = fopen(conf, "w");
		if (!VRM_TRUE(f != NULL))
			return;
		fprintf(f, "# written by test_proxy\ncontrol %s\ndevice %s\n\ndevice %s  # b\n",
			ctl, da, db);
		fclose(f);
		(void)args;
		VRM_EQ(vringmedd_start(&dmn, dir, root, fargs), 0);
		VRM_TRUE(peer_log_has(&dmn, "adopted slot 0", 2000));
		VRM_TRUE(device_has("neta", "\"state\":\"adopted\""));
		VRM_TRUE(device_has("neta", "\"byte_order\":\"big\""));
		/* Still translated while adopted; counters never went back. */
		vmm_tx(&v, 3);
		usleep(100000);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, kicks)) >= kicks1 + 1);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, descs)) >= descs1 + 2);
		vmm_stop(&v);
	}
	if (vrm_subtest("vmm_reconnects")) {
		uint64_t k = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0);
		VRM_TRUE(peer_log_has(&dmn, "adopted session ends", 2000));
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, kicks)) > k);
		vmm_stop(&v);
	}
}

/*
 * A VM paused and resumed (QMP stop/cont: QEMU stops each ring with
 * GET_VRING_BASE, sets its byte order back to the host's, then starts the
 * device again), by a big-endian legacy VMM on the test's back-end.  What
 * the back-end returned before the stop must be in the guest's used ring
 * when the stop is answered, and the answer is the guest's used idx; the
 * byte order is latched again at every start; traffic goes on after every
 * resume.
 */
VRM_TEST(vmm_pause_resume)
{
	uint64_t used_idx = RING_GPA(1) + vrm_legacy_used_off(QSIZE) + 2;
	struct vmm v = { .sock = -1 };
	uint16_t base[2] = { 0, 0 }, n = 0;
	struct ebe e;

	if (!ebe_session(&e, &v))
		goto out;
	vmm_tx(&v, n++);
	VRM_EQ(vmm_tx_used(&v, n, 2000), n);
	if (vrm_subtest("stop_keeps_completions")) {
		unsigned r0 = atomic_load(&e.returned);

		/* The back-end holds the chain until it is told to stop, then
		 * returns it and does not call: only the stop can bring it to
		 * the guest. */
		atomic_store(&e.no_call, 1);
		atomic_store(&e.at_stop, 1);
		vmm_tx(&v, n++);
		usleep(100000);
		VRM_EQ(atomic_load(&e.returned), r0);
		if (VRM_EQ(vmm_pause(&v, base), 0)) {
			VRM_EQ(atomic_load(&e.returned), r0 + 1);
			VRM_EQ(base[1], n);
			VRM_EQ(gl16(&v, used_idx), n);
		}
		atomic_store(&e.no_call, 0);
		atomic_store(&e.at_stop, 0);
		VRM_TRUE(device_has("neta", "\"state\":\"stopped\""));
	}
	if (vrm_subtest("resume_x20")) {
		bool ok = true;

		for (int round = 0; round < 20 && ok; round++) {
			if (round || !base[1])
				ok &= VRM_EQ(vmm_pause(&v, base), 0);
			ok &= VRM_EQ(base[1], n);
			ok &= VRM_EQ(vmm_resume(&v, base), 0);
			vmm_tx(&v, (uint16_t)(n++ % (QSIZE / 2)));
			ok &= VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		}
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_TRUE(device_has("neta", "\"byte_order\":\"big\""));
		printf("      20 pauses and resumes, %u frames back, the last stop at %u\n", n,
		       base[1]);
	}
	VRM_TRUE(peer_log_has(&dmn, "device neta", 100));
	VRM_TRUE(!peer_log_has(&dmn, "not while running", 100));
out:
	ebe_session_end(&e, &v);
}

/* The kick path of neta as the daemon tells it, e.g. "userspace". */
static bool kick_path_is(const char *path)
{
	char needle[64];

	snprintf(needle, sizeof(needle), "\"kick_path\":\"%s\"", path);
	return device_has("neta", needle);
}

/* The metrics line `vringmed_kick_path{device="neta",path=P} V`. */
static bool metric_kick_path(const char *path, int want)
{
	char cmd[128], line[512], needle[96];
	bool hit = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "curl -s --max-time 2 http://127.0.0.1:%d/metrics", metrics_port);
	snprintf(needle, sizeof(needle), "vringmed_kick_path{device=\"neta\",path=\"%s\"} %d\n",
		 path, want);
	/* The exporter learns it from the daemon's main loop: a turn later. */
	for (int t = 0; t < 20 && !hit; t++) {
		f = popen(cmd, "r");
		if (!f)
			return false;
		while (fgets(line, sizeof(line), f))
			hit |= !strcmp(line, needle);
		pclose(f);
		if (!hit)
			usleep(100000);
	}
	return hit;
}

/* The kernel signals `efd` on the VMM's behalf, as KVM does for an
 * ioeventfd: io_uring's registered eventfd, written when a completion is
 * posted.  No write() happens, so the write() tracepoint sees nothing. */
static int kernel_signal(int efd)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int err = io_uring_queue_init(4, &ring, 0);

	if (err)
		return err;
	err = io_uring_register_eventfd(&ring, efd);
	if (!err) {
		io_uring_prep_nop(io_uring_get_sqe(&ring));
		err = io_uring_submit_and_wait(&ring, 1);
		if (err == 1 && !io_uring_peek_cqe(&ring, &cqe))
			err = 0;
	}
	io_uring_queue_exit(&ring);
	return err;
}

/*
 * Kicks no hook of this host sees (fentry is refused here): one the kernel
 * signals (io_uring), and one written by a process that is not the VMM.
 * On the BPF path the back-end would wake to an untranslated shadow ring
 * and the device would stall without a word; the device must notice, say so
 * (log, device list, metric) and go on in userspace.  And kick=userspace,
 * configured, from the first ring on.
 */
VRM_TEST(unseen_kicks)
{
	struct vmm v = { .sock = -1 };
	char cmd[400], buf[512];
	uint16_t n = 0;
	struct ebe e = { .running = false };

	if (vrm_subtest("kernel_signalled") && ebe_session(&e, &v)) {
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		VRM_TRUE(kick_path_is("bpf"));
		vmm_tx_post(&v, n++, false, false);
		VRM_EQ(kernel_signal(v.kick[1]), 0);
		VRM_EQ(vmm_tx_used(&v, n, 3000), n);
		VRM_TRUE(kick_path_is("userspace"));
		VRM_TRUE(device_has("neta", "no kick reached BPF"));
		VRM_TRUE(peer_log_has(&dmn, "device neta: kicks mediated in userspace from now on", 1000));
		VRM_TRUE(metric_kick_path("userspace", 1));
		VRM_TRUE(metric_kick_path("bpf", 0));
		/* It stays there: ordinary kicks and kernel ones alike. */
		for (int k = 0; k < 4; k++) {
			vmm_tx_post(&v, n++, false, k & 1);
			if (!(k & 1))
				VRM_EQ(kernel_signal(v.kick[1]), 0);
			VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		}
		printf("      %u frames back; the kernel-signalled kick moved neta to userspace\n", n);
	}
	if (e.running)
		ebe_session_end(&e, &v);
	n = 0;
	if (vrm_subtest("foreign_process") && ebe_session(&e, &v)) {
		pid_t pid;
		int st;

		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		VRM_TRUE(kick_path_is("bpf"));
		vmm_tx_post(&v, n++, false, false);
		pid = fork();
		if (pid == 0)
			_exit(write(v.kick[1], &(uint64_t){ 1 }, 8) == 8 ? 0 : 1);
		waitpid(pid, &st, 0);
		VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		VRM_EQ(vmm_tx_used(&v, n, 3000), n);
		VRM_TRUE(kick_path_is("userspace"));
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
	}
	if (e.running)
		ebe_session_end(&e, &v);
	n = 0;
	if (vrm_subtest("configured_userspace") && bring_up()) {
		uint32_t txq = VRM_QSLOT(0, 1);	/* neta is slot 0 */
		uint64_t bpf_kicks;

		snprintf(cmd, sizeof(cmd), "device del neta");
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
		snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s,kick=userspace", vmm_a,
			 be_a);
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
		if (ebe_session(&e, &v)) {
			VRM_TRUE(kick_path_is("userspace"));
			VRM_TRUE(device_has("neta", "configured (kick=userspace)"));
			bpf_kicks = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
			for (int k = 0; k < 3; k++) {
				vmm_tx(&v, n++);
				VRM_EQ(vmm_tx_used(&v, n, 2000), n);
			}
			/* The daemon did the kicks, BPF none. */
			VRM_EQ(pinned_counter(txq, offsetof(struct vrm_qstats, kicks)), bpf_kicks);
			VRM_TRUE(stats_field("neta", 1, "kicks") >= 3);
		}
		if (e.running)
			ebe_session_end(&e, &v);
		snprintf(cmd, sizeof(cmd), "device del neta");
		ctl_query(cmd, buf, sizeof(buf));
		snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s", vmm_a, be_a);
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
	}
}

/* SET_VRING_KICK or _CALL of ring `q` with `fd`, REPLY_ACK asked: 0 when
 * the daemon took it, else its refusal (or -1). */
static int send_vring_fd(struct vmm *v, uint32_t req, uint32_t q, int fd)
{
	struct vu_msg m, r;

	vu_msg_init(&m, req);
	vu_put_u64(&m, 0, q);
	m.fds[0] = fd;
	m.nfds = 1;
	m.flags |= VU_FLAG_NEED_REPLY;
	if (vu_call(v->sock, &m, &r))
		return -1;
	return (int)vu_get_u64(&r, 0);
}

struct kicker {
	atomic_int fd, stop;
	atomic_ulong kicks;
};

static void *kicker_main(void *arg)
{
	struct kicker *k = arg;

	while (!atomic_load(&k->stop))
		if (write(atomic_load(&k->fd), &(uint64_t){ 1 }, 8) == 8)
			atomic_fetch_add(&k->kicks, 1);
	return NULL;
}

/*
 * The kick and call fds a VMM hands over: eventfds only (a pipe as call fd
 * would block the device's thread once full), and a new kick fd for a
 * running ring while its kicks race in: the ring's state stays (it was set
 * up again from its first index, and chains in flight were translated a
 * second time), no kick is lost, nothing breaks.
 */
VRM_TEST(vring_fds)
{
	struct vmm v = { .sock = -1 };
	struct kicker k = { 0 };
	int old[32], nold = 0, pfd[2] = { -1, -1 };
	uint16_t n = 0;
	pthread_t thr;
	struct ebe e;

	if (!ebe_session(&e, &v))
		goto out;
	vmm_tx(&v, n++);
	VRM_EQ(vmm_tx_used(&v, n, 2000), n);
	if (vrm_subtest("must_be_eventfds") && VRM_EQ(pipe(pfd), 0)) {
		VRM_TRUE(send_vring_fd(&v, VU_SET_VRING_CALL, 1, pfd[1]) != 0);
		VRM_TRUE(send_vring_fd(&v, VU_SET_VRING_KICK, 1, pfd[0]) != 0);
		VRM_TRUE(peer_log_has(&dmn, "the call fd is not an eventfd", 1000));
		VRM_TRUE(peer_log_has(&dmn, "the kick fd is not an eventfd", 1000));
		/* Refused, not fatal: the ring runs on with its own fds. */
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		close(pfd[0]);
		close(pfd[1]);
	}
	if (vrm_subtest("new_kick_fd_while_running")) {
		long long chains0 = stats_field("neta", 1, "chains");
		unsigned r0 = atomic_load(&e.returned);
		bool ok = true;

		atomic_store(&k.fd, v.kick[1]);
		ok &= VRM_EQ(pthread_create(&thr, NULL, kicker_main, &k), 0);
		for (int round = 0; round < 30 && ok; round++) {
			int fd = eventfd(0, EFD_CLOEXEC);

			ok &= VRM_EQ(send_vring_fd(&v, VU_SET_VRING_KICK, 1, fd), 0);
			old[nold++] = v.kick[1];	/* closed at the end: the kicker may hold it */
			v.kick[1] = fd;
			atomic_store(&k.fd, fd);
			vmm_tx(&v, (uint16_t)(n++ % (QSIZE / 2)));
			ok &= VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		}
		atomic_store(&k.stop, 1);
		pthread_join(thr, NULL);
		VRM_EQ(atomic_load(&e.returned), r0 + 30);
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_EQ(stats_field("neta", 1, "chains"), chains0 + 30);
		printf("      30 kick fds swapped under %lu racing kicks: %u frames back, each once\n",
		       (unsigned long)atomic_load(&k.kicks), n);
	}
	for (int i = 0; i < nold; i++)
		close(old[i]);
out:
	ebe_session_end(&e, &v);
}

VRM_TEST(zz_shutdown)
{
	if (!up)
		return;
	if (vrm_subtest("sigterm_removes_pins")) {
		int st = peer_stop(&dmn, SIGTERM);

		VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		VRM_TRUE(access(root, F_OK) != 0);
		VRM_TRUE(access(vmm_a, F_OK) != 0);
	}
	cleanup();
}
