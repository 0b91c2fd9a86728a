// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The whole vhost-user path with a real dpdk-testpmd (io forwarding: every
 * frame goes straight back) and vu_driver, a VMM plus virtio-net guest in
 * one process, run natively and as a big-endian s390x process under
 * qemu-s390x-static:
 *
 *   direct:  vu_driver -> testpmd.  Modern works in both byte orders; a
 *            big-endian legacy ring cannot work (testpmd has no
 *            CROSS_ENDIAN), and forced through anyway it garbles.
 *   via:     vu_driver -> vringmedd -> testpmd.  The big-endian legacy
 *            guest works, testpmd sees VERSION_1; a driver or a testpmd
 *            killed with SIGKILL takes down its own device only.
 *
 * VRINGMED_VIA=0 skips the "via" tests (with the reason printed), e.g. to
 * look at the direct cases alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <vringmed/vhost_user.h>

#include "peers.h"
#include "test.h"
#include "vu_wire.h"

const char *vrm_test_suite = "test_vhost";

#define BIT(n)		(1ull << (n))
#define DRIVER_WAIT_MS	90000	/* a driver that outlives this is killed */
#define VIA_SKIP	"VRINGMED_VIA=0 in the environment"

/* One vu_driver run: its process, its log (stdout + stderr) and the
 * summary line parsed from it. */
struct drv {
	pid_t pid;
	int status;		/* exit code, or 128 + signal */
	char log[256];
	bool have_line;
	char mode[16], order[16], result[8];
	int mrg;
	unsigned sent, received, bad_header, bad_payload, pauses, bad_pauses;
};

static char bindir[256];	/* where this binary and vu_driver live */
static char qemu[512];		/* qemu-s390x-static, or "" */
static int ndrv;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void find_tools(void)
{
	static bool done;
	char self[256], *slash, *path, *save = NULL;
	ssize_t n;

	if (done)
		return;
	done = true;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		snprintf(bindir, sizeof(bindir), "%s", self);
	} else {
		snprintf(bindir, sizeof(bindir), ".output");
	}
	path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char p[512];

		snprintf(p, sizeof(p), "%s/qemu-s390x-static", d);
		if (!access(p, X_OK)) {
			snprintf(qemu, sizeof(qemu), "%s", p);
			break;
		}
	}
	free(path);
}

/* Starts vu_driver (s390x: under qemu-s390x-static) with the given
 * arguments (NULL-terminated), output to a log file in `dir`. */
static int drv_start(struct drv *r, const char *dir, bool s390x, const char *sock, ...)
{
	const char *argv[40];
	char exe[300];
	va_list ap;
	int n = 0, out;

	memset(r, 0, sizeof(*r));
	snprintf(r->log, sizeof(r->log), "%s/driver-%d.log", dir, ndrv++);
	snprintf(exe, sizeof(exe), "%s/vu_driver%s", bindir, s390x ? ".s390x" : "");
	if (s390x)
		argv[n++] = qemu;
	argv[n++] = exe;
	argv[n++] = "--socket";
	argv[n++] = sock;
	va_start(ap, sock);
	for (const char *a; n < 38 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	out = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(out, 1);
		dup2(out, 2);
		close(0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out);
	return r->pid < 0 ? -errno : 0;
}

static void drv_parse(struct drv *r)
{
	FILE *f = fopen(r->log, "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "vu_driver: mode=");

		if (s && sscanf(s, "vu_driver: mode=%15s order=%15s mrg_rxbuf=%d sent=%u "
				   "received=%u bad_header=%u bad_payload=%u bad_used=%*u tx_unreturned=%*u "
				   "reconnects=%*u pauses=%u bad_pauses=%u RESULT: %7s",
				r->mode, r->order, &r->mrg, &r->sent, &r->received,
				&r->bad_header, &r->bad_payload, &r->pauses, &r->bad_pauses,
				r->result) == 10)
			r->have_line = true;
	}
	fclose(f);
}

static bool drv_log_has(const struct drv *r, const char *needle)
{
	FILE *f = fopen(r->log, "r");
	char line[512];
	bool hit = false;

	if (!f)
		return false;
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, needle) != NULL;
	fclose(f);
	return hit;
}

