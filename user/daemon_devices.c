// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's devices: a thread each, running one proxy (user/proxy.c) on
 * an epoll loop of its own.  The main thread starts them, asks them to
 * stop, and waits for them a bounded time: a device whose peer holds its
 * thread is abandoned, never waited for (vrd_dev_join).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include "clock.h"
#include "daemon.h"
#include "log.h"
#include "uxlate.h"

/* One line per breakage, however hard the guest keeps trying (later
 * verdicts only count: vringmed_errors_total), and one when a reset clears
 * it.  By the thread that runs the device, after every turn of its loop, so
 * a breakage its own session resets at once is still told. */
static void vrd_report_broken(struct vrd_daemon *d, __u32 i)
{
	__u32 v = VRM_READ_ONCE(d->b.devices[i].broken);

	if (v != d->broken_seen[i] && v)
		pr_warn("device %.*s (slot %u) broken: %s (needs reset)\n",
			VRM_DEV_NAME_LEN, d->b.devices[i].name, i, vrm_verdict_name(v));
	else if (!v && d->broken_seen[i])
		pr_info("device %.*s (slot %u) reset: translating again\n",
			VRM_DEV_NAME_LEN, d->b.devices[i].name, i);
	d->broken_seen[i] = v;
}

void vrd_scan(struct vrd_daemon *d)
{
	for (__u32 i = 0; i < VRM_MAX_DEVICES; i++)
		if (!d->dev[i] && !atomic_load(&d->zombie[i].live))
			vrd_report_broken(d, i);
}

