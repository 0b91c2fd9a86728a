// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A VMM that shrinks the guest's memory under the daemon, or stops reading. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <vringmed/byteorder.h>
#include <vringmed/vhost_user.h>

#include "test.h"
#include "proxy.h"
#include "proxy_test.h"

/* Guest memory of MEM_SIZE bytes as a VMM may hand it over: a memfd that
 * allows sealing and is not sealed, one sealed as QEMU's
 * memory-backend-memfd seals it, one that cannot be sealed, a file. */
enum guest_mem { MEM_SEALABLE, MEM_SEALED, MEM_UNSEALABLE, MEM_FILE };

static int guest_mem(enum guest_mem kind)
{
	char path[160];
	int fd;

	if (kind == MEM_FILE) {
		snprintf(path, sizeof(path), "%s/guest-ram", dir);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		unlink(path);
	} else {
		fd = memfd_create("vmm-guest", MFD_CLOEXEC |
				  (kind == MEM_UNSEALABLE ? 0 : MFD_ALLOW_SEALING));
	}
	if (fd >= 0 && (ftruncate(fd, MEM_SIZE) ||
			(kind == MEM_SEALED &&
			 fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)))) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * A VMM shrinks the memory file it handed over: a memfd that can
 * be sealed is sealed against it, so the truncation fails; one that cannot,
 * or a file, is truncated under the daemon, whose next access to it raises
 * SIGBUS: that device breaks, says why, and the daemon, the other device and
 * the control socket carry on.  (The daemon died of the SIGBUS, every device
 * with it.)
 */
VRM_TEST(guest_memory_shrinks)
{
	static const struct {
		const char *name;
		enum guest_mem kind;
	} shrunk[] = {
		{ "unsealable_memfd_truncated", MEM_UNSEALABLE },
		{ "file_truncated", MEM_FILE },
	};
	struct vmm v = { .sock = -1 }, b = { .sock = -1 };
	int seals;

	if (vrm_subtest("sealable_memfd_is_sealed") && bring_up()) {
		if (!peer_alive(&tp_a))
			VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa3"), 0);
		VRM_EQ(vmm_start_fd(&v, vmm_a, VRM_ORDER_BE, guest_mem(MEM_SEALABLE)), 0);
		seals = fcntl(v.memfd, F_GET_SEALS);
		VRM_CHECK(seals >= 0 && (seals & F_SEAL_SHRINK), "seals 0x%x: no F_SEAL_SHRINK", seals);
		/* Only once sealed: unsealed, the truncation would be the test
		 * below, and kill an unguarded daemon. */
		if (seals >= 0 && (seals & F_SEAL_SHRINK)) {
			VRM_TRUE(ftruncate(v.memfd, 0) < 0 && errno == EPERM);
			VRM_TRUE(ftruncate(v.memfd, 2 * MEM_SIZE) == 0);	/* growing is the VMM's */
		}
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
		vmm_stop(&v);
	}
	if (vrm_subtest("sealed_memfd_taken") && bring_up()) {
		VRM_EQ(vmm_start_fd(&v, vmm_a, VRM_ORDER_LE, guest_mem(MEM_SEALED)), 0);
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
		vmm_stop(&v);
	}
	for (size_t i = 0; i < sizeof(shrunk) / sizeof(shrunk[0]); i++) {
		uint16_t nb = 0;

		if (!vrm_subtest("%s", shrunk[i].name) || !bring_up())
			continue;
		/* Nothing of the rest without both sessions: it writes their
		 * rings. */
		if (!VRM_EQ(vmm_start(&b, vmm_b, VRM_ORDER_LE), 0) ||
		    !VRM_EQ(vmm_start_fd(&v, vmm_a, VRM_ORDER_BE, guest_mem(shrunk[i].kind)), 0)) {
			vmm_stop(&v);
			vmm_stop(&b);
			continue;
		}
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_TRUE(peer_log_has(&dmn, "cannot be sealed against shrinking", 2000));
		/* A chain posted, then the memory taken away, then the kick:
		 * BPF's read faults, the daemon's too (and its tick's look at
		 * the ring would, with no kick at all). */
		vmm_tx_post(&v, 0, false, false);
		VRM_EQ(ftruncate(v.memfd, 0), 0);
		VRM_EQ(write(v.kick[1], &(uint64_t){ 1 }, 8), 8);
		VRM_TRUE(peer_log_has(&dmn, "device neta: guest memory faulted (SIGBUS", 2000));
		VRM_TRUE(peer_alive(&dmn));
		VRM_TRUE(device_has("neta", "\"state\":\"broken\""));
		VRM_TRUE(device_has("neta", "guest memory faulted"));
		VRM_TRUE(ctl_answers_fast());
		for (int k = 0; k < 4; k++)
			vmm_tx(&b, nb++);
		VRM_EQ(vmm_tx_used(&b, nb, 2000), nb);
		VRM_TRUE(device_has("netb", "\"state\":\"running\""));
		vmm_stop(&v);
		vmm_stop(&b);
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		VRM_TRUE(peer_alive(&dmn));
	}
}

/* GET_FEATURES requests on `s`, never reading a reply, until the daemon
 * stops taking them (for 300 ms): its replies filled the socket back to us
 * and it sits in a send. */
