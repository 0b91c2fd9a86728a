/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Everything that crosses the BPF/userspace boundary: map names, map value
 * layouts, verdict codes, counters.  Fixed-width types and explicit padding
 * only; every struct's size is asserted so BPF and userspace cannot drift.
 */
#ifndef VRINGMED_ABI_H
#define VRINGMED_ABI_H

#include "compat.h"
#include "vring.h"

/* Limits.  VRM_MAX_RING is QEMU's VIRTQUEUE_MAX_SIZE; VRM_MAX_REGIONS is
 * vhost-user's VHOST_MEMORY_BASELINE_NREGIONS. */
#define VRM_MAX_RING		1024
#define VRM_RING_MASK		(VRM_MAX_RING - 1)
#define VRM_MAX_DEVICES		16
#define VRM_MAX_QUEUES		64
#define VRM_MAX_REGIONS		8
#define VRM_WIN			VRM_MAX_RING	/* guest descriptors one bulk read copies: a whole table */
#define VRM_BATCH_BUCKETS	12	/* chains per kick: 0, 1, 2-3, ... 1024+ */
/* The kick's work bounds (xlate.h): the longest chain its fast path takes,
 * and its steps per round: a descriptor each, one more per entry that tried
 * the fast path first, one to find no more. */
#define VRM_FAST_CHAIN		4
#define VRM_KICK_STEPS		(2 * VRM_MAX_RING + 1)
/* Indirect tables (xlate_indirect.h): the entries of the largest one
 * accepted, and a queue's shadow room for them, shared by its heads: 32 a
 * head in a ring of 1024, 64 in rings of 512 and less.  Linux's virtio-net
 * fills up to MAX_SKB_FRAGS + 2, 19 with the default of 17 (a kernel built
 * with CONFIG_MAX_SKB_FRAGS over 30 needs a ring of 512 or less). */
#define VRM_ITAB_MAX		64
#define VRM_ITAB_ENTRIES		32768
#define VRM_MAX_VMMS		64
#define VRM_DEV_NAME_LEN		32
#define VRM_DEV_QUEUES		(VRM_MAX_QUEUES / VRM_MAX_DEVICES)	/* queue slots per device */
/* Queue slot of device slot `dev`'s queue `i`: every map indexed by queue
 * slot and the per-device shadow maps agree on it. */
#define VRM_QSLOT(dev, i)	((dev) * VRM_DEV_QUEUES + (i))

/* Map names (at most 15 characters: the kernel truncates longer ones). The
 * pin path of map X is VRM_PIN_ROOT "/" X. */
#define VRM_PIN_ROOT		"/sys/fs/bpf/vringmed"
#define VRM_MAP_DEVICES		"vrm_devices"
#define VRM_MAP_QUEUES		"vrm_queues"
#define VRM_MAP_SHADOW		"vrm_shadows"	/* of maps: one per device */
#define VRM_MAP_STATS		"vrm_qstats"
#define VRM_MAP_KICKFDS		"vrm_kickfds"
#define VRM_MAP_VMMS		"vrm_vmms"
#define VRM_MAP_IOKICKS		"vrm_iokicks"
#define VRM_MAP_DEFERRED		"vrm_deferred"
#define VRM_MAP_SCRATCH		"vrm_scratch"
#define VRM_MAP_USTATS		"vrm_ustats"	/* counters of work done in userspace */
#define VRM_MAP_FASTSETS	"vrm_fastsets"	/* direct-mapped front of kickfds and vmms */

/*
 * Verdicts.  VRM_OK is healthy; everything else marks the device broken until
 * reset, except VRM_DEFER, which hands a kick BPF could not finish to the
 * daemon.  One list, so names and values cannot drift.  New ones go at the
 * end: a device's `broken` and the pinned counters (errors[]) hold the
 * values, and a restarted daemon of a later build reads them.
 */
