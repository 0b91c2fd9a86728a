/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef VRINGMED_LOG_H
#define VRINGMED_LOG_H

enum vm_log_level { VM_LOG_QUIET = -1, VM_LOG_WARN, VM_LOG_INFO, VM_LOG_DEBUG };

/* Messages above `level` are dropped; libbpf's own go one level lower. */
void vm_log_set_level(enum vm_log_level level);
void vm_log_init_libbpf(void);
/* Silences libbpf while probing features whose failure is expected. */
void vm_log_libbpf_quiet(int quiet);
/* Passes libbpf's debug messages through too (vringmedd -vv). */
void vm_log_libbpf_debug(int on);
void vm_log(enum vm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_warn(...)	vm_log(VM_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	vm_log(VM_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	vm_log(VM_LOG_DEBUG, __VA_ARGS__)

#endif
