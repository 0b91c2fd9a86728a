// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Whether the guest wants its call (VRING_AVAIL_F_NO_INTERRUPT), raced
 * against the used path. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "test.h"
#include "fixture.h"
#include "core.h"

/*
 * The used path asks the guest's avail flags whether it wants its call
 * (vrm_guest_wants_call): in the guest's byte order, and after a full fence
 * that pairs with the guest's between clearing VRING_AVAIL_F_NO_INTERRUPT
 * and its last look at the used idx before it sleeps.
 */
static void gw_flags(struct fx *f, uint16_t v)
{
	__atomic_store_n((uint16_t *)(f->t.mem + tr_avail_gpa(&f->t)),
			 vrm_swab16_if(f->dev.order, v), __ATOMIC_RELAXED);
}

static uint16_t gw_used_idx(struct fx *f)
{
	return vrm_swab16_if(f->dev.order, __atomic_load_n((uint16_t *)(f->t.mem + tr_used_gpa(&f->t) + 2),
							  __ATOMIC_ACQUIRE));
}

/* The device side of the race: the back-end returns every chain it finds
 * in the shadow ring at once, then the used path runs and calls the guest
 * when it wants. */
struct gw {
	struct fx *f;
	atomic_int stop;
	atomic_ulong calls;
	pthread_t thread;
};

static void *gw_device(void *arg)
{
	struct gw *g = arg;
	struct fx *f = g->f;
	uint16_t seen = 0, used = 0;

	while (!atomic_load_explicit(&g->stop, memory_order_relaxed)) {
		uint16_t a = (uint16_t)tr_le(&f->sh->avail.idx, 2);
		uint32_t n;

		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (a == seen)
			continue;
		for (; seen != a; seen++)
			backend_use(f, &used, (uint32_t)tr_le(&f->sh->avail.ring[seen & (f->q->size - 1)], 2), 1);
		if (vrm_ux_complete(&f->rq, &n) != VRM_OK)
			break;
		if (n && vrm_ux_guest_wants_call(&f->rq))
			atomic_fetch_add(&g->calls, 1);
	}
	return NULL;
}

static uint64_t gw_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

VRM_TEST(guest_wants_call)
{
	for (int be = 0; be <= 1; be++) {
		struct fx f;
		uint32_t chains, ret;
		uint16_t used = 0;

		if (vrm_subtest("flag_in_guest_order_%s", order_name(be))) {
			fx_setup(&f, 8, be);
			tr_add_chain(&f.t, 1, 1, 8);
			tr_publish(&f.t);
			VRM_EQ(fx_kick(&f, &chains), VRM_OK);
			backend_use(&f, &used, 0, 8);
			VRM_EQ(vrm_ux_complete(&f.rq, &ret), VRM_OK);
			VRM_EQ(ret, 1);
			VRM_TRUE(vrm_ux_guest_wants_call(&f.rq));
			gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
			VRM_TRUE(!vrm_ux_guest_wants_call(&f.rq));
			/* Other bits are not the guest's "no": only bit 0 counts,
			 * in the guest's order (0x0100 is bit 8 in it). */
			gw_flags(&f, 0x0100);
			VRM_TRUE(vrm_ux_guest_wants_call(&f.rq));
			/* Flags it cannot read: the guest is told. */
			gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
			f.q->avail_va = tr_va(&f.t, f.t.mem_size + 4096);
			VRM_TRUE(vrm_ux_guest_wants_call(&f.rq));
			fx_fini(&f);
		}
	}
	/* The driver polls with NO_INTERRUPT set, then clears it, fences and
	 * looks at its used idx once more before it sleeps; it must never
	 * sleep through a completion the used path did not call it for. */
	for (int be = 0; be <= 1; be++) {
		enum { ROUNDS = 20000 };
		unsigned lost = 0, slept = 0, polled = 0, stuck = 0;
		struct gw g = { 0 };
		struct fx f;
		uint32_t chains;

		if (!vrm_subtest("no_lost_wakeup_%s", order_name(be)))
			continue;
		fx_setup(&f, 8, be);
		g.f = &f;
		gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
		if (!VRM_EQ(pthread_create(&g.thread, NULL, gw_device, &g), 0)) {
			fx_fini(&f);
			continue;
		}
		for (unsigned i = 0; i < ROUNDS && !stuck; i++) {
			unsigned long calls0;
			uint64_t t0;

			f.t.next_desc = f.t.avail_idx % 8;	/* one chain in flight */
			tr_add_chain(&f.t, 1, 1, 8);
			tr_publish(&f.t);
			if (!VRM_EQ(fx_kick(&f, &chains), VRM_OK))
				break;
			for (unsigned s = i % 97; s; s--)	/* poll for a varying while */
				__asm__ __volatile__("" ::: "memory");
			if (gw_used_idx(&f) == f.t.avail_idx) {
				polled++;
				continue;
			}
			calls0 = atomic_load(&g.calls);
			gw_flags(&f, 0);
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (gw_used_idx(&f) != f.t.avail_idx) {
				/* Asleep until called, 5 s at most. */
				slept++;
				t0 = gw_now_ms();
				while (atomic_load(&g.calls) == calls0) {
					if (gw_now_ms() - t0 > 5000) {
						if (gw_used_idx(&f) == f.t.avail_idx)
							lost++;	/* came back, no call */
						else
							stuck++;
						break;
					}
				}
			}
			/* Whatever woke it, the chain is back before the next. */
			t0 = gw_now_ms();
			while (gw_used_idx(&f) != f.t.avail_idx && gw_now_ms() - t0 < 5000)
				;
			gw_flags(&f, VRM_VRING_AVAIL_F_NO_INTERRUPT);
		}
		atomic_store(&g.stop, 1);
		pthread_join(g.thread, NULL);
		VRM_EQ(lost, 0);
		VRM_EQ(stuck, 0);
		VRM_EQ(f.dev.broken, 0);
		VRM_EQ(gw_used_idx(&f), f.t.avail_idx);
		if (vrm_test_verbose())
			printf("      %u rounds: %u found it polling, %u slept and were called, %lu calls\n",
			       ROUNDS, polled, slept, atomic_load(&g.calls));
		fx_fini(&f);
	}
}
