/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Real peers for the tests: dpdk-testpmd with a vhost-user port (the modern
 * back-end) and vringmedd (the proxy), each started as a child process with
 * its output captured to a log file, and stopped by PID.
 */
#ifndef VRINGMED_PEERS_H
#define VRINGMED_PEERS_H

#include <stdbool.h>
#include <sys/types.h>

struct peer {
	pid_t pid;
	int stdin_fd;		/* testpmd: kept open, it quits on EOF */
	char log[256];		/* its stdout + stderr */
	char runtime[128];	/* testpmd: its /var/run/dpdk/<prefix>, removed at stop */
};

/* A private temporary directory for sockets and logs: "/tmp/vm-<tag>-XXXXXX". */
int peers_tmpdir(char *dir, size_t len, const char *tag);
void peers_rmdir(const char *dir);

/* dpdk-testpmd, io forwarding, vhost-user server socket `sock`; waits until
 * the socket exists.  0 or -errno (the log says why). */
int testpmd_start(struct peer *t, const char *dir, const char *sock, const char *prefix);
/* qemu-storage-daemon exporting the raw image `disk` as a writable
 * vhost-user-blk server at `sock` (the modern-only block back-end); waits
 * until the socket exists.  0 or -errno (the log says why). */
int qsd_start(struct peer *q, const char *dir, const char *sock, const char *disk);
bool have_qsd(void);
/* vringmedd with the given extra arguments (NULL-terminated), pin root
 * `root`, no control socket unless the args name one; waits for "ready". */
int vringmedd_start(struct peer *d, const char *dir, const char *root, const char *const *args);
/* Sends `sig`, waits up to 5 s, then SIGKILLs.  Returns the wait status. */
int peer_stop(struct peer *p, int sig);
bool peer_alive(const struct peer *p);
/* Whether `needle` occurs in the peer's log (waits up to `ms`). */
bool peer_log_has(const struct peer *p, const char *needle, int ms);
/* Lines of its log holding needle, now. */
int peer_log_count(const struct peer *p, const char *needle);
/* Number of open fds of the peer (/proc/PID/fd), or -1. */
int peer_nfds(const struct peer *p);
/* The negotiated features testpmd's vhost library logged last, or 0. */
unsigned long long testpmd_negotiated(const struct peer *t);
bool have_testpmd(void);

#endif
