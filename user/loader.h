/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Loads vringmed's BPF object: probes what the host allows, opens the
 * skeleton, sets rodata, loads, attaches the notification sources, and maps
 * the mmapable maps so userspace shares the core's state with BPF.
 */
#ifndef VRINGMED_LOADER_H
#define VRINGMED_LOADER_H

#include <stdbool.h>
#include <sys/types.h>
#include <vringmed/abi.h>

struct vringmed_bpf;
struct vrm_scratch;

struct vrm_bpf {
	struct vringmed_bpf *skel;
	struct vrm_device *devices;	/* mmapped VRM_MAP_DEVICES */
	struct vrm_queue *queues;	/* mmapped VRM_MAP_QUEUES */
	/* Every device's shadow map, mapped side by side: indexed by global
	 * queue slot.  shadow_fd[slot] is device slot's map. */
	struct vrm_shadow_queue *shadow;
	int shadow_fd[VRM_MAX_DEVICES];
	struct vrm_qstats *ustats;	/* mmapped VRM_MAP_USTATS: the daemon's work */
	struct vrm_fastsets *fast;	/* mmapped VRM_MAP_FASTSETS */
	bool have_fentry;
	bool have_kvm;
	bool have_rdonly_cast;	/* Linux 6.2+: vrm_tp_write, else vrm_tp_write_pre62 */
	__u32 shadow_key_tid, shadow_value_tid;	/* BTF types of vrm_shadows' inner maps */
	bool attached;
	bool adopted;		/* maps or links were already pinned */
	char pin_root[128];	/* empty: nothing pinned */
	struct bpf_link *links[8];
	char link_prog[8][32];	/* the program each link runs */
	int nlinks;
	bool links_only;	/* adopted every link; no program was loaded */
	bool stale_links;	/* pinned links of another build: replaced */
};

struct vrm_bpf_opts {
	bool attach;		/* attach the notification sources */
	/* Pin maps and links under this bpffs directory, adopting whatever a
	 * previous (crashed) owner left there: kicks keep being translated
	 * while no daemon runs, and counters carry on. */
	const char *pin_root;
};

int vrm_bpf_load(struct vrm_bpf *b, const struct vrm_bpf_opts *opts);
void vrm_bpf_close(struct vrm_bpf *b);
/* Removes every pin under b->pin_root and the directory (clean shutdown). */
void vrm_bpf_unpin(struct vrm_bpf *b);

/* Runs the kick path of `queue` under BPF_PROG_TEST_RUN, in this process's
 * context (so the device's tgid must be this process).  The daemon never
 * calls it; it stays in the library the daemon links because test_bpf and
 * bench_kick, which measure the product's own programs, link that same
 * library, and a call nobody makes costs the daemon nothing. */
int vrm_bpf_test_kick(struct vrm_bpf *b, __u32 queue, struct vrm_test_args *out);
/* The write() hook this kernel runs: vrm_tp_write, or before Linux 6.2
 * vrm_tp_write_pre62. */
struct bpf_program *vrm_bpf_write_prog(struct vrm_bpf *b);

/* The eventfd-id of fd `fd` of process `pid` (0: this process), or -errno. */
long vrm_eventfd_id(pid_t pid, int fd);

/* VRM_MAP_FASTSETS made again from the hash maps it fronts (a loader does
 * it before it attaches). */
void vrm_fast_rebuild(struct vrm_bpf *b);
int vrm_bpf_add_kickfd(struct vrm_bpf *b, __u32 eventfd_id, __u32 queue);
int vrm_bpf_del_kickfd(struct vrm_bpf *b, __u32 eventfd_id);
/* Removes every kick fd that leads to queues [first_queue, +nqueues);
 * returns how many, or -errno. */
int vrm_bpf_del_kickfds_of(struct vrm_bpf *b, __u32 first_queue, __u32 nqueues);
int vrm_bpf_add_vmm(struct vrm_bpf *b, __u32 tgid);
int vrm_bpf_del_vmm(struct vrm_bpf *b, __u32 tgid);

/* The fd of device slot `slot`'s shadow map, for handing to its back-end as
 * a memory region (VRM_SHADOW_DEV_BYTES from offset 0), or -EINVAL. */
int vrm_bpf_shadow_fd(const struct vrm_bpf *b, __u32 slot);

/* Counters of `queue`: BPF's per-CPU ones summed, plus the daemon's. */
int vrm_bpf_read_stats(struct vrm_bpf *b, __u32 queue, struct vrm_qstats *sum);
int vrm_bpf_clear_stats(struct vrm_bpf *b, __u32 queue);

/* BPF run-time stats of the kick program (needs kernel.bpf_stats_enabled). */
int vrm_bpf_prog_runtime(int prog_fd, __u64 *run_cnt, __u64 *run_time_ns);

#endif
