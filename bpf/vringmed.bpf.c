// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmed's kernel half: thin notification-source programs that all feed
 * the one translation core (include/vringmed/xlate.h).
 *
 *   vrm_tp_write        syscalls:sys_enter_write on a registered kick eventfd
 *                       (QEMU under TCG, userspace drivers, the tests);
 *                       vrm_tp_write_pre62 the same on kernels before 6.2
 *   vrm_kvm_pio         kvm:kvm_pio       legacy virtio-pci QUEUE_NOTIFY
 *   vrm_kvm_mmio        kvm:kvm_mmio      virtio-mmio QueueNotify
 *   vrm_kvm_fast_mmio   kvm:kvm_fast_mmio ioeventfd without data
 *   vrm_fentry_signal   fentry/eventfd_signal_mask, where trampolines work
 *   vrm_test_kick       BPF_PROG_TYPE_SYSCALL: the same path under
 *                       BPF_PROG_TEST_RUN, for deterministic tests and benches
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define VRM_FAULT_VERDICT	VRM_DEFER
#define vrm_loop(nr, cb, ctx)	bpf_loop((nr), (cb), (ctx), 0)

struct vrm_device;
struct vrm_queue;
struct vrm_shadow_queue;
struct vrm_scratch;
struct vrm_qstats;
__u32 vrm_translate_global(struct vrm_device *dev, struct vrm_queue *q, struct vrm_shadow_queue *sh,
			  struct vrm_scratch *scr, struct vrm_qstats *st);
/* A global subprogram returns one scalar: the verdict, chains above it. */
#define VRM_TRANSLATE_ROUND(dev, q, sh, scr, st, chains) ({			\
	__u32 __r = vrm_translate_global(dev, q, sh, scr, st);		\
	*(chains) = __r >> 16;						\
	__r & 0xffff; })
struct vrm_fast;
__u32 vrm_fast_chain_le_global(const struct vrm_device *dev, struct vrm_queue *q,
			      struct vrm_shadow_queue *sh, const struct vrm_scratch *scr,
			      struct vrm_fast *f);
__u32 vrm_fast_chain_be_global(const struct vrm_device *dev, struct vrm_queue *q,
			      struct vrm_shadow_queue *sh, const struct vrm_scratch *scr,
			      struct vrm_fast *f);
__u32 vrm_fast_table_global(const struct vrm_device *dev, struct vrm_queue *q,
			   struct vrm_shadow_queue *sh, struct vrm_scratch *scr, struct vrm_fast *f);
#define VRM_FAST_CHAIN_LE vrm_fast_chain_le_global
#define VRM_FAST_CHAIN_BE vrm_fast_chain_be_global
#define VRM_FAST_TABLE vrm_fast_table_global
#ifdef VRM_KICK_STAMPS
#include <vringmed/abi.h>
/* The kick's phases, for `make perf-kick-phases` only (a build of its own,
 * tools/perf_compare.c -k): each VMM write() through vrm_tp_write leaves a
 * record of clock stamps at the points VRM_STAMP marks, here and in the
 * core.  The product object has none of it. */
__u64 vrm_stamp_now[VRM_STAMPS];
__u64 vrm_stamp_rec[VRM_STAMP_RECS][VRM_STAMPS];
__u32 vrm_stamp_n;
#define VRM_STAMP(i)	(vrm_stamp_now[(i)] = bpf_ktime_get_ns())
#endif
#include <vringmed/xlate.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, VRM_MAX_DEVICES);
	__type(key, __u32);
	__type(value, struct vrm_device);
} vrm_devices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, VRM_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct vrm_queue);
} vrm_queues SEC(".maps");

/* The shadow rings: one mmapable map per device, so the back-end of one
 * device is handed that device's rings and nobody else's.  The loader creates
 * the inner maps (vrm_shadow_dNN) and fills every slot; a device's queue slots
 * [slot * VRM_DEV_QUEUES, +VRM_DEV_QUEUES) are its entries 0..VRM_DEV_QUEUES-1. */
struct vrm_shadow_dev {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, VRM_DEV_QUEUES);
	__type(key, __u32);
	__type(value, struct vrm_shadow_queue);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, VRM_MAX_DEVICES);
	__type(key, __u32);
	__array(values, struct vrm_shadow_dev);
} vrm_shadows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VRM_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct vrm_scratch);
} vrm_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, VRM_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct vrm_qstats);
} vrm_qstats SEC(".maps");