#define VRM_VERDICTS(X)							\
	X(OK,			"ok")					\
	X(DEFER,		"deferred")				\
	X(AVAIL_JUMP,		"avail_idx_jump")			\
	X(HEAD_OOB,		"head_out_of_range")			\
	X(NEXT_OOB,		"next_out_of_range")			\
	X(CHAIN_LOOP,		"chain_loop")				\
	X(CHAIN_TOO_LONG,	"chain_too_long")			\
	X(ZERO_LEN,		"zero_length")				\
	X(ADDR_OVERFLOW,	"addr_len_overflow")			\
	X(BUF_OUTSIDE_MEM,	"buffer_outside_memory")		\
	X(WRITE_BEFORE_READ,	"write_before_read")			\
	X(INDIRECT_LEN,		"indirect_len_not_16n")			\
	X(INDIRECT_TOO_LARGE,	"indirect_too_large")			\
	X(INDIRECT_NEXT,	"indirect_with_next")			\
	X(INDIRECT_NESTED,	"indirect_nested")			\
	X(INDIRECT_UNSUPPORTED,	"indirect_not_negotiated")	/* given by no build: tables are mediated */ \
	X(RING_FAULT,		"ring_fault")				\
	X(DESC_IN_FLIGHT,	"desc_in_flight")			\
	X(USED_NOT_IN_FLIGHT,	"used_id_not_in_flight")		\
	X(USED_TOO_MANY,	"used_more_than_in_flight")		\
	X(BAD_CONFIG,		"bad_config")				\
	X(NET_HDR,		"bad_net_header")				\
	X(USED_LEN,		"used_len_over_offered")			\
	X(BLK_HDR,		"bad_blk_header")				\
	X(BLK_STATUS,		"bad_blk_status")

enum vrm_verdict {
#define VRM_X_ENUM(name, str) VRM_##name,
	VRM_VERDICTS(VRM_X_ENUM)
#undef VRM_X_ENUM
	VRM_VERDICT_NR
};

/* A guest memory region: guest-physical range, where the VMM has it mapped
 * (the address BPF reads in the VMM's context), and where the mediating
 * process has it mapped (userspace completion path; 0 in BPF-only setups). */
struct vrm_region {
	__u64 gpa;
	__u64 size;
	__u64 vmm_va;
	__u64 mediator_va;
};
VRM_STATIC_ASSERT(sizeof(struct vrm_region) == 32, "vrm_region ABI");

#define VRM_DF_ACTIVE		(1u << 0)

/* What a device is (vrm_device.type): the daemon's configuration says. */
enum vrm_dev_type {
	VRM_DEV_NET = 0,	/* virtio-net: receiveq1, transmitq1 */
	VRM_DEV_BLK = 1,	/* virtio-blk: requestq1 */
};

/* VRM_MAP_DEVICES value, indexed by device slot. */
struct vrm_device {
	__u32 tgid;		/* the VMM: guest reads happen only in its context */
	__u32 flags;		/* VRM_DF_* */
	__u8 order;		/* enum vrm_order, latched at FEATURES_OK */
	__u8 nregions;
	__u8 type;		/* enum vrm_dev_type */
	__u8 _pad0;
	__u32 broken;		/* enum vrm_verdict; first verdict wins until reset */
	__u64 features;		/* feature bits negotiated with the guest */
	__u32 first_queue;	/* VRM_MAP_QUEUES index of queue 0 */
	__u32 nqueues;
	__u64 generation;	/* bumped at every reset */
	struct vrm_region regions[VRM_MAX_REGIONS];
	/* The daemon's name for the device (NUL-padded): a restarted daemon
	 * finds its devices' slots, state and counters by it. */
	char name[VRM_DEV_NAME_LEN];
};
VRM_STATIC_ASSERT(sizeof(struct vrm_device) == 40 + 32 * VRM_MAX_REGIONS + VRM_DEV_NAME_LEN,
		 "vrm_device ABI");

