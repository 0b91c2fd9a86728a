/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * virtio-blk in the translation core: a legacy request's header in the kick
 * direction (included by xlate.h, so it runs in BPF and in userspace alike),
 * and the config space's fields (the daemon's VMM face converts them).
 *
 * A legacy virtio-blk request (without ANY_LAYOUT, which the daemon does not
 * offer) is a chain of
 *   - the header {type u32, ioprio u32, sector u64}, 16 bytes in the guest's
 *     byte order, read-only, in a descriptor of its own;
 *   - the data, read-only (a write) or device-writable (a read, GET_ID);
 *   - the status byte, device-writable, in the last descriptor.
 * The back-end reads the header from memory it can see, and the guest's
 * memory is never rewritten: the header descriptor is replaced in the shadow
 * chain by the queue's header slot for that head, which holds the header
 * little-endian, as the net TX header is.  The data and the status byte
 * need nothing (GET_ID's 20 bytes are bytes), nor does the used path: the
 * back-end writes the status byte into the guest's buffer itself, and
 * used.len counts bytes, converted with the rest of the used entry.
 */
#ifndef VRINGMED_XLATE_BLK_H
#define VRINGMED_XLATE_BLK_H

#include "compat.h"
#include "byteorder.h"

#define VRM_BLK_HDR_LEN		16

/* Request types (virtio 1.2, 5.2.6; FLUSH_OUT is legacy's second name for
 * a flush, which a modern back-end does not know). */
#define VRM_BLK_T_IN		0
#define VRM_BLK_T_OUT		1
#define VRM_BLK_T_FLUSH		4
#define VRM_BLK_T_FLUSH_OUT	5
#define VRM_BLK_T_GET_ID	8
#define VRM_BLK_ID_BYTES	20

/* A request header, from `from` to little-endian (dst may be src).  Any
 * other type goes as
 * it is: the back-end answers what it does not serve (a BARRIER or SCSI
 * request, whose features are never offered) with VIRTIO_BLK_S_UNSUPP. */
static vrm_inline void vrm_blk_hdr_convert(__u8 *dst, const __u8 *src, enum vrm_order from)
{
	__u32 type, ioprio;
	__u64 sector;

	__builtin_memcpy(&type, src, 4);
	__builtin_memcpy(&ioprio, src + 4, 4);
	__builtin_memcpy(&sector, src + 8, 8);
	type = vrm_swab32_if(from, type);
	if (type == VRM_BLK_T_FLUSH_OUT)
		type = VRM_BLK_T_FLUSH;
	type = vrm_swab32_if(VRM_ORDER_LE, type);
	ioprio = vrm_swab32_if(VRM_ORDER_LE, vrm_swab32_if(from, ioprio));
	sector = vrm_swab64_if(VRM_ORDER_LE, vrm_swab64_if(from, sector));
	__builtin_memcpy(dst, &type, 4);
	__builtin_memcpy(dst + 4, &ioprio, 4);
	__builtin_memcpy(dst + 8, &sector, 8);
}

#ifdef VRINGMED_XLATE_H	/* the kick direction: xlate.h includes this file */

/* The guest's header at `vmm_va` into header slot `slot`, little-endian.
 * Nonzero when the guest's memory cannot be read.  Copied straight into
 * the slot and converted there: the slot is ours (a back-end sees it only
 * once the chain is published), and no copy takes stack. */
static vrm_inline long vrm_blk_req_header(const struct vrm_device *dev, __u32 order,
							 __u8 *slot, __u64 vmm_va)
{
	if (vrm_env_read(dev, slot, VRM_BLK_HDR_LEN, vmm_va))
		return -1;
	vrm_blk_hdr_convert(slot, slot, (enum vrm_order)order);
	return 0;
}

/*
 * The head descriptor of a request on a VRM_BLK_REQ queue, validated by the
 * general step: it must be the header, read-only and exactly 16 bytes (a
 * longer one would carry data the slot cannot, a shorter one is no header).
 * Its copy goes to the head's header slot, where vrm_net_head points the
 * shadow descriptor.  Not inlined, and with scalar arguments only: nothing
 * of the general step escapes to its stack, whose frame, on the call chain
 * of the chain fast path, has no room to spare (BPF's 512 bytes).
 */
static __attribute__((noinline)) __u32 vrm_blk_head(struct vrm_kick *k, __u16 idx, __u16 flags,
						    __u64 addr, __u32 len)
{
	const struct vrm_region *reg = &k->dev->regions[k->w->region & (VRM_MAX_REGIONS - 1)];

	if ((flags & VRM_VRING_DESC_F_WRITE) || len != VRM_BLK_HDR_LEN)
		return VRM_BLK_HDR;
	if (vrm_blk_req_header(k->dev, k->order, k->sh->hdr[idx & VRM_RING_MASK],
			      reg->vmm_va + (addr - reg->gpa))) {
		k->st->read_faults++;
		return VRM_FAULT_VERDICT;
	}
	return VRM_OK;
}

/* The last descriptor of a request, `flags` its flags: the status byte,
 * device-writable, after the header.  A chain of the header alone, or one
 * whose device cannot write its status, is no request. */
static vrm_inline bool vrm_blk_tail_ok(const struct vrm_kick *k, __u16 flags)
{
	return k->w->chain_len >= 2 && (flags & VRM_VRING_DESC_F_WRITE);
}

#endif /* VRINGMED_XLATE_H */

#if !defined(__bpf__)	/* the daemon's: BPF never sees the config space */
/*
 * The config space (struct virtio_blk_config, virtio 1.2 5.2.4): its fields
 * wider than a byte, by offset.  A legacy device keeps them in the guest's
 * byte order, a modern one little-endian; the bytes between (geometry's
 * heads and sectors, physical_block_exp, alignment_offset, writeback,
 * write_zeroes_may_unmap, the zoned model) are the same in both.
 */
#define VRM_BLK_CONFIG_FIELDS(X)					\
	X(0, 8)		/* capacity */					\
	X(8, 4)		/* size_max */					\
	X(12, 4)	/* seg_max */					\
	X(16, 2)	/* geometry.cylinders */			\
	X(20, 4)	/* blk_size */					\
	X(26, 2)	/* min_io_size */				\
	X(28, 4)	/* opt_io_size */				\
	X(34, 2)	/* num_queues */				\
	X(36, 4)	/* max_discard_sectors */			\
	X(40, 4)	/* max_discard_seg */				\
	X(44, 4)	/* discard_sector_alignment */			\
	X(48, 4)	/* max_write_zeroes_sectors */			\
	X(52, 4)	/* max_write_zeroes_seg */			\
	X(60, 4)	/* max_secure_erase_sectors */			\
	X(64, 4)	/* max_secure_erase_seg */			\
	X(68, 4)	/* secure_erase_sector_alignment */		\
	X(72, 4)	/* zoned.zone_sectors */			\
	X(76, 4)	/* zoned.max_open_zones */			\
	X(80, 4)	/* zoned.max_active_zones */			\
	X(84, 4)	/* zoned.max_append_sectors */			\
	X(88, 4)	/* zoned.write_granularity */
#define VRM_BLK_CONFIG_BYTES	96

/*
 * Converts the part [off, off + len) of a virtio-blk config space, held in
 * buf[0, len), between byte orders `from` and `to` (its own inverse).
 * Returns 0, or -1 when the part cuts a field in two: such a field has no
 * byte order of its own to convert, and the caller refuses the access.
 */
static vrm_inline int vrm_blk_config_convert(__u8 *buf, __u32 off, __u32 len,
					     enum vrm_order from, enum vrm_order to)
{
	static const __u8 fields[][2] = {
#define VRM_X_FIELD(o, w) { o, w },
		VRM_BLK_CONFIG_FIELDS(VRM_X_FIELD)
#undef VRM_X_FIELD
	};
	__u64 end = (__u64)off + len;

	for (__u32 i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		__u32 fo = fields[i][0], fw = fields[i][1];
		__u8 *p;

		if (fo + fw <= off || fo >= end)
			continue;
		if (fo < off || fo + fw > end)
			return -1;
		if (from == to)
			continue;
		p = buf + (fo - off);
		for (__u32 a = 0, b = fw - 1; a < b; a++, b--) {
			__u8 t = p[a];

			p[a] = p[b];
			p[b] = t;
		}
	}
	return 0;
}
#endif /* !__bpf__ */

#endif /* VRINGMED_XLATE_BLK_H */
