/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The translation core, kick direction: guest legacy avail entries ->
 * validated modern little-endian shadow descriptors.  One source, compiled
 * into the BPF object (bpf/vringmed.bpf.c) and into userspace (user/uxlate.c).
 *
 * The includer provides, before including this file:
 *   VRM_FAULT_VERDICT      verdict for a guest read that failed: BPF hands the
 *                         kick to the daemon (VRM_DEFER), userspace has no
 *                         one to hand it to (VRM_RING_FAULT).
 *   vrm_loop(nr, cb, ctx)  bpf_loop() in BPF, a plain loop in userspace.
 *   vrm_env_read()         copy bytes of the VMM's memory.
 *   vrm_env_publish_idx()  store the shadow avail idx, ordered after the
 *                         descriptors and ring slots written before it.
 * and may provide:
 *   VRM_KICK_LIMIT         the most chains a translation round takes, 0 all
 *                         (userspace's vrm_ux_kick_some; BPF takes all).
 *
 * Rules kept throughout (they are what makes the BPF verifier and a hostile
 * guest both harmless):
 *   - every guest field is copied once (into scratch) and only the copy is
 *     validated and used;
 *   - every index is masked with both the ring mask and VRM_RING_MASK before
 *     it touches an array;
 *   - a verdict other than VRM_OK / VRM_DEFER marks the device broken in one
 *     place (vrm_mark_broken), and every entry point checks that flag first.
 */
#ifndef VRINGMED_XLATE_H
#define VRINGMED_XLATE_H

#include "compat.h"
#include "byteorder.h"
#include "vring.h"
#include "abi.h"

#ifndef VRM_FAULT_VERDICT
#error "the includer must define VRM_FAULT_VERDICT"
#endif

/* Where a kick is in its walk of the guest's ring: everything the kick step
 * (vrm_kick_step) changes from one call to the next.  In the scratch, not in
 * the kick's locals: the BPF verifier tracks no values of map memory, so the
 * state the step starts from is the same at every call, and the loop is
 * verified once instead of once per value the walk can carry. */
struct vrm_walk {
	__u32 verdict;
	__u32 descs;
	__u32 region;		/* last region a buffer fell in */
	__u16 n;		/* avail entries in this kick */
	__u16 done;		/* chains finished */
	__u16 head;		/* chain being walked */
	__u16 cur;		/* descriptor being walked */
	__u16 chain_len;
	__u8 in_chain;
	__u8 saw_write;
	__u8 slow;		/* the next entry is the general step's */
	__u8 _pad[3];
};

/* Per-queue scratch: the one copy of guest ring data a kick works on.  Per
 * queue, not per CPU, so a preempted translation cannot share it; the queue's
 * busy lock serialises its users. */
struct vrm_scratch {
	__u16 heads[2 * VRM_MAX_RING];	/* raw avail entries (two runs at wrap) */
	struct vrm_desc win[VRM_WIN];	/* raw guest descriptors [win_base, +win_len) */
	/* Where the window is and how the kick loads it (vrm_fetch_desc).  In
	 * the scratch, not in the kick's locals, so that the BPF verifier does
	 * not follow each way of loading it as a state of its own. */
	__u16 win_base, win_len;
	__u16 span_lo, span_hi;	/* the heads left: vrm_span_step's result */
	__u32 spanned;		/* the span was loaded in this kick */
	__u32 _pad;
	/* An indirect table (xlate_indirect.h): the one copy of it that is
	 * walked, checked and published, what the kick hands the walk, and
	 * where the walk is.  In the scratch, not in the walk's locals: the
	 * BPF verifier follows no values of them, and the walk's frames,
	 * on top of the kick's, stay small. */
	struct vrm_desc itab[VRM_ITAB_MAX];
	__u64 it_addr;		/* the head descriptor's, as the window has it */
	__u32 it_len;
	__u16 it_flags;
	__u16 it_head;		/* the chain it is the head of */
	__u16 it_slot;		/* the avail slot it goes to (free-running) */
	__u16 it_cur;		/* table entry being walked */
	__u16 it_out;		/* entries published */
	__u16 it_seen;		/* flags of the entries walked */
	__u32 it_n;		/* entries in the guest's table */
	__u32 it_base;		/* the head's first shadow entry */
	__u32 it_ended;		/* the walk reached an entry without NEXT */
	__u32 it_verdict;	/* what the walk found (the general step's) */
	__u64 it_eaddr;		/* the entry being walked, decoded */
	__u32 it_elen;
	__u16 it_eflags;
	__u16 it_enext;
	/* This kick's tables: published, their entries, reads that faulted
	 * (the queue's counters have them at the kick's end). */
	__u32 it_tables;
	__u32 it_entries;
	__u32 it_faults;
	__u32 _pad2;
	struct vrm_walk walk;	/* this kick's (vrm_kick.w) */
};
VRM_STATIC_ASSERT(sizeof(struct vrm_walk) == 28, "vrm_walk");
VRM_STATIC_ASSERT(sizeof(struct vrm_scratch) ==
		 4 * VRM_MAX_RING + 16 * VRM_WIN + 16 + 16 * VRM_ITAB_MAX + 72 + 28 + 4, "vrm_scratch ABI");

/* A clock stamp at a point of the kick (abi.h, VRM_ST_*): only a build for
 * `make perf-kick-phases` defines it. */
#ifndef VRM_STAMP
#define VRM_STAMP(i)	do { } while (0)
#endif
static long vrm_env_read(const struct vrm_device *dev, void *dst, __u32 len, __u64 vmm_va);
static void vrm_env_publish_idx(struct vrm_shadow_queue *sh, __u16 idx);

/* One kick in progress. */
struct vrm_kick {
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	struct vrm_scratch *scr;
	struct vrm_qstats *st;
	struct vrm_walk *w;	/* &scr->walk */
	__u32 order;		/* enum vrm_order of the guest ring */
	__u16 mask;		/* ring size - 1 */
	__u16 _pad;
};

static vrm_inline void vrm_mark_broken(struct vrm_device *dev, struct vrm_qstats *st,
				     __u32 verdict)
{
	/* First verdict wins until reset; later ones still count. */
	__sync_val_compare_and_swap(&dev->broken, 0, verdict);
	if (st && verdict < VRM_VERDICT_NR)
		st->errors[verdict]++;
}

static vrm_inline __u32 vrm_batch_bucket(__u32 n)
{
	__u32 b = 0;

	/* 0 -> 0, 1 -> 1, 2..3 -> 2, 4..7 -> 3, ... capped at the last bucket. */
	if (n >= 1)	b = 1;
	if (n >= 2)	b = 2;
	if (n >= 4)	b = 3;
	if (n >= 8)	b = 4;
	if (n >= 16)	b = 5;
	if (n >= 32)	b = 6;
	if (n >= 64)	b = 7;
	if (n >= 128)	b = 8;
	if (n >= 256)	b = 9;
	if (n >= 512)	b = 10;
	if (n >= 1024)	b = 11;
	return b;
}

/* Is [gpa, gpa + len) inside one guest memory region?  Buffers of a ring
 * mostly come from one region, so the last hit is tried first. */
static vrm_inline bool vrm_buf_in_memory(struct vrm_kick *k, __u64 gpa, __u64 end)
{
	const struct vrm_device *dev = k->dev;
	__u32 r = k->w->region & (VRM_MAX_REGIONS - 1);
	const struct vrm_region *reg = &dev->regions[r];

	if (r < dev->nregions && gpa >= reg->gpa && end - reg->gpa <= reg->size)
		return true;
	for (__u32 i = 0; i < VRM_MAX_REGIONS; i++) {
		reg = &dev->regions[i];
		if (i >= dev->nregions)
			break;
		if (gpa >= reg->gpa && end - reg->gpa <= reg->size) {
			k->w->region = i;
			return true;
		}
	}
	return false;
}

static vrm_inline long vrm_fail(struct vrm_kick *k, __u32 verdict)
{
	k->w->verdict = verdict;
	return 1;	/* stops vrm_loop */
}

/*
 * What a chain offers the back-end, the bound of the used.len it may
 * return (vrm_used_len_ok): the bytes of its device-writable descriptors,
 * for used.len counts the bytes the device wrote into the chain (a block
 * write: its status byte); a chain with none (a TX frame) its whole length:
 * the spec's 0 is not what every back-end returns, and a guest reads
 * nothing of such a buffer, so no length up to its size can hurt it.  As
 * the shadow descriptors say it (a 12-byte header slot where the guest has
 * 10): the back-end counts what it was given.  Read-only descriptors come
 * first, so the sum starts again at the first device-writable one.  Saturates
 * at 2^32 - 1, used.len's largest value, and is never 0 (no descriptor is).
 * `seen`: the flags of the chain's descriptors before this one.
 */
static vrm_inline __u32 vrm_offer(__u32 sum, __u16 seen, __u16 flags, __u32 len)
{
	if ((flags & ~seen) & VRM_VRING_DESC_F_WRITE)
		sum = 0;
	sum += len;
	return sum < len ? 0xffffffffu : sum;
}

/* Widens a window for chain members just above the heads it covers, and
 * a kick's first run for chains longer than the one descriptor per head
 * it must assume. */
#define VRM_WIN_SLACK 8

/* Is one bulk read of `span` descriptors worth more than up to `left`
 * small ones?  A read's fixed cost (a helper call, a fault-safe copy) is
 * 20-40 ns here, what copying 60-120 more descriptors costs (bench-kick's
 * copy floor at 1 chain against 256); 32 descriptors per read saved keeps
 * to the safe side of that. */
static vrm_inline bool vrm_win_dense(__u32 span, __u32 left)
{
	return span <= 32 * left + 64;
}

/* Folds one of the heads left in this kick into the scratch's span. */
static long vrm_span_step(__u64 i, void *arg)
{
	struct vrm_kick *k = arg;
	__u16 h = vrm_swab16_if(k->order, k->scr->heads[(k->w->done + i) & (2 * VRM_MAX_RING - 1)]);

	if (h <= k->mask) {	/* a bad head gets its verdict when it is reached */
		if (h < k->scr->span_lo)
			k->scr->span_lo = h;
		if (h > k->scr->span_hi)
			k->scr->span_hi = h;
	}
	return 0;
}

/*
 * The guest descriptor `idx`, copied into the window.  A load copies, in one
 * bulk read, what the rest of this kick is likely to need:
 *   - the kick's first load, or one that carries on from the window's edge:
 *     a run from `idx` up, or down to it (at the first load: when the next
 *     head is below), as long as the chains left need (at their length so
 *     far).  A fresh ring's heads come up in order; Linux hands out the free
 *     descriptor returned last first, so once its ring has gone round, a
 *     batch's heads mostly come down;
 *   - a miss anywhere else (completions came back out of order) means the
 *     heads are scattered: the span of all the heads left, found by one
 *     pass over the copied heads (straight to the next step when they are
 *     many), and after that, on any miss (chain members elsewhere), the
 *     whole table; each only where it is dense enough to be worth one read
 *     (vrm_win_dense), else a run.
 * VRM_WIN holds the largest ring, so a kick over a dense set of descriptors
 * takes at most three loads and one pass, in any order.  Not inlined: the
 * verifier checks it once per call site, and a hit costs no call.
 */
static __attribute__((noinline)) const struct vrm_desc *vrm_fetch_load(struct vrm_kick *k, __u16 idx)
{
	struct vrm_scratch *scr = k->scr;
	__u32 ring = (__u32)k->mask + 1, left = (__u32)(k->w->n - k->w->done), lo, hi, cnt, per, want;
	bool down = false;

	/* Descriptors per chain so far, rounded up: what a run must hold. */
	per = k->w->done ? (k->w->descs + k->w->done - 1) / k->w->done : 1;
	if (per > VRM_WIN)
		per = VRM_WIN;
	want = left * per;
	if (!scr->win_len) {
		down = !k->w->in_chain && left > 1 &&
		       vrm_swab16_if(k->order, scr->heads[(k->w->done + 1) & (2 * VRM_MAX_RING - 1)]) < idx;
	} else if (scr->spanned || ring <= 4 * left) {
		/* After the span, or where the heads left are a quarter of
		 * the ring or more (reading the table is then cheaper than a
		 * pass over them): the whole table. */
		if (vrm_win_dense(ring, left)) {
			lo = 0;
			hi = ring - 1;
			goto load;
		}
		down = (__u16)(idx + 1) == scr->win_base;
	} else if (idx == (__u16)(scr->win_base + scr->win_len)) {
		down = false;
	} else if ((__u16)(idx + 1) == scr->win_base) {
		down = true;
	} else {
		__u32 slo, shi;

		scr->spanned = 1;
		scr->span_lo = idx;
		scr->span_hi = idx;
		vrm_loop(left, vrm_span_step, k);
		slo = scr->span_lo;
		shi = scr->span_hi;
		if (slo <= idx && idx <= shi && vrm_win_dense(shi + 1 - slo, left)) {
			lo = slo;
			hi = shi + VRM_WIN_SLACK;
			goto load;
		}
	}
	if (down) {
		/* this descriptor is the highest of the run; members of a
		 * chain may sit just above their head */
		lo = (__u32)idx + 1 > want ? (__u32)idx + 1 - want : 0;
		hi = idx + VRM_WIN_SLACK;
	} else {
		/* and a chain's members may run past its heads' count */
		lo = idx;
		hi = idx + want + VRM_WIN_SLACK;
	}
load:
	if (hi > ring - 1)
		hi = ring - 1;
	if (hi - lo >= VRM_WIN) {
		if (down)
			lo = hi + 1 - VRM_WIN;
		else
			hi = lo + VRM_WIN - 1;
	}
	cnt = hi - lo + 1;
	if (cnt > VRM_WIN)
		cnt = VRM_WIN;
	if (cnt < 1)
		cnt = 1;
	if (vrm_env_read(k->dev, scr->win, cnt * sizeof(struct vrm_desc),
			k->q->desc_va + (__u64)lo * sizeof(struct vrm_desc))) {
		scr->win_len = 0;
		return NULL;
	}
	scr->win_base = lo;
	scr->win_len = cnt;
	return &scr->win[(idx - lo) & (VRM_WIN - 1)];
}

static vrm_inline const struct vrm_desc *vrm_fetch_desc(struct vrm_kick *k, __u16 idx)
{
	__u16 off = idx - k->scr->win_base;

	if (off < k->scr->win_len)
		return &k->scr->win[off & (VRM_WIN - 1)];
	return vrm_fetch_load(k, idx);
}

/* Converts a virtio-net header between a byte order and little-endian:
 * flags and gso_type are bytes, the rest (hdr_len, gso_size, csum_start,
 * csum_offset[, num_buffers]) are 16-bit fields.  The swap is its own
 * inverse, so one helper serves both directions; `len` is 10 or 12. */
static vrm_inline void vrm_net_hdr_convert(__u8 *dst, const __u8 *src, __u32 len,
					 enum vrm_order from, enum vrm_order to)
{
	dst[0] = src[0];
	dst[1] = src[1];
	for (__u32 off = 2; off + 2 <= len && off < VRM_NET_HDR_MODERN; off += 2) {
		__u16 v;

		__builtin_memcpy(&v, src + off, 2);
		v = vrm_swab16_if(to, vrm_swab16_if(from, v));
		__builtin_memcpy(dst + off, &v, 2);
	}
}

/* A legacy TX header (`hlen` bytes in the guest's order, at `vmm_va`)
 * copied into a mediator header slot as a modern little-endian one.
 * Nonzero when the guest's memory cannot be read.  Copied straight into
 * the slot and converted there (the slot is ours until the chain is
 * published), so it takes no stack, and not inlined: the fast chain's
 * call chain has none to spare. */
static __attribute__((noinline)) long vrm_net_tx_header(const struct vrm_device *dev, __u32 order,
							__u8 *slot, __u32 hlen, __u64 vmm_va)
{
	if (vrm_env_read(dev, slot, hlen == VRM_NET_HDR_LEGACY ? VRM_NET_HDR_LEGACY :
			VRM_NET_HDR_MODERN, vmm_va))
		return -1;
	slot[10] = 0;	/* num_buffers: unused on TX, 0 for a modern device */
	slot[11] = 0;
	vrm_net_hdr_convert(slot, slot, VRM_NET_HDR_MODERN, (enum vrm_order)order, VRM_ORDER_LE);
	return 0;
}

/*
 * The common case, fast: a run of single-descriptor chains whose
 * descriptors are already in the window, with the hot state in locals.  It
 * publishes only entries that pass every check of the general step; at the
 * first entry that is not that simple (a chain, INDIRECT, outside the
 * window, anything failing a check) it stops; a chain gets its own fast
 * path below (vrm_fast_chain), and what that does not take either goes to
 * the general step, which gives the verdict.  So the paths cannot
 * disagree, and the differential test holds them to the reference.
 */
#define VRM_FAST_RUN 64

/* The hot state of a fast run.  A local struct: in userspace the compiler
 * inlines the step and keeps it in registers; in BPF it is the bpf_loop
 * context, so the verifier checks one entry, not VRM_FAST_RUN of them. */
struct vrm_fast {
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	const struct vrm_scratch *scr;
	__u64 rlo, rsize;	/* the region the last buffer fell in */
	__u16 order, mask, win_base, win_len, slot0, done, n;
	/* What the queue asks of a buffer: (flags ^ want) & check == 0 and
	 * len >= min_len.  A mergeable RX buffer (VRM_NET_RX_INPLACE) must be
	 * device-writable and hold the 12-byte header, as vrm_net_head says. */
	__u16 flags_check, flags_want, min_len;
	__u16 region;		/* chains: the region rlo, rsize are */
	__u16 descs;		/* chains: descriptors published */
};
VRM_STATIC_ASSERT(sizeof(struct vrm_fast) == 64, "vrm_fast: the BPF stack holds two copies");

/* One entry of a fast run, on the caller's copy of the hot state.  `order`
 * is a constant in each caller below, so each byte order gets its own
 * straight-line copy. */
static vrm_inline long vrm_fast_one(struct vrm_fast *f, const __u32 order)
{
	__u16 head = vrm_swab16_if(order, f->scr->heads[f->done & (2 * VRM_MAX_RING - 1)]);
	__u16 off = head - f->win_base;
	const struct vrm_desc *gd;
	struct vrm_desc *sd;
	__u64 addr, end;
	__u32 len;
	__u16 flags;

	if (f->done >= f->n || head > f->mask || off >= f->win_len)
		return 1;
	gd = &f->scr->win[off & (VRM_WIN - 1)];
	flags = vrm_swab16_if(order, gd->flags);
	len = vrm_swab32_if(order, gd->len);
	addr = vrm_swab64_if(order, gd->addr);
	end = addr + len;
	if (((flags ^ f->flags_want) & f->flags_check) || len < f->min_len ||
	    end < addr || addr < f->rlo || end - f->rlo > f->rsize)
		return 1;
	head &= VRM_RING_MASK;
	if (f->q->desc_state[head].owner)
		return 1;
	{
		/* One 32-bit store for owner and next: VRM_DESC_END, the
		 * chain's last (vrm_chain_len stops there). */
		const struct vrm_desc_state ds = { .owner = head + 1, .next = VRM_DESC_END };

		__builtin_memcpy(&f->q->desc_state[head], &ds, sizeof(ds));
	}
	/* What the used path may trust of this chain, where the back-end
	 * cannot write it: its header's place and its length. */
	f->q->rx_hdr[head] = addr;
	f->q->offered[head] = len;
	sd = &f->sh->desc[head];
	vrm_st64(VRM_ORDER_LE, &sd->addr, addr);
	vrm_st32(VRM_ORDER_LE, &sd->len, len);
	vrm_st16(VRM_ORDER_LE, &sd->flags, flags & VRM_VRING_DESC_F_WRITE);
	vrm_st16(VRM_ORDER_LE, &sd->next, 0);
	vrm_st16(VRM_ORDER_LE, &f->sh->avail.ring[(__u16)(f->slot0 + f->done) & f->mask & VRM_RING_MASK],
		head);
	f->done++;
	return 0;
}

/* VRM_FAST_UNROLL entries per step, on a local copy of the state: in BPF the
 * state lives in the bpf_loop context, so one step per entry would reload
 * and store it (and pay a call) for every descriptor. */
#define VRM_FAST_UNROLL 4

static vrm_inline long vrm_fast_step_order(struct vrm_fast *f, const __u32 order)
{
	struct vrm_fast l = *f;
	long stop = 0;

	VRM_UNROLL
	for (int j = 0; j < VRM_FAST_UNROLL; j++) {
		stop = vrm_fast_one(&l, order);
		if (stop)
			break;
	}
	f->done = l.done;
	return stop;
}

static long vrm_fast_step_le(__u64 i, void *arg)
{
	(void)i;
	return vrm_fast_step_order(arg, VRM_ORDER_LE);
}

static long vrm_fast_step_be(__u64 i, void *arg)
{
	(void)i;
	return vrm_fast_step_order(arg, VRM_ORDER_BE);
}

/* One loop per byte order, each in its own function: a loop site with one
 * fixed callback is what the verifier inlines bpf_loop for (a merged call
 * with a chosen callback goes through the helper and an indirect call,
 * measured at twice the cost per descriptor). */
static __attribute__((noinline)) long vrm_fast_loop_le(struct vrm_fast *f)
{
	vrm_loop(VRM_FAST_RUN / VRM_FAST_UNROLL, vrm_fast_step_le, f);
	return 0;
}

static __attribute__((noinline)) long vrm_fast_loop_be(struct vrm_fast *f)
{
	vrm_loop(VRM_FAST_RUN / VRM_FAST_UNROLL, vrm_fast_step_be, f);
	return 0;
}

/*
 * A chain, fast: a legacy virtio-net TX without ANY_LAYOUT is a chain of
 * two (header, frame), a virtio-blk request one of three.  One chain of at
 * most VRM_FAST_CHAIN descriptors, all in the window and the last buffer's
 * region, each checked as the general step checks it and marked owned as
 * it passes (so a loop meets its own mark).  A chain that is not that
 * simple has the marks it got taken back and is left to the general step,
 * which gives the verdict; the shadow descriptors and header slot it wrote
 * belong to descriptors no chain owns, which the back-end cannot reach and
 * the general step writes again.
 *
 * It runs over the single descriptors' state (struct vrm_fast), up to
 * VRM_FAST_CHAINS chains a call.
 */
/* Takes back the marks of the first `marked` members of `head`'s chain. */
static vrm_inline void vrm_fast_chain_undo(struct vrm_queue *q, __u16 mask, __u16 head, __u32 marked)
{
	__u16 cur = head;

	VRM_UNROLL
	for (__u32 j = 0; j < VRM_FAST_CHAIN; j++) {
		struct vrm_desc_state *ds = &q->desc_state[cur & mask & VRM_RING_MASK];

		if (j >= marked)
			break;
		ds->owner = 0;
		cur = ds->next;
	}
}

/* The back-end's address of a queue's shadow table room. */
static vrm_inline __u64 vrm_itab_gpa(const struct vrm_queue *q)
{
	return q->hdr_gpa - VRM_SHADOW_HDR_OFF + VRM_SHADOW_ITAB_OFF;
}

/* Where head idx's shadow table starts in its queue's table room. */
static vrm_inline __u32 vrm_itab_at(const struct vrm_queue *q, __u32 idx)
{
	return ((idx & VRM_RING_MASK) * vrm_itab_per(q->size)) & (VRM_ITAB_ENTRIES - 2);
}

/*
 * A 10-byte-header RX buffer that holds header and frame in one descriptor
 * (Linux's small buffers without MRG_RXBUF).  The back-end writes a 12-byte
 * header, so in place the frame would land 2 bytes late; instead the head
 * becomes an indirect descriptor of a two-entry shadow table in the head's
 * table room: the header slot, then the buffer past the guest's header.  The
 * used path converts the slot into the buffer's first 10 bytes, as for a
 * header with a descriptor of its own; nothing is copied.  Records where
 * the header goes, clears the slot, writes the table; returns the table's
 * address for the head's shadow descriptor (2 entries; the bytes offered:
 * VRM_NET_SPLIT_OFFER).  addr and len are the guest's validated buffer.
 */
#define VRM_NET_SPLIT_OFFER(len)	(VRM_NET_HDR_MODERN + (len) - VRM_NET_HDR_LEGACY)

static vrm_inline __u64 vrm_net_rx_split(struct vrm_queue *q, struct vrm_shadow_queue *sh,
				       __u32 idx, __u64 addr, __u32 len)
{
	__u32 at = vrm_itab_at(q, idx);
	struct vrm_desc *t = &sh->itab[at];

	idx &= VRM_RING_MASK;
	q->rx_hdr[idx] = addr;
	__builtin_memset(sh->hdr[idx], 0, VRM_NET_HDR_MODERN);
	vrm_st64(VRM_ORDER_LE, &t[0].addr, q->hdr_gpa + (__u64)idx * VRM_SHADOW_HDR_SLOT);
	vrm_st32(VRM_ORDER_LE, &t[0].len, VRM_NET_HDR_MODERN);
	vrm_st16(VRM_ORDER_LE, &t[0].flags, VRM_VRING_DESC_F_WRITE | VRM_VRING_DESC_F_NEXT);
	vrm_st16(VRM_ORDER_LE, &t[0].next, 1);
	vrm_st64(VRM_ORDER_LE, &t[1].addr, addr + VRM_NET_HDR_LEGACY);
	vrm_st32(VRM_ORDER_LE, &t[1].len, len - VRM_NET_HDR_LEGACY);
	vrm_st16(VRM_ORDER_LE, &t[1].flags, VRM_VRING_DESC_F_WRITE);
	vrm_st16(VRM_ORDER_LE, &t[1].next, 0);
	return vrm_itab_gpa(q) + (__u64)at * sizeof(struct vrm_desc);
}

/* The chain of the kick's entry f->done, if it is that simple: its
 * descriptors, else 0. */
static vrm_inline __u32 vrm_fast_chain_one(const struct vrm_device *dev, struct vrm_queue *q,
					 struct vrm_shadow_queue *sh, const struct vrm_scratch *scr,
					 const struct vrm_fast *f, const __u32 order, __u16 tx_hlen)
{
	const __u64 rlo = f->rlo, rsize = f->rsize;
	const __u16 mask = f->mask;
	__u16 head, cur, flags = 0, next, seen = 0;
	__u32 marked = 0, len;
	__u64 addr, end;

	head = vrm_swab16_if(order, scr->heads[f->done & (2 * VRM_MAX_RING - 1)]);
	if (head > mask)
		return 0;
	cur = head;
	VRM_UNROLL
	for (__u32 m = 0; m < VRM_FAST_CHAIN; m++) {
		__u16 off = cur - f->win_base, idx = cur & VRM_RING_MASK;
		const struct vrm_desc *gd;
		struct vrm_desc *sd;

		if (off >= f->win_len || m >= q->max_chain || q->desc_state[idx].owner)
			goto undo;
		gd = &scr->win[off & (VRM_WIN - 1)];
		flags = vrm_swab16_if(order, gd->flags);
		len = vrm_swab32_if(order, gd->len);
		addr = vrm_swab64_if(order, gd->addr);
		next = vrm_swab16_if(order, gd->next);
		end = addr + len;
		/* INDIRECT, empty, wrapping, outside the region, a read buffer
		 * after a write one, a link out of the ring */
		if ((flags & VRM_VRING_DESC_F_INDIRECT) || !len || end < addr ||
		    addr < rlo || end - rlo > rsize || (seen & ~flags & VRM_VRING_DESC_F_WRITE) ||
		    ((flags & VRM_VRING_DESC_F_NEXT) && next > mask))
			goto undo;
		if (!(flags & VRM_VRING_DESC_F_NEXT))
			next = 0;
		if (m == 0 && tx_hlen) {
			/* As vrm_net_head, VRM_NET_TX_SLOT; nothing marked yet. */
			if ((flags & VRM_VRING_DESC_F_WRITE) || len != tx_hlen ||
			    vrm_net_tx_header(dev, order, sh->hdr[idx], len,
					     dev->regions[f->region & (VRM_MAX_REGIONS - 1)].vmm_va +
					     (addr - rlo)))
				return 0;
			addr = q->hdr_gpa + (__u64)idx * VRM_SHADOW_HDR_SLOT;
			len = VRM_NET_HDR_MODERN;
		}
		/* In the queue, as the general step sums it: a local would
		 * cost this frame the stack it does not have. */
		q->offered[head & VRM_RING_MASK] =
			vrm_offer(m ? q->offered[head & VRM_RING_MASK] : 0, seen, flags, len);
		seen |= flags;
		{
			const struct vrm_desc_state ds = {
				.owner = head + 1,
				.next = (flags & VRM_VRING_DESC_F_NEXT) ? next : VRM_DESC_END,
			};

			__builtin_memcpy(&q->desc_state[idx], &ds, sizeof(ds));
		}
		marked++;
		sd = &sh->desc[idx];
		vrm_st64(VRM_ORDER_LE, &sd->addr, addr);
		vrm_st32(VRM_ORDER_LE, &sd->len, len);
		vrm_st16(VRM_ORDER_LE, &sd->flags, flags & (VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE));
		vrm_st16(VRM_ORDER_LE, &sd->next, next);
		if (!(flags & VRM_VRING_DESC_F_NEXT))
			break;
		cur = next;
	}
	if (flags & VRM_VRING_DESC_F_NEXT)
		goto undo;	/* longer than VRM_FAST_CHAIN */
	vrm_st16(VRM_ORDER_LE, &sh->avail.ring[(__u16)(f->slot0 + f->done) & mask & VRM_RING_MASK],
		head);
	return marked;
undo:
	vrm_fast_chain_undo(q, mask, head, marked);
	return 0;
}

/* Chains per call: the call's set-up is paid once for them. */
#define VRM_FAST_CHAINS 8

/* Does the queue give the back-end its 10-byte-header RX buffers that hold
 * header and frame as shadow tables (vrm_net_rx_split)? */
static vrm_inline bool vrm_rx_splits(const struct vrm_queue *q)
{
	return q->net_mode == VRM_NET_RX_SLOT && q->net_hdr_len == VRM_NET_HDR_LEGACY &&
	       (q->flags & VRM_QF_BE_INDIRECT);
}

/*
 * The kick's entry f->done on a queue that splits (vrm_rx_splits), head
 * descriptor gd in the window: one device-writable buffer (no link, no
 * table) longer than the header, inside the region, published as a shadow
 * table with the general step's checks (1, f advanced); anything else is
 * the general step's (0).  vrm_fast_chain runs it, on a queue whose chains
 * it would not take: a global function in BPF, so the kick step the
 * verifier follows through many states does not grow.
 */
static vrm_inline __u32 vrm_fast_split(struct vrm_queue *q, struct vrm_shadow_queue *sh,
				     struct vrm_fast *f, const __u32 order, __u16 head,
				     const struct vrm_desc *gd)
{
	__u16 idx = head & VRM_RING_MASK;
	__u64 addr = vrm_swab64_if(order, gd->addr);
	__u32 len = vrm_swab32_if(order, gd->len);
	__u64 end = addr + len;
	struct vrm_desc *sd;

	if (vrm_swab16_if(order, gd->flags) != VRM_VRING_DESC_F_WRITE ||
	    len <= VRM_NET_HDR_LEGACY || end < addr || addr < f->rlo || end - f->rlo > f->rsize ||
	    q->max_chain < 1 || q->desc_state[idx].owner)
		return 0;
	{
		const struct vrm_desc_state ds = { .owner = head + 1, .next = VRM_DESC_END };

		__builtin_memcpy(&q->desc_state[idx], &ds, sizeof(ds));
	}
	q->offered[idx] = VRM_NET_SPLIT_OFFER(len);
	sd = &sh->desc[idx];
	vrm_st64(VRM_ORDER_LE, &sd->addr, vrm_net_rx_split(q, sh, idx, addr, len));
	vrm_st32(VRM_ORDER_LE, &sd->len, 2 * sizeof(struct vrm_desc));
	vrm_st16(VRM_ORDER_LE, &sd->flags, VRM_VRING_DESC_F_INDIRECT);
	vrm_st16(VRM_ORDER_LE, &sd->next, 0);
	vrm_st16(VRM_ORDER_LE, &sh->avail.ring[(__u16)(f->slot0 + f->done) & f->mask & VRM_RING_MASK],
		 head);
	f->descs++;
	f->done++;
	return 1;
}

/* Publishes up to VRM_FAST_CHAINS such chains from the kick's entry f->done
 * on, advancing f->done and counting their descriptors in f->descs.  Reads
 * only the scalars of *f (BPF passes it to a global function, where its
 * pointers are numbers); `order` is a constant in each caller. */
static vrm_inline __u32 vrm_fast_chain(const struct vrm_device *dev, struct vrm_queue *q,
				     struct vrm_shadow_queue *sh, const struct vrm_scratch *scr,
				     struct vrm_fast *f, const __u32 order)
{
	__u16 tx_hlen = 0;
	__u32 c;

	if (q->net_mode == VRM_NET_TX_SLOT &&
	    (q->net_hdr_len == VRM_NET_HDR_LEGACY || q->net_hdr_len == VRM_NET_HDR_MODERN))
		tx_hlen = q->net_hdr_len;
	else if (vrm_rx_splits(q))
		goto split;
	else if (q->net_mode != VRM_NET_NONE)
		return 0;
	for (c = 0; c < VRM_FAST_CHAINS && f->done != f->n; c++) {
		__u32 d = vrm_fast_chain_one(dev, q, sh, scr, f, order, tx_hlen);

		if (!d)
			break;
		f->descs += d;
		f->done++;
	}
	return c;
split:
	for (c = 0; c < VRM_FAST_CHAINS && f->done != f->n; c++) {
		__u16 head = vrm_swab16_if(order, scr->heads[f->done & (2 * VRM_MAX_RING - 1)]);
		__u16 off = head - f->win_base;

		if (head > f->mask || off >= f->win_len ||
		    !vrm_fast_split(q, sh, f, order, head, &scr->win[off & (VRM_WIN - 1)]))
			break;
	}
	return c;
}

#include "xlate_blk.h"

/*
 * The head descriptor of a chain on a queue whose virtio-net headers need
 * the mediator (q->net_mode; a virtio-blk request's: vrm_blk_head): checks it is a header where the guest's
 * feature set says it must be, and points the shadow descriptor at the
 * queue's header slot where that mode needs one.  *addr and *len are the
 * validated guest values on entry and what the shadow descriptor carries on
 * return; VRM_HEAD_TABLE for a head it made a shadow table of
 * (vrm_net_rx_split: *len is then the bytes the table offers).
 */
#define VRM_HEAD_TABLE	0x8000u	/* no verdict is that large */
#if defined(__bpf__)
#define VRM_HEAD_FLAGS	(VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE)
#else
#define VRM_HEAD_FLAGS	(VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE | VRM_VRING_DESC_F_INDIRECT)
#endif
static vrm_inline __u32 vrm_net_head(struct vrm_kick *k, __u16 idx, __u16 flags,
				   __u64 *addr, __u32 *len)
{
	struct vrm_queue *q = k->q;
	const struct vrm_region *reg = &k->dev->regions[k->w->region & (VRM_MAX_REGIONS - 1)];
	__u8 *slot = k->sh->hdr[idx & VRM_RING_MASK];
	__u32 hlen = q->net_hdr_len;

	if (hlen != VRM_NET_HDR_LEGACY && hlen != VRM_NET_HDR_MODERN && q->net_mode != VRM_BLK_REQ)
		return VRM_BAD_CONFIG;
	switch (q->net_mode) {
	case VRM_BLK_REQ:	/* xlate_blk.h */
		hlen = vrm_blk_head(k, idx, flags, *addr, *len);
		if (hlen != VRM_OK)
			return hlen;
		break;
	case VRM_NET_TX_SLOT:
		/* Without ANY_LAYOUT the header has a descriptor of its own. */
		if ((flags & VRM_VRING_DESC_F_WRITE) || *len != hlen)
			return VRM_NET_HDR;
		if (vrm_net_tx_header(k->dev, k->order, slot, hlen,
				     reg->vmm_va + (*addr - reg->gpa))) {
			k->st->read_faults++;
			return VRM_FAULT_VERDICT;
		}
		break;
	case VRM_NET_RX_SLOT:
		if (!(flags & VRM_VRING_DESC_F_WRITE) || *len < hlen)
			return VRM_NET_HDR;
		if (*len != hlen) {
#if defined(__bpf__)
			/* Header and frame in one buffer: the fast path of
			 * chains takes those (vrm_fast_chain_one); one it
			 * left is the daemon's, verdict and all, for the
			 * kick step's frame has no room for it. */
			return VRM_DEFER;
#else
			/* Header and frame in one buffer: a table, where the
			 * back-end takes one and the buffer is the whole chain. */
			if (!(q->flags & VRM_QF_BE_INDIRECT) || (flags & VRM_VRING_DESC_F_NEXT) ||
			    hlen != VRM_NET_HDR_LEGACY)
				return VRM_NET_HDR;
			*addr = vrm_net_rx_split(q, k->sh, idx, *addr, *len);
			*len = VRM_NET_SPLIT_OFFER(*len);
			return VRM_HEAD_TABLE;
#endif
		}
		q->rx_hdr[idx & VRM_RING_MASK] = *addr;
		__builtin_memset(slot, 0, VRM_NET_HDR_MODERN);
		break;
	case VRM_NET_RX_INPLACE:
		if (!(flags & VRM_VRING_DESC_F_WRITE) || *len < VRM_NET_HDR_MODERN)
			return VRM_NET_HDR;
		/* The buffer itself carries the header. */
		q->rx_hdr[idx & VRM_RING_MASK] = *addr;
		return VRM_OK;
	default:
		return VRM_BAD_CONFIG;
	}
	*addr = q->hdr_gpa + (__u64)(idx & VRM_RING_MASK) * VRM_SHADOW_HDR_SLOT;
	*len = q->net_mode == VRM_BLK_REQ ? VRM_BLK_HDR_LEN : VRM_NET_HDR_MODERN;
	return VRM_OK;
}

#include "xlate_indirect.h"

/* One call per byte order, the order a constant in each, and one for
 * tables; BPF makes them global functions, each verified once whatever
 * state the kick is in. */
#ifndef VRM_FAST_CHAIN_LE
#define VRM_FAST_CHAIN_LE(dev, q, sh, scr, f)	vrm_fast_chain(dev, q, sh, scr, f, VRM_ORDER_LE)
#define VRM_FAST_CHAIN_BE(dev, q, sh, scr, f)	vrm_fast_chain(dev, q, sh, scr, f, VRM_ORDER_BE)
#endif
#ifndef VRM_FAST_TABLE
#define VRM_FAST_TABLE	vrm_fast_table
#endif

/* The fast paths from the kick's next entry: a run of single descriptors,
 * or where the first entry is not one, a run of chains.  Returns the
 * entries published; 0 leaves the entry to the general step. */
static vrm_inline __u32 vrm_fast_run(struct vrm_kick *k)
{
	__u32 r = k->w->region & (VRM_MAX_REGIONS - 1), ran;
	struct vrm_fast f = {
		.q = k->q,
		.sh = k->sh,
		.scr = k->scr,
		.rlo = k->dev->regions[r].gpa,
		.rsize = k->dev->regions[r].size,
		.order = (__u16)k->order,
		.mask = k->mask,
		.win_base = k->scr->win_base,
		.win_len = k->scr->win_len,
		.slot0 = k->q->last_avail,
		.done = k->w->done,
		.n = k->w->n,
		.flags_check = VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_INDIRECT,
		.min_len = 1,
		.region = (__u16)r,
	};

	if (k->q->max_chain < 1 || r >= k->dev->nregions)
		return 0;
	/* Single descriptors: no headers, or well-formed in-place ones.  A
	 * TX header queue's entries are chains (vrm_fast_chain takes them);
	 * the rest is the general step's business. */
	if (k->q->net_mode == VRM_NET_RX_INPLACE && k->q->net_hdr_len == VRM_NET_HDR_MODERN) {
		f.flags_check |= VRM_VRING_DESC_F_WRITE;
		f.flags_want = VRM_VRING_DESC_F_WRITE;
		f.min_len = VRM_NET_HDR_MODERN;
	} else if (k->q->net_mode != VRM_NET_NONE) {
		goto chains;
	}
	if (f.order == VRM_ORDER_BE)
		vrm_fast_loop_be(&f);
	else
		vrm_fast_loop_le(&f);
	ran = (__u16)(f.done - k->w->done);
	if (ran) {
		k->w->descs += ran;
		k->w->done = f.done;
		return ran;
	}
chains:	/* not a single descriptor: a table, or chains? */
	if (vrm_fast_is_table(&f))
		ran = VRM_FAST_TABLE(k->dev, k->q, k->sh, k->scr, &f);
	else if (f.order == VRM_ORDER_BE)
		ran = VRM_FAST_CHAIN_BE(k->dev, k->q, k->sh, k->scr, &f);
	else
		ran = VRM_FAST_CHAIN_LE(k->dev, k->q, k->sh, k->scr, &f);
	k->w->descs += f.descs;
	k->w->done = f.done;
	return ran;
}


/* One descriptor per call: bounded work per step, and the total number of
 * steps of a kick (VRM_KICK_STEPS) is bounded by the ring size because a
 * descriptor can be owned by at most one chain. */
static long vrm_kick_step(__u64 i, void *arg)
{
	struct vrm_kick *k = arg;
	struct vrm_queue *q = k->q;
	const struct vrm_desc *gd;
	struct vrm_desc *sd;
	struct vrm_desc_state *ds;
	__u64 addr, end;
	__u32 len, v;
	__u16 flags, next, idx, seen;

	(void)i;
	if (!k->w->in_chain) {
		if (k->w->done >= k->w->n)
			return 1;
		idx = vrm_swab16_if(k->order, k->scr->heads[k->w->done & (2 * VRM_MAX_RING - 1)]);
		if (idx > k->mask)
			return vrm_fail(k, VRM_HEAD_OOB);
		/* Load the window at this head, then try the fast path; a
		 * fetch that fails here is retried and counted below.  An
		 * entry the fast path leaves goes to the general step in the
		 * next call, not this one: the verifier then checks the
		 * general step once, not once per way out of the fast path. */
		if (!k->w->slow && !k->q->desc_state[idx & VRM_RING_MASK].owner &&
		    vrm_fetch_desc(k, idx)) {
			if (!vrm_fast_run(k))
				k->w->slow = 1;
			return 0;
		}
		k->w->slow = 0;
		k->w->head = idx;
		k->w->cur = idx;
		k->w->chain_len = 0;
		k->w->saw_write = 0;
		k->w->in_chain = 1;
	}

	idx = k->w->cur & k->mask & VRM_RING_MASK;
	ds = &q->desc_state[idx];
	/* Owned by this chain: the chain came back to itself.  Owned by
	 * another chain, or the head itself still out: the guest reused a
	 * descriptor the backend has not returned. */
	if (ds->owner)
		return vrm_fail(k, ds->owner == k->w->head + 1 && k->w->chain_len ?
				  VRM_CHAIN_LOOP : VRM_DESC_IN_FLIGHT);
	if (++k->w->chain_len > q->max_chain)
		return vrm_fail(k, VRM_CHAIN_TOO_LONG);

	gd = vrm_fetch_desc(k, idx);
	if (!gd) {
		k->st->read_faults++;
		return vrm_fail(k, VRM_FAULT_VERDICT);
	}
	/* The copy in the window is what gets validated and published. */
	addr = vrm_swab64_if(k->order, gd->addr);
	len = vrm_swab32_if(k->order, gd->len);
	flags = vrm_swab16_if(k->order, gd->flags);
	next = vrm_swab16_if(k->order, gd->next);

	/* A table is walked on the fast paths' way (vrm_fast_table): here
	 * is only the verdict it found, or the one for an INDIRECT
	 * descriptor that is no chain's head. */
	if (flags & VRM_VRING_DESC_F_INDIRECT)
		return vrm_fail(k, k->w->chain_len == 1 && k->scr->it_head == k->w->head ?
				  k->scr->it_verdict : VRM_INDIRECT_NEXT);
	if (len == 0)
		return vrm_fail(k, VRM_ZERO_LEN);
	end = addr + len;
	if (end < addr)
		return vrm_fail(k, VRM_ADDR_OVERFLOW);
	if (!vrm_buf_in_memory(k, addr, end))
		return vrm_fail(k, VRM_BUF_OUTSIDE_MEM);
	seen = k->w->saw_write ? VRM_VRING_DESC_F_WRITE : 0;
	if (flags & VRM_VRING_DESC_F_WRITE)
		k->w->saw_write = 1;
	else if (k->w->saw_write)
		return vrm_fail(k, VRM_WRITE_BEFORE_READ);
	if ((flags & VRM_VRING_DESC_F_NEXT) && next > k->mask)
		return vrm_fail(k, VRM_NEXT_OOB);

	if (k->w->chain_len == 1 && q->net_mode) {
		v = vrm_net_head(k, idx, flags, &addr, &len);
#if !defined(__bpf__)
		if (v == VRM_HEAD_TABLE) {
			flags = VRM_VRING_DESC_F_INDIRECT;
			v = VRM_OK;
		}
#endif
		if (v != VRM_OK)
			return vrm_fail(k, v);
	}
	/* Summed where it is kept, not in the kick's state: the verifier
	 * would follow each sum a chain can have as a state of its own.  A
	 * shadow table vrm_net_head made offers what it said, all writable. */
	q->offered[k->w->head & VRM_RING_MASK] =
		vrm_offer(k->w->chain_len == 1 ? 0 : q->offered[k->w->head & VRM_RING_MASK],
			 seen, flags, len);

	/* INDIRECT here is vrm_net_head's table: the guest's was refused
	 * above. */
	flags &= VRM_HEAD_FLAGS;
	if (!(flags & VRM_VRING_DESC_F_NEXT))
		next = 0;
	ds->owner = k->w->head + 1;
	/* The last descriptor's link is VRM_DESC_END: a chain's end is known
	 * without a walk into descriptor 0 (the shadow's next stays 0). */
	ds->next = (flags & VRM_VRING_DESC_F_NEXT) ? next : VRM_DESC_END;
	sd = &k->sh->desc[idx];
	vrm_st64(VRM_ORDER_LE, &sd->addr, addr);
	vrm_st32(VRM_ORDER_LE, &sd->len,
		 (flags & VRM_HEAD_FLAGS & VRM_VRING_DESC_F_INDIRECT) ? 2 * sizeof(struct vrm_desc) : len);
	vrm_st16(VRM_ORDER_LE, &sd->flags, flags);
	vrm_st16(VRM_ORDER_LE, &sd->next, next);
	k->w->descs++;

	if (flags & VRM_VRING_DESC_F_NEXT) {
		k->w->cur = next;
		return 0;
	}
	if (q->net_mode == VRM_BLK_REQ && !vrm_blk_tail_ok(k, flags))
		return vrm_fail(k, VRM_BLK_STATUS);
	/* Chain complete: same head, same slot as the guest used. */
	v = (__u32)(q->last_avail + k->w->done) & k->mask & VRM_RING_MASK;
	vrm_st16(VRM_ORDER_LE, &k->sh->avail.ring[v], k->w->head);
	k->w->done++;
	k->w->in_chain = 0;
	return 0;
}

/* Undo the ownership marks of the chain a fault interrupted, so the daemon
 * can redo that chain from its head.  The marked descriptors are a prefix of
 * the chain, linked through desc_state.next. */
static long vrm_unmark_step(__u64 i, void *arg)
{
	struct vrm_kick *k = arg;
	struct vrm_desc_state *ds;

	(void)i;
	ds = &k->q->desc_state[k->w->cur & k->mask & VRM_RING_MASK];
	if (ds->owner != k->w->head + 1)
		return 1;
	ds->owner = 0;
	k->w->cur = ds->next;
	return 0;
}

/* Reads the guest's avail idx and the new avail entries (two runs when they
 * wrap), one bulk read per run. */
static vrm_inline __u32 vrm_read_avail(struct vrm_kick *k)
{
	struct vrm_queue *q = k->q;
	__u16 raw_idx, avail_idx, start;
	__u32 first, rest;

	if (vrm_env_read(k->dev, &raw_idx, sizeof(raw_idx), q->avail_va + VRM_AVAIL_IDX_OFF)) {
		k->st->read_faults++;
		return VRM_FAULT_VERDICT;
	}
	avail_idx = vrm_swab16_if(k->order, raw_idx);
	k->w->n = avail_idx - q->last_avail;
	if (k->w->n == 0)
		return VRM_OK;
	if (k->w->n > (__u32)k->mask + 1)
		return VRM_AVAIL_JUMP;
#ifdef VRM_KICK_LIMIT
	if (VRM_KICK_LIMIT && k->w->n > VRM_KICK_LIMIT)
		k->w->n = VRM_KICK_LIMIT;
#endif

	start = q->last_avail & k->mask;
	first = (__u32)k->mask + 1 - start;
	if (first > k->w->n)
		first = k->w->n;
	first &= 2 * VRM_MAX_RING - 1;
	rest = (k->w->n - first) & (VRM_MAX_RING - 1);
	if (vrm_env_read(k->dev, &k->scr->heads[0], first * 2,
			q->avail_va + VRM_AVAIL_RING_OFF + 2ull * start) ||
	    (rest && vrm_env_read(k->dev, &k->scr->heads[first & VRM_RING_MASK], rest * 2,
				 q->avail_va + VRM_AVAIL_RING_OFF))) {
		k->st->read_faults++;
		return VRM_FAULT_VERDICT;
	}
	return VRM_OK;
}

/*
 * Translates everything new in the guest's avail ring into the shadow ring.
 * The caller holds the queue's busy lock.  Returns VRM_OK, VRM_DEFER (BPF
 * only: the daemon must finish this kick) or the verdict that broke the
 * device.
 */
static vrm_inline __u32 vrm_translate(struct vrm_device *dev, struct vrm_queue *q,
				    struct vrm_shadow_queue *sh, struct vrm_scratch *scr,
				    struct vrm_qstats *st, __u32 *chains_out)
{
	struct vrm_kick k = {
		.dev = dev, .q = q, .sh = sh, .scr = scr, .st = st, .w = &scr->walk,
		.order = dev->order,
		.mask = (__u16)(q->size - 1),
	};
	__u32 verdict;

	*chains_out = 0;
	if (dev->broken)
		return dev->broken;
	if (!(q->flags & VRM_QF_ENABLED))
		return VRM_OK;
	if (!vrm_ring_size_ok(q->size, VRM_MAX_RING)) {
		vrm_mark_broken(dev, st, VRM_BAD_CONFIG);
		return VRM_BAD_CONFIG;
	}

	st->kicks++;
	scr->win_len = 0;	/* nothing copied yet in this kick */
	scr->it_tables = 0;
	scr->it_entries = 0;
	scr->it_faults = 0;
	scr->spanned = 0;
	scr->walk = (struct vrm_walk){ .verdict = VRM_OK };
	verdict = vrm_read_avail(&k);
	VRM_STAMP(VRM_ST_AVAIL);
	if (verdict == VRM_OK && k.w->n == 0) {
		st->kicks_empty++;
		return VRM_OK;
	}
	if (verdict == VRM_OK) {
		vrm_loop(VRM_KICK_STEPS, vrm_kick_step, &k);
		verdict = k.w->verdict;
		if (verdict == VRM_OK && k.w->done != k.w->n)
			verdict = VRM_FAULT_VERDICT;	/* ran out of steps */
	}
	VRM_STAMP(VRM_ST_STEPS);
	if (verdict == VRM_DEFER && k.w->in_chain) {
		k.w->cur = k.w->head;
		vrm_loop(VRM_MAX_RING, vrm_unmark_step, &k);
	}

	/* The pointers from the kick's state from here on: the arguments need
	 * no copy of their own on the stack across the loop (in BPF the frame
	 * is part of a call chain the verifier holds to 512 bytes). */
	VRM_CRASH_POINT(10);
	if (k.w->done) {
		/* last_avail first: once the back-end can see the new entries
		 * (and return them), the used path must count them in flight.
		 * The publication below orders it, with the descriptors and ring
		 * slots, before the idx; pairs with the back-end's read barrier
		 * after it loads avail idx. */
		VRM_WRITE_ONCE(k.q->last_avail, (__u16)(k.q->last_avail + k.w->done));
		VRM_CRASH_POINT(11);
		vrm_env_publish_idx(k.sh, k.q->last_avail);
		k.st->chains += k.w->done;
		k.st->descs += k.w->descs + k.scr->it_entries;
		k.st->indirect += k.scr->it_tables;
	}
	VRM_STAMP(VRM_ST_PUBLISH);
	k.st->read_faults += k.scr->it_faults;
	k.st->batch[vrm_batch_bucket(k.w->done) & (VRM_BATCH_BUCKETS - 1)]++;
	*chains_out = k.w->done;

	if (verdict == VRM_DEFER)
		k.st->deferred++;
	else if (verdict != VRM_OK)
		vrm_mark_broken(k.dev, k.st, verdict);
	return verdict;
}

/*
 * The queue's kick-side lock.  A kicker first raises kick_pending, then tries
 * the lock; the holder drops the lock with a full barrier (xchg) before it
 * looks at kick_pending again, so a kick is never lost between the two.
 */
static vrm_inline bool vrm_queue_trylock(struct vrm_queue *q)
{
	VRM_WRITE_ONCE(q->kick_pending, 1);
	if (__sync_val_compare_and_swap(&q->busy, 0, 1) != 0)
		return false;
	__sync_lock_test_and_set(&q->kick_pending, 0);
	return true;
}

/* Drops the lock.  Returns true, with the lock held again, when another
 * kick arrived meanwhile and the caller should translate once more. */
static vrm_inline bool vrm_queue_unlock(struct vrm_queue *q)
{
	__sync_lock_test_and_set(&q->busy, 0);
	if (!VRM_READ_ONCE(q->kick_pending))
		return false;
	if (__sync_val_compare_and_swap(&q->busy, 0, 1) != 0)
		return false;	/* the new holder will see kick_pending */
	__sync_lock_test_and_set(&q->kick_pending, 0);
	return true;
}

/* One translation round of vrm_kick.  The includer may route it through a
 * function of its own: BPF makes it a global subprogram, which the verifier
 * checks once per program instead of once per call site and per state the
 * call sites bring (verified instructions far below the limit). */
#ifndef VRM_TRANSLATE_ROUND
#define VRM_TRANSLATE_ROUND vrm_translate
#endif

/*
 * Hands the queue to the daemon after a kick that returned VRM_DEFER: raises
 * q->deferred, and says whether this call raised it (0 -> 1, atomically).
 * Only that one tells the daemon, so a queue has one notice pending at most
 * however often its guest kicks, and one guest's flood cannot crowd another's
 * notice out of a channel all devices share (BPF's vrm_deferred ring
 * buffer).  The daemon clears the flag before it translates: a deferral
 * after that tells it again.
 */
static vrm_inline bool vrm_queue_defer(struct vrm_queue *q)
{
	return __sync_val_compare_and_swap(&q->deferred, 0, 1) == 0;
}

/*
 * A kick, as every notification source delivers it: take the lock, translate
 * until no kick is pending (two rounds at most, so the work per call stays
 * bounded), drop the lock.  VRM_DEFER: anything left is the daemon's, and the
 * caller hands it over (vrm_queue_defer).
 */
static vrm_inline __u32 vrm_kick(struct vrm_device *dev, struct vrm_queue *q,
			       struct vrm_shadow_queue *sh, struct vrm_scratch *scr,
			       struct vrm_qstats *st, __u32 *chains)
{
	__u32 verdict = VRM_OK, c;

	*chains = 0;
	if (!vrm_queue_trylock(q)) {
		st->contended++;
		return VRM_OK;	/* the holder sees kick_pending */
	}
	verdict = VRM_TRANSLATE_ROUND(dev, q, sh, scr, st, &c);
	*chains += c;
	if (!vrm_queue_unlock(q))
		return verdict;
	verdict = VRM_TRANSLATE_ROUND(dev, q, sh, scr, st, &c);
	*chains += c;
	if (vrm_queue_unlock(q)) {
		/* Still more: leave it to the daemon rather than loop here. */
		VRM_WRITE_ONCE(q->kick_pending, 1);
		__sync_lock_test_and_set(&q->busy, 0);
		if (verdict == VRM_OK)
			verdict = VRM_DEFER;
	}
	return verdict;
}

#endif /* VRINGMED_XLATE_H */