#define VRM_QF_ENABLED		(1u << 0)
#define VRM_QF_BE_EVENT_IDX	(1u << 1)	/* the back-end negotiated EVENT_IDX */
/* The back-end negotiated INDIRECT_DESC: a VRM_NET_RX_SLOT buffer that holds
 * header and frame in one descriptor is published as a two-entry shadow
 * table (vrm_net_rx_split). */
#define VRM_QF_BE_INDIRECT	(1u << 2)

/* vrm_queue.ev_valid: which of the event idx positions hold a value. */
#define VRM_EV_SIGNALLED	(1u << 0)
#define VRM_EV_AVAIL_EVENT	(1u << 1)
#define VRM_EV_BE_KICKED	(1u << 2)

/*
 * virtio-net headers.  The legacy header is 10 bytes (12 with MRG_RXBUF) in
 * the guest's byte order; the modern one is always 12 bytes little-endian.
 * A legacy guest without ANY_LAYOUT puts the TX header in its own
 * descriptor; Linux puts RX header and frame in one buffer.
 */
enum vrm_net_mode {
	VRM_NET_NONE = 0,	/* not net, or the headers already agree */
	/* TX: the header descriptor is replaced by a mediator-owned shadow
	 * header slot holding the converted 12-byte little-endian header. */
	VRM_NET_TX_SLOT = 1,
	/* RX, 10-byte header (no MRG_RXBUF): the backend writes the 12-byte
	 * header into the slot; the used path writes 10 bytes back in guest
	 * order and shortens used.len by 2.  The header has a descriptor of
	 * its own, or (Linux's small buffers) shares one with the frame: the
	 * back-end is then given a table of the slot and the rest. */
	VRM_NET_RX_SLOT = 2,
	/* RX, 12-byte header at the start of the buffer (MRG_RXBUF) in the
	 * other byte order: the used path byteswaps it in place, and skips the
	 * header-less buffers that follow in a merged packet. */
	VRM_NET_RX_INPLACE = 3,
	/* Not net: a legacy virtio-blk request's 16-byte header (its own
	 * descriptor, guest order) is replaced by a mediator-owned shadow
	 * header slot holding it little-endian (xlate_blk.h). */
	VRM_BLK_REQ = 4,
};
#define VRM_NET_HDR_MODERN	12
#define VRM_NET_HDR_LEGACY	10

/* Per-descriptor bookkeeping of chains handed to the backend, kept where the
 * backend cannot write it: owner is head + 1 (0 = free), next is the
 * validated chain link, VRM_DESC_END on a chain's last descriptor (state an
 * older daemon left has 0 there: the walk then ends where the owner
 * changes, as it did). */
struct vrm_desc_state {
	__u16 owner;
	__u16 next;
};
#define VRM_DESC_END		0xffff	/* no ring index is that large */

