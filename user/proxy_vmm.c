// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The proxy's VMM face: a vhost-user back-end towards the VMM, legacy and
 * cross-endian guests welcome.  Every request has a row in vrp_requests[]
 * (its payload size, whether it names a ring, whether it brings an fd,
 * whether it has a reply of its own); vrp_dispatch checks a request against
 * its row once, then its handler vrp_<request>() runs on a well-formed one
 * and says what came of it (enum vrp_result), and the dispatcher alone
 * answers REPLY_ACK and ends the session.  Apart from the session, for all
 * that is read here is the VMM's, untrusted (proxy.c's security model).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>
#include <vringmed/vring.h>

#include "loader.h"
#include "log.h"
#include "proxy_int.h"
#include "uxlate.h"
#include "vu_wire.h"

/* Features a guest is never offered: what the proxy does not mediate
 * (packed rings, in-order, notification data, ring reset, an IOMMU), a
 * legacy-only bit a modern back-end must not see, and ANY_LAYOUT so a
 * legacy guest's TX or request header keeps a descriptor of its own. */
#define VRP_GUEST_MASK	(BIT(VU_F_ANY_LAYOUT) | \
			 BIT(VU_F_RING_PACKED) | BIT(VU_F_IN_ORDER) |			    \
			 BIT(VU_F_NOTIFICATION_DATA) | BIT(VU_F_RING_RESET) |		    \
			 BIT(VU_F_ACCESS_PLATFORM) | BIT(VU_F_SR_IOV) | BIT(VU_F_ORDER_PLATFORM) | \
			 BIT(VU_F_NOTIFY_ON_EMPTY))
/* ... and per device type: virtio-net's that need a control path it does
 * not have (GUEST_ANNOUNCE) and legacy's GSO; virtio-blk's whose
 * requests carry more than the header it converts (DISCARD, WRITE_ZEROES,
 * SECURE_ERASE: segments of guest-order fields; LIFETIME, ZONED: replies
 * of them), legacy's BARRIER and SCSI, and indirect tables (a request's
 * table holds seg_max + 2 entries, more than the mediator's per-head
 * room, vrm_itab_per, takes).  Multiqueue (MQ) is offered when the device
 * has more than one queue (pair), vrp_nq: the control queue that chooses
 * how many pairs a net guest uses is the VMM's own, which tells the
 * back-end with SET_VRING_ENABLE. */
#define VRP_NET_MASK	(BIT(VU_NET_F_GUEST_ANNOUNCE) | BIT(6) /* NET_F_GSO */)
#define VRP_BLK_MASK	(BIT(VU_BLK_F_BARRIER) | BIT(VU_BLK_F_SCSI) |	    \
			 BIT(VU_BLK_F_DISCARD) | BIT(VU_BLK_F_WRITE_ZEROES) |		    \
			 BIT(VU_BLK_F_LIFETIME) | BIT(VU_BLK_F_SECURE_ERASE) | BIT(VU_BLK_F_ZONED) | \
			 BIT(VU_F_INDIRECT_DESC))
/* Protocol features offered to the VMM: its own, not the back-end's; a
 * block device's config space, and the channel on which it is told of
 * its changes. */
#define VRP_VMM_PF	(BIT(VU_PF_CROSS_ENDIAN) | BIT(VU_PF_REPLY_ACK))
#define VRP_VMM_PF_BLK	(VRP_VMM_PF | BIT(VU_PF_CONFIG) | BIT(VU_PF_BACKEND_REQ))

/* Dirty logging (a migration, proxy_log.c) when the back-end can log into
 * a shared bitmap too: LOG_ALL with LOG_SHMFD, or neither. */
static bool vrp_can_log(const struct vrm_proxy *p)
{
	return (p->be_features & BIT(VU_F_LOG_ALL)) && (p->be_pf & BIT(VU_PF_LOG_SHMFD));
}

static uint64_t vrp_guest_mask(const struct vrm_proxy *p)
{
	return VRP_GUEST_MASK | (vrp_is_blk(p) ? VRP_BLK_MASK : VRP_NET_MASK) |
	       (vrp_queue_num(p) > 1 ? 0 : BIT(vrp_is_blk(p) ? VU_BLK_F_MQ : VU_NET_F_MQ)) |
	       (vrp_can_log(p) ? 0 : BIT(VU_F_LOG_ALL)) |
	       (p->cfg.event_idx ? 0 : BIT(VU_F_EVENT_IDX));
}

/* Event idx (event_idx=on) is the mediator's on each side (docs/design.md,
 * Notifications): the guest is offered it whatever the back-end says, and
 * the back-end is given it when it offers it, whatever the guest took. */
static uint64_t vrp_be_event_idx(const struct vrm_proxy *p)
{
	return p->cfg.event_idx ? p->be_features & BIT(VU_F_EVENT_IDX) : 0;
}

/* A legacy net guest without MRG_RXBUF has a 10-byte RX header, and Linux
 * puts it in one buffer with the frame: the back-end is then given such a
 * buffer as a table (vrm_net_rx_split), so it gets INDIRECT_DESC when it
 * offers it, whatever the guest took. */