static void vrd_dev_on_wake(struct vrm_ev *ev, uint32_t events)
{
	uint64_t v;

	(void)events;
	if (read(ev->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_debug("wake eventfd: %s\n", strerror(errno));
}

static void vrd_dev_free(struct vrd_dev *dv)
{
	if (dv->wake.fd >= 0)
		close(dv->wake.fd);
	if (dv->epfd >= 0)
		close(dv->epfd);
	free(dv);
}

/* The device's thread is done.  Abandoned, nobody will join it: it frees
 * what is left of it and gives its slot back. */
static void vrd_dev_ended(struct vrd_dev *dv)
{
	struct vrd_zombie *z = &dv->d->zombie[dv->slot];
	int running = VRD_RUNNING;

	if (atomic_compare_exchange_strong(&dv->fate, &running, VRD_ENDED))
		return;
	pr_info("device %s: its abandoned thread ended; slot %u is free again\n", dv->name,
		dv->slot);
	vrd_dev_free(dv);
	atomic_store(&z->live, false);
}

/* A polled queue runs between the loop's looks at its fds, which then do
 * not wait, and are taken only every few turns while it keeps finding
 * work.  Idle, the CPU goes to whoever else wants it, and the fds are
 * looked at on the next turn.  False: the loop's tick is not due yet. */
static bool vrd_dev_poll_turn(struct vrd_dev *dv, int n, unsigned *turns, uint64_t ticked)
{
	if (!vrm_proxy_polling(dv->p))
		return true;
	if (!vrm_proxy_poll(dv->p)) {
		*turns = VRD_POLL_TURNS;
		sched_yield();
	}
	return n > 0 || vrm_now_ms() - ticked >= VRD_SCAN_MS;
}

/* The events already pending, handled, without waiting. */
static void vrd_dev_drain(struct vrd_dev *dv)
{
	struct epoll_event evs[16];
	int n;

	for (int round = 0; round < 4; round++) {
		n = epoll_wait(dv->epfd, evs, 16, 0);
		if (n <= 0)
			return;
		vrm_ev_dispatch(evs, n);
	}
}

static void *vrd_dev_main(void *arg)
{
	struct vrd_dev *dv = arg;
	uint64_t ticked = 0;
	unsigned turns = 0;

	while (!atomic_load(&dv->stop)) {
		struct epoll_event evs[16];
		bool polling = vrm_proxy_polling(dv->p);
		int n = 0;

		if (!polling || ++turns >= VRD_POLL_TURNS) {
			turns = 0;
			n = epoll_wait(dv->epfd, evs, 16, polling ? 0 :
				       vrm_proxy_watching(dv->p) ? VRD_WATCH_MS : VRD_SCAN_MS);
		}

		if (n < 0 && errno != EINTR) {
			/* Never seen; the main thread alone ends a device. */
			pr_warn("device %s: epoll_wait: %s\n", vrm_proxy_name(dv->p), strerror(errno));
			usleep(VRD_SCAN_MS * 1000);
			continue;
		}
		vrm_ev_dispatch(evs, n);
		if (!vrd_dev_poll_turn(dv, n, &turns, ticked))
			continue;
		ticked = vrm_now_ms();
		/* Deferred kicks (woken by the ring buffer, or found here
		 * when it overflowed or the kick came while no daemon ran),
		 * used entries a call did not announce, the published info. */
		vrm_proxy_tick(dv->p);
		vrd_report_broken(dv->d, dv->slot);
	}
	/* The session's teardown is this device's business: a back-end slow
	 * to let go holds this thread only.  Handed over (SIGTERM), a device
	 * with a guest attached has none: once the events already there are
	 * taken (a VMM that has just gone is not attached), the session stays
	 * as it is for the next daemon. */
	if (dv->d->handover) {
		vrd_dev_drain(dv);
		if (vrm_proxy_attached(dv->p)) {
			atomic_fetch_add(&dv->d->handed_over, 1);
			vrd_dev_ended(dv);
			return NULL;
		}
	}
	vrm_proxy_free(dv->p);
	vrd_dev_ended(dv);
	return NULL;
}

/* Asks the device's thread to end its session and stop. */
static void vrd_dev_stop(struct vrd_dev *dv)
{
	uint64_t one = 1;

	atomic_store(&dv->stop, true);
	if (write(dv->wake.fd, &one, sizeof(one)) < 0)
		pr_debug("wake eventfd: %s\n", strerror(errno));
}

/* A deadline VRD_JOIN_MS from now, for pthread_timedjoin_np. */
static struct timespec vrd_join_deadline(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (VRD_JOIN_MS % 1000) * 1000000L;
	ts.tv_sec += VRD_JOIN_MS / 1000 + ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	return ts;
}

/*
 * Waits for a stopped device's thread until `deadline`.  A thread still
 * busy then is held by a peer (a back-end that does not answer, a VMM that
 * does not read: each bounded, but by seconds; or worse): it is abandoned,
 * detached, and ends its session and frees itself whenever it can; its
 * slot, name and VMM socket stay reserved until then.  The main thread
 * never waits longer, whatever the peers do.
 */
static void vrd_dev_join(struct vrd_daemon *d, struct vrd_dev *dv,
			 const struct timespec *deadline)
{
	struct vrd_zombie *z = &d->zombie[dv->slot];
	int running = VRD_RUNNING;

	d->dev[dv->slot] = NULL;
	if (!pthread_timedjoin_np(dv->thr, NULL, deadline)) {
		vrd_dev_free(dv);
		return;
	}
	/* dv stays until the exchange below: the thread frees it only once
	 * abandoned.  The proxy may be gone already. */
	snprintf(z->name, sizeof(z->name), "%s", dv->name);
	snprintf(z->vmm_path, sizeof(z->vmm_path), "%s", dv->vmm_path);
	z->vmm_client = dv->vmm_client;
	atomic_store(&z->live, true);
	if (atomic_compare_exchange_strong(&dv->fate, &running, VRD_ABANDONED)) {
		pthread_detach(dv->thr);
		pr_warn("device %s: its thread did not end its session within %d ms (a peer "
			"holds it): abandoned; slot %u and %s stay reserved until it ends\n",
			dv->name, VRD_JOIN_MS, dv->slot, z->vmm_path);
		return;
	}
	/* It ended meanwhile. */
	atomic_store(&z->live, false);
	pthread_join(dv->thr, NULL);
	vrd_dev_free(dv);
}

static struct vrd_dev *vrd_dev_start(struct vrd_daemon *d, uint32_t slot,
				     const struct vrm_proxy_cfg *cfg)
{
	struct vrd_dev *dv = calloc(1, sizeof(*dv));
	int err;

	if (!dv)
		return NULL;
	dv->d = d;
	dv->slot = slot;
	snprintf(dv->name, sizeof(dv->name), "%s", cfg->name);
	snprintf(dv->vmm_path, sizeof(dv->vmm_path), "%s", cfg->vmm_path);
	dv->vmm_client = cfg->vmm_client;
	dv->epfd = epoll_create1(EPOLL_CLOEXEC);
	dv->wake = (struct vrm_ev){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
				   .fn = vrd_dev_on_wake, .ctx = dv };
	if (dv->epfd < 0 || dv->wake.fd < 0 || vrm_ev_add(dv->epfd, &dv->wake, EPOLLIN))
		goto fail;
	dv->p = vrm_proxy_new(&d->b, dv->epfd, slot, cfg);
	if (!dv->p)
		goto fail;
	err = pthread_create(&dv->thr, NULL, vrd_dev_main, dv);
	if (err) {
		vrm_proxy_free(dv->p);
		errno = err;
		goto fail;
	}
	return dv;
fail:
	err = errno;
	vrd_dev_free(dv);
	errno = err;
	return NULL;
}

/* Whether `cfg` may take a slot: no device of that name runs, and no
 * abandoned one still holds its name or VMM socket.  taken[] marks the
 * slots in use. */
static int vrd_dev_admit(struct vrd_daemon *d, const struct vrm_proxy_cfg *cfg, bool *taken,
			 char *err, size_t errlen)
{
	const char *clash = vrd_control_clash(cfg, d->ctl_path);

	if (clash) {
		snprintf(err, errlen, "device %s: %s", cfg->name, clash);
		return -EADDRINUSE;
	}
	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		const struct vrd_zombie *z = &d->zombie[i];
		struct vrm_proxy_cfg other;
		const char *why;

		if (d->dev[i] && !strcmp(vrm_proxy_name(d->dev[i]->p), cfg->name)) {
			snprintf(err, errlen, "device %s exists already", cfg->name);
			return -EEXIST;
		}
		if (d->dev[i] && !vrm_proxy_parse(d->dev[i]->spec, &other, &why) &&
		    (clash = vrm_proxy_paths_clash(cfg, &other))) {
			snprintf(err, errlen, "device %s: %s", cfg->name, clash);
			return -EADDRINUSE;
		}
		/* An abandoned device's thread still owns its slot and socket. */
		if (atomic_load(&z->live) &&
		    (!strcmp(z->name, cfg->name) || !strcmp(z->vmm_path, cfg->vmm_path))) {
			snprintf(err, errlen, "device %s (%s) is still ending its abandoned session: "
				 "try again later", z->name, z->vmm_path);
			return -EBUSY;
		}
		taken[i] = d->dev[i] != NULL || atomic_load(&z->live);
	}
	return 0;
}

struct vrd_dev *vrd_find(struct vrd_daemon *d, const char *name)
{
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i] && !strcmp(d->dev[i]->name, name))
			return d->dev[i];
	return NULL;
}

