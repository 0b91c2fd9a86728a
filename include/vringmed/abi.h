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

/* Limits.  VM_MAX_RING is QEMU's VIRTQUEUE_MAX_SIZE; VM_MAX_REGIONS is
 * vhost-user's VHOST_MEMORY_BASELINE_NREGIONS. */
#define VM_MAX_RING		1024
#define VM_RING_MASK		(VM_MAX_RING - 1)
#define VM_MAX_DEVICES		16
#define VM_MAX_QUEUES		64
#define VM_MAX_REGIONS		8
#define VM_WIN			VM_MAX_RING	/* guest descriptors one bulk read copies: a whole table */
#define VM_BATCH_BUCKETS	12	/* chains per kick: 0, 1, 2-3, ... 1024+ */
/* The kick's work bounds (xlate.h): the longest chain its fast path takes,
 * and its steps per round: a descriptor each, one more per entry that tried
 * the fast path first, one to find no more. */
#define VM_FAST_CHAIN		4
#define VM_KICK_STEPS		(2 * VM_MAX_RING + 1)
#define VM_MAX_VMMS		64
#define VM_DEV_NAME_LEN		32
#define VM_DEV_QUEUES		(VM_MAX_QUEUES / VM_MAX_DEVICES)	/* queue slots per device */
/* Queue slot of device slot `dev`'s queue `i`: every map indexed by queue
 * slot and the per-device shadow maps agree on it. */
#define VM_QSLOT(dev, i)	((dev) * VM_DEV_QUEUES + (i))

/* Map names (at most 15 characters: the kernel truncates longer ones). The
 * pin path of map X is VM_PIN_ROOT "/" X. */
#define VM_PIN_ROOT		"/sys/fs/bpf/vringmed"
#define VM_MAP_DEVICES		"vm_devices"
#define VM_MAP_QUEUES		"vm_queues"
#define VM_MAP_SHADOW		"vm_shadows"	/* of maps: one per device */
#define VM_MAP_STATS		"vm_qstats"
#define VM_MAP_KICKFDS		"vm_kickfds"
#define VM_MAP_VMMS		"vm_vmms"
#define VM_MAP_IOKICKS		"vm_iokicks"
#define VM_MAP_DEFERRED		"vm_deferred"
#define VM_MAP_SCRATCH		"vm_scratch"
#define VM_MAP_USTATS		"vm_ustats"	/* counters of work done in userspace */

/*
 * Verdicts.  VM_OK is healthy; everything else marks the device broken until
 * reset, except VM_DEFER, which hands a kick BPF could not finish to the
 * daemon.  One list, so names and values cannot drift.  New ones go at the
 * end: a device's `broken` and the pinned counters (errors[]) hold the
 * values, and a restarted daemon of a later build reads them.
 */
#define VM_VERDICTS(X)							\
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
	X(INDIRECT_UNSUPPORTED,	"indirect_not_negotiated")		\
	X(RING_FAULT,		"ring_fault")				\
	X(DESC_IN_FLIGHT,	"desc_in_flight")			\
	X(USED_NOT_IN_FLIGHT,	"used_id_not_in_flight")		\
	X(USED_TOO_MANY,	"used_more_than_in_flight")		\
	X(BAD_CONFIG,		"bad_config")				\
	X(NET_HDR,		"bad_net_header")				\
	X(USED_LEN,		"used_len_over_offered")

enum vm_verdict {
#define VM_X_ENUM(name, str) VM_##name,
	VM_VERDICTS(VM_X_ENUM)
#undef VM_X_ENUM
	VM_VERDICT_NR
};

/* A guest memory region: guest-physical range, where the VMM has it mapped
 * (the address BPF reads in the VMM's context), and where the mediating
 * process has it mapped (userspace completion path; 0 in BPF-only setups). */
struct vm_region {
	__u64 gpa;
	__u64 size;
	__u64 vmm_va;
	__u64 mediator_va;
};
VM_STATIC_ASSERT(sizeof(struct vm_region) == 32, "vm_region ABI");

#define VM_DF_ACTIVE		(1u << 0)

