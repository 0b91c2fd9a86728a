// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The XDP back-end's port (backend_xdp_int.h): one per interface, shared by
 * every device on it.  The steering program is attached through libxdp; one
 * UMEM holds every frame, and each device has an AF_XDP socket on it
 * (queue 0, the UMEM shared: a veth has one queue, and the fill and
 * completion rings are the port's).  A thread runs the port: the devices'
 * sessions, kicks, sockets, and the packet socket that brings broadcast and
 * multicast to every device.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "backend_xdp_int.h"
#include "log.h"
#include "xdp_steer.skel.h"

static pthread_mutex_t xb_ports_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xb_port *xb_ports;

bool vrm_xdp_is_spec(const char *backend)
{
	return !strncmp(backend, VRM_XDP_PREFIX, strlen(VRM_XDP_PREFIX));
}

int xb_ev_add(struct xb_port *pt, struct xb_ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(pt->epfd, EPOLL_CTL_ADD, ev->fd, &e) ? -errno : 0;
}

void xb_ev_del(struct xb_port *pt, struct xb_ev *ev)
{
	if (ev->fd >= 0)
		epoll_ctl(pt->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}

/* ---- frames: each is free (ours), in the fill ring or on the way in
 * (the kernel's), or on the way out (a TX ring, until its completion) ---- */

int xb_frame_get(struct xb_port *pt, uint64_t *addr)
{
	if (!pt->free_top)
		xb_reclaim(pt);
	if (!pt->free_top)
		return -ENOBUFS;
	*addr = (uint64_t)pt->free_stack[--pt->free_top] * XB_FRAME_SIZE;
	return 0;
}

/* Frame `addr` comes back from `from` (FREE: one xb_frame_get handed out
 * and that was not used). */
void xb_frame_put(struct xb_port *pt, uint64_t addr, enum xb_frame_state from)
{
	uint32_t f = (uint32_t)(addr / XB_FRAME_SIZE);

	pt->frame[f] = XB_FR_FREE;
	pt->nstate[from]--;
	pt->nstate[XB_FR_FREE]++;
	pt->free_stack[pt->free_top++] = f;
}

/* Completed transmissions: their frames are free again. */
void xb_reclaim(struct xb_port *pt)
{
	uint32_t at = 0, n;

	n = xsk_ring_cons__peek(&pt->comp, XB_FILL, &at);

	for (uint32_t k = 0; k < n; k++) {
		uint64_t a = *xsk_ring_cons__comp_addr(&pt->comp, at + k);
		uint32_t f = (uint32_t)(a / XB_FRAME_SIZE);

		if (f >= XB_NFRAMES || pt->frame[f] != XB_FR_TX) {
			pt->bad_frames++;
			continue;
		}
		xb_frame_put(pt, (uint64_t)f * XB_FRAME_SIZE, XB_FR_TX);
		if (pt->dev[pt->owner[f]] && pt->dev[pt->owner[f]]->tx_inflight)
			pt->dev[pt->owner[f]]->tx_inflight--;
	}
	if (n)
		xsk_ring_cons__release(&pt->comp, n);
}

/* The fill ring topped up from the free frames, keeping a quarter of the
 * UMEM for transmission. */
void xb_refill(struct xb_port *pt)
{
	uint32_t want = XB_FILL - pt->nstate[XB_FR_FILL], at = 0;

	if (pt->free_top <= XB_NFRAMES / 4)
		return;
	if (want > pt->free_top - XB_NFRAMES / 4)
		want = pt->free_top - XB_NFRAMES / 4;
	if (!want)
		return;
	want = xsk_ring_prod__reserve(&pt->fill, want, &at);
	for (uint32_t k = 0; k < want; k++) {
		uint32_t f = pt->free_stack[--pt->free_top];

		pt->frame[f] = XB_FR_FILL;
		*xsk_ring_prod__fill_addr(&pt->fill, at + k) = (uint64_t)f * XB_FRAME_SIZE;
	}
	pt->nstate[XB_FR_FREE] -= want;
	pt->nstate[XB_FR_FILL] += want;
	xsk_ring_prod__submit(&pt->fill, want);
}

/* ---- devices' sockets and MACs ---- */

/* The port's UMEM, its frames all free, and its anchor: a socket of the
 * port's own on queue 0 that holds the fill and completion rings for as
 * long as the port lives (no device's socket is steered to it), so the
 * devices' sockets come and go on a UMEM that stays.  Zero-copy where the
 * driver has it, copy mode where it says no (veth): chosen here, once. */
static int xb_umem(struct xb_port *pt)
{
	struct xsk_umem_config c = { .fill_size = XB_FILL, .comp_size = XB_FILL,
				     .frame_size = XB_FRAME_SIZE };
	struct xsk_socket_config sc = {
		.rx_size = 64, .tx_size = XB_FILL, .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP | XDP_ZEROCOPY,
	};
	size_t len = (size_t)XB_NFRAMES * XB_FRAME_SIZE;
	int err;

	pt->umem_area = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pt->umem_area == MAP_FAILED) {
		pt->umem_area = NULL;
		return -errno;
	}
	err = xsk_umem__create(&pt->umem, pt->umem_area, len, &pt->fill, &pt->comp, &c);
	if (err) {
		pt->umem = NULL;
		return err;
	}
	pt->zerocopy = true;
	err = xsk_socket__create_shared(&pt->anchor, pt->iface, 0, pt->umem, &pt->anchor_rx,
					&pt->anchor_tx, &pt->fill, &pt->comp, &sc);
	if (err == -EOPNOTSUPP) {
		pt->zerocopy = false;
		sc.bind_flags = XDP_USE_NEED_WAKEUP | XDP_COPY;
		err = xsk_socket__create_shared(&pt->anchor, pt->iface, 0, pt->umem, &pt->anchor_rx,
						&pt->anchor_tx, &pt->fill, &pt->comp, &sc);
	}
	if (err) {
		pt->anchor = NULL;
		return err;
	}
	for (uint32_t f = 0; f < XB_NFRAMES; f++)
		pt->free_stack[f] = XB_NFRAMES - 1 - f;
	pt->free_top = XB_NFRAMES;
	pt->nstate[XB_FR_FREE] = XB_NFRAMES;
	pr_info("xdp %s: AF_XDP on queue 0 in %s mode%s\n", pt->iface,
		pt->zerocopy ? "zero-copy" : "copy",
		pt->zerocopy ? "" : " (the driver has no zero-copy)");
	return 0;
}

/* The device's AF_XDP socket on the port's UMEM (sharing its fill and
 * completion rings), in its slot of the XSKMAP. */
int xb_sock_open(struct xb_dev *d)
{
	struct xb_port *pt = d->port;
	struct xsk_socket_config c = {
		.rx_size = XB_RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_USE_NEED_WAKEUP,
	};
	int fd, err;

	err = xsk_socket__create_shared(&d->xsk, pt->iface, 0, pt->umem, &d->rx, NULL,
					&pt->fill, &pt->comp, &c);
	if (err) {
		d->xsk = NULL;
		pr_warn("xdp %s: device %s: cannot create its AF_XDP socket: %s\n", pt->iface,
			d->slot->name, strerror(-err));
		return err;
	}
	d->slot->st.mode = pt->zerocopy ? "zero-copy" : "copy";
	fd = xsk_socket__fd(d->xsk);
	/* Not xsk_socket__update_xskmap: it keys the socket by its queue,
	 * and every device's socket is on queue 0. */
	err = bpf_map_update_elem(pt->xsks_fd, &d->idx, &fd, BPF_ANY) ? -errno : 0;
	d->xskev = (struct xb_ev){ .fd = fd, .fn = NULL, .port = pt, .dev = d };
	if (!err)
		err = xb_ev_add(pt, &d->xskev, EPOLLIN);
	if (err) {
		pr_warn("xdp %s: device %s: cannot steer to its socket: %s\n", pt->iface,
			d->slot->name, strerror(-err));
		xb_sock_close(d);
		return err;
	}
	pr_info("xdp %s: device %s: AF_XDP socket %u\n", pt->iface, d->slot->name, d->idx);
	return 0;
}

void xb_sock_close(struct xb_dev *d)
{
	struct xb_port *pt = d->port;

	if (d->mac)
		bpf_map_delete_elem(pt->macs_fd, &d->mac);
	d->mac = 0;
	if (!d->xsk)
		return;
	bpf_map_delete_elem(pt->xsks_fd, &d->idx);
	xb_ev_del(pt, &d->xskev);
	xsk_socket__delete(d->xsk);
	d->xsk = NULL;
}

static uint64_t xb_mac(const uint8_t *m)
{
	uint64_t v = 0;

	for (int i = 0; i < 6; i++)
		v = v << 8 | m[i];
	return v;
}

struct xb_dev *xb_find_mac(struct xb_port *pt, const uint8_t *mac)
{
	uint64_t v = xb_mac(mac);

	for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++)
		if (pt->dev[i] && pt->dev[i]->mac == v)
			return pt->dev[i];
	return NULL;
}

