// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vu_driver straight on testpmd: a modern guest works, a big-endian legacy
 * one cannot. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <vringmed/vhost_user.h>

#include "peers.h"
#include "test.h"
#include "vhost_test.h"

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
