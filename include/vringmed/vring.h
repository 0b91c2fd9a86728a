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

#define VRM_VRING_DESC_F_NEXT		1
#define VRM_VRING_DESC_F_WRITE		2
#define VRM_VRING_DESC_F_INDIRECT	4

#define VRM_VRING_AVAIL_F_NO_INTERRUPT	1
#define VRM_VRING_USED_F_NO_NOTIFY	1

/* Legacy virtio-pci / virtio-ccw place the used ring on this boundary. */
#define VRM_VRING_LEGACY_ALIGN		4096

struct vrm_desc {
	__u64 addr;	/* guest-physical address of the buffer */
	__u32 len;
	__u16 flags;
	__u16 next;
};
VRM_STATIC_ASSERT(sizeof(struct vrm_desc) == 16, "virtio descriptor is 16 bytes");

struct vrm_used_elem {
	__u32 id;
	__u32 len;
};
VRM_STATIC_ASSERT(sizeof(struct vrm_used_elem) == 8, "used element is 8 bytes");

/* Offsets of the avail fields: flags, idx, ring[size], used_event. */
#define VRM_AVAIL_FLAGS_OFF		0
#define VRM_AVAIL_IDX_OFF		2
#define VRM_AVAIL_RING_OFF		4
/* Offsets of the used fields: flags, idx, ring[size], avail_event. */
#define VRM_USED_FLAGS_OFF		0
#define VRM_USED_IDX_OFF			2
#define VRM_USED_RING_OFF		4

/* VIRTIO_RING_F_EVENT_IDX: each side says, in a u16 after the other side's
 * ring, the index at which it wants its next notification.  used_event sits
 * after the avail ring (the driver's), avail_event after the used ring (the
 * device's). */
#define VRM_F_EVENT_IDX			29

static vrm_inline __u64 vrm_used_event_off(__u32 size)
{
	return VRM_AVAIL_RING_OFF + 2ull * size;
}

static vrm_inline __u64 vrm_avail_event_off(__u32 size)
{
	return VRM_USED_RING_OFF + 8ull * size;
}

/* vring_need_event: notify when the index moved from `old` to `new_idx`
 * passed `event` (event in [old, new_idx), free-running u16 arithmetic). */
static vrm_inline bool vrm_need_event(__u16 event, __u16 new_idx, __u16 old)
{
	return (__u16)(new_idx - event - 1) < (__u16)(new_idx - old);
}

static vrm_inline __u64 vrm_align_up(__u64 v, __u64 align)
{
	return (v + align - 1) & ~(align - 1);
}

static vrm_inline __u64 vrm_desc_table_bytes(__u32 size)
{
	return 16ull * size;
}

static vrm_inline __u64 vrm_avail_bytes(__u32 size)
{
	return 6ull + 2ull * size;	/* flags, idx, ring, used_event */
}

static vrm_inline __u64 vrm_used_bytes(__u32 size)
{
	return 6ull + 8ull * size;	/* flags, idx, ring, avail_event */
}

/* Legacy layout, as vring_init() places it: desc, avail, pad, used. */
static vrm_inline __u64 vrm_legacy_avail_off(__u32 size)
{
	return vrm_desc_table_bytes(size);
}

static vrm_inline __u64 vrm_legacy_used_off(__u32 size)
{
	return vrm_align_up(vrm_desc_table_bytes(size) + vrm_avail_bytes(size),
			   VRM_VRING_LEGACY_ALIGN);
}

static vrm_inline __u64 vrm_legacy_ring_bytes(__u32 size)
{
	return vrm_legacy_used_off(size) + vrm_used_bytes(size);
}

static vrm_inline bool vrm_ring_size_ok(__u32 size, __u32 max)
{
	return size != 0 && size <= max && (size & (size - 1)) == 0;
}

#endif /* VRINGMED_VRING_H */
