// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Real kicks: a legacy driver process write()s its kick eventfd. */
#include "test.h"
#include "rig.h"
#include "loader.h"
#include "bpf_test.h"

VRM_TEST(real_kicks)
{
	for (int be = 0; be <= 1; be++) {
		struct rig r = { .name = be ? "s390x" : "native", .big_endian = be,
				     .slot = 8 + be };
		struct vrm_qstats st;
		int err;

		if (!vrm_subtest("driver_%s_%s", be ? "s390x_under_qemu_user" : "native",
				order_name(be)) || !bpf())
			continue;
		if (be && !rig_have_qemu_user()) {
			vrm_skip("qemu-s390x-static or the s390x driver is missing (make setup)");
			continue;
		}
		err = rig_start(&B, &r);
		if (VRM_EQ(err, 0)) {
			kick_ok(&r, 1);
			kick_ok(&r, 7);
			kick_ok(&r, 24);	/* 64 descriptors: ring full */
			VRM_EQ(vrm_bpf_read_stats(&B, r.qslot, &st), 0);
			VRM_EQ(st.chains, 32);
			VRM_EQ(st.descs, 64);
			VRM_EQ(st.kicks, 3);
			VRM_EQ(st.deferred, 0);
			VRM_EQ(B.devices[r.slot].broken, 0);
		}
		rig_stop(&B, &r);
	}
	if (vrm_subtest("two_devices_two_orders_at_once") && bpf()) {
		struct rig le = { .name = "native", .big_endian = 0, .slot = 10 };
		struct rig be = { .name = "s390x", .big_endian = 1, .slot = 11 };

		if (!rig_have_qemu_user()) {
			vrm_skip("qemu-s390x-static or the s390x driver is missing (make setup)");
			return;
		}
		if (VRM_EQ(rig_start(&B, &le), 0) && VRM_EQ(rig_start(&B, &be), 0)) {
			for (int i = 0; i < 4; i++) {
				kick_ok(&le, 2 + i);
				kick_ok(&be, 5 - i);
			}
			VRM_EQ(le.expect_idx, 14);
			VRM_EQ(be.expect_idx, 14);
			VRM_EQ(B.devices[10].broken, 0);
			VRM_EQ(B.devices[11].broken, 0);
		}
		rig_stop(&B, &be);
		rig_stop(&B, &le);
	}
}
