// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A device's vhost-user session with the XDP back-end (backend_xdp_int.h):
 * the proxy is the front-end, on a socketpair, and speaks to this back-end
 * as to any other, always VERSION_1.  One handler per request; the memory
 * table's regions (the guest's and the shadow region) are mapped here from
 * their fds, as an out-of-process back-end would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_xdp.h>

#include "backend_xdp_int.h"
#include "log.h"
#include "vu_wire.h"

#define BIT(n)	(1ull << (n))
/* What the back-end offers: mergeable receive buffers, indirect tables
 * (xb_walk), and the receive offloads xdp_gro.c does in software:
 * checksums checked (the guest need not), TCP segments merged into frames
 * of up to 64 KiB.  No transmit offloads: the guest checksums and segments
 * what it sends. */
#define XB_FEATURES	(BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF) | BIT(VU_NET_F_GUEST_CSUM) | \
			 BIT(VU_NET_F_GUEST_TSO4) | BIT(VU_NET_F_GUEST_TSO6) | BIT(VU_F_INDIRECT_DESC))

static void xb_unmap(struct xb_dev *d)
{
	for (int i = 0; i < d->nreg; i++)
		munmap(d->reg[i].map, d->reg[i].map_len);
	d->nreg = 0;
	for (unsigned q = 0; q < 2; q++)
		d->vq[q].running = false;
}

static int xb_ring_resolve(struct xb_dev *d, struct xb_vq *vq);

static int xb_mem_table(struct xb_dev *d, struct vu_msg *m)
{
	uint32_t n = vu_get_u32(m, 0);

	if (n > VU_MAX_REGIONS || (int)n != m->nfds ||
	    m->size < VU_MEM_HDR_SIZE + n * VU_MEM_REGION_SIZE)
		return -EINVAL;
	xb_unmap(d);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;
		struct xb_region *r = &d->reg[i];
		uint64_t moff = vu_get_u64(m, off + 24);

		r->gpa = vu_get_u64(m, off);
		r->size = vu_get_u64(m, off + 8);
		r->uaddr = vu_get_u64(m, off + 16);
		r->map_len = r->size + moff;
		r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
		if (r->map == MAP_FAILED) {
			int err = -errno;

			pr_warn("xdp %s: device %s: cannot map memory region %u: %s\n",
				d->port->iface, d->slot->name, i, strerror(-err));
			xb_unmap(d);
			return err;
		}
		r->ptr = (uint8_t *)r->map + moff;
		d->nreg = (int)i + 1;
	}
	/* Ring addresses are the front-end's: found again in the new table. */
	for (unsigned q = 0; q < 2; q++)
		xb_ring_resolve(d, &d->vq[q]);
	return 0;
}

static int xb_ring_addr(struct xb_dev *d, struct xb_vq *vq, struct vu_msg *m)
{
	vq->desc_ua = vu_get_u64(m, VU_ADDR_DESC_OFF);
	vq->used_ua = vu_get_u64(m, VU_ADDR_USED_OFF);
	vq->avail_ua = vu_get_u64(m, VU_ADDR_AVAIL_OFF);
	return xb_ring_resolve(d, vq);
}

static int xb_ring_resolve(struct xb_dev *d, struct xb_vq *vq)
{
	uint64_t n = VRM_MAX_RING;	/* the shadow rings' room, whatever num says */

	vq->desc = xb_ua(d, vq->desc_ua, 16 * n);
	vq->avail = xb_ua(d, vq->avail_ua, 6 + 2 * n);
	vq->used = xb_ua(d, vq->used_ua, 6 + 8 * n);
	vq->have_addr = vq->desc && vq->avail && vq->used;
	return vq->have_addr ? 0 : -EFAULT;
}

/* A ring runs once it has everything; its kick fd is what starts it. */
static void xb_ring_check(struct xb_dev *d, struct xb_vq *vq)
{
	vq->running = vq->have_addr && vq->num && vq->kick.fd >= 0 && d->xsk;
}

static void xb_ring_stop(struct xb_dev *d, struct xb_vq *vq)
{
	vq->running = false;
	if (vq->kick.fd >= 0) {
		xb_ev_del(d->port, &vq->kick);
		close(vq->kick.fd);
		vq->kick.fd = -1;
	}
}