/* VRM_MAP_QUEUES value, indexed by global queue slot. */
struct vrm_queue {
	/* Configuration: written by the daemon while VRM_QF_ENABLED is clear. */
	__u32 dev;		/* VRM_MAP_DEVICES slot */
	__u32 flags;		/* VRM_QF_* */
	__u16 size;		/* ring size, power of two <= VRM_MAX_RING */
	__u16 max_chain;	/* longest chain accepted (<= size) */
	__u8 net_mode;		/* enum vrm_net_mode: device header handling */
	__u8 net_hdr_len;	/* the guest's header: 10, or 12 with MRG_RXBUF */
	__u16 rx_merge_left;	/* completion side: buffers of a packet to go */
	__u64 desc_va;		/* the guest's legacy ring, VMM addresses */
	__u64 avail_va;
	__u64 used_va;
	__u64 hdr_gpa;		/* backend's address of this queue's shadow hdr[0] */
	/* Kick side: written only by the holder of `busy`. */
	__u16 last_avail;	/* next guest avail slot == shadow avail idx */
	/* Completion side: written only by the daemon's used path. */
	__u16 last_used;	/* next shadow used slot == guest used idx */
	__u32 busy;		/* kick-side lock: 0 free, 1 held */
	__u32 kick_pending;	/* a kick arrived while busy: the holder redoes */
	__u32 deferred;		/* BPF could not finish a kick: userspace does */
	/* Journals, so that a daemon killed anywhere leaves a queue the next
	 * one can make whole (vrm_queue_resume; BPF never writes them).
	 * Completion: the used entry being returned, written before the
	 * guest's used idx moves (the commit). */
	__u16 jr_slot;		/* the used slot (free-running) */
	__u16 jr_head;		/* its chain */
	__u16 jr_merge_left;	/* rx_merge_left once it is returned */
	/* The daemon's own kick rounds: where it started; kj_state holds
	 * desc_state as it was then. */
	__u16 kj_avail;
	__u32 jr_valid;		/* 1: the jr_ fields are meaningful */
	__u32 kj_valid;		/* 1: a daemon kick round is under way */
	__u16 jr_len;		/* descriptors in the journaled chain */
	/* Event idx, each side negotiated on its own (the guest's features,
	 * VRM_QF_BE_EVENT_IDX); the daemon's only, BPF never reads them. */
	__u16 guest_signalled;	/* guest used idx at the last call decision */
	__u16 guest_avail_event; /* what the daemon last wrote as avail_event */
	__u16 backend_kicked;	/* shadow avail idx at the last kick decision */
	__u16 ev_valid;		/* VRM_EV_*: which of the three hold a value */
	__u8 _pad[38];
	struct vrm_desc_state desc_state[VRM_MAX_RING];
	/* VRM_NET_RX_SLOT, VRM_NET_RX_INPLACE: where each chain in flight has
	 * its header in guest memory (the header descriptor, or the buffer it
	 * starts), by head, validated at kick time.  The used path writes
	 * there and nowhere else: the shadow descriptors are the back-end's
	 * to rewrite.  (The fast path of single descriptors stores a buffer's
	 * address whatever the queue: a store costs less than the question.) */
	__u64 rx_hdr[VRM_MAX_RING];
	struct vrm_desc_state kj_state[VRM_MAX_RING];
	/* The bytes each chain in flight offered the back-end, by head (the
	 * bound of its used.len, vrm_used_len_ok); 0 where a build without it
	 * translated the chain (no chain offers 0: a descriptor has 1 or more). */
	__u32 offered[VRM_MAX_RING];
};
VRM_STATIC_ASSERT(sizeof(struct vrm_queue) == 128 + 20 * VRM_MAX_RING, "vrm_queue ABI");
/* The layout without offered[], a prefix of this one: the loader copies a
 * pinned vrm_queues of that layout into this build's. */
#define VRM_QUEUE_BYTES_NO_OFFERED	(128 + 16 * VRM_MAX_RING)

/*
 * The modern, little-endian rings the backend consumes.  VRM_MAP_SHADOW holds
 * one map per device slot, VRM_DEV_QUEUES of these each (queue slot q is entry
 * q % VRM_DEV_QUEUES of device q / VRM_DEV_QUEUES's map); userspace maps them
 * side by side, so it indexes them by global queue slot.  Page-aligned parts,
 * so a device's map is handed to its back-end as one memory region.
 */
#define VRM_SHADOW_AVAIL_OFF	16384
#define VRM_SHADOW_USED_OFF	20480
#define VRM_SHADOW_HDR_OFF	32768
#define VRM_SHADOW_HDR_SLOT	16
#define VRM_SHADOW_ITAB_OFF	49152
#define VRM_SHADOW_BYTES		(VRM_SHADOW_ITAB_OFF + 16 * VRM_ITAB_ENTRIES)
#define VRM_SHADOW_DEV_BYTES	(VRM_DEV_QUEUES * VRM_SHADOW_BYTES)	/* one device's map */
/* VRM_NET_RX_INPLACE keeps the backend's header of the entry being returned
 * in that head's (otherwise unused) hdr slot, tagged with the used slot, so
 * that a daemon killed half-way through converting it starts again from the
 * original and never converts it twice. */
