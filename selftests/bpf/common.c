// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The translation core inside the running kernel: the real BPF object,
 * loaded and attached.  Deterministic cases through BPF_PROG_TEST_RUN, a
 * differential run against the userspace reference, and real kicks from a
 * legacy driver process (native and s390x under qemu-s390x-static) through
 * write(eventfd), with a backend process blocked in read() on that eventfd.
 *
 * The tests are in this folder, one subject a file, run in the order the
 * Makefile lists the files; this file holds what several of them use.
 * They share one loaded object, B (loading and attaching it once a test
 * would multiply the run time); each test sets up the device slots it
 * uses afresh (bfx_setup, rig_start) and leaves them inactive.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "test.h"
#include "bfx.h"
#include "rig.h"
#include "loader.h"
#include "bpf_test.h"

const char *vrm_test_suite = "test_bpf";

/* A queue in the maps of the object the tests share (testlib/bfx.h). */
void bfx_setup(struct bfx *f, uint32_t slot, uint16_t size, int be)
{
	if (bfx_init(f, &B, slot, size, be, 1 << 20))
		abort();
}

uint32_t bkick(struct bfx *f, uint32_t *chains)
{
	struct vrm_test_args a;

	if (!VRM_EQ(vrm_bpf_test_kick(&B, f->qslot, &a), 0))
		return ~0u;
	if (chains)
		*chains = a.chains;
	return a.verdict;
}

const char *order_name(int be)
{
	return be ? "be" : "le";
}

struct vrm_bpf *bpf_tk(void)
{
	struct vrm_bpf *b = bpf();

	if (b && !b->have_rdonly_cast) {
		vrm_skip("vrm_test_kick is not loaded before Linux 6.2 (its frame is 32 bytes "
			 "over that verifier's stack rule); the real kicks cover this kernel");
		return NULL;
	}
	return b;
}

const char *write_prog(void)
{
	return bpf() && !B.have_rdonly_cast ? "vrm_tp_write_pre62" : "vrm_tp_write";
}

/* One kick of n chains: the backend woke to exactly the new chains, all
 * intact. */
void kick_ok(struct rig *r, unsigned n)
{
	unsigned kicked, seen;
	int bad;

	if (!VRM_CHECK(rig_kick(r, n, &kicked, &seen, &bad) == 0, "%s: driver or backend died",
		      r->name))
		return;
	VRM_EQ(kicked, r->expect_idx);
	VRM_EQ(seen, r->expect_idx);
	VRM_EQ(bad, 0);
}

pid_t daemon_start(const char *root, FILE **out)
{
	int p[2];
	pid_t pid;
	char line[128];

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		close(p[0]);
		execl(".output/vringmedd", "vringmedd", "-q", "-c", "none", "-m", "none", "-p", root,
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	*out = fdopen(p[0], "r");
	if (!fgets(line, sizeof(line), *out) || strncmp(line, "vringmedd ready", 15)) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		fclose(*out);
		return -1;
	}
	return pid;
}

void daemon_reap(pid_t pid, FILE *out, int sig, int *status)
{
	kill(pid, sig);
	waitpid(pid, status, 0);
	fclose(out);
}
