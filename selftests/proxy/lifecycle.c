// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The daemon killed and restarted mid-session; a VM paused and resumed. */
#include <signal.h>
#include <unistd.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "proxy_test.h"

/* kill -9 of vringmedd mid-session: the kernel keeps translating the
 * guest's kicks, a new vringmedd adopts slot, byte order and counters, and
 * the VMM's next session runs. */
VRM_TEST(daemon_restart)
{
	char da[300], db[300];
	char maddr[32];
	const char *args[] = { "-c", ctl, "-d", da, "-d", db, "-m", maddr, NULL };
	uint32_t txq = 0 * VRM_DEV_QUEUES + 1;	/* neta is slot 0 */
	uint64_t kicks0 = 0, kicks1 = 0, descs1 = 0;
	struct vmm v;

	if (!bring_up())
		return;
	snprintf(da, sizeof(da), "neta,vmm=%s,backend=%s", vmm_a, be_a);
	snprintf(db, sizeof(db), "netb,vmm=%s,backend=%s", vmm_b, be_b);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", metrics_port);
	if (!peer_alive(&tp_a) && !VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa2"), 0))
		return;
	if (vrm_subtest("kill_9_mid_session")) {
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0);
		vmm_tx(&v, 0);
		usleep(200000);
		kicks0 = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
		VRM_TRUE(kicks0 >= 1);
		peer_stop(&dmn, SIGKILL);
		VRM_TRUE(closed_by_peer(v.sock));
		VRM_TRUE(access(root, F_OK) == 0);	/* pins stay */
		/* The daemon is gone; the guest kicks on and BPF translates. */
		vmm_tx(&v, 1);
		vmm_tx(&v, 2);
		usleep(100000);
		kicks1 = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
		descs1 = pinned_counter(txq, offsetof(struct vrm_qstats, descs));
		VRM_EQ(kicks1, kicks0 + 2);
		VRM_TRUE(descs1 >= 6);
	}
	if (vrm_subtest("restart_adopts")) {
		/* The same devices, this time from a configuration file. */
		char conf[160];
		const char *fargs[] = { "-f", conf, "-m", maddr, NULL };
		FILE *f;

		snprintf(conf, sizeof(conf), "%s/vringmedd.conf", dir);
		f = fopen(conf, "w");
		if (!VRM_TRUE(f != NULL))
			return;
		fprintf(f, "# written by test_proxy\ncontrol %s\ndevice %s\n\ndevice %s  # b\n",
			ctl, da, db);
		fclose(f);
		(void)args;
		VRM_EQ(vringmedd_start(&dmn, dir, root, fargs), 0);
		VRM_TRUE(peer_log_has(&dmn, "adopted slot 0", 2000));
		VRM_TRUE(device_has("neta", "\"state\":\"adopted\""));
		VRM_TRUE(device_has("neta", "\"byte_order\":\"big\""));
		/* Still translated while adopted; counters never went back. */
		vmm_tx(&v, 3);
		usleep(100000);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, kicks)) >= kicks1 + 1);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, descs)) >= descs1 + 2);
		vmm_stop(&v);
	}
	if (vrm_subtest("vmm_reconnects")) {
		uint64_t k = pinned_counter(txq, offsetof(struct vrm_qstats, kicks));
		VRM_EQ(vmm_start(&v, vmm_a, VRM_ORDER_BE), 0);
		VRM_TRUE(peer_log_has(&dmn, "adopted session ends", 2000));
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		vmm_tx(&v, 0);
		VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
		VRM_TRUE(pinned_counter(txq, offsetof(struct vrm_qstats, kicks)) > k);
		vmm_stop(&v);
	}
}

/*
 * A VM paused and resumed (QMP stop/cont: QEMU stops each ring with
 * GET_VRING_BASE, sets its byte order back to the host's, then starts the
 * device again), by a big-endian legacy VMM on the test's back-end.  What
 * the back-end returned before the stop must be in the guest's used ring
 * when the stop is answered, and the answer is the guest's used idx; the
 * byte order is latched again at every start; traffic goes on after every
 * resume.
 */