#define VRM_STASH_TAG_OFF	12
#define VRM_STASH_TAG(slot)	(0x10000u | (__u16)(slot))

struct vrm_shadow_queue {
	struct vrm_desc desc[VRM_MAX_RING];
	struct {
		__u16 flags;
		__u16 idx;
		__u16 ring[VRM_MAX_RING + 1];	/* ring[size] is used_event */
		__u8 _pad[VRM_SHADOW_USED_OFF - VRM_SHADOW_AVAIL_OFF - 4 - 2 * (VRM_MAX_RING + 1)];
	} avail;
	struct {
		__u16 flags;
		__u16 idx;
		struct vrm_used_elem ring[VRM_MAX_RING];
		__u16 avail_event;
		__u8 _pad[VRM_SHADOW_HDR_OFF - VRM_SHADOW_USED_OFF - 6 - 8 * VRM_MAX_RING];
	} used;
	__u8 hdr[VRM_MAX_RING][VRM_SHADOW_HDR_SLOT];	/* mediator-owned headers */
	/* The guest's indirect tables as the back-end reads them: head h's
	 * at itab[h * vrm_itab_per(size)], little-endian, validated, in the
	 * order the guest's links walk it (xlate_indirect.h). */
	struct vrm_desc itab[VRM_ITAB_ENTRIES];
};
VRM_STATIC_ASSERT(sizeof(struct vrm_shadow_queue) == VRM_SHADOW_BYTES, "shadow ABI");
VRM_STATIC_ASSERT(__builtin_offsetof(struct vrm_shadow_queue, avail) == VRM_SHADOW_AVAIL_OFF, "shadow avail");
VRM_STATIC_ASSERT(__builtin_offsetof(struct vrm_shadow_queue, used) == VRM_SHADOW_USED_OFF, "shadow used");
VRM_STATIC_ASSERT(__builtin_offsetof(struct vrm_shadow_queue, hdr) == VRM_SHADOW_HDR_OFF, "shadow hdr");
VRM_STATIC_ASSERT(__builtin_offsetof(struct vrm_shadow_queue, itab) == VRM_SHADOW_ITAB_OFF, "shadow itab");

/* The entries of one indirect table a ring of `size` accepts: the queue's
 * table room shared out by head, at most VRM_ITAB_MAX (Linux's virtio-net
 * TX needs up to MAX_SKB_FRAGS + 2 = 19, its virtio-blk seg_max + 2). */
static vrm_inline __u32 vrm_itab_per(__u32 size)
{
	__u32 per = size ? VRM_ITAB_ENTRIES / size : 0;

	return per > VRM_ITAB_MAX ? VRM_ITAB_MAX : per;
}

/* VRM_MAP_STATS value (per CPU, summed by readers), indexed by queue slot. */
struct vrm_qstats {
	__u64 kicks;		/* notifications that reached the queue */
	__u64 kicks_empty;	/* ... with nothing new in the avail ring */
	__u64 chains;		/* chains published to the shadow ring */
	__u64 descs;		/* descriptors published */
	__u64 deferred;		/* kicks handed to userspace */
	__u64 read_faults;	/* guest ring reads that faulted */
	__u64 contended;	/* kicks that found the queue busy */
	__u64 foreign;		/* kicks from a process other than the VMM */
	__u64 used;		/* used entries returned to the guest */
	__u64 errors[VRM_VERDICT_NR];
	__u64 batch[VRM_BATCH_BUCKETS];
	/* After batch[]: a layout without them (words 9 + verdicts + batch)
	 * is an older build's, which the loader carries. */
	__u64 indirect;		/* indirect tables translated */
};
#define VRM_QSTATS_TAIL		1	/* the counters after batch[] */
VRM_STATIC_ASSERT(sizeof(struct vrm_qstats) ==
		 8 * (9 + VRM_VERDICT_NR + VRM_BATCH_BUCKETS + VRM_QSTATS_TAIL), "vrm_qstats ABI");

/* VRM_MAP_KICKFDS: eventfd identity (the eventfd-id of /proc/PID/fdinfo) ->
 * queue slot. */
