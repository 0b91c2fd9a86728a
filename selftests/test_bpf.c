// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The translation core inside the running kernel: the real BPF object,
 * loaded and attached.  Deterministic cases through BPF_PROG_TEST_RUN, a
 * differential run against the userspace reference, and real kicks from a
 * legacy driver process (native and s390x under qemu-s390x-static) through
 * write(eventfd), with a backend process blocked in read() on that eventfd.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "test.h"
#include "ringgen.h"
#include "hostile.h"
#include "backend.h"
#include "race.h"
#include "uxlate.h"
#include "loader.h"
#include "log.h"
#include "vringmed.skel.h"
#include "rig.h"
#include "bfx.h"

const char *vrm_test_suite = "test_bpf";

static struct vrm_bpf B;
static int load_err = 1;	/* 1: not tried yet */

static struct vrm_bpf *bpf(void)
{
	if (load_err == 1) {
		struct vrm_bpf_opts o = { .attach = true };

		load_err = vrm_bpf_load(&B, &o);
	}
	if (load_err && geteuid() != 0)
		vrm_skip("not root: BPF programs cannot be loaded");
	else if (load_err)
		/* As root on this kernel a load failure is a bug (the verifier
		 * refused the object), never a reason to skip. */
		VRM_CHECK(false, "BPF object did not load: %s", strerror(-load_err));
	return load_err ? NULL : &B;
}

/* A queue in the maps of the object the tests share (testlib/bfx.h). */
static void bfx_setup(struct bfx *f, uint32_t slot, uint16_t size, int be)
{
	if (bfx_init(f, &B, slot, size, be, 1 << 20))
		abort();
}

static uint32_t bkick(struct bfx *f, uint32_t *chains)
{
	struct vrm_test_args a;

	if (!VRM_EQ(vrm_bpf_test_kick(&B, f->qslot, &a), 0))
		return ~0u;
	if (chains)
		*chains = a.chains;
	return a.verdict;
}

static const char *order_name(int be)
{
	return be ? "be" : "le";
}

VRM_TEST(load)
{
	if (vrm_subtest("programs_loaded_and_attached")) {
		struct vrm_bpf *b = bpf();

		if (!b)
			return;
		VRM_TRUE(b->attached);
		VRM_TRUE(b->skel->links.vrm_tp_write != NULL);
		VRM_TRUE(bpf_program__fd(b->skel->progs.vrm_test_kick) >= 0);
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

VRM_TEST(bpf_translate)
{
	for (int be = 0; be <= 1; be++) {
		struct bfx f;
		uint32_t chains;
		struct vrm_qstats st;

		if (vrm_subtest("chains_%s", order_name(be))) {
			if (!bpf())
				continue;
			bfx_setup(&f, 1, 64, be);
			tr_add_chain(&f.t, 3, 1, 100);
			tr_add_chain(&f.t, 1, 1, 4096);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 2);
			for (uint16_t i = 0; i < 4; i++) {
				uint64_t g = tr_desc_gpa(&f.t, i);

				VRM_EQ(tr_le(&f.sh->desc[i].addr, 8), tr_get(&f.t, g, 8));
				VRM_EQ(tr_le(&f.sh->desc[i].len, 4), tr_get(&f.t, g + 8, 4));
				VRM_EQ(tr_le(&f.sh->desc[i].flags, 2), tr_get(&f.t, g + 12, 2));
			}
			VRM_EQ(tr_le(&f.sh->avail.ring[1], 2), 3);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 2);
			VRM_EQ(f.q->last_avail, 2);
			VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
			VRM_EQ(st.kicks, 1);
			VRM_EQ(st.descs, 4);
			VRM_EQ(st.chains, 2);
			bfx_fini(&f);
		}
		if (vrm_subtest("wrap_%s", order_name(be))) {
			if (!bpf())
				continue;
			bfx_setup(&f, 1, 8, be);
			f.t.avail_idx = f.q->last_avail = 65533;
			for (int i = 0; i < 6; i++)
				tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			VRM_EQ(chains, 6);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 3);
			VRM_EQ(tr_le(&f.sh->avail.ring[65533 & 7], 2), 0);
			VRM_EQ(tr_le(&f.sh->avail.ring[2], 2), 5);
			bfx_fini(&f);
		}
	}
	/* A queue slot whose state names a device other than the one whose
	 * range it is in: no shadow map is chosen for it, nothing is read or
	 * written (the per-device shadow maps rest on this). */
	if (vrm_subtest("queue_outside_its_device_refused")) {
		struct bfx f, other;
		uint32_t chains;

		if (!bpf())
			return;
		bfx_setup(&f, 1, 8, 0);
		bfx_setup(&other, 2, 8, 0);	/* device 2 active too */
		f.q->dev = 2;
		tr_add_chain(&f.t, 1, 0, 8);
		tr_publish(&f.t);
		VRM_EQ(bkick(&f, &chains), VRM_BAD_CONFIG);
		VRM_EQ(chains, 0);
		VRM_EQ(f.q->last_avail, 0);
		VRM_EQ(tr_le(&f.sh->avail.idx, 2), 0);
		VRM_EQ(tr_le(&other.sh->avail.idx, 2), 0);
		f.q->dev = 1;
		VRM_EQ(bkick(&f, &chains), VRM_OK);	/* and it was only that */
		VRM_EQ(chains, 1);
		bfx_fini(&other);
		bfx_fini(&f);
	}
	if (vrm_subtest("foreign_tgid_reads_nothing")) {
		struct bfx f;
		struct vrm_qstats st;
		uint32_t chains;

		if (!bpf())
			return;
		bfx_setup(&f, 1, 8, 1);
		f.dev->tgid = 1;	/* init is not our VMM */
		tr_add_chain(&f.t, 1, 0, 8);
		tr_publish(&f.t);
		VRM_EQ(bkick(&f, &chains), VRM_OK);
		VRM_EQ(chains, 0);
		VRM_EQ(f.q->last_avail, 0);
		VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
		VRM_EQ(st.foreign, 1);
		bfx_fini(&f);
	}
}

