// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Adaptive busy-polling of a queue by its mediator thread (upoll.h). */
#include "upoll.h"

#ifdef VRM_POLL_TEST
/* Tests: called where a polling period ends, before either notification is
 * turned back on; a pause there widens the race the re-checks close. */
void (*vrm_poll_race_hook)(void);
#define VRM_POLL_RACE_POINT()				\
	do {						\
		if (vrm_poll_race_hook)			\
			vrm_poll_race_hook();		\
	} while (0)
#else
#define VRM_POLL_RACE_POINT() do { } while (0)
#endif

void vrm_ux_poll_init(struct vrm_ux_poll *pl, __u32 max_ns)
{
	*pl = (struct vrm_ux_poll){ .max_ns = max_ns, .regrow = VRM_POLL_REGROW };
}

void vrm_ux_poll_sleep(struct vrm_ux_poll *pl, __u64 now_ns)
{
	pl->slept_at = now_ns ? now_ns : 1;
}

void vrm_ux_poll_woken(struct vrm_ux_poll *pl, __u64 now_ns)
{
	/* The sleep includes the wake-up itself (tens of microseconds on a
	 * loaded VM): a call within a few budgets of it is what polling
	 * would have caught. */
	bool soon = pl->slept_at && now_ns - pl->slept_at <= (__u64)VRM_POLL_GROW * pl->max_ns;

	pl->slept_at = 0;
	if (!soon || !pl->max_ns) {
		pl->streak = 0;
		return;
	}
	if (pl->budget_ns) {
		pl->budget_ns = pl->budget_ns >= pl->max_ns / 2 ? pl->max_ns : 2 * pl->budget_ns;
	} else if (++pl->streak >= pl->regrow) {
		pl->budget_ns = VRM_POLL_START_NS < pl->max_ns ? VRM_POLL_START_NS : pl->max_ns;
		pl->streak = 0;
	}
}

void vrm_ux_poll_ended(struct vrm_ux_poll *pl)
{
	if (pl->caught) {
		pl->regrow = VRM_POLL_REGROW;
	} else if (pl->budget_ns < pl->max_ns) {
		/* Nothing came within a budget short of the longest: the next
		 * period waits twice as long before it gives up.  A peer that
		 * posts only after its own wake-up, on another CPU, takes tens
		 * of microseconds, more than a first budget. */
		pl->budget_ns = 2 * pl->budget_ns < pl->max_ns ? 2 * pl->budget_ns : pl->max_ns;
	} else {
		/* Nothing came in the longest idle spell either: off, and the
		 * next try waits twice as long (a ping-pong whose peer waits
		 * for this thread to sleep is never worth polling). */
		pl->budget_ns = 0;
		pl->streak = 0;
		if (pl->regrow < VRM_POLL_REGROW_MAX)
			pl->regrow *= 2;
	}
}

/* The guest's new entries, if any, into the shadow ring.  Its avail idx is
 * looked at first: a kick round of the daemon copies its journal even when
 * there is nothing to translate.
 *
 * A back-end that sleeps (it asks for kicks) takes long to wake: on a KVM
 * guest an idle vCPU's wake-up is tens of microseconds, longer than
 * translating a ring's worth.  So when it asks for a kick and more than
 * VRM_POLL_FIRST chains wait, the turn publishes only the first
 * VRM_POLL_FIRST and returns: the caller kicks, and the back-end wakes
 * while the next turn translates the rest (pl->first_out).  The back-end
 * finds the rest at its first look, or at the last look it takes before it
 * sleeps; if it slept before the rest was published, it asks for a kick
 * again and the caller gives it one. */
static void vrm_poll_translate(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl,
			       struct vrm_ux_poll_turn *t)
{
	__u16 idx, limit = 0;
	__u32 chains = 0, v;