/* Waits for the driver to exit (killing it after `ms`); parses its line. */
static int drv_wait(struct drv *r, int ms)
{
	int st = 0;

	for (int t = 0; r->pid > 0; t += 20) {
		pid_t w = waitpid(r->pid, &st, WNOHANG);

		if (w == r->pid)
			break;
		if (t >= ms) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &st, 0);
			break;
		}
		sleep_ms(20);
	}
	r->pid = 0;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	drv_parse(r);
	return r->status;
}

static void dump_log(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (!f)
		return;
	printf("      --- %s (%s)\n", what, path);
	while (fgets(line, sizeof(line), f) && n++ < 40)
		printf("      | %s", line);
	fclose(f);
}

/* One run to completion; true when it passed as expected. */
static bool drv_run_pass(const char *dir, bool s390x, const char *sock, const char *mode,
			 const char *want_order)
{
	struct drv r;
	bool ok;

	if (!VRM_EQ(drv_start(&r, dir, s390x, sock, mode, "--frames", "256", NULL), 0))
		return false;
	drv_wait(&r, DRIVER_WAIT_MS);
	ok = VRM_EQ(r.status, 0);
	ok &= VRM_TRUE(r.have_line);
	ok &= VRM_STREQ(r.result, "PASS");
	ok &= VRM_STREQ(r.order, want_order);
	ok &= VRM_EQ(r.sent, 256);
	ok &= VRM_EQ(r.received, 256);
	ok &= VRM_EQ(r.bad_header, 0);
	ok &= VRM_EQ(r.bad_payload, 0);
	if (!ok || vrm_test_verbose())
		dump_log("vu_driver", r.log);
	return ok;
}

static bool want_s390x(void)
{
	find_tools();
	if (!qemu[0]) {
		vrm_skip("qemu-s390x-static not installed (make setup)");
		return false;
	}
	return true;
}

/* ---- the driver against a back-end that misbehaves ---- */

enum fake_mode { FAKE_CLOSE, FAKE_GARBAGE, FAKE_WRONG_REPLY, FAKE_CLOSE_LATER, FAKE_CLOSE_RUNNING };

/* A back-end in a child process: takes one connection, answers
 * GET_FEATURES the way `mode` says. */
static pid_t fake_backend(const char *path, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(lsn);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) || listen(lsn, 1)) {
		if (lsn >= 0)
			close(lsn);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		static const uint8_t garbage[12] = { 1, 0, 0, 0, 7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
		struct vu_msg m, r;
		int c = accept(lsn, NULL, NULL);

		if (c < 0 || vu_recv(c, &m) != 1)
			_exit(1);
		switch (mode) {
		case FAKE_CLOSE:
			break;
		case FAKE_GARBAGE:
			if (write(c, garbage, sizeof(garbage)) < 0)
				_exit(1);
			sleep_ms(1000);
			break;
		case FAKE_WRONG_REPLY:
			vu_msg_init(&r, VU_SET_MEM_TABLE);
			r.flags |= VU_FLAG_REPLY;
			vu_put_u64(&r, 0, 0);
			vu_send(c, &r);
			sleep_ms(1000);
			break;
		case FAKE_CLOSE_LATER:
			/* Offers little, then goes away mid-configuration. */
			vu_msg_init(&r, VU_GET_FEATURES);
			r.flags |= VU_FLAG_REPLY;
			vu_put_u64(&r, 0, BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF));
			vu_send(c, &r);
			vu_recv(c, &m);		/* SET_OWNER */
			break;
		case FAKE_CLOSE_RUNNING:
			/* Same, but lets the set-up messages (no replies
			 * asked) land in the socket first: the driver sees
			 * the close once its rings run. */
			vu_msg_init(&r, VU_GET_FEATURES);
			r.flags |= VU_FLAG_REPLY;
			vu_put_u64(&r, 0, BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF));
			vu_send(c, &r);
			sleep_ms(500);
			break;
		}
		close(c);
		_exit(0);
	}
	close(lsn);
	return pid;
}