/* Every kick-side hostile class inside BPF: same verdict as the core tests,
 * device broken, counter up, neighbour device unaffected.  A faulting ring
 * is handed to the daemon (VRM_DEFER) and the daemon's userspace pass gives
 * the verdict. */
VRM_TEST(bpf_hostile)
{
	for (unsigned i = 0; i < N_HOSTILES; i++) {
		for (int be = 0; be <= 1; be++) {
			const struct hostile *h = &hostiles[i];
			struct bfx f, other;
			struct vrm_qstats st;
			uint32_t chains, v;

			if (h->used_side)
				continue;	/* the used path is userspace only */
			if (!vrm_subtest("%s_%s", h->name, order_name(be)) || !bpf())
				continue;
			bfx_setup(&f, 2, 16, be);
			bfx_setup(&other, 3, 16, !be);
			tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), VRM_OK);
			h->make(&(struct hctx){ &f.t, f.q, f.sh });
			v = bkick(&f, &chains);
			if (h->verdict == VRM_RING_FAULT) {
				struct vrm_ux_queue rq = { f.dev, f.q, f.sh, vrm_ux_scratch_new(),
							   &(struct vrm_qstats){ 0 } };

				VRM_EQ(v, VRM_DEFER);
				VRM_EQ(f.q->deferred, 1);
				VRM_EQ(f.dev->broken, 0);
				VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
				VRM_EQ(st.deferred, 1);
				VRM_TRUE(st.read_faults >= 1);
				v = vrm_ux_kick(&rq, &chains);	/* the daemon's pass */
				vrm_ux_scratch_free(rq.scr);
			} else {
				VRM_EQ(vrm_bpf_read_stats(&B, f.qslot, &st), 0);
				VRM_EQ(st.errors[h->verdict], 1);
			}
			VRM_CHECK(v == h->verdict, "verdict: expected %s, got %s",
				 vrm_verdict_name(h->verdict), vrm_verdict_name(v));
			VRM_EQ(f.dev->broken, h->verdict);
			VRM_EQ(tr_le(&f.sh->avail.idx, 2), 1);
			tr_add_chain(&f.t, 1, 0, 8);
			tr_publish(&f.t);
			VRM_EQ(bkick(&f, &chains), h->verdict);
			VRM_EQ(chains, 0);
			tr_add_chain(&other.t, 2, 1, 8);
			tr_publish(&other.t);
			VRM_EQ(bkick(&other, &chains), VRM_OK);
			VRM_EQ(chains, 1);
			VRM_EQ(other.dev->broken, 0);
			bfx_fini(&other);
			bfx_fini(&f);
		}
	}
}

static uint32_t bk_kick_bpf(void *ctx, uint32_t *chains)
{
	return bkick(ctx, chains);
}

/* backend.h with the kick in BPF: what BPF recorded at kick time is what
 * the daemon's used path goes by. */
VRM_TEST(bpf_hostile_backend)
{
	for (int be = 0; be <= 1; be++) {
		struct bfx f;
		struct bk b;

		if (vrm_subtest("rx_header_address_rewritten_%s", order_name(be)) && bpf()) {
			bfx_setup(&f, 2, 16, be);
			b = (struct bk){ &f.t, f.dev, f.q, f.sh, bk_kick_bpf, &f, 0 };
			bk_rx_redirect(&b);
			bfx_fini(&f);
		}
		for (int over = -1; over < BK_NCHAINS; over++) {
			if (!vrm_subtest("used_len_%s%d_%s", over < 0 ? "all_within" : "over_at_",
					over < 0 ? BK_NCHAINS : over, order_name(be)) || !bpf())
				continue;
			bfx_setup(&f, 2, 32, be);
			b = (struct bk){ &f.t, f.dev, f.q, f.sh, bk_kick_bpf, &f, 0 };
			bk_used_len(&b, over);
			bfx_fini(&f);
		}
	}
}

static int count_deferred(void *ctx, void *data, size_t len)
{
	const struct vrm_defer_event *ev = data;
	unsigned *per_queue = ctx;

	if (len >= sizeof(*ev) && ev->queue < VRM_MAX_QUEUES)
		per_queue[ev->queue]++;
	return 0;
}