	if (vrm_ux_guest_avail(rq, &idx) || idx == VRM_READ_ONCE(rq->q->last_avail))
		return;
	if (!pl->first_out && (__u16)(idx - rq->q->last_avail) > VRM_POLL_FIRST &&
	    vrm_ux_backend_asleep(rq))
		limit = VRM_POLL_FIRST;
	pl->first_out = limit != 0;
	pl->firsts += pl->first_out;
	v = vrm_ux_kick_some(rq, limit, &chains);
	if (v != VRM_OK && v != VRM_DEFER && t->verdict == VRM_OK)
		t->verdict = v;
	t->chains += chains;
	pl->chains += chains;
}

void vrm_ux_poll_rearm(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, struct vrm_ux_poll_turn *t)
{
	for (unsigned r = 0; r < VRM_MAX_RING && t->verdict == VRM_OK; r++) {
		__u32 returned = 0, chains = 0, found = 0, v = VRM_OK;
		bool more = vrm_ux_backend_calls_rearm(rq);

		if (more)
			v = vrm_ux_complete(rq, &returned);
		if (v == VRM_OK)
			v = vrm_ux_guest_rearm(rq, &chains, &found);
		if (v != VRM_OK && v != VRM_DEFER)
			t->verdict = v;
		t->returned += returned;
		t->chains += chains;
		pl->eidx_kicks_saved += found;
		if (!more && !found)
			break;
	}
}

/* Busy: the guest's kicks and the back-end's calls off; from here on this
 * thread translates what the guest posts and returns what the back-end
 * used. */
static void vrm_poll_begin(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, __u64 now_ns,
			   struct vrm_ux_poll_turn *t)
{
	__u32 chains;

	if (!pl->keep_kicks)
		vrm_ux_guest_kicks(rq, false);
	vrm_ux_backend_calls(rq, false, &chains);
	t->chains += chains;
	pl->chains += chains;
	pl->on = true;
	pl->since = pl->idle_since = now_ns;
}

/* Both on again, each with its re-check: true when either found work no
 * notification will come for. */
static bool vrm_poll_stop(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, __u64 now_ns,
			  struct vrm_ux_poll_turn *t)
{
	__u32 chains = 0;
	bool pending;

	pl->on = false;
	pl->poll_ns += now_ns - pl->since;
	VRM_POLL_RACE_POINT();
	pending = vrm_ux_guest_kicks(rq, true);
	pending |= vrm_ux_backend_calls(rq, true, &chains);
	t->chains += chains;
	return pending || chains;
}

bool vrm_ux_poll_end(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, __u64 now_ns,
		     struct vrm_ux_poll_turn *t)
{
	*t = (struct vrm_ux_poll_turn){ .verdict = VRM_OK };
	return pl->on && vrm_poll_stop(rq, pl, now_ns, t);
}

bool vrm_ux_poll_turn(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, __u64 now_ns,
		      struct vrm_ux_poll_turn *t)
{
	__u32 v;

	*t = (struct vrm_ux_poll_turn){ .verdict = VRM_OK };
	v = vrm_ux_complete(rq, &t->returned);
	if (v != VRM_OK)
		t->verdict = v;
	if (!pl->on) {
		if (!t->returned || !pl->budget_ns || v != VRM_OK) {
			vrm_ux_poll_rearm(rq, pl, t);
			return false;
		}
		vrm_poll_begin(rq, pl, now_ns, t);
		pl->caught = false;
		pl->periods++;
	}
	vrm_poll_translate(rq, pl, t);
	if (t->verdict != VRM_OK) {
		vrm_poll_stop(rq, pl, now_ns, t);
		return false;
	}
	if (t->chains || t->returned) {
		if (now_ns != pl->since)
			pl->caught = true;
		pl->idle_since = now_ns;
		return true;
	}
	if (now_ns - pl->idle_since < pl->budget_ns)
		return true;
	/* An idle spell as long as the budget: kicks and calls on again, and
	 * what came meanwhile (no notification will come for it) goes on
	 * being polled for. */
	if (vrm_poll_stop(rq, pl, now_ns, t)) {
		pl->rescued++;
		vrm_poll_begin(rq, pl, now_ns, t);
		pl->caught = true;
		return true;
	}
	vrm_ux_poll_ended(pl);
	return false;
}
