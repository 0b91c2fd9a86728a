// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Real peers for the tests: see peers.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "peers.h"

#define TESTPMD "/usr/bin/dpdk-testpmd"
#define QSD "/usr/bin/qemu-storage-daemon"

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int peers_tmpdir(char *dir, size_t len, const char *tag)
{
	snprintf(dir, len, "/tmp/vm-%s-XXXXXX", tag);
	return mkdtemp(dir) ? 0 : -errno;
}

void peers_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[512];

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
			unlink(p);
		}
	closedir(d);
	rmdir(dir);
}

bool have_testpmd(void)
{
	return access(TESTPMD, X_OK) == 0;
}

static pid_t spawn(struct peer *p, const char *const *argv, bool keep_stdin)
{
	int in[2] = { -1, -1 }, out;
	pid_t pid;

	out = open(p->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0 || (keep_stdin && pipe2(in, O_CLOEXEC)))
		return -1;
	pid = fork();
	if (pid == 0) {
		dup2(out, 1);
		dup2(out, 2);
		if (keep_stdin)
			dup2(in[0], 0);
		else
			close(0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out);
	if (keep_stdin) {
		close(in[0]);
		p->stdin_fd = in[1];
	} else {
		p->stdin_fd = -1;
	}
	p->pid = pid;
	return pid;
}

bool peer_alive(const struct peer *p)
{
	return p->pid > 0 && waitpid(p->pid, NULL, WNOHANG) == 0;
}

int peer_log_count(const struct peer *p, const char *needle)
{
	FILE *f = fopen(p->log, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

bool peer_log_has(const struct peer *p, const char *needle, int ms)
{
	for (int t = 0; t <= ms; t += 50) {
		if (peer_log_count(p, needle))
			return true;
		if (t < ms)
			sleep_ms(50);
	}
	return false;
}

int testpmd_start(struct peer *t, const char *dir, const char *sock, const char *prefix)
{
	char vdev[300], pfx[64];
	const char *argv[] = {
		"/usr/bin/stdbuf", "-oL", TESTPMD, "-l", "0,1", "--no-huge", "--no-pci", "-m", "256",
		"--file-prefix", pfx, "--vdev", vdev, "--log-level=lib.vhost.config:info",
		"--", "--no-mlockall", "--forward-mode=io", "--auto-start",
		"--total-num-mbufs=2048", "--stats-period=0", NULL
	};
	struct stat st;

	snprintf(pfx, sizeof(pfx), "%s-%d", prefix, (int)getpid());
	snprintf(t->runtime, sizeof(t->runtime), "/var/run/dpdk/%s", pfx);
	snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", sock);
	snprintf(t->log, sizeof(t->log), "%s/testpmd-%s.log", dir, prefix);
	unlink(sock);	/* a killed testpmd leaves its socket file behind */
	if (spawn(t, argv, true) < 0)
		return -errno;
	/* testpmd's stdout is a file, so fully buffered: the socket is the
	 * sign it is up (the vhost PMD creates it when the port starts). */
	for (int i = 0; i < 300; i++) {
		if (!stat(sock, &st) && S_ISSOCK(st.st_mode))
			return 0;
		if (!peer_alive(t))
			return -ECHILD;
		sleep_ms(50);
	}
	return -ETIMEDOUT;
}

bool have_qsd(void)
{
	return access(QSD, X_OK) == 0;
}

int qsd_start(struct peer *q, const char *dir, const char *sock, const char *disk)
{
	char file[300], exp[300];
	const char *argv[] = {
		QSD, "--blockdev", file, "--blockdev", "driver=raw,node-name=disk0,file=file0",
		"--export", exp, NULL
	};
	struct stat st;

	snprintf(file, sizeof(file), "driver=file,node-name=file0,filename=%s", disk);
	/* Eight request queues: more than a vringmedd device takes. */
	snprintf(exp, sizeof(exp), "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,"
		 "addr.path=%s,writable=on,num-queues=8", sock);
	snprintf(q->log, sizeof(q->log), "%s/qsd.log", dir);
	q->runtime[0] = 0;
	unlink(sock);
	if (spawn(q, argv, false) < 0)
		return -errno;
	for (int i = 0; i < 200; i++) {
		if (!stat(sock, &st) && S_ISSOCK(st.st_mode))
			return 0;
		if (!peer_alive(q))
			return -ECHILD;
		sleep_ms(50);
	}
	return -ETIMEDOUT;
}

int vringmedd_start(struct peer *d, const char *dir, const char *root, const char *const *args)
{
	const char *argv[32] = { ".output/vringmedd", "-p", root };
	int n = 3;
	bool ctl = false, metrics = false;

	for (int i = 0; args && args[i] && n < 26; i++) {
		metrics |= !strcmp(args[i], "-m") || !strcmp(args[i], "--metrics");
		ctl |= !strcmp(args[i], "-c") || !strcmp(args[i], "--control") ||
		       !strcmp(args[i], "-f");	/* a config file says */
		argv[n++] = args[i];
	}
	if (!ctl) {
		argv[n++] = "-c";
		argv[n++] = "none";
	}
	if (!metrics) {		/* tests run side by side: no fixed port */
		argv[n++] = "-m";
		argv[n++] = "none";
	}
	argv[n] = NULL;
	d->runtime[0] = 0;
	snprintf(d->log, sizeof(d->log), "%s/vringmedd-%d.log", dir, (int)getpid());
	for (int i = 0; i < 100 && !access(d->log, F_OK); i++)
		snprintf(d->log, sizeof(d->log), "%s/vringmedd-%d-%d.log", dir, (int)getpid(), i);
	if (spawn(d, argv, false) < 0)
		return -errno;
	/* Up to 30 s: a daemon that loads the object afresh waits for the
	 * verifier, which took 4-13 s on a machine of two CPUs busy with
	 * other builds and tests.  How fast it starts is not what these
	 * tests check (test_ops and test_soak time the restarts). */
	for (int i = 0; i < 600; i++) {
		if (peer_log_has(d, "vringmedd ready", 0))
			return 0;
		if (!peer_alive(d))
			return -ECHILD;
		sleep_ms(50);
	}
	return -ETIMEDOUT;
}

int peer_stop(struct peer *p, int sig)
{
	int status = -1;

	if (p->pid <= 0)
		return -1;
	kill(p->pid, sig);
	for (int i = 0; i < 100; i++) {
		if (waitpid(p->pid, &status, WNOHANG) == p->pid)
			goto out;
		sleep_ms(50);
	}
	kill(p->pid, SIGKILL);
	waitpid(p->pid, &status, 0);
out:
	if (p->runtime[0]) {
		peers_rmdir(p->runtime);
		p->runtime[0] = 0;
	}
	if (p->stdin_fd >= 0)
		close(p->stdin_fd);
	p->stdin_fd = -1;
	p->pid = 0;
	return status;
}

int peer_nfds(const struct peer *p)
{
	char path[64];
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)p->pid);
	d = opendir(path);
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

unsigned long long testpmd_negotiated(const struct peer *t)
{
	FILE *f = fopen(t->log, "r");
	unsigned long long v = 0;
	char line[1024];

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "negotiated Virtio features: 0x");

		if (s)
			v = strtoull(s + strlen("negotiated Virtio features: "), NULL, 16);
	}
	fclose(f);
	return v;
}