/* vrm_deferred is one ring buffer for every device: a queue whose kicks BPF
 * cannot finish (its ring faults) and whose guest kicks on and on has one
 * record pending at most, so another device's deferral still gets through;
 * once the daemon took the queue (cleared its flag), the next deferral is
 * told again. */
VRM_TEST(bpf_deferred)
{
	const int flood = 3000;	/* a ring buffer's worth several times over */
	unsigned seen[VRM_MAX_QUEUES];
	struct ring_buffer *rb;
	struct bfx a, other;
	uint32_t chains;
	int v = VRM_DEFER;

	if (!vrm_subtest("flood_leaves_one_record") || !bpf())
		return;
	rb = ring_buffer__new(bpf_map__fd(B.skel->maps.vrm_deferred), count_deferred, seen, NULL);
	if (!VRM_TRUE(rb != NULL))
		return;
	ring_buffer__consume(rb);	/* earlier tests' */
	memset(seen, 0, sizeof(seen));
	bfx_setup(&a, 2, 16, 1);
	bfx_setup(&other, 3, 16, 0);
	a.q->avail_va = other.q->avail_va = 0x1000;	/* not guest memory: faults */
	for (int i = 0; i < flood && v == VRM_DEFER; i++)
		v = bkick(&a, &chains);
	VRM_EQ(v, VRM_DEFER);
	VRM_EQ(a.q->deferred, 1);
	VRM_EQ(bkick(&other, &chains), VRM_DEFER);
	ring_buffer__consume(rb);
	VRM_EQ(seen[a.qslot], 1);
	VRM_EQ(seen[other.qslot], 1);
	/* The daemon clears the flag before it translates: the next
	 * deferral is a new notice. */
	__sync_lock_test_and_set(&a.q->deferred, 0);
	VRM_EQ(bkick(&a, &chains), VRM_DEFER);
	VRM_EQ(bkick(&a, &chains), VRM_DEFER);
	ring_buffer__consume(rb);
	VRM_EQ(seen[a.qslot], 2);
	VRM_EQ(seen[other.qslot], 1);
	ring_buffer__free(rb);
	bfx_fini(&other);
	bfx_fini(&a);
}

static uint32_t race_kick_bpf(void *ctx)
{
	uint32_t chains;

	return bkick(ctx, &chains);
}

VRM_TEST(bpf_guest_rewrites_while_read)
{
	struct bfx f;
	long n[3], flips;

	if (!vrm_subtest("copy_once") || !bpf())
		return;
	bfx_setup(&f, 5, 8, 1);
	flips = race_copy_once(&f.t, f.dev, f.q, f.sh, 5, race_kick_bpf, &f, 20000, n);
	race_copy_once_verify(" (BPF)", flips, n);
	bfx_fini(&f);
}

static uint32_t storm_kick_bpf(void *ctx, uint32_t *chains)
{
	return bkick(ctx, chains);
}

/* The concurrency case in the kernel: 1e6 kicks of the BPF program
 * against a guest thread rewriting its ring.  The queue next to it (its
 * shadow ring and state, filled with a pattern) must not change by a byte. */
VRM_TEST(bpf_guest_storm)
{
	const uint32_t slot = 6, qs = VRM_QSLOT(slot, 0), canary = VRM_QSLOT(7, 0);
	const long kicks = 1000000;
	struct storm_result res;
	struct vrm_qstats st;
	struct bfx f;
	bool intact = true;

	if (!vrm_subtest("rewrites_during_1e6_kicks") || !bpf())
		return;
	memset(&f, 0, sizeof(f));
	if (!VRM_EQ(storm_mem(&f.t, 16, 1, 1 << 20), 0))
		return;
	f.slot = slot;
	f.qslot = qs;
	f.dev = &B.devices[slot];
	f.q = &B.queues[qs];
	f.sh = &B.shadow[qs];
	tr_device(&f.t, f.dev, getpid());
	f.dev->first_queue = qs;
	vrm_ux_shadow_reset(f.sh);
	vrm_bpf_clear_stats(&B, qs);
	memset(&B.shadow[canary], 0xa5, sizeof(B.shadow[canary]));
	memset(&B.queues[canary], 0x5a, sizeof(B.queues[canary]));

	VRM_EQ(race_storm(&f.t, f.dev, f.q, f.sh, slot, storm_kick_bpf, &f, kicks, &res), 0);
	race_storm_verify(" (BPF)", &res, kicks);
	/* No read strayed outside guest memory (the guard pages would fault). */
	if (VRM_EQ(vrm_bpf_read_stats(&B, qs, &st), 0)) {
		VRM_EQ(st.read_faults, 0);
		VRM_EQ(st.kicks, (uint64_t)kicks);
	}
	for (size_t i = 0; i < sizeof(B.shadow[canary]); i++)
		intact &= ((uint8_t *)&B.shadow[canary])[i] == 0xa5;
	for (size_t i = 0; i < sizeof(B.queues[canary]); i++)
		intact &= ((uint8_t *)&B.queues[canary])[i] == 0x5a;
	VRM_CHECK(intact, "the neighbouring queue's shadow ring or state changed");
	memset(&B.queues[canary], 0, sizeof(B.queues[canary]));
	f.dev->flags = 0;
	f.q->flags = 0;
	storm_mem_free(&f.t);
}

