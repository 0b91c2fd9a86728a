/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The translation core, completion direction: the backend's little-endian
 * shadow used entries -> the guest's legacy used ring, in the guest's byte
 * order.  Userspace only (BPF may not write VMM memory under lockdown), but
 * it shares xlate.h's types, accessors and verdicts.
 *
 * The includer provides vrm_env_ptr(): the mediator's pointer to `len` bytes
 * of the VMM's memory at `vmm_va`, or NULL when that is not guest memory;
 * and vrm_env_wrote(): told of each guest write made through such a pointer,
 * after the write, so that a migration's dirty log sees it.
 */
#ifndef VRINGMED_XLATE_USED_H
#define VRINGMED_XLATE_USED_H

#include "xlate.h"

static void *vrm_env_ptr(const struct vrm_device *dev, __u64 vmm_va, __u64 len);
static void vrm_env_wrote(const struct vrm_device *dev, const void *at, __u64 len);

/* The mediator's pointer to `len` bytes of guest memory at guest-physical
 * `gpa`, or NULL when they are not inside one region. */
static vrm_inline void *vrm_gpa_ptr(const struct vrm_device *dev, __u64 gpa, __u64 len)
{
	for (__u32 i = 0; i < dev->nregions && i < VRM_MAX_REGIONS; i++) {
		const struct vrm_region *r = &dev->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return vrm_env_ptr(dev, r->vmm_va + (gpa - r->gpa), len);
	}
	return NULL;
}

/*
 * The virtio-net header of a used RX chain, before the guest sees the entry
 * (q->net_mode): back into the guest's byte order and size.  *len is the
 * backend's used length on entry and the guest's on return; *merge is
 * rx_merge_left before this entry on entry and after it on return (the
 * caller stores it once the entry is committed).  Doing it twice for the same
 * used `slot` gives the same result, so a daemon killed half-way through can
 * be followed by one that does it again.
 */
static vrm_inline __u32 vrm_net_used(struct vrm_device *dev, struct vrm_queue *q,
				   struct vrm_shadow_queue *sh, __u16 head, __u16 slot,
				   __u32 *len, __u16 *merge)
{
	enum vrm_order order = (enum vrm_order)dev->order;
	__u8 tmp[VRM_NET_HDR_MODERN];
	__u8 *g, *stash;
	__u32 tag;
	__u16 nb;

	switch (q->net_mode) {
	case VRM_NET_RX_SLOT:
		/* From the shadow slot to the guest: idempotent. */
		g = vrm_gpa_ptr(dev, q->rx_hdr[head & VRM_RING_MASK], q->net_hdr_len);
		if (!g)
			return VRM_NET_HDR;
		vrm_net_hdr_convert(tmp, sh->hdr[head & VRM_RING_MASK], q->net_hdr_len,
				   VRM_ORDER_LE, order);
		__builtin_memcpy(g, tmp, q->net_hdr_len);
		vrm_env_wrote(dev, g, q->net_hdr_len);
		/* The backend counted a 12-byte header, the guest has 10. */
		if (*len >= VRM_NET_HDR_MODERN)
			*len -= VRM_NET_HDR_MODERN - q->net_hdr_len;
		return VRM_OK;
	case VRM_NET_RX_INPLACE:
		if (*merge) {
			/* A later buffer of a merged packet: no header. */
			*merge -= 1;
			return VRM_OK;
		}
		/* Where the kick found the buffer, not where the shadow
		 * descriptor (the back-end's to rewrite) says it is now.  A
		 * chain another build translated has no such record: refused
		 * rather than written where the back-end may point. */
		if (!q->offered[head & VRM_RING_MASK])
			return VRM_NET_HDR;
		g = vrm_gpa_ptr(dev, q->rx_hdr[head & VRM_RING_MASK], VRM_NET_HDR_MODERN);
		if (!g)
			return VRM_NET_HDR;
		/* The backend's header, kept before it is converted in place:
		 * a second attempt for this slot starts from the kept copy. */
		stash = sh->hdr[head & VRM_RING_MASK];
		__builtin_memcpy(&tag, stash + VRM_STASH_TAG_OFF, sizeof(tag));
		if (tag == VRM_STASH_TAG(slot)) {
			__builtin_memcpy(tmp, stash, VRM_NET_HDR_MODERN);
		} else {
			__builtin_memcpy(tmp, g, VRM_NET_HDR_MODERN);	/* one copy */
			__builtin_memcpy(stash, tmp, VRM_NET_HDR_MODERN);
			tag = VRM_STASH_TAG(slot);
			__atomic_store_n((__u32 *)(stash + VRM_STASH_TAG_OFF), tag, __ATOMIC_RELEASE);
		}
		VRM_CRASH_POINT(1);
		__builtin_memcpy(&nb, tmp + 10, 2);
		nb = vrm_swab16_if(VRM_ORDER_LE, nb);
		/* A packet over more buffers than the ring holds never
		 * completes: the queue would wait for it forever, silent. */
		if (nb > q->size)
			return VRM_NET_HDR;
		*merge = nb > 1 ? nb - 1 : 0;
		vrm_net_hdr_convert(g, tmp, VRM_NET_HDR_MODERN, VRM_ORDER_LE, order);
		vrm_env_wrote(dev, g, VRM_NET_HDR_MODERN);
		return VRM_OK;
	default:
		return VRM_OK;
	}
}

