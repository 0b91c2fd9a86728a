// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The proxy's back-end face: a vhost-user front-end towards a modern-only
 * back-end.  Connects (to a listener access.c allows), sends it what the VMM
 * said in modern little-endian terms, stops and drains its rings, and when
 * it goes away while the VMM stays, connects again and replays our state.
 * Apart from the VMM face, for this peer comes and goes on its own: its
 * restart is no end of the session.  Untrusted too (proxy.c's security
 * model).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>

#include "access.h"
#include "backend_xdp.h"
#include "keeper.h"
#include "log.h"
#include "proxy_int.h"
#include "vu_wire.h"

#define VRP_BE_TIMEOUT	5		/* seconds a back-end may take to answer */
#define VRP_QUIET	10		/* seconds between repeats of one warning */

/* How often a lost back-end is tried again. */
#define VRP_BE_RETRY_MS		250

/*
 * The back-end connection broke (it was killed, restarted, upgraded) while
 * the VMM session goes on.  The guest notices nothing but a pause in its
 * traffic: kicks are still translated into the shadow rings, which wait for
 * the next back-end; what the VMM asks meanwhile changes our state only.
 * Before the VMM has set features there is nothing to keep: the caller
 * ends the session instead.
 */
static void vrp_be_lost(struct vrm_proxy *p, const char *why)
{
	if (p->be.fd >= 0) {
		vrp_keep(p, false);
		vrm_ev_del(p->epfd, &p->be);
		close(p->be.fd);
		p->be.fd = -1;
	}
	p->be_rings = p->be_stopped = 0;
	for (unsigned i = 0; i < VRP_NQ; i++)
		p->q[i].be_kick_sent = false;
	if (!p->be_down) {
		vrp_err(p, "back-end %s lost (%s): the VMM session goes on, connecting again",
			p->cfg.backend_path, why);
		p->be_down = true;
		p->be_down_since_ms = vrm_now_ms();
		p->state = "back-end down";
	}
	p->be_next_try_ms = vrm_now_ms() + VRP_BE_RETRY_MS;
}

/* A request to the back-end that has no reply.  While the back-end is
 * down, nothing is sent: the replay brings it our state. */
int vrp_be_send(struct vrm_proxy *p, struct vu_msg *m)
{
	int err;

	if (p->be_down)
		return 0;
	err = vu_send(p->be.fd, m);
	if (err) {
		char why[96];

		snprintf(why, sizeof(why), "sending %s: %s", vu_request_name(m->request),
			 strerror(-err));
		if (!p->features_set) {
			vrp_err(p, "back-end %s: %s", p->cfg.backend_path, why);
			return err;
		}
		vrp_be_lost(p, why);
	}
	return 0;
}

int vrp_be_u64(struct vrm_proxy *p, uint32_t req, uint64_t v, int fd)
{
	struct vu_msg m;

	vu_msg_u64(&m, req, v, fd);
	return vrp_be_send(p, &m);
}

int vrp_be_state(struct vrm_proxy *p, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vu_msg m;

	vu_msg_state(&m, req, idx, num);
	return vrp_be_send(p, &m);
}

