/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Adaptive busy-polling of a queue by the mediator thread that runs its used
 * path (vringmedd's device thread, perf_compare's daemon thread).
 *
 * Idle, that thread sleeps until the back-end calls, and a guest's kick runs
 * the BPF kick path in the kicking thread: the latency case, no thread hop.
 * Busy, a wake-up per call and a system call per guest kick cost more than
 * the work they bring (on a 2-vCPU KVM guest a wake-up across CPUs costs
 * the waker about 14 us, translating and returning a descriptor about
 * 0.1 us).  So while work keeps coming the thread polls: the guest's kicks
 * are off (VRING_USED_F_NO_NOTIFY, vrm_guest_kicks), so are the back-end's
 * calls (VRING_AVAIL_F_NO_INTERRUPT, vrm_backend_calls), and each turn
 * translates what the guest posted and returns what the back-end used; the
 * caller kicks the back-end when it asks for kicks and calls the guest when
 * it asks for calls.  A back-end asleep is kicked for the first
 * VRM_POLL_FIRST chains of a big batch, and wakes while the turn after
 * translates the rest.  After an idle spell of `budget_ns` the thread turns the
 * guest's kicks back on with the re-check that loses none, and sleeps.
 *
 * The budget adapts as KVM's halt polling does: it grows when the thread is
 * called again soon after it went to sleep (within VRM_POLL_GROW budgets:
 * polling would have saved that wake-up) and drops to 0 when a polling
 * period caught nothing but the work it began with; after that, `regrow`
 * such short sleeps in a row start it again, twice as many after each
 * fruitless period.  An idle device, or one whose calls come further apart
 * than that, is never polled.
 */
#ifndef VRINGMED_UPOLL_H
#define VRINGMED_UPOLL_H

#include <stdbool.h>

#include "uxlate.h"

#define VRM_POLL_MAX_NS		50000u	/* default longest idle spell polled through */
#define VRM_POLL_START_NS	8000u	/* a budget's first value */
#define VRM_POLL_REGROW		4	/* short sleeps in a row that start a budget */
#define VRM_POLL_REGROW_MAX	256	/* ... doubled after each fruitless period */
#define VRM_POLL_GROW		4	/* a sleep of up to this many max_ns is short */
#define VRM_POLL_FIRST		16	/* chains a sleeping back-end is kicked for first */

struct vrm_ux_poll {
	/* Configuration: the longest idle spell polled through; 0: never
	 * poll (the thread sleeps after every turn).  keep_kicks: the guest's
	 * kicks stay on while polling (a receive queue's: its kicks post
	 * buffers, which the back-end must see at once, for a frame that
	 * finds none is dropped; BPF translates them in the kick). */
	__u32 max_ns;
	bool keep_kicks;
	/* State. */
	__u32 budget_ns;	/* the idle spell polled through now */
	__u32 streak;		/* short sleeps in a row while the budget is 0 */
	__u32 regrow;		/* ... that start a budget again */
	bool on;		/* polling: the guest's kicks are off */
	bool caught;		/* this period found work after its first turn */
	bool first_out;		/* the last turn published a first part only */
	__u64 since;		/* the period began */
	__u64 idle_since;	/* the last turn that found work */
	__u64 slept_at;		/* the thread went to sleep (0: awake) */
	/* Counters. */
	__u64 periods;		/* polling periods */
	__u64 poll_ns;		/* time spent polling */
	__u64 chains;		/* chains translated while polling: kicks the guest did not make */
	__u64 rescued;		/* ends of a period whose re-check found work */
	__u64 firsts;		/* first parts a sleeping back-end was kicked for */
	/* Event idx (counted by the caller where it decides a notification,
	 * here where a re-arm's re-check finds work): the guest's posts the
	 * daemon found with no kick made for them, the guest's calls and the
	 * back-end's kicks its used_event / avail_event said were not wanted. */
	__u64 eidx_kicks_saved;
	__u64 eidx_calls_saved;
	__u64 eidx_be_kicks_saved;
};

/* What a turn did, for the caller to tell the peers. */
struct vrm_ux_poll_turn {
	__u32 chains;		/* went into the shadow ring: kick the back-end if it asks */
	__u32 returned;		/* went to the guest: call it if it asks */
	__u32 verdict;		/* enum vrm_verdict of the first failure, VRM_OK */
};

void vrm_ux_poll_init(struct vrm_ux_poll *pl, __u32 max_ns);

/*
 * One turn of the queue's mediator thread, after a wake-up or, while it
 * polls, as often as it runs: returns the back-end's used entries to the
 * guest and, polling, translates the guest's new entries.  A turn that
 * returned entries may begin a polling period.  True: poll on (come back
 * without sleeping).  False: the guest's kicks and the back-end's calls are
 * on, and nothing waits that a notification will not announce: the caller
 * may sleep, after vrm_ux_poll_sleep.
 */
bool vrm_ux_poll_turn(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, __u64 now_ns,
		      struct vrm_ux_poll_turn *t);

/*
 * Not polling, with event idx on either side: each side's notification
 * re-armed where its ring is now (the guest's avail_event at the
 * translation, the shadow used_event at the used path), each with its
 * re-check, and what they find done here into *t, until both find nothing:
 * then the thread may sleep and BPF's kick path wakes the device.  A turn
 * that does not poll ends with it; the caller runs it after work done
 * elsewhere (a completion, a kick translated in userspace).
 */
void vrm_ux_poll_rearm(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, struct vrm_ux_poll_turn *t);

/* The thread goes to sleep / was woken: what adapts the budget. */
void vrm_ux_poll_sleep(struct vrm_ux_poll *pl, __u64 now_ns);
void vrm_ux_poll_woken(struct vrm_ux_poll *pl, __u64 now_ns);
/* A period ended after an idle spell as long as its budget, its re-check
 * finding nothing: when it caught work after its first turn, polling goes
 * on as it is; when not, the next period's budget doubles up to max_ns, and
 * only one that caught nothing with max_ns turns polling off (the regrow
 * count doubled). */
void vrm_ux_poll_ended(struct vrm_ux_poll *pl);

/* Polling ends now whatever the budget (the queue stops): the guest's kicks
 * and the back-end's calls on again.  True when either ring holds work no
 * notification will come for (the caller runs a turn); t->chains: what a
 * kick that came meanwhile left to this call, translated here. */
bool vrm_ux_poll_end(struct vrm_ux_queue *rq, struct vrm_ux_poll *pl, __u64 now_ns,
		     struct vrm_ux_poll_turn *t);

#ifdef VRM_POLL_TEST
/* Tests: called where a polling period ends, before the guest's kicks and
 * the back-end's calls are turned back on. */
extern void (*vrm_poll_race_hook)(void);
#endif

#endif /* VRINGMED_UPOLL_H */