static int flood_get_features(int s)
{
	const uint8_t req[VU_HDR_SIZE] = { VU_GET_FEATURES, 0, 0, 0, VU_VERSION, 0, 0, 0 };
	struct pollfd pf = { .fd = s, .events = POLLOUT };
	int n = 0;

	while (n < 100000) {
		if (send(s, req, sizeof(req), MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof(req))
			n++;
		else if (errno != EAGAIN || poll(&pf, 1, 300) != 1)
			break;
	}
	return n;
}

/* Adds neta back (its abandoned thread may take a moment to end). */
static bool neta_back(void)
{
	char cmd[400], buf[512];

	snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s", vmm_a, be_a);
	for (int t = 0; t < 80; t++) {
		if (!ctl_query(cmd, buf, sizeof(buf)) && strstr(buf, "\"ok\""))
			return true;
		usleep(100000);
	}
	return false;
}

/*
 * A VMM that sends requests and never reads the replies: the
 * device's thread blocks in a send.  `device del` of it answers within a
 * second all the same (its thread is abandoned, and ends when it can), the
 * control socket answers, the other device's traffic goes on; and left
 * alone, such a session ends by itself once a reply waited
 * VRP_VMM_TIMEOUT.  (The thread blocked for ever, and `device del` and
 * SIGTERM, joining it, froze the daemon's main thread with it.)
 */
VRM_TEST(vmm_stops_reading)
{
	struct vmm b = { .sock = -1 };
	char buf[8192];
	uint64_t t0;
	uint16_t nb = 0;
	int s = -1, n;

	if (vrm_subtest("device_del_within_1s") && bring_up()) {
		if (!peer_alive(&tp_a))
			VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa4"), 0);
		VRM_EQ(vmm_start(&b, vmm_b, VRM_ORDER_LE), 0);
		s = vmm_connect(vmm_a);
		VRM_TRUE(s >= 0 && device_has("neta", "\"state\":\"negotiating\""));
		n = flood_get_features(s);
		printf("      %d requests sent, none read back\n", n);
		t0 = mono_ms();
		VRM_EQ(ctl_query("device del neta", buf, sizeof(buf)), 0);
		VRM_CHECK(strstr(buf, "\"ok\"") != NULL, "device del answered '%s'", buf);
		VRM_CHECK(mono_ms() - t0 < 1000, "device del took %llu ms",
			 (unsigned long long)(mono_ms() - t0));
		VRM_TRUE(ctl_answers_fast());
		VRM_TRUE(peer_log_has(&dmn, "device neta: its thread did not end its session", 1000));
		for (int k = 0; k < 4; k++)
			vmm_tx(&b, nb++);
		VRM_EQ(vmm_tx_used(&b, nb, 2000), nb);
		close(s);	/* its send fails, its thread ends, the slot comes back */
		s = -1;
		VRM_TRUE(neta_back());
		VRM_TRUE(peer_log_has(&dmn, "device neta: its abandoned thread ended", 2000));
		vmm_stop(&b);
	}
	if (vrm_subtest("session_ends_by_itself") && bring_up()) {
		s = vmm_connect(vmm_a);
		VRM_TRUE(s >= 0 && device_has("neta", "\"state\":\"negotiating\""));
		flood_get_features(s);
		t0 = mono_ms();
		VRM_TRUE(peer_log_has(&dmn, "device neta: GET_FEATURES failed: Resource temporarily "
				     "unavailable", 5000));
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
		printf("      the session ended %llu ms after the flood\n",
		       (unsigned long long)(mono_ms() - t0));
		VRM_TRUE(ctl_answers_fast());
	}
	if (s >= 0)
		close(s);
	vmm_stop(&b);
	VRM_TRUE(peer_alive(&dmn));
}

/* A VMM's hang-up and a back-end's call in the same epoll_wait(): the
 * hang-up's teardown closes the queue's call fd and clears its vrm_ev, and
 * the call's event, already taken, must not reach the cleared handler (it
 * did: a NULL call, the daemon dead with a SIGSEGV, when a VMM was killed
 * mid-traffic).  Each handler here ends the other's registration as that
 * teardown does; whichever the batch has first, the other is dropped. */
static int disp_epfd, disp_ran[2];
static struct vrm_ev disp_ev[2];

static void disp_on(struct vrm_ev *ev, uint32_t events)
{
	struct vrm_ev *other = &disp_ev[!ev->arg];

	(void)events;
	disp_ran[ev->arg]++;
	vrm_ev_del(disp_epfd, other);
	close(other->fd);
	memset(other, 0, sizeof(*other));
	other->fd = -1;
}

VRM_TEST(ev_dispatch_drops_ended_registrations)
{
	struct epoll_event evs[4];
	uint64_t one = 1;
	int n;

	if (!vrm_subtest("hangup_and_call_in_one_batch"))
		return;
	disp_epfd = epoll_create1(EPOLL_CLOEXEC);
	VRM_TRUE(disp_epfd >= 0);
	for (int i = 0; i < 2; i++) {
		disp_ev[i] = (struct vrm_ev){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
					      .fn = disp_on, .arg = i };
		VRM_TRUE(disp_ev[i].fd >= 0);
		VRM_EQ(vrm_ev_add(disp_epfd, &disp_ev[i], EPOLLIN), 0);
		VRM_EQ(write(disp_ev[i].fd, &one, sizeof(one)), sizeof(one));
	}
	n = epoll_wait(disp_epfd, evs, 4, 1000);
	VRM_EQ(n, 2);
	vrm_ev_dispatch(evs, n);
	VRM_EQ(disp_ran[0] + disp_ran[1], 1);
	for (int i = 0; i < 2; i++)
		if (disp_ev[i].fd >= 0)
			close(disp_ev[i].fd);
	close(disp_epfd);
}
