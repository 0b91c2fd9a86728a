// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vringmedd's pins: adopted by another process, kept by a crash,
 * removed by a clean exit. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>

#include "test.h"
#include "rig.h"
#include "loader.h"
#include "bpf_test.h"

/* ---- vringmedd: pins, adoption after a crash, clean exit ---- */

VRM_TEST(daemon)
{
	char root[96], link[160];
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true };
	struct rig r = { .name = "native", .big_endian = 0, .slot = 12 };
	struct vrm_qstats st1, st2;
	FILE *out;
	pid_t pid;
	int status = -1;

	if (!vrm_subtest("crash_adopt_clean_exit") || !bpf())
		return;
	snprintf(root, sizeof(root), "/sys/fs/bpf/vringmed-test-%d", (int)getpid());
	snprintf(link, sizeof(link), "%s/link_%s", root, write_prog());
	pid = daemon_start(root, &out);
	if (!VRM_TRUE(pid > 0))
		return;
	VRM_TRUE(access(link, F_OK) == 0);
	/* This process adopts the daemon's pinned maps and links, as a second
	 * tool (vringmedctl) or a restarted daemon would. */
	o.pin_root = root;
	if (!VRM_EQ(vrm_bpf_load(&T, &o), 0)) {
		daemon_reap(pid, out, SIGTERM, &status);
		return;
	}
	VRM_TRUE(T.adopted);
	if (VRM_EQ(rig_start(&T, &r), 0)) {
		kick_ok(&r, 3);
		/* A crash leaves everything pinned and translating. */
		daemon_reap(pid, out, SIGKILL, &status);
		VRM_TRUE(access(link, F_OK) == 0);
		VRM_EQ(vrm_bpf_read_stats(&T, r.qslot, &st1), 0);
		kick_ok(&r, 4);
		VRM_EQ(vrm_bpf_read_stats(&T, r.qslot, &st2), 0);
		VRM_EQ(st2.chains, st1.chains + 4);
		/* The restarted daemon adopts; counters carry on. */
		pid = daemon_start(root, &out);
		if (VRM_TRUE(pid > 0)) {
			kick_ok(&r, 5);
			VRM_EQ(vrm_bpf_read_stats(&T, r.qslot, &st1), 0);
			VRM_EQ(st1.chains, 12);
			VRM_EQ(st1.kicks, 3);
			daemon_reap(pid, out, SIGTERM, &status);
			VRM_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
			VRM_TRUE(access(root, F_OK) != 0);	/* a clean exit unpins all */
		}
	} else {
		daemon_reap(pid, out, SIGTERM, &status);
	}
	rig_stop(&T, &r);
	vrm_bpf_close(&T);
}