/* A device's MAC is the source of the frames it sends: the steering
 * program learns it.  A MAC another device has is not taken from it. */
void xb_learn(struct xb_dev *d, const uint8_t *frame)
{
	struct xb_port *pt = d->port;
	uint64_t v = xb_mac(frame + 6);
	struct xb_dev *o;

	if (v == d->mac || (frame[6] & 1) || !v)
		return;
	o = xb_find_mac(pt, frame + 6);
	if (o)
		return;
	if (d->mac)
		bpf_map_delete_elem(pt->macs_fd, &d->mac);
	d->mac = v;
	if (bpf_map_update_elem(pt->macs_fd, &v, &d->idx, BPF_ANY))
		pr_warn("xdp %s: device %s: cannot steer its MAC: %s\n", pt->iface, d->slot->name,
			strerror(errno));
	else
		pr_info("xdp %s: device %s: MAC %02x:%02x:%02x:%02x:%02x:%02x\n", pt->iface,
			d->slot->name, frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]);
}

/* ---- broadcast and multicast: the kernel has them (the steering program
 * passes them), and this packet socket gives the devices each a copy ---- */

static void xb_on_pkt(struct xb_ev *ev, uint32_t events)
{
	struct xb_port *pt = ev->port;
	uint8_t buf[XB_FRAME_SIZE];

	for (unsigned n = 0; n < XB_BATCH; n++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t len = recvfrom(ev->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC,
				       (struct sockaddr *)&from, &fl);

		if (len < 0)
			return;
		/* Ours (sent by a device: the switch gave the others theirs),
		 * outgoing, or too long for a frame. */
		if (len < 14 || len > (ssize_t)sizeof(buf) || from.sll_pkttype == PACKET_OUTGOING ||
		    xb_find_mac(pt, buf + 6))
			continue;
		for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++)
			if (pt->dev[i] && !pt->dev[i]->dead)
				xb_deliver(pt->dev[i], buf, (uint32_t)len);
	}
}