/* VM_MAP_DEVICES value, indexed by device slot. */
struct vm_device {
	__u32 tgid;		/* the VMM: guest reads happen only in its context */
	__u32 flags;		/* VM_DF_* */
	__u8 order;		/* enum vm_order, latched at FEATURES_OK */
	__u8 nregions;
	__u16 _pad0;
	__u32 broken;		/* enum vm_verdict; first verdict wins until reset */
	__u64 features;		/* feature bits negotiated with the guest */
	__u32 first_queue;	/* VM_MAP_QUEUES index of queue 0 */
	__u32 nqueues;
	__u64 generation;	/* bumped at every reset */
	struct vm_region regions[VM_MAX_REGIONS];
	/* The daemon's name for the device (NUL-padded): a restarted daemon
	 * finds its devices' slots, state and counters by it. */
	char name[VM_DEV_NAME_LEN];
};
VM_STATIC_ASSERT(sizeof(struct vm_device) == 40 + 32 * VM_MAX_REGIONS + VM_DEV_NAME_LEN,
		 "vm_device ABI");

#define VM_QF_ENABLED		(1u << 0)

/*
 * virtio-net headers.  The legacy header is 10 bytes (12 with MRG_RXBUF) in
 * the guest's byte order; the modern one is always 12 bytes little-endian.
 * A legacy guest without ANY_LAYOUT puts the TX header in its own
 * descriptor; Linux puts RX header and frame in one buffer.
 */
enum vm_net_mode {
	VM_NET_NONE = 0,	/* not net, or the headers already agree */
	/* TX: the header descriptor is replaced by a mediator-owned shadow
	 * header slot holding the converted 12-byte little-endian header. */
	VM_NET_TX_SLOT = 1,
	/* RX, 10-byte header in its own descriptor: the backend writes the
	 * 12-byte header into the slot; the used path writes 10 bytes back in
	 * guest order and shortens used.len by 2. */
	VM_NET_RX_SLOT = 2,
	/* RX, 12-byte header at the start of the buffer (MRG_RXBUF) in the
	 * other byte order: the used path byteswaps it in place, and skips the
	 * header-less buffers that follow in a merged packet. */
	VM_NET_RX_INPLACE = 3,
};
#define VM_NET_HDR_MODERN	12
#define VM_NET_HDR_LEGACY	10

/* Per-descriptor bookkeeping of chains handed to the backend, kept where the
 * backend cannot write it: owner is head + 1 (0 = free), next is the
 * validated chain link, VM_DESC_END on a chain's last descriptor (state an
 * older daemon left has 0 there: the walk then ends where the owner
 * changes, as it did). */
struct vm_desc_state {
	__u16 owner;
	__u16 next;
};
#define VM_DESC_END		0xffff	/* no ring index is that large */

/* VM_MAP_QUEUES value, indexed by global queue slot. */
struct vm_queue {
	/* Configuration: written by the daemon while VM_QF_ENABLED is clear. */
	__u32 dev;		/* VM_MAP_DEVICES slot */
	__u32 flags;		/* VM_QF_* */
	__u16 size;		/* ring size, power of two <= VM_MAX_RING */
	__u16 max_chain;	/* longest chain accepted (<= size) */
	__u8 net_mode;		/* enum vm_net_mode: virtio-net header handling */
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
	 * one can make whole (vm_queue_resume; BPF never writes them).
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
	__u8 _pad[46];
	struct vm_desc_state desc_state[VM_MAX_RING];
	/* VM_NET_RX_SLOT, VM_NET_RX_INPLACE: where each chain in flight has
	 * its header in guest memory (the header descriptor, or the buffer it
	 * starts), by head, validated at kick time.  The used path writes
	 * there and nowhere else: the shadow descriptors are the back-end's
	 * to rewrite.  (The fast path of single descriptors stores a buffer's
	 * address whatever the queue: a store costs less than the question.) */
	__u64 rx_hdr[VM_MAX_RING];
	struct vm_desc_state kj_state[VM_MAX_RING];
	/* The bytes each chain in flight offered the back-end, by head (the
	 * bound of its used.len, vm_used_len_ok); 0 where a build without it
	 * translated the chain (no chain offers 0: a descriptor has 1 or more). */
	__u32 offered[VM_MAX_RING];
};
VM_STATIC_ASSERT(sizeof(struct vm_queue) == 128 + 20 * VM_MAX_RING, "vm_queue ABI");
/* The layout without offered[], a prefix of this one: the loader copies a
 * pinned vm_queues of that layout into this build's. */
#define VM_QUEUE_BYTES_NO_OFFERED	(128 + 16 * VM_MAX_RING)

/*
 * The modern, little-endian rings the backend consumes.  VM_MAP_SHADOW holds
 * one map per device slot, VM_DEV_QUEUES of these each (queue slot q is entry
 * q % VM_DEV_QUEUES of device q / VM_DEV_QUEUES's map); userspace maps them
 * side by side, so it indexes them by global queue slot.  Page-aligned parts,
 * so a device's map is handed to its back-end as one memory region.
 */
