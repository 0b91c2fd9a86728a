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
 * (vrm_net_head): net TX/RX header slots and the blk request header work
 * behind an indirect descriptor as they do in front of one.
 */
#ifndef VRINGMED_XLATE_INDIRECT_H
#define VRINGMED_XLATE_INDIRECT_H

/* A table walk: a kick of its own (the header and memory checks take
 * one), and where the walk is. */
struct vrm_iwalk {
	struct vrm_kick k;
	__u32 n;		/* entries in the guest's table */
	__u32 base;		/* the head's first shadow entry */
	__u16 cur;		/* table entry being walked */
	__u16 out;		/* entries published */
	__u16 seen;		/* flags of the entries walked */
	__u16 ended;		/* the walk reached an entry without NEXT */
};

/* The back-end's address of a queue's shadow table room. */
static vrm_inline __u64 vrm_itab_gpa(const struct vrm_queue *q)
{
	return q->hdr_gpa - VRM_SHADOW_HDR_OFF + VRM_SHADOW_ITAB_OFF;
}

/* One entry of the table per call, on the copy in the scratch. */
static long vrm_indirect_step(__u64 i, void *arg)
{
	struct vrm_iwalk *w = arg;
	struct vrm_kick *k = &w->k;
	struct vrm_queue *q = k->q;
	const struct vrm_desc *gd;
	struct vrm_desc *sd;
	__u64 addr, end;
	__u32 len, v;
	__u16 flags, next;

	(void)i;
	/* n entries walked and a link still to follow: one came twice. */
	if (w->out >= w->n)
		return vrm_fail(k, VRM_CHAIN_LOOP);
	gd = &k->scr->itab[w->cur & (VRM_ITAB_MAX - 1)];
	addr = vrm_swab64_if(k->order, gd->addr);
	len = vrm_swab32_if(k->order, gd->len);
	flags = vrm_swab16_if(k->order, gd->flags);
	next = vrm_swab16_if(k->order, gd->next);

	if (flags & VRM_VRING_DESC_F_INDIRECT)
		return vrm_fail(k, VRM_INDIRECT_NESTED);
	if (len == 0)
		return vrm_fail(k, VRM_ZERO_LEN);
	end = addr + len;
	if (end < addr)
		return vrm_fail(k, VRM_ADDR_OVERFLOW);
	if (!vrm_buf_in_memory(k, addr, end))
		return vrm_fail(k, VRM_BUF_OUTSIDE_MEM);
	if ((w->seen & ~flags) & VRM_VRING_DESC_F_WRITE)
		return vrm_fail(k, VRM_WRITE_BEFORE_READ);
	if ((flags & VRM_VRING_DESC_F_NEXT) && next >= w->n)
		return vrm_fail(k, VRM_NEXT_OOB);
	if (w->out == 0 && q->net_mode) {
		v = vrm_net_head(k, k->head, flags, &addr, &len);
		if (v != VRM_OK)
			return vrm_fail(k, v);
	}
	q->offered[k->head & VRM_RING_MASK] =
		vrm_offer(w->out ? q->offered[k->head & VRM_RING_MASK] : 0, w->seen, flags, len);
	w->seen |= flags;
	flags &= VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE;
	sd = &k->sh->itab[(w->base + w->out) & (VRM_ITAB_ENTRIES - 1)];
	vrm_st64(VRM_ORDER_LE, &sd->addr, addr);
	vrm_st32(VRM_ORDER_LE, &sd->len, len);
	vrm_st16(VRM_ORDER_LE, &sd->flags, flags);
	vrm_st16(VRM_ORDER_LE, &sd->next, (flags & VRM_VRING_DESC_F_NEXT) ? w->out + 1 : 0);
	w->out++;
	if (flags & VRM_VRING_DESC_F_NEXT) {
		w->cur = next;
		return 0;
	}
	/* As vrm_blk_tail_ok: a header, and a status byte the device writes. */
	if (q->net_mode == VRM_BLK_REQ && (w->out < 2 || !(flags & VRM_VRING_DESC_F_WRITE)))
		return vrm_fail(k, VRM_BLK_STATUS);
	w->ended = 1;
	return 1;
}

/*
 * The table of head scr->it_head at scr->it_addr, scr->it_len bytes:
 * copied, checked, and published into the head's shadow table room.
 * Returns the verdict, and on VRM_OK the entries published above it
 * (<< 16).  Its arguments are pointers and the scratch carries the rest,
 * so BPF can make it a global function (VRM_INDIRECT_TABLE), verified once.
 */