static int xb_pkt_open(struct xb_port *pt)
{
	/* Group-addressed frames only: the first byte's low bit. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 1, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0xffff),
		BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = { .len = 4, .filter = code };
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				  .sll_ifindex = pt->ifindex };
	/* A burst of broadcasts waits here for the thread's next turn. */
	int one = 1, rcvbuf = 8 << 20, fd;

	fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) ||
	    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	pt->pkt = (struct xb_ev){ .fd = fd, .fn = xb_on_pkt, .port = pt };
	return xb_ev_add(pt, &pt->pkt, EPOLLIN);
}

/* ---- the port's thread ---- */

static void xb_on_wake(struct xb_ev *ev, uint32_t events)
{
	struct xb_port *pt = ev->port;
	int fds[VRM_XDP_MAX_SOCKS], n;
	char names[VRM_XDP_MAX_SOCKS][VRM_DEV_NAME_LEN];
	uint64_t v;

	if (read(ev->fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&pt->lock);
	n = pt->npending;
	memcpy(fds, pt->pending, sizeof(fds));
	memcpy(names, pt->pending_name, sizeof(names));
	pt->npending = 0;
	pthread_mutex_unlock(&pt->lock);
	for (int i = 0; i < n; i++)
		xb_dev_new(pt, fds[i], names[i]);
}

/* One turn: completions reclaimed, every device's rings both ways, the fill
 * ring topped up, the guests told.  Whether a device still has frames on
 * the way out (the loop then looks again soon). */
static bool xb_turn(struct xb_port *pt)
{
	bool busy = false;

	xb_reclaim(pt);
	for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++) {
		struct xb_dev *d = pt->dev[i];

		if (!d || d->dead)
			continue;
		xb_tx(d);
		xb_rx(d);
		busy |= d->tx_inflight > 0;	/* completions to come */
	}
	xb_tx_kick(pt);
	xb_refill(pt);
	for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++) {
		struct xb_dev *d = pt->dev[i];

		if (d && !d->dead) {
			if (xsk_ring_prod__needs_wakeup(&pt->fill))
				recvfrom(xsk_socket__fd(d->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
			xb_flush_calls(d);
		}
	}
	return busy;
}

static void *xb_thread(void *arg)
{
	struct xb_port *pt = arg;
	struct epoll_event evs[32];
	bool busy = false;

	while (!__atomic_load_n(&pt->stop, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(pt->epfd, evs, 32, busy ? 1 : 100);

		for (int k = 0; k < n; k++) {
			struct xb_ev *ev = evs[k].data.ptr;

			if (ev->fn && !(ev->dev && ev->dev->dead))
				ev->fn(ev, evs[k].events);
		}
		busy = xb_turn(pt);
		xb_bury(pt);
	}
	return NULL;
}

/* ---- the port's life ---- */

static char xb_pin_root[128];

void vrm_xdp_set_pin_root(const char *root)
{
	snprintf(xb_pin_root, sizeof(xb_pin_root), "%s", root);
}

/* The program and its maps under PIN_ROOT/xdp/IFACE, for vringmedctl and
 * bpftool to find: a failure is told, and the back-end works on. */
static void xb_pin(struct xb_port *pt)
{
	struct bpf_map *m;
	char dir[256], path[320];
	int err = 0;

	if (!xb_pin_root[0])
		return;
	snprintf(dir, sizeof(dir), "%s/xdp", xb_pin_root);
	mkdir(dir, 0700);
	snprintf(dir, sizeof(dir), "%s/xdp/%s", xb_pin_root, pt->iface);
	mkdir(dir, 0700);
	bpf_object__for_each_map(m, pt->skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(m));
		if (!err && bpf_map__pin(m, path))
			err = -errno;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, VRM_XDP_PROG);
	if (!err && bpf_program__pin(pt->skel->progs.vrm_xdp_steer, path))
		err = -errno;
	if (err)
		pr_warn("xdp %s: cannot pin the steering program and its maps in %s: %s\n",
			pt->iface, dir, strerror(-err));
}

static void xb_unpin(struct xb_port *pt)
{
	struct bpf_map *m;
	char dir[256], path[320];

	if (!xb_pin_root[0] || !pt->skel)
		return;
	snprintf(dir, sizeof(dir), "%s/xdp/%s", xb_pin_root, pt->iface);
	bpf_object__for_each_map(m, pt->skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(m));
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, VRM_XDP_PROG);
	unlink(path);
	rmdir(dir);
	snprintf(dir, sizeof(dir), "%s/xdp", xb_pin_root);
	rmdir(dir);
}