/* The same counters for the work the daemon does (deferred kicks, the used
 * path), written only by the daemon through its mapping; readers add them
 * to vrm_qstats.  Here so they are pinned and adopted with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, VRM_MAX_QUEUES);
	__type(key, __u32);
	__type(value, struct vrm_qstats);
} vrm_ustats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VRM_MAX_QUEUES);
	__type(key, __u32);		/* eventfd-id */
	__type(value, struct vrm_kickfd_val);
} vrm_kickfds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VRM_MAX_VMMS);
	__type(key, __u32);		/* tgid */
	__type(value, __u32);		/* devices it runs */
} vrm_vmms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct vrm_fastsets);
} vrm_fastsets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VRM_MAX_QUEUES);
	__type(key, struct vrm_iokick_key);
	__type(value, struct vrm_iokick_val);
} vrm_iokicks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096 * 4);
} vrm_deferred SEC(".maps");

static long vrm_env_read(const struct vrm_device *dev, void *dst, __u32 len, __u64 vmm_va)
{
	(void)dev;	/* the caller checked that current is the device's VMM */
	if (len > sizeof(((struct vrm_scratch *)0)->win))
		return -7;	/* -E2BIG: never, callers bound len */
	return bpf_probe_read_user(dst, len, (const void *)(unsigned long)vmm_va);
}

static void vrm_env_publish_idx(struct vrm_shadow_queue *sh, __u16 idx)
{
	/* avail.flags and avail.idx form one 32-bit word the mediator owns.
	 * An xchg of that word is a full barrier on every architecture, so
	 * the descriptors and ring slots written before it are visible to the
	 * backend first (x86 would need only the compiler barrier; arm64
	 * needs the atomic).  The flags stay as they are: the daemon turns
	 * the back-end's calls off while it polls, under the busy lock this
	 * kick holds (vrm_backend_calls). */
	union {
		__u16 half[2];	/* flags, idx: the memory order of the word */
		__u32 word;
	} v;

	v.half[0] = VRM_READ_ONCE(sh->avail.flags);
	v.half[1] = vrm_swab16_if(VRM_ORDER_LE, idx);
	__sync_lock_test_and_set((__u32 *)&sh->avail, v.word);
}

/* Verified once per program with nothing known of its arguments but their
 * types (a global function), whatever the caller's state: the verifier's
 * cost of the core does not grow with the number of places it is used. */
__attribute__((noinline)) __u32 vrm_translate_global(struct vrm_device *dev, struct vrm_queue *q,
						     struct vrm_shadow_queue *sh,
						     struct vrm_scratch *scr, struct vrm_qstats *st)
{
	__u32 chains = 0, verdict;

	if (!dev || !q || !sh || !scr || !st)
		return VRM_BAD_CONFIG;
	verdict = vrm_translate(dev, q, sh, scr, st, &chains);
	return verdict | chains << 16;
}

/* The fast paths of chains (vrm_fast_chain), one function per byte order,
 * and of indirect tables (vrm_fast_table), verified once each: as static
 * functions they would be verified again for every state the kick brings
 * to the call. */
#define VRM_FAST_CHAIN_GLOBAL(name, order)					\
__attribute__((noinline)) __u32 name(const struct vrm_device *dev, struct vrm_queue *q,	\
				     struct vrm_shadow_queue *sh,			\
				     const struct vrm_scratch *scr, struct vrm_fast *f)	\
{										\
	if (!dev || !q || !sh || !scr || !f)					\
		return 0;							\
	return vrm_fast_chain(dev, q, sh, scr, f, order);			\
}
VRM_FAST_CHAIN_GLOBAL(vrm_fast_chain_le_global, VRM_ORDER_LE)
VRM_FAST_CHAIN_GLOBAL(vrm_fast_chain_be_global, VRM_ORDER_BE)

__attribute__((noinline)) __u32 vrm_fast_table_global(const struct vrm_device *dev,
						      struct vrm_queue *q,
						      struct vrm_shadow_queue *sh,
						      struct vrm_scratch *scr, struct vrm_fast *f)
{
	if (!dev || !q || !sh || !scr || !f)
		return 0;
	return vrm_fast_table(dev, q, sh, scr, f);
}

/* A kick of queue slot qid by process tgid (the caller has it already: a
 * helper call less). */