static void xb_on_kick(struct xb_ev *ev, uint32_t events)
{
	uint64_t v;

	/* The loop's turn does the work: a kick only wakes it. */
	if (read(ev->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		xb_ring_stop(ev->dev, &ev->dev->vq[ev->q]);
}

static int xb_set_fd(struct xb_dev *d, struct vu_msg *m, bool kick)
{
	uint32_t v = (uint32_t)vu_get_u64(m, 0);
	unsigned q = v & VU_VRING_IDX_MASK;
	int fd = (v & VU_VRING_NOFD) ? -1 : vu_msg_take_fd(m, 0);
	struct xb_vq *vq;

	if (q >= 2) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	vq = &d->vq[q];
	if (!kick) {
		if (vq->callfd >= 0)
			close(vq->callfd);
		vq->callfd = fd;
		return 0;
	}
	xb_ring_stop(d, vq);
	vq->kick = (struct xb_ev){ .fd = fd, .fn = xb_on_kick, .port = d->port, .dev = d, .q = q };
	if (fd >= 0 && xb_ev_add(d->port, &vq->kick, EPOLLIN))
		return -errno;
	xb_ring_check(d, vq);
	return 0;
}

static int xb_reply_u64(struct xb_dev *d, struct vu_msg *m, uint64_t v)
{
	struct vu_msg rep;

	vu_msg_u64(&rep, m->request, v, -1);
	rep.flags |= VU_FLAG_REPLY;
	return vu_send(d->sock.fd, &rep);
}

/* GET_VRING_BASE: the ring stops, and says where. */
static int xb_get_base(struct xb_dev *d, struct vu_msg *m)
{
	uint32_t q = vu_get_u32(m, 0);
	struct vu_msg rep;

	if (q >= 2)
		return -EINVAL;
	xb_ring_stop(d, &d->vq[q]);
	xb_flush_calls(d);
	vu_msg_init(&rep, m->request);
	rep.flags |= VU_FLAG_REPLY;
	vu_put_u32(&rep, 0, q);
	vu_put_u32(&rep, 4, d->vq[q].last_avail);
	return vu_send(d->sock.fd, &rep);
}

static int xb_ring_state(struct xb_dev *d, struct vu_msg *m)
{
	uint32_t q = vu_get_u32(m, 0), num = vu_get_u32(m, 4);

	if (q >= 2)
		return -EINVAL;
	if (m->request == VU_SET_VRING_NUM) {
		if (!num || num > VRM_MAX_RING || (num & (num - 1)))
			return -EINVAL;
		d->vq[q].num = (uint16_t)num;
	} else if (m->request == VU_SET_VRING_BASE) {
		d->vq[q].last_avail = d->vq[q].used_idx = (uint16_t)num;
	}
	return 0;
}

static int xb_handle(struct xb_dev *d, struct vu_msg *m)
{
	uint32_t q = vu_get_u32(m, 0);

	switch (m->request) {
	case VU_GET_FEATURES:
		return xb_reply_u64(d, m, XB_FEATURES);
	case VU_SET_FEATURES:
		d->features = vu_get_u64(m, 0);
		return d->features & ~XB_FEATURES ? -EINVAL : 0;
	case VU_SET_OWNER:
	case VU_SET_VRING_ENABLE:
		return 0;
	case VU_SET_MEM_TABLE:
		return xb_mem_table(d, m);
	case VU_SET_VRING_NUM:
	case VU_SET_VRING_BASE:
		return xb_ring_state(d, m);
	case VU_SET_VRING_ADDR:
		if (q >= 2)
			return -EINVAL;
		return xb_ring_addr(d, &d->vq[q], m);
	case VU_GET_VRING_BASE:
		return xb_get_base(d, m);
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
		return xb_set_fd(d, m, m->request == VU_SET_VRING_KICK);
	default:
		return -ENOTSUP;
	}
}

void xb_on_sock(struct xb_ev *ev, uint32_t events)
{
	struct xb_dev *d = ev->dev;
	struct vu_msg m;
	int r = vu_recv(ev->fd, &m);

	if (r <= 0) {
		if (r < 0)
			pr_warn("xdp %s: device %s: %s\n", d->port->iface, d->slot->name, strerror(-r));
		xb_dev_free(d);
		return;
	}
	r = xb_handle(d, &m);
	vu_msg_close_fds(&m);
	if (r)
		pr_warn("xdp %s: device %s: %s: %s\n", d->port->iface, d->slot->name,
			vu_request_name(m.request), strerror(-r));
}

/* A new session for device `name`, on our end `fd` of its socketpair. */
void xb_dev_new(struct xb_port *pt, int fd, const char *name)
{
	struct xb_slot *s = NULL;
	struct xb_dev *d;
	unsigned i;

	for (i = 0; i < VRM_XDP_MAX_SOCKS && !s; i++)
		if (pt->slots[i].used && !strcmp(pt->slots[i].name, name) && !pt->dev[i])
			s = &pt->slots[i];
	for (i = 0; i < VRM_XDP_MAX_SOCKS && !s; i++)
		if (!pt->slots[i].used)
			s = &pt->slots[i];
	d = s ? calloc(1, sizeof(*d)) : NULL;
	if (!d) {
		pr_warn("xdp %s: no room for device %s\n", pt->iface, name);
		close(fd);
		return;
	}
	d->idx = (unsigned)(s - pt->slots);
	d->slot = s;
	d->port = pt;
	pthread_mutex_lock(&pt->lock);
	if (!s->used) {
		memset(s, 0, sizeof(*s));
		snprintf(s->name, sizeof(s->name), "%s", name);
		snprintf(s->st.iface, sizeof(s->st.iface), "%s", pt->iface);
		s->used = true;
	}
	pthread_mutex_unlock(&pt->lock);
	for (unsigned q = 0; q < 2; q++)
		d->vq[q].kick.fd = d->vq[q].callfd = -1;
	d->sock = (struct xb_ev){ .fd = fd, .fn = xb_on_sock, .port = pt, .dev = d };
	if (xb_sock_open(d) || xb_ev_add(pt, &d->sock, EPOLLIN)) {
		xb_dev_free(d);
		return;
	}
	pt->dev[d->idx] = d;
}

/* What the session did, and where the port's frames are. */
static void xb_log_end(struct xb_dev *d)
{
	struct xb_port *pt = d->port;
	struct xdp_statistics xs = { 0 };
	socklen_t len = sizeof(xs);

	if (d->xsk)
		getsockopt(xsk_socket__fd(d->xsk), SOL_XDP, XDP_STATISTICS, &xs, &len);
	pr_info("xdp %s: device %s: session ended; since the daemon started: tx %llu frames "
		"(%llu dropped), rx %llu (%llu dropped; checksums %llu right, %llu wrong; %llu merged "
		"into %llu), %llu between devices; its socket: rx "
		"dropped %llu, ring full %llu, fill ring empty %llu; the port's frames: %u free, "
		"%u to fill, %u out, %llu unknown\n", pt->iface,
		d->slot->name, (unsigned long long)d->slot->st.tx_frames,
		(unsigned long long)d->slot->st.tx_drops, (unsigned long long)d->slot->st.rx_frames,
		(unsigned long long)d->slot->st.rx_drops, (unsigned long long)d->slot->st.rx_csum_valid,
		(unsigned long long)d->slot->st.rx_csum_bad, (unsigned long long)d->slot->st.rx_coalesced,
		(unsigned long long)d->slot->st.rx_merged, (unsigned long long)d->slot->st.local_frames,
		(unsigned long long)xs.rx_dropped, (unsigned long long)xs.rx_ring_full,
		(unsigned long long)xs.rx_fill_ring_empty_descs, pt->nstate[XB_FR_FREE],
		pt->nstate[XB_FR_FILL], pt->nstate[XB_FR_TX], (unsigned long long)pt->bad_frames);
}

void xb_dev_free(struct xb_dev *d)
{
	struct xb_port *pt = d->port;

	if (d->dead)
		return;
	xb_log_end(d);
	for (unsigned q = 0; q < 2; q++) {
		xb_ring_stop(d, &d->vq[q]);
		if (d->vq[q].callfd >= 0)
			close(d->vq[q].callfd);
	}
	xb_sock_close(d);
	xb_ev_del(pt, &d->sock);
	close(d->sock.fd);
	xb_unmap(d);
	if (pt->dev[d->idx] == d)
		pt->dev[d->idx] = NULL;
	d->dead = true;
	d->next_dead = pt->dead;
	pt->dead = d;
}

void xb_bury(struct xb_port *pt)
{
	while (pt->dead) {
		struct xb_dev *d = pt->dead;

		pt->dead = d->next_dead;
		free(d);
	}
}
