/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Byte order as a run-time property of a device.
 *
 * Every field the mediator reads from or writes to a ring goes through these
 * accessors with the byte order of the side it belongs to: the guest's legacy
 * ring uses the order latched for the device at FEATURES_OK, the shadow ring
 * is always VM_ORDER_LE (VIRTIO_F_VERSION_1).
 *
 * There is no tswap and no #if __BYTE_ORDER__ here.  The host's order enters
 * only through vm_host_order(), a constant the compiler folds from a union, so
 * the same source is right on x86, s390x, bpfel and bpfeb, and a big-endian
 * and a little-endian device can be served by one binary at the same time.
 * The accessors take values loaded with their natural width (not byte
 * arrays) so clang's BPF backend emits one load plus at most one bswap.
 */
#ifndef VRINGMED_BYTEORDER_H
#define VRINGMED_BYTEORDER_H

#include "compat.h"

enum vm_order {
	VM_ORDER_LE = 0,
	VM_ORDER_BE = 1,
};

static vm_inline enum vm_order vm_host_order(void)
{
	const union {
		__u16 word;
		__u8 byte[2];
	} probe = { .word = 1 };

	return probe.byte[0] ? VM_ORDER_LE : VM_ORDER_BE;
}

/* Converts between a value in `order` and the host's representation: the
 * operation is its own inverse, so one helper serves both directions. */
static vm_inline __u16 vm_swab16_if(enum vm_order order, __u16 v)
{
	return order == vm_host_order() ? v : __builtin_bswap16(v);
}

static vm_inline __u32 vm_swab32_if(enum vm_order order, __u32 v)
{
	return order == vm_host_order() ? v : __builtin_bswap32(v);
}

static vm_inline __u64 vm_swab64_if(enum vm_order order, __u64 v)
{
	return order == vm_host_order() ? v : __builtin_bswap64(v);
}

/* Loads and stores of fields stored in `order`. */
static vm_inline __u16 vm_ld16(enum vm_order order, const __u16 *p)
{
	return vm_swab16_if(order, *p);
}

static vm_inline __u32 vm_ld32(enum vm_order order, const __u32 *p)
{
	return vm_swab32_if(order, *p);
}

static vm_inline __u64 vm_ld64(enum vm_order order, const __u64 *p)
{
	return vm_swab64_if(order, *p);
}

static vm_inline void vm_st16(enum vm_order order, __u16 *p, __u16 v)
{
	*p = vm_swab16_if(order, v);
}

static vm_inline void vm_st32(enum vm_order order, __u32 *p, __u32 v)
{
	*p = vm_swab32_if(order, v);
}

static vm_inline void vm_st64(enum vm_order order, __u64 *p, __u64 v)
{
	*p = vm_swab64_if(order, v);
}

#endif /* VRINGMED_BYTEORDER_H */
