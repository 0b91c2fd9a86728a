/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The guest side for tests: a legacy driver writing a split ring in a chosen
 * byte order into "guest memory" (a buffer whose offset is the guest-physical
 * address).  Independent of the core on purpose: it writes bytes by hand, so
 * a shared byte-order bug could not hide in both.
 */
#ifndef VRINGMED_RINGGEN_H
#define VRINGMED_RINGGEN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <vringmed/abi.h>
#include <vringmed/byteorder.h>

struct tr_ring {
	uint8_t *mem;		/* guest memory; GPA 0 is mem[0] */
	uint64_t mem_size;
	uint64_t ring_gpa;	/* legacy ring (desc, avail, used) */
	uint64_t data_gpa;	/* buffers are carved from here */
	uint16_t size;
	int big_endian;
	uint16_t avail_idx;	/* the driver's own copy */
	uint16_t next_desc;	/* descriptors are handed out in order */
	/* The order: descriptor perm[i] is the i-th handed out (the driver's
	 * free list); NULL hands them out 0, 1, 2, ... */
	const uint16_t *perm;
};

static inline void tr_put(const struct tr_ring *t, uint64_t gpa, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++) {
		int shift = t->big_endian ? 8 * (bytes - 1 - i) : 8 * i;

		t->mem[gpa + i] = (uint8_t)(v >> shift);
	}
}

static inline uint64_t tr_get(const struct tr_ring *t, uint64_t gpa, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++) {
		int shift = t->big_endian ? 8 * (bytes - 1 - i) : 8 * i;

		v |= (uint64_t)t->mem[gpa + i] << shift;
	}
	return v;
}

