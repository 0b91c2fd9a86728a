// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * How the guest's kicks reach the translation core (enum vrm_kick_path), and
 * how the back-end is woken after it: BPF at a notification point, or the
 * device's thread on the guest's kick eventfd.  Which one serves a session
 * is decided when its first ring starts and may turn to userspace later, on
 * kicks no hook sees; apart from the faces, for neither peer chooses it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>

#include <vringmed/abi.h>

#include "log.h"
#include "proxy_int.h"
#include "uxlate.h"

/* ---- the back-end's kicks ---- */

/* Wakes the back-end: chains went into the shadow ring after the guest's
 * kick had already woken it (or before it was listening), so a back-end that
 * waits for kicks (libvhost-user, rust-vmm; DPDK polls) would not look again
 * until the guest's next one.  On the BPF path that is the guest's kick
 * eventfd, which the back-end waits on: our write is not the VMM's, so BPF
 * lets it through untouched; on the userspace path, our own. */
void vrp_kick_backend(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];
	int fd = p->kick_path == VRM_KICK_USERSPACE ? vq->be_kickfd : vq->kickfd;
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("kick eventfd write: %s\n", strerror(errno));
}

/* The fd the back-end waits on for queue i's kicks: the guest's own on the
 * BPF path (the guest's kick wakes it after BPF translated), ours on the
 * userspace path (we kick it once we translated).  -1 with errno set. */
static int vrp_be_kickfd(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];

	if (p->kick_path != VRM_KICK_USERSPACE)
		return vq->kickfd;
	if (vq->be_kickfd < 0)
		vq->be_kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return vq->be_kickfd;
}

/* Hands the back-end queue i's kick fd of the path in use, unless it has
 * it: the guest's own one is sent as soon as the VMM gives it (the path is
 * chosen when the first ring starts, maybe later, at SET_VRING_ENABLE), and
 * replaced by ours when the path turns out to be userspace. */
int vrp_be_set_kick(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];
	int fd;

	if (vq->be_kick_sent || vq->kickfd < 0)
		return 0;
	fd = vrp_be_kickfd(p, i);
	if (fd < 0)
		return -errno;
	if (p->be.fd < 0 || p->be_down)
		return 0;	/* the back-end gets it when it is back */
	vq->be_kick_sent = vrp_be_u64(p, VU_SET_VRING_KICK, i, fd) == 0;
	return vq->be_kick_sent ? 0 : -EIO;
}

/* The kicks BPF could not finish (a guest page not resident, a kick that
 * kept coming back): translated here with the same core, then the back-end
 * is woken, for the guest's kick woke it before the chains were there. */
void vrp_deferred(struct vrm_proxy *p)
{
	for (unsigned i = 0; i < VRP_NQ; i++) {
		struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];
		uint32_t chains;

		if (!p->q[i].started || !VRM_READ_ONCE(q->deferred))
			continue;
		/* Cleared first: a deferral that comes in meanwhile sets it
		 * again. */
		__sync_lock_test_and_set(&q->deferred, 0);
		chains = vrp_user_kick(p, i);
		p->deferred_done++;
		pr_debug("device %s: queue %u: deferred kick completed: %u chains\n",
			 p->cfg.name, i, chains);
	}
}

/* ---- the guest's kicks to the core ---- */

/* A kick the daemon translates (on the userspace path, or one BPF could
 * not finish): the same core as BPF's, event idx toward the guest re-armed
 * (not polling: the poller keeps the guest's kicks off), then the
 * back-end.  The chains. */
uint32_t vrp_user_kick(struct vrm_proxy *p, unsigned i)
{
	struct vrm_ux_queue rq = vrp_rq(p, i);
	uint32_t chains = 0, more = 0, found = 0, v;

	if (!p->q[i].started)
		return 0;
	v = vrm_ux_kick(&rq, &chains);
	if (v == VRM_OK && !p->poll[i].on) {
		v = vrm_ux_guest_rearm(&rq, &more, &found);
		chains += more;
		p->poll[i].eidx_kicks_saved += found;
	}
	if (chains)
		vrp_kick_backend(p, i);
	if (v != VRM_OK && v != VRM_DEFER)
		p->state = "broken";
	return chains;
}

