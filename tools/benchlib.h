/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the kick benchmarks share: a monotonic clock, CPU pinning, waiting
 * until a thread really sleeps in read(), and kernel.bpf_stats_enabled
 * switched on for a measurement and restored afterwards (also from a signal
 * handler).  Header-only: each benchmark is one program.
 */
#ifndef VRINGMED_BENCHLIB_H
#define VRINGMED_BENCHLIB_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#define STATS_SYSCTL	"/proc/sys/kernel/bpf_stats_enabled"

static char bl_stats_old[16];			/* the sysctl before we touched it */
static volatile sig_atomic_t bl_stats_changed;

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -EIO;
}

static inline int stats_enable(void)
{
	int fd = open(STATS_SYSCTL, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, bl_stats_old, sizeof(bl_stats_old) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	bl_stats_old[n] = 0;
	if (bl_stats_old[0] == '1')
		return 0;	/* already on: leave it as found */
	bl_stats_changed = 1;
	return write_str(STATS_SYSCTL, "1");
}

/* Async-signal-safe: also called from signal handlers. */
static inline void stats_restore(void)
{
	if (!bl_stats_changed)
		return;
	bl_stats_changed = 0;
	write_str(STATS_SYSCTL, "0");
}

/* Pins the calling thread to `cpu`, or un-pins it (cpu < 0). */
static inline int pin_self(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	if (cpu < 0) {
		long n = sysconf(_SC_NPROCESSORS_ONLN);

		for (long i = 0; i < n && i < CPU_SETSIZE; i++)
			CPU_SET(i, &set);
	} else {
		CPU_SET(cpu, &set);
	}
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/*
 * Waits until the thread whose /proc/self/task/TID/syscall is open as
 * `sysfd` sleeps in read() (the file names the syscall a blocked task is in,
 * "running" otherwise), so a kick always wakes a sleeping thread.  -ETIMEDOUT
 * after 5 s.
 */
static inline int wait_blocked_in(int sysfd, long nr_a, long nr_b)
{
	uint64_t t0 = now_ns();
	char buf[128] = "";

	for (;;) {
		ssize_t n = pread(sysfd, buf, sizeof(buf) - 1, 0);

		if (n > 0) {
			long nr;

			buf[n] = 0;
			nr = buf[0] >= '0' && buf[0] <= '9' ? strtol(buf, NULL, 10) : -1;
			if (nr >= 0 && (nr == nr_a || nr == nr_b))
				return 0;
		} else if (n < 0) {
			return -errno;
		}
		if (now_ns() - t0 > 5000000000ull)
			return -ETIMEDOUT;
		sched_yield();
	}
}

static inline int wait_blocked_in_read(int sysfd)
{
	return wait_blocked_in(sysfd, SYS_read, -1);
}

static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The benchmark's name and its cleanup, for die(). */
static const char *bl_prog = "bench";
static void (*bl_cleanup)(void);

/* Says why on stderr, cleans up (BPF object, the sysctl), exits 1. */
__attribute__((noreturn, format(printf, 1, 2)))
static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bl_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (bl_cleanup)
		bl_cleanup();
	exit(1);
}

#endif