static vrm_inline __u32 vrm_indirect(struct vrm_device *dev, struct vrm_queue *q,
				   struct vrm_shadow_queue *sh, struct vrm_scratch *scr,
				   struct vrm_qstats *st)
{
	struct vrm_iwalk w = {
		.k = {
			.dev = dev, .q = q, .sh = sh, .scr = scr, .st = st,
			.order = dev->order,
			.mask = (__u16)(q->size - 1),
			.head = scr->it_head,
			.region = scr->it_region,
		},
	};
	__u32 len = scr->it_len, per = vrm_itab_per(q->size);
	__u64 addr = scr->it_addr, end = addr + len;
	const struct vrm_region *reg;

	if (len & (sizeof(struct vrm_desc) - 1))
		return VRM_INDIRECT_LEN;
	if (len == 0)
		return VRM_ZERO_LEN;
	w.n = len / sizeof(struct vrm_desc);
	if (w.n > per || w.n > VRM_ITAB_MAX)
		return VRM_INDIRECT_TOO_LARGE;
	if (end < addr)
		return VRM_ADDR_OVERFLOW;
	if (!vrm_buf_in_memory(&w.k, addr, end))
		return VRM_BUF_OUTSIDE_MEM;
	reg = &dev->regions[w.k.region & (VRM_MAX_REGIONS - 1)];
	/* The one read of the table: everything below uses this copy. */
	if (vrm_env_read(dev, scr->itab, (w.n & (2 * VRM_ITAB_MAX - 1)) * sizeof(struct vrm_desc),
			reg->vmm_va + (addr - reg->gpa))) {
		st->read_faults++;
		return VRM_FAULT_VERDICT;
	}
	w.base = (__u32)(w.k.head & VRM_RING_MASK) * per;
	vrm_loop(VRM_ITAB_MAX + 1, vrm_indirect_step, &w);
	if (w.k.verdict != VRM_OK)
		return w.k.verdict;
	if (!w.ended)
		return VRM_CHAIN_LOOP;	/* not reached: the step says so first */
	return VRM_OK | (__u32)w.out << 16;
}

#ifndef VRM_INDIRECT_TABLE
#define VRM_INDIRECT_TABLE vrm_indirect
#endif

/*
 * The general step's head descriptor `k->cur` with INDIRECT (flags, addr and
 * len from the window's copy): its table translated, the shadow head
 * pointed at it, the chain published.  Not inlined: the general step is
 * verified once more for each way out of a call it inlines.
 */
static __attribute__((noinline)) long vrm_indirect_head(struct vrm_kick *k, __u16 flags,
							 __u64 addr, __u32 len)
{
	struct vrm_queue *q = k->q;
	struct vrm_desc_state *ds;
	struct vrm_desc *sd;
	__u16 head = k->head & k->mask & VRM_RING_MASK;
	__u32 r, v;

	/* The spec: INDIRECT never with NEXT; Linux and DPDK: only at the
	 * head of a chain (one table per chain, nothing linked to it). */
	if ((flags & VRM_VRING_DESC_F_NEXT) || k->chain_len != 1)
		return vrm_fail(k, VRM_INDIRECT_NEXT);
	k->scr->it_addr = addr;
	k->scr->it_len = len;
	k->scr->it_head = head;
	k->scr->it_region = (__u16)k->region;
	r = VRM_INDIRECT_TABLE(k->dev, q, k->sh, k->scr, k->st);
	v = r & 0xffff;
	if (v != VRM_OK)
		return vrm_fail(k, v);
	r >>= 16;
	ds = &q->desc_state[head];
	ds->owner = head + 1;
	ds->next = VRM_DESC_END;
	sd = &k->sh->desc[head];
	vrm_st64(VRM_ORDER_LE, &sd->addr,
		 vrm_itab_gpa(q) + (__u64)head * vrm_itab_per(q->size) * sizeof(struct vrm_desc));
	vrm_st32(VRM_ORDER_LE, &sd->len, r * sizeof(struct vrm_desc));
	vrm_st16(VRM_ORDER_LE, &sd->flags, VRM_VRING_DESC_F_INDIRECT);
	vrm_st16(VRM_ORDER_LE, &sd->next, 0);
	v = (__u32)(q->last_avail + k->done) & k->mask & VRM_RING_MASK;
	vrm_st16(VRM_ORDER_LE, &k->sh->avail.ring[v], head);
	k->descs += r;
	k->st->indirect++;
	k->done++;
	k->in_chain = 0;
	return 0;
}

#endif /* VRINGMED_XLATE_INDIRECT_H */
