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

extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* The eventfd-id of the current task's fd, or -1 when fd is not an eventfd.
 * The task is a BTF pointer, so the walk is plain loads (the JIT guards
 * them), not one helper call per hop; only the fd array slot, indexed by a
 * number the task chose, goes through bpf_probe_read_kernel. */
static __always_inline long vrm_eventfd_id(unsigned long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	struct file *raw = NULL, *file;
	struct eventfd_ctx *ctx;

	if (!fdt || fd >= fdt->max_fds)
		return -1;
	if (bpf_probe_read_kernel(&raw, sizeof(raw), &fdt->fd[fd]) || !raw)
		return -1;
	file = bpf_rdonly_cast(raw, bpf_core_type_id_kernel(struct file));
	if (!eventfd_write_addr || (__u64)(unsigned long)file->f_op->write != eventfd_write_addr)
		return -1;
	ctx = bpf_rdonly_cast(file->private_data, bpf_core_type_id_kernel(struct eventfd_ctx));
	return ctx ? ctx->id : -1;
}

#endif
