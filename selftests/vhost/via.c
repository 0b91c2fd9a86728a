// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vu_driver through vringmedd on testpmd: the big-endian legacy guest
 * works, through hostile guests, pauses, resets and back-end restarts. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <vringmed/vhost_user.h>

#include "peers.h"
#include "test.h"
#include "vhost_test.h"

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
		/* Each reset moved the rings and RX buffers: nothing written
		 * where they were. */
		VRM_EQ(r.stray_writes, 0);
	}
	printf("      %s, %s driver: sent=%u received=%u pauses=%u bad_pauses=%u stray_writes=%u\n",
	       what, order, r.sent, r.received, r.pauses, r.bad_pauses, r.stray_writes);
	if (!drv_log_has(&r, "RESULT: PASS") || vrm_test_verbose())
		dump_log("vu_driver", r.log);
	VRM_TRUE(peer_alive(&via.dmn));
	drv_run_pass(via.dir, false, via.vmm_b, "--legacy", "little");
}

/* The big-endian legacy driver on device a with up to four more arguments
 * (NULL past the last): every one of `frames` frames back whole, and its
 * log says `log_has`. */
static bool via_s390x_pass(unsigned frames, const char *log_has, const char *a0, const char *a1,
			   const char *a2, const char *a3)
{
	char n[16];
	struct drv r;
	bool ok;

	snprintf(n, sizeof(n), "%u", frames);
	for (int run = 1;; run++) {
		if (!VRM_EQ(drv_start(&r, via.dir, true, via.vmm_a, "--legacy", "--frames", n, a0,
				      a1, a2, a3, NULL), 0))
			return false;
		drv_wait(&r, DRIVER_WAIT_MS);
		if (run > 1 || !drv_not_ready(&r, log_has))
			break;
	}
	ok = VRM_EQ(r.status, 0);
	ok &= VRM_STREQ(r.result, "PASS");
	ok &= VRM_STREQ(r.order, "big");
	ok &= VRM_EQ(r.received, frames);
	ok &= VRM_EQ(r.bad_header + r.bad_payload, 0);
	ok &= VRM_TRUE(drv_log_has(&r, log_has));
	if (!ok || vrm_test_verbose())
		dump_log("vu_driver", r.log);
	if (!ok) {
		dump_log("vringmedd", via.dmn.log);
		dump_log("testpmd", via.tp_a.log);
	}
	return ok;
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
	/* The big-endian driver sends every frame behind an indirect
	 * descriptor: vringmedd offers INDIRECT_DESC (testpmd's), translates
	 * each table, and testpmd serves the shadow tables. */
	if (vrm_subtest("legacy_s390x_indirect") && via_up() && want_s390x() &&
	    via_s390x_pass(256, "indirect_desc=1 tx_tables=256", "--indirect", NULL, NULL, NULL))
		VRM_TRUE(testpmd_negotiated(&via.tp_a) & BIT(VU_F_INDIRECT_DESC));
	/* Rings of 1024 (rx_queue_size/tx_queue_size, as OpenStack sets them)
	 * with tables of 19 entries, what Linux's virtio-net fills for a TSO
	 * frame (MAX_SKB_FRAGS + 2): each head's table room holds them, up to
	 * the last head's.  As many frames as the driver posts RX buffers
	 * (512), so none needs a buffer posted again: testpmd drops a frame
	 * that finds no buffer, and a buffer the driver posts again may not
	 * be translated yet when testpmd forwards the frame its return let
	 * the driver send. */
	if (vrm_subtest("legacy_s390x_ring_1024_tables_of_19") && via_up() && want_s390x())
		via_s390x_pass(512, "indirect_desc=1 tx_tables=512", "--ring", "1024",
			       "--indirect-entries", "19");
	/* Without MRG_RXBUF a legacy RX header is 10 bytes, and the driver's
	 * buffers hold header and frame in one descriptor (as Linux's small
	 * buffers do): vringmedd gives testpmd each as a table of a 12-byte
	 * header slot and the rest, so every frame lands 10 bytes in. */
	if (vrm_subtest("legacy_s390x_no_mrg_rxbuf") && via_up() && want_s390x() &&
	    via_s390x_pass(256, "mrg_rxbuf=0", "--no-mrg-rxbuf", NULL, NULL, NULL))
		VRM_TRUE(testpmd_negotiated(&via.tp_a) & BIT(VU_F_INDIRECT_DESC));

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