/* A steering program a previous daemon left on the interface (it died
 * without its clean stop): taken off, for ours to take its place; its
 * sockets died with it.  Another program is left alone (our attach then
 * fails, and says so). */
static void xb_replace_stale(struct xb_port *pt)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(pt->ifindex);
	struct xdp_program *p;
	int n = 0;

	if (!mp || libxdp_get_error(mp))
		return;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		if (p && !strcmp(xdp_program__name(p), VRM_XDP_PROG) && !xdp_multiprog__detach(mp))
			n++;
		else if (p)
			pr_warn("xdp %s: the interface has another XDP program (%s)\n", pt->iface,
				xdp_program__name(p));
	} else {
		for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
			if (!strcmp(xdp_program__name(p), VRM_XDP_PROG) &&
			    !xdp_program__detach(p, pt->ifindex, XDP_MODE_NATIVE, 0))
				n++;
	}
	xdp_multiprog__close(mp);
	if (n)
		pr_info("xdp %s: a previous daemon's steering program replaced\n", pt->iface);
}

/* The program's counters go on from a previous daemon's (pinned): they
 * never go backwards across a restart. */
static void xb_adopt_stats(struct xb_port *pt)
{
	char path[320];
	int fd;

	if (!xb_pin_root[0])
		return;
	snprintf(path, sizeof(path), "%s/xdp/%s/%s", xb_pin_root, pt->iface, VRM_XDP_MAP_STATS);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	if (bpf_map__reuse_fd(pt->skel->maps.vrm_xdp_stats, fd))
		pr_warn("xdp %s: cannot adopt the counters pinned at %s\n", pt->iface, path);
	else
		pr_info("xdp %s: the steering program's counters adopted from %s\n", pt->iface, path);
	close(fd);
}

