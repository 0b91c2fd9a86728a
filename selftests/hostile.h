/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The hostile-ring classes of DESIGN.md, as ring builders shared by the core
 * tests, the BPF tests and the differential generator.  Each builder runs
 * after one good chain was published and translated.
 */
#ifndef VRINGMED_HOSTILE_H
#define VRINGMED_HOSTILE_H

#include <stdbool.h>
#include "ringgen.h"

struct hctx {
	struct tr_ring *t;
	struct vrm_queue *q;		/* config fields only are changed */
	struct vrm_shadow_queue *sh;	/* the backend's side, for used classes */
};

/* Plays the backend: marks shadow chain `id` used with `len` bytes. */
static inline void tr_backend_use(struct vrm_shadow_queue *sh, uint16_t size, uint16_t *used_idx,
				  uint32_t id, uint32_t len)
{
	struct vrm_used_elem *e = &sh->used.ring[*used_idx & (size - 1)];

	tr_put_le(&e->id, id, 4);
	tr_put_le(&e->len, len, 4);
	(*used_idx)++;
	tr_put_le(&sh->used.idx, *used_idx, 2);
}

struct hostile {
	const char *name;
	uint32_t verdict;
	/* Builds the bad ring after one good chain was published. */
	void (*make)(struct hctx *f);
	bool used_side;
};

static inline void h_avail_jump(struct hctx *f)
{
	f->t->avail_idx += f->t->size + 1;
	tr_publish(f->t);
}

static inline void h_head_oob(struct hctx *f)
{
	tr_push_head(f->t, f->t->size);
	tr_publish(f->t);
}

static inline void h_next_oob(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 2, 0, 8);

	tr_set_desc(f->t, h, f->t->data_gpa, 8, VRM_VRING_DESC_F_NEXT, 0xffff);
	tr_publish(f->t);
}

static inline void h_chain_loop(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 3, 0, 8);

	tr_set_desc(f->t, (h + 2) & (f->t->size - 1), f->t->data_gpa, 8, VRM_VRING_DESC_F_NEXT, h);
	tr_publish(f->t);
}

static inline void h_chain_too_long(struct hctx *f)
{
	f->q->max_chain = 4;
	tr_add_chain(f->t, 5, 0, 8);
	tr_publish(f->t);
}

static inline void h_zero_len(struct hctx *f)
{
	tr_add_chain(f->t, 1, 0, 0);
	tr_publish(f->t);
}

static inline void h_addr_overflow(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 1, 0, 8);

	tr_set_desc(f->t, h, 0xfffffffffffffff0ull, 0x20, 0, 0);
	tr_publish(f->t);
}

static inline void h_outside_memory(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 1, 0, 8);

	tr_set_desc(f->t, h, f->t->mem_size - 4, 8, 0, 0);	/* straddles the end */
	tr_publish(f->t);
}

static inline void h_write_before_read(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 2, 0, 8);

	tr_set_desc(f->t, h, f->t->data_gpa, 8, VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE,
		    (h + 1) & (f->t->size - 1));
	tr_publish(f->t);
}

static inline void h_indirect(struct hctx *f, uint32_t len, uint16_t extra)
{
	uint16_t h = tr_add_chain(f->t, 1, 0, 8);

	tr_set_desc(f->t, h, f->t->data_gpa, len, VRM_VRING_DESC_F_INDIRECT | extra, 1);
	tr_publish(f->t);
}

static inline void h_indirect_len(struct hctx *f) { h_indirect(f, 24, 0); }
static inline void h_indirect_empty(struct hctx *f) { h_indirect(f, 0, 0); }
static inline void h_indirect_large(struct hctx *f)
{
	h_indirect(f, 16 * (vrm_itab_per(f->t->size) + 1), 0);
}
static inline void h_indirect_next(struct hctx *f) { h_indirect(f, 32, VRM_VRING_DESC_F_NEXT); }

/* A direct descriptor linking to an INDIRECT one: a table only heads a
 * chain. */
static inline void h_indirect_in_chain(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 2, 0, 8), i = (h + 1) & (f->t->size - 1);

	tr_set_desc(f->t, i, tr_itab_gpa(f->t, i), 32, VRM_VRING_DESC_F_INDIRECT, 0);
	tr_publish(f->t);
}

