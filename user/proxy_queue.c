// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A queue's life in the proxy: it starts once the VMM has said everything
 * (or resumes a dead daemon's ring), stops, is cleared with its session; on
 * its used path the back-end's entries go back to the guest.  Apart from
 * the faces, for both drive it: the VMM's requests and the back-end's calls.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>
#include <vringmed/vring.h>

#include "log.h"
#include "proxy_int.h"
#include "uxlate.h"

/* How long a kernel kick may hold a queue's `busy` lock: a BPF program runs
 * to its end in microseconds, so one still holding it after this is gone
 * (a dead daemon's userspace kick left it set; vrm_queue_resume clears it). */
#define VRP_BUSY_WAIT_MS	100

/* No kick reaches queue i's translation any more: its kick fd leaves the
 * BPF map (or our loop), and a kick already inside a program (it looked the fd up before)
 * ends before this returns, so the caller may change the queue's state. */
void vrp_queue_quiesce(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];
	struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];

	vrp_poll_end(p, i);
	if (vq->kick_id >= 0)
		vrm_bpf_del_kickfd(p->b, (uint32_t)vq->kick_id);
	vq->kick_id = -1;
	if (vq->kick.fd >= 0)
		vrm_ev_del(p->epfd, &vq->kick);
	vq->kick.fd = -1;
	for (int t = 0; __atomic_load_n(&q->busy, __ATOMIC_ACQUIRE); t++) {
		struct timespec ts = { 0, 100000 };

		if (t == VRP_BUSY_WAIT_MS * 10) {
			vrp_err(p, "queue %u: a kick held the queue for %d ms", i,
				VRP_BUSY_WAIT_MS);
			break;
		}
		nanosleep(&ts, NULL);
	}
}

void vrp_queue_stop(struct vrm_proxy *p, unsigned i)
{
	struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];

	vrp_queue_quiesce(p, i);
	__atomic_and_fetch(&q->flags, ~VRM_QF_ENABLED, __ATOMIC_SEQ_CST);
	p->q[i].started = false;
}

void vrp_queue_clear(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];

	vrp_queue_stop(p, i);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->vmm_callfd >= 0)
		close(vq->vmm_callfd);
	if (vq->call.fd >= 0) {
		vrm_ev_del(p->epfd, &vq->call);
		close(vq->call.fd);
	}
	if (vq->be_kickfd >= 0)
		close(vq->be_kickfd);
	memset(vq, 0, sizeof(*vq));
	vq->kickfd = vq->vmm_callfd = vq->call.fd = vq->kick.fd = vq->be_kickfd = -1;
	vq->kick_id = -1;
}