/* Whether the program pinned at `dir` is the one the interface runs. */
static int xb_pinned_running(struct xb_port *pt, const char *dir)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info), id = 0;
	char path[320];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, VRM_XDP_PROG);
	fd = bpf_obj_get(path);
	if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) &&
	    !bpf_xdp_query_id(pt->ifindex, XDP_FLAGS_DRV_MODE, &id) && id == info.id)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

/*
 * A previous daemon's program still on the interface (it died without its
 * clean stop) with its maps pinned: adopted.  Ours is loaded on the same
 * maps and takes its place in one step (XDP_FLAGS_REPLACE: no frame meets
 * an interface without it, and the counters go on); the MACs it steered
 * went with that daemon's sockets, and are learned again.  1 adopted, 0
 * nothing to adopt, -errno.
 */
static int xb_adopt(struct xb_port *pt)
{
	struct bpf_map *maps[] = { pt->skel->maps.vrm_xdp_macs, pt->skel->maps.vrm_xdp_xsks,
				   pt->skel->maps.vrm_xdp_stats };
	char dir[256], path[320];
	__u64 key;
	int old, err = 0;

	if (!xb_pin_root[0])
		return 0;
	snprintf(dir, sizeof(dir), "%s/xdp/%s", xb_pin_root, pt->iface);
	old = xb_pinned_running(pt, dir);
	if (old < 0)
		return 0;
	for (unsigned i = 0; i < 3 && !err; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(maps[i]));
		fd = bpf_obj_get(path);
		err = fd < 0 ? -errno : bpf_map__reuse_fd(maps[i], fd);
		if (fd >= 0)
			close(fd);
	}
	if (!err)
		err = xdp_steer_bpf__load(pt->skel);
	if (!err) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o, .old_prog_fd = old);

		err = bpf_xdp_attach(pt->ifindex, bpf_program__fd(pt->skel->progs.vrm_xdp_steer),
				     XDP_FLAGS_DRV_MODE | XDP_FLAGS_REPLACE, &o);
	}
	close(old);
	if (err)
		return err;
	while (!bpf_map_get_next_key(bpf_map__fd(maps[0]), NULL, &key))
		bpf_map_delete_elem(bpf_map__fd(maps[0]), &key);
	pt->adopted = true;
	return 1;
}

/* The steering program on the interface: a previous daemon's adopted, or
 * through libxdp: its dispatcher where the kernel lets it run several
 * programs, else the program alone (libxdp's fallback); which one is
 * logged. */
