/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The hostile class "the guest rewrites entries while they are read": a
 * thread flips descriptor 0 between a valid buffer, a zero-length one and
 * one outside guest memory while the mediator translates.  Copy-once means
 * the shadow may hold only values that passed validation: a published zero
 * length or outside address would be a double fetch.
 */
#ifndef VRINGMED_RACE_H
#define VRINGMED_RACE_H

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include "ringgen.h"
#include "uxlate.h"
#include "test.h"

struct race {
	struct tr_ring *t;
	uint64_t table;		/* not 0: entry 1 of this indirect table flips */
	atomic_int stop;
	atomic_ulong flips;
	pthread_t thread;
};

static void *race_flipper(void *arg)
{
	struct race *r = arg;
	unsigned n = 0;

	while (!atomic_load_explicit(&r->stop, memory_order_relaxed)) {
		atomic_store_explicit(&r->flips, n, memory_order_relaxed);
		if (r->table) {
			/* valid, empty, outside memory, a link out of the table */
			switch (n++ % 4) {
			case 0: tr_set_entry(r->t, r->table, 1, r->t->data_gpa, 16, 0, 0); break;
			case 1: tr_set_entry(r->t, r->table, 1, r->t->data_gpa, 0, 0, 0); break;
			case 2: tr_set_entry(r->t, r->table, 1, r->t->mem_size - 8, 16, 0, 0); break;
			case 3: tr_set_entry(r->t, r->table, 1, r->t->data_gpa, 16,
					     VRM_VRING_DESC_F_NEXT, 9); break;
			}
			continue;
		}
		switch (n++ % 3) {
		case 0: tr_set_desc(r->t, 0, r->t->data_gpa, 16, 0, 0); break;
		case 1: tr_set_desc(r->t, 0, r->t->data_gpa, 0, 0, 0); break;
		case 2: tr_set_desc(r->t, 0, r->t->mem_size + 4096, 16, 0, 0); break;
		}
	}
	return NULL;
}

static inline int race_start(struct race *r, struct tr_ring *t, uint64_t table)
{
	r->t = t;
	r->table = table;
	atomic_store(&r->stop, 0);
	atomic_store(&r->flips, 0);
	if (pthread_create(&r->thread, NULL, race_flipper, r))
		return -1;
	/* Translate only while the guest is really rewriting. */
	while (atomic_load(&r->flips) < 1000)
		;
	return 0;
}

static inline void race_stop(struct race *r)
{
	atomic_store(&r->stop, 1);
	pthread_join(r->thread, NULL);
}

/* Classifies one translation of descriptor 0: 1 valid published, 0 refused
 * with a verdict the flipper can cause, -1 the copy-once rule was broken. */
static inline int race_outcome(const struct vrm_shadow_queue *sh, const struct tr_ring *t,
			       uint32_t verdict)
{
	if (verdict == VRM_ZERO_LEN || verdict == VRM_BUF_OUTSIDE_MEM)
		return 0;
	if (verdict != VRM_OK)
		return -1;
	/* The flipper writes byte by byte, so the guest itself produces torn
	 * mixes of its versions; any of them may be published if it is valid.
	 * What may never be published is a value that fails validation. */
	uint64_t addr = tr_le(&sh->desc[0].addr, 8), len = tr_le(&sh->desc[0].len, 4);

	return len != 0 && addr < t->mem_size && len <= t->mem_size - addr ? 1 : -1;
}

/* The same for a chain behind an indirect descriptor, whose table's entry
 * 1 the flipper rewrites: published, the head's shadow table must hold
 * two entries, the second one valid.  Torn mixes of the guest's versions
 * may also link back into the table: a loop. */
static inline int race_outcome_table(const struct vrm_shadow_queue *sh, const struct tr_ring *t,
				     uint32_t verdict)
{
	const struct vrm_desc *e = &sh->itab[1];	/* head 0's room starts at 0 */
	uint64_t addr = tr_le(&e->addr, 8), len = tr_le(&e->len, 4);

	if (verdict == VRM_ZERO_LEN || verdict == VRM_BUF_OUTSIDE_MEM ||
	    verdict == VRM_NEXT_OOB || verdict == VRM_CHAIN_LOOP)
		return 0;
	if (verdict != VRM_OK)
		return -1;
	return tr_le(&sh->desc[0].len, 4) == 32 && len != 0 && addr < t->mem_size &&
	       len <= t->mem_size - addr && !(tr_le(&e->flags, 2) & VRM_VRING_DESC_F_NEXT) ? 1 : -1;
}