static __always_inline __u32 vrm_handle_kick(__u32 qid, __u32 tgid, __u32 *chains)
{
	struct vrm_device *dev;
	struct vrm_queue *q;
	struct vrm_shadow_queue *sh;
	struct vrm_scratch *scr;
	struct vrm_qstats *st;
	__u32 dev_slot, verdict;

	void *shadows;
	__u32 dev_q;

	*chains = 0;
	q = bpf_map_lookup_elem(&vrm_queues, &qid);
	scr = bpf_map_lookup_elem(&vrm_scratch, &qid);
	st = bpf_map_lookup_elem(&vrm_qstats, &qid);
	if (!q || !scr || !st)
		return VRM_BAD_CONFIG;
	dev_slot = q->dev;
	/* A queue slot belongs to the device whose range it is in: the
	 * shadow ring comes from that device's map and no other. */
	if (qid / VRM_DEV_QUEUES != dev_slot)
		return VRM_BAD_CONFIG;
	dev_q = qid % VRM_DEV_QUEUES;
	dev = bpf_map_lookup_elem(&vrm_devices, &dev_slot);
	shadows = bpf_map_lookup_elem(&vrm_shadows, &dev_slot);
	if (!dev || !shadows || !(dev->flags & VRM_DF_ACTIVE))
		return VRM_BAD_CONFIG;
	sh = bpf_map_lookup_elem(shadows, &dev_q);
	if (!sh)
		return VRM_BAD_CONFIG;
	/* Guest ring addresses mean something only in the VMM's address
	 * space: read nothing on behalf of anyone else. */
	if (dev->tgid != tgid) {
		st->foreign++;
		return VRM_OK;
	}
	VRM_STAMP(VRM_ST_LOOKUPS);
	verdict = vrm_kick(dev, q, sh, scr, st, chains);
	if (verdict == VRM_DEFER && vrm_queue_defer(q)) {
		struct vrm_defer_event ev = { .queue = qid, .verdict = verdict };

		bpf_ringbuf_output(&vrm_deferred, &ev, sizeof(ev), 0);
	}
	return verdict;
}

#include "eventfd_id.bpf.h"

/* The fast sets (abi.h): one array element, found by the verifier's
 * inlined lookup. */
static __always_inline struct vrm_fastsets *vrm_fast(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vrm_fastsets, &zero);
}

/* Is tgid a VMM of ours?  Its slot of the fast set first, one load; the
 * hash map only where two VMMs share the slot. */
static __always_inline bool vrm_is_vmm(const struct vrm_fastsets *fs, __u32 tgid)
{
	__u32 s;

	if (fs) {
		s = VRM_READ_ONCE(fs->vmm[tgid & (VRM_VMM_SLOTS - 1)]);
		if (s == tgid)
			return true;
		if (!s)
			return false;
	}
	return bpf_map_lookup_elem(&vrm_vmms, &tgid) != NULL;
}

/* The kick of eventfd `id`: its queue from its fast slot, else from the
 * hash map. */
static __always_inline void vrm_kick_eventfd_id(const struct vrm_fastsets *fs, long id,
						__u32 tgid)
{
	struct vrm_kickfd_val *kv;
	__u32 key = (__u32)id, chains;
	__u64 k;

	if (id < 0)
		return;
	if (fs) {
		k = VRM_READ_ONCE(fs->kick[key & (VRM_KICK_SLOTS - 1)]);
		if ((__u32)k == key + 1) {
			vrm_handle_kick((__u32)(k >> 32), tgid, &chains);
			return;
		}
	}
	kv = bpf_map_lookup_elem(&vrm_kickfds, &key);
	if (kv)
		vrm_handle_kick(kv->queue, tgid, &chains);
}

/* A write() on the host: a kick when the writer is a VMM of ours and the fd
 * one of its queues' kick eventfds.  `kfunc`: walk from the fd with
 * bpf_rdonly_cast (6.2+), else with helper reads; a constant in each
 * program. */