/* ---- differential: BPF vs the userspace reference on generated rings ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return n ? (uint32_t)(rng_state % n) : 0;
}

struct diff_side {
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
};

static bool diff_equal(const struct diff_side *a, const struct diff_side *b, uint16_t size,
		       char *why, size_t why_len)
{
	if (a->dev->broken != b->dev->broken)
		return snprintf(why, why_len, "broken %s vs %s", vrm_verdict_name(a->dev->broken),
				vrm_verdict_name(b->dev->broken)), false;
	if (a->q->last_avail != b->q->last_avail)
		return snprintf(why, why_len, "last_avail %u vs %u", a->q->last_avail,
				b->q->last_avail), false;
	if (memcmp(a->sh->desc, b->sh->desc, 16u * size))
		return snprintf(why, why_len, "shadow descriptors differ"), false;
	if (a->sh->avail.idx != b->sh->avail.idx ||
	    memcmp(a->sh->avail.ring, b->sh->avail.ring, 2u * size))
		return snprintf(why, why_len, "shadow avail ring differs"), false;
	if (memcmp(a->q->desc_state, b->q->desc_state, 4u * size))
		return snprintf(why, why_len, "descriptor ownership differs"), false;
	if (memcmp(a->sh->hdr, b->sh->hdr, sizeof(a->sh->hdr[0]) * size))
		return snprintf(why, why_len, "shadow net header slots differ"), false;
	if (memcmp(a->q->rx_hdr, b->q->rx_hdr, sizeof(a->q->rx_hdr[0]) * size))
		return snprintf(why, why_len, "RX header addresses differ"), false;
	if (memcmp(a->q->offered, b->q->offered, sizeof(a->q->offered[0]) * size))
		return snprintf(why, why_len, "bytes offered per chain differ"), false;
	return true;
}

/* One generated ring: random size, order, start index (so u16 wrap is
 * common), descriptors handed out up, down (Linux's free list once the ring
 * has gone round) or shuffled (completions out of order), chains of 1-5
 * descriptors over 1-3 kicks, guest memory in one region or two, and in a
 * third of the rings a hostile class or random garbage in the last kick. */
static bool diff_one(struct tr_ring *t, struct diff_side *ref, struct diff_side *bpfs,
		     struct vrm_scratch *scr, uint32_t slot, char *why, size_t why_len)
{
	static const uint16_t sizes[] = { 2, 4, 8, 16, 32, 64, 128, 256, 1024 };
	uint16_t size = sizes[rnd(9)];
	uint16_t start = (uint16_t)rnd(65536);
	int be = rnd(2), kicks = 1 + rnd(3), hostile = rnd(3) == 0;
	/* A quarter of the rings are virtio-net queues whose headers need the
	 * mediator: TX or RX header slots, 10- or 12-byte legacy headers, or
	 * mergeable RX buffers with the header in place. */
	int net = rnd(4) ? VRM_NET_NONE : (int[]){ VRM_NET_TX_SLOT, VRM_NET_RX_SLOT, VRM_NET_RX_INPLACE }[rnd(3)];
	int hlen = net == VRM_NET_RX_INPLACE ? 12 : net == VRM_NET_RX_SLOT || rnd(2) ? 10 : 12;
	struct vrm_qstats rst = { 0 };
	struct vrm_ux_queue rq = { ref->dev, ref->q, ref->sh, scr, &rst };
	uint32_t descs_left;

	t->size = size;
	t->big_endian = be;
	t->avail_idx = start;
	t->next_desc = (uint16_t)rnd(size);
	t->perm = NULL;
	if (rnd(3)) {
		static uint16_t perm[VRM_MAX_RING];
		int down = rnd(2);

		for (uint16_t i = 0; i < size; i++)
			perm[i] = down ? (uint16_t)(size - 1 - i) : i;
		for (uint16_t i = size; !down && i > 1; i--) {
			uint16_t j = (uint16_t)rnd(i), tmp = perm[i - 1];

			perm[i - 1] = perm[j];
			perm[j] = tmp;
		}
		t->perm = perm;
	}
	t->data_gpa = vrm_align_up(t->ring_gpa + vrm_legacy_ring_bytes(size), 4096);
	memset(t->mem + t->ring_gpa, 0, vrm_legacy_ring_bytes(size));
	descs_left = size;