VRM_TEST(driver)
{
	static const struct {
		const char *name;
		enum fake_mode mode;
		const char *msg;
	} cases[] = {
		{ "backend_closes", FAKE_CLOSE,
		  "GET_FEATURES failed: the back-end closed the connection" },
		{ "backend_garbage", FAKE_GARBAGE,
		  "GET_FEATURES failed: malformed message from the back-end" },
		{ "backend_wrong_reply", FAKE_WRONG_REPLY,
		  "GET_FEATURES failed: unexpected reply from the back-end" },
		{ "backend_closes_mid_setup", FAKE_CLOSE_LATER, "the back-end closed the connection" },
		{ "backend_closes_running", FAKE_CLOSE_RUNNING, "the back-end closed the connection" },
	};
	char dir[64] = "", sock[128];

	find_tools();
	if (peers_tmpdir(dir, sizeof(dir), "vhost-drv"))
		return;
	snprintf(sock, sizeof(sock), "%s/fake.sock", dir);
	for (int arch = 0; arch < 2; arch++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct drv r;
			pid_t fb;

			if (!vrm_subtest("%s_%s", cases[i].name, arch ? "s390x" : "native") ||
			    (arch && !want_s390x()))
				continue;
			fb = fake_backend(sock, cases[i].mode);
			if (!VRM_TRUE(fb > 0))
				continue;
			if (VRM_EQ(drv_start(&r, dir, arch, sock, "--modern", NULL), 0)) {
				drv_wait(&r, 30000);
				VRM_EQ(r.status, 2);		/* protocol error, no crash */
				VRM_TRUE(drv_log_has(&r, cases[i].msg));
				if (!drv_log_has(&r, cases[i].msg) || vrm_test_verbose())
					dump_log("vu_driver", r.log);
			}
			kill(fb, SIGKILL);
			waitpid(fb, NULL, 0);
		}
	}
	if (vrm_subtest("usage")) {
		struct drv r;

		if (VRM_EQ(drv_start(&r, dir, false, sock, "--ring", "100", NULL), 0)) {
			drv_wait(&r, 10000);
			VRM_EQ(r.status, 2);
			VRM_TRUE(drv_log_has(&r, "bad value for --ring: 100"));
		}
	}
	peers_rmdir(dir);
}

/* ---- direct: the problem exists ---- */

static struct {
	bool up, failed;
	char dir[64], sock[128];
	struct peer tp;
} dir_rig = { .tp = { .stdin_fd = -1 } };

/* Starts (once, when a subtest needs it) testpmd for the direct tests. */
static bool direct_up(void)
{
	if (dir_rig.up)
		return true;
	if (dir_rig.failed) {
		vrm_skip("testpmd did not come up (see above)");
		return false;
	}
	dir_rig.failed = true;
	find_tools();
	if (!VRM_TRUE(have_testpmd()))	/* /usr/bin/dpdk-testpmd: make setup */
		return false;
	if (!VRM_EQ(peers_tmpdir(dir_rig.dir, sizeof(dir_rig.dir), "vhost"), 0))
		return false;
	snprintf(dir_rig.sock, sizeof(dir_rig.sock), "%s/vhost.sock", dir_rig.dir);
	if (!VRM_EQ(testpmd_start(&dir_rig.tp, dir_rig.dir, dir_rig.sock, "vmt"), 0)) {
		dump_log("testpmd", dir_rig.tp.log);
		return false;
	}
	dir_rig.up = true;
	dir_rig.failed = false;
	return true;
}

static void direct_down(void)
{
	if (dir_rig.tp.pid > 0)
		peer_stop(&dir_rig.tp, SIGTERM);
	if (dir_rig.dir[0]) {
		if (getenv("VRM_KEEP_LOGS"))
			printf("logs kept in %s\n", dir_rig.dir);
		else
			peers_rmdir(dir_rig.dir);
		dir_rig.dir[0] = 0;
	}
	dir_rig.up = false;
}

