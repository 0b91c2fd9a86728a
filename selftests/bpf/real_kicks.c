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
	/* The direct-mapped fronts of the VMM and kick-fd hash maps: a slot
	 * two VMMs share, and a kick slot another eventfd holds, send the
	 * program to the hash maps; a set wiped (pins of a build without it)
	 * is made again from them. */
	if (vrm_subtest("fast_sets_shared_slots_and_rebuild") && bpf()) {
		struct rig r = { .name = "native", .big_endian = 0, .slot = 12 };
		uint32_t other = VRM_QSLOT(13, 0), vs = 0, id, fake_vmm, fake_id;
		uint64_t ks = 0;

		if (VRM_EQ(rig_start(&B, &r), 0)) {
			id = (uint32_t)vrm_eventfd_id(0, r.kickfd);
			vs = r.driver & (VRM_VMM_SLOTS - 1);
			ks = id & (VRM_KICK_SLOTS - 1);
			fake_vmm = (uint32_t)r.driver + VRM_VMM_SLOTS;
			fake_id = id + VRM_KICK_SLOTS;
			VRM_EQ(B.fast->vmm[vs], (uint32_t)r.driver);
			VRM_EQ(B.fast->kick[ks], (uint64_t)r.qslot << 32 | (id + 1));
			kick_ok(&r, 1);
			/* Another VMM in the same slot: shared, the hash decides. */
			VRM_EQ(vrm_bpf_add_vmm(&B, fake_vmm), 0);
			VRM_EQ(B.fast->vmm[vs], VRM_SLOT_SHARED);
			kick_ok(&r, 2);
			/* Another eventfd holds the kick slot: the hash decides. */
			VRM_EQ(vrm_bpf_del_kickfd(&B, id), 0);
			VRM_EQ(B.fast->kick[ks], 0);
			VRM_EQ(vrm_bpf_add_kickfd(&B, fake_id, other), 0);
			VRM_EQ(vrm_bpf_add_kickfd(&B, id, r.qslot), 0);
			VRM_EQ(B.fast->kick[ks], (uint64_t)other << 32 | (fake_id + 1));
			kick_ok(&r, 3);
			VRM_EQ(vrm_bpf_del_kickfd(&B, fake_id), 0);
			VRM_EQ(vrm_bpf_del_vmm(&B, fake_vmm), 0);
			VRM_EQ(B.fast->vmm[vs], (uint32_t)r.driver);
			/* Wiped, then made again from the hash maps. */
			memset(B.fast, 0, sizeof(*B.fast));
			vrm_fast_rebuild(&B);
			VRM_EQ(B.fast->vmm[vs], (uint32_t)r.driver);
			VRM_EQ(B.fast->kick[ks], (uint64_t)r.qslot << 32 | (id + 1));
			kick_ok(&r, 4);
			VRM_EQ(B.devices[r.slot].broken, 0);
		}
		rig_stop(&B, &r);
		VRM_EQ(B.fast->kick[ks], 0);
		VRM_EQ(B.fast->vmm[vs], 0);
	}
}
