/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The Internet checksum the slow way, a byte at a time: the reference the
 * receive offloads' tests and fuzzer hold xdp_gro.c's sums against.
 */
#ifndef VRINGMED_CSUM_REF_H
#define VRINGMED_CSUM_REF_H

#include <stdint.h>

/* `s` plus the big-endian 16-bit words of p[0..len), unfolded. */
static inline uint32_t ref_sum(const uint8_t *p, uint32_t len, uint32_t s)
{
	for (uint32_t i = 0; i < len; i++)
		s += i & 1 ? p[i] : (uint32_t)p[i] << 8;
	return s;
}

static inline uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

#endif