static uint64_t vrp_be_indirect(const struct vrm_proxy *p, uint64_t guest)
{
	if (vrp_is_blk(p) || (guest & (BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF))))
		return 0;
	return p->be_features & BIT(VU_F_INDIRECT_DESC);
}

static uint64_t vrp_vmm_pf(const struct vrm_proxy *p)
{
	return (vrp_is_blk(p) ? VRP_VMM_PF_BLK : VRP_VMM_PF) | BIT(VU_PF_MQ) |
	       (vrp_can_log(p) ? BIT(VU_PF_LOG_SHMFD) : 0);
}

enum vrp_result vrp_refuse(struct vrp_req *req, int err)
{
	req->err = err;
	return VRP_REFUSED;
}

enum vrp_result vrp_fatal(struct vrp_req *req, int err)
{
	req->err = err;
	return VRP_FATAL;
}

/* After a send to the back-end: one that failed ends the session
 * (vrp_be_send fails only while there is nothing to keep). */
enum vrp_result vrp_sent(struct vrp_req *req, int err)
{
	return err ? vrp_fatal(req, err) : VRP_OK;
}

/* After our reply to the VMM: a VMM that cannot be answered is gone. */
enum vrp_result vrp_replied(struct vrp_req *req, int err)
{
	return err ? vrp_fatal(req, err) : VRP_REPLIED;
}

/* Our reply to the VMM's request `m`.  0 or -errno. */
int vrp_reply(struct vrm_proxy *p, const struct vu_msg *m, struct vu_msg *rep)
{
	rep->request = m->request;
	rep->flags = VU_VERSION | VU_FLAG_REPLY;
	return vu_send(p->vmm.fd, rep);
}

static int vrp_reply_u64(struct vrm_proxy *p, const struct vu_msg *m, uint64_t v)
{
	struct vu_msg rep;

	vu_msg_init(&rep, m->request);
	vu_put_u64(&rep, 0, v);
	return vrp_reply(p, m, &rep);
}

/*
 * virtio's ring alignment (2.7: descriptor table 16, avail ring 2, used ring
 * 4 bytes).  The core reads and writes the indices with atomics: misaligned,
 * one may straddle two cache lines, a split lock, which a host with
 * split-lock detection answers with SIGBUS or a stall of every core; and a
 * driver that misaligns its ring is broken anyway.
 */
static bool vrp_ring_aligned(struct vrm_proxy *p, const struct vu_msg *m, uint32_t idx)
{
	uint64_t desc = vu_get_u64(m, VU_ADDR_DESC_OFF), avail = vu_get_u64(m, VU_ADDR_AVAIL_OFF);
	uint64_t used = vu_get_u64(m, VU_ADDR_USED_OFF);

	if (!(desc & 15) && !(avail & 1) && !(used & 3))
		return true;
	vrp_err(p, "queue %u: misaligned ring addresses refused (desc 0x%llx, avail 0x%llx, "
		"used 0x%llx: virtio requires 16, 2 and 4 byte alignment)", idx,
		(unsigned long long)desc, (unsigned long long)avail, (unsigned long long)used);
	return false;
}

/*
 * The VMM keeps the memory file it hands over and may shrink it (ftruncate)
 * while the regions are mapped: the next access past the new end raises
 * SIGBUS, by default the end of the one process that serves every device.
 * A file that can be sealed is sealed against shrinking, unless the VMM did
 * (QEMU's memory-backend-memfd does: seal=on is its default), before its
 * size is checked: from then on it only grows, for the VMM, for us and for
 * the back-end, which is handed the same file and may serve other tenants
 * with no defence of its own.  Growing stays allowed (F_SEAL_GROW is not
 * ours to add).  A file that cannot be sealed (hugetlbfs and tmpfs files,
 * files of other file systems: QEMU's memory-backend-file; memfds made
 * without MFD_ALLOW_SEALING) is taken, for refusing those would refuse
 * common set-ups; a fault in one is contained to this device by uxlate.c's
 * SIGBUS guard.  Said once a session.
 */
static void vrp_seal(struct vrm_proxy *p, uint32_t i, int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals >= 0 && (seals & F_SEAL_SHRINK))
		return;
	if (seals >= 0 && !(seals & F_SEAL_SEAL) && !fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK)) {
		pr_debug("device %s: guest memory region %u sealed against shrinking\n",
			 p->cfg.name, i);
		return;
	}
	if (p->unsealed_told == p->sessions)
		return;
	p->unsealed_told = p->sessions;
	pr_info("device %s: guest memory region %u cannot be sealed against shrinking (%s): "
		"should the VMM truncate it, this device breaks, no other\n", p->cfg.name, i,
		seals < 0 ? "its file system has no seals" : "sealing is closed on it");
}

/* The VMM's call or kick fd of ring req->idx: ours to read and write without
 * blocking, whatever the VMM made of it (QEMU's are non-blocking already).
 * False, with the fd closed, when it is not an eventfd. */
static bool vrp_eventfd_ok(struct vrm_proxy *p, struct vrp_req *req, const char *what)
{
	if (req->fd < 0 || (vrm_eventfd_id(0, req->fd) >= 0 &&
			    !fcntl(req->fd, F_SETFL, fcntl(req->fd, F_GETFL) | O_NONBLOCK)))
		return true;
	close(req->fd);
	req->fd = -1;
	vrp_err(p, "queue %u: the %s fd is not an eventfd", req->idx, what);
	return false;
}

