/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small test runner in the shape of the kernel's selftests/bpf: tests are
 * found by name, each has named subtests, assertions print what was expected
 * and what was got, one summary line at the end.
 *
 *   VRM_TEST(name) { if (vrm_subtest("case")) { VRM_EQ(got, want); } }
 *
 * Run: ./test_x [-v] [name-substring...]
 */
#ifndef VRINGMED_TEST_H
#define VRINGMED_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <inttypes.h>

typedef void (*vrm_test_fn)(void);
void vrm_test_register(const char *name, vrm_test_fn fn);

#define VRM_TEST(name)							\
	static void vrm_test_##name(void);				\
	__attribute__((constructor)) static void vrm_reg_##name(void)	\
	{ vrm_test_register(#name, vrm_test_##name); }			\
	static void vrm_test_##name(void)

/* Starts subtest `name` of the current test (closing the previous one);
 * false when filtered out. */
bool vrm_subtest(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the current subtest skipped, with the reason printed. */
void vrm_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vrm_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool vrm_test_verbose(void);
/* Whether a check of the current subtest has failed. */
bool vrm_subtest_failed(void);
/* Name printed before the summary, e.g. the host's architecture. */
extern const char *vrm_test_suite;

#define VRM_CHECK(cond, fmt, ...)					\
	({ bool vrm_ok_ = (cond);					\
	   if (!vrm_ok_) vrm_fail_at(__FILE__, __LINE__, fmt, ##__VA_ARGS__); \
	   vrm_ok_; })

#define VRM_EQ(got, want)						\
	({ uint64_t vrm_g_ = (uint64_t)(got), vrm_w_ = (uint64_t)(want);	\
	   VRM_CHECK(vrm_g_ == vrm_w_, "%s: expected %" PRIu64 " (0x%" PRIx64 \
		    "), got %" PRIu64 " (0x%" PRIx64 ")", #got,		\
		    vrm_w_, vrm_w_, vrm_g_, vrm_g_); })

#define VRM_TRUE(cond) VRM_CHECK((cond), "expected %s", #cond)

#define VRM_STREQ(got, want)						\
	({ const char *vrm_g_ = (got), *vrm_w_ = (want);			\
	   VRM_CHECK(vrm_g_ && !strcmp(vrm_g_, vrm_w_),			\
		    "%s: expected \"%s\", got \"%s\"", #got, vrm_w_,	\
		    vrm_g_ ? vrm_g_ : "(null)"); })

#endif
