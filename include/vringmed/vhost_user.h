/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The vhost-user wire protocol, as far as vringmed speaks it (both faces of
 * the proxy and the test drivers).  Written from QEMU's
 * docs/interop/vhost-user.rst.  Every field on the wire is in the *host's*
 * byte order (the protocol runs between processes of one host), which on the
 * hosts vringmed serves is little-endian: code that may itself run
 * big-endian (the s390x test driver under qemu-user) encodes with
 * vrm_st*(VRM_ORDER_LE) / vrm_ld*(VRM_ORDER_LE), never with plain stores.
 *
 * Userspace only.
 */
#ifndef VRINGMED_VHOST_USER_H
#define VRINGMED_VHOST_USER_H

#include <stdint.h>

/* Front-end -> back-end requests. */
enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_SEND_RARP = 19,
	VU_NET_SET_MTU = 20,
	VU_SET_BACKEND_REQ_FD = 21,
	VU_IOTLB_MSG = 22,
	VU_SET_VRING_ENDIAN = 23,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
	VU_GET_INFLIGHT_FD = 31,
	VU_SET_INFLIGHT_FD = 32,
	VU_RESET_DEVICE = 34,
	VU_GET_MAX_MEM_SLOTS = 36,
	VU_ADD_MEM_REG = 37,
	VU_REM_MEM_REG = 38,
	VU_SET_STATUS = 39,
	VU_GET_STATUS = 40,
	VU_REQUEST_MAX = 64,
};

/* Back-end -> front-end requests (on the back-end request channel). */
#define VU_BACKEND_CONFIG_CHANGE_MSG	2

/* Header flags. */
#define VU_VERSION		0x1u
#define VU_VERSION_MASK		0x3u
#define VU_FLAG_REPLY		(1u << 2)
#define VU_FLAG_NEED_REPLY	(1u << 3)

/* Virtio feature bits the proxy cares about. */
#define VU_F_NOTIFY_ON_EMPTY	24
#define VU_F_LOG_ALL		26	/* dirty logging on (a migration) */
#define VU_F_ANY_LAYOUT		27
#define VU_F_INDIRECT_DESC	28
#define VU_F_EVENT_IDX		29
#define VU_F_PROTOCOL_FEATURES	30	/* vhost-user's own bit */
#define VU_F_VERSION_1		32
#define VU_F_ACCESS_PLATFORM	33
#define VU_F_RING_PACKED	34
#define VU_F_IN_ORDER		35
#define VU_F_ORDER_PLATFORM	36
#define VU_F_SR_IOV		37
#define VU_F_NOTIFICATION_DATA	38
#define VU_F_RING_RESET		40

/* virtio-net feature bits. */
#define VU_NET_F_CSUM		0
#define VU_NET_F_GUEST_CSUM	1
#define VU_NET_F_MTU		3
#define VU_NET_F_MAC		5
#define VU_NET_F_GUEST_TSO4	7
#define VU_NET_F_GUEST_TSO6	8
#define VU_NET_F_GUEST_ECN	9
#define VU_NET_F_GUEST_UFO	10
#define VU_NET_F_HOST_TSO4	11
#define VU_NET_F_HOST_TSO6	12
#define VU_NET_F_HOST_ECN	13
#define VU_NET_F_HOST_UFO	14
#define VU_NET_F_MRG_RXBUF	15
#define VU_NET_F_STATUS		16
#define VU_NET_F_CTRL_VQ	17
#define VU_NET_F_CTRL_RX	18
#define VU_NET_F_CTRL_VLAN	19
#define VU_NET_F_GUEST_ANNOUNCE	21
#define VU_NET_F_MQ		22

/* virtio-blk feature bits. */
#define VU_BLK_F_BARRIER	0	/* legacy */
#define VU_BLK_F_SIZE_MAX	1
#define VU_BLK_F_SEG_MAX	2
#define VU_BLK_F_GEOMETRY	4
#define VU_BLK_F_RO		5
#define VU_BLK_F_BLK_SIZE	6
#define VU_BLK_F_SCSI		7	/* legacy */
#define VU_BLK_F_FLUSH		9
#define VU_BLK_F_TOPOLOGY	10
#define VU_BLK_F_CONFIG_WCE	11
#define VU_BLK_F_MQ		12
#define VU_BLK_F_DISCARD	13
#define VU_BLK_F_WRITE_ZEROES	14
#define VU_BLK_F_LIFETIME	15
#define VU_BLK_F_SECURE_ERASE	16
#define VU_BLK_F_ZONED		17

