// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The keeper: a copy of each device's connections, let go of only once the
 * back-end has stopped its rings (keeper.h). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <vringmed/abi.h>

#include "clock.h"
#include "keeper.h"
#include "log.h"
#include "vu_wire.h"

/* How long a back-end has, all of them together, to stop its rings once the
 * daemon is gone; one that does not answer is let go of then anyway. */
#define VRM_KEEPER_STOP_MS	2000

struct vrm_keep_msg {
	uint32_t slot;
	uint32_t be_rings;
	uint32_t have;		/* bit 0: a VMM fd follows, bit 1: a back-end fd */
};
#define VRM_KEEP_VMM		1u
#define VRM_KEEP_BE		2u

static atomic_int keeper_fd = -1;
static int keeper_pid;

/* ---- the keeper's side ------------------------------------------------ */

struct vrm_kept {
	int vmm, be;
	uint32_t rings, pending;
};

static void kept_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* One message from the daemon: 1, or 0 when the daemon is gone. */
static int keeper_take(int sock, struct vrm_kept *k)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct vrm_keep_msg m;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	int fds[2] = { -1, -1 }, nfds = 0;
	ssize_t n;

	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < 2)
				fds[nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n != sizeof(m) || m.slot >= VRM_MAX_DEVICES) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return 1;
	}
	k += m.slot;
	kept_close(&k->vmm);
	kept_close(&k->be);
	nfds = 0;
	if (m.have & VRM_KEEP_VMM)
		k->vmm = fds[nfds++];
	if (m.have & VRM_KEEP_BE)
		k->be = fds[nfds++];
	for (; nfds < 2; nfds++)
		if (fds[nfds] >= 0)
			close(fds[nfds]);
	k->rings = m.be_rings;
	return 1;
}

/* The daemon is gone: each back-end stops the rings it may be using, and
 * only then does any connection close. */
static void keeper_let_go(struct vrm_kept *k)
{
	uint64_t t0 = vrm_now_ms(), deadline = t0 + VRM_KEEPER_STOP_MS;
	unsigned asked = 0, stopped = 0;

	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++) {
		for (unsigned r = 0; k[s].be >= 0 && r < 32; r++) {
			struct vu_msg req;

			if (!(k[s].rings & (1u << r)))
				continue;
			vu_msg_state(&req, VU_GET_VRING_BASE, r, 0);
			if (vu_send(k[s].be, &req))
				break;
			k[s].pending++;
			asked++;
		}
	}
	for (uint64_t now = t0; stopped < asked && now < deadline; now = vrm_now_ms()) {
		struct pollfd pf[VRM_MAX_DEVICES];
		unsigned slot[VRM_MAX_DEVICES], n = 0;

		for (unsigned s = 0; s < VRM_MAX_DEVICES; s++) {
			if (k[s].be >= 0 && k[s].pending) {
				pf[n] = (struct pollfd){ .fd = k[s].be, .events = POLLIN };
				slot[n++] = s;
			}
		}
		if (poll(pf, n, (int)(deadline - now)) <= 0)
			continue;
		for (unsigned i = 0; i < n; i++) {
			struct vrm_kept *e = &k[slot[i]];
			struct vu_msg rep;

			if (!pf[i].revents)
				continue;
			/* Whatever else comes first (the answer to the daemon's
			 * last request) is passed over.  A back-end that hangs
			 * up has stopped its rings too. */
			if (vu_recv(e->be, &rep) <= 0) {
				stopped += e->pending;
				e->pending = 0;
				continue;
			}
			vu_msg_close_fds(&rep);
			if (rep.request == VU_GET_VRING_BASE && (rep.flags & VU_FLAG_REPLY)) {
				e->pending--;
				stopped++;
			}
		}
	}
	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++)
		kept_close(&k[s].be);
	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++)
		kept_close(&k[s].vmm);
	if (asked)
		pr_info("keeper: vringmedd is gone: %u of %u back-end rings stopped in %llu ms, "
			"then the VMM connections let go\n", stopped, asked,
			(unsigned long long)(vrm_now_ms() - t0));
}

static void __attribute__((noreturn)) keeper_main(int sock)
{
	static struct vrm_kept kept[VRM_MAX_DEVICES];
	struct rlimit rl = { 1024, 1024 };
	int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGUSR1, SIGUSR2 };

	/* Nothing of the daemon's but the socket to it: a lock or a
	 * listening socket held here would outlive the daemon. */
	getrlimit(RLIMIT_NOFILE, &rl);
	for (int fd = 3; fd < (int)(rl.rlim_cur < 65536 ? rl.rlim_cur : 65536); fd++)
		if (fd != sock)
			close(fd);
	/* A stop of the whole unit (SIGTERM to every process) reaches the
	 * daemon, whose end is what ends this. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_IGN);
	prctl(PR_SET_NAME, "vringmedd-keep");
	for (unsigned s = 0; s < VRM_MAX_DEVICES; s++)
		kept[s] = (struct vrm_kept){ .vmm = -1, .be = -1 };
	while (keeper_take(sock, kept))
		;
	keeper_let_go(kept);
	_exit(0);
}

/* ---- the daemon's side ------------------------------------------------ */

int vrm_keeper_start(void)
{
	int sp[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp))
		return -errno;
	pid = fork();
	if (pid < 0) {
		int err = -errno;

		close(sp[0]);
		close(sp[1]);
		return err;
	}
	if (!pid) {
		close(sp[0]);
		keeper_main(sp[1]);
	}
	close(sp[1]);
	keeper_pid = pid;
	atomic_store(&keeper_fd, sp[0]);
	return 0;
}

int vrm_keeper_pid(void)
{
	return atomic_load(&keeper_fd) >= 0 ? keeper_pid : 0;
}

void vrm_keeper_hold(uint32_t slot, int vmm_fd, int be_fd, uint32_t be_rings)
{
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct vrm_keep_msg m = { .slot = slot, .be_rings = be_rings,
				  .have = (vmm_fd >= 0 ? VRM_KEEP_VMM : 0) |
					  (be_fd >= 0 ? VRM_KEEP_BE : 0) };
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fd = atomic_load(&keeper_fd), fds[2], n = 0;

	if (fd < 0)
		return;
	if (vmm_fd >= 0)
		fds[n++] = vmm_fd;
	if (be_fd >= 0)
		fds[n++] = be_fd;
	if (n) {
		struct cmsghdr *c;

		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	while (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR)
			continue;
		if (atomic_exchange(&keeper_fd, -1) >= 0) {
			pr_warn("the keeper (pid %d) is gone (%s): from now on a crash of this "
				"daemon may let a VMM take back chains its back-end still uses\n",
				keeper_pid, strerror(errno));
			close(fd);
		}
		return;
	}
}