	tr_device(t, ref->dev, getpid());
	if (!rnd(4)) {
		/* Guest memory in two regions, split somewhere among the
		 * buffers: chains across the split, buffers across it. */
		uint64_t split = t->data_gpa + 64ull * rnd(size) + rnd(2) * 32;
		struct vrm_region *r = ref->dev->regions;

		ref->dev->nregions = 2;
		r[1] = r[0];
		r[0].size = split;
		r[1].gpa = split;
		r[1].size -= split;
		r[1].vmm_va += split;
		r[1].mediator_va += split;
	}
	*bpfs->dev = *ref->dev;
	bpfs->dev->first_queue = VRM_QSLOT(slot, 0);
	for (int s = 0; s < 2; s++) {
		struct diff_side *d = s ? bpfs : ref;

		vrm_ux_queue_setup(d->q, slot, size, tr_va(t, t->ring_gpa),
				   tr_va(t, tr_avail_gpa(t)), tr_va(t, tr_used_gpa(t)));
		d->q->flags = VRM_QF_ENABLED;
		d->q->last_avail = start;
		d->q->max_chain = 1 + rnd(size);
		d->q->net_mode = (uint8_t)net;
		d->q->net_hdr_len = (uint8_t)hlen;
		d->q->hdr_gpa = 0x700000000ull + 0x10000ull * slot;
		memset(d->q->rx_hdr, 0, sizeof(d->q->rx_hdr));
		memset(d->q->offered, 0, sizeof(d->q->offered));
		memset(d->sh->hdr, 0, sizeof(d->sh->hdr));
		memset(d->sh->desc, 0, 16u * size);
		memset(&d->sh->avail, 0, 4 + 2u * size);
	}
	bpfs->q->max_chain = ref->q->max_chain;

	for (int k = 0; k < kicks; k++) {
		uint32_t chains = 1 + rnd(size), rc, bc;
		uint32_t rv, bv;
		struct vrm_test_args a;

		for (uint32_t c = 0; c < chains; c++) {
			int n = 1 + rnd(VRM_FAST_CHAIN + 1);	/* one longer than the fast path takes */

			int nw = rnd(n + 1);
			uint16_t head;

			if ((uint32_t)n > descs_left)
				break;
			/* Mostly well-formed net chains, so both sides convert. */
			if (net == VRM_NET_TX_SLOT && rnd(8))
				nw = 0;
			if ((net == VRM_NET_RX_SLOT || net == VRM_NET_RX_INPLACE) && rnd(8))
				nw = n;
			head = tr_add_chain(t, n, nw, 1 + rnd(9000));
			if (net && rnd(8))
				tr_put(t, tr_desc_gpa(t, head) + 8, (uint64_t)hlen, 4);
			for (int b = 0; net == VRM_NET_TX_SLOT && b < 12; b++)
				t->mem[t->data_gpa + 64ull * head + b] = (uint8_t)rnd(256);
			descs_left -= n;
		}
		if (hostile && k == kicks - 1) {
			if (rnd(4) == 0) {
				/* Random garbage in a random descriptor. */
				uint64_t g = tr_desc_gpa(t, rnd(size));

				for (int b = 0; b < 16; b++)
					t->mem[g + b] = (uint8_t)rnd(256);
			} else {
				const struct hostile *h;

				do
					h = &hostiles[rnd(N_HOSTILES)];
				while (h->used_side);
				h->make(&(struct hctx){ t, ref->q, ref->sh });
				bpfs->q->max_chain = ref->q->max_chain;
				bpfs->q->avail_va = ref->q->avail_va;
				bpfs->q->net_mode = ref->q->net_mode;
				bpfs->q->net_hdr_len = ref->q->net_hdr_len;
			}
		}
		tr_publish(t);
		rv = vrm_ux_kick(&rq, &rc);
		if (vrm_bpf_test_kick(&B, VRM_QSLOT(slot, 0), &a))
			return snprintf(why, why_len, "test run failed: %s", strerror(errno)), false;
		bv = a.verdict;
		bc = a.chains;
		if (bv == VRM_DEFER) {
			/* What the daemon does with a deferred kick. */
			struct vrm_qstats dst = { 0 };
			struct vrm_ux_queue dq = { bpfs->dev, bpfs->q, bpfs->sh, scr, &dst };
			uint32_t more;

			bpfs->q->deferred = 0;
			bv = vrm_ux_kick(&dq, &more);
			bc += more;
		}
		if (rv != bv || rc != bc)
			return snprintf(why, why_len, "kick %d: verdict %s/%u vs %s/%u (size %u, %s)",
					k, vrm_verdict_name(rv), rc, vrm_verdict_name(bv), bc, size,
					be ? "be" : "le"), false;
		if (!diff_equal(ref, bpfs, size, why, why_len))
			return false;
		if (rv != VRM_OK)
			break;
	}
	return true;
}