/*
 * Is `len`, the back-end's used.len of chain `head`, within what the chain
 * offered (vrm_offer)?  A guest takes it as the length of what the device
 * wrote (virtio-net: the received frame) and need not check it against its
 * buffer: more would have it read past the buffer.  A chain translated by a
 * build that kept no bound (offered 0) passes as it did.
 */
static vrm_inline bool vrm_used_len_ok(const struct vrm_queue *q, __u16 head, __u32 len)
{
	__u32 offered = q->offered[head & VRM_RING_MASK];

	return !offered || len <= offered;
}

/* The descriptors of chain `head`, in flight (0 when it is not).  The
 * chain ends at the link VRM_DESC_END, or (as an older daemon's state has
 * it) where the link leaves the chain. */
static vrm_inline __u16 vrm_chain_len(const struct vrm_queue *q, __u16 head)
{
	__u16 mask = (__u16)(q->size - 1), i = head, n = 0;

	if (head > mask)
		return 0;
	while (n <= mask && q->desc_state[i & mask & VRM_RING_MASK].owner == head + 1) {
		__u16 next = q->desc_state[i & mask & VRM_RING_MASK].next;

		n++;
		if (next == VRM_DESC_END)
			break;
		i = next;
	}
	return n;
}

/* Marks the `len` descriptors of chain `head` free (own == false) or in
 * flight again (own == true).  The links stay when the marks go. */
static vrm_inline void vrm_mark_chain(struct vrm_queue *q, __u16 head, __u16 len, bool own)
{
	__u16 mask = (__u16)(q->size - 1), i = head;

	for (__u32 n = 0; n < len && n <= mask; n++) {
		struct vrm_desc_state *ds = &q->desc_state[i & mask & VRM_RING_MASK];

		ds->owner = own ? head + 1 : 0;
		i = ds->next;
	}
}

/*
 * Moves every new shadow used entry to the guest's used ring.  Returns VRM_OK
 * with *returned set (the caller signals the guest when it is non-zero), or
 * the verdict that broke the device.
 *
 * Each entry is committed by one store, the guest's used idx.  Before it:
 * what can be done again (the header conversion starts from a kept copy),
 * the journal of what comes after, and the chain freed (the guest may post
 * it again the moment it sees the idx).  After it, the queue state moves
 * on.  The daemon can be killed anywhere in here: vrm_queue_resume()
 * finishes the entry or puts it back in flight.
 *
 * A packet over several mergeable RX buffers is committed whole, by the
 * store after its last buffer: a guest takes num_buffers entries the moment
 * it sees the first (Linux drops the packet when one is not there yet, and
 * reads the later buffers as packets of their own).  Its earlier buffers
 * are finished entries the guest does not see yet (last_used is past the
 * guest's idx while rx_merge_left is not 0); a back-end that returns a
 * packet in two goes has it published at the second, and a queue stopped
 * half-way has it published by vrm_used_flush().
 */