static void vrp_on_kick(struct vrm_ev *ev, uint32_t events)
{
	struct vrm_proxy *p = ev->ctx;
	uint64_t cnt;
	struct iovec iov = { &cnt, sizeof(cnt) };

	(void)events;
	/* The VMM shares this eventfd and may read it first: never block. */
	if (preadv2(ev->fd, &iov, 1, -1, RWF_NOWAIT) < 0 && errno != EAGAIN)
		return;
	vrp_user_kick(p, (unsigned)ev->arg);
}

/* Queue i's kicks reach the core: its kick fd in the BPF map, or in our
 * loop. */
int vrp_kick_attach(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];
	long id;
	int err;

	if (p->kick_path == VRM_KICK_USERSPACE) {
		vq->kick = (struct vrm_ev){ .fd = vq->kickfd, .fn = vrp_on_kick, .ctx = p,
					   .arg = (int)i };
		err = vrm_ev_add(p->epfd, &vq->kick, EPOLLIN);
		if (err)
			vq->kick.fd = -1;
		return err;
	}
	id = vrm_eventfd_id(0, vq->kickfd);
	if (id < 0)
		return -EINVAL;
	err = vrm_bpf_add_kickfd(p->b, (uint32_t)id, vrp_qslot(p, i));
	if (!err)
		vq->kick_id = id;
	return err;
}

/* Whether process `pid` holds a KVM VM: then the guest's kicks are
 * ioeventfds that KVM signals in the kernel, without a write(). */
static bool vrp_vmm_uses_kvm(pid_t pid)
{
	char path[64], link[64];
	struct dirent *de;
	bool kvm = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!kvm && (de = readdir(d))) {
		char fdp[64 + sizeof(de->d_name)];
		ssize_t n;

		snprintf(fdp, sizeof(fdp), "%s/%s", path, de->d_name);
		n = readlink(fdp, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		kvm = !strcmp(link, "anon_inode:kvm-vm") || !strcmp(link, "/dev/kvm");
	}
	closedir(d);
	return kvm;
}

/* Chooses the kick path of this VMM session, when its first ring starts. */
void vrp_kick_decide(struct vrm_proxy *p)
{
	if (p->kick_path != VRM_KICK_AUTO)
		return;
	if (p->cfg.kick != VRM_KICK_AUTO) {
		p->kick_path = p->cfg.kick;
		snprintf(p->kick_why, sizeof(p->kick_why), "configured (kick=%s)",
			 vrm_kick_path_name(p->cfg.kick));
	} else if (p->b->have_fentry) {
		p->kick_path = VRM_KICK_BPF;
		snprintf(p->kick_why, sizeof(p->kick_why),
			 "fentry on eventfd_signal_mask sees every kick");
	} else if (vrp_vmm_uses_kvm(p->vmm_pid)) {
		p->kick_path = VRM_KICK_USERSPACE;
		snprintf(p->kick_why, sizeof(p->kick_why),
			 "VMM pid %d runs its guest under KVM, which signals kicks inside the "
			 "kernel, and fentry is refused on this host", (int)p->vmm_pid);
	} else {
		p->kick_path = VRM_KICK_BPF;
		snprintf(p->kick_why, sizeof(p->kick_why),
			 "the VMM writes its kick eventfds: the write() tracepoint sees them");
	}
	pr_info("device %s: kicks on the %s path: %s\n", p->cfg.name,
		vrm_kick_path_name(p->kick_path), p->kick_why);
}

/* From now on this session's kicks are mediated in userspace: each
 * running ring's kick fd leaves BPF for our loop, the back-end gets our
 * kick eventfd, and whatever waits in the guest's ring is translated now. */
static void vrp_kick_to_userspace(struct vrm_proxy *p, const char *why)
{
	snprintf(p->kick_why, sizeof(p->kick_why), "%s", why);
	pr_warn("device %s: kicks mediated in userspace from now on: %s\n", p->cfg.name, why);
	p->kick_path = VRM_KICK_USERSPACE;
	for (unsigned i = 0; i < VRP_NQ; i++) {
		if (!p->q[i].started)
			continue;
		vrp_queue_quiesce(p, i);
		p->q[i].be_kick_sent = false;
		if (vrp_kick_attach(p, i) || vrp_be_set_kick(p, i)) {
			vrp_err(p, "queue %u: cannot mediate its kicks in userspace", i);
			continue;
		}
		vrp_user_kick(p, i);
	}
}

/* How long the guest's avail idx may stay ahead of the translation, with no
 * progress, before the kicks are taken to be unseen (a guest kicks right
 * after it posts; a deferred kick is done within the daemon's next tick). */