/* Little-endian read of shadow memory, byte by byte. */
static inline uint64_t tr_le(const void *p, int bytes)
{
	const uint8_t *b = p;
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static inline void tr_put_le(void *p, uint64_t v, int bytes)
{
	uint8_t *b = p;

	for (int i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t tr_desc_gpa(const struct tr_ring *t, uint16_t i)
{
	return t->ring_gpa + 16ull * i;
}

static inline uint64_t tr_avail_gpa(const struct tr_ring *t)
{
	return t->ring_gpa + vrm_legacy_avail_off(t->size);
}

static inline uint64_t tr_used_gpa(const struct tr_ring *t)
{
	return t->ring_gpa + vrm_legacy_used_off(t->size);
}

/* The ring's layout over guest memory `mem` (zeroed by the caller). */
static inline void tr_layout(struct tr_ring *t, uint8_t *mem, uint64_t mem_size, uint16_t size,
			     int big_endian)
{
	memset(t, 0, sizeof(*t));
	t->mem = mem;
	t->mem_size = mem_size;
	t->size = size;
	t->big_endian = big_endian;
	t->ring_gpa = 4096;
	t->data_gpa = vrm_align_up(t->ring_gpa + vrm_legacy_ring_bytes(size), 4096);
}

static inline int tr_init(struct tr_ring *t, uint16_t size, int big_endian, uint64_t mem_size)
{
	uint8_t *mem = aligned_alloc(4096, mem_size);

	if (!mem)
		return -1;
	memset(mem, 0, mem_size);
	tr_layout(t, mem, mem_size, size, big_endian);
	return 0;
}

static inline void tr_free(struct tr_ring *t)
{
	free(t->mem);
	t->mem = NULL;
}

static inline void tr_set_desc(struct tr_ring *t, uint16_t i, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	uint64_t g = tr_desc_gpa(t, i);

	tr_put(t, g, addr, 8);
	tr_put(t, g + 8, len, 4);
	tr_put(t, g + 12, flags, 2);
	tr_put(t, g + 14, next, 2);
}

/* Puts `head` in the next avail slot (not yet published). */
static inline void tr_push_head(struct tr_ring *t, uint16_t head)
{
	tr_put(t, tr_avail_gpa(t) + 4 + 2ull * (t->avail_idx & (t->size - 1)), head, 2);
	t->avail_idx++;
}

static inline void tr_publish(struct tr_ring *t)
{
	tr_put(t, tr_avail_gpa(t) + 2, t->avail_idx, 2);
}

/* The descriptor handed out `k` after the next one. */
static inline uint16_t tr_nth_desc(const struct tr_ring *t, int k)
{
	uint16_t i = (t->next_desc + k) & (t->size - 1);

	return t->perm ? t->perm[i] : i;
}

/* A chain of `n` descriptors (the last `nwrite` device-writable) over
 * fresh buffers of `len` bytes; descriptors taken in the order t->perm
 * gives, by default ring order. */
static inline uint16_t tr_add_chain(struct tr_ring *t, int n, int nwrite, uint32_t len)
{
	uint16_t head = tr_nth_desc(t, 0);

	for (int k = 0; k < n; k++) {
		uint16_t i = tr_nth_desc(t, k);
		uint16_t flags = (k + 1 < n ? VRM_VRING_DESC_F_NEXT : 0) |
				 (k >= n - nwrite ? VRM_VRING_DESC_F_WRITE : 0);
		uint64_t addr = t->data_gpa + 64ull * i;

		tr_set_desc(t, i, addr, len, flags, tr_nth_desc(t, k + 1));
	}
	t->next_desc += n;
	tr_push_head(t, head);
	return head;
}

/* Where a test ring keeps the indirect table of `head`: 1 KiB
 * (VRM_ITAB_MAX entries) each, past the buffers of the largest ring. */
static inline uint64_t tr_itab_gpa(const struct tr_ring *t, uint16_t head)
{
	return t->data_gpa + 64ull * 1024 + 1024ull * (head & 63);
}

/* Entry `i` of the indirect table at `table`, in the ring's byte order. */
static inline void tr_set_entry(struct tr_ring *t, uint64_t table, uint16_t i, uint64_t addr,
				uint32_t len, uint16_t flags, uint16_t next)
{
	uint64_t g = table + 16ull * i;

	tr_put(t, g, addr, 8);
	tr_put(t, g + 8, len, 4);
	tr_put(t, g + 12, flags, 2);
	tr_put(t, g + 14, next, 2);
}

/* A chain of `n` entries (the last `nwrite` device-writable) over buffers
 * of `len` bytes, behind one INDIRECT descriptor: entry k at table slot
 * at[k] (NULL: slot k; a walk starts at slot 0, so at[0] is 0), linked in
 * k's order. */
static inline uint16_t tr_add_indirect_at(struct tr_ring *t, int n, int nwrite, uint32_t len,
					  const uint16_t *at)
{
	uint16_t head = tr_nth_desc(t, 0);
	uint64_t table = tr_itab_gpa(t, head);

	for (int k = 0; k < n; k++) {
		uint16_t flags = (k + 1 < n ? VRM_VRING_DESC_F_NEXT : 0) |
				 (k >= n - nwrite ? VRM_VRING_DESC_F_WRITE : 0);

		tr_set_entry(t, table, at ? at[k] : k,
			     t->data_gpa + 64ull * ((head + k) & (t->size - 1)), len, flags,
			     k + 1 < n ? (at ? at[k + 1] : k + 1) : 0);
	}
	tr_set_desc(t, head, table, 16u * n, VRM_VRING_DESC_F_INDIRECT, 0);
	t->next_desc++;
	tr_push_head(t, head);
	return head;
}

static inline uint16_t tr_add_indirect(struct tr_ring *t, int n, int nwrite, uint32_t len)
{
	return tr_add_indirect_at(t, n, nwrite, len, NULL);
}

/* The device of a test ring: one region, GPA 0 at t->mem, and the VMM is
 * this process. */
static inline void tr_device(const struct tr_ring *t, struct vrm_device *dev, uint32_t tgid)
{
	memset(dev, 0, sizeof(*dev));
	dev->tgid = tgid;
	dev->flags = VRM_DF_ACTIVE;
	dev->order = t->big_endian ? VRM_ORDER_BE : VRM_ORDER_LE;
	dev->nregions = 1;
	dev->nqueues = 1;
	dev->regions[0].gpa = 0;
	dev->regions[0].size = t->mem_size;
	dev->regions[0].vmm_va = (uint64_t)(uintptr_t)t->mem;
	dev->regions[0].mediator_va = (uint64_t)(uintptr_t)t->mem;
}

static inline uint64_t tr_va(const struct tr_ring *t, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)t->mem + gpa;
}

#endif