/* ---- the handlers: one per request, by request number ---- */

static enum vrp_result vrp_get_features(struct vrm_proxy *p, struct vrp_req *req)
{
	p->offered = ((p->be_features | BIT(VU_F_EVENT_IDX)) & ~vrp_guest_mask(p)) |
		     BIT(VU_F_PROTOCOL_FEATURES);
	return vrp_replied(req, vrp_reply_u64(p, req->m, p->offered));
}

static enum vrp_result vrp_set_features(struct vrm_proxy *p, struct vrp_req *req)
{
	uint64_t u = vu_get_u64(req->m, 0);

	if (u & ~p->offered) {
		vrp_err(p, "VMM acked features 0x%llx it was not offered",
			(unsigned long long)(u & ~p->offered));
		return vrp_refuse(req, -EINVAL);
	}
	/* LOG_ALL alone turns a migration's logging on and off while the
	 * rings run. */
	if (p->order_latched && ((u ^ p->guest_features) & ~BIT(VU_F_LOG_ALL))) {
		vrp_err(p, "VMM changed features while the rings run");
		return vrp_refuse(req, -EBUSY);
	}
	p->guest_features = u;
	p->legacy = !(u & BIT(VU_F_VERSION_1));
	p->features_set = true;
	/* The back-end always gets a modern device. */
	u = (u & p->be_features & ~BIT(VU_F_PROTOCOL_FEATURES) & ~BIT(VU_F_EVENT_IDX)) |
	    BIT(VU_F_VERSION_1) | vrp_be_event_idx(p) | vrp_be_indirect(p, u);
	if (p->be_proto)
		u |= BIT(VU_F_PROTOCOL_FEATURES);
	p->be_acked = u;
	return vrp_sent(req, vrp_be_u64(p, VU_SET_FEATURES, u, -1));
}

static enum vrp_result vrp_set_owner(struct vrm_proxy *p, struct vrp_req *req)
{
	if (p->owner_sent)
		return VRP_OK;
	p->owner_sent = true;
	return vrp_sent(req, vrp_be_u64(p, VU_SET_OWNER, 0, -1));
}

/* RESET_OWNER, RESET_DEVICE: a reset ends the session; the VMM reconnects
 * for the next. */
static enum vrp_result vrp_reset_device(struct vrm_proxy *p, struct vrp_req *req)
{
	vrp_teardown(p, "VMM reset the device");
	return VRP_ENDED;
}

/* Region i of a SET_MEM_TABLE, read and checked against itself and the
 * regions before it.  False, said, when it is invalid. */
static bool vrp_region_parse(struct vrm_proxy *p, const struct vu_msg *m, struct vrp_region *reg,
			     uint32_t i)
{
	uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;
	struct vrp_region *r = &reg[i];

	r->gpa = vu_get_u64(m, off);
	r->size = vu_get_u64(m, off + 8);
	r->uaddr = vu_get_u64(m, off + 16);
	r->offset = vu_get_u64(m, off + 24);
	if (!r->size || r->gpa + r->size < r->gpa || r->uaddr + r->size < r->uaddr ||
	    r->offset + r->size < r->offset || r->gpa + r->size > VRP_SHADOW_GPA) {
		vrp_err(p, "SET_MEM_TABLE region %u is invalid (gpa 0x%llx size 0x%llx)", i,
			(unsigned long long)r->gpa, (unsigned long long)r->size);
		return false;
	}
	for (uint32_t j = 0; j < i; j++)
		if (r->gpa < reg[j].gpa + reg[j].size && reg[j].gpa < r->gpa + r->size) {
			vrp_err(p, "SET_MEM_TABLE regions %u and %u overlap in guest memory", j, i);
			return false;
		}
	return true;
}

/* Region i's memory file, checked, mapped and kept (a dup).  0 or -errno. */
static int vrp_region_map(struct vrm_proxy *p, struct vrp_region *r, uint32_t i, int fd)
{
	struct stat fst;
	int err;

	/* A mapping past the end of its file would SIGBUS us at the first
	 * write of the used path: the file must cover it, and keep covering
	 * it (vrp_seal). */
	vrp_seal(p, i, fd);
	if (fstat(fd, &fst) || !S_ISREG(fst.st_mode) ||
	    (uint64_t)fst.st_size < r->offset + r->size) {
		vrp_err(p, "SET_MEM_TABLE region %u: its fd is not a memory file of at "
			"least %llu bytes", i, (unsigned long long)(r->offset + r->size));
		return -EINVAL;
	}
	r->map_len = r->size + r->offset;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->map == MAP_FAILED) {
		err = -errno;
		r->map = NULL;
		vrp_err(p, "cannot map guest memory region %u (%llu bytes): %s", i,
			(unsigned long long)r->map_len, strerror(-err));
		return err;
	}
	r->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (r->fd < 0)
		return -errno;
	return 0;
}

/* The new table replaces the old.  The BPF side reads through the VMM's
 * addresses, the used path writes through ours. */
