/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Split virtqueue layouts: legacy (virtio 0.9.5, guest byte order, one
 * contiguous area aligned to 4096) and modern (VIRTIO_F_VERSION_1,
 * little-endian, three independently placed parts).
 *
 * The structs hold *encoded* fields: a field's bytes are in the order of the
 * ring's owner, so a field is only ever read or written through the
 * byteorder.h accessors, never used directly as a number.
 */
#ifndef VRINGMED_VRING_H
#define VRINGMED_VRING_H

#include "compat.h"

#define VM_VRING_DESC_F_NEXT		1
#define VM_VRING_DESC_F_WRITE		2
#define VM_VRING_DESC_F_INDIRECT	4

#define VM_VRING_AVAIL_F_NO_INTERRUPT	1
#define VM_VRING_USED_F_NO_NOTIFY	1

/* Legacy virtio-pci / virtio-ccw place the used ring on this boundary. */
#define VM_VRING_LEGACY_ALIGN		4096

struct vm_desc {
	__u64 addr;	/* guest-physical address of the buffer */
	__u32 len;
	__u16 flags;
	__u16 next;
};
VM_STATIC_ASSERT(sizeof(struct vm_desc) == 16, "virtio descriptor is 16 bytes");

struct vm_used_elem {
	__u32 id;
	__u32 len;
};
VM_STATIC_ASSERT(sizeof(struct vm_used_elem) == 8, "used element is 8 bytes");

/* Offsets of the avail fields: flags, idx, ring[size], used_event. */
#define VM_AVAIL_FLAGS_OFF		0
#define VM_AVAIL_IDX_OFF		2
#define VM_AVAIL_RING_OFF		4
/* Offsets of the used fields: flags, idx, ring[size], avail_event. */
#define VM_USED_FLAGS_OFF		0
#define VM_USED_IDX_OFF			2
#define VM_USED_RING_OFF		4

static vm_inline __u64 vm_align_up(__u64 v, __u64 align)
{
	return (v + align - 1) & ~(align - 1);
}

static vm_inline __u64 vm_desc_table_bytes(__u32 size)
{
	return 16ull * size;
}

static vm_inline __u64 vm_avail_bytes(__u32 size)
{
	return 6ull + 2ull * size;	/* flags, idx, ring, used_event */
}

static vm_inline __u64 vm_used_bytes(__u32 size)
{
	return 6ull + 8ull * size;	/* flags, idx, ring, avail_event */
}

/* Legacy layout, as vring_init() places it: desc, avail, pad, used. */
static vm_inline __u64 vm_legacy_avail_off(__u32 size)
{
	return vm_desc_table_bytes(size);
}

static vm_inline __u64 vm_legacy_used_off(__u32 size)
{
	return vm_align_up(vm_desc_table_bytes(size) + vm_avail_bytes(size),
			   VM_VRING_LEGACY_ALIGN);
}

static vm_inline __u64 vm_legacy_ring_bytes(__u32 size)
{
	return vm_legacy_used_off(size) + vm_used_bytes(size);
}

static vm_inline bool vm_ring_size_ok(__u32 size, __u32 max)
{
	return size != 0 && size <= max && (size & (size - 1)) == 0;
}

#endif /* VRINGMED_VRING_H */