static int xb_attach(struct xb_port *pt)
{
	struct xdp_multiprog *mp;
	int err;

	pt->skel = xdp_steer_bpf__open();
	if (!pt->skel)
		return -errno;
	err = xb_adopt(pt);
	if (err < 0)
		return err;
	if (err > 0) {
		pt->attach = "adopted, single program";
		goto pin;
	}
	xb_adopt_stats(pt);
	pt->prog = xdp_program__from_bpf_obj(pt->skel->obj, "xdp");
	err = libxdp_get_error(pt->prog);
	if (err) {
		pt->prog = NULL;
		return err;
	}
	xb_replace_stale(pt);
	err = xdp_program__attach(pt->prog, pt->ifindex, XDP_MODE_NATIVE, 0);
	if (err)
		return err;
	mp = xdp_multiprog__get_from_ifindex(pt->ifindex);
	pt->attach = !libxdp_get_error(mp) && mp && !xdp_multiprog__is_legacy(mp) ?
		     "libxdp dispatcher" : "single program";
	if (!libxdp_get_error(mp))
		xdp_multiprog__close(mp);
pin:
	xb_unpin(pt);	/* a previous daemon's, if it left them */
	xb_pin(pt);
	pt->macs_fd = bpf_map__fd(pt->skel->maps.vrm_xdp_macs);
	pt->xsks_fd = bpf_map__fd(pt->skel->maps.vrm_xdp_xsks);
	pr_info("xdp %s: steering program attached (%s, native mode)\n", pt->iface, pt->attach);
	return 0;
}

static void xb_port_free(struct xb_port *pt)
{
	for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++)
		if (pt->dev[i])
			xb_dev_free(pt->dev[i]);
	xb_bury(pt);
	if (pt->anchor)
		xsk_socket__delete(pt->anchor);
	if (pt->umem)
		xsk_umem__delete(pt->umem);
	if (pt->umem_area)
		munmap(pt->umem_area, (size_t)XB_NFRAMES * XB_FRAME_SIZE);
	xb_unpin(pt);
	if (pt->prog) {
		xdp_program__detach(pt->prog, pt->ifindex, XDP_MODE_NATIVE, 0);
		xdp_program__close(pt->prog);
	} else if (pt->adopted) {
		LIBBPF_OPTS(bpf_xdp_attach_opts, o,
			    .old_prog_fd = bpf_program__fd(pt->skel->progs.vrm_xdp_steer));

		bpf_xdp_detach(pt->ifindex, XDP_FLAGS_DRV_MODE, &o);
	}
	xdp_steer_bpf__destroy(pt->skel);
	if (pt->pkt.fd >= 0)
		close(pt->pkt.fd);
	if (pt->wake.fd >= 0)
		close(pt->wake.fd);
	if (pt->epfd >= 0)
		close(pt->epfd);
	free(pt);
}

static struct xb_port *xb_port_new(const char *iface)
{
	struct xb_port *pt = calloc(1, sizeof(*pt));
	const char *step = "interface";
	int err;

	if (!pt)
		return NULL;
	snprintf(pt->iface, sizeof(pt->iface), "%s", iface);
	pt->epfd = pt->wake.fd = pt->pkt.fd = -1;
	pt->zerocopy = true;
	pthread_mutex_init(&pt->lock, NULL);
	pt->ifindex = (int)if_nametoindex(iface);
	err = pt->ifindex ? 0 : -ENODEV;
	if (!err && (step = "steering program", err = xb_attach(pt)) == 0 &&
	    (step = "UMEM", err = xb_umem(pt)) == 0) {
		step = "loop";
		pt->epfd = epoll_create1(EPOLL_CLOEXEC);
		pt->wake = (struct xb_ev){ .fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
					   .fn = xb_on_wake, .port = pt };
		err = pt->epfd < 0 || pt->wake.fd < 0 ? -errno : xb_ev_add(pt, &pt->wake, EPOLLIN);
	}
	if (!err && (step = "packet socket", err = xb_pkt_open(pt)) == 0 &&
	    (step = "thread", err = -pthread_create(&pt->thread, NULL, xb_thread, pt)) == 0)
		return pt;
	pr_warn("xdp %s: cannot set up the back-end (%s): %s%s\n", iface, step, strerror(-err),
		err == -EPERM || err == -EACCES || err == -EAFNOSUPPORT ?
		"; it needs CAP_NET_ADMIN, CAP_NET_RAW and the address families AF_XDP, "
		"AF_PACKET and AF_NETLINK: under the packaged unit, add the drop-in "
		"share/vringmed/systemd/vringmedd-xdp.conf (docs/xdp.md)" : "");
	xb_port_free(pt);
	errno = -err;
	return NULL;
}