VRM_TEST(vmm_pause_resume)
{
	uint64_t used_idx = RING_GPA(1) + vrm_legacy_used_off(QSIZE) + 2;
	struct vmm v = { .sock = -1 };
	uint16_t base[2] = { 0, 0 }, n = 0;
	/* The daemon's log is the whole run's: a refusal earlier tests
	 * provoked is not this test's. */
	int refused0 = peer_log_count(&dmn, "not while running");
	struct ebe e;

	if (!ebe_session(&e, &v))
		goto out;
	vmm_tx(&v, n++);
	VRM_EQ(vmm_tx_used(&v, n, 2000), n);
	if (vrm_subtest("stop_keeps_completions")) {
		unsigned r0 = atomic_load(&e.returned);

		/* The back-end holds the chain until it is told to stop, then
		 * returns it and does not call: only the stop can bring it to
		 * the guest. */
		atomic_store(&e.no_call, 1);
		atomic_store(&e.at_stop, 1);
		vmm_tx(&v, n++);
		usleep(100000);
		VRM_EQ(atomic_load(&e.returned), r0);
		if (VRM_EQ(vmm_pause(&v, base), 0)) {
			VRM_EQ(atomic_load(&e.returned), r0 + 1);
			VRM_EQ(base[1], n);
			VRM_EQ(gl16(&v, used_idx), n);
		}
		atomic_store(&e.no_call, 0);
		atomic_store(&e.at_stop, 0);
		VRM_TRUE(device_has("neta", "\"state\":\"stopped\""));
	}
	if (vrm_subtest("resume_x20")) {
		bool ok = true;

		for (int round = 0; round < 20 && ok; round++) {
			if (round || !base[1])
				ok &= VRM_EQ(vmm_pause(&v, base), 0);
			ok &= VRM_EQ(base[1], n);
			ok &= VRM_EQ(vmm_resume(&v, base), 0);
			vmm_tx(&v, (uint16_t)(n++ % (QSIZE / 2)));
			ok &= VRM_EQ(vmm_tx_used(&v, n, 2000), n);
		}
		VRM_TRUE(device_has("neta", "\"state\":\"running\""));
		VRM_TRUE(device_has("neta", "\"byte_order\":\"big\""));
		printf("      20 pauses and resumes, %u frames back, the last stop at %u\n", n,
		       base[1]);
	}
	VRM_TRUE(peer_log_has(&dmn, "device neta", 100));
	VRM_EQ(peer_log_count(&dmn, "not while running"), refused0);
out:
	ebe_session_end(&e, &v);
}

/*
 * vringmedd killed (-9) mid-session: the VMM must not see its connection
 * end, and take its rings back (QEMU completes every transmit chain it
 * finds), before the back-end has stopped using them.  The keeper holds
 * both connections and has the back-end stop its rings first (keeper.h);
 * this back-end takes 300 ms to stop each.
 */
VRM_TEST(daemon_killed_backend_stops_first)
{
	char da[300], db[300], maddr[32];
	const char *args[] = { "-c", ctl, "-d", da, "-d", db, "-v", "-m", maddr, NULL };
	struct vmm v = { .sock = -1 };
	uint64_t t0, t_eof;
	struct ebe e;

	if (!vrm_subtest("vmm_let_go_after_backend_stopped"))
		return;
	if (!ebe_session(&e, &v))
		goto out;
	vmm_tx(&v, 0);
	VRM_EQ(vmm_tx_used(&v, 1, 2000), 1);
	atomic_store(&e.stop_ms, 300);
	t0 = mono_ms();
	peer_stop(&dmn, SIGKILL);
	VRM_TRUE(closed_by_peer(v.sock));
	t_eof = mono_ms();
	/* Both rings (the receive ring too) were started on the back-end. */
	VRM_EQ(atomic_load(&e.stops), 2);
	VRM_TRUE(t_eof >= atomic_load(&e.stopped_ms));
	VRM_TRUE(t_eof - t0 >= 600);
	if (atomic_load(&e.stops))
		printf("      the VMM's connection ended %llu ms after the kill, %lld ms after the "
		       "back-end stopped its %u rings\n", (unsigned long long)(t_eof - t0),
		       (long long)(t_eof - atomic_load(&e.stopped_ms)), atomic_load(&e.stops));
	snprintf(da, sizeof(da), "neta,vmm=%s,backend=%s", vmm_a, be_a);
	snprintf(db, sizeof(db), "netb,vmm=%s,backend=%s", vmm_b, be_b);
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", metrics_port);
	VRM_EQ(vringmedd_start(&dmn, dir, root, args), 0);
out:
	vmm_stop(&v);
	ebe_close(&e);
}