static vrm_inline __u32 vrm_complete(struct vrm_device *dev, struct vrm_queue *q,
				   struct vrm_shadow_queue *sh, struct vrm_qstats *st,
				   __u32 *returned)
{
	__u16 mask = (__u16)(q->size - 1);
	enum vrm_order order = (enum vrm_order)dev->order;
	struct vrm_used_elem *guest_ring;
	__u16 *guest_idx, used_idx, n, in_flight;

	*returned = 0;
	if (dev->broken)
		return dev->broken;
	if (!(q->flags & VRM_QF_ENABLED))
		return VRM_OK;

	guest_idx = vrm_env_ptr(dev, q->used_va + VRM_USED_IDX_OFF, sizeof(*guest_idx));
	guest_ring = vrm_env_ptr(dev, q->used_va + VRM_USED_RING_OFF,
				(__u64)sizeof(*guest_ring) * q->size);
	if (!guest_idx || !guest_ring) {
		vrm_mark_broken(dev, st, VRM_RING_FAULT);
		return VRM_RING_FAULT;
	}

	/* Pairs with the backend's write barrier before it stores used idx:
	 * the entries below are read after the idx. */
	used_idx = vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE));
	n = used_idx - q->last_used;
	in_flight = VRM_READ_ONCE(q->last_avail) - q->last_used;
	if (n > in_flight) {
		vrm_mark_broken(dev, st, VRM_USED_TOO_MANY);
		return VRM_USED_TOO_MANY;
	}
	for (__u16 k = 0; k < n; k++) {
		__u16 at = q->last_used, slot = at & mask, merge = q->rx_merge_left, clen;
		struct vrm_used_elem e = sh->used.ring[slot];	/* one copy */
		__u32 id = vrm_swab32_if(VRM_ORDER_LE, e.id);
		__u32 len = vrm_swab32_if(VRM_ORDER_LE, e.len);

		clen = id > mask ? 0 : vrm_chain_len(q, (__u16)id);
		if (!clen) {
			vrm_mark_broken(dev, st, VRM_USED_NOT_IN_FLIGHT);
			return VRM_USED_NOT_IN_FLIGHT;
		}
		if (!vrm_used_len_ok(q, (__u16)id, len)) {
			vrm_mark_broken(dev, st, VRM_USED_LEN);
			return VRM_USED_LEN;
		}
		if (q->net_mode >= VRM_NET_RX_SLOT) {
			__u32 v = vrm_net_used(dev, q, sh, (__u16)id, at, &len, &merge);

			if (v != VRM_OK) {
				vrm_mark_broken(dev, st, v);
				return v;
			}
		}
		vrm_st32(order, &guest_ring[slot].id, id);
		vrm_st32(order, &guest_ring[slot].len, len);
		vrm_env_wrote(dev, &guest_ring[slot], sizeof(guest_ring[slot]));
		VRM_CRASH_POINT(2);
		q->jr_slot = at;
		q->jr_head = (__u16)id;
		q->jr_len = clen;
		q->jr_merge_left = merge;
		q->jr_valid = 1;
		VRM_CRASH_POINT(3);
		/* Free before the guest can see it: the guest may post the
		 * chain again the moment the idx moves. */
		vrm_mark_chain(q, (__u16)id, clen, false);
		VRM_CRASH_POINT(4);
		/* The commit.  Entries (whole packets) go out one at a time
		 * so a verdict half-way leaves the guest with a consistent
		 * prefix. */
		if (!merge) {
			__atomic_store_n(guest_idx, vrm_swab16_if(order, (__u16)(at + 1)),
					 __ATOMIC_RELEASE);
			vrm_env_wrote(dev, guest_idx, sizeof(*guest_idx));
		}
		VRM_CRASH_POINT(5);
		q->rx_merge_left = merge;
		__builtin_memset(sh->hdr[id & VRM_RING_MASK] + VRM_STASH_TAG_OFF, 0, 4);
		q->last_used = at + 1;
		VRM_CRASH_POINT(6);
		q->jr_valid = 0;
		*returned += 1;
		if (st)
			st->used++;
	}
	return VRM_OK;
}

