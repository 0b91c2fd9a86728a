// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * /init of vringmed's big-endian ppc64 block guest (tools/guest/blk-run.sh):
 * the guest's own kernel and virtio-blk driver do the work, this only
 * looks.  It waits for /dev/vda, prints what the driver made of the
 * device's config space (size in sectors, logical block size: a
 * little-endian config space read big-endian gives 0x20000 or nonsense,
 * and the driver gives up), reads the whole disk and prints its checksum
 * (FNV-1a, 64 bits, which the host computes over the backing file too),
 * then, with vrm.secs=S on the kernel command line, reads it again and
 * again for S seconds of its own time past the page cache (O_DIRECT), each
 * pass's checksum to be the first's, while the host pauses and resumes the
 * VM (with more than one CPU, a reader pinned to each, so that every
 * request queue the driver maps to a CPU carries requests); writes a marker sector (the text given on the kernel command line as
 * vrm.mark=WORD, at sector vrm.sector=N), syncs it (a write and a flush),
 * and powers off.  Static (the guest has no C library), built with
 * powerpc64-linux-gnu-gcc.
 *
 * Console lines (all begin with "blk-guest: "):
 *   blk-guest: disk vda sectors=N block=B queues=Q cpus=C
 *   blk-guest: read N bytes fnv1a=0x... in T ms
 *   blk-guest: passes t=S n=N bad=M          (each second, vrm.secs)
 *   blk-guest: passes on cpus=C              (vrm.secs, more than one CPU)
 *   blk-guest: passes end n=N bad=M          (vrm.secs; summed over the CPUs)
 *   blk-guest: wrote sector N
 *   blk-guest: done
 * or "blk-guest: FAILED <why>".
 */
