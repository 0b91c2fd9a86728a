/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Indirect descriptors in the translation core (included by xlate.h, so BPF
 * and userspace run the same code).
 *
 * A guest head descriptor with VRING_DESC_F_INDIRECT points at a table of
 * descriptors in guest memory, in the guest's byte order.  The table is
 * copied once into the mediator's scratch (never memory the guest or the
 * back-end can write), walked from entry 0 along its links, and every entry
 * checked on that copy as the general step checks a direct chain; what it
 * publishes is a little-endian table of the entries walked, in walk order
 * (entry j links to j + 1), in the queue's shadow table room for that head
 * (vrm_shadow_queue.itab).  The shadow head descriptor points there with
 * INDIRECT, so the back-end (which accepts VIRTIO_RING_F_INDIRECT_DESC)
 * sees one chain per guest chain under the same head: the used path maps
 * ids back one to one, as it does for direct chains.  A guest that rewrites
 * its table while it is read changes guest memory, not the copy: the
 * mediator publishes only what it checked (docs/indirect.md).
 *
 * The checks, each a verdict of its own: the table's length a multiple of
 * 16 (indirect_len_not_16n), not empty (zero_length), no more entries than
 * vrm_itab_per() (indirect_too_large), inside guest memory; an INDIRECT
 * descriptor with NEXT or reached through one (indirect_with_next); in the
 * table, no INDIRECT entry (indirect_nested), links inside the table
 * (next_out_of_range), a walk longer than the table (chain_loop), and the
 * direct checks (zero length, overflow, memory, read before write).  The
 * first entry is the header wherever a direct chain's head is
 * (vrm_net_head's rules, vrm_indirect_header): net TX/RX header slots and
 * the blk request header work behind an indirect descriptor as they do in
 * front of one.  A table takes no more than its room, whatever the queue's
 * max_chain (which bounds chains of ring descriptors).
 */
#ifndef VRINGMED_XLATE_INDIRECT_H
#define VRINGMED_XLATE_INDIRECT_H

/* A table walk's context: what the checks and the shadow table need. */
struct vrm_iwalk {
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	struct vrm_scratch *scr;
	__u32 order;
	__u32 verdict;
	__u16 head;
};

/* Is [gpa, end) inside one guest memory region?  As vrm_buf_in_memory,
 * without the kick's region hint: a hint that changes with every entry
 * would have the verifier follow the walk once per region.  Not
 * vrm_indirect_va() != 0: the address it computes costs each kick program
 * about 110 more instructions. */
static vrm_inline bool vrm_indirect_in_memory(const struct vrm_device *dev, __u64 gpa, __u64 end)
{
	for (__u32 i = 0; i < VRM_MAX_REGIONS; i++) {
		const struct vrm_region *reg = &dev->regions[i];

		if (i >= dev->nregions)
			break;
		if (gpa >= reg->gpa && end - reg->gpa <= reg->size)
			return true;
	}
	return false;
}

/* Where the VMM has [gpa, end) mapped, or 0 when it is not inside one
 * guest memory region. */
static vrm_inline __u64 vrm_indirect_va(const struct vrm_device *dev, __u64 gpa, __u64 end)
{
	for (__u32 i = 0; i < VRM_MAX_REGIONS; i++) {
		const struct vrm_region *reg = &dev->regions[i];

		if (i >= dev->nregions)
			break;
		if (gpa >= reg->gpa && end - reg->gpa <= reg->size)
			return reg->vmm_va + (gpa - reg->gpa);
	}
	return 0;
}

/* Entry scr->it_cur of the copy, decoded into the scratch (it_e*: the
 * walk's frames stay small, and the verifier follows no values of them)
 * and checked as the general step checks a direct descriptor, plus the
 * table's own rules. */
static vrm_inline __u32 vrm_indirect_check(struct vrm_iwalk *k)
{
	struct vrm_scratch *scr = k->scr;
	const struct vrm_desc *gd = &scr->itab[scr->it_cur & (VRM_ITAB_MAX - 1)];
	__u64 addr, end;
	__u32 len;
	__u16 flags;

	/* n entries walked and a link still to follow: one came twice. */
	if (scr->it_out >= scr->it_n)
		return VRM_CHAIN_LOOP;
	scr->it_eaddr = addr = vrm_swab64_if(k->order, gd->addr);
	scr->it_elen = len = vrm_swab32_if(k->order, gd->len);
	scr->it_eflags = flags = vrm_swab16_if(k->order, gd->flags);
	scr->it_enext = vrm_swab16_if(k->order, gd->next);
	if (flags & VRM_VRING_DESC_F_INDIRECT)
		return VRM_INDIRECT_NESTED;
	if (len == 0)
		return VRM_ZERO_LEN;
	end = addr + len;
	if (end < addr)
		return VRM_ADDR_OVERFLOW;
	if (!vrm_indirect_in_memory(k->dev, addr, end))
		return VRM_BUF_OUTSIDE_MEM;
	if ((scr->it_seen & ~flags) & VRM_VRING_DESC_F_WRITE)
		return VRM_WRITE_BEFORE_READ;
	if ((flags & VRM_VRING_DESC_F_NEXT) && scr->it_enext >= scr->it_n)
		return VRM_NEXT_OOB;
	return VRM_OK;
}

/* The checked entry (it_e*) into the head's shadow table, at the next
 * place in walk order.  Returns 1 at the table's last entry (no NEXT). */
static vrm_inline long vrm_indirect_put(struct vrm_iwalk *k)
{
	struct vrm_scratch *scr = k->scr;
	struct vrm_queue *q = k->q;
	__u16 out = scr->it_out, flags = scr->it_eflags;
	__u32 len = scr->it_elen;
	struct vrm_desc *sd = &k->sh->itab[(scr->it_base + out) & (VRM_ITAB_ENTRIES - 1)];

	q->offered[k->head & VRM_RING_MASK] =
		vrm_offer(out ? q->offered[k->head & VRM_RING_MASK] : 0, scr->it_seen, flags, len);
	scr->it_seen |= flags;
	flags &= VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE;
	vrm_st64(VRM_ORDER_LE, &sd->addr, scr->it_eaddr);
	vrm_st32(VRM_ORDER_LE, &sd->len, len);
	vrm_st16(VRM_ORDER_LE, &sd->flags, flags);
	vrm_st16(VRM_ORDER_LE, &sd->next, (flags & VRM_VRING_DESC_F_NEXT) ? out + 1 : 0);
	scr->it_out = out + 1;
	scr->it_cur = scr->it_enext;
	if (flags & VRM_VRING_DESC_F_NEXT)
		return 0;
	scr->it_ended = 1;
	return 1;
}

/*
 * The table's first entry, checked (it_e*), where a direct chain's head is
 * the header: vrm_net_head's checks and header slots, on the scratch's
 * copy, without the kick whose frame the walk has no room for.  Points the
 * entry at the head's header slot where the queue's mode has one.
 */
static vrm_inline __u32 vrm_indirect_header(struct vrm_iwalk *w)
{
	struct vrm_scratch *scr = w->scr;
	struct vrm_queue *q = w->q;
	__u8 *slot = w->sh->hdr[w->head & VRM_RING_MASK];
	__u64 addr = scr->it_eaddr;
	__u32 len = scr->it_elen, hlen = q->net_hdr_len;
	__u16 flags = scr->it_eflags;
	__u64 va = vrm_indirect_va(w->dev, addr, addr + len);

	if (hlen != VRM_NET_HDR_LEGACY && hlen != VRM_NET_HDR_MODERN && q->net_mode != VRM_BLK_REQ)
		return VRM_BAD_CONFIG;
	switch (q->net_mode) {
	case VRM_BLK_REQ:
		if ((flags & VRM_VRING_DESC_F_WRITE) || len != VRM_BLK_HDR_LEN)
			return VRM_BLK_HDR;
		if (vrm_blk_req_header(w->dev, w->order, slot, va)) {
			w->scr->it_faults++;
			return VRM_FAULT_VERDICT;
		}
		break;
	case VRM_NET_TX_SLOT:
		if ((flags & VRM_VRING_DESC_F_WRITE) || len != hlen)
			return VRM_NET_HDR;
		if (vrm_net_tx_header(w->dev, w->order, slot, hlen, va)) {
			w->scr->it_faults++;
			return VRM_FAULT_VERDICT;
		}
		break;
	case VRM_NET_RX_SLOT:
		if (!(flags & VRM_VRING_DESC_F_WRITE) || len != hlen)
			return VRM_NET_HDR;
		q->rx_hdr[w->head & VRM_RING_MASK] = addr;
		__builtin_memset(slot, 0, VRM_NET_HDR_MODERN);
		break;
	case VRM_NET_RX_INPLACE:
		if (!(flags & VRM_VRING_DESC_F_WRITE) || len < VRM_NET_HDR_MODERN)
			return VRM_NET_HDR;
		q->rx_hdr[w->head & VRM_RING_MASK] = addr;
		return VRM_OK;
	default:
		return VRM_BAD_CONFIG;
	}
	scr->it_eaddr = q->hdr_gpa + (__u64)(w->head & VRM_RING_MASK) * VRM_SHADOW_HDR_SLOT;
	scr->it_elen = q->net_mode == VRM_BLK_REQ ? VRM_BLK_HDR_LEN : VRM_NET_HDR_MODERN;
	return VRM_OK;
}

/* The table's first entry: checked, the header where there is one, put. */
static vrm_inline __u32 vrm_indirect_first(struct vrm_iwalk *w)
{
	__u32 v = vrm_indirect_check(w);

	if (v == VRM_OK && w->q->net_mode)
		v = vrm_indirect_header(w);
	if (v == VRM_OK)
		vrm_indirect_put(w);
	return v;
}

/* The entries after the first, one per call, on the copy in the scratch,
 * where the walk's place is too (not in this context: the verifier would
 * follow each value as a state of its own). */
static long vrm_indirect_step(__u64 i, void *arg)
{
	struct vrm_iwalk *w = arg;
	__u32 v = vrm_indirect_check(w);

	(void)i;
	if (v == VRM_OK)
		return vrm_indirect_put(w);
	w->verdict = v;
	return 1;
}

/*
 * The table the scratch names (it_addr, it_len, it_flags: the head
 * descriptor it_head's, from the window), copied, walked, checked, and
 * published with its chain into avail slot it_slot.  Returns the verdict;
 * on VRM_OK the scratch counts the table (it_tables, it_entries).  Its
 * arguments are what the chain fast path's are, so BPF makes it a global
 * function (VRM_FAST_TABLE), verified once.
 */
static vrm_inline __u32 vrm_indirect(const struct vrm_device *cdev, struct vrm_queue *q,
				   struct vrm_shadow_queue *sh, struct vrm_scratch *scr)
{
	struct vrm_device *dev = (struct vrm_device *)cdev;
	struct vrm_iwalk k = {
		.dev = dev, .q = q, .sh = sh, .scr = scr,
		.order = dev->order,
		.head = scr->it_head & (__u16)(q->size - 1),
	};
	__u32 len = scr->it_len, per = vrm_itab_per(q->size), n, v;
	__u64 addr = scr->it_addr, end = addr + len, va;
	struct vrm_desc_state *ds;
	struct vrm_desc *sd;

	/* The spec: INDIRECT never with NEXT; Linux and DPDK: only at the
	 * head of a chain (one table per chain, nothing linked to it). */
	if (scr->it_flags & VRM_VRING_DESC_F_NEXT)
		return VRM_INDIRECT_NEXT;
	if (len & (sizeof(struct vrm_desc) - 1))
		return VRM_INDIRECT_LEN;
	if (len == 0)
		return VRM_ZERO_LEN;
	n = len / sizeof(struct vrm_desc);
	if (n > per || n > VRM_ITAB_MAX)
		return VRM_INDIRECT_TOO_LARGE;
	if (end < addr)
		return VRM_ADDR_OVERFLOW;
	va = vrm_indirect_va(dev, addr, end);
	if (!va)
		return VRM_BUF_OUTSIDE_MEM;
	/* The one read of the table: everything below uses this copy.  n is
	 * 1..VRM_ITAB_MAX here; the mask says so to a verifier that lost the
	 * bound where n was spilled (Linux before 6.2). */
	if (vrm_env_read(dev, scr->itab, (((n - 1) & (VRM_ITAB_MAX - 1)) + 1) * sizeof(struct vrm_desc),
			va)) {
		scr->it_faults++;
		return VRM_FAULT_VERDICT;
	}
	scr->it_n = n;
	scr->it_base = (__u32)(k.head & VRM_RING_MASK) * per;
	scr->it_cur = 0;
	scr->it_out = 0;
	scr->it_seen = 0;
	scr->it_ended = 0;
	v = vrm_indirect_first(&k);
	if (v != VRM_OK)
		return v;
	if (!scr->it_ended)
		vrm_loop(VRM_ITAB_MAX, vrm_indirect_step, &k);
	if (k.verdict != VRM_OK)
		return k.verdict;
	if (!scr->it_ended)
		return VRM_CHAIN_LOOP;	/* not reached: the step says so first */
	/* As vrm_blk_tail_ok: a header, and a status byte the device writes. */
	if (q->net_mode == VRM_BLK_REQ && (scr->it_out < 2 || !(scr->it_seen & VRM_VRING_DESC_F_WRITE)))
		return VRM_BLK_STATUS;

	/* Published: the head owned, pointing at the table, in its slot. */
	ds = &q->desc_state[k.head & VRM_RING_MASK];
	ds->owner = k.head + 1;
	ds->next = VRM_DESC_END;
	sd = &sh->desc[k.head & VRM_RING_MASK];
	vrm_st64(VRM_ORDER_LE, &sd->addr,
		 vrm_itab_gpa(q) + (__u64)scr->it_base * sizeof(struct vrm_desc));
	vrm_st32(VRM_ORDER_LE, &sd->len, (scr->it_out & (2 * VRM_ITAB_MAX - 1)) * sizeof(struct vrm_desc));
	vrm_st16(VRM_ORDER_LE, &sd->flags, VRM_VRING_DESC_F_INDIRECT);
	vrm_st16(VRM_ORDER_LE, &sd->next, 0);
	vrm_st16(VRM_ORDER_LE, &sh->avail.ring[scr->it_slot & (q->size - 1) & VRM_RING_MASK], k.head);
	scr->it_tables++;
	scr->it_entries += scr->it_out;
	return VRM_OK;
}

/* Does the kick's entry f->done head a table (its descriptor, in the
 * window, has INDIRECT)? */
static vrm_inline bool vrm_fast_is_table(const struct vrm_fast *f)
{
	__u16 head = vrm_swab16_if(f->order, f->scr->heads[f->done & (2 * VRM_MAX_RING - 1)]);
	__u16 off = head - f->win_base;

	return off < f->win_len &&
	       (vrm_swab16_if(f->order, f->scr->win[off & (VRM_WIN - 1)].flags) &
		VRM_VRING_DESC_F_INDIRECT);
}

/*
 * The kick's entry f->done, where its head descriptor (in the window) has
 * INDIRECT: its table walked and its chain published (1, f advanced), or
 * not (0: not a table, or scr->it_verdict says why, which the general step
 * gives).  A fast path beside vrm_fast_chain (vrm_fast_more), so that a
 * table leaves the general step as any fast path does: the general step,
 * which the verifier follows through many states, only stops at a table.
 */
static vrm_inline __u32 vrm_fast_table(const struct vrm_device *dev, struct vrm_queue *q,
				     struct vrm_shadow_queue *sh, struct vrm_scratch *scr,
				     struct vrm_fast *f)
{
	__u16 head = vrm_swab16_if(f->order, scr->heads[f->done & (2 * VRM_MAX_RING - 1)]);
	__u16 off = head - scr->win_base;
	const struct vrm_desc *gd;

	if (f->done >= f->n || head > f->mask || off >= scr->win_len)
		return 0;
	gd = &scr->win[off & (VRM_WIN - 1)];
	scr->it_flags = vrm_swab16_if(f->order, gd->flags);
	if (!(scr->it_flags & VRM_VRING_DESC_F_INDIRECT))
		return 0;
	scr->it_addr = vrm_swab64_if(f->order, gd->addr);
	scr->it_len = vrm_swab32_if(f->order, gd->len);
	scr->it_head = head;
	scr->it_slot = (__u16)(f->slot0 + f->done);
	scr->it_verdict = vrm_indirect(dev, q, sh, scr);
	if (scr->it_verdict != VRM_OK)
		return 0;
	f->descs++;	/* the head; the table's entries are in it_entries */
	f->done++;
	return 1;
}

#endif /* VRINGMED_XLATE_INDIRECT_H */