/*
 * The guest's used idx at last_used: a packet whose later buffers the
 * back-end has not returned goes out as far as it came, when the queue
 * stops (the VMM reads the used idx then) rather than never.
 */
static vrm_inline void vrm_used_flush(struct vrm_device *dev, struct vrm_queue *q)
{
	__u16 *guest_idx = vrm_env_ptr(dev, q->used_va + VRM_USED_IDX_OFF, sizeof(*guest_idx));

	if (!guest_idx || !q->rx_merge_left)
		return;
	__atomic_store_n(guest_idx, vrm_swab16_if((enum vrm_order)dev->order, q->last_used),
			 __ATOMIC_RELEASE);
	vrm_env_wrote(dev, guest_idx, sizeof(*guest_idx));
}

/* The guest negotiated event idx (its used_event and our avail_event rule
 * its notifications; its flags and ours are then ignored). */
static vrm_inline bool vrm_guest_event_idx(const struct vrm_device *dev)
{
	return (dev->features >> VRM_F_EVENT_IDX) & 1;
}

/*
 * After vrm_complete() returned entries: does the guest want to be told?  A
 * driver that polls its used ring sets VRING_AVAIL_F_NO_INTERRUPT in its
 * avail flags (Linux: virtqueue_disable_cb, NAPI); before it sleeps it
 * clears the flag, then looks at the used idx once more.  The full fence
 * here, between the used idx stores above and the flags load, pairs with
 * the driver's between its flags store and its used idx load: either it
 * sees our entries or we see its flag clear, never neither (a lost wake-up
 * that would leave the guest asleep with entries to take).  Any device the
 * guest could have had honours the flag the same way (QEMU, DPDK, vhost).
 *
 * With event idx the flag means nothing: the guest writes used_event (after
 * its avail ring, in its order), the used idx at which it wants the next
 * call, and before it sleeps it writes it, fences, and looks at the used
 * idx once more; the same fence here pairs with that one.  The call is made
 * when the used idx passed used_event since the last decision
 * (vring_need_event from guest_signalled, the used idx then); the first
 * decision of a queue calls.  Where the fields cannot be read the guest is
 * told: a spurious interrupt costs little, a missing one hangs the queue.
 * The guest's own wishes are the guest's business in the shadow direction:
 * the back-end calls the mediator, which moves the entries and then asks
 * this.  The used idx is the guest's as published: behind last_used while
 * a packet's later buffers have not come (vrm_complete).
 */
static vrm_inline bool vrm_guest_wants_call(const struct vrm_device *dev, struct vrm_queue *q)
{
	enum vrm_order order = (enum vrm_order)dev->order;
	__u16 old = q->guest_signalled, now = q->last_used;
	bool known = q->ev_valid & VRM_EV_SIGNALLED;
	const __u16 *flags, *event, *pub;

	if (q->rx_merge_left) {
		pub = vrm_env_ptr(dev, q->used_va + VRM_USED_IDX_OFF, sizeof(*pub));
		if (pub)
			now = vrm_swab16_if(order, __atomic_load_n(pub, __ATOMIC_RELAXED));
	}

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vrm_guest_event_idx(dev)) {
		q->guest_signalled = now;
		q->ev_valid |= VRM_EV_SIGNALLED;
		event = vrm_env_ptr(dev, q->avail_va + vrm_used_event_off(q->size), sizeof(*event));
		if (!event || !known)
			return true;
		return vrm_need_event(vrm_swab16_if(order, __atomic_load_n(event, __ATOMIC_RELAXED)),
				      now, old);
	}
	flags = vrm_env_ptr(dev, q->avail_va + VRM_AVAIL_FLAGS_OFF, sizeof(*flags));
	if (!flags)
		return true;
	return !(vrm_swab16_if(order, __atomic_load_n(flags, __ATOMIC_RELAXED)) &
		 VRM_VRING_AVAIL_F_NO_INTERRUPT);
}

