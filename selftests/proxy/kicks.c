// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Kicks no BPF program sees, and the kick and call fds a VMM hands over. */
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

#include <vringmed/byteorder.h>
#include "ksignal.h"

#include "test.h"
#include "vu_wire.h"
#include "proxy_test.h"

/* The kick path of neta as the daemon tells it, e.g. "userspace". */
static bool kick_path_is(const char *path)
{
	char needle[64];

	snprintf(needle, sizeof(needle), "\"kick_path\":\"%s\"", path);
	return device_has("neta", needle);
}

/* The metrics line `vringmed_kick_path{device="neta",path=P} V`. */
static bool metric_kick_path(const char *path, int want)
{
	char cmd[128], line[512], needle[96];
	bool hit = false;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "curl -s --max-time 2 http://127.0.0.1:%d/metrics", metrics_port);
	snprintf(needle, sizeof(needle), "vringmed_kick_path{device=\"neta\",path=\"%s\"} %d\n",
		 path, want);
	/* The exporter learns it from the daemon's main loop: a turn later. */
	for (int t = 0; t < 20 && !hit; t++) {
		f = popen(cmd, "r");
		if (!f)
			return false;
		while (fgets(line, sizeof(line), f))
			hit |= !strcmp(line, needle);
		pclose(f);
		if (!hit)
			usleep(100000);
	}
	return hit;
}

/*
 * Kicks no hook of this host sees (fentry is refused here): one the kernel
 * signals (io_uring; where fentry is allowed, BPF sees it and the device
 * stays on its path), and one written by a process that is not the VMM.
 * On the BPF path the back-end would wake to an untranslated shadow ring
 * and the device would stall without a word; the device must notice, say so
 * (log, device list, metric) and go on in userspace.  And kick=userspace,
 * configured, from the first ring on.
 */
VRM_TEST(unseen_kicks)
{
	struct vmm v = { .sock = -1 };
	char cmd[400], buf[512];
	uint16_t n = 0;
	struct ebe e = { .running = false };

	if (vrm_subtest("kernel_signalled") && ebe_session(&e, &v)) {
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		VRM_TRUE(kick_path_is("bpf"));
		if (!peer_log_has(&dmn, "fentry unavailable here", 0)) {
			/* A host that allows fentry: BPF sees the kernel's
			 * signal too, and the device stays where it is. */
			for (int k = 0; k < 4; k++) {
				vmm_tx_post(&v, n++, false, false);
				VRM_EQ(kernel_signal(v.kick[1]), 0);
				VRM_EQ(vmm_tx_used(&v, n, 2000), n);
			}
			VRM_TRUE(kick_path_is("bpf"));
			VRM_TRUE(metric_kick_path("bpf", 1));
			printf("      %u frames back; fentry took the kernel-signalled kicks in BPF\n", n);
			goto kernel_done;
		}
		vmm_tx_post(&v, n++, false, false);
		VRM_EQ(kernel_signal(v.kick[1]), 0);
		VRM_EQ(vmm_tx_used(&v, n, 3000), n);
		VRM_TRUE(kick_path_is("userspace"));
		VRM_TRUE(device_has("neta", "no kick reached BPF"));
		VRM_TRUE(peer_log_has(&dmn, "device neta: kicks mediated in userspace from now on", 1000));
		VRM_TRUE(metric_kick_path("userspace", 1));
		VRM_TRUE(metric_kick_path("bpf", 0));
		/* It stays there: ordinary kicks and kernel ones alike. */
		for (int k = 0; k < 4; k++) {
			vmm_tx_post(&v, n++, false, k & 1);
			if (!(k & 1))
				VRM_EQ(kernel_signal(v.kick[1]), 0);
			VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		}
		printf("      %u frames back; the kernel-signalled kick moved neta to userspace\n", n);
	}
kernel_done:
	if (e.running)
		ebe_session_end(&e, &v);
	n = 0;
	if (vrm_subtest("foreign_process") && ebe_session(&e, &v)) {
		pid_t pid;
		int st;

		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		VRM_TRUE(kick_path_is("bpf"));
		vmm_tx_post(&v, n++, false, false);
		pid = fork();
		if (pid == 0)
			_exit(write(v.kick[1], &(uint64_t){ 1 }, 8) == 8 ? 0 : 1);
		waitpid(pid, &st, 0);
		VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		VRM_EQ(vmm_tx_used(&v, n, 3000), n);
		VRM_TRUE(kick_path_is("userspace"));
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
	}
	if (e.running)
		ebe_session_end(&e, &v);
	n = 0;
	if (vrm_subtest("configured_userspace") && bring_up()) {
		uint32_t txq = VRM_QSLOT(0, 1);	/* neta is slot 0 */
		uint64_t bpf_kicks;

		snprintf(cmd, sizeof(cmd), "device del neta");
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
		snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s,kick=userspace", vmm_a,
			 be_a);
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
		if (ebe_session(&e, &v)) {
			VRM_TRUE(kick_path_is("userspace"));
			VRM_TRUE(device_has("neta", "configured (kick=userspace)"));
			bpf_kicks = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
			for (int k = 0; k < 3; k++) {
				vmm_tx(&v, n++);
				VRM_EQ(vmm_tx_used(&v, n, 2000), n);
			}
			/* The daemon did the kicks, BPF none. */
			VRM_EQ(pinned_counter(txq, offsetof(struct vrm_qstats, kicks)), bpf_kicks);
			VRM_TRUE(stats_field("neta", 1, "kicks") >= 3);
		}
		if (e.running)
			ebe_session_end(&e, &v);
		snprintf(cmd, sizeof(cmd), "device del neta");
		ctl_query(cmd, buf, sizeof(buf));
		snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s", vmm_a, be_a);
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
	}
}