VRM_TEST(differential)
{
	const uint32_t slot = 4;
	long rings = getenv("VRM_DIFF_RINGS") ? atol(getenv("VRM_DIFF_RINGS")) : 100000;
	long mismatches = 0, broken = 0;
	struct tr_ring t;
	struct vrm_device rdev;
	struct vrm_queue *rq;
	struct vrm_shadow_queue *rsh;
	struct vrm_scratch *scr;
	struct diff_side ref, bs;
	char why[160];

	if (!vrm_subtest("bpf_equals_reference") || !bpf())
		return;
	if (tr_init(&t, 1024, 0, 1 << 20))
		abort();
	rq = calloc(1, sizeof(*rq));
	rsh = aligned_alloc(4096, sizeof(*rsh));
	scr = vrm_ux_scratch_new();
	ref = (struct diff_side){ &rdev, rq, rsh };
	bs = (struct diff_side){ &B.devices[slot], &B.queues[VRM_QSLOT(slot, 0)],
				 &B.shadow[VRM_QSLOT(slot, 0)] };
	for (long r = 0; r < rings; r++) {
		if (!diff_one(&t, &ref, &bs, scr, slot, why, sizeof(why))) {
			if (mismatches++ < 5)
				printf("      ring %ld: %s\n", r, why);
		}
		broken += rdev.broken != 0;
	}
	printf("differential: %ld rings, %ld mismatches (%ld ended broken)\n", rings, mismatches,
	       broken);
	VRM_EQ(mismatches, 0);
	VRM_TRUE(rings >= 100000 || getenv("VRM_DIFF_RINGS"));
	VRM_TRUE(broken > rings / 10);	/* the hostile share really ran */
	B.devices[slot].flags = 0;
	B.queues[VRM_QSLOT(slot, 0)].flags = 0;
	vrm_ux_scratch_free(scr);
	free(rsh);
	free(rq);
	tr_free(&t);
}

/* One kick of n chains: the backend woke to exactly the new chains, all
 * intact. */
static void kick_ok(struct rig *r, unsigned n)
{
	unsigned kicked, seen;
	int bad;

	if (!VRM_CHECK(rig_kick(r, n, &kicked, &seen, &bad) == 0, "%s: driver or backend died",
		      r->name))
		return;
	VRM_EQ(kicked, r->expect_idx);
	VRM_EQ(seen, r->expect_idx);
	VRM_EQ(bad, 0);
}

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

/* ---- vringmedd: pins, adoption after a crash, clean exit ---- */

static pid_t daemon_start(const char *root, FILE **out)
{
	int p[2];
	pid_t pid;
	char line[128];

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(".output/vringmedd", "vringmedd", "-q", "-c", "none", "-m", "none", "-p", root,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out = fdopen(p[0], "r");
	if (!fgets(line, sizeof(line), *out) || strncmp(line, "vringmedd ready", 15)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fclose(*out);
		return -1;
	}
	return pid;
}

static void daemon_reap(pid_t pid, FILE *out, int sig, int *status)
{
	kill(pid, sig);
	waitpid(pid, status, 0);
	fclose(out);
}

VRM_TEST(daemon)
{
	char root[96], link[160];
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true };
	struct rig r = { .name = "native", .big_endian = 0, .slot = 12 };
	struct vrm_qstats st1, st2;
	FILE *out;
	pid_t pid;
	int status = -1;

	if (!vrm_subtest("crash_adopt_clean_exit") || !bpf())
		return;
	snprintf(root, sizeof(root), "/sys/fs/bpf/vringmed-test-%d", (int)getpid());
	snprintf(link, sizeof(link), "%s/link_vrm_tp_write", root);
	pid = daemon_start(root, &out);
	if (!VRM_TRUE(pid > 0))
		return;
	VRM_TRUE(access(link, F_OK) == 0);
	/* This process adopts the daemon's pinned maps and links, as a second
	 * tool (vringmedctl) or a restarted daemon would. */
	o.pin_root = root;
	if (!VRM_EQ(vrm_bpf_load(&T, &o), 0)) {
		daemon_reap(pid, out, SIGTERM, &status);
		return;
	}
	VRM_TRUE(T.adopted);
	if (VRM_EQ(rig_start(&T, &r), 0)) {
		kick_ok(&r, 3);
		/* A crash leaves everything pinned and translating. */
		daemon_reap(pid, out, SIGKILL, &status);
		VRM_TRUE(access(link, F_OK) == 0);
		VRM_EQ(vrm_bpf_read_stats(&T, r.qslot, &st1), 0);
		kick_ok(&r, 4);
		VRM_EQ(vrm_bpf_read_stats(&T, r.qslot, &st2), 0);
		VRM_EQ(st2.chains, st1.chains + 4);
		/* The restarted daemon adopts; counters carry on. */
		pid = daemon_start(root, &out);
		if (VRM_TRUE(pid > 0)) {
			kick_ok(&r, 5);
			VRM_EQ(vrm_bpf_read_stats(&T, r.qslot, &st1), 0);
			VRM_EQ(st1.chains, 12);
			VRM_EQ(st1.kicks, 3);
			daemon_reap(pid, out, SIGTERM, &status);
			VRM_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			VRM_TRUE(access(root, F_OK) != 0);	/* a clean exit unpins all */
		}
	} else {
		daemon_reap(pid, out, SIGTERM, &status);
	}
	rig_stop(&T, &r);
	vrm_bpf_close(&T);
}

/* The link id pinned at `path`, or 0. */
static __u32 pinned_link_id(const char *path)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

/* The pins a daemon leaves when killed (-9), under a root of this test's
 * own, minus map `map_name`'s pin (NULL: all there).  Paths go to root, link (the write()
 * hook's) and map; returns that link's id, or 0. */
struct crashed_pins {
	char root[96], link[160], map[160];
};