static __always_inline int vrm_write_hook(struct trace_event_raw_sys_enter *ctx, const bool kfunc)
{
	struct vrm_fastsets *fs = vrm_fast();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	/* Every write() on the host passes here: one load is all an
	 * unrelated process pays. */
#ifdef VRM_KICK_STAMPS
	__u64 t0 = bpf_ktime_get_ns();
	__u32 n;
#endif
	long id;

	if (!vrm_is_vmm(fs, tgid))
		return 0;
#ifdef VRM_KICK_STAMPS
	for (int i = 0; i < VRM_STAMPS; i++)
		vrm_stamp_now[i] = 0;
	vrm_stamp_now[VRM_ST_ENTRY] = t0;
	VRM_STAMP(VRM_ST_VMM);
#endif
	id = kfunc ? vrm_eventfd_id(ctx->args[0]) : vrm_eventfd_id_read(ctx->args[0]);
	VRM_STAMP(VRM_ST_WALK);
	vrm_kick_eventfd_id(fs, id, tgid);
#ifdef VRM_KICK_STAMPS
	VRM_STAMP(VRM_ST_END);
	VRM_STAMP(VRM_ST_CLOCK);	/* what one stamp costs */
	n = __sync_fetch_and_add(&vrm_stamp_n, 1) % VRM_STAMP_RECS;
	for (int i = 0; i < VRM_STAMPS; i++)
		vrm_stamp_rec[n][i] = vrm_stamp_now[i];
#endif
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int vrm_tp_write(struct trace_event_raw_sys_enter *ctx)
{
	return vrm_write_hook(ctx, true);
}

/* The same for a kernel before 6.2 (no bpf_rdonly_cast): the loader loads
 * one of the two. */
SEC("tracepoint/syscalls/sys_enter_write")
int vrm_tp_write_pre62(struct trace_event_raw_sys_enter *ctx)
{
	return vrm_write_hook(ctx, false);
}

/* KVM tracepoint records, as /sys/kernel/tracing/events/kvm/<name>/format
 * lays them out; declared here so the object does not depend on KVM being
 * built into the kernel whose BTF made vmlinux.h. */
struct vrm_tp_kvm_pio {
	__u64 common;
	__u32 rw, port, size, count, val;
};

struct vrm_tp_kvm_mmio {
	__u64 common;
	__u32 type, len;
	__u64 gpa, val;
};

struct vrm_tp_kvm_fast_mmio {
	__u64 common;
	__u64 gpa;
};

#define VRM_KVM_PIO_OUT		1
#define VRM_KVM_MMIO_WRITE	2

/* The queue slot a port or MMIO write kicks, plus one; 0 for none.  Not
 * inlined: the key's stack is gone before the kick's deepest call chain
 * starts (kernels before 6.2 hold it to 512 bytes at 32 a frame). */
static __noinline __u32 vrm_io_queue(__u32 kind, __u64 addr, __u64 val)
{
	struct vrm_iokick_key key = { .kind = kind, .addr = addr };
	struct vrm_iokick_val *iv = bpf_map_lookup_elem(&vrm_iokicks, &key);
	struct vrm_device *dev;
	__u32 slot;

	if (!iv)
		return 0;
	if (iv->fixed_queue)
		return iv->fixed_queue;
	slot = iv->dev;
	dev = bpf_map_lookup_elem(&vrm_devices, &slot);
	if (!dev || val >= dev->nqueues)
		return 0;
	return dev->first_queue + (__u32)val + 1;
}

static __always_inline void vrm_kick_io(__u32 kind, __u64 addr, __u64 val)
{
	__u32 q1 = vrm_io_queue(kind, addr, val), chains;

	if (q1)
		vrm_handle_kick(q1 - 1, bpf_get_current_pid_tgid() >> 32, &chains);
}

SEC("tracepoint/kvm/kvm_pio")
int vrm_kvm_pio(struct vrm_tp_kvm_pio *ctx)
{
	if (ctx->rw == VRM_KVM_PIO_OUT)
		vrm_kick_io(VRM_IO_PIO, ctx->port, ctx->val);
	return 0;
}

SEC("tracepoint/kvm/kvm_mmio")
int vrm_kvm_mmio(struct vrm_tp_kvm_mmio *ctx)
{
	if (ctx->type == VRM_KVM_MMIO_WRITE)
		vrm_kick_io(VRM_IO_MMIO, ctx->gpa, ctx->val);
	return 0;
}

/* Fires after KVM signalled the ioeventfd, so a back-end on another CPU may
 * look before the shadow ring is filled: a polling one (DPDK) takes the
 * chains on its next pass, one that waits for kicks only at the guest's next
 * kick.  Legacy guests, vringmed's reason to be, notify through PIO or MMIO,
 * which fire before the signal; fast MMIO is modern virtio-pci's. */
SEC("tracepoint/kvm/kvm_fast_mmio")
int vrm_kvm_fast_mmio(struct vrm_tp_kvm_fast_mmio *ctx)
{
	vrm_kick_io(VRM_IO_FAST_MMIO, ctx->gpa, 0);
	return 0;
}

SEC("fentry/eventfd_signal_mask")
int BPF_PROG(vrm_fentry_signal, struct eventfd_ctx *efd, __u32 mask)
{
	struct vrm_fastsets *fs = vrm_fast();
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (!vrm_is_vmm(fs, tgid))
		return 0;
	vrm_kick_eventfd_id(fs, BPF_CORE_READ(efd, id), tgid);
	return 0;
}

SEC("syscall")
int vrm_test_kick(struct vrm_test_args *args)
{
	__u32 chains;

	args->verdict = vrm_handle_kick(args->queue, bpf_get_current_pid_tgid() >> 32, &chains);
	args->chains = chains;
	return 0;
}
