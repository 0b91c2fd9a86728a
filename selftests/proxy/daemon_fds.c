// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A failure costs the daemon no fd and no signal. */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "proxy_test.h"

/* The link /proc/PID/fd/N names, or "" when N is not open. */
static void fd_link(pid_t pid, int fd, char *out, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, out, len - 1);
	out[n > 0 ? n : 0] = 0;
}

/* A `device add` that fails before its socket exists (the VMM path is a
 * plain file) closes nothing of the daemon's.  (It closed fd 0, whatever
 * the daemon held there: calloc's 0 stood for "no listening socket".) */
VRM_TEST(failed_add_closes_nothing)
{
	char plain[160], cmd[400], buf[512], before[256], after[256];
	FILE *f;

	if (!vrm_subtest("fd_0_stays") || !bring_up())
		return;
	snprintf(plain, sizeof(plain), "%s/not-a-socket", dir);
	f = fopen(plain, "w");
	if (!VRM_TRUE(f != NULL))
		return;
	fclose(f);
	fd_link(dmn.pid, 0, before, sizeof(before));
	VRM_TRUE(before[0] != 0);	/* the daemon holds something at 0 */
	snprintf(cmd, sizeof(cmd), "device add netx,vmm=%s,backend=%s", plain, be_a);
	VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
	VRM_TRUE(strstr(buf, "\"error\"") != NULL);
	fd_link(dmn.pid, 0, after, sizeof(after));
	VRM_STREQ(after, before);
	VRM_TRUE(peer_alive(&dmn));
	unlink(plain);
}

/* vringmedd whose signalfd cannot be made (a descriptor limit that leaves
 * none for it) says so and exits, rather than run deaf to SIGTERM or fail
 * later with another object's error. */
VRM_TEST(signalfd_failure)
{
	char log[160], r2[96], line[512];
	bool said = false;
	pid_t pid;
	int st = 0;
	FILE *f;

	if (!vrm_subtest("said_and_exits") || !bring_up())
		return;
	snprintf(log, sizeof(log), "%s/signalfd.log", dir);
	snprintf(r2, sizeof(r2), "/sys/fs/bpf/vringmed-sfd-%d", (int)getpid());
	pid = fork();
	if (pid == 0) {
		/* 0-2 open, then epoll (3) and the pin root's lock (4): the
		 * signalfd would be the fifth. */
		struct rlimit rl = { 5, 5 };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		int nul = open("/dev/null", O_RDONLY);

		if (fd < 0 || nul < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ||
		    (nul != 0 && dup2(nul, 0) < 0))
			_exit(126);
		for (int i = 3; i < 64; i++)
			close(i);
		if (setrlimit(RLIMIT_NOFILE, &rl))
			_exit(126);
		execl(".output/vringmedd", "vringmedd", "-p", r2, "-c", "none", "-m", "none",
		      NULL);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	f = fopen(log, "r");
	while (f && fgets(line, sizeof(line), f))
		said |= strstr(line, "cannot create a signalfd") != NULL;
	if (f)
		fclose(f);
	VRM_TRUE(said);
	rmdir(r2);
}
