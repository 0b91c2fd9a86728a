// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The object loads and attaches; its maps are what the back-ends are handed. */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "test.h"
#include "loader.h"
#include "vringmed.skel.h"
#include "bpf_test.h"

VRM_TEST(load)
{
	if (vrm_subtest("programs_loaded_and_attached")) {
		struct vrm_bpf *b = bpf();

		if (!b)
			return;
		VRM_TRUE(b->attached);
		/* The write() hook for this kernel, and only it: the walk with
		 * bpf_rdonly_cast from 6.2 on, the helper reads' before (where
		 * the tests' syscall program does not fit either). */
		if (b->have_rdonly_cast) {
			VRM_TRUE(b->skel->links.vrm_tp_write != NULL);
			VRM_TRUE(b->skel->links.vrm_tp_write_pre62 == NULL);
			VRM_TRUE(bpf_program__fd(b->skel->progs.vrm_test_kick) >= 0);
		} else {
			VRM_TRUE(b->skel->links.vrm_tp_write_pre62 != NULL);
			VRM_TRUE(b->skel->links.vrm_tp_write == NULL);
			VRM_TRUE(bpf_program__fd(b->skel->progs.vrm_test_kick) < 0);
		}
	}
	if (vrm_subtest("kvm_tracepoints_attach")) {
		if (!bpf())
			return;
		if (!B.have_kvm) {
			vrm_skip("this kernel has no kvm tracepoints");
			return;
		}
		VRM_TRUE(B.skel->links.vrm_kvm_pio != NULL);
		VRM_TRUE(B.skel->links.vrm_kvm_mmio != NULL);
		VRM_TRUE(B.skel->links.vrm_kvm_fast_mmio != NULL);
	}
	if (vrm_subtest("fentry_probed_with_fallback")) {
		if (!bpf())
			return;
		/* Either trampolines work and the program is attached, or the
		 * probe said no and the program was not even loaded. */
		if (B.have_fentry)
			VRM_TRUE(B.skel->links.vrm_fentry_signal != NULL);
		else
			VRM_TRUE(!bpf_program__autoload(B.skel->progs.vrm_fentry_signal) &&
				B.skel->links.vrm_fentry_signal == NULL);
	}
	if (vrm_subtest("verifier_insns_below_quarter_of_limit")) {
		struct bpf_program *p;
		unsigned n = 0;

		if (!bpf())
			return;
		/* Far below the verifier's 1M limit, so the core can
		 * grow (make verifier-stats prints the figures). */
		bpf_object__for_each_program(p, B.skel->obj) {
			struct bpf_prog_info info = { 0 };
			__u32 len = sizeof(info);

			if (bpf_program__fd(p) < 0)
				continue;
			if (!VRM_EQ(bpf_obj_get_info_by_fd(bpf_program__fd(p), &info, &len), 0))
				continue;
			VRM_CHECK(info.verified_insns > 0 && info.verified_insns <= 250000,
				 "%s: %u instructions verified", bpf_program__name(p),
				 info.verified_insns);
			n++;
		}
		VRM_TRUE(n >= 2);
	}
	if (vrm_subtest("mmapped_maps")) {
		if (!bpf())
			return;
		VRM_TRUE(B.devices && B.queues && B.shadow);
	}
	/* What a back-end is handed for its device's shadow rings (a
	 * vhost-user memory region backed by this fd) reaches that device's
	 * rings and no other device's. */
	if (vrm_subtest("shadow_map_per_device")) {
		const uint32_t a = 13, b = 14;
		int fa, fb;
		struct bpf_map_info ia = { 0 }, ib = { 0 };
		__u32 len = sizeof(ia);
		uint8_t *m, *big;
		bool other_intact = true;

		if (!bpf())
			return;
		fa = vrm_bpf_shadow_fd(&B, a);
		fb = vrm_bpf_shadow_fd(&B, b);
		VRM_TRUE(fa >= 0 && fb >= 0 && fa != fb);
		VRM_EQ(vrm_bpf_shadow_fd(&B, VRM_MAX_DEVICES), -EINVAL);
		if (!VRM_EQ(bpf_obj_get_info_by_fd(fa, &ia, &len), 0) ||
		    !VRM_EQ(bpf_obj_get_info_by_fd(fb, &ib, &len), 0))
			return;
		VRM_TRUE(ia.id != ib.id);
		VRM_EQ(ia.type, BPF_MAP_TYPE_ARRAY);
		VRM_EQ(ia.max_entries, VRM_DEV_QUEUES);
		VRM_EQ(ia.value_size, sizeof(struct vrm_shadow_queue));
		VRM_TRUE(ia.map_flags & BPF_F_MMAPABLE);
		/* The whole fd is one device's rings: a larger mapping fails. */
		big = mmap(NULL, 2 * VRM_SHADOW_DEV_BYTES, PROT_READ, MAP_SHARED, fa, 0);
		VRM_TRUE(big == MAP_FAILED);
		if (big != MAP_FAILED)
			munmap(big, 2 * VRM_SHADOW_DEV_BYTES);
		m = mmap(NULL, VRM_SHADOW_DEV_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fa, 0);
		if (!VRM_TRUE(m != MAP_FAILED))
			return;
		memset(&B.shadow[VRM_QSLOT(b, 0)], 0x3c, VRM_SHADOW_DEV_BYTES);
		memset(m, 0xc3, VRM_SHADOW_DEV_BYTES);
		/* The back-end's writes land in this device's queues... */
		VRM_EQ(((uint8_t *)&B.shadow[VRM_QSLOT(a, 0)])[0], 0xc3);
		VRM_EQ(((uint8_t *)&B.shadow[VRM_QSLOT(a, VRM_DEV_QUEUES - 1)])[VRM_SHADOW_BYTES - 1], 0xc3);
		/* ...and nowhere in the next device's. */
		for (size_t i = 0; i < VRM_SHADOW_DEV_BYTES; i++)
			other_intact &= ((uint8_t *)&B.shadow[VRM_QSLOT(b, 0)])[i] == 0x3c;
		VRM_CHECK(other_intact, "device %u's shadow rings changed through device %u's map", b, a);
		memset(m, 0, VRM_SHADOW_DEV_BYTES);
		memset(&B.shadow[VRM_QSLOT(b, 0)], 0, VRM_SHADOW_DEV_BYTES);
		munmap(m, VRM_SHADOW_DEV_BYTES);
	}
}