int vrd_add_device(struct vrd_daemon *d, const char *spec, enum vrd_origin origin, char *err,
		   size_t errlen)
{
	bool taken[VRM_MAX_DEVICES];
	struct vrm_proxy_cfg cfg;
	const char *why = NULL;
	int slot, e;

	if (vrm_proxy_parse(spec, &cfg, &why)) {
		snprintf(err, errlen, "bad device '%s': %s", spec, why);
		return -EINVAL;
	}
	if (!cfg.kick_set)
		cfg.kick = d->cfg->kick;
	if (!cfg.poll_set)
		cfg.poll_us = d->cfg->poll_us;
	e = vrd_dev_admit(d, &cfg, taken, err, errlen);
	if (e)
		return e;
	slot = vrm_proxy_pick_slot(&d->b, cfg.name, taken);
	if (slot < 0) {
		snprintf(err, errlen, "no free device slot (at most %d devices)", VRM_MAX_DEVICES);
		return -ENOSPC;
	}
	d->dev[slot] = vrd_dev_start(d, (uint32_t)slot, &cfg);
	if (!d->dev[slot]) {
		e = errno;
		snprintf(err, errlen, "device %s: cannot listen on %s: %s", cfg.name, cfg.vmm_path,
			 vrm_proxy_listen_why(e));
		return -e;
	}
	snprintf(d->dev[slot]->spec, sizeof(d->dev[slot]->spec), "%s", spec);
	d->dev[slot]->origin = origin;
	return 0;
}

int vrd_del_device(struct vrd_daemon *d, const char *name)
{
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i] && !strcmp(vrm_proxy_name(d->dev[i]->p), name)) {
			struct timespec deadline = vrd_join_deadline();

			vrd_dev_stop(d->dev[i]);
			vrd_dev_join(d, d->dev[i], &deadline);
			/* Forgotten, unless an abandoned thread still holds
			 * the slot (it stays the thread's until it ends). */
			if (!atomic_load(&d->zombie[i].live))
				vrm_proxy_forget_slot(&d->b, (uint32_t)i);
			return 0;
		}
	return -ENOENT;
}

bool vrd_devices_stop(struct vrd_daemon *d)
{
	struct timespec deadline;
	bool zombies = false;

	/* Every device winds down at once; then they are waited for, all
	 * within one VRD_JOIN_MS. */
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i])
			vrd_dev_stop(d->dev[i]);
	deadline = vrd_join_deadline();
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (d->dev[i])
			vrd_dev_join(d, d->dev[i], &deadline);
	/* Abandoned threads die with the process: what they would have
	 * removed is removed here, and what they still use (the maps, the
	 * daemon's state) is left to the exit. */
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		if (atomic_load(&d->zombie[i].live)) {
			zombies = true;
			if (!d->zombie[i].vmm_client)
				unlink(d->zombie[i].vmm_path);
		}
	return zombies;
}