struct vrm_kickfd_val {
	__u32 queue;
	__u32 _pad;
};

/*
 * VRM_MAP_FASTSETS (one element, mmapped by the daemon): direct-mapped
 * fronts of VRM_MAP_VMMS and VRM_MAP_KICKFDS, so that a write() on the host
 * costs one load and no hash lookup (no helper call), and a VMM's kick one
 * more.  The hash maps stay the truth:
 *  - vmm[tgid % VRM_VMM_SLOTS]: 0, no VMM's tgid falls here (the writer is
 *    no VMM); the tgid of the one VMM that does; VRM_SLOT_SHARED, look in
 *    VRM_MAP_VMMS.  It may claim a VMM the hash map no longer holds (set
 *    before the hash entry, cleared after), never miss one.
 *  - kick[id % VRM_KICK_SLOTS]: 0, or (queue slot << 32 | eventfd-id + 1),
 *    one 64-bit store; another id there, look in VRM_MAP_KICKFDS.  It may
 *    miss an entry of the hash map, never hold one the hash map does not
 *    (set after the hash entry, cleared before).
 * A loader rebuilds both from the hash maps before it attaches.
 */
#define VRM_VMM_SLOTS		1024
#define VRM_KICK_SLOTS		256
#define VRM_SLOT_SHARED		0xffffffffu

struct vrm_fastsets {
	__u32 vmm[VRM_VMM_SLOTS];
	__u64 kick[VRM_KICK_SLOTS];
};
VRM_STATIC_ASSERT(sizeof(struct vrm_fastsets) == 4 * VRM_VMM_SLOTS + 8 * VRM_KICK_SLOTS,
		 "vrm_fastsets ABI");

/* VRM_MAP_IOKICKS: KVM notify address -> device; the written value selects
 * the queue (legacy virtio-pci QUEUE_NOTIFY, virtio-mmio QueueNotify). */
enum vrm_io_kind {
	VRM_IO_PIO = 1,
	VRM_IO_MMIO = 2,
	VRM_IO_FAST_MMIO = 3,
};

struct vrm_iokick_key {
	__u32 kind;		/* enum vrm_io_kind */
	__u32 _pad;
	__u64 addr;		/* port or guest-physical address */
};

struct vrm_iokick_val {
	__u32 dev;
	__u32 fixed_queue;	/* fast MMIO carries no value: queue slot + 1, else 0 */
};

/* BPF_MAP_TYPE_RINGBUF record: a kick BPF handed to the daemon. */
struct vrm_defer_event {
	__u32 queue;
	__u32 verdict;		/* why: VRM_DEFER (fault) */
};

/* Context of the BPF_PROG_TYPE_SYSCALL entry used by BPF_PROG_TEST_RUN. */
struct vrm_test_args {
	__u32 queue;
	__s32 verdict;
	__u32 chains;
	__u32 descs;
};

/* The clock stamps of a kick through vrm_tp_write, in a build with
 * -DVRM_KICK_STAMPS (`make perf-kick-phases`; the product has none): each phase
 * is the time from the stamp before it. */
enum vrm_stamp {
	VRM_ST_ENTRY,		/* the program starts */
	VRM_ST_VMM,		/* the writer is a VMM of ours */
	VRM_ST_WALK,		/* fd -> eventfd-id */
	VRM_ST_LOOKUPS,		/* its queue, device, shadow ring */
	VRM_ST_AVAIL,		/* the lock, the guest's avail idx and heads */
	VRM_ST_STEPS,		/* the chains translated into the shadow ring */
	VRM_ST_PUBLISH,		/* the shadow avail idx and the counters */
	VRM_ST_END,		/* the lock dropped, the program returns */
	VRM_ST_CLOCK,		/* one more stamp at once: what a stamp costs */
	VRM_STAMPS
};
#define VRM_STAMP_RECS	4096	/* the last kicks' records, a ring */

#endif /* VRINGMED_ABI_H */