/*
 * The guest's kicks, on (`want`) or off.  Without event idx: VRING_USED_F_NO_NOTIFY
 * in its used flags, in its byte order, which every legacy driver honours
 * (virtqueue_kick_prepare).  With event idx the guest ignores the flag and
 * kicks only when its avail idx passes avail_event (after the used ring, in
 * its order): on is avail_event at the translation's position (the guest
 * kicks for the next entry it posts), off is one behind it (the guest kicks
 * again only after 65536 entries, a spurious kick BPF takes).  Off while a
 * mediator thread polls the guest's avail ring and translates what it
 * finds, so the guest makes no system call per frame; the wish is the
 * mediator's own, never a back-end's passed on.  Turning them back on
 * returns true when the guest's avail ring holds entries not yet
 * translated: the full fence between the flags (avail_event) store and the
 * avail idx load pairs with the driver's between its avail idx store and
 * its flags (avail_event) load, so either the driver saw kicks wanted (and
 * kicks) or this sees its entries (and the caller translates them): none is
 * left waiting for a kick that never comes.  With event idx the caller
 * holds the queue's busy lock, so the position written is the one no kick
 * has moved past.  Userspace only (BPF may not write guest memory).  Where
 * the fields cannot be written the guest stays as it was, and is said to
 * have entries: the caller translates, which is safe.
 */
static vrm_inline bool vrm_guest_kicks(struct vrm_device *dev, struct vrm_queue *q, bool want)
{
	enum vrm_order order = (enum vrm_order)dev->order;
	__u16 *flags = vrm_env_ptr(dev, q->used_va + VRM_USED_FLAGS_OFF, sizeof(*flags));
	const __u16 *avail = vrm_env_ptr(dev, q->avail_va + VRM_AVAIL_IDX_OFF, sizeof(*avail));
	__u16 *event = vrm_env_ptr(dev, q->used_va + vrm_avail_event_off(q->size), sizeof(*event));
	__u16 at = VRM_READ_ONCE(q->last_avail);

	if (!flags || !avail || (vrm_guest_event_idx(dev) && !event))
		return true;
	if (vrm_guest_event_idx(dev)) {
		q->guest_avail_event = want ? at : (__u16)(at - 1);
		q->ev_valid |= VRM_EV_AVAIL_EVENT;
		__atomic_store_n(event, vrm_swab16_if(order, q->guest_avail_event), __ATOMIC_RELAXED);
	} else {
		__atomic_store_n(flags, vrm_swab16_if(order, want ? 0 : VRM_VRING_USED_F_NO_NOTIFY),
				 __ATOMIC_RELAXED);
	}
	vrm_env_wrote(dev, vrm_guest_event_idx(dev) ? (void *)event : (void *)flags, sizeof(*flags));
	if (!want)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vrm_swab16_if(order, __atomic_load_n(avail, __ATOMIC_ACQUIRE)) !=
	       VRM_READ_ONCE(q->last_avail);
}

/* Event idx toward the guest: avail_event is where the translation is, and
 * the re-check after it was written found nothing (a translation since
 * moved last_avail on).  The guest's copy is looked at too: the VMM's own
 * virtio code writes avail_event when it handles a ring itself (QEMU's
 * virtio_queue_set_notification, around a vhost stop), and an avail_event
 * moved past entries not yet translated would leave them with no kick. */
static vrm_inline bool vrm_guest_kicks_armed(const struct vrm_device *dev, const struct vrm_queue *q)
{
	const __u16 *event;

	if (!vrm_guest_event_idx(dev))
		return true;
	if (!(q->ev_valid & VRM_EV_AVAIL_EVENT) || q->guest_avail_event != VRM_READ_ONCE(q->last_avail))
		return false;
	event = vrm_env_ptr(dev, q->used_va + vrm_avail_event_off(q->size), sizeof(*event));
	return event && vrm_swab16_if((enum vrm_order)dev->order, __atomic_load_n(event, __ATOMIC_RELAXED)) ==
			q->guest_avail_event;
}