static void vrp_on_backend(struct vrm_ev *ev, uint32_t events)
{
	struct vrm_proxy *p = ev->ctx;
	char c;

	/* The back-end never speaks first (no BACKEND_REQ): readable means
	 * it went away, or it is talking nonsense. */
	if (recv(ev->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0 || (events & (EPOLLHUP | EPOLLERR))) {
		if (p->features_set) {
			vrp_be_lost(p, "disconnected");
			return;
		}
		vrp_err(p, "back-end %s disconnected", p->cfg.backend_path);
		p->be_down = true;
		vrp_teardown(p, "back-end disconnected");
	} else {
		vrp_err(p, "back-end %s sent an unsolicited message", p->cfg.backend_path);
		p->be_down = true;
		vrp_teardown(p, "back-end protocol error");
	}
}

/* The process listening at the back-end's path (SO_PEERCRED names whoever
 * called listen()) is one access.c allows: else a path another user
 * squatted would be handed every region of the guest.  0 or -EPERM. */
static int vrp_backend_trusted(struct vrm_proxy *p, int fd)
{
	struct ucred c;
	char who[160];
	time_t now;
	int err = vrm_access_check_fd(fd, &c);

	if (!err)
		return 0;
	now = time(NULL);
	/* A VMM retries at once: said once per VRP_QUIET seconds. */
	if (now - p->be_warned >= VRP_QUIET) {
		vrp_err(p, "back-end %s refused: its listener is pid %d uid %u gid %u, not one "
			"of %s (--allow-uid, --socket-group)", p->cfg.backend_path, (int)c.pid,
			(unsigned)c.uid, (unsigned)c.gid, vrm_access_allowed(who, sizeof(who)));
		p->be_warned = now;
	}
	return -EPERM;
}

/* A vhost-user back-end listening at backend_path: our connected socket,
 * or -errno. */
static int vrp_backend_dial(struct vrm_proxy *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	strcpy(sa.sun_path, p->cfg.backend_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		time_t now = time(NULL);

		err = -errno;
		close(fd);
		/* A VMM retries at once: say it once per VRP_QUIET seconds. */
		if (now - p->be_warned >= VRP_QUIET) {
			vrp_err(p, "cannot connect to back-end %s: %s (%s)", p->cfg.backend_path,
				strerror(-err), p->be_retrying ? "trying again" :
				"VMM connections are refused until it listens");
			p->be_warned = now;
		}
		return err;
	}
	/* Guest memory goes to whoever listens there: they must be ours. */
	err = vrp_backend_trusted(p, fd);
	if (err) {
		close(fd);
		return err;
	}
	p->be_warned = 0;
	return fd;
}

/* The back-end's socket: one we dial, or the built-in XDP back-end's
 * (backend_xdp.h), spoken to the same way. */
int vrp_backend_connect(struct vrm_proxy *p)
{
	struct timeval tv = { .tv_sec = VRP_BE_TIMEOUT };
	int fd, err;

	fd = vrm_xdp_is_spec(p->cfg.backend_path) ? vrm_xdp_connect(p->cfg.backend_path, p->cfg.name) :
						    vrp_backend_dial(p);
	if (fd < 0)
		return fd;
	/* A back-end that stops answering must not stall the daemon. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	p->be = (struct vrm_ev){ .fd = fd, .fn = vrp_on_backend, .ctx = p };

	err = vu_get_u64_reply(fd, VU_GET_FEATURES, &p->be_features);
	if (err)
		goto proto;
	if (!(p->be_features & BIT(VU_F_VERSION_1))) {
		vrp_err(p, "back-end %s does not offer VERSION_1 (features 0x%llx)",
			p->cfg.backend_path, (unsigned long long)p->be_features);
		return -EPROTO;
	}
	p->be_nq = 1;
	if (p->be_features & BIT(VU_F_PROTOCOL_FEATURES)) {
		uint64_t nq;

		p->be_proto = true;
		err = vu_get_u64_reply(fd, VU_GET_PROTOCOL_FEATURES, &p->be_pf);
		if (err)
			goto proto;
		/* Its queues: as many as it has, with the device's own
		 * multiqueue feature (virtio-net's pairs, virtio-blk's
		 * request queues). */
		if ((p->be_pf & BIT(VU_PF_MQ)) &&
		    (p->be_features & BIT(vrp_is_blk(p) ? VU_BLK_F_MQ : VU_NET_F_MQ))) {
			err = vu_get_u64_reply(fd, VU_GET_QUEUE_NUM, &nq);
			if (err)
				goto proto;
			p->be_nq = nq < 1 ? 1 : nq > VRP_NQ ? VRP_NQ : (unsigned)nq;
		}
		/* Nothing of the back-end's optional protocol is needed but
		 * its queues, a block device's config space and a
		 * migration's shared dirty log. */
		err = vrp_be_u64(p, VU_SET_PROTOCOL_FEATURES,
				 p->be_pf & (vrp_blk_be_pf(p) | BIT(VU_PF_LOG_SHMFD) | BIT(VU_PF_MQ)),
				 -1);
		if (err)
			return err;
	}
	err = vrp_blk_be_connected(p);
	if (err)
		return err;
	err = vrm_ev_add(p->epfd, &p->be, EPOLLIN | EPOLLRDHUP);
	if (err)
		return err;
	vrp_keep(p, true);
	pr_info("device %s: back-end %s: features 0x%llx, protocol features 0x%llx, %u %s\n",
		p->cfg.name, p->cfg.backend_path, (unsigned long long)p->be_features,
		(unsigned long long)p->be_pf, vrp_queue_num(p),
		vrp_is_blk(p) ? (vrp_queue_num(p) == 1 ? "request queue" : "request queues") :
		vrp_queue_num(p) == 1 ? "queue pair" : "queue pairs");
	return 0;
proto:
	vrp_err(p, "back-end %s: feature query failed: %s", p->cfg.backend_path, strerror(-err));
	return err;
}