VRM_TEST(direct)
{
	const char *dir = dir_rig.dir, *sock = dir_rig.sock;
	struct peer *tp = &dir_rig.tp;
	unsigned long long neg;

	if (vrm_subtest("modern_native") && direct_up()) {
		drv_run_pass(dir, false, sock, "--modern", "little");
		neg = testpmd_negotiated(tp);
		VRM_TRUE(neg & BIT(VU_F_VERSION_1));
		VRM_TRUE(neg & BIT(VU_NET_F_MRG_RXBUF));
	}
	if (vrm_subtest("legacy_native") && direct_up()) {
		/* Little-endian legacy is what testpmd already handles. */
		drv_run_pass(dir, false, sock, "--legacy", "little");
		VRM_TRUE(!(testpmd_negotiated(tp) & BIT(VU_F_VERSION_1)));
	}
	if (vrm_subtest("modern_s390x") && direct_up() && want_s390x()) {
		drv_run_pass(dir, true, sock, "--modern", "little");
		VRM_TRUE(testpmd_negotiated(tp) & BIT(VU_F_VERSION_1));
	}
	if (vrm_subtest("legacy_s390x_refused") && direct_up() && want_s390x()) {
		struct drv r;

		/* What QEMU hits: "vhost_set_vring_endian failed: Operation
		 * not supported (95)". */
		if (VRM_EQ(drv_start(&r, dir, true, sock, "--legacy", NULL), 0)) {
			drv_wait(&r, DRIVER_WAIT_MS);
			VRM_EQ(r.status, 3);
			VRM_TRUE(drv_log_has(&r, "backend cannot do cross-endian legacy rings "
						"(no VHOST_USER_PROTOCOL_F_CROSS_ENDIAN)"));
			VRM_TRUE(!r.have_line);
			if (vrm_test_verbose())
				dump_log("vu_driver", r.log);
		}
	}
	if (vrm_subtest("legacy_s390x_forced_garbles") && direct_up() && want_s390x()) {
		struct drv r;

		/* testpmd reads the big-endian ring as little-endian: the
		 * frames never come back, or come back with headers the guest
		 * cannot read (num_buffers 1 read big-endian is 256). */
		if (VRM_EQ(drv_start(&r, dir, true, sock, "--legacy", "--force", "--frames", "64",
				    "--timeout-ms", "3000", NULL), 0)) {
			drv_wait(&r, DRIVER_WAIT_MS);
			VRM_EQ(r.status, 1);
			VRM_TRUE(r.have_line);
			VRM_STREQ(r.result, "FAIL");
			VRM_STREQ(r.order, "big");
			VRM_TRUE(r.bad_header > 0 || r.received < r.sent);
			VRM_TRUE(!(testpmd_negotiated(tp) & BIT(VU_F_VERSION_1)));
			if (vrm_test_verbose())
				dump_log("vu_driver", r.log);
		}
	}
	if (vrm_subtest("testpmd_survived") && direct_up())
		VRM_TRUE(peer_alive(tp));
	direct_down();
}

/* ---- via vringmedd: the problem solved ---- */

static struct {
	bool up, failed;
	char dir[64], root[96];
	char vmm_a[128], vmm_b[128], be_a[128], be_b[128];
	struct peer tp_a, tp_b, dmn;
} via = { .tp_a = { .stdin_fd = -1 }, .tp_b = { .stdin_fd = -1 }, .dmn = { .stdin_fd = -1 } };

static bool via_enabled(void)
{
	const char *e = getenv("VRINGMED_VIA");

	return !e || strcmp(e, "0");
}

/* Starts (once) two testpmds and one vringmedd with two devices.  False,
 * with the subtest skipped or failed, when the rig is not there. */
static bool via_up(void)
{
	char da[300], db[300];
	const char *args[] = { "--device", da, "--device", db, NULL };
	struct stat st;

	if (!via_enabled()) {
		vrm_skip(VIA_SKIP);
		return false;
	}
	if (via.up)
		return true;
	if (via.failed) {
		vrm_skip("the vringmedd rig did not come up (see above)");
		return false;
	}
	via.failed = true;
	find_tools();
	if (!VRM_TRUE(have_testpmd()))
		return false;
	if (geteuid() != 0) {
		vrm_skip("needs root to load BPF programs");
		return false;
	}
	if (stat(".output/vringmedd", &st)) {
		VRM_TRUE(!".output/vringmedd is built");
		return false;
	}
	if (!VRM_EQ(peers_tmpdir(via.dir, sizeof(via.dir), "vhost-via"), 0))
		return false;
	snprintf(via.root, sizeof(via.root), "/sys/fs/bpf/vringmed-vt-%d", (int)getpid());
	snprintf(via.vmm_a, sizeof(via.vmm_a), "%s/vmm-a.sock", via.dir);
	snprintf(via.vmm_b, sizeof(via.vmm_b), "%s/vmm-b.sock", via.dir);
	snprintf(via.be_a, sizeof(via.be_a), "%s/vhost-a.sock", via.dir);
	snprintf(via.be_b, sizeof(via.be_b), "%s/vhost-b.sock", via.dir);
	snprintf(da, sizeof(da), "va,vmm=%s,backend=%s", via.vmm_a, via.be_a);
	snprintf(db, sizeof(db), "vb,vmm=%s,backend=%s", via.vmm_b, via.be_b);
	if (!VRM_EQ(testpmd_start(&via.tp_a, via.dir, via.be_a, "vta"), 0) ||
	    !VRM_EQ(testpmd_start(&via.tp_b, via.dir, via.be_b, "vtb"), 0))
		return false;
	if (!VRM_EQ(vringmedd_start(&via.dmn, via.dir, via.root, args), 0)) {
		dump_log("vringmedd", via.dmn.log);
		return false;
	}
	via.up = true;
	via.failed = false;
	return true;
}