/* SET_VRING_KICK or _CALL of ring `q` with `fd`, REPLY_ACK asked: 0 when
 * the daemon took it, else its refusal (or -1). */
static int send_vring_fd(struct vmm *v, uint32_t req, uint32_t q, int fd)
{
	struct vu_msg m, r;

	vu_msg_init(&m, req);
	vu_put_u64(&m, 0, q);
	m.fds[0] = fd;
	m.nfds = 1;
	m.flags |= VU_FLAG_NEED_REPLY;
	if (vu_call(v->sock, &m, &r))
		return -1;
	return (int)vu_get_u64(&r, 0);
}

struct kicker {
	atomic_int fd, stop;
	atomic_ulong kicks;
};

static void *kicker_main(void *arg)
{
	struct kicker *k = arg;

	while (!atomic_load(&k->stop))
		if (write(atomic_load(&k->fd), &(uint64_t){ 1 }, 8) == 8)
			atomic_fetch_add(&k->kicks, 1);
	return NULL;
}

/*
 * The kick and call fds a VMM hands over: eventfds only (a pipe as call fd
 * would block the device's thread once full), and a new kick fd for a
 * running ring while its kicks race in: the ring's state stays (it was set
 * up again from its first index, and chains in flight were translated a
 * second time), no kick is lost, nothing breaks.
 */
