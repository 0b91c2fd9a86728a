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
struct vm_scratch;

struct vm_bpf {
	struct vringmed_bpf *skel;
	struct vm_device *devices;	/* mmapped VM_MAP_DEVICES */
	struct vm_queue *queues;	/* mmapped VM_MAP_QUEUES */
	/* Every device's shadow map, mapped side by side: indexed by global
	 * queue slot.  shadow_fd[slot] is device slot's map. */
	struct vm_shadow_queue *shadow;
	int shadow_fd[VM_MAX_DEVICES];
	struct vm_qstats *ustats;	/* mmapped VM_MAP_USTATS: the daemon's work */
	bool have_fentry;
	bool have_kvm;
	bool attached;
	bool adopted;		/* maps or links were already pinned */
	char pin_root[128];	/* empty: nothing pinned */
	struct bpf_link *links[8];
	char link_prog[8][32];	/* the program each link runs */
	int nlinks;
	bool links_only;	/* adopted every link; no program was loaded */
	bool stale_links;	/* pinned links of another build: replaced */
};

struct vm_bpf_opts {
	bool attach;		/* attach the notification sources */
	/* Pin maps and links under this bpffs directory, adopting whatever a
	 * previous (crashed) owner left there: kicks keep being translated
	 * while no daemon runs, and counters carry on. */
	const char *pin_root;
};

int vm_bpf_load(struct vm_bpf *b, const struct vm_bpf_opts *opts);
void vm_bpf_close(struct vm_bpf *b);
/* Removes every pin under b->pin_root and the directory (clean shutdown). */
void vm_bpf_unpin(struct vm_bpf *b);

/* Runs the kick path of `queue` under BPF_PROG_TEST_RUN, in this process's
 * context (so the device's tgid must be this process). */
int vm_bpf_test_kick(struct vm_bpf *b, __u32 queue, struct vm_test_args *out);

/* The eventfd-id of fd `fd` of process `pid` (0: this process), or -errno. */
long vm_eventfd_id(pid_t pid, int fd);

int vm_bpf_add_kickfd(struct vm_bpf *b, __u32 eventfd_id, __u32 queue);
int vm_bpf_del_kickfd(struct vm_bpf *b, __u32 eventfd_id);
/* Removes every kick fd that leads to queues [first_queue, +nqueues);
 * returns how many, or -errno. */
int vm_bpf_del_kickfds_of(struct vm_bpf *b, __u32 first_queue, __u32 nqueues);
int vm_bpf_add_vmm(struct vm_bpf *b, __u32 tgid);
int vm_bpf_del_vmm(struct vm_bpf *b, __u32 tgid);

/* The fd of device slot `slot`'s shadow map, for handing to its back-end as
 * a memory region (VM_SHADOW_DEV_BYTES from offset 0), or -EINVAL. */
int vm_bpf_shadow_fd(const struct vm_bpf *b, __u32 slot);

/* Counters of `queue`: BPF's per-CPU ones summed, plus the daemon's. */
int vm_bpf_read_stats(struct vm_bpf *b, __u32 queue, struct vm_qstats *sum);
int vm_bpf_clear_stats(struct vm_bpf *b, __u32 queue);

/* BPF run-time stats of the kick program (needs kernel.bpf_stats_enabled). */
int vm_bpf_prog_runtime(int prog_fd, __u64 *run_cnt, __u64 *run_time_ns);

#endif