void vrp_signal_vmm(struct vrp_queue *vq)
{
	uint64_t one = 1;

	if (vq->vmm_callfd >= 0 && write(vq->vmm_callfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("call eventfd write: %s\n", strerror(errno));
}

/* Moves the back-end's used entries to the guest and, not polling, re-arms
 * event idx on either side (what that finds is done too) while kicks reach
 * the queue: a queue quiesced for its stop translates nothing more.
 * Signals the VMM unless the guest asked not to be (vrm_guest_wants_call). */
void vrp_complete(struct vrm_proxy *p, unsigned i)
{
	struct vrm_ux_queue rq = vrp_rq(p, i);
	struct vrm_ux_poll_turn t = { .verdict = VRM_OK };
	const struct vrp_queue *vq = &p->q[i];

	if (!vq->started)
		return;
	t.verdict = vrm_ux_complete(&rq, &t.returned);
	if (!p->poll[i].on && (vq->kick_id >= 0 || vq->kick.fd >= 0))
		vrm_ux_poll_rearm(&rq, &p->poll[i], &t);
	vrp_poll_tell(p, i, &t);
}

void vrp_on_call(struct vrm_ev *ev, uint32_t events)
{
	struct vrm_proxy *p = ev->ctx;
	uint64_t cnt;

	(void)events;
	if (read(ev->fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	vrp_poll_on_call(p, (unsigned)ev->arg);
}

/* The guest's header length and what the queue must do about it. */
static void vrp_net_mode(struct vrm_proxy *p, unsigned i, struct vrm_queue *q)
{
	bool tx = i & 1;

	if (vrp_is_blk(p)) {
		vrp_blk_queue_mode(p, q);
		return;
	}
	q->net_mode = VRM_NET_NONE;
	q->net_hdr_len = VRM_NET_HDR_MODERN;
	if (!p->legacy)
		return;
	if (!(p->guest_features & BIT(VU_NET_F_MRG_RXBUF)))
		q->net_hdr_len = VRM_NET_HDR_LEGACY;
	if (tx) {
		if (p->order != VRM_ORDER_LE || q->net_hdr_len != VRM_NET_HDR_MODERN)
			q->net_mode = VRM_NET_TX_SLOT;
	} else if (q->net_hdr_len == VRM_NET_HDR_LEGACY) {
		q->net_mode = VRM_NET_RX_SLOT;
	} else if (p->order != VRM_ORDER_LE) {
		q->net_mode = VRM_NET_RX_INPLACE;
	}
}

const char *vrp_order_name(int order)
{
	return order == VRM_ORDER_BE ? "big-endian" : "little-endian";
}

/*
 * Whether queue i picks up where a dead daemon (us, before a kill -9) left
 * it rather than starting afresh: the same VMM process, the same features
 * and ring, and a base the guest's own used idx can explain.  A VMM that
 * lost its vhost-user back-end restarts each ring at the guest's used idx
 * (QEMU: virtio_queue_restore_last_avail_idx); the pinned queue state knows
 * better, and the shadow ring still holds what was translated and what the
 * back-end returned: resuming from them loses and repeats nothing.  Decided
 * here from the base, at SET_VRING_ADDR from the ring and the guest's used
 * idx (vrp_same_ring, vrp_guest_agrees).
 */
bool vrp_can_resume(struct vrm_proxy *p, unsigned i, uint16_t base)
{
	const struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];
	uint16_t l = q->last_used;
	const char *why;

	if (!p->rs_valid[i])
		return false;
	if (p->vmm_pid != (pid_t)p->rs_tgid)
		why = "another VMM process";
	else if (!p->features_set || p->guest_features != p->rs_features)
		why = "other features";
	else if (p->q[i].num != q->size)
		why = "another ring size";
	else if (base != l && base != (uint16_t)(l + 1))
		why = "the VMM returned entries itself meanwhile, or lost some";
	else
		return true;
	pr_info("device %s: queue %u starts afresh at %u: the previous daemon left it at %u (%s)\n",
		p->cfg.name, i, base, l, why);
	return false;
}

/*
 * The guest's ring i is where the pinned queue state left it: its used idx
 * at last_used, or one past it with the journal holding that entry's
 * completion (committed, not finished: vrm_queue_resume finishes it), and
 * the VMM's base there.  Anything else means that something else returned
 * entries while no daemon ran: QEMU, its back-end gone, takes its link down
 * and completes every transmit chain it finds itself, length 0
 * (virtio_net_drop_tx_queue_data), from the used idx on.  Resuming then
 * would translate chains the guest already has back, hand them to the
 * back-end again and return them twice: the ring starts afresh instead.
 * Said when it does not hold.
 */
bool vrp_guest_agrees(struct vrm_proxy *p, unsigned i)
{
	const struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];
	struct vrm_ux_queue rq = vrp_rq(p, i);
	uint16_t l = q->last_used, g;

	if (vrm_ux_guest_used_idx(&rq, &g)) {
		pr_info("device %s: queue %u starts afresh: its used ring is not in the memory "
			"table\n", p->cfg.name, i);
		return false;
	}
	if (p->q[i].base == g &&
	    (g == l || (g == (uint16_t)(l + 1) && q->jr_valid && q->jr_slot == l)))
		return true;
	pr_info("device %s: queue %u starts afresh at %u: the guest's used idx is %u, the "
		"previous daemon left it at %u (the VMM returned entries itself meanwhile)\n",
		p->cfg.name, i, p->q[i].base, g, l);
	return false;
}

/* The VMM's ring i is the one the pinned queue state describes. */
bool vrp_same_ring(struct vrm_proxy *p, unsigned i)
{
	const struct vrm_queue *q = &p->b->queues[vrp_qslot(p, i)];

	return q->dev == p->slot && q->size == p->q[i].num && q->desc_va == p->q[i].desc &&
	       q->avail_va == p->q[i].avail && q->used_va == p->q[i].used;
}

/* The shadow ring of queue i, empty, at index `base`.  Done before the
 * back-end learns the ring's address: DPDK, for one, takes the ring's used
 * idx over its SET_VRING_BASE when they differ, so a previous session's
 * leftovers there would shift its view of the ring. */
void vrp_shadow_reset(struct vrm_proxy *p, unsigned i)
{
	struct vrm_shadow_queue *sh = &p->b->shadow[vrp_qslot(p, i)];

	vrm_ux_shadow_reset(sh);
	sh->avail.idx = vrm_swab16_if(VRM_ORDER_LE, p->q[i].base);
	sh->used.idx = vrm_swab16_if(VRM_ORDER_LE, p->q[i].base);
}

/* The VMM has said everything queue i needs.  With PROTOCOL_FEATURES a
 * ring starts disabled until SET_VRING_ENABLE. */
static bool vrp_queue_ready(struct vrm_proxy *p, unsigned i)
{
	const struct vrp_queue *vq = &p->q[i];

	return !vq->started && vq->num && vq->have_addr && vq->kickfd >= 0 && p->features_set &&
	       p->nreg && (vq->enabled || !(p->guest_features & BIT(VU_F_PROTOCOL_FEATURES)));
}

/* The byte order queue i asks for.  It is latched by the first queue that
 * starts and holds until reset; a legacy device's rings all share it. */
static int vrp_queue_order(struct vrm_proxy *p, unsigned i, int *order)
{
	const struct vrp_queue *vq = &p->q[i];

	*order = !p->legacy ? VRM_ORDER_LE : vq->endian_set ?
		 (vq->endian_be ? VRM_ORDER_BE : VRM_ORDER_LE) : vrm_host_order();
	if (vrp_blk_order_check(p, i, *order))
		return -EINVAL;
	/* Latched while any ring runs; set afresh when none does. */
	if (!vrp_any_started(p))
		p->order_latched = false;
	if (p->order_latched && *order != p->order) {
		vrp_err(p, "queue %u asks for %s rings, the device runs %s", i,
			vrp_order_name(*order), vrp_order_name(p->order));
		return -EINVAL;
	}
	return 0;
}

/* The first queue of a start latches the byte order and publishes the
 * device to BPF: its VMM, order and features. */
static int vrp_device_start(struct vrm_proxy *p, int order)
{
	struct vrm_device *dev = vrp_dev(p);
	int err;

	p->order = order;
	p->order_latched = true;
	dev->tgid = (uint32_t)p->vmm_pid;
	dev->order = (uint8_t)order;
	dev->features = p->guest_features;
	dev->type = p->cfg.type;
	dev->first_queue = vrp_qslot(p, 0);
	dev->nqueues = vrp_nq(p);
	dev->broken = 0;
	__atomic_store_n(&dev->flags, VRM_DF_ACTIVE, __ATOMIC_SEQ_CST);
	if (!p->vmm_added) {	/* once a session: teardown takes it back */
		err = vrm_bpf_add_vmm(p->b, (uint32_t)p->vmm_pid);
		if (err)
			return err;
		p->vmm_added = true;
	}
	/* Said once a session, and again when a restart (after a pause or a
	 * driver reset) brings another byte order or other features. */
	if (p->kick_path == VRM_KICK_AUTO || order != p->told_order ||
	    p->guest_features != p->told_features)
		pr_info("device %s: %s guest (features 0x%llx), %s rings, VMM pid %d\n",
			p->cfg.name, p->legacy ? "legacy" : "modern",
			(unsigned long long)p->guest_features, vrp_order_name(order),
			(int)p->vmm_pid);
	p->told_order = order;
	p->told_features = p->guest_features;
	p->starts++;
	vrp_kick_decide(p);
	return 0;
}

/* The pinned queue state of ring i: resumed as a dead daemon left it, or
 * set up afresh at the VMM's base. */
static int vrp_queue_setup(struct vrm_proxy *p, unsigned i, struct vrm_ux_queue *rq)
{
	struct vrp_queue *vq = &p->q[i];
	struct vrm_queue *q = rq->q;
	int err;

	if (vq->resume && vrp_same_ring(p, i) && p->order == p->rs_order) {
		uint16_t was = q->last_used;

		vrm_ux_resume(rq);
		pr_info("device %s: queue %u resumed where the previous daemon left it: %u "
			"in flight, %u returned by the back-end and not yet to the guest%s\n",
			p->cfg.name, i, (uint16_t)(q->last_avail - q->last_used),
			(uint16_t)(vrm_swab16_if(VRM_ORDER_LE, rq->sh->used.idx) - q->last_used),
			was != q->last_used ? " (one finished from the journal)" : "");
	} else {
		if (vq->resume) {
			vrp_err(p, "queue %u: cannot resume: the pinned queue changed", i);
			return -EINVAL;
		}
		err = vrm_ux_queue_setup(q, p->slot, vq->num, vq->desc, vq->avail, vq->used);
		if (err)
			return err;
		q->last_avail = q->last_used = vq->base;
	}
	vq->resume = p->rs_valid[i] = false;
	q->hdr_gpa = vrp_shadow_gpa(p) + (uint64_t)i * VRM_SHADOW_BYTES + VRM_SHADOW_HDR_OFF;
	if (p->be_acked & BIT(VU_F_EVENT_IDX))
		q->flags |= VRM_QF_BE_EVENT_IDX;
	else
		q->flags &= ~VRM_QF_BE_EVENT_IDX;
	if (p->be_acked & BIT(VU_F_INDIRECT_DESC))
		q->flags |= VRM_QF_BE_INDIRECT;
	else
		q->flags &= ~VRM_QF_BE_INDIRECT;
	vrp_net_mode(p, i, q);
	/* The shadow ring was reset when its address went to the back-end. */
	return 0;
}

/* Kicks reach queue i's translation (by the path the device took), and it
 * runs. */
static int vrp_queue_enable(struct vrm_proxy *p, unsigned i, struct vrm_queue *q)
{
	struct vrp_queue *vq = &p->q[i];
	int err;

	err = vrp_kick_attach(p, i);
	if (err)
		return err;
	if (p->kick_path == VRM_KICK_USERSPACE) {
		vq->be_kick_sent = false;
		err = vrp_be_set_kick(p, i);
		if (err)
			return err;
	}
	__atomic_or_fetch(&q->flags, VRM_QF_ENABLED, __ATOMIC_SEQ_CST);
	vq->started = true;
	p->state = "running";
	vrp_poll_start(p, i);
	return 0;
}

/* Starts BPF translation on queue i once the VMM has said everything. */
int vrp_queue_try_start(struct vrm_proxy *p, unsigned i)
{
	struct vrp_queue *vq = &p->q[i];
	struct vrm_ux_queue rq;
	uint32_t chains;
	int order, err;

	if (!vrp_queue_ready(p, i))
		return 0;
	err = vrp_queue_order(p, i, &order);
	if (err)
		return err;
	if (!p->scratch[i] && !(p->scratch[i] = vrm_ux_scratch_new()))
		return -ENOMEM;
	if (!p->order_latched) {
		err = vrp_device_start(p, order);
		if (err)
			return err;
	}
	rq = vrp_rq(p, i);
	err = vrp_queue_setup(p, i, &rq);
	if (!err)
		err = vrp_queue_enable(p, i, rq.q);
	if (err)
		return err;
	/* Whatever the guest posted before the kick fd was registered, and
	 * (resuming) what the back-end returned while we were away. */
	vrm_ux_kick(&rq, &chains);
	if (chains)
		vrp_kick_backend(p, i);
	vrp_complete(p, i);
	pr_debug("device %s: queue %u started: size %u, base %u, net mode %u, header %u bytes\n",
		 p->cfg.name, i, vq->num, vq->base, rq.q->net_mode, rq.q->net_hdr_len);
	return 0;
}