/* To the back-end: the guest's regions (our addresses as "user" addresses)
 * plus the shadow region: this device's shadow map, its own fd, which holds
 * no other device's rings. */
int vrp_be_mem_table(struct vrm_proxy *p, const struct vrp_region *reg, uint32_t n)
{
	struct vu_msg fwd;

	vu_msg_init(&fwd, VU_SET_MEM_TABLE);
	vu_put_u32(&fwd, 0, n + 1);
	vu_put_u32(&fwd, 4, 0);
	for (uint32_t i = 0; i <= n; i++) {
		uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;
		bool sh = i == n;

		vu_put_u64(&fwd, off, sh ? vrp_shadow_gpa(p) : reg[i].gpa);
		vu_put_u64(&fwd, off + 8, sh ? VRM_SHADOW_DEV_BYTES : reg[i].size);
		vu_put_u64(&fwd, off + 16, sh ? (uint64_t)(uintptr_t)&p->b->shadow[vrp_qslot(p, 0)] :
			   (uint64_t)(uintptr_t)reg[i].map + reg[i].offset);
		vu_put_u64(&fwd, off + 24, sh ? 0 : reg[i].offset);
		fwd.fds[i] = sh ? vrm_bpf_shadow_fd(p->b, p->slot) : reg[i].fd;
	}
	fwd.nfds = (int)n + 1;
	return vrp_be_send(p, &fwd);
}

/* How long a stop waits for the back-end to take what the guest had already
 * sent (its transmit ring), so that a pause does not drop it. */
#define VRP_DRAIN_MS		50

/* Waits (at most VRP_DRAIN_MS) until the back-end returned every chain
 * translated on queue i, then a little more while its other rings still
 * move (a frame it took is forwarded after it returned the chain). */
void vrp_be_drain(struct vrm_proxy *p, unsigned i)
{
	const struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];
	const struct vrm_shadow_queue *sh = &p->b->shadow[vrp_qslot(p, i)];
	uint64_t t0 = vrm_now_ms();

	if (!p->q[i].started || p->be.fd < 0 || p->be_down)
		return;
	while (vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE)) !=
	       VRM_READ_ONCE(q->last_avail) && vrm_now_ms() - t0 < VRP_DRAIN_MS) {
		struct timespec ts = { 0, 200000 };

		nanosleep(&ts, NULL);
	}
	for (uint16_t was = 0xffff, now;; was = now) {
		struct timespec ts = { 0, 1000000 };

		now = 0;
		for (unsigned k = 0; k < VRP_NQ; k++)
			now += vrm_swab16_if(VRM_ORDER_LE,
					    __atomic_load_n(&p->b->shadow[vrp_qslot(p, k)].used.idx,
							    __ATOMIC_ACQUIRE));
		if (now == was || vrm_now_ms() - t0 >= VRP_DRAIN_MS)
			break;
		nanosleep(&ts, NULL);
	}
}

