// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A back-end that dies, hangs, or looks at its rings only when kicked. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "proxy_test.h"

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
