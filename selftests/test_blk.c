// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * virtio-blk with real peers: qemu-storage-daemon's vhost-user-blk export (a
 * modern-only back-end: libvhost-user refuses a legacy feature set) and
 * vu_blk_driver, a VMM plus block driver in one process, run natively and
 * as a big-endian s390x process under qemu-s390x-static:
 *
 *   direct:  vu_blk_driver -> qemu-storage-daemon.  Modern works; a
 *            big-endian legacy driver cannot (no CROSS_ENDIAN), and forced
 *            through anyway is refused.
 *   via:     vu_blk_driver -> vringmedd (type=blk) -> qemu-storage-daemon.
 *            The big-endian legacy driver reads, writes, flushes and asks
 *            the ID, and what it wrote is in the backing file afterwards; a
 *            little-endian legacy one on an order=le device too; a ring
 *            whose order is not the device's is refused, with the reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <sys/socket.h>
#include <sys/un.h>
#include "blk_pattern.h"
#include "vu_wire.h"
#include <vringmed/vhost_user.h>
#include "peers.h"
#include "test.h"

const char *vrm_test_suite = "test_blk";

/* One vu_blk_driver run. */
struct bdrv {
	int status;		/* exit code, or 128 + signal */
	char log[300];
	bool have_line;
	char mode[16], order[16], id[32], result[8];
	unsigned requests, reads, writes, flushes, unsupp, bad_status, bad_data, bad_len;
};

static char dir[128], disk[200], qsock[200];
static struct peer qsd;
static char qemu_user[] = "/usr/bin/qemu-s390x-static";
static int nrun;

/* Runs vu_blk_driver (s390x: under qemu-s390x-static) to its end, at
 * most 120 s, with the arguments after `sock` (NULL-terminated). */