/* The keeper's copy of the session's connections (keeper.h): both, or
 * (`hold` false) the VMM's alone.  The built-in XDP back-end runs in this
 * process and ends with it: it needs none. */
void vrp_keep(struct vrm_proxy *p, bool hold)
{
	bool be = hold && p->be.fd >= 0 && !vrm_xdp_is_spec(p->cfg.backend_path);

	vrm_keeper_hold(p->slot, p->vmm.fd, be ? p->be.fd : -1, be ? p->be_rings : 0);
}

/* GET_VRING_BASE to the back-end: 0 with its position in *base, or -errno. */
static int vrp_be_get_base(struct vrm_proxy *p, unsigned i, uint16_t *base)
{
	struct vu_msg req, rep;
	int err;

	vu_msg_state(&req, VU_GET_VRING_BASE, i, 0);
	err = vu_call(p->be.fd, &req, &rep);
	if (err)
		return err;
	vu_msg_close_fds(&rep);
	*base = (uint16_t)vu_get_u32(&rep, 4);
	return 0;
}

/* The back-end stops its ring i (its own GET_VRING_BASE): after the answer
 * it no longer touches the shadow ring.  False when it did not answer. */
bool vrp_be_stop_ring(struct vrm_proxy *p, unsigned i)
{
	uint16_t base;
	int err;

	if (p->be.fd < 0 || p->be_down || !(p->be_rings & (1u << i)))
		return false;
	p->be_rings &= ~(1u << i);
	p->q[i].be_kick_sent = false;	/* it drops the ring's fds (DPDK does) */
	err = vrp_be_get_base(p, i, &base);
	if (err) {
		char why[96];

		/* Its position is lost with it; ours stands. */
		snprintf(why, sizeof(why), "GET_VRING_BASE: %s", strerror(-err));
		vrp_be_lost(p, why);
		return false;
	}
	p->be_stopped_at[i] = base;
	p->be_stopped |= 1u << i;
	return true;
}

/* At the session's end: the back-end stops its rings the way a VMM does, so
 * it has let go of the shadow rings before the next session resets them
 * (DPDK, for one, answers only once its data path stopped using the ring). */
void vrp_be_stop_rings(struct vrm_proxy *p)
{
	uint16_t base;

	for (unsigned i = 0; i < VRP_NQ && p->be.fd >= 0 && !p->be_down; i++) {
		if (!(p->be_rings & (1u << i)))
			continue;
		if (vrp_be_get_base(p, i, &base)) {
			pr_debug("device %s: back-end did not stop ring %u\n", p->cfg.name, i);
			break;
		}
	}
	p->be_rings = p->be_stopped = 0;
}

/* The back-end gets ring i's shadow rings, in our address space, which the
 * shadow region's "user" address covers. */
int vrp_be_ring_addr(struct vrm_proxy *p, unsigned i)
{
	uint64_t sh = (uint64_t)(uintptr_t)&p->b->shadow[vrp_qslot(p, i)];
	struct vu_msg fwd;

	vu_msg_init(&fwd, VU_SET_VRING_ADDR);
	vu_put_u32(&fwd, 0, i);
	/* No VHOST_VRING_F_LOG: the shadow rings are not guest memory (the
	 * used path logs what it writes to the guest's). */
	vu_put_u32(&fwd, 4, 0);
	vu_put_u64(&fwd, VU_ADDR_DESC_OFF, sh);
	vu_put_u64(&fwd, VU_ADDR_USED_OFF, sh + VRM_SHADOW_USED_OFF);
	vu_put_u64(&fwd, VU_ADDR_AVAIL_OFF, sh + VRM_SHADOW_AVAIL_OFF);
	vu_put_u64(&fwd, 32, 0);
	/* The keeper knows of the ring before the back-end does. */
	p->be_rings |= 1u << i;
	vrp_keep(p, true);
	return vrp_be_send(p, &fwd);
}

