// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A guest that polls its used ring (VRING_AVAIL_F_NO_INTERRUPT). */
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
	printf("      5 frames back; guest_calls %lld, guest_calls_suppressed %lld\n",
	       stats_field("neta", 1, "guest_calls"), stats_field("neta", 1, "guest_calls_suppressed"));
out:
	ebe_session_end(&e, &v);
}
