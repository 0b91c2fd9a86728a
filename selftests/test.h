/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A small test runner in the shape of the kernel's selftests/bpf: tests are
 * found by name, each has named subtests, assertions print what was expected
 * and what was got, one summary line at the end.
 *
 *   VM_TEST(name) { if (vm_subtest("case")) { VM_EQ(got, want); } }
 *
 * Run: ./test_x [-v] [name-substring...]
 */
#ifndef VRINGMED_TEST_H
#define VRINGMED_TEST_H

#include <stdbool.h>
#include <stdio.h>
#include <inttypes.h>

typedef void (*vm_test_fn)(void);
void vm_test_register(const char *name, vm_test_fn fn);

#define VM_TEST(name)							\
	static void vm_test_##name(void);				\
	__attribute__((constructor)) static void vm_reg_##name(void)	\
	{ vm_test_register(#name, vm_test_##name); }			\
	static void vm_test_##name(void)

/* Starts subtest `name` of the current test (closing the previous one);
 * false when filtered out. */
bool vm_subtest(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Marks the current subtest skipped, with the reason printed. */
void vm_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vm_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool vm_test_verbose(void);
/* Name printed before the summary, e.g. the host's architecture. */
extern const char *vm_test_suite;

#define VM_CHECK(cond, fmt, ...)					\
	({ bool vm_ok_ = (cond);					\
	   if (!vm_ok_) vm_fail_at(__FILE__, __LINE__, fmt, ##__VA_ARGS__); \
	   vm_ok_; })

#define VM_EQ(got, want)						\
	({ uint64_t vm_g_ = (uint64_t)(got), vm_w_ = (uint64_t)(want);	\
	   VM_CHECK(vm_g_ == vm_w_, "%s: expected %" PRIu64 " (0x%" PRIx64 \
		    "), got %" PRIu64 " (0x%" PRIx64 ")", #got,		\
		    vm_w_, vm_w_, vm_g_, vm_g_); })

#define VM_TRUE(cond) VM_CHECK((cond), "expected %s", #cond)

#define VM_STREQ(got, want)						\
	({ const char *vm_g_ = (got), *vm_w_ = (want);			\
	   VM_CHECK(vm_g_ && !strcmp(vm_g_, vm_w_),			\
		    "%s: expected \"%s\", got \"%s\"", #got, vm_w_,	\
		    vm_g_ ? vm_g_ : "(null)"); })

#endif