/*
 * A back-end that came back (vrp_be_lost) is given our whole state, as a
 * VMM would give it to a new one: features, memory table (the shadow region
 * included), and each ring from where the shadow ring stands.  What the old
 * one returned goes to the guest first; what it took and never returned is
 * still in the shadow avail ring past its used idx, so the new one takes it
 * again: the guest's buffers are not lost (a frame the old one had sent may
 * go out twice).  0, -EPROTO when it lacks a feature the guest has (the
 * session must end: the guest cannot lose a feature), or -errno.
 */
static int vrp_be_replay(struct vrm_proxy *p)
{
	uint64_t need = p->be_acked & ~BIT(VU_F_PROTOCOL_FEATURES);

	if (p->features_set && (need & ~p->be_features)) {
		vrp_err(p, "back-end %s came back without features 0x%llx the guest has",
			p->cfg.backend_path, (unsigned long long)(need & ~p->be_features));
		return -EPROTO;
	}
	for (unsigned i = vrp_nq(p); i < VRP_NQ; i++) {
		if (p->q[i].num) {
			vrp_err(p, "back-end %s came back with %u rings, the guest has queue %u",
				p->cfg.backend_path, vrp_nq(p), i);
			return -EPROTO;
		}
	}
	if (p->owner_sent)
		vrp_be_u64(p, VU_SET_OWNER, 0, -1);
	if (p->features_set)
		vrp_be_u64(p, VU_SET_FEATURES,
			   need | (p->be_proto ? BIT(VU_F_PROTOCOL_FEATURES) : 0), -1);
	if (p->nreg)
		vrp_be_mem_table(p, p->reg, (uint32_t)p->nreg);
	if (vrp_log_replay(p))
		return -EPROTO;
	for (unsigned i = 0; i < VRP_NQ && !p->be_down; i++) {
		struct vrp_queue *vq = &p->q[i];
		struct vrm_shadow_queue *sh = &p->b->shadow[vrp_qslot(p, i)];

		if (!vq->num)
			continue;
		vrp_be_state(p, VU_SET_VRING_NUM, i, vq->num);
		vrp_complete(p, i);
		vrp_be_state(p, VU_SET_VRING_BASE, i,
			     vq->have_addr ? vrm_swab16_if(VRM_ORDER_LE, sh->used.idx) : vq->base);
		if (vq->have_addr)
			vrp_be_ring_addr(p, i);
		if (vq->call.fd >= 0)
			vrp_be_u64(p, VU_SET_VRING_CALL, i, vq->call.fd);
		vq->be_kick_sent = false;
		vrp_be_set_kick(p, i);
		if (p->be_proto && vq->enabled)
			vrp_be_state(p, VU_SET_VRING_ENABLE, i, 1);
		if (vq->started)
			vrp_kick_backend(p, i);
	}
	return 0;
}

/* The tick's part while the back-end is down: connect again, every
 * VRP_BE_RETRY_MS, and replay. */
void vrp_be_reconnect(struct vrm_proxy *p)
{
	uint64_t now = vrm_now_ms();
	int err;

	if (!p->be_down || p->vmm.fd < 0 || now < p->be_next_try_ms)
		return;
	p->be_down = false;	/* sends go out; a failure sets it again */
	p->be_retrying = true;
	err = vrp_backend_connect(p);
	p->be_retrying = false;
	if (!err && !p->be_down)
		err = vrp_be_replay(p);
	if (err || p->be_down) {
		p->be_down = true;	/* quietly: it was said once */
		vrp_be_lost(p, "");
		if (err == -EPROTO)
			vrp_teardown(p, "back-end came back unable to serve the guest");
		return;
	}
	p->be_reconnects++;
	p->last_error[0] = 0;	/* the loss is over: "last_error" told of it */
	p->state = vrp_any_started(p) ? "running" : "negotiating";
	pr_info("device %s: back-end %s back after %llu ms: rings set up again at the shadow "
		"rings' positions\n", p->cfg.name, p->cfg.backend_path,
		(unsigned long long)(now - p->be_down_since_ms));
}
