// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests of the translation core through the userspace reference
 * mediator.  Built natively and for s390x: on the big-endian host the
 * "foreign" order is little-endian, so both directions are exercised for
 * real, not simulated.
 *
 * The tests are in this folder, one subject a file, run in the order the
 * Makefile lists the files; this file holds what several of them use.
 * Each subtest sets up its own queue (fx_setup) and frees it.
 */
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "fixture.h"
#include "hostile.h"
#include "core.h"

const char *vrm_test_suite = "test_core";

const char *order_name(int be)
{
	return be ? "be" : "le";
}

/* A core test cannot go on without its fixture. */
void fx_setup(struct fx *f, uint16_t size, int big_endian)
{
	if (fx_init(f, size, big_endian))
		abort();
}

uint32_t fx_kick(struct fx *f, uint32_t *chains)
{
	uint32_t c;

	return vrm_ux_kick(&f->rq, chains ? chains : &c);
}

/* The shadow descriptor i must equal guest descriptor i, as numbers. */
bool shadow_matches_guest(struct fx *f, uint16_t i)
{
	const struct vrm_desc *sd = &f->sh->desc[i];
	uint64_t g = tr_desc_gpa(&f->t, i);
	uint16_t flags = tr_get(&f->t, g + 12, 2);

	return VRM_EQ(tr_le(&sd->addr, 8), tr_get(&f->t, g, 8)) &&
	       VRM_EQ(tr_le(&sd->len, 4), tr_get(&f->t, g + 8, 4)) &&
	       VRM_EQ(tr_le(&sd->flags, 2), flags) &&
	       VRM_EQ(tr_le(&sd->next, 2),
		     (flags & VRM_VRING_DESC_F_NEXT) ? tr_get(&f->t, g + 14, 2) : 0);
}

void backend_use(struct fx *f, uint16_t *used_idx, uint32_t id, uint32_t len)
{
	tr_backend_use(f->sh, f->q->size, used_idx, id, len);
}

void put_net_hdr(struct fx *f, uint64_t gpa, int hlen, uint16_t nb)
{
	f->t.mem[gpa] = 0x01;			/* flags: NEEDS_CSUM */
	f->t.mem[gpa + 1] = 0x03;		/* gso_type */
	tr_put(&f->t, gpa + 2, 0x1234, 2);	/* hdr_len */
	tr_put(&f->t, gpa + 4, 0x5678, 2);	/* gso_size */
	tr_put(&f->t, gpa + 6, 0x0102, 2);	/* csum_start */
	tr_put(&f->t, gpa + 8, 0x0304, 2);	/* csum_offset */
	if (hlen == 12)
		tr_put(&f->t, gpa + 10, nb, 2);	/* num_buffers */
}

void net_queue(struct fx *f, uint8_t mode, uint8_t hlen)
{
	f->q->net_mode = mode;
	f->q->net_hdr_len = hlen;
	f->q->hdr_gpa = NET_HDR_GPA;
}

/* What a modern backend writes: the 12-byte little-endian header. */
void put_modern_hdr(uint8_t *p, uint16_t nb)
{
	static const uint8_t h[10] = { 0x01, 0x03, 0x34, 0x12, 0x78, 0x56, 0x02, 0x01, 0x04, 0x03 };

	memcpy(p, h, sizeof(h));
	tr_put_le(p + 10, nb, 2);
}

bool guest_hdr_is(struct fx *f, uint64_t gpa, int hlen, uint16_t nb)
{
	return VRM_EQ(f->t.mem[gpa], 0x01) && VRM_EQ(f->t.mem[gpa + 1], 0x03) &&
	       VRM_EQ(tr_get(&f->t, gpa + 2, 2), 0x1234) && VRM_EQ(tr_get(&f->t, gpa + 4, 2), 0x5678) &&
	       VRM_EQ(tr_get(&f->t, gpa + 6, 2), 0x0102) && VRM_EQ(tr_get(&f->t, gpa + 8, 2), 0x0304) &&
	       (hlen == 10 || VRM_EQ(tr_get(&f->t, gpa + 10, 2), nb));
}
