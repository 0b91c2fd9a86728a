// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A guest that polls its used ring (VRING_AVAIL_F_NO_INTERRUPT). */
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "proxy_test.h"

/* How many calls the VMM's eventfd counted since the last look (it is
 * non-blocking: 0 when there were none). */
static uint64_t vmm_calls(struct vmm *v, int q)
{
	uint64_t n = 0;

	return read(v->call[q], &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/* Chains c .. c + n - 1 (n <= QSIZE / 2) published with one avail idx
 * store, and kicked only when the guest's used flags ask for kicks, after a
 * full fence, as Linux's virtqueue_kick_prepare does.  True when kicked. */
static bool tx_burst(struct vmm *v, uint16_t c, uint16_t n)
{
	uint64_t ring = RING_GPA(1);

	for (uint16_t i = 0; i < n; i++) {
		uint16_t k = (uint16_t)(c + i);

		vmm_tx_chain(v, k % QSIZE, k % (QSIZE / 2));
	}
	__atomic_thread_fence(__ATOMIC_RELEASE);
	g16(v, ring + vrm_legacy_avail_off(QSIZE) + 2, (uint16_t)(c + n));
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (gl16(v, ring + vrm_legacy_used_off(QSIZE)) & VRM_VRING_USED_F_NO_NOTIFY)
		return false;
	return write(v->kick[1], &(uint64_t){ 1 }, 8) == 8;
}

/* Spins until the guest's TX used idx is `want` (a polling guest's NAPI
 * loop), at most `ms`; true when it got there. */
static bool tx_used_spin(struct vmm *v, uint16_t want, uint64_t ms)
{
	uint64_t used_idx = RING_GPA(1) + vrm_legacy_used_off(QSIZE) + 2, end = mono_ms() + ms;

	while (gl16(v, used_idx) != want)
		if (mono_ms() > end)
			return false;
		else
			sched_yield();
	return true;
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
	VRM_TRUE(stats_field("neta", 1, "poll_first_kicks") >= 0);	/* in each row */
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
	/* Bursts of 17-32 chains posted the moment the last came back, while
	 * the device's thread polls (the guest's kicks off), to this test's
	 * back-end, which never turns its kicks off: the thread publishes the
	 * first 16 of a burst, kicks, and translates the rest while the
	 * back-end wakes (poll_first_kicks), and not one chain is left
	 * behind: each burst comes back whole within a second. */
	if (vrm_subtest("first_part_kick_loses_nothing")) {
		uint64_t avail = RING_GPA(1) + vrm_legacy_avail_off(QSIZE);
		long long firsts0 = stats_field("neta", 1, "poll_first_kicks"), firsts = firsts0;
		uint16_t c = gl16(&v, avail + 2);
		unsigned rounds = 0, quiet = 0;

		g16(&v, flags, VRM_VRING_AVAIL_F_NO_INTERRUPT);	/* it polls */
		VRM_TRUE(tx_used_spin(&v, c, 2000));
		for (uint64_t end = mono_ms() + 5000; mono_ms() < end && rounds < 4000; rounds++) {
			uint16_t n = (uint16_t)(17 + rounds % 16);

			quiet += !tx_burst(&v, c, n);
			c = (uint16_t)(c + n);
			if (!VRM_TRUE(tx_used_spin(&v, c, 1000)))
				break;
			if (rounds % 100 == 99 &&
			    (firsts = stats_field("neta", 1, "poll_first_kicks")) > firsts0 && rounds >= 400)
				break;
		}
		firsts = stats_field("neta", 1, "poll_first_kicks");
		VRM_TRUE(firsts > firsts0);
		g16(&v, flags, 0);
		vmm_calls(&v, 1);
		printf("      %u bursts of 17-32 back whole, %u posted without a kick (the thread "
		       "polled); poll_first_kicks +%lld\n", rounds, quiet, firsts - firsts0);
	}
	printf("      5 frames back; guest_calls %lld, guest_calls_suppressed %lld\n",
	       stats_field("neta", 1, "guest_calls"), stats_field("neta", 1, "guest_calls_suppressed"));
out:
	ebe_session_end(&e, &v);
}
