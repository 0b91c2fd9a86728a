// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kicks BPF cannot finish are handed to the daemon, one notice a queue. */
#include <string.h>
#include <bpf/libbpf.h>

#include "test.h"
#include "bfx.h"
#include "loader.h"
#include "vringmed.skel.h"
#include "bpf_test.h"

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

	if (!vrm_subtest("flood_leaves_one_record") || !bpf_tk())
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