static __u32 crashed_pins(struct crashed_pins *c, const char *tag, const char *map_name)
{
	FILE *out;
	pid_t pid;
	int status = -1;
	__u32 id;

	snprintf(c->root, sizeof(c->root), "/sys/fs/bpf/vringmed-test-%s-%d", tag, (int)getpid());
	snprintf(c->link, sizeof(c->link), "%s/link_vrm_tp_write", c->root);
	snprintf(c->map, sizeof(c->map), "%s/%s", c->root, map_name ? map_name : "");
	pid = daemon_start(c->root, &out);
	if (!VRM_TRUE(pid > 0))
		return 0;
	daemon_reap(pid, out, SIGKILL, &status);
	id = pinned_link_id(c->link);
	VRM_TRUE(id != 0);
	if (map_name)
		VRM_EQ(unlink(c->map), 0);
	return id;
}

/* After an upgrade over another build's pins: kicks reach this build's
 * shadow rings, and a clean stop removes every pin and the root. */
static void after_upgrade(struct vrm_bpf *T, const struct crashed_pins *c)
{
	struct rig r = { .name = "native", .big_endian = 0, .slot = 12 };

	if (VRM_EQ(rig_start(T, &r), 0))
		kick_ok(&r, 3);
	rig_stop(T, &r);
	vrm_bpf_unpin(T);
	vrm_bpf_close(T);
	VRM_TRUE(access(c->root, F_OK) != 0);
}

/* A pin root left by another build (here: one without vrm_shadows, as every
 * build before per-device shadow maps): its programs would go on filling
 * rings this build never hands out, so their links are replaced, not
 * adopted, and kicks are translated into this build's maps. */
VRM_TEST(daemon_upgrade)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char cmd[320];
	__u32 old_id, new_id;

	if (!vrm_subtest("links_of_another_build_replaced") || !bpf())
		return;
	old_id = crashed_pins(&c, "up", VRM_MAP_SHADOW);
	if (!old_id)
		return;
	/* The map the old build had in its place. */
	snprintf(cmd, sizeof(cmd), "bpftool map create %s/vrm_shadow type array key 4 value 8 "
		 "entries 4 name vrm_shadow", c.root);
	VRM_EQ(system(cmd), 0);
	if (!VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	snprintf(cmd, sizeof(cmd), "%s/vrm_shadow", c.root);
	VRM_TRUE(access(cmd, F_OK) != 0);	/* unpinned: a clean stop can rmdir */
	VRM_TRUE(T.stale_links);
	VRM_TRUE(!T.links_only);
	new_id = pinned_link_id(c.link);
	VRM_TRUE(new_id != 0 && new_id != old_id);
	VRM_TRUE(access(c.map, F_OK) == 0);
	after_upgrade(&T, &c);
}

/* A link to a program this build does not have (a hook a later build
 * dropped or renamed): another build's, detached, and the kicks go through
 * this build's program. */
VRM_TEST(daemon_upgrade_foreign_link)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char foreign[200];
	__u32 old_id;

	if (!vrm_subtest("link_of_unknown_program_detached") || !bpf())
		return;
	old_id = crashed_pins(&c, "fl", NULL);
	if (!old_id)
		return;
	snprintf(foreign, sizeof(foreign), "%s/link_vrm_old_hook", c.root);
	if (!VRM_EQ(rename(c.link, foreign), 0) || !VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	VRM_TRUE(T.stale_links);
	VRM_TRUE(access(foreign, F_OK) != 0);
	VRM_TRUE(bpf_link_get_fd_by_id(old_id) < 0);	/* gone, not just unpinned */
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	after_upgrade(&T, &c);
}

/* Pins, where map `name` of the crashed daemon was, an empty map of another
 * layout (8-byte values): what an older or newer build would have left. */
static bool pin_other_layout(const struct crashed_pins *c, const char *name)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "bpftool map create %s type array key 4 value 8 entries 4 name %s",
		 c->map, name);
	return VRM_EQ(system(cmd), 0);
}

/* The per-kick scratch of another layout (VRM_WIN grew with the window
 * policy): it holds nothing between kicks, so it is replaced, with the
 * links of the programs that used it, and the daemon starts. */
VRM_TEST(daemon_upgrade_scratch)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), old_id;
	int fd;

	if (!vrm_subtest("scratch_of_another_layout_replaced") || !bpf())
		return;
	old_id = crashed_pins(&c, "scr", VRM_MAP_SCRATCH);
	if (!old_id)
		return;
	if (!pin_other_layout(&c, VRM_MAP_SCRATCH) || !VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	VRM_TRUE(T.stale_links);
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	fd = bpf_obj_get(c.map);
	if (VRM_TRUE(fd >= 0)) {
		VRM_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
		VRM_EQ(info.value_size, bpf_map__value_size(T.skel->maps.vrm_scratch));
		close(fd);
	}
	after_upgrade(&T, &c);
}

/* Pins at `c->root`/`name` a map of value size `value_size` (max_entries
 * and flags of this build's `m`) holding `value` at key `key`: what an
 * older build left. */