/* The whole run: `iterations` translations of a one-entry ring while the
 * flipper rewrites it (`table`: the chain is behind an indirect descriptor
 * with its table there, and the flipper rewrites the table).  `kick` translates the queue (reference or BPF).
 * Counts go to out[0] published valid, out[1] refused, out[2] published
 * invalid; returns the number of rewrites during the run, or -1. */
static inline long race_copy_once(struct tr_ring *t, struct vrm_device *dev, struct vrm_queue *q,
				  struct vrm_shadow_queue *sh, uint32_t slot,
				  uint32_t (*kick)(void *ctx), void *ctx, int iterations,
				  long out[3], uint64_t table)
{
	struct race r;
	unsigned long flips;

	out[0] = out[1] = out[2] = 0;
	if (table) {
		tr_set_entry(t, table, 0, t->data_gpa, 16, VRM_VRING_DESC_F_NEXT, 1);
		tr_set_desc(t, 0, table, 32, VRM_VRING_DESC_F_INDIRECT, 0);
	}
	if (race_start(&r, t, table))
		return -1;
	flips = atomic_load(&r.flips);
	/* At least `iterations`, and on until the guest thread really ran
	 * alongside (a busy 2-CPU host may not schedule it for a while). */
	for (long i = 0; i < iterations ||
			 (atomic_load(&r.flips) - flips < 10000 && i < 100L * iterations); i++) {
		int o;

		vrm_ux_queue_setup(q, slot, t->size, tr_va(t, t->ring_gpa),
				   tr_va(t, tr_avail_gpa(t)), tr_va(t, tr_used_gpa(t)));
		q->flags = VRM_QF_ENABLED;
		dev->broken = 0;
		t->avail_idx = 0;
		tr_push_head(t, 0);
		tr_publish(t);
		o = table ? race_outcome_table(sh, t, kick(ctx)) : race_outcome(sh, t, kick(ctx));
		out[o == 1 ? 0 : o == 0 ? 1 : 2]++;
	}
	flips = atomic_load(&r.flips) - flips;
	race_stop(&r);
	return (long)flips;
}

/*
 * The storm: a guest thread rewrites descriptors, avail entries and the
 * avail idx with valid and hostile values as fast as it can, while the
 * mediator translates `kicks` times.  After every kick each newly published
 * shadow chain is walked and checked against the rules the core enforces:
 * had any entry been validated from one read and published from another,
 * a value the guest wrote but that fails validation would show up here.
 * Guest memory sits between PROT_NONE guard pages, so a read outside it
 * would fault (the reference) or count a read fault (BPF).
 */
#include <sys/mman.h>

struct storm {
	struct tr_ring *t;
	atomic_int stop;
	atomic_ulong writes;
	pthread_t thread;
};

struct storm_result {
	long kicks, chains, descs, refused, deferred;
	long bad;			/* rule violations: must stay 0 */
	char first_bad[160];		/* what the first one was */
	unsigned long writes;		/* guest rewrites during the run */
	long verdicts[VRM_VERDICT_NR];
};

/* Guest memory with a PROT_NONE page on each side.  Touched, as a running
 * guest's is: BPF's reads do not fault pages in, and the storm's read of
 * an indirect table anywhere in it would be handed to the daemon. */