static void vrp_regions_install(struct vrm_proxy *p, const struct vrp_region *reg, uint32_t n)
{
	struct vrm_device *dev = vrp_dev(p);

	vrp_unmap_regions(p);
	memcpy(p->reg, reg, sizeof(p->reg));
	p->nreg = (int)n;
	/* A table sent again while the rings run (memory hot-plug) keeps the
	 * regions it had, in their order (QEMU's), and appends: a kick in BPF
	 * meanwhile finds the old entries as they were and the new count
	 * only once the entries it counts are there. */
	for (uint32_t i = 0; i < n; i++)
		dev->regions[i] = (struct vrm_region){ reg[i].gpa, reg[i].size, reg[i].uaddr,
						      (uint64_t)(uintptr_t)reg[i].map + reg[i].offset };
	__atomic_store_n(&dev->nregions, (uint8_t)n, __ATOMIC_RELEASE);
}

static enum vrp_result vrp_set_mem_table(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vu_msg *m = req->m;
	struct vrp_region reg[VRM_MAX_REGIONS] = { 0 };
	uint32_t n = vu_get_u32(m, 0);
	enum vrp_result res;
	int err = 0;

	for (uint32_t i = 0; i < VRM_MAX_REGIONS; i++)
		reg[i].fd = -1;	/* the clean-up closes only what was opened */
	if (m->size < VU_MEM_HDR_SIZE || n < 1 || n > VRM_MAX_REGIONS - 1 ||
	    m->size < VU_MEM_HDR_SIZE + n * VU_MEM_REGION_SIZE || (uint32_t)m->nfds != n) {
		vrp_err(p, "malformed SET_MEM_TABLE: %u regions, %d fds, %u bytes "
			"(at most %d regions)", n, m->nfds, m->size, VRM_MAX_REGIONS - 1);
		return vrp_fatal(req, -EBADMSG);
	}
	for (uint32_t i = 0; i < n && !err; i++) {
		if (!vrp_region_parse(p, m, reg, i))
			err = -EINVAL;
		else
			err = vrp_region_map(p, &reg[i], i, m->fds[i]);
	}
	if (err) {
		res = vrp_refuse(req, err);
		goto fail;
	}
	err = vrp_be_mem_table(p, reg, n);
	if (err) {
		res = vrp_fatal(req, err);
		goto fail;
	}
	vrp_regions_install(p, reg, n);
	pr_debug("device %s: %u guest memory regions\n", p->cfg.name, n);
	return VRP_OK;
fail:
	for (uint32_t i = 0; i < n; i++) {
		if (reg[i].map)
			munmap(reg[i].map, reg[i].map_len);
		if (reg[i].fd >= 0)
			close(reg[i].fd);
	}
	return res;
}

static enum vrp_result vrp_set_vring_num(struct vrm_proxy *p, struct vrp_req *req)
{
	uint32_t num = vu_get_u32(req->m, 4);

	if (req->vq->started || !vrm_ring_size_ok(num, VRM_MAX_RING)) {
		vrp_err(p, "queue %u: ring size %u refused (power of two up to %d, "
			"not while running)", req->idx, num, VRM_MAX_RING);
		return vrp_refuse(req, -EINVAL);
	}
	req->vq->num = (uint16_t)num;
	return vrp_sent(req, vrp_be_state(p, VU_SET_VRING_NUM, req->idx, num));
}

static enum vrp_result vrp_set_vring_addr(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vrp_queue *vq = req->vq;
	int err;

	/* A running ring's addresses again, VHOST_VRING_F_LOG flipped: a
	 * migration's logging starts or ends.  The used path logs by the
	 * regions (proxy_log.c), and the back-end's shadow ring stays. */
	if (vq->started && vu_get_u64(req->m, VU_ADDR_DESC_OFF) == vq->desc &&
	    vu_get_u64(req->m, VU_ADDR_USED_OFF) == vq->used &&
	    vu_get_u64(req->m, VU_ADDR_AVAIL_OFF) == vq->avail)
		return VRP_OK;
	if (vq->started)
		return vrp_refuse(req, -EBUSY);
	if (!vrp_ring_aligned(p, req->m, req->idx))
		return vrp_refuse(req, -EINVAL);
	vq->desc = vu_get_u64(req->m, VU_ADDR_DESC_OFF);
	vq->used = vu_get_u64(req->m, VU_ADDR_USED_OFF);
	vq->avail = vu_get_u64(req->m, VU_ADDR_AVAIL_OFF);
	vq->have_addr = true;
	if (vq->resume && (!vrp_same_ring(p, req->idx) || !vrp_guest_agrees(p, req->idx))) {
		/* Another ring after all, or one the VMM moved on without
		 * us: start it afresh. */
		vq->resume = p->rs_valid[req->idx] = false;
		vrp_shadow_reset(p, req->idx);
		err = vrp_be_state(p, VU_SET_VRING_BASE, req->idx, vq->base);
		if (err)
			return vrp_fatal(req, err);
	} else if (!vq->resume) {
		vrp_shadow_reset(p, req->idx);
	}
	return vrp_sent(req, vrp_be_ring_addr(p, req->idx));
}