static bool pin_older(const struct crashed_pins *c, const struct bpf_map *m, __u32 value_size,
		      __u32 key, const void *value)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = bpf_map__map_flags(m));
	bool percpu = bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY;
	int ncpu = libbpf_num_possible_cpus(), fd;
	size_t per = (value_size + 7) & ~7u;
	char path[200];
	char *buf;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", c->root, bpf_map__name(m));
	unlink(path);
	fd = bpf_map_create(bpf_map__type(m), bpf_map__name(m), 4, value_size,
			    bpf_map__max_entries(m), &o);
	if (!VRM_TRUE(fd >= 0))
		return false;
	buf = calloc(percpu ? ncpu : 1, per);
	for (int cpu = 0; cpu < (percpu ? ncpu : 1); cpu++)
		memcpy(buf + cpu * per, value, value_size);
	ok = VRM_EQ(bpf_map_update_elem(fd, &key, buf, BPF_ANY), 0) && VRM_EQ(bpf_obj_pin(fd, path), 0);
	free(buf);
	close(fd);
	return ok;
}

/* The maps that hold state, in the layout of the build before this one
 * (vrm_queues without offered[], counters of one verdict fewer): this build
 * takes their state over, replaces the links of the programs that used
 * them, and runs. */
VRM_TEST(daemon_upgrade_carries_state)
{
	const __u32 old_nr = VRM_VERDICT_NR - 1, key = VRM_QSLOT(12, 1);
	const size_t head = offsetof(struct vrm_qstats, errors) / 8;
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	__u64 stats[sizeof(struct vrm_qstats) / 8] = { 0 };
	struct vrm_queue *q = calloc(1, sizeof(*q));
	struct vrm_qstats st;
	__u32 old_id;
	int ncpu = libbpf_num_possible_cpus();

	if (!vrm_subtest("queues_and_counters_of_the_older_layout") || !bpf())
		goto out;
	old_id = crashed_pins(&c, "carry", NULL);
	if (!old_id)
		goto out;
	q->size = 64;
	q->last_avail = 77;
	q->desc_state[3] = (struct vrm_desc_state){ 4, VRM_DESC_END };
	stats[0] = 11;				/* kicks */
	stats[head + VRM_NET_HDR] = 2;		/* the older build's last verdict */
	stats[head + old_nr + 1] = 3;		/* batch[1] */
	if (!pin_older(&c, B.skel->maps.vrm_queues, VRM_QUEUE_BYTES_NO_OFFERED, key, q) ||
	    !pin_older(&c, B.skel->maps.vrm_qstats, 8 * (head + old_nr + VRM_BATCH_BUCKETS), key,
		       stats) ||
	    !pin_older(&c, B.skel->maps.vrm_ustats, 8 * (head + old_nr + VRM_BATCH_BUCKETS), key,
		       stats) ||
	    !VRM_EQ(vrm_bpf_load(&T, &o), 0))
		goto out;
	VRM_TRUE(T.stale_links);
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	VRM_EQ(T.queues[key].last_avail, 77);
	VRM_EQ(T.queues[key].desc_state[3].owner, 4);
	VRM_EQ(T.queues[key].desc_state[3].next, VRM_DESC_END);
	VRM_EQ(T.queues[key].offered[3], 0);	/* unknown: the older build kept none */
	if (VRM_EQ(vrm_bpf_read_stats(&T, key, &st), 0)) {
		VRM_EQ(st.kicks, 11 * (ncpu + 1));	/* every CPU's and the daemon's */
		VRM_EQ(st.errors[VRM_NET_HDR], 2 * (ncpu + 1));
		VRM_EQ(st.errors[VRM_USED_LEN], 0);
		VRM_EQ(st.batch[1], 3 * (ncpu + 1));
	}
	/* Pinned again in this build's layout: a restart reuses them. */
	for (int i = 0; i < 3; i++) {
		const struct bpf_map *m = i == 0 ? T.skel->maps.vrm_queues :
					  i == 1 ? T.skel->maps.vrm_qstats : T.skel->maps.vrm_ustats;
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		char path[200];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", c.root, bpf_map__name(m));
		fd = bpf_obj_get(path);
		if (VRM_TRUE(fd >= 0)) {
			VRM_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
			VRM_EQ(info.value_size, bpf_map__value_size(m));
			close(fd);
		}
	}
	T.queues[key].flags = 0;
	vrm_bpf_clear_stats(&T, key);
	after_upgrade(&T, &c);
out:
	free(q);
}

/* A pin of a map that holds state, in a layout this build cannot reuse:
 * refused before anything is loaded or attached, the pins left as they
 * are for the operator. */
VRM_TEST(daemon_incompatible_pins)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char cmd[320];
	__u32 old_id;

	if (!vrm_subtest("refused_before_anything_changes") || !bpf())
		return;
	old_id = crashed_pins(&c, "inc", VRM_MAP_QUEUES);
	if (!old_id)
		return;
	if (pin_other_layout(&c, VRM_MAP_QUEUES)) {
		VRM_EQ(vrm_bpf_load(&T, &o), -EEXIST);
		VRM_EQ(pinned_link_id(c.link), old_id);	/* untouched */
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c.root);
	VRM_EQ(system(cmd), 0);
}