/* The back-end's avail_event, after the shadow used ring of `size`. */
static vrm_inline __u16 vrm_backend_avail_event(const struct vrm_shadow_queue *sh, __u16 size)
{
	const __u16 *event = (const __u16 *)((const __u8 *)&sh->used +
					     vrm_avail_event_off(size < VRM_MAX_RING ? size : VRM_MAX_RING));

	return vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(event, __ATOMIC_RELAXED));
}

/* The shadow used_event, after the shadow avail ring of `size`. */
static vrm_inline __u16 *vrm_backend_used_event(struct vrm_shadow_queue *sh, __u16 size)
{
	return &sh->avail.ring[size < VRM_MAX_RING ? size : VRM_MAX_RING];
}

/*
 * After chains went into the shadow ring: does the back-end want a kick?
 * Not while it says VRING_USED_F_NO_NOTIFY in its (little-endian) used
 * flags: a polling back-end (DPDK) always, one like Linux vhost while it
 * works through the ring.  With event idx (VRM_QF_BE_EVENT_IDX) the flag
 * means nothing: the back-end's avail_event says at which shadow avail idx
 * it wants the next kick, and the kick is made when the idx passed it since
 * the last decision (backend_kicked; the first decision kicks).  The full
 * fence between the shadow avail idx store and the flags (avail_event) load
 * pairs with the back-end's between re-enabling kicks and its last look at
 * the avail idx.  A back-end that never asks for a kick stalls only its own
 * device.  The daemon's thread only.
 */
static vrm_inline bool vrm_backend_wants_kick(struct vrm_queue *q, const struct vrm_shadow_queue *sh)
{
	__u16 old = q->backend_kicked, now;
	bool known = q->ev_valid & VRM_EV_BE_KICKED;

	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (q->flags & VRM_QF_BE_EVENT_IDX) {
		now = vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->avail.idx, __ATOMIC_RELAXED));
		q->backend_kicked = now;
		q->ev_valid |= VRM_EV_BE_KICKED;
		return !known || vrm_need_event(vrm_backend_avail_event(sh, q->size), now, old);
	}
	return !(vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->used.flags, __ATOMIC_RELAXED)) &
		 VRM_VRING_USED_F_NO_NOTIFY);
}

/*
 * Whether the back-end asks to be kicked for the next entry published: it
 * sleeps, or is about to.  A hint for how to publish (upoll.c), read
 * without a barrier and without the record vrm_backend_wants_kick keeps.
 */
static vrm_inline bool vrm_backend_asleep(const struct vrm_queue *q, const struct vrm_shadow_queue *sh)
{
	__u16 now = vrm_swab16_if(VRM_ORDER_LE, VRM_READ_ONCE(sh->avail.idx));

	if (q->flags & VRM_QF_BE_EVENT_IDX)
		return vrm_backend_avail_event(sh, q->size) == now;
	return !(vrm_swab16_if(VRM_ORDER_LE, VRM_READ_ONCE(sh->used.flags)) & VRM_VRING_USED_F_NO_NOTIFY);
}

/*
 * The back-end's calls, on (`want`) or off: VRING_AVAIL_F_NO_INTERRUPT in the
 * shadow avail flags, which every modern back-end honours when event idx is
 * not negotiated; with it, the shadow used_event: on at the used path's
 * position (the back-end calls for the next entry it returns), off one
 * behind it.  Off while a mediator thread polls the shadow used ring.
 * The caller holds the queue's busy lock: the flags and the avail idx are
 * one word that a publication writes whole (BPF's vrm_env_publish_idx keeps
 * the flags it finds), so only a holder of the lock may change either.
 * Turning them back on returns true when the back-end has used entries not
 * yet returned: the full fence between the flags (used_event) store and the
 * used idx load pairs with the back-end's between its used idx store and
 * its flags (used_event) load, so either it saw calls wanted (and calls) or
 * this sees its entries.
 */