static enum vrp_result vrp_set_vring_base(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vrp_queue *vq = req->vq;

	if (vq->started)
		return vrp_refuse(req, -EBUSY);
	vq->base = (uint16_t)vu_get_u32(req->m, 4);
	vq->resume = vrp_can_resume(p, req->idx, vq->base);
	if (vq->resume) {
		/* The back-end goes on from what it returned. */
		struct vrm_shadow_queue *sh = &p->b->shadow[vrp_qslot(p, req->idx)];

		return vrp_sent(req, vrp_be_state(p, VU_SET_VRING_BASE, req->idx,
						  vrm_swab16_if(VRM_ORDER_LE, sh->used.idx)));
	}
	p->rs_valid[req->idx] = false;
	vrp_shadow_reset(p, req->idx);
	return vrp_sent(req, vrp_be_state(p, VU_SET_VRING_BASE, req->idx, vq->base));
}

/*
 * GET_VRING_BASE: the VMM stops ring i (a pause, a driver reset, the start
 * of a migration) and learns where to restart it.  Nothing the back-end
 * completed may be lost: kicks stop reaching the translation, the back-end
 * stops its ring, every entry it returned goes to the guest's used ring,
 * and only then is the answer given: the guest's used idx.  Chains
 * translated but not returned stay in the guest's avail ring behind that
 * index, so the restart translates them again: none is lost, none is
 * handed to the back-end twice (it returns in order, and what it had taken
 * without returning is reported).  The ring then needs a new kick fd to run
 * again (vhost-user: a ring starts on its kick, stops on GET_VRING_BASE),
 * and with no ring running the byte order and features may change.
 *
 * A VMM stops the receive ring first (QEMU: ring 0, then 1), and a back-end
 * whose transmit ring still runs would forward into a stopped receive ring
 * and drop (a switch, a loop back to the same guest): the back-end's
 * transmit ring is stopped first.  What it returned waits in the shadow
 * ring for the VMM's own stop of that ring.
 */
static enum vrp_result vrp_get_vring_base(struct vrm_proxy *p, struct vrp_req *req)
{
	uint32_t idx = req->idx;
	struct vrp_queue *vq = req->vq;
	struct vrm_queue *q = &p->b->queues[vrp_qslot(p, idx)];
	struct vrm_shadow_queue *sh = &p->b->shadow[vrp_qslot(p, idx)];
	struct vrm_ux_queue rq = vrp_rq(p, idx);
	bool was_started = vq->started;
	struct vu_msg rep;

	vrp_queue_quiesce(p, idx);
	if (!vrp_is_blk(p) && !(idx & 1) && idx + 1 < VRP_NQ && (p->be_rings & (1u << (idx + 1)))) {
		vrp_queue_quiesce(p, idx + 1);
		vrp_be_drain(p, idx + 1);
		vrp_be_stop_ring(p, idx + 1);
	}
	vrp_be_stop_ring(p, idx);
	if (was_started) {
		uint16_t sh_used;

		vrp_complete(p, idx);
		vrm_ux_used_flush(&rq);
		sh_used = vrm_swab16_if(VRM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE));
		if ((p->be_stopped & (1u << idx)) && p->be_stopped_at[idx] != sh_used)
			pr_info("device %s: queue %u: the back-end stopped with %u chains taken and "
				"not returned: they are handed to it again at the restart\n",
				p->cfg.name, idx, (uint16_t)(p->be_stopped_at[idx] - sh_used));
		vq->base = q->last_used;
		pr_debug("device %s: queue %u stopped at %u (%u translated, not taken back)\n",
			 p->cfg.name, idx, vq->base, (uint16_t)(q->last_avail - q->last_used));
	}
	p->be_stopped &= ~(1u << idx);
	vrp_queue_stop(p, idx);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	vq->kickfd = -1;
	vq->be_kick_sent = false;
	if (!vrp_any_started(p)) {
		p->order_latched = false;
		p->state = "stopped";
	}
	vu_msg_init(&rep, VU_GET_VRING_BASE);
	vu_put_u32(&rep, 0, idx);
	vu_put_u32(&rep, 4, vq->base);
	return vrp_replied(req, vrp_reply(p, req->m, &rep));
}

static enum vrp_result vrp_set_vring_kick(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vrp_queue *vq = req->vq;
	int err;

	if (!vrp_eventfd_ok(p, req, "kick"))
		return vrp_refuse(req, -EINVAL);
	/* Polling mode (no fd) means no kicks to translate at. */
	if (req->fd < 0) {
		vrp_err(p, "queue %u: a kick fd is required (polling VMMs are not "
			"supported)", req->idx);
		return vrp_refuse(req, -EINVAL);
	}
	/* Another kick fd for a running ring: its state stays. */
	if (vq->started)
		vrp_queue_quiesce(p, req->idx);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	vq->kickfd = req->fd;
	vq->be_kick_sent = false;
	err = vq->started ? vrp_kick_attach(p, req->idx) : vrp_queue_try_start(p, req->idx);
	if (err)
		return vrp_refuse(req, err);
	err = vrp_be_set_kick(p, req->idx);
	/* Before SET_FEATURES only the send can fail, which ends the session
	 * (vrp_be_send); after it, only our own eventfd can be missing. */
	if (err)
		return p->features_set ? vrp_refuse(req, err) : vrp_fatal(req, err);
	/* Kicks that came before the fd was in our loop. */
	if (vq->started && p->kick_path == VRM_KICK_USERSPACE)
		vrp_user_kick(p, req->idx);
	return VRP_OK;
}

