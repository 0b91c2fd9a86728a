/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The monotonic clock, in the units the daemon's timers count in: one
 * reading for the polling periods (ns), the device scans, the back-end's
 * reconnects and the keeper's deadlines (ms).
 */
#ifndef VRINGMED_CLOCK_H
#define VRINGMED_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t vrm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t vrm_now_ms(void)
{
	return vrm_now_ns() / 1000000;
}

#endif