static inline int storm_mem(struct tr_ring *t, uint16_t size, int big_endian, uint64_t mem_size)
{
	uint8_t *m = mmap(NULL, mem_size + 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -1;
	if (mprotect(m + 4096, mem_size, PROT_READ | PROT_WRITE)) {
		munmap(m, mem_size + 8192);
		return -1;
	}
	memset(m + 4096, 0, mem_size);
	tr_layout(t, m + 4096, mem_size, size, big_endian);
	return 0;
}

static inline void storm_mem_free(struct tr_ring *t)
{
	munmap(t->mem - 4096, t->mem_size + 8192);
	t->mem = NULL;
}

static void *storm_guest(void *arg)
{
	struct storm *s = arg;
	struct tr_ring *t = s->t;
	uint16_t mask = t->size - 1;
	uint64_t x = 0x2545f4914f6cdd1dull;
	unsigned long n = 0;

	while (!atomic_load_explicit(&s->stop, memory_order_relaxed)) {
		uint32_t r, i, v;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (uint32_t)(x >> 16);
		i = (r >> 4) & mask;
		v = r >> 12;
		switch (r & 15) {
		case 0: case 1: case 2: case 3:		/* a valid buffer, read or write */
			tr_set_desc(t, i, t->data_gpa + 64ull * i, 16 + (v & 31),
				    (v & 32) ? VRM_VRING_DESC_F_WRITE : 0, 0);
			break;
		case 4: case 5:				/* a valid link */
			tr_set_desc(t, i, t->data_gpa + 64ull * i, 16,
				    VRM_VRING_DESC_F_NEXT | ((v & 1) ? VRM_VRING_DESC_F_WRITE : 0),
				    (i + 1 + (v >> 1) % 3) & mask);
			break;
		case 6:					/* hostile descriptors */
			switch (v % 7) {
			case 0: tr_set_desc(t, i, t->data_gpa, 0, 0, 0); break;
			case 1: tr_set_desc(t, i, t->mem_size + 4096, 16, 0, 0); break;
			case 2: tr_set_desc(t, i, 0xfffffffffffffff0ull, 0x20, 0, 0); break;
			case 3: tr_set_desc(t, i, t->data_gpa, 32, VRM_VRING_DESC_F_INDIRECT, 0); break;
			case 4: tr_set_desc(t, i, t->data_gpa, 16, VRM_VRING_DESC_F_NEXT, t->size + 3); break;
			case 5: tr_set_desc(t, i, t->data_gpa, 16, VRM_VRING_DESC_F_NEXT, i); break;
			case 6: tr_set_desc(t, i, t->mem_size - 8, 16, 0, 0); break;
			}
			break;
		case 7: case 8: case 9: case 10:	/* avail entries, some out of range */
			tr_put(t, tr_avail_gpa(t) + 4 + 2ull * i, v % (t->size + 2u), 2);
			break;
		case 11: case 12: case 13: case 14:	/* avail idx, within a ring or so */
			tr_put(t, tr_avail_gpa(t) + 2, v % (t->size + 3u), 2);
			break;
		case 15:				/* avail idx anywhere */
			tr_put(t, tr_avail_gpa(t) + 2, v, 2);
			break;
		}
		atomic_store_explicit(&s->writes, ++n, memory_order_relaxed);
	}
	return NULL;
}

/* The verdicts a guest can cause by writing its ring (not faults, not the
 * used side, not configuration). */
static inline bool storm_verdict_ok(uint32_t v)
{
	switch (v) {
	case VRM_OK: case VRM_AVAIL_JUMP: case VRM_HEAD_OOB: case VRM_NEXT_OOB:
	case VRM_CHAIN_LOOP: case VRM_CHAIN_TOO_LONG: case VRM_ZERO_LEN:
	case VRM_ADDR_OVERFLOW: case VRM_BUF_OUTSIDE_MEM: case VRM_WRITE_BEFORE_READ:
	case VRM_INDIRECT_LEN: case VRM_INDIRECT_TOO_LARGE: case VRM_INDIRECT_NEXT:
	case VRM_INDIRECT_NESTED: case VRM_DESC_IN_FLIGHT:
		return true;
	}
	return false;
}

static inline void storm_bad(struct storm_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void storm_bad(struct storm_result *res, const char *fmt, ...)
{
	va_list ap;

	if (!res->bad++) {
		va_start(ap, fmt);
		vsnprintf(res->first_bad, sizeof(res->first_bad), fmt, ap);
		va_end(ap);
	}
}

/* Walks the `chains` chains published at shadow slots [0, chains). */
/* One published descriptor (or table entry): inside guest memory, no flag
 * but NEXT and WRITE, readable before writable. */
static inline void storm_check_desc(struct storm_result *res, const struct tr_ring *t,
				    const char *what, unsigned which, uint64_t addr, uint64_t dlen,
				    uint16_t flags, bool *wrote)
{
	if (!dlen || addr + dlen < addr || addr + dlen > t->mem_size)
		storm_bad(res, "published %s %u: addr 0x%llx len %llu", what, which,
			  (unsigned long long)addr, (unsigned long long)dlen);
	if (flags & ~(VRM_VRING_DESC_F_NEXT | VRM_VRING_DESC_F_WRITE))
		storm_bad(res, "published %s %u with flags 0x%x", what, which, flags);
	if (flags & VRM_VRING_DESC_F_WRITE)
		*wrote = true;
	else if (*wrote)
		storm_bad(res, "published read-only %s %u after a write-only", what, which);
}

/*
 * A published head with INDIRECT: a chain of its own, its shadow table
 * (head h's room in sh->itab, little-endian, in walk order) holding only
 * what a direct chain may hold.  A guest may point a table anywhere in its
 * memory, its own ring included (a torn read of its descriptor can): what
 * the mediator publishes is its checked copy, and that is what is checked.
 */
static inline void storm_check_table(struct storm_result *res, const struct vrm_shadow_queue *sh,
				     const struct tr_ring *t, uint16_t head, uint64_t dlen,
				     uint16_t flags)
{
	uint32_t per = vrm_itab_per(t->size), n = (uint32_t)(dlen / sizeof(struct vrm_desc));
	bool wrote = false;
	uint32_t k = 0;

	if (flags != VRM_VRING_DESC_F_INDIRECT || dlen % sizeof(struct vrm_desc) || !n || n > per) {
		storm_bad(res, "published table head %u: flags 0x%x len %llu", head, flags,
			  (unsigned long long)dlen);
		return;
	}
	for (uint32_t walked = 1;; walked++) {
		const struct vrm_desc *e = &sh->itab[(uint32_t)head * per + k];
		uint16_t eflags = (uint16_t)tr_le(&e->flags, 2);

		storm_check_desc(res, t, "table entry", k, tr_le(&e->addr, 8), tr_le(&e->len, 4),
				 eflags, &wrote);
		res->descs++;
		if (!(eflags & VRM_VRING_DESC_F_NEXT))
			return;
		k = (uint32_t)tr_le(&e->next, 2);
		if (k >= n || walked >= n) {
			storm_bad(res, "published table of head %u: next %u of %u entries", head, k, n);
			return;
		}
	}
}

static inline void storm_check(struct storm_result *res, const struct vrm_shadow_queue *sh,
			       const struct tr_ring *t, uint16_t max_chain, uint32_t chains)
{
	uint8_t seen[VRM_MAX_RING] = { 0 };
	uint16_t mask = t->size - 1;

	for (uint32_t c = 0; c < chains; c++) {
		uint16_t cur = (uint16_t)tr_le(&sh->avail.ring[c & mask], 2);
		bool wrote = false;

		if (cur > mask) {
			storm_bad(res, "published head %u of a %u ring", cur, t->size);
			return;
		}
		for (unsigned len = 1;; len++) {
			const struct vrm_desc *d = &sh->desc[cur];
			uint64_t addr = tr_le(&d->addr, 8), dlen = tr_le(&d->len, 4);
			uint16_t flags = (uint16_t)tr_le(&d->flags, 2);
			uint16_t next = (uint16_t)tr_le(&d->next, 2);

			if (seen[cur]) {
				storm_bad(res, "descriptor %u published twice (loop or shared)", cur);
				return;
			}
			seen[cur] = 1;
			if (len > max_chain)
				storm_bad(res, "published chain longer than %u", max_chain);
			if ((flags & VRM_VRING_DESC_F_INDIRECT) && len == 1) {
				storm_check_table(res, sh, t, cur, dlen, flags);
				break;
			}
			storm_check_desc(res, t, "descriptor", cur, addr, dlen, flags, &wrote);
			if (!(flags & VRM_VRING_DESC_F_NEXT))
				break;
			if (next > mask) {
				storm_bad(res, "published next %u of a %u ring", next, t->size);
				return;
			}
			cur = next;
			res->descs++;
		}
		res->descs++;
	}
}

/* The run.  `kick` translates the queue (reference or BPF); `dev`, `q`, `sh`
 * are the queue's state wherever it lives (plain memory or mmapped maps). */
static inline int race_storm(struct tr_ring *t, struct vrm_device *dev, struct vrm_queue *q,
			     struct vrm_shadow_queue *sh, uint32_t slot,
			     uint32_t (*kick)(void *ctx, uint32_t *chains), void *ctx,
			     long kicks, struct storm_result *res)
{
	struct storm s = { .t = t };
	unsigned long w0;

	memset(res, 0, sizeof(*res));
	for (uint16_t i = 0; i < t->size; i++)
		tr_set_desc(t, i, t->data_gpa + 64ull * i, 16, 0, 0);
	atomic_store(&s.stop, 0);
	atomic_store(&s.writes, 0);
	if (pthread_create(&s.thread, NULL, storm_guest, &s))
		return -1;
	while (atomic_load(&s.writes) < 1000)
		;
	w0 = atomic_load(&s.writes);
	for (long k = 0; k < kicks; k++) {
		uint32_t v, chains = 0;

		/* Every kick starts from a fresh queue: the guest's avail idx
		 * (0 .. size + 2 mostly) is then what decides the batch. */
		vrm_ux_queue_setup(q, slot, t->size, tr_va(t, t->ring_gpa),
				   tr_va(t, tr_avail_gpa(t)), tr_va(t, tr_used_gpa(t)));
		q->flags = VRM_QF_ENABLED;
		q->max_chain = 4;
		dev->broken = 0;
		tr_put_le(&sh->avail.idx, 0, 2);
		v = kick(ctx, &chains);
		res->kicks++;
		res->verdicts[v < VRM_VERDICT_NR ? v : VRM_DEFER]++;
		if (v == VRM_DEFER) {
			res->deferred++;
		} else if (!storm_verdict_ok(v)) {
			storm_bad(res, "verdict %s cannot come from the guest's ring",
				  vrm_verdict_name(v));
		} else if (v != VRM_OK) {
			res->refused++;
			if (dev->broken != v)
				storm_bad(res, "verdict %s but the device says %s",
					  vrm_verdict_name(v), vrm_verdict_name(dev->broken));
		} else if (dev->broken) {
			storm_bad(res, "verdict ok but the device is broken (%s)",
				  vrm_verdict_name(dev->broken));
		}
		if (tr_le(&sh->avail.idx, 2) != chains || q->last_avail != chains)
			storm_bad(res, "%u chains but shadow idx %llu, last_avail %u", chains,
				  (unsigned long long)tr_le(&sh->avail.idx, 2), q->last_avail);
		res->chains += chains;
		storm_check(res, sh, t, q->max_chain, chains);
	}
	res->writes = atomic_load(&s.writes) - w0;
	atomic_store(&s.stop, 1);
	pthread_join(s.thread, NULL);
	return 0;
}

/* The checks every copy-once run must pass, reference or BPF alike. */
static inline void race_copy_once_verify(const char *who, long flips, const long n[3])
{
	VRM_CHECK(flips > 1000, "the guest thread rewrote only %ld times during the run", flips);
	printf("      copy_once%s: %ld published valid, %ld refused, %ld published invalid\n", who,
	       n[0], n[1], n[2]);
	VRM_EQ(n[2], 0);
}

/* The checks every storm must pass, reference or BPF alike. */
static inline void race_storm_verify(const char *who, const struct storm_result *res, long kicks)
{
	printf("      storm%s: %ld kicks, %lu guest rewrites, %ld chains / %ld descriptors "
	       "published, %ld refused, %ld deferred, %ld violations\n", who, res->kicks,
	       res->writes, res->chains, res->descs, res->refused, res->deferred, res->bad);
	VRM_CHECK(res->bad == 0, "%s", res->first_bad);
	VRM_EQ(res->kicks, kicks);
	VRM_EQ(res->deferred, 0);
	VRM_CHECK(res->writes > 100000, "the guest thread rewrote only %lu times", res->writes);
	/* Both outcomes happened: translated chains and refusals. */
	VRM_TRUE(res->chains > kicks / 10);
	VRM_TRUE(res->refused > kicks / 10);
}

#endif
