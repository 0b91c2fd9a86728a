// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A busy queue polled (upoll.h).  Idle, the device thread sleeps until the
 * back-end calls, and the guest's kicks run the BPF kick path.  Busy (the
 * back-end calls again soon after the thread went to sleep), the thread
 * stops sleeping: the guest's kicks and the back-end's calls are turned off,
 * and each turn of its loop translates what the guest posted, returns what
 * the back-end used, kicks the back-end when it asks for kicks and calls the
 * guest when it asks for calls.  After an idle spell both are turned on again,
 * each with the re-check that loses nothing, and the thread sleeps.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "proxy_int.h"

/* After `returned` entries went to the guest: its call, unless it asked not
 * to be told (it polls: NO_INTERRUPT, vrm_guest_wants_call). */
void vrp_tell_guest(struct vrm_proxy *p, unsigned i, uint32_t returned)
{
	struct vrm_ux_queue rq = vrp_rq(p, i);

	if (!returned)
		return;
	if (vrm_ux_guest_wants_call(&rq)) {
		vrp_signal_vmm(&p->q[i]);
		p->calls[i]++;
	} else if (p->guest_features & BIT(VU_F_EVENT_IDX)) {
		p->poll[i].eidx_calls_saved++;
	} else {
		p->calls_suppressed[i]++;
	}
}

/* How long a guest's used_event may stand still behind the used idx
 * before the device thread calls it anyway. */
#define VRP_CALL_LAG_MS		100

/*
 * Event idx, at every turn of the device thread: a guest whose used_event
 * stood still behind the used idx for VRP_CALL_LAG_MS is called.  Its
 * barrier between writing used_event and looking at the used idx once more
 * is what makes our decision safe, and a VMM may not make it one toward
 * another host thread (QEMU's TCG drops guest barriers with one vCPU); a
 * guest that lost that race sleeps with a used_event already passed, and
 * with event idx no later completion calls it again.  Seen as a receive
 * queue stalled for good.  A guest with its callbacks off leaves used_event
 * behind on purpose (Linux writes 0): it gets a spurious call each
 * VRP_CALL_LAG_MS, which costs it a look at its ring.
 */
void vrp_call_watch(struct vrm_proxy *p, unsigned i)
{
	struct vrm_ux_queue rq = vrp_rq(p, i);
	struct vrp_queue *vq = &p->q[i];
	uint64_t now;
	uint16_t ue;

	if (!vq->started || !(p->guest_features & BIT(VU_F_EVENT_IDX)) ||
	    vrm_ux_guest_used_event(&rq, &ue) || ue == VRM_READ_ONCE(rq.q->last_used)) {
		vq->used_event_since_ms = 0;
		return;
	}
	now = vrm_now_ms();
	if (!vq->used_event_since_ms || ue != vq->used_event_seen) {
		vq->used_event_seen = ue;
		vq->used_event_since_ms = now;
	} else if (now - vq->used_event_since_ms >= VRP_CALL_LAG_MS) {
		vrp_signal_vmm(vq);
		p->calls[i]++;
		vq->eidx_rescues++;
		vq->used_event_since_ms = now;
	}
}

/* What a turn did, told to the peers. */
void vrp_poll_tell(struct vrm_proxy *p, unsigned i, const struct vrm_ux_poll_turn *t)
{
	struct vrm_ux_queue rq = vrp_rq(p, i);

	if (t->chains && vrm_ux_backend_wants_kick(&rq))
		vrp_kick_backend(p, i);
	else if (t->chains && (rq.q->flags & VRM_QF_BE_EVENT_IDX))
		p->poll[i].eidx_be_kicks_saved++;
	vrp_tell_guest(p, i, t->returned);
	/* The daemon's scan logs the breakage once, whichever side found it. */
	if (t->verdict != VRM_OK)
		p->state = "broken";
}

static bool vrp_poll_turn_work(struct vrm_proxy *p, unsigned i, bool *work)
{
	struct vrm_ux_poll *pl = &p->poll[i];
	struct vrm_ux_queue rq = vrp_rq(p, i);
	struct vrm_ux_poll_turn t;
	bool on;

	*work = false;
	if (!p->q[i].started)
		return false;
	on = vrm_ux_poll_turn(&rq, pl, vrm_now_ns(), &t);
	vrp_poll_tell(p, i, &t);
	*work = t.chains || t.returned;
	if (!on)
		vrm_ux_poll_sleep(pl, vrm_now_ns());
	return on;
}

/* One turn of queue i's used path (and, polling, its kicks).  True while it
 * polls. */
bool vrp_poll_turn(struct vrm_proxy *p, unsigned i)
{
	bool work;

	return vrp_poll_turn_work(p, i, &work);
}

/* The back-end called: what adapts the budget, then a turn. */
void vrp_poll_on_call(struct vrm_proxy *p, unsigned i)
{
	vrm_ux_poll_woken(&p->poll[i], vrm_now_ns());
	vrp_poll_turn(p, i);
}

/* Queue i starts: not polled, with the guest's kicks and the back-end's
 * calls on, whatever a previous session (or a dead daemon, in the pinned
 * shadow ring) left; the counters go on. */
void vrp_poll_start(struct vrm_proxy *p, unsigned i)
{
	struct vrm_ux_poll *pl = &p->poll[i];
	struct vrm_ux_queue rq = vrp_rq(p, i);
	uint32_t chains;

	pl->max_ns = p->cfg.poll_us * 1000u;
	/* virtio-net: receive queues (even) post buffers, transmit queues
	 * (odd) frames; virtio-blk's request queues, requests. */
	pl->keep_kicks = vrp_is_blk(p) || !(i & 1);
	pl->on = false;
	pl->budget_ns = 0;
	pl->streak = 0;
	pl->slept_at = 0;
	vrm_ux_guest_kicks(&rq, true);
	vrm_ux_backend_calls(&rq, true, &chains);
	if (chains)
		vrp_kick_backend(p, i);
}

/* Queue i stops: polling ends, the guest's kicks and the back-end's calls
 * on again (what either ring still holds is the stop's business). */
void vrp_poll_end(struct vrm_proxy *p, unsigned i)
{
	struct vrm_ux_queue rq = vrp_rq(p, i);
	struct vrm_ux_poll_turn t;

	if (!p->poll[i].on)
		return;
	vrm_ux_poll_end(&rq, &p->poll[i], vrm_now_ns(), &t);
	vrp_poll_tell(p, i, &t);
}

bool vrm_proxy_polling(const struct vrm_proxy *p)
{
	for (unsigned i = 0; i < VRP_NQ; i++)
		if (p->poll[i].on)
			return true;
	return false;
}

bool vrm_proxy_watching(const struct vrm_proxy *p)
{
	for (unsigned i = 0; i < VRP_NQ; i++)
		if (p->q[i].started && (p->q[i].used_event_since_ms || p->q[i].lag_since_ms))
			return true;
	return false;
}

bool vrm_proxy_poll(struct vrm_proxy *p)
{
	bool any = false, work;

	for (unsigned i = 0; i < VRP_NQ; i++) {
		if (!p->poll[i].on)
			continue;
		vrp_poll_turn_work(p, i, &work);
		any |= work;
	}
	return any;
}