#define VM_SHADOW_AVAIL_OFF	16384
#define VM_SHADOW_USED_OFF	20480
#define VM_SHADOW_HDR_OFF	32768
#define VM_SHADOW_HDR_SLOT	16
#define VM_SHADOW_BYTES		49152
#define VM_SHADOW_DEV_BYTES	(VM_DEV_QUEUES * VM_SHADOW_BYTES)	/* one device's map */
/* VM_NET_RX_INPLACE keeps the backend's header of the entry being returned
 * in that head's (otherwise unused) hdr slot, tagged with the used slot, so
 * that a daemon killed half-way through converting it starts again from the
 * original and never converts it twice. */
#define VM_STASH_TAG_OFF	12
#define VM_STASH_TAG(slot)	(0x10000u | (__u16)(slot))

struct vm_shadow_queue {
	struct vm_desc desc[VM_MAX_RING];
	struct {
		__u16 flags;
		__u16 idx;
		__u16 ring[VM_MAX_RING + 1];	/* ring[size] is used_event */
		__u8 _pad[VM_SHADOW_USED_OFF - VM_SHADOW_AVAIL_OFF - 4 - 2 * (VM_MAX_RING + 1)];
	} avail;
	struct {
		__u16 flags;
		__u16 idx;
		struct vm_used_elem ring[VM_MAX_RING];
		__u16 avail_event;
		__u8 _pad[VM_SHADOW_HDR_OFF - VM_SHADOW_USED_OFF - 6 - 8 * VM_MAX_RING];
	} used;
	__u8 hdr[VM_MAX_RING][VM_SHADOW_HDR_SLOT];	/* mediator-owned headers */
};
VM_STATIC_ASSERT(sizeof(struct vm_shadow_queue) == VM_SHADOW_BYTES, "shadow ABI");
VM_STATIC_ASSERT(__builtin_offsetof(struct vm_shadow_queue, avail) == VM_SHADOW_AVAIL_OFF, "shadow avail");
VM_STATIC_ASSERT(__builtin_offsetof(struct vm_shadow_queue, used) == VM_SHADOW_USED_OFF, "shadow used");
VM_STATIC_ASSERT(__builtin_offsetof(struct vm_shadow_queue, hdr) == VM_SHADOW_HDR_OFF, "shadow hdr");

/* VM_MAP_STATS value (per CPU, summed by readers), indexed by queue slot. */
struct vm_qstats {
	__u64 kicks;		/* notifications that reached the queue */
	__u64 kicks_empty;	/* ... with nothing new in the avail ring */
	__u64 chains;		/* chains published to the shadow ring */
	__u64 descs;		/* descriptors published */
	__u64 deferred;		/* kicks handed to userspace */
	__u64 read_faults;	/* guest ring reads that faulted */
	__u64 contended;	/* kicks that found the queue busy */
	__u64 foreign;		/* kicks from a process other than the VMM */
	__u64 used;		/* used entries returned to the guest */
	__u64 errors[VM_VERDICT_NR];
	__u64 batch[VM_BATCH_BUCKETS];
};
VM_STATIC_ASSERT(sizeof(struct vm_qstats) == 8 * (9 + VM_VERDICT_NR + VM_BATCH_BUCKETS), "vm_qstats ABI");

/* VM_MAP_KICKFDS: eventfd identity (the eventfd-id of /proc/PID/fdinfo) ->
 * queue slot. */
struct vm_kickfd_val {
	__u32 queue;
	__u32 _pad;
};

/* VM_MAP_IOKICKS: KVM notify address -> device; the written value selects
 * the queue (legacy virtio-pci QUEUE_NOTIFY, virtio-mmio QueueNotify). */
enum vm_io_kind {
	VM_IO_PIO = 1,
	VM_IO_MMIO = 2,
	VM_IO_FAST_MMIO = 3,
};

struct vm_iokick_key {
	__u32 kind;		/* enum vm_io_kind */
	__u32 _pad;
	__u64 addr;		/* port or guest-physical address */
};

struct vm_iokick_val {
	__u32 dev;
	__u32 fixed_queue;	/* fast MMIO carries no value: queue slot + 1, else 0 */
};

/* BPF_MAP_TYPE_RINGBUF record: a kick BPF handed to the daemon. */
struct vm_defer_event {
	__u32 queue;
	__u32 verdict;		/* why: VM_DEFER (fault) */
};

/* Context of the BPF_PROG_TYPE_SYSCALL entry used by BPF_PROG_TEST_RUN. */
struct vm_test_args {
	__u32 queue;
	__s32 verdict;
	__u32 chains;
	__u32 descs;
};

#endif /* VRINGMED_ABI_H */