static enum vrp_result vrp_set_vring_call(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vrp_queue *vq = req->vq;
	int err;

	if (!vrp_eventfd_ok(p, req, "call"))
		return vrp_refuse(req, -EINVAL);
	/* The VMM's call fd is signalled by us; the back-end signals ours.
	 * QEMU swaps it when it masks. */
	if (vq->vmm_callfd >= 0)
		close(vq->vmm_callfd);
	vq->vmm_callfd = req->fd;
	if (vq->call.fd < 0) {
		vq->call = (struct vrm_ev){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
					   .fn = vrp_on_call, .ctx = p, .arg = (int)req->idx };
		if (vq->call.fd < 0 || vrm_ev_add(p->epfd, &vq->call, EPOLLIN))
			return vrp_refuse(req, -errno);
	}
	/* Every time, not once: a back-end drops its call fd when the ring
	 * stops (DPDK closes it at GET_VRING_BASE) and a ring that starts
	 * again needs it back. */
	err = vrp_be_u64(p, VU_SET_VRING_CALL, req->idx, vq->call.fd);
	if (err)
		return vrp_fatal(req, err);
	/* A running ring may have returned entries before the VMM had a call
	 * fd with us (a resumed one does). */
	if (vq->started) {
		vrp_complete(p, req->idx);
		vrp_signal_vmm(vq);
	}
	return VRP_OK;
}

/* Nothing reports ring errors to the VMM: its fd is taken and closed. */
static enum vrp_result vrp_set_vring_err(struct vrm_proxy *p, struct vrp_req *req)
{
	if (req->fd >= 0)
		close(req->fd);
	return VRP_OK;
}

static enum vrp_result vrp_get_protocol_features(struct vrm_proxy *p, struct vrp_req *req)
{
	return vrp_replied(req, vrp_reply_u64(p, req->m, vrp_vmm_pf(p)));
}

static enum vrp_result vrp_set_protocol_features(struct vrm_proxy *p, struct vrp_req *req)
{
	p->vmm_pf = vu_get_u64(req->m, 0) & vrp_vmm_pf(p);
	return VRP_OK;
}

static enum vrp_result vrp_get_queue_num(struct vrm_proxy *p, struct vrp_req *req)
{
	return vrp_replied(req, vrp_reply_u64(p, req->m, vrp_queue_num(p)));
}

static enum vrp_result vrp_set_vring_enable(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vrp_queue *vq = req->vq;
	int err;

	vq->enabled = vu_get_u32(req->m, 4) != 0;
	if (vq->enabled) {
		err = vrp_queue_try_start(p, req->idx);
		if (err)
			return vrp_refuse(req, err);
	}
	if (!p->be_proto)
		return VRP_OK;
	return vrp_sent(req, vrp_be_state(p, VU_SET_VRING_ENABLE, req->idx, vq->enabled));
}

/* SEND_RARP, NET_SET_MTU: not offered; harmless to ignore. */
static enum vrp_result vrp_ignore(struct vrm_proxy *p, struct vrp_req *req)
{
	return VRP_OK;
}

static enum vrp_result vrp_set_vring_endian(struct vrm_proxy *p, struct vrp_req *req)
{
	uint32_t u = vu_get_u32(req->m, 4);

	if (!(p->vmm_pf & BIT(VU_PF_CROSS_ENDIAN))) {
		vrp_err(p, "SET_VRING_ENDIAN without CROSS_ENDIAN negotiated");
		return vrp_refuse(req, -EPROTO);
	}
	if (u != VU_VRING_LITTLE_ENDIAN && u != VU_VRING_BIG_ENDIAN)
		return vrp_refuse(req, -EINVAL);
	/* Refused while the ring runs.  A stopped ring may change it (QEMU
	 * sets the native order back when it stops a ring); it must agree
	 * with the running rings when it starts again. */
	if (req->vq->started) {
		vrp_err(p, "queue %u: byte order change to %s refused while the device runs %s",
			req->idx, u ? "big-endian" : "little-endian", vrp_order_name(p->order));
		return vrp_refuse(req, -EBUSY);
	}
	req->vq->endian_be = u == VU_VRING_BIG_ENDIAN;
	req->vq->endian_set = true;
	return VRP_OK;	/* the back-end's rings are little-endian, always */
}

/* ---- the table and its dispatcher ---- */

/* The fds a request brings. */
enum vrp_fds {
	VRP_FDS_NONE,		/* none: any it brings is closed unread */
	VRP_FD_RING,		/* one, unless its u64 says VU_VRING_NOFD: req->fd */
	VRP_FDS_REGIONS,	/* one per memory region: the handler counts them */
	VRP_FD_ONE,		/* one, always: req->fd */
};

#define VRP_SIZE_ANY	UINT32_MAX	/* not checked here: nothing is read, or
					 * the handler checks a table */

