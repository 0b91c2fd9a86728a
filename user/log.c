// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "log.h"

static enum vrm_log_level vrm_level = VRM_LOG_INFO;
static int vrm_libbpf_quiet;
static int vrm_libbpf_debug;	/* libbpf's own debug chatter: only when asked */

void vrm_log_set_level(enum vrm_log_level level)
{
	vrm_level = level;
}

/*
 * Whether stderr is the journal (systemd sets JOURNAL_STREAM to its
 * "device:inode"): each line then starts with its priority, "<4>" for a
 * warning, so that `journalctl -p warning` finds the warnings.
 */
bool vrm_log_to_journal(void)
{
	static int journal = -1;
	unsigned long long dev, ino;
	const char *js;
	struct stat st;

	if (journal >= 0)
		return journal;
	js = getenv("JOURNAL_STREAM");
	journal = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && !fstat(2, &st) &&
		  st.st_dev == dev && st.st_ino == ino;
	return journal;
}

static void vrm_vlog(enum vrm_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "warn", "info", "debug" };
	static const char *const prio[] = { "<4>", "<6>", "<7>" };

	if (level > vrm_level)
		return;
	/* Devices log from threads of their own: a line is never split. */
	flockfile(stderr);
	fprintf(stderr, "%svringmed %s: ", vrm_log_to_journal() ? prio[level] : "", tag[level]);
	vfprintf(stderr, fmt, ap);
	funlockfile(stderr);
}

void vrm_log(enum vrm_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vrm_vlog(level, fmt, ap);
	va_end(ap);
}

static int vrm_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf's warnings are our info, its info our debug. */
	enum vrm_log_level l = level == LIBBPF_WARN ? VRM_LOG_INFO : VRM_LOG_DEBUG;

	if (vrm_libbpf_quiet || l > vrm_level || (level == LIBBPF_DEBUG && !vrm_libbpf_debug))
		return 0;
	vrm_vlog(l, fmt, ap);
	return 0;
}

void vrm_log_init_libbpf(void)
{
	libbpf_set_print(vrm_libbpf_print);
}

void vrm_log_libbpf_quiet(int quiet)
{
	vrm_libbpf_quiet = quiet;
}

void vrm_log_libbpf_debug(int on)
{
	vrm_libbpf_debug = on;
}