static inline void h_indirect_table_outside(struct hctx *f)
{
	uint16_t h = tr_add_chain(f->t, 1, 0, 8);

	tr_set_desc(f->t, h, f->t->mem_size - 16, 32, VRM_VRING_DESC_F_INDIRECT, 0);
	tr_publish(f->t);
}

/* A good table of three entries, entry `k` then rewritten. */
static inline void h_indirect_entry(struct hctx *f, int k, uint64_t addr, uint32_t len,
				    uint16_t flags, uint16_t next)
{
	uint16_t h = tr_add_indirect(f->t, 3, 1, 8);

	tr_set_entry(f->t, tr_itab_gpa(f->t, h), k, addr, len, flags, next);
	tr_publish(f->t);
}

static inline void h_indirect_nested(struct hctx *f)
{
	h_indirect_entry(f, 1, tr_itab_gpa(f->t, 0), 32,
			 VRM_VRING_DESC_F_INDIRECT | VRM_VRING_DESC_F_NEXT, 2);
}

static inline void h_indirect_next_oob(struct hctx *f)
{
	h_indirect_entry(f, 1, f->t->data_gpa, 8, VRM_VRING_DESC_F_NEXT, 3);
}

static inline void h_indirect_loop(struct hctx *f)
{
	h_indirect_entry(f, 2, f->t->data_gpa, 8, VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, 1);
}

static inline void h_indirect_write_before_read(struct hctx *f)
{
	h_indirect_entry(f, 0, f->t->data_gpa, 8, VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE, 1);
}

static inline void h_indirect_entry_outside(struct hctx *f)
{
	h_indirect_entry(f, 1, f->t->mem_size - 4, 8, VRM_VRING_DESC_F_NEXT, 2);
}

static inline void h_indirect_entry_zero(struct hctx *f)
{
	h_indirect_entry(f, 1, f->t->data_gpa, 0, VRM_VRING_DESC_F_NEXT, 2);
}

static inline void h_indirect_entry_overflow(struct hctx *f)
{
	h_indirect_entry(f, 1, 0xfffffffffffffff0ull, 0x20, VRM_VRING_DESC_F_NEXT, 2);
}

static inline void h_ring_fault(struct hctx *f)
{
	f->q->avail_va = 0x1000;	/* not guest memory */
	tr_add_chain(f->t, 1, 0, 8);
	tr_publish(f->t);
}

static inline void h_desc_in_flight(struct hctx *f)
{
	tr_push_head(f->t, 0);	/* head 0 is still with the backend */
	tr_publish(f->t);
}

/* A mergeable RX queue (the 12-byte header in the buffer, converted in
 * place on the way back): a buffer the device may not write, or one too
 * short for the header, then a good one.  Single descriptors, so the fast
 * path meets it first. */
static inline void h_rx_buffer(struct hctx *f, uint16_t flags, uint32_t len)
{
	uint16_t h;

	f->q->net_mode = VRM_NET_RX_INPLACE;
	f->q->net_hdr_len = VRM_NET_HDR_MODERN;
	h = tr_add_chain(f->t, 1, 1, 1500);
	tr_set_desc(f->t, h, f->t->data_gpa + 64ull * h, len, flags, 0);
	tr_add_chain(f->t, 1, 1, 1500);
	tr_publish(f->t);
}

static inline void h_rx_read_only(struct hctx *f)
{
	h_rx_buffer(f, 0, 1500);
}

static inline void h_rx_short(struct hctx *f)
{
	h_rx_buffer(f, VRM_VRING_DESC_F_WRITE, VRM_NET_HDR_MODERN - 1);
}

/* A virtio-blk queue (a legacy request's header through the slot): a
 * request of `n` descriptors whose header is `hlen` bytes with `hflags` and
 * whose last one is device-writable or not. */
static inline void h_blk_request(struct hctx *f, int n, uint32_t hlen, uint16_t hflags,
				 bool status_writable)
{
	uint16_t h;

	f->q->net_mode = VRM_BLK_REQ;
	h = tr_add_chain(f->t, n, status_writable, 512);
	tr_set_desc(f->t, h, f->t->data_gpa + 64ull * h, hlen,
		    hflags | (n > 1 ? VRM_VRING_DESC_F_NEXT : 0), (h + 1) & (f->t->size - 1));
	tr_publish(f->t);
}

static inline void h_blk_header_short(struct hctx *f)
{
	h_blk_request(f, 3, 15, 0, true);
}