struct vrp_request {
	enum vrp_result (*handle)(struct vrm_proxy *p, struct vrp_req *req);
	uint32_t size;		/* the payload's bytes, exactly, or VRP_SIZE_ANY */
	bool ring;		/* its first u32 names a ring (req->idx, req->vq) */
	enum vrp_fds fds;
	bool reply;		/* has a reply of its own: never a REPLY_ACK */
};

/* The requests a VMM may make; any other is refused. */
static const struct vrp_request vrp_requests[] = {
	/*                            handler                    payload         ring   fds              reply */
	[VU_GET_FEATURES]          = { vrp_get_features,          VRP_SIZE_ANY,  false, VRP_FDS_NONE,    true  },
	[VU_SET_FEATURES]          = { vrp_set_features,          VU_U64_SIZE,   false, VRP_FDS_NONE,    false },
	[VU_SET_OWNER]             = { vrp_set_owner,             VRP_SIZE_ANY,  false, VRP_FDS_NONE,    false },
	[VU_RESET_OWNER]           = { vrp_reset_device,          VRP_SIZE_ANY,  false, VRP_FDS_NONE,    false },
	[VU_SET_MEM_TABLE]         = { vrp_set_mem_table,         VRP_SIZE_ANY,  false, VRP_FDS_REGIONS, false },
	[VU_SET_LOG_BASE]          = { vrp_set_log_base,          VU_LOG_SIZE,   false, VRP_FD_ONE,      true  },
	[VU_SET_LOG_FD]            = { vrp_set_log_fd,            VRP_SIZE_ANY,  false, VRP_FD_ONE,      false },
	[VU_SET_VRING_NUM]         = { vrp_set_vring_num,         VU_STATE_SIZE, true,  VRP_FDS_NONE,    false },
	[VU_SET_VRING_ADDR]        = { vrp_set_vring_addr,        VU_ADDR_SIZE,  true,  VRP_FDS_NONE,    false },
	[VU_SET_VRING_BASE]        = { vrp_set_vring_base,        VU_STATE_SIZE, true,  VRP_FDS_NONE,    false },
	[VU_GET_VRING_BASE]        = { vrp_get_vring_base,        VU_STATE_SIZE, true,  VRP_FDS_NONE,    true  },
	[VU_SET_VRING_KICK]        = { vrp_set_vring_kick,        VU_U64_SIZE,   true,  VRP_FD_RING,     false },
	[VU_SET_VRING_CALL]        = { vrp_set_vring_call,        VU_U64_SIZE,   true,  VRP_FD_RING,     false },
	[VU_SET_VRING_ERR]         = { vrp_set_vring_err,         VU_U64_SIZE,   true,  VRP_FD_RING,     false },
	[VU_GET_PROTOCOL_FEATURES] = { vrp_get_protocol_features, VRP_SIZE_ANY,  false, VRP_FDS_NONE,    true  },
	[VU_SET_PROTOCOL_FEATURES] = { vrp_set_protocol_features, VU_U64_SIZE,   false, VRP_FDS_NONE,    false },
	[VU_GET_QUEUE_NUM]         = { vrp_get_queue_num,         VRP_SIZE_ANY,  false, VRP_FDS_NONE,    true  },
	[VU_SET_VRING_ENABLE]      = { vrp_set_vring_enable,      VU_STATE_SIZE, true,  VRP_FDS_NONE,    false },
	[VU_SEND_RARP]             = { vrp_ignore,                VRP_SIZE_ANY,  false, VRP_FDS_NONE,    false },
	[VU_NET_SET_MTU]           = { vrp_ignore,                VRP_SIZE_ANY,  false, VRP_FDS_NONE,    false },
	[VU_SET_BACKEND_REQ_FD]    = { vrp_set_backend_req_fd,    VRP_SIZE_ANY,  false, VRP_FD_ONE,      false },
	[VU_SET_VRING_ENDIAN]      = { vrp_set_vring_endian,      VU_STATE_SIZE, true,  VRP_FDS_NONE,    false },
	[VU_GET_CONFIG]            = { vrp_get_config,            VRP_SIZE_ANY,  false, VRP_FDS_NONE,    true  },
	[VU_SET_CONFIG]            = { vrp_set_config,            VRP_SIZE_ANY,  false, VRP_FDS_NONE,    false },
	[VU_RESET_DEVICE]          = { vrp_reset_device,          VRP_SIZE_ANY,  false, VRP_FDS_NONE,    false },
};

/* Request `r`'s row, NULL for one we do not serve. */
static const struct vrp_request *vrp_request_row(uint32_t r)
{
	if (r >= sizeof(vrp_requests) / sizeof(vrp_requests[0]) || !vrp_requests[r].handle)
		return NULL;
	return &vrp_requests[r];
}

/* Checks a request against its row, then hands it to its handler.  A
 * malformed one (the size, a ring we do not have, an fd missing) ends the
 * session; one we do not serve is refused. */
static enum vrp_result vrp_dispatch(struct vrm_proxy *p, const struct vrp_request *row,
				    struct vrp_req *req)
{
	const struct vu_msg *m = req->m;
	uint64_t u;

