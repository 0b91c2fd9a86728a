/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef VRINGMED_LOG_H
#define VRINGMED_LOG_H

#include <stdbool.h>

enum vrm_log_level { VRM_LOG_QUIET = -1, VRM_LOG_WARN, VRM_LOG_INFO, VRM_LOG_DEBUG };

/* Messages above `level` are dropped; libbpf's own go one level lower. */
void vrm_log_set_level(enum vrm_log_level level);
void vrm_log_init_libbpf(void);
/* Silences libbpf while probing features whose failure is expected. */
void vrm_log_libbpf_quiet(int quiet);
/* Passes libbpf's debug messages through too (vringmedd -vv). */
void vrm_log_libbpf_debug(int on);
/* Whether stderr is the journal (JOURNAL_STREAM): lines carry "<N>". */
bool vrm_log_to_journal(void);
void vrm_log(enum vrm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define pr_warn(...)	vrm_log(VRM_LOG_WARN, __VA_ARGS__)
#define pr_info(...)	vrm_log(VRM_LOG_INFO, __VA_ARGS__)
#define pr_debug(...)	vrm_log(VRM_LOG_DEBUG, __VA_ARGS__)

#endif
