// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What the VMM is offered and a session with it; messages it must not send. */
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "vu_wire.h"
#include "proxy_test.h"

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
		VRM_TRUE(f & BIT(VU_F_INDIRECT_DESC));	/* testpmd's, mediated */
		VRM_TRUE(f & BIT(VU_F_EVENT_IDX));	/* a net device's default */
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
		/* Ring 4 is a third pair's: a device has two at most (DPDK
		 * says 128, GET_QUEUE_NUM tells the VMM 2). */
		{ "vring_index_beyond_its_queues", "SET_VRING_NUM for queue 4: the device has 4", 1, 0,
		  NULL, VU_SET_VRING_NUM, 8 },
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
			if (!strcmp(cases[i].name, "vring_index_beyond_its_queues"))
				vu_put_u32(&m, 0, 4);
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
		VRM_TRUE(peer_log_has(&dmn, "malformed message from the VMM: the connection ended "
				      "in the middle of a message", 2000));
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