int vrm_xdp_connect(const char *spec, const char *name)
{
	const char *iface = spec + strlen(VRM_XDP_PREFIX);
	struct xb_port *pt;
	uint64_t one = 1;
	int sv[2];

	if (!*iface || strlen(iface) >= IF_NAMESIZE)
		return -EINVAL;
	pthread_mutex_lock(&xb_ports_lock);
	for (pt = xb_ports; pt && strcmp(pt->iface, iface); pt = pt->next)
		;
	if (!pt) {
		pt = xb_port_new(iface);
		if (pt) {
			pt->next = xb_ports;
			xb_ports = pt;
		}
	}
	pthread_mutex_unlock(&xb_ports_lock);
	if (!pt)
		return -errno;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	pthread_mutex_lock(&pt->lock);
	if (pt->npending == VRM_XDP_MAX_SOCKS) {
		pthread_mutex_unlock(&pt->lock);
		close(sv[0]);
		close(sv[1]);
		return -EBUSY;
	}
	pt->pending[pt->npending] = sv[1];
	snprintf(pt->pending_name[pt->npending++], VRM_DEV_NAME_LEN, "%s", name);
	pthread_mutex_unlock(&pt->lock);
	if (write(pt->wake.fd, &one, sizeof(one)) < 0)
		pr_warn("xdp %s: cannot wake the back-end: %s\n", iface, strerror(errno));
	return sv[0];
}

int vrm_xdp_stats(const char *name, struct vrm_xdp_stats *out)
{
	int err = -ENOENT;

	pthread_mutex_lock(&xb_ports_lock);
	for (struct xb_port *pt = xb_ports; pt && err; pt = pt->next) {
		pthread_mutex_lock(&pt->lock);
		for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS && err; i++) {
			if (!pt->slots[i].used || strcmp(pt->slots[i].name, name))
				continue;
			*out = pt->slots[i].st;
			out->attach = pt->attach;
			err = 0;
		}
		pthread_mutex_unlock(&pt->lock);
	}
	pthread_mutex_unlock(&xb_ports_lock);
	return err;
}

void vrm_xdp_shutdown(void)
{
	uint64_t one = 1;

	pthread_mutex_lock(&xb_ports_lock);
	while (xb_ports) {
		struct xb_port *pt = xb_ports;

		xb_ports = pt->next;
		__atomic_store_n(&pt->stop, true, __ATOMIC_RELEASE);
		if (write(pt->wake.fd, &one, sizeof(one)) < 0)
			pr_warn("xdp %s: cannot wake the back-end: %s\n", pt->iface, strerror(errno));
		pthread_join(pt->thread, NULL);
		xb_port_free(pt);
	}
	pthread_mutex_unlock(&xb_ports_lock);
}

/* The steering program's counter `what` on the port's interface, summed
 * over CPUs. */
static uint64_t xb_prog_stat(struct xb_port *pt, uint32_t what)
{
	int ncpu = libbpf_num_possible_cpus();
	uint64_t sum = 0, v[ncpu > 0 ? ncpu : 1];

	if (ncpu > 0 && !bpf_map_lookup_elem(bpf_map__fd(pt->skel->maps.vrm_xdp_stats), &what, v))
		for (int c = 0; c < ncpu; c++)
			sum += v[c];
	return sum;
}