static void via_down(void)
{
	if (via.dmn.pid > 0)
		peer_stop(&via.dmn, SIGTERM);
	if (via.tp_a.pid > 0)
		peer_stop(&via.tp_a, SIGTERM);
	if (via.tp_b.pid > 0)
		peer_stop(&via.tp_b, SIGTERM);
	if (via.dir[0]) {
		if (getenv("VRM_KEEP_LOGS"))
			printf("logs kept in %s\n", via.dir);
		else
			peers_rmdir(via.dir);
		via.dir[0] = 0;
	}
	via.up = false;
}

/* Waits until the driver printed its summary line (it then holds). */
static bool drv_wait_line(struct drv *r, int ms)
{
	for (int t = 0; t <= ms; t += 50) {
		drv_parse(r);
		if (r->have_line)
			return true;
		if (waitpid(r->pid, NULL, WNOHANG) == r->pid) {
			r->pid = 0;
			return false;
		}
		sleep_ms(50);
	}
	return false;
}

/* Asks a --stream driver for its progress line (SIGUSR1): frames back so
 * far, or 0. */
static unsigned drv_progress(struct drv *r)
{
	char line[512];
	unsigned sent, got = 0;
	FILE *f;

	kill(r->pid, SIGUSR1);
	sleep_ms(200);
	f = fopen(r->log, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "vu_driver: progress ");

		if (s)
			sscanf(s, "vu_driver: progress sent=%u received=%u", &sent, &got);
	}
	fclose(f);
	return got;
}

