// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What a virtio-blk device (type=blk) has of its own in the proxy: its config
 * space, and the back-end's news that it changed.
 *
 * A modern back-end (qemu-storage-daemon, SPDK) keeps the config space
 * little-endian; a legacy guest reads each field in its own byte order.
 * QEMU fetches the config space once, with GET_CONFIG, when it realizes
 * the device, before the guest has said anything, caches it and hands it
 * to the guest unchanged but for num_queues (which it writes itself, in the
 * guest's order); it sends SET_CONFIG for `writeback` alone, and fetches
 * again when the back-end says, on its request channel, that the config
 * changed (then it takes `capacity`).  So the device's byte order is the
 * daemon's configuration (order=), both directions are converted here
 * (vrm_blk_config_convert in xlate_blk.h), and a ring that starts in
 * another order is refused (vrp_blk_order_check).  The request headers are
 * the translation core's (VRM_BLK_REQ).
 *
 * Untrusted, both: the VMM's offsets and sizes are checked before anything
 * is forwarded; the back-end's reply must be the size asked for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>
#include <vringmed/xlate_blk.h>

#include "log.h"
#include "proxy_int.h"
#include "vu_wire.h"

/* A GET_CONFIG or SET_CONFIG of the VMM's, checked: its part of the config
 * space in *off, *len.  False (said in the log) when it is none of ours. */
static bool vrp_config_part(struct vrm_proxy *p, const struct vu_msg *m, uint32_t *off,
			    uint32_t *len)
{
	/* A virtio-net device's config space is the VMM's own: as any
	 * request it does not serve. */
	if (!vrp_is_blk(p)) {
		vrp_err(p, "VMM request %s (%u) is not supported", vu_request_name(m->request),
			m->request);
		return false;
	}
	if (m->size < VU_CONFIG_HDR_SIZE) {
		vrp_err(p, "%s of %u bytes", vu_request_name(m->request), m->size);
		return false;
	}
	*off = vu_get_u32(m, 0);
	*len = vu_get_u32(m, 4);
	if (*len > VRM_BLK_CONFIG_BYTES || *off > VRM_BLK_CONFIG_BYTES - *len ||
	    m->size != VU_CONFIG_HDR_SIZE + *len) {
		vrp_err(p, "%s of %u bytes at %u in %u bytes: beyond the %u of a virtio-blk config "
			"space, or not what it carries", vu_request_name(m->request), *len, *off,
			m->size, VRM_BLK_CONFIG_BYTES);
		return false;
	}
	if (p->be.fd < 0 || p->be_down) {
		vrp_err(p, "%s: the back-end is down", vu_request_name(m->request));
		return false;
	}
	return true;
}

/* The back-end's config space, little-endian, to the VMM in the device's
 * byte order. */
enum vrp_result vrp_get_config(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vu_msg fwd, rep;
	uint32_t off, len;
	int err;

	if (!vrp_config_part(p, req->m, &off, &len))
		return vrp_refuse(req, -EINVAL);
	vu_msg_init(&fwd, VU_GET_CONFIG);
	memcpy(fwd.payload, req->m->payload, req->m->size);
	fwd.size = req->m->size;
	err = vu_call(p->be.fd, &fwd, &rep);
	if (err) {
		vrp_err(p, "GET_CONFIG: the back-end did not answer: %s", strerror(-err));
		return vrp_fatal(req, err);
	}
	vu_msg_close_fds(&rep);
	if (rep.size != req->m->size) {
		vrp_err(p, "GET_CONFIG: the back-end answered %u bytes for %u", rep.size,
			req->m->size);
		return vrp_refuse(req, -EPROTO);
	}
	if (vrm_blk_config_convert(rep.payload + VU_CONFIG_HDR_SIZE, off, len, VRM_ORDER_LE,
				   (enum vrm_order)p->cfg.order)) {
		vrp_err(p, "GET_CONFIG of %u bytes at %u cuts a field in two", len, off);
		return vrp_refuse(req, -EINVAL);
	}
	pr_debug("device %s: config space [%u, +%u) to the VMM %s\n", p->cfg.name, off, len,
		 vrp_order_name(p->cfg.order));
	return vrp_replied(req, vrp_reply(p, req->m, &rep));
}

/* The VMM's write (QEMU: `writeback`), to the back-end little-endian. */
enum vrp_result vrp_set_config(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vu_msg fwd;
	uint32_t off, len;

	if (!vrp_config_part(p, req->m, &off, &len))
		return vrp_refuse(req, -EINVAL);
	vu_msg_init(&fwd, VU_SET_CONFIG);
	memcpy(fwd.payload, req->m->payload, req->m->size);
	fwd.size = req->m->size;
	if (vrm_blk_config_convert(fwd.payload + VU_CONFIG_HDR_SIZE, off, len,
				   (enum vrm_order)p->cfg.order, VRM_ORDER_LE)) {
		vrp_err(p, "SET_CONFIG of %u bytes at %u cuts a field in two", len, off);
		return vrp_refuse(req, -EINVAL);
	}
	return vrp_sent(req, vrp_be_send(p, &fwd));
}

/* The VMM's end of the channel on which a back-end speaks first: kept, for
 * the config changes the back-end announces (vrp_on_be_req). */
enum vrp_result vrp_set_backend_req_fd(struct vrm_proxy *p, struct vrp_req *req)
{
	if (!(p->vmm_pf & BIT(VU_PF_BACKEND_REQ))) {
		close(req->fd);
		vrp_err(p, "SET_BACKEND_REQ_FD without BACKEND_REQ negotiated");
		return vrp_refuse(req, -EPROTO);
	}
	if (p->vmm_req_fd >= 0)
		close(p->vmm_req_fd);
	p->vmm_req_fd = req->fd;
	return VRP_OK;
}

/* The back-end's protocol features the proxy takes: a block device's config
 * space, and the channel for the news of its changes. */
uint64_t vrp_blk_be_pf(struct vrm_proxy *p)
{
	return vrp_is_blk(p) ? BIT(VU_PF_CONFIG) | BIT(VU_PF_BACKEND_REQ) : 0;
}

static void vrp_be_req_close(struct vrm_proxy *p)
{
	if (p->be_req.fd < 0)
		return;
	vrm_ev_del(p->epfd, &p->be_req);
	close(p->be_req.fd);
	p->be_req.fd = -1;
}

/* A message of the back-end's on its request channel.  Its config changed
 * (a disk resized): the VMM is told on its own channel, and fetches the
 * config space again (GET_CONFIG, converted as ever).  Anything else is
 * not ours to pass on; an answer wanted is given. */
static void vrp_on_be_req(struct vrm_ev *ev, uint32_t events)
{
	struct vrm_proxy *p = ev->ctx;
	struct vu_msg m, fwd;
	int rc;

	(void)events;
	rc = vu_recv(ev->fd, &m);
	if (rc <= 0) {
		/* Its end went with it: the main socket tells the rest. */
		vrp_be_req_close(p);
		return;
	}
	vu_msg_close_fds(&m);
	if (m.request == VU_BACKEND_CONFIG_CHANGE_MSG && p->vmm_req_fd >= 0) {
		vu_msg_init(&fwd, VU_BACKEND_CONFIG_CHANGE_MSG);
		rc = vu_send(p->vmm_req_fd, &fwd);
		pr_info("device %s: the back-end's config space changed: %s\n", p->cfg.name,
			rc ? "the VMM cannot be told" : "the VMM is told");
	} else {
		pr_debug("device %s: back-end request %u not passed on\n", p->cfg.name, m.request);
	}
	if (m.flags & VU_FLAG_NEED_REPLY) {
		vu_msg_u64(&fwd, m.request, 0, -1);
		fwd.flags = VU_VERSION | VU_FLAG_REPLY;
		if (vu_send(ev->fd, &fwd))
			vrp_be_req_close(p);
	}
}

/* After the back-end's protocol features were set (each time it connects):
 * a block device's back-end must serve its config space, and gets our
 * end of a request channel when it offers one. */
int vrp_blk_be_connected(struct vrm_proxy *p)
{
	struct vu_msg m;
	int sv[2], err;

	vrp_be_req_close(p);
	if (!vrp_is_blk(p))
		return 0;
	if (!(p->be_pf & BIT(VU_PF_CONFIG))) {
		vrp_err(p, "back-end %s does not serve a config space (no CONFIG protocol "
			"feature): a virtio-blk device needs it", p->cfg.backend_path);
		return -EPROTO;
	}
	if (!(p->be_pf & BIT(VU_PF_BACKEND_REQ)))
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	vu_msg_init(&m, VU_SET_BACKEND_REQ_FD);
	m.fds[0] = sv[1];
	m.nfds = 1;
	err = vrp_be_send(p, &m);
	close(sv[1]);
	p->be_req = (struct vrm_ev){ .fd = sv[0], .fn = vrp_on_be_req, .ctx = p };
	if (!err)
		err = vrm_ev_add(p->epfd, &p->be_req, EPOLLIN);
	if (err) {
		close(sv[0]);
		p->be_req.fd = -1;
	}
	return err;
}

/* At the session's end. */
void vrp_blk_close(struct vrm_proxy *p)
{
	vrp_be_req_close(p);
	if (p->vmm_req_fd >= 0)
		close(p->vmm_req_fd);
	p->vmm_req_fd = -1;
}

/* A block queue's header mode: a legacy guest's requests go through the
 * header slot whatever its byte order (a little-endian one's FLUSH_OUT is a
 * modern back-end's FLUSH too); a modern guest's headers already agree. */
void vrp_blk_queue_mode(struct vrm_proxy *p, struct vrm_queue *q)
{
	q->net_mode = p->legacy ? VRM_BLK_REQ : VRM_NET_NONE;
	q->net_hdr_len = 0;
}

/* The byte order ring i starts in must be the device's: the guest read its
 * config space in that order.  0, or -EINVAL said in the log. */
int vrp_blk_order_check(struct vrm_proxy *p, unsigned i, int order)
{
	if (!vrp_is_blk(p) || order == p->cfg.order)
		return 0;
	vrp_err(p, "queue %u starts %s %s rings, but the device's config space is %s "
		"(order=%s in its configuration): the guest would misread it; refused",
		i, p->legacy ? "legacy" : "modern", vrp_order_name(order),
		vrp_order_name(p->cfg.order), p->cfg.order == VRM_ORDER_BE ? "be" : "le");
	return -EINVAL;
}