static void xb_prom_dev(FILE *out, const struct xb_port *pt, const struct xb_slot *s)
{
	static const char *const fmt = "vringmed_xdp_%s_total{device=\"%s\",interface=\"%s\","
				       "direction=\"%s\"} %llu\n";
	static const char *const ofmt = "vringmed_xdp_rx_offload_total{device=\"%s\",interface=\"%s\","
					"what=\"%s\"} %llu\n";
	const struct vrm_xdp_stats *st = &s->st;

	fprintf(out, fmt, "frames", s->name, pt->iface, "tx", (unsigned long long)st->tx_frames);
	fprintf(out, fmt, "frames", s->name, pt->iface, "rx", (unsigned long long)st->rx_frames);
	fprintf(out, fmt, "frames", s->name, pt->iface, "local", (unsigned long long)st->local_frames);
	fprintf(out, fmt, "bytes", s->name, pt->iface, "tx", (unsigned long long)st->tx_bytes);
	fprintf(out, fmt, "bytes", s->name, pt->iface, "rx", (unsigned long long)st->rx_bytes);
	fprintf(out, fmt, "drops", s->name, pt->iface, "tx", (unsigned long long)st->tx_drops);
	fprintf(out, fmt, "drops", s->name, pt->iface, "rx", (unsigned long long)st->rx_drops);
	fprintf(out, ofmt, s->name, pt->iface, "csum_valid", (unsigned long long)st->rx_csum_valid);
	fprintf(out, ofmt, s->name, pt->iface, "csum_bad", (unsigned long long)st->rx_csum_bad);
	fprintf(out, ofmt, s->name, pt->iface, "coalesced", (unsigned long long)st->rx_coalesced);
	fprintf(out, ofmt, s->name, pt->iface, "merged", (unsigned long long)st->rx_merged);
}

void vrm_xdp_prometheus(FILE *out)
{
	static const char *const verdict[VRM_XDP_NSTATS] = { "steered", "passed", "flooded",
							    "no_socket" };

	pthread_mutex_lock(&xb_ports_lock);
	if (xb_ports)
		fprintf(out, "# HELP vringmed_xdp_frames_total Frames through the XDP back-end per "
			"device: tx (guest to interface), rx (interface to guest), local (to "
			"another device on the interface).\n# TYPE vringmed_xdp_frames_total counter\n"
			"# HELP vringmed_xdp_bytes_total Bytes of those frames.\n"
			"# TYPE vringmed_xdp_bytes_total counter\n"
			"# HELP vringmed_xdp_drops_total Frames dropped: tx bad or too long, rx no "
			"guest buffer or too long.\n# TYPE vringmed_xdp_drops_total counter\n"
			"# HELP vringmed_xdp_rx_offload_total Receive offloads per device: frames whose "
			"checksum was checked right (csum_valid, marked so for the guest) or wrong "
			"(csum_bad, passed unmarked), frames merged into larger ones (coalesced), the "
			"merged frames made (merged).\n# TYPE vringmed_xdp_rx_offload_total counter\n"
			"# HELP vringmed_xdp_steer_total Frames the steering program saw, by verdict.\n"
			"# TYPE vringmed_xdp_steer_total counter\n");
	for (struct xb_port *pt = xb_ports; pt; pt = pt->next) {
		pthread_mutex_lock(&pt->lock);
		for (unsigned i = 0; i < VRM_XDP_MAX_SOCKS; i++)
			if (pt->slots[i].used)
				xb_prom_dev(out, pt, &pt->slots[i]);
		pthread_mutex_unlock(&pt->lock);
		for (uint32_t v = 0; v < VRM_XDP_NSTATS; v++)
			fprintf(out, "vringmed_xdp_steer_total{interface=\"%s\",verdict=\"%s\"} %llu\n",
				pt->iface, verdict[v], (unsigned long long)xb_prog_stat(pt, v));
	}
	pthread_mutex_unlock(&xb_ports_lock);
}