static int bdrv_run(struct bdrv *r, bool s390x, const char *sock, ...)
{
	const char *argv[24];
	char exe[200], line[512];
	va_list ap;
	int n = 0, out, st = 0;
	pid_t pid;
	FILE *f;

	memset(r, 0, sizeof(*r));
	snprintf(r->log, sizeof(r->log), "%s/blk-driver-%d.log", dir, nrun++);
	snprintf(exe, sizeof(exe), ".output/vu_blk_driver%s", s390x ? ".s390x" : "");
	if (s390x)
		argv[n++] = qemu_user;
	argv[n++] = exe;
	argv[n++] = "--socket";
	argv[n++] = sock;
	va_start(ap, sock);
	for (const char *a; n < 22 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	out = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(out, 1);
		dup2(out, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out);
	for (int t = 0; waitpid(pid, &st, WNOHANG) != pid; t += 50) {
		if (t > 120000) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(50000);
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	f = fopen(r->log, "r");
	while (f && fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "vu_blk_driver: mode=");

		if (s && sscanf(s, "vu_blk_driver: mode=%15s order=%15s requests=%u reads=%u writes=%u "
				   "flushes=%u id=%31s unsupp=%u bad_status=%u bad_data=%u bad_len=%u "
				   "capacity=%*u RESULT: %7s", r->mode, r->order, &r->requests,
				&r->reads, &r->writes, &r->flushes, r->id, &r->unsupp, &r->bad_status,
				&r->bad_data, &r->bad_len, r->result) == 12)
			r->have_line = true;
	}
	if (f)
		fclose(f);
	return r->status;
}

static void dump(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	printf("      --- %s (%s) ---\n", what, path);
	while (f && fgets(line, sizeof(line), f) && n++ < 40)
		printf("      %s", line);
	if (f)
		fclose(f);
}

/* The backing file: [BLK_WRITE_FIRST, +BLK_WRITE_SECTORS) holds the last
 * writer's seed, the rest what it was laid with.  Bytes that differ. */
static long disk_check(unsigned seed)
{
	static uint8_t buf[BLK_DISK_BYTES];
	int fd = open(disk, O_RDONLY | O_CLOEXEC);
	long bad = 0;

	if (fd < 0 || read(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	for (uint64_t o = 0; o < sizeof(buf); o++) {
		uint64_t s = o / BLK_SECTOR;

		bad += buf[o] != blk_pattern(o, s >= BLK_WRITE_FIRST &&
						   s < BLK_WRITE_FIRST + BLK_WRITE_SECTORS ? seed : 0);
	}
	return bad;
}

/* A fresh disk laid with seed 0 and qemu-storage-daemon on it. */
static bool setup(void)
{
	static uint8_t buf[BLK_DISK_BYTES];
	int fd;

	if (dir[0])
		return qsd.pid > 0;
	if (peers_tmpdir(dir, sizeof(dir), "blk"))
		return false;
	snprintf(disk, sizeof(disk), "%s/disk.img", dir);
	snprintf(qsock, sizeof(qsock), "%s/qsd.sock", dir);
	for (uint64_t o = 0; o < sizeof(buf); o++)
		buf[o] = blk_pattern(o, 0);
	fd = open(disk, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	close(fd);
	if (qsd_start(&qsd, dir, qsock, disk)) {
		dump("qemu-storage-daemon", qsd.log);
		return false;
	}
	return true;
}

static bool ready(bool s390x)
{
	if (!have_qsd()) {
		vrm_skip("qemu-storage-daemon not installed (make setup)");
		return false;
	}
	if (s390x && access(qemu_user, X_OK)) {
		vrm_skip("qemu-s390x-static not installed (make setup)");
		return false;
	}
	if (!VRM_TRUE(setup()))
		return false;
	return true;
}

VRM_TEST(direct)
{
	struct bdrv r;

	/* The back-end itself works, with a modern driver. */
	if (vrm_subtest("modern_native") && ready(false)) {
		bdrv_run(&r, false, qsock, "--modern", "--seed", "3", NULL);
		if (!VRM_TRUE(r.have_line && !strcmp(r.result, "PASS")))
			dump("driver", r.log);
		VRM_EQ(r.status, 0);
		VRM_EQ(r.reads, BLK_DISK_BYTES / 4096);
		VRM_EQ(disk_check(3), 0);
	}
	/* A big-endian legacy driver cannot: no CROSS_ENDIAN, and forced
	 * through, libvhost-user refuses a device without VERSION_1. */
	if (vrm_subtest("legacy_s390x_refused") && ready(true)) {
		VRM_EQ(bdrv_run(&r, true, qsock, "--seed", "4", NULL), 3);
		VRM_TRUE(!r.have_line);
		VRM_TRUE(bdrv_run(&r, true, qsock, "--force", "--seed", "4", "--timeout-ms", "3000",
				  NULL) != 0);
		VRM_TRUE(!r.have_line || strcmp(r.result, "PASS"));
		VRM_EQ(disk_check(3), 0);	/* nothing of it reached the disk */
	}
}

/* vringmedd with one block device of byte order `order`. */
static bool via_start(struct peer *d, const char *order, char *vsock, size_t len)
{
	char root[64], spec[400];
	const char *args[] = { "-d", spec, NULL };

	snprintf(vsock, len, "%s/vmm-%s.sock", dir, order);
	snprintf(root, sizeof(root), "/sys/fs/bpf/vringmed-blk-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "disk0,vmm=%s,backend=%s,type=blk,order=%s", vsock, qsock,
		 order);
	if (vringmedd_start(d, dir, root, args)) {
		dump("vringmedd", d->log);
		return false;
	}
	return true;
}

VRM_TEST(via)
{
	struct peer d = { 0 };
	char vsock[200];
	struct bdrv r;

	if (getuid()) {
		vrm_subtest("root");
		vrm_skip("vringmedd needs root (BPF)");
		return;
	}
	if (vrm_subtest("legacy_s390x") && ready(true) && VRM_TRUE(via_start(&d, "be", vsock,
									      sizeof(vsock)))) {
		bdrv_run(&r, true, vsock, "--seed", "5", NULL);
		if (!VRM_TRUE(r.have_line && !strcmp(r.result, "PASS"))) {
			dump("driver", r.log);
			dump("vringmedd", d.log);
		}
		VRM_EQ(r.status, 0);
		VRM_STREQ(r.order, "big");
		VRM_STREQ(r.mode, "legacy");
		VRM_EQ(r.reads, BLK_DISK_BYTES / 4096);
		VRM_EQ(r.writes, BLK_WRITE_SECTORS * BLK_SECTOR / 4096);
		VRM_EQ(r.flushes, 2);		/* FLUSH and FLUSH_OUT */
		VRM_EQ(r.unsupp, 1);
		VRM_STREQ(r.id, "vhost_user_blk");	/* qemu-storage-daemon's */
		VRM_EQ(disk_check(5), 0);
		VRM_TRUE(peer_log_has(&d, "legacy guest", 0));
		VRM_TRUE(peer_log_has(&d, "big-endian rings", 0));
		VRM_TRUE(peer_log_has(&d, "kicks on the bpf path", 0));
		VRM_TRUE(!peer_log_has(&d, "broken", 0));
		peer_stop(&d, SIGTERM);
	}
	/* A little-endian legacy ring on a big-endian device: the guest would
	 * misread its config space; the start is refused and says why. */
	if (vrm_subtest("order_mismatch_refused") && ready(false) &&
	    VRM_TRUE(via_start(&d, "be", vsock, sizeof(vsock)))) {
		VRM_TRUE(bdrv_run(&r, false, vsock, "--seed", "6", "--timeout-ms", "3000", NULL) != 0);
		VRM_TRUE(!r.have_line || strcmp(r.result, "PASS"));
		if (!VRM_TRUE(peer_log_has(&d, "config space is big-endian (order=be", 2000)))
			dump("vringmedd", d.log);
		VRM_EQ(disk_check(5), 0);
		peer_stop(&d, SIGTERM);
	}
	if (vrm_subtest("legacy_native_le") && ready(false) &&
	    VRM_TRUE(via_start(&d, "le", vsock, sizeof(vsock)))) {
		bdrv_run(&r, false, vsock, "--seed", "7", NULL);
		if (!VRM_TRUE(r.have_line && !strcmp(r.result, "PASS")))
			dump("driver", r.log);
		VRM_STREQ(r.order, "little");
		VRM_EQ(r.flushes, 2);
		VRM_EQ(disk_check(7), 0);
		peer_stop(&d, SIGTERM);
	}
}

/* What a VMM asks of a device's queues before it sets any up: the
 * multiqueue feature, the protocol's MQ, and the number; -1 when the
 * socket does not answer. */
static int queue_num(const char *sock, uint64_t *features, uint64_t *pf, uint64_t *nq)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rc = -1;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (int i = 0; i < 50 && fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)); i++)
		usleep(100000);
	if (fd >= 0 && !vu_get_u64_reply(fd, VU_GET_FEATURES, features) &&
	    !vu_get_u64_reply(fd, VU_GET_PROTOCOL_FEATURES, pf) &&
	    !vu_get_u64_reply(fd, VU_GET_QUEUE_NUM, nq))
		rc = 0;
	if (fd >= 0)
		close(fd);
	return rc;
}

/* A back-end of eight request queues (testlib's qemu-storage-daemon): the
 * VMM is offered multiqueue and four, a device's most (QEMU with more
 * vCPUs than that, and num-queues left to its default, says "The maximum
 * number of queues supported by the backend is 4"). */
VRM_TEST(via_queues)
{
	struct peer d = { 0 };
	uint64_t f = 0, pf = 0, nq = 0;
	char vsock[200];

	if (getuid()) {
		vrm_subtest("root");
		vrm_skip("vringmedd needs root (BPF)");
		return;
	}
	if (vrm_subtest("backend_has_8") && ready(false)) {
		VRM_EQ(queue_num(qsock, &f, &pf, &nq), 0);
		VRM_EQ(nq, 8);
	}
	if (vrm_subtest("vmm_offered_4") && ready(false) &&
	    VRM_TRUE(via_start(&d, "be", vsock, sizeof(vsock)))) {
		VRM_EQ(queue_num(vsock, &f, &pf, &nq), 0);
		VRM_TRUE(f & (1ull << VU_BLK_F_MQ));
		VRM_TRUE(pf & (1ull << VU_PF_MQ));
		VRM_EQ(nq, 4);
		if (!VRM_TRUE(peer_log_has(&d, "4 request queues", 2000)))
			dump("vringmedd", d.log);
		peer_stop(&d, SIGTERM);
	}
}

/* Last: the peers go, and so does the pin root. */
VRM_TEST(zz_cleanup)
{
	char root[64];

	vrm_subtest("peers_stopped");
	snprintf(root, sizeof(root), "/sys/fs/bpf/vringmed-blk-%d", (int)getpid());
	if (qsd.pid > 0)
		peer_stop(&qsd, SIGTERM);
	VRM_TRUE(access(root, F_OK) != 0);
	if (dir[0] && !getenv("VRINGMED_KEEP_LOGS"))
		peers_rmdir(dir);
}