#define _GNU_SOURCE	/* O_DIRECT */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sched.h>
#include <dirent.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#include <stdarg.h>
static void say(const char *fmt, ...)
{
	va_list ap;

	printf("blk-guest: ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static __attribute__((noreturn)) void off(void)
{
	sync();
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}

static long read_sys(const char *path)
{
	char buf[64] = "";
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return strtol(buf, NULL, 10);
}

/* vrm.NAME=VALUE from the kernel command line, or `dflt`. */
static const char *cmdline(const char *name, const char *dflt)
{
	static char buf[1024];
	char key[64], *s;
	int fd = open("/proc/cmdline", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return dflt;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return dflt;
	buf[n] = 0;
	snprintf(key, sizeof(key), "vrm.%s=", name);
	s = strstr(buf, key);
	if (!s)
		return dflt;
	s += strlen(key);
	s[strcspn(s, " \n")] = 0;
	return s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One pass over the disk through fd: its checksum (FNV-1a, 64 bits) and,
 * in *bytes, how much was read; *err set when a read failed there. */
static uint64_t pass(int fd, uint8_t *buf, size_t len, uint64_t *bytes, int *err)
{
	uint64_t h = 0xcbf29ce484222325ull;

	*bytes = 0;
	for (;;) {
		ssize_t n = pread(fd, buf, len, (off_t)*bytes);

		if (n < 0) {
			*err = errno;
			return 0;
		}
		if (n == 0)
			return h;
		for (ssize_t i = 0; i < n; i++) {
			h ^= buf[i];
			h *= 0x100000001b3ull;
		}
		*bytes += (uint64_t)n;
	}
}

/* The block layer's hardware queues for vda: the device's request queues. */
static int hw_queues(void)
{
	DIR *d = opendir("/sys/block/vda/mq");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] >= '0' && e->d_name[0] <= '9';
	if (d)
		closedir(d);
	return n;
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/* One CPU's passes for `secs`, each to sum to `want`: their number and the
 * bad ones in n[0], n[1]; the per-second lines when `talk`. */
static void passes_on(uint64_t want, double secs, bool talk, unsigned long n[2])
{
	static uint8_t dbuf[1 << 16] __attribute__((aligned(4096)));
	uint64_t bytes;
	double t0 = now_s(), next = t0 + 1;
	int fd = open("/dev/vda", O_RDONLY | O_DIRECT), err = 0;

	if (fd < 0) {
		say("FAILED open O_DIRECT: %s\n", strerror(errno));
		off();
	}
	while (now_s() - t0 < secs) {
		uint64_t h = pass(fd, dbuf, sizeof(dbuf), &bytes, &err);

		if (err) {
			say("FAILED pass %lu: %s\n", n[0] + 1, strerror(err));
			off();
		}
		n[0]++;
		if (h != want && !n[1]++)
			say("pass %lu fnv1a=0x%016llx, not the first's\n", n[0], (unsigned long long)h);
		if (talk && now_s() >= next) {
			say("passes t=%.0f n=%lu bad=%lu\n", next - t0, n[0], n[1]);
			next += 1;
		}
	}
	close(fd);
}

/* vrm.secs: passes past the page cache for that many seconds on every CPU,
 * the first's saying each second how far it is; the host pauses and
 * resumes the VM meanwhile. */
static void passes(uint64_t want, double secs, int cpus)
{
	unsigned long n[2] = { 0, 0 }, part[2];
	int fds[2], st;

	if (cpus > 1 && pipe(fds)) {
		say("FAILED pipe: %s\n", strerror(errno));
		off();
	}
	for (int c = 1; c < cpus; c++) {
		pid_t pid = fork();

		if (pid == 0) {
			part[0] = part[1] = 0;
			pin(c);
			passes_on(want, secs, false, part);
			if (write(fds[1], part, sizeof(part)) != sizeof(part))
				_exit(1);
			_exit(0);
		}
		if (pid < 0) {
			say("FAILED fork: %s\n", strerror(errno));
			off();
		}
	}
	if (cpus > 1)
		pin(0);
	passes_on(want, secs, true, n);
	for (int c = 1; c < cpus; c++) {
		if (read(fds[0], part, sizeof(part)) != sizeof(part)) {
			say("FAILED: the reader on a CPU of its own did not finish\n");
			off();
		}
		n[0] += part[0];
		n[1] += part[1];
		wait(&st);
	}
	if (cpus > 1)
		say("passes on cpus=%d\n", cpus);
	say("passes end n=%lu bad=%lu\n", n[0], n[1]);
}

int main(void)
{
	static uint8_t buf[1 << 16];
	uint64_t h, total = 0;
	struct timespec t0, t1;
	const char *mark;
	long sectors, block, at;
	int fd = -1, err = 0, cpus;
	double secs;

	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	for (int i = 0; i < 100 && fd < 0; i++) {
		fd = open("/dev/vda", O_RDWR);
		if (fd < 0)
			usleep(100000);
	}
	if (fd < 0) {
		say("FAILED no /dev/vda (%s): the virtio-blk driver did not take the device\n",
		    strerror(errno));
		off();
	}
	sectors = read_sys("/sys/block/vda/size");
	block = read_sys("/sys/block/vda/queue/logical_block_size");
	cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
	say("disk vda sectors=%ld block=%ld queues=%d cpus=%d\n", sectors, block, hw_queues(),
	    cpus);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	h = pass(fd, buf, sizeof(buf), &total, &err);
	if (err) {
		say("FAILED read at %llu: %s\n", (unsigned long long)total, strerror(err));
		off();
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	say("read %llu bytes fnv1a=0x%016llx in %ld ms\n", (unsigned long long)total,
	    (unsigned long long)h,
	    (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));

	secs = atof(cmdline("secs", "0"));
	if (secs > 0)
		passes(h, secs, cpus);

	mark = cmdline("mark", "");
	at = atol(cmdline("sector", "100"));
	if (mark[0]) {
		memset(buf, 0, 512);
		snprintf((char *)buf, 512, "vringmed ppc64 guest wrote this: %s\n", mark);
		if (pwrite(fd, buf, 512, at * 512) != 512 || fsync(fd)) {
			say("FAILED write of sector %ld: %s\n", at, strerror(errno));
			off();
		}
		say("wrote sector %ld\n", at);
	}
	close(fd);
	say("done\n");
	off();
}