static inline void h_blk_header_writable(struct hctx *f)
{
	h_blk_request(f, 3, 16, VRM_VRING_DESC_F_WRITE, true);
}

static inline void h_blk_status_read_only(struct hctx *f)
{
	h_blk_request(f, 3, 16, 0, false);
}

static inline void h_blk_no_status(struct hctx *f)
{
	h_blk_request(f, 1, 16, 0, false);
}

static inline void h_used_not_in_flight(struct hctx *f)
{
	uint16_t used = 0;

	tr_backend_use(f->sh, f->t->size, &used, 5, 1);
}

static inline void h_used_too_many(struct hctx *f)
{
	uint16_t used = 0;

	tr_backend_use(f->sh, f->t->size, &used, 0, 1);
	tr_backend_use(f->sh, f->t->size, &used, 0, 1);
}

/* The good chain (8 read-only bytes) returned as 9 bytes: more than it
 * offered (vrm_offer). */
static inline void h_used_len_over(struct hctx *f)
{
	uint16_t used = 0;

	tr_backend_use(f->sh, f->t->size, &used, 0, 9);
}

static const struct hostile hostiles[] __attribute__((unused)) = {
	{ "avail_idx_jump", VRM_AVAIL_JUMP, h_avail_jump },
	{ "head_out_of_range", VRM_HEAD_OOB, h_head_oob },
	{ "next_out_of_range", VRM_NEXT_OOB, h_next_oob },
	{ "chain_loop", VRM_CHAIN_LOOP, h_chain_loop },
	{ "chain_too_long", VRM_CHAIN_TOO_LONG, h_chain_too_long },
	{ "zero_length", VRM_ZERO_LEN, h_zero_len },
	{ "addr_len_overflow", VRM_ADDR_OVERFLOW, h_addr_overflow },
	{ "buffer_outside_memory", VRM_BUF_OUTSIDE_MEM, h_outside_memory },
	{ "write_before_read", VRM_WRITE_BEFORE_READ, h_write_before_read },
	{ "indirect_len", VRM_INDIRECT_LEN, h_indirect_len },
	{ "indirect_too_large", VRM_INDIRECT_TOO_LARGE, h_indirect_large },
	{ "indirect_with_next", VRM_INDIRECT_NEXT, h_indirect_next },
	{ "indirect_empty", VRM_ZERO_LEN, h_indirect_empty },
	{ "indirect_in_chain", VRM_INDIRECT_NEXT, h_indirect_in_chain },
	{ "indirect_table_outside_memory", VRM_BUF_OUTSIDE_MEM, h_indirect_table_outside },
	{ "indirect_nested", VRM_INDIRECT_NESTED, h_indirect_nested },
	{ "indirect_next_out_of_range", VRM_NEXT_OOB, h_indirect_next_oob },
	{ "indirect_loop", VRM_CHAIN_LOOP, h_indirect_loop },
	{ "indirect_write_before_read", VRM_WRITE_BEFORE_READ, h_indirect_write_before_read },
	{ "indirect_entry_outside_memory", VRM_BUF_OUTSIDE_MEM, h_indirect_entry_outside },
	{ "indirect_entry_zero_length", VRM_ZERO_LEN, h_indirect_entry_zero },
	{ "indirect_entry_overflow", VRM_ADDR_OVERFLOW, h_indirect_entry_overflow },
	{ "ring_fault", VRM_RING_FAULT, h_ring_fault },
	{ "desc_in_flight", VRM_DESC_IN_FLIGHT, h_desc_in_flight },
	{ "rx_buffer_read_only", VRM_NET_HDR, h_rx_read_only },
	{ "rx_buffer_short_for_header", VRM_NET_HDR, h_rx_short },
	{ "blk_header_short", VRM_BLK_HDR, h_blk_header_short },
	{ "blk_header_writable", VRM_BLK_HDR, h_blk_header_writable },
	{ "blk_status_read_only", VRM_BLK_STATUS, h_blk_status_read_only },
	{ "blk_no_status", VRM_BLK_STATUS, h_blk_no_status },
	{ "used_id_not_in_flight", VRM_USED_NOT_IN_FLIGHT, h_used_not_in_flight, true },
	{ "used_more_than_in_flight", VRM_USED_TOO_MANY, h_used_too_many, true },
	{ "used_len_over_offered", VRM_USED_LEN, h_used_len_over, true },
};


#define N_HOSTILES (sizeof(hostiles) / sizeof(hostiles[0]))

#endif
