/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How a write() hook tells which eventfd the writing task wrote to: the
 * eventfd-id of one of its fds, the number /proc/PID/fdinfo shows, so the
 * VMM's fd number and the daemon's need not agree.  Included by the
 * product object and by bench-kick's floor programs, which measure what
 * this walk costs on its own.
 */
#ifndef VRINGMED_EVENTFD_ID_BPF_H
#define VRINGMED_EVENTFD_ID_BPF_H

/* Address of eventfd's f_op->write, from /proc/kallsyms: how an open file is
 * recognised as an eventfd.  Set by the loader before load. */
const volatile __u64 eventfd_write_addr = 0;

/* Weak: a kernel without it (before 6.2) still loads the object, with the
 * walk below that does without (vrm_eventfd_id_read); the loader leaves the
 * program that calls it unloaded there. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* The address of the current task's fd array slot for fd, or 0 when fd is
 * past its table. */
static __always_inline unsigned long vrm_fd_slot(unsigned long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	unsigned long max;

	if (!fdt)
		return 0;
	max = fdt->max_fds;
	if (fd >= max)
		return 0;
	/* As array_index_nospec: past a mispredicted bound, slot 0. */
	barrier_var(fd);
	fd &= (unsigned long)((long)(fd - max) >> 63);
	return (unsigned long)fdt->fd + fd * sizeof(struct file *);
}

/* The eventfd-id of the current task's fd, or -1 when fd is not an eventfd.
 * The task is a BTF pointer, so the walk is plain loads the JIT guards (a
 * bad address reads as 0), not one helper call per hop: a helper call
 * costs 100 ns or more where every return goes through a mitigation thunk.
 * The fd array slot, at an index the task chose (checked against max_fds),
 * is read the same way, through a type whose first member is a file
 * pointer (kiocb's ki_filp). */
static __always_inline long vrm_eventfd_id(unsigned long fd)
{
	unsigned long at = vrm_fd_slot(fd);
	struct kiocb *slot;
	struct file *file;
	struct eventfd_ctx *ctx;

	if (!at)
		return -1;
	slot = bpf_rdonly_cast((void *)at, bpf_core_type_id_kernel(struct kiocb));
	file = bpf_rdonly_cast(slot->ki_filp, bpf_core_type_id_kernel(struct file));
	if (!file)
		return -1;
	if (!eventfd_write_addr || (__u64)(unsigned long)file->f_op->write != eventfd_write_addr)
		return -1;
	ctx = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct eventfd_ctx));
	return ctx ? ctx->id : -1;
}

/* The same walk for a kernel without bpf_rdonly_cast: from the fd array
 * on, one bpf_probe_read_kernel per hop (the fd's slot, the file's f_op,
 * its write, its private_data, the eventfd's id).  Not inlined: its stack
 * is gone before the kick's deepest call chain starts, which kernels
 * before 6.2 round to 32 bytes a frame against the same 512. */
static __noinline __attribute__((unused)) long vrm_eventfd_id_read(unsigned long fd)
{
	unsigned long at = vrm_fd_slot(fd);
	struct eventfd_ctx *ctx;
	struct file *file = NULL;

	if (!at || bpf_probe_read_kernel(&file, sizeof(file), (void *)at) || !file)
		return -1;
	if (!eventfd_write_addr ||
	    (__u64)(unsigned long)BPF_CORE_READ(file, f_op, write) != eventfd_write_addr)
		return -1;
	ctx = BPF_CORE_READ(file, private_data);
	return ctx ? BPF_CORE_READ(ctx, id) : -1;
}

#endif