#define VRP_KICK_LAG_MS		300

/* An event-idx guest found with posts past avail_event and no kick may
 * have lost the race of docs/design.md (Notifications): it read a stale
 * avail_event, and the daemon's look after its store missed the post,
 * which a guest barrier a VMM drops toward another host thread (QEMU's TCG
 * with one vCPU) lets happen.  It will not kick again until avail_event
 * moves, so the tick translates for it; kicks a hook does not see look the
 * same once, and again at every post, so on the BPF path more than
 * VRP_RESCUES rescues in VRP_RESCUE_WINDOW_MS mean unseen kicks after all
 * (on the userspace path every kick is seen: each such find is a rescue). */
#define VRP_RESCUES		3
#define VRP_RESCUE_WINDOW_MS	10000
/* An event-idx guest's posts wait this long for a kick: a kick translates
 * at once, or leaves a deferral the next turn does. */
#define VRP_EIDX_LAG_MS		100

static bool vrp_kick_rescue(struct vrm_proxy *p, unsigned i, uint64_t now)
{
	struct vrp_queue *vq = &p->q[i];
	uint32_t chains;

	if (!(p->guest_features & BIT(VU_F_EVENT_IDX)))
		return false;
	if (now - vq->rescue_window_ms > VRP_RESCUE_WINDOW_MS) {
		vq->rescue_window_ms = now;
		vq->rescues_in_window = 0;
	}
	if (vq->rescues_in_window >= VRP_RESCUES && p->kick_path == VRM_KICK_BPF)
		return false;
	vq->rescues_in_window++;
	vq->eidx_rescues++;
	chains = vrp_user_kick(p, i);
	pr_info("device %s: queue %u: the guest posted past avail_event with no kick; "
		"translated by the daemon (%u chains)\n", p->cfg.name, i, chains);
	return true;
}

/*
 * On the BPF path, kicks no hook sees would stall the device without a word
 * (the back-end wakes to an untranslated shadow ring).  Every tick (not
 * every kick: a device BPF serves costs the daemon no wake-up) each running
 * ring's avail idx is compared with the translation's position: ahead, and
 * no progress for VRP_KICK_LAG_MS, means its kicks go unseen, unless an
 * event-idx guest lost its race (vrp_kick_rescue, on either path).
 */
void vrp_watch_kicks(struct vrm_proxy *p)
{
	uint64_t now = 0;

	if (vrp_dev(p)->broken || (p->kick_path != VRM_KICK_BPF &&
				   !(p->guest_features & BIT(VU_F_EVENT_IDX))))
		return;
	for (unsigned i = 0; i < VRP_NQ; i++) {
		struct vrp_queue *vq = &p->q[i];
		struct vrm_ux_queue rq = vrp_rq(p, i);
		struct vrm_queue *q = rq.q;
		uint16_t guest, ahead, at = VRM_READ_ONCE(q->last_avail);
		uint64_t waited;
		char why[160];

		if (!vq->started || vrm_ux_guest_avail(&rq, &guest) ||
		    !(ahead = (uint16_t)(guest - at)) || ahead > q->size) {
			vq->lag_since_ms = 0;
			continue;
		}
		now = now ? now : vrm_now_ms();
		if (!vq->lag_since_ms || vq->lag_last_avail != at) {
			vq->lag_since_ms = now;
			vq->lag_last_avail = at;
			continue;
		}
		waited = now - vq->lag_since_ms;
		if (waited < (p->guest_features & BIT(VU_F_EVENT_IDX) ? VRP_EIDX_LAG_MS : VRP_KICK_LAG_MS))
			continue;
		vq->lag_since_ms = 0;
		if (vrp_kick_rescue(p, i, now) || p->kick_path != VRM_KICK_BPF)
			continue;
		snprintf(why, sizeof(why), "queue %u: %u chains waited %llu ms in the guest's ring "
			 "and no kick reached BPF (signalled in the kernel or by another process)",
			 i, ahead, (unsigned long long)waited);
		if (p->cfg.kick == VRM_KICK_BPF) {
			/* Configured so: said, not overruled. */
			if (strcmp(p->kick_why, why))
				pr_warn("device %s: kick=bpf, but %s\n", p->cfg.name, why);
			snprintf(p->kick_why, sizeof(p->kick_why), "%s", why);
			continue;
		}
		vrp_kick_to_userspace(p, why);
		return;
	}
}