VRM_TEST(vring_fds)
{
	struct vmm v = { .sock = -1 };
	struct kicker k = { 0 };
	int old[32], nold = 0, pfd[2] = { -1, -1 };
	uint16_t n = 0;
	pthread_t thr;
	struct ebe e;

	if (!ebe_session(&e, &v))
		goto out;
	vmm_tx(&v, n++);
	VRM_EQ(vmm_tx_used(&v, n, 2000), n);
	if (vrm_subtest("must_be_eventfds") && VRM_EQ(pipe(pfd), 0)) {
		VRM_TRUE(send_vring_fd(&v, VU_SET_VRING_CALL, 1, pfd[1]) != 0);
		VRM_TRUE(send_vring_fd(&v, VU_SET_VRING_KICK, 1, pfd[0]) != 0);
		VRM_TRUE(peer_log_has(&dmn, "the call fd is not an eventfd", 1000));
		VRM_TRUE(peer_log_has(&dmn, "the kick fd is not an eventfd", 1000));
		/* Refused, not fatal: the ring runs on with its own fds. */
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		close(pfd[0]);
		close(pfd[1]);
	}
	if (vrm_subtest("new_kick_fd_while_running")) {
		long long chains0 = stats_field("neta", 1, "chains");
		unsigned r0 = atomic_load(&e.returned);
		bool ok = true;

		atomic_store(&k.fd, v.kick[1]);
		ok &= VRM_EQ(pthread_create(&thr, NULL, kicker_main, &k), 0);
		for (int round = 0; round < 30 && ok; round++) {
			int fd = eventfd(0, EFD_CLOEXEC);

			ok &= VRM_EQ(send_vring_fd(&v, VU_SET_VRING_KICK, 1, fd), 0);
			old[nold++] = v.kick[1];	/* closed at the end: the kicker may hold it */
			v.kick[1] = fd;
			atomic_store(&k.fd, fd);
			vmm_tx(&v, (uint16_t)(n++ % (QSIZE / 2)));
			ok &= VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		}
		atomic_store(&k.stop, 1);
		pthread_join(thr, NULL);
		VRM_EQ(atomic_load(&e.returned), r0 + 30);
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_EQ(stats_field("neta", 1, "chains"), chains0 + 30);
		printf("      30 kick fds swapped under %lu racing kicks: %u frames back, each once\n",
		       (unsigned long)atomic_load(&k.kicks), n);
	}
	for (int i = 0; i < nold; i++)
		close(old[i]);
out:
	ebe_session_end(&e, &v);
}

/* neta again, its device line `neta,vmm=..,backend=..` plus `extra`. */
static bool readd_neta(const char *extra)
{
	char cmd[400], buf[512];

	snprintf(cmd, sizeof(cmd), "device del neta");
	if (ctl_query(cmd, buf, sizeof(buf)))
		return false;
	snprintf(cmd, sizeof(cmd), "device add neta,vmm=%s,backend=%s%s", vmm_a, be_a, extra);
	return ctl_query(cmd, buf, sizeof(buf)) == 0;
}

/*
 * An event-idx guest that lost the race of docs/design.md (Notifications):
 * it posted past avail_event and made no kick, as one does that read a
 * stale avail_event.  The tick translates for it, counts a rescue and keeps
 * the BPF path; the same find more than three times in ten seconds is kicks
 * a hook does not see, and the device goes on in userspace.
 */
VRM_TEST(event_idx_lost_race)
{
	struct ebe e = { .running = false };
	struct vmm v = { .sock = -1 };
	uint16_t n = 0;

	if (!bring_up() || !VRM_TRUE(readd_neta(",event_idx=on")))
		return;
	vmm_event_idx = true;
	if (vrm_subtest("stale_avail_event") && ebe_session(&e, &v)) {
		VRM_TRUE(v.feat & BIT(VU_F_EVENT_IDX));
		vmm_tx(&v, n++);
		VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		for (int r = 1; r <= 3; r++) {
			vmm_tx_post(&v, n++, false, false);
			VRM_EQ(vmm_tx_used(&v, n, 3000), n);
			VRM_TRUE(kick_path_is("bpf"));
			VRM_EQ(stats_field("neta", 1, "event_idx_rescues"), r);
		}
		VRM_TRUE(peer_log_has(&dmn, "posted past avail_event with no kick", 1000));
		vmm_tx_post(&v, n++, false, false);
		VRM_EQ(vmm_tx_used(&v, n, 3000), n);
		VRM_TRUE(kick_path_is("userspace"));
		VRM_TRUE(device_has("neta", "no kick reached BPF"));
		printf("      %u frames back; rescues %lld, kick path %s\n", n,
		       stats_field("neta", 1, "event_idx_rescues"),
		       kick_path_is("userspace") ? "userspace" : "bpf");
	}
	vmm_event_idx = false;
	if (e.running)
		ebe_session_end(&e, &v);
	VRM_TRUE(readd_neta(""));
}
