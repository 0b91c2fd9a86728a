// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <bpf/libbpf.h>

#include "log.h"

static enum vm_log_level vm_level = VM_LOG_INFO;
static int vm_libbpf_quiet;
static int vm_libbpf_debug;	/* libbpf's own debug chatter: only when asked */

void vm_log_set_level(enum vm_log_level level)
{
	vm_level = level;
}

static void vm_vlog(enum vm_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "warn", "info", "debug" };

	if (level > vm_level)
		return;
	/* Devices log from threads of their own: a line is never split. */
	flockfile(stderr);
	fprintf(stderr, "vringmed %s: ", tag[level]);
	vfprintf(stderr, fmt, ap);
	funlockfile(stderr);
}

void vm_log(enum vm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_vlog(level, fmt, ap);
	va_end(ap);
}

static int vm_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's warnings are our info, its info our debug. */
	enum vm_log_level l = level == LIBBPF_WARN ? VM_LOG_INFO : VM_LOG_DEBUG;

	if (vm_libbpf_quiet || l > vm_level || (level == LIBBPF_DEBUG && !vm_libbpf_debug))
		return 0;
	vm_vlog(l, fmt, ap);
	return 0;
}

void vm_log_init_libbpf(void)
{
	libbpf_set_print(vm_libbpf_print);
}

void vm_log_libbpf_quiet(int quiet)
{
	vm_libbpf_quiet = quiet;
}

void vm_log_libbpf_debug(int on)
{
	vm_libbpf_debug = on;
}