static vrm_inline bool vrm_backend_calls(const struct vrm_queue *q, struct vrm_shadow_queue *sh,
				       bool want)
{
	if (q->flags & VRM_QF_BE_EVENT_IDX)
		__atomic_store_n(vrm_backend_used_event(sh, q->size),
				 vrm_swab16_if(VRM_ORDER_LE, want ? q->last_used : (__u16)(q->last_used - 1)),
				 __ATOMIC_RELAXED);
	else
		__atomic_store_n(&sh->avail.flags,
				 vrm_swab16_if(VRM_ORDER_LE, want ? 0 : VRM_VRING_AVAIL_F_NO_INTERRUPT),
				 __ATOMIC_RELAXED);
	if (!want)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE)) !=
	       q->last_used;
}

/*
 * Event idx toward the back-end, after a completion while its calls are on:
 * the shadow used_event moved to the used path's position, so the back-end
 * calls for the next entry (it calls once per passing of used_event, so a
 * used_event left behind would silence it).  The same fence and re-check as
 * vrm_backend_calls; true when entries came meanwhile (the caller returns
 * them, then asks again).  used_event is a word of its own, written by the
 * used path only: no lock.
 */
static vrm_inline bool vrm_backend_calls_rearm(const struct vrm_queue *q, struct vrm_shadow_queue *sh)
{
	if (!(q->flags & VRM_QF_BE_EVENT_IDX))
		return false;
	__atomic_store_n(vrm_backend_used_event(sh, q->size), vrm_swab16_if(VRM_ORDER_LE, q->last_used),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE)) !=
	       q->last_used;
}

/*
 * Makes a queue whole again after the daemon that ran it died (kill -9
 * anywhere), before a new daemon resumes it with the same guest
 * rings, shadow ring and back-end position: nothing the guest posted is lost
 * and nothing is handed to the back-end or returned to the guest twice.
 *
 * The kernel side (BPF) is never interrupted half-way; the daemon's own kick
 * rounds (journaled by user/uxlate.c) and its completions can be.  The caller
 * holds the queue disabled (VRM_QF_ENABLED clear) after any BPF kick in
 * progress ended, so `busy`, if set, is the dead daemon's.  Userspace only.
 */
static vrm_inline __u32 vrm_queue_resume(struct vrm_device *dev, struct vrm_queue *q,
				       struct vrm_shadow_queue *sh)
{
	__u16 mask = (__u16)(q->size - 1), *guest_idx, g, l = q->last_used;

	/* A kick round that had not published (last_avail moves first)
	 * leaves no mark behind: desc_state goes back to what it was. */
	if (q->kj_valid && q->last_avail == q->kj_avail)
		__builtin_memcpy(q->desc_state, q->kj_state,
				 sizeof(q->desc_state[0]) * ((__u32)mask + 1));
	q->kj_valid = 0;
	/* One that had: its chains are in flight; the idx goes out. */
	vrm_env_publish_idx(sh, q->last_avail);

	/* Completion: the guest's used idx is the commit point.  An entry
	 * committed and not finished is finished from the journal. */
	guest_idx = vrm_env_ptr(dev, q->used_va + VRM_USED_IDX_OFF, sizeof(*guest_idx));
	g = guest_idx ? vrm_swab16_if((enum vrm_order)dev->order,
				     __atomic_load_n(guest_idx, __ATOMIC_ACQUIRE)) : l;
	if (q->jr_valid && q->jr_slot == l && g == (__u16)(l + 1)) {
		/* Committed (so freed), not finished: finish it. */
		q->rx_merge_left = q->jr_merge_left;
		__builtin_memset(sh->hdr[q->jr_head & mask & VRM_RING_MASK] + VRM_STASH_TAG_OFF, 0, 4);
		q->last_used = g;
	} else if (q->jr_valid && q->jr_slot == l) {
		/* Not committed, maybe freed, wholly or in part: in flight
		 * again, and the next completion returns it. */
		vrm_mark_chain(q, q->jr_head & mask, q->jr_len, true);
	}
	/* Anything else the guest wrote there is its own business: our
	 * position stands and the next completion overwrites it. */
	q->jr_valid = 0;
	__atomic_store_n(&q->busy, 0, __ATOMIC_SEQ_CST);
	return VRM_OK;
}

#endif /* VRINGMED_XLATE_USED_H */
