/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Byte order as a run-time property of a device.
 *
 * Every field the mediator reads from or writes to a ring goes through these
 * accessors with the byte order of the side it belongs to: the guest's legacy
 * ring uses the order latched for the device at FEATURES_OK, the shadow ring
 * is always VRM_ORDER_LE (VIRTIO_F_VERSION_1).
 *
 * There is no tswap and no #if __BYTE_ORDER__ here.  The host's order enters
 * only through vrm_host_order(), a constant the compiler folds from a union, so
 * the same source is right on x86, s390x, bpfel and bpfeb, and a big-endian
 * and a little-endian device can be served by one binary at the same time.
 * The accessors take values loaded with their natural width (not byte
 * arrays) so clang's BPF backend emits one load plus at most one bswap.
 */
#ifndef VRINGMED_BYTEORDER_H
#define VRINGMED_BYTEORDER_H

#include "compat.h"

enum vrm_order {
	VRM_ORDER_LE = 0,
	VRM_ORDER_BE = 1,
};

static vrm_inline enum vrm_order vrm_host_order(void)
{
	const union {
		__u16 word;
		__u8 byte[2];
	} probe = { .word = 1 };

	return probe.byte[0] ? VRM_ORDER_LE : VRM_ORDER_BE;
}

/* Converts between a value in `order` and the host's representation: the
 * operation is its own inverse, so one helper serves both directions. */
static vrm_inline __u16 vrm_swab16_if(enum vrm_order order, __u16 v)
{
	return order == vrm_host_order() ? v : __builtin_bswap16(v);
}

static vrm_inline __u32 vrm_swab32_if(enum vrm_order order, __u32 v)
{
	return order == vrm_host_order() ? v : __builtin_bswap32(v);
}

static vrm_inline __u64 vrm_swab64_if(enum vrm_order order, __u64 v)
{
	return order == vrm_host_order() ? v : __builtin_bswap64(v);
}

/* Loads and stores of fields stored in `order`. */
static vrm_inline __u16 vrm_ld16(enum vrm_order order, const __u16 *p)
{
	return vrm_swab16_if(order, *p);
}

static vrm_inline __u32 vrm_ld32(enum vrm_order order, const __u32 *p)
{
	return vrm_swab32_if(order, *p);
}

static vrm_inline __u64 vrm_ld64(enum vrm_order order, const __u64 *p)
{
	return vrm_swab64_if(order, *p);
}

static vrm_inline void vrm_st16(enum vrm_order order, __u16 *p, __u16 v)
{
	*p = vrm_swab16_if(order, v);
}

static vrm_inline void vrm_st32(enum vrm_order order, __u32 *p, __u32 v)
{
	*p = vrm_swab32_if(order, v);
}

static vrm_inline void vrm_st64(enum vrm_order order, __u64 *p, __u64 v)
{
	*p = vrm_swab64_if(order, v);
}

#endif /* VRINGMED_BYTEORDER_H */
