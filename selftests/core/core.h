/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What several of test_core's subject files use (core.c). */
#ifndef VRINGMED_TEST_CORE_H
#define VRINGMED_TEST_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "fixture.h"

const char *order_name(int be);
/* A core test cannot go on without its fixture. */
void fx_setup(struct fx *f, uint16_t size, int big_endian);
uint32_t fx_kick(struct fx *f, uint32_t *chains);
/* The shadow descriptor i must equal guest descriptor i, as numbers. */
bool shadow_matches_guest(struct fx *f, uint16_t i);
void backend_use(struct fx *f, uint16_t *used_idx, uint32_t id, uint32_t len);

/* virtio-net headers (struct vrm_queue net_mode): written by hand in the
 * guest's order, checked byte by byte on the shadow side. */
#define NET_HDR_GPA 0x700000000ull	/* where the backend sees the slots */

void put_net_hdr(struct fx *f, uint64_t gpa, int hlen, uint16_t nb);
void net_queue(struct fx *f, uint8_t mode, uint8_t hlen);
/* What a modern backend writes: the 12-byte little-endian header. */
void put_modern_hdr(uint8_t *p, uint16_t nb);
bool guest_hdr_is(struct fx *f, uint64_t gpa, int hlen, uint16_t nb);

#endif
