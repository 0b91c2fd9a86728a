/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The few definitions the translation core needs from its environment, so the
 * same headers compile with `clang -target bpf` (vmlinux.h already included,
 * no libc) and with any userspace C compiler (gcc, clang, s390x cross gcc).
 */
#ifndef VRINGMED_COMPAT_H
#define VRINGMED_COMPAT_H

#if defined(__bpf__)
/* vmlinux.h provides __u8..__u64 and bool. */
#ifndef vrm_inline
#define vrm_inline inline __attribute__((always_inline))
#endif
#else
#include <linux/types.h>
#include <stdbool.h>
#include <stddef.h>
#ifndef vrm_inline
#define vrm_inline inline __attribute__((always_inline))
#endif
#endif

#define vrm_unused __attribute__((unused))

/* Fully unrolls the loop that follows (its trip count is a constant). */
#if defined(__clang__)
#define VRM_UNROLL _Pragma("unroll")
#else
#define VRM_UNROLL _Pragma("GCC unroll 8")
#endif

#ifndef VRM_STATIC_ASSERT
#define VRM_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* Stops the compiler from moving memory accesses across this point.  On
 * x86 (TSO) this is all the ordering the shadow ring publication needs; the
 * places that need more say so and use an atomic. */
#define vrm_compiler_barrier() __asm__ __volatile__("" ::: "memory")

/* A point where the daemon may be killed.  Crash tests stop there
 * (user/uxlate.c built with VRM_CRASH_TEST); elsewhere it is a compiler barrier,
 * so the stores before it are emitted before the stores after it and a
 * killed daemon leaves them in that order. */
#ifndef VRM_CRASH_POINT
#define VRM_CRASH_POINT(n) vrm_compiler_barrier()
#endif

#define VRM_READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))
#define VRM_WRITE_ONCE(x, v) (*(volatile __typeof__(x) *)&(x) = (v))

#endif /* VRINGMED_COMPAT_H */