/* Protocol feature bits. */
#define VU_PF_MQ		0
#define VU_PF_LOG_SHMFD		1
#define VU_PF_RARP		2
#define VU_PF_REPLY_ACK		3
#define VU_PF_NET_MTU		4
#define VU_PF_BACKEND_REQ	5
#define VU_PF_CROSS_ENDIAN	6
#define VU_PF_CONFIG		9
#define VU_PF_HOST_NOTIFIER	11
#define VU_PF_INFLIGHT_SHMFD	12
#define VU_PF_RESET_DEVICE	13
#define VU_PF_CONFIGURE_MEM_SLOTS 15
#define VU_PF_STATUS		16

#define VU_MAX_REGIONS		8	/* per SET_MEM_TABLE */
#define VU_MAX_FDS		8	/* per message */
#define VU_HDR_SIZE		12
#define VU_MAX_PAYLOAD		4096	/* vringmed's cap: larger is malformed */

/* SET_VRING_KICK/CALL/ERR payload: queue index and "no fd" flag. */
#define VU_VRING_IDX_MASK	0xffu
#define VU_VRING_NOFD		(1u << 8)

/* SET_VRING_ENDIAN num (Linux's VHOST_VRING_*_ENDIAN). */
#define VU_VRING_LITTLE_ENDIAN	0
#define VU_VRING_BIG_ENDIAN	1

/*
 * Payload layouts (offsets on the wire; all fields little-endian on the
 * hosts vringmed serves, see above).  Spelled out as offsets rather than
 * packed structs so a big-endian encoder cannot get them wrong.
 *
 *   u64             : GET/SET_FEATURES, GET/SET_PROTOCOL_FEATURES,
 *                     GET_QUEUE_NUM reply, SET_VRING_KICK/CALL/ERR
 *   vring state     : u32 index @0, u32 num @4 (8 bytes)
 *   vring address   : u32 index @0, u32 flags @4, u64 desc @8, u64 used @16,
 *                     u64 avail @24, u64 log @32 (40 bytes; front-end
 *                     *user* addresses, translated through the mem table)
 *   config space    : u32 offset @0, u32 size @4, u32 flags @8, then size
 *                     bytes of the device's config space from offset
 *                     (GET_CONFIG, SET_CONFIG)
 *   memory table    : u32 nregions @0, u32 padding @4, then per region
 *                     u64 guest_phys_addr, u64 memory_size,
 *                     u64 userspace_addr, u64 mmap_offset (32 bytes each),
 *                     one fd per region in the message's SCM_RIGHTS
 */
#define VU_U64_SIZE		8
#define VU_STATE_SIZE		8
#define VU_ADDR_SIZE		40
#define VU_ADDR_DESC_OFF	8
#define VU_ADDR_USED_OFF	16
#define VU_ADDR_AVAIL_OFF	24
#define VU_ADDR_LOG_OFF		32	/* the used ring's guest address, logged */
#define VU_VRING_F_LOG		0	/* SET_VRING_ADDR flags: log_guest_addr valid */
/* SET_LOG_BASE: {mmap_size u64, mmap_offset u64} and the log's fd. */
#define VU_LOG_SIZE		16
#define VU_LOG_PAGE		4096	/* guest bytes per bit of the dirty log */
#define VU_CONFIG_HDR_SIZE	12
#define VU_MEM_HDR_SIZE		8
#define VU_MEM_REGION_SIZE	32

/* A decoded message (both directions), with the fds it carried. */
struct vu_msg {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
	uint8_t payload[VU_MAX_PAYLOAD];
	int fds[VU_MAX_FDS];
	int nfds;
};

#endif /* VRINGMED_VHOST_USER_H */