	pr_debug("device %s: VMM %s (%u bytes, %d fds)\n", p->cfg.name,
		 vu_request_name(m->request), m->size, m->nfds);
	if (!row) {
		vrp_err(p, "VMM request %s (%u) is not supported", vu_request_name(m->request),
			m->request);
		return vrp_refuse(req, -EOPNOTSUPP);
	}
	if (row->size != VRP_SIZE_ANY && m->size != row->size)
		return vrp_fatal(req, -EBADMSG);
	if (row->ring) {
		req->idx = vu_get_u32(m, 0) & VU_VRING_IDX_MASK;
		if (req->idx >= vrp_nq(p)) {
			vrp_err(p, "%s for queue %u: the device has %u",
				vu_request_name(m->request), req->idx, vrp_nq(p));
			return vrp_fatal(req, -EBADMSG);
		}
		req->vq = &p->q[req->idx];
	}
	if (row->fds == VRP_FD_ONE) {
		req->fd = vu_msg_take_fd(req->m, 0);
		if (req->fd < 0)
			return vrp_fatal(req, -EBADMSG);
	}
	if (row->fds == VRP_FD_RING) {
		u = vu_get_u64(m, 0);
		req->fd = (u & VU_VRING_NOFD) ? -1 : vu_msg_take_fd(req->m, 0);
		if (!(u & VU_VRING_NOFD) && req->fd < 0)
			return vrp_fatal(req, -EBADMSG);
	}
	return row->handle(p, req);
}

/*
 * Whether a whole message (or the end of the connection) waits on the VMM
 * socket.  vu_recv() reads a message to its end; a VMM that stopped half-way
 * through one would hold the daemon, and every other device, in that read.
 * The socket is edge-triggered: a partial message waits for the next edge.
 */
static bool vrp_vmm_ready(int fd, uint32_t events)
{
	uint32_t hdr[3];
	int avail = 0;
	char c;

	if (ioctl(fd, FIONREAD, &avail))
		return true;		/* vu_recv() says what is wrong */
	if (avail == 0)			/* nothing more, or the end */
		return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) >= 0 || errno != EAGAIN;
	/* Gone with a message half-sent: vu_recv() sees the end in it. */
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		return true;
	if (avail < VU_HDR_SIZE)
		return false;
	if (recv(fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT) != sizeof(hdr))
		return false;
	/* Too large is refused by vu_recv() before it reads the payload. */
	return vrm_swab32_if(VRM_ORDER_LE, hdr[2]) > VU_MAX_PAYLOAD ||
	       (uint32_t)avail >= VU_HDR_SIZE + vrm_swab32_if(VRM_ORDER_LE, hdr[2]);
}

/* Reads one request and acts on what came of it. */
static void vrp_vmm_one(struct vrm_proxy *p, int fd)
{
	struct vu_msg *m = malloc(sizeof(*m));
	struct vrp_req req = { .m = m, .fd = -1 };
	const struct vrp_request *row;
	enum vrp_result res;
	int rc;

	if (!m)
		return;
	rc = vu_recv(fd, m);
	if (rc <= 0) {
		if (rc == 0 || rc == -ECONNRESET)
			vrp_teardown(p, "VMM disconnected");
		else {
			vrp_err(p, "malformed message from the VMM: %s",
				rc == -EPIPE ? "the connection ended in the middle of a message" :
				rc == -EBADMSG ? "a header of another version, a payload too long, or "
						 "too many fds" : strerror(-rc));
			vrp_teardown(p, "VMM protocol error");
		}
		free(m);
		return;
	}
	row = vrp_request_row(m->request);
	res = vrp_dispatch(p, row, &req);
	/* REPLY_ACK, asked for by a request without a reply of its own (read
	 * after the handler: SET_PROTOCOL_FEATURES may have just agreed it). */
	if (res != VRP_ENDED && (p->vmm_pf & BIT(VU_PF_REPLY_ACK)) &&
	    (m->flags & VU_FLAG_NEED_REPLY) && !(row && row->reply)) {
		bool told = vrp_reply_u64(p, m, res == VRP_OK ? 0 : 1) == 0;

		/* A refusal the VMM was told of is no end of the session. */
		if (told && res == VRP_REFUSED) {
			pr_info("device %s: %s refused: %s\n", p->cfg.name,
				vu_request_name(m->request), strerror(-req.err));
			res = VRP_OK;
		}
	}
	vu_msg_close_fds(m);
	if (res == VRP_REFUSED || res == VRP_FATAL) {
		if (!p->last_error[0])
			vrp_err(p, "%s failed: %s", vu_request_name(m->request), strerror(-req.err));
		vrp_teardown(p, "request failed");
	}
	free(m);
}

void vrp_on_vmm(struct vrm_ev *ev, uint32_t events)
{
	struct vrm_proxy *p = ev->ctx;

	/* Every whole message there is (edge-triggered), while the session
	 * lasts; at most 64 per wake-up so one VMM cannot keep the loop to
	 * itself (the rest re-arms the edge below). */
	for (int n = 0; p->vmm.fd == ev->fd && ev->fd >= 0; n++) {
		if (!vrp_vmm_ready(ev->fd, events))
			return;
		if (n == 64) {
			/* Leave the rest for the next turn of the loop. */
			struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
						 .data.ptr = ev };

			epoll_ctl(p->epfd, EPOLL_CTL_MOD, ev->fd, &e);
			return;
		}
		vrp_vmm_one(p, ev->fd);
	}
}
