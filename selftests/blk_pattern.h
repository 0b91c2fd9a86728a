/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The bytes of the test disk, as the block tests lay them: what the backing
 * file holds before a run, and what the driver writes (tagged with its
 * run's seed), so the driver and the test that reads the file afterwards
 * agree on every byte without sharing anything else.
 */
#ifndef VRINGMED_BLK_PATTERN_H
#define VRINGMED_BLK_PATTERN_H

#include <stdint.h>

#define BLK_SECTOR	512u
#define BLK_DISK_BYTES	(4u << 20)	/* 8192 sectors */
/* The driver writes this span of sectors; the rest keeps the laid pattern. */
#define BLK_WRITE_FIRST	2048u
#define BLK_WRITE_SECTORS 512u

/* Byte `off` of the disk: seed 0 is what the file holds before a run. */
static inline uint8_t blk_pattern(uint64_t off, uint32_t seed)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull + seed * 0x94d049bb133111ebull + off / BLK_SECTOR;

	return (uint8_t)(x >> 56 ^ x >> 29);
}

#endif
