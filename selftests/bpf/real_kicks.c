// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Real kicks: a legacy driver process write()s its kick eventfd; the kernel
 * signals one (fentry). */
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include "test.h"
#include "rig.h"
#include "bfx.h"
#include "ksignal.h"
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

/*
 * A kick the kernel signals (io_uring's registered eventfd, as KVM signals
 * an ioeventfd from the VMM's vCPU thread): no write() happens, so where
 * trampolines are allowed vrm_fentry_signal translates it, in the VMM's
 * task, before anyone is woken.  Where fentry is refused (this machine's
 * lockdown) such kicks go to the daemon's userspace path, which test_proxy
 * checks (unseen_kicks); test_kernel runs this on Debian 12's own kernel.
 */
VRM_TEST(kernel_kicks)
{
	for (int be = 0; be <= 1; be++) {
		struct bfx f;
		struct vrm_qstats st;
		uint64_t v = 0;
		long id;
		int efd;

		if (!vrm_subtest("io_uring_signal_%s", order_name(be)) || !bpf())
			continue;
		if (!B.have_fentry) {
			vrm_skip("fentry is refused on this kernel: kernel-signalled kicks are "
				 "mediated in userspace (test_proxy unseen_kicks)");
			continue;
		}
		bfx_setup(&f, 6, 64, be);
		efd = eventfd(0, EFD_NONBLOCK);
		id = vrm_eventfd_id(0, efd);
		if (!VRM_TRUE(efd >= 0 && id >= 0) || !VRM_EQ(vrm_bpf_add_vmm(&B, getpid()), 0) ||
		    !VRM_EQ(vrm_bpf_add_kickfd(&B, (uint32_t)id, f.qslot), 0))
			goto out;
		tr_add_chain(&f.t, 2, 1, 100);
		tr_add_chain(&f.t, 1, 0, 64);
		tr_publish(&f.t);
		VRM_EQ(kernel_signal(efd), 0);
		/* Translated before the signal woke anyone: the shadow ring
		 * holds both chains as the eventfd reads 1. */
		VRM_EQ(read(efd, &v, sizeof(v)), (ssize_t)sizeof(v));
		VRM_EQ(v, 1);
		VRM_EQ(tr_le(&f.sh->avail.idx, 2), 2);
		for (uint16_t i = 0; i < 3; i++)
			VRM_EQ(tr_le(&f.sh->desc[i].addr, 8), tr_get(&f.t, tr_desc_gpa(&f.t, i), 8));
		VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
		VRM_EQ(st.kicks, 1);
		VRM_EQ(st.chains, 2);
		VRM_EQ(st.descs, 3);
		VRM_EQ(f.dev->broken, 0);
		/* Another process's signal of it (not the VMM): nothing read. */
		tr_add_chain(&f.t, 1, 0, 64);
		tr_publish(&f.t);
		if (fork() == 0)
			_exit(kernel_signal(efd) ? 1 : 0);
		wait(NULL);
		VRM_EQ(tr_le(&f.sh->avail.idx, 2), 2);
		VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
		VRM_EQ(st.kicks, 1);
out:
		if (id >= 0)
			vrm_bpf_del_kickfd(&B, (uint32_t)id);
		vrm_bpf_del_vmm(&B, getpid());
		if (efd >= 0)
			close(efd);
		bfx_fini(&f);
	}
}