/* Lines of `path` that contain `needle`. */
static int log_count(const char *path, const char *needle)
{
	char line[1024];
	int n = 0;
	FILE *f = fopen(path, "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

/* errors[reason] of device `dev`, summed over its queues, as vringmedctl
 * reads it from the pinned maps; -1 when vringmedctl failed. */
static long ctl_errors(const char *dev, const char *reason)
{
	char cmd[512], buf[8192], key[80];
	size_t len;
	long n = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "%s/vringmedctl -p %s -c /nonexistent --json device show %s",
		 bindir, via.root, dev);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = 0;
	if (pclose(f))
		return -1;
	snprintf(key, sizeof(key), "\"%s\":", reason);
	for (char *p = strstr(buf, key); p; p = strstr(p + 1, key))
		n += strtol(p + strlen(key), NULL, 10);
	return n;
}

/* End to end: a legacy guest posts one malformed TX chain of a
 * class through vringmedd.  The chain never reaches testpmd, the device is
 * marked broken with the reason counted, the daemon says so in one line,
 * the other device keeps working, and a device reset (rings stopped and
 * started again, as a VMM does) brings the same device back to traffic. */
static void via_hostile(const char *cls, bool s390x)
{
	char needle[128];
	int before;
	long errs;
	struct drv r;

	snprintf(needle, sizeof(needle), "device va (slot");
	before = log_count(via.dmn.log, needle);
	errs = ctl_errors("va", cls);
	if (!VRM_EQ(drv_start(&r, via.dir, s390x, via.vmm_a, "--legacy", "--frames", "32",
			     "--hostile", cls, NULL), 0))
		return;
	drv_wait(&r, DRIVER_WAIT_MS);
	VRM_EQ(r.status, 0);
	VRM_STREQ(r.result, "PASS");
	VRM_TRUE(drv_log_has(&r, "before_reset sent=32 received=32 RESULT: PASS"));
	VRM_TRUE(drv_log_has(&r, "posted: 0 used entries came back"));
	snprintf(needle, sizeof(needle), "device va (slot");
	VRM_TRUE(peer_log_has(&via.dmn, "reset: translating again", 3000));
	/* One "broken" line and one "reset" line, whatever else happened. */
	VRM_EQ(log_count(via.dmn.log, needle) - before, 2);
	snprintf(needle, sizeof(needle), "broken: %s (needs reset)", cls);
	VRM_TRUE(log_count(via.dmn.log, needle) >= 1);
	VRM_EQ(ctl_errors("va", cls) - errs, 1);
	/* The neighbour was never touched. */
	VRM_EQ(log_count(via.dmn.log, "device vb (slot"), 0);
	drv_run_pass(via.dir, s390x, via.vmm_b, "--legacy", s390x ? "big" : "little");
	if (!drv_log_has(&r, "RESULT: PASS") || vrm_test_verbose())
		dump_log("vu_driver", r.log);
}

/*
 * What a VMM does to a running device, many rounds, from a legacy driver
 * (big-endian: s390x under qemu-s390x-static): a VM paused and resumed
 * with frames in flight (every stop must answer the guest's used idx, and
 * every frame comes back once, intact), and the guest's driver reset and
 * started again.  The neighbour device carries on.
 */
static void via_lifecycle(bool s390x, const char *what)
{
	const char *order = s390x ? "big" : "little";
	bool pause = !strcmp(what, "pause");
	struct drv r;

	if (!VRM_EQ(drv_start(&r, via.dir, s390x, via.vmm_a, "--legacy", "--frames", "2000",
			     pause ? "--pause-every" : "--resets", pause ? "100" : "10", NULL), 0))
		return;
	drv_wait(&r, 4 * DRIVER_WAIT_MS);
	VRM_EQ(r.status, 0);
	VRM_STREQ(r.result, "PASS");
	VRM_STREQ(r.order, order);
	VRM_EQ(r.sent, 2000);
	VRM_EQ(r.received, 2000);
	VRM_EQ(r.bad_header + r.bad_payload, 0);
	if (pause) {
		VRM_EQ(r.pauses, 20);
		VRM_EQ(r.bad_pauses, 0);
	} else {
		VRM_EQ(log_count(r.log, "RESULT: PASS"), 11);
	}
	printf("      %s, %s driver: sent=%u received=%u pauses=%u bad_pauses=%u\n", what, order,
	       r.sent, r.received, r.pauses, r.bad_pauses);
	if (!drv_log_has(&r, "RESULT: PASS") || vrm_test_verbose())
		dump_log("vu_driver", r.log);
	VRM_TRUE(peer_alive(&via.dmn));
	drv_run_pass(via.dir, false, via.vmm_b, "--legacy", "little");
}

VRM_TEST(via)
{
	if (vrm_subtest("legacy_s390x") && via_up() && want_s390x()) {
		drv_run_pass(via.dir, true, via.vmm_a, "--legacy", "big");
		VRM_TRUE(testpmd_negotiated(&via.tp_a) & BIT(VU_F_VERSION_1));
	}
	if (vrm_subtest("legacy_native") && via_up()) {
		drv_run_pass(via.dir, false, via.vmm_a, "--legacy", "little");
		VRM_TRUE(testpmd_negotiated(&via.tp_a) & BIT(VU_F_VERSION_1));
	}
	if (vrm_subtest("modern_native") && via_up()) {
		drv_run_pass(via.dir, false, via.vmm_b, "--modern", "little");
		VRM_TRUE(testpmd_negotiated(&via.tp_b) & BIT(VU_F_VERSION_1));
	}
	if (vrm_subtest("legacy_s390x_device_b") && via_up() && want_s390x())
		drv_run_pass(via.dir, true, via.vmm_b, "--legacy", "big");

	{
		static const char *const classes[] = {
			"head_out_of_range", "next_out_of_range", "chain_loop", "zero_length",
			"buffer_outside_memory", "addr_len_overflow", "write_before_read",
			"avail_idx_jump",
		};

		for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
			if (vrm_subtest("hostile_%s_native", classes[i]) && via_up())
				via_hostile(classes[i], false);
		for (size_t i = 0; i < 3; i++)
			if (vrm_subtest("hostile_%s_s390x", classes[i]) && via_up() &&
			    want_s390x())
				via_hostile(classes[i], true);
	}

	if (vrm_subtest("pause_resume_x20_s390x") && via_up() && want_s390x())
		via_lifecycle(true, "pause");
	if (vrm_subtest("pause_resume_x20_native") && via_up())
		via_lifecycle(false, "pause");
	if (vrm_subtest("driver_reset_x10_s390x") && via_up() && want_s390x())
		via_lifecycle(true, "reset");
	if (vrm_subtest("kill_9_driver") && via_up()) {
		struct drv r;

		/* Device a's VMM dies mid-session: vringmedd ends that
		 * session only; device b carries on, device a takes the
		 * next VMM. */
		if (VRM_EQ(drv_start(&r, via.dir, false, via.vmm_a, "--legacy", "--frames", "64",
				    "--hold-ms", "60000", NULL), 0)) {
			VRM_TRUE(drv_wait_line(&r, 30000));
			VRM_STREQ(r.result, "PASS");
			kill(r.pid, SIGKILL);
			drv_wait(&r, 5000);
			VRM_EQ(r.status, 128 + SIGKILL);
			VRM_TRUE(peer_log_has(&via.dmn, "device va: session ended", 5000));
			VRM_TRUE(peer_alive(&via.dmn));
			drv_run_pass(via.dir, false, via.vmm_b, "--legacy", "little");
			drv_run_pass(via.dir, false, via.vmm_a, "--legacy", "little");
		}
	}
	if (vrm_subtest("testpmd_restart_x3") && via_up()) {
		bool s390x = qemu[0] != 0;
		unsigned before = 0, after = 0;
		struct drv r;

		/* Device a's back-end is killed (kill -9) while a legacy VMM
		 * streams (big-endian, where qemu-s390x-static is there), and
		 * started again, three times: vringmedd keeps the VMM session
		 * (the driver never reconnects), connects to the new back-end
		 * and sets the rings up again at the shadow rings' positions;
		 * the frames flow again, none damaged; device b carries on. */
		if (VRM_EQ(drv_start(&r, via.dir, s390x, via.vmm_a, "--legacy", "--stream", NULL), 0)) {
			sleep_ms(1500);
			for (int round = 0; round < 3; round++) {
				int lost = log_count(via.dmn.log, "the VMM session goes on");
				int back = log_count(via.dmn.log, "rings set up again");

				before = drv_progress(&r);
				VRM_TRUE(before > after);
				peer_stop(&via.tp_a, SIGKILL);
				for (int t = 0; t < 100 && log_count(via.dmn.log,
								     "the VMM session goes on") == lost; t++)
					sleep_ms(50);
				VRM_EQ(log_count(via.dmn.log, "the VMM session goes on"), lost + 1);
				if (round == 0)
					drv_run_pass(via.dir, false, via.vmm_b, "--legacy", "little");
				unlink(via.be_a);
				VRM_EQ(testpmd_start(&via.tp_a, via.dir, via.be_a, "vta"), 0);
				for (int t = 0; t < 100 && log_count(via.dmn.log,
								     "rings set up again") == back; t++)
					sleep_ms(50);
				VRM_EQ(log_count(via.dmn.log, "rings set up again"), back + 1);
				sleep_ms(1000);
				after = drv_progress(&r);
				VRM_TRUE(after > before + 50);
				printf("      round %d: %u frames back before the kill, %u once the new "
				       "testpmd ran 1 s\n", round + 1, before, after);
			}
			kill(r.pid, SIGTERM);
			drv_wait(&r, 10000);
			VRM_EQ(r.status, 0);
			VRM_STREQ(r.result, "PASS");
			VRM_STREQ(r.order, s390x ? "big" : "little");
			VRM_EQ(r.bad_header + r.bad_payload, 0);
			VRM_TRUE(drv_log_has(&r, "reconnects=0 "));
			VRM_TRUE(testpmd_negotiated(&via.tp_a) & BIT(VU_F_VERSION_1));
			printf("      %u of %u frames back in all\n", r.received, r.sent);
			if (!drv_log_has(&r, "RESULT: PASS") || vrm_test_verbose())
				dump_log("vu_driver", r.log);
			VRM_TRUE(peer_alive(&via.dmn));
		}
	}
	if (vrm_subtest("sigterm_removes_pins") && via_up()) {
		int st = peer_stop(&via.dmn, SIGTERM);

		VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		VRM_TRUE(access(via.root, F_OK) != 0);
		VRM_TRUE(access(via.vmm_a, F_OK) != 0);
		VRM_TRUE(access(via.vmm_b, F_OK) != 0);
	}
	if (via.up && (vrm_test_verbose() || getenv("VRM_KEEP_LOGS")))
		dump_log("vringmedd", via.dmn.log);
	via_down();
}
