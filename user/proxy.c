// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's vhost-user proxy for one virtio-net device (proxy.h): the
 * session, from the VMM's connection to its end, and the device's life in
 * the maps (a fresh slot, an adopted one, publish, tick).  What each peer
 * says is handled in a room of its own (proxy_int.h lists them); this file
 * admits the peers and ends what they started.
 *
 * Security model.  Both peers are untrusted, and one daemon serves the
 * devices of many tenants: a peer may end or break its own device, never
 * another, nor the daemon.
 *  - Who: a VMM is admitted, and a back-end handed anything, only when its
 *    credentials pass access.c's policy (the socket files are 0600 or 0660
 *    with a configured group; SO_PEERCRED against root, our uid,
 *    --allow-uid and --socket-group), before the first message.
 *  - What a VMM says is checked once, on our copy, before use (the request
 *    table of proxy_vmm.c, then each request's handler): message sizes,
 *    ring indices, sizes and alignment, memory regions (no overlap,
 *    no wrap, inside their files, below the shadow region), fds (eventfds,
 *    made non-blocking).  A refusal ends that session, or with REPLY_ACK
 *    is told.
 *  - Its memory may be taken back: files are sealed against shrinking
 *    where they can be (vrp_seal), and every access of ours to guest memory
 *    runs under uxlate.c's SIGBUS guard, which breaks that device only.
 *  - Its rings are the guest's: the translation core validates every entry
 *    and marks the device broken at the first nonsense.
 *  - Neither peer can hold the device's thread for long: every socket send
 *    and receive has a timeout (the back-end's VRP_BE_TIMEOUT, the VMM's
 *    VRP_VMM_TIMEOUT), a message is read only once wholly there, eventfds
 *    are non-blocking; and the daemon's main thread never waits for a
 *    device's thread beyond a bound (vringmedd's vrd_dev_join).
 *  - A back-end may rewrite the shadow rings it was given: only
 *    mediator-private state steers what the used path writes to the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>

#include <vringmed/abi.h>

#include "access.h"
#include "backend_xdp.h"
#include "keeper.h"
#include "loader.h"
#include "log.h"
#include "num.h"
#include "proxy.h"
#include "proxy_int.h"
#include "uxlate.h"

/* Seconds a reply to the VMM may wait for room in its socket: a VMM reads
 * each reply before its next request (QEMU does), so the socket fills only
 * for one that stopped reading, which must not hold the device's thread. */
#define VRP_VMM_TIMEOUT	2
/* vmm_client: how often a VMM that is not listening is tried again (QEMU's
 * own reconnect= counts in seconds). */
#define VRP_VMM_RETRY_MS	1000

int vrm_ev_add(int epfd, struct vrm_ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, ev->fd, &e) ? -errno : 0;
}

void vrm_ev_del(int epfd, struct vrm_ev *ev)
{
	if (ev->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}

void vrm_ev_dispatch(const struct epoll_event *evs, int n)
{
	for (int i = 0; i < n; i++) {
		struct vrm_ev *ev = evs[i].data.ptr;

		if (ev->fd >= 0 && ev->fn)
			ev->fn(ev, evs[i].events);
	}
}

/* `lead`, then the form of a device, in a buffer of its own (parse errors
 * are read by the one thread that parsed). */
static const char *vrp_spec_help(const char *lead)
{
	static __thread char buf[320];

	snprintf(buf, sizeof(buf), "%sexpected NAME,vmm=PATH,backend=PATH[,vmm_client=on|off]"
		 "[,kick=auto|bpf|userspace][,poll=US|off][,event_idx=on|off][,type=net|blk]"
		 "[,order=be|le] (socket paths under 108 bytes)", lead);
	return buf;
}

const char *vrm_proxy_paths_clash(const struct vrm_proxy_cfg *a, const struct vrm_proxy_cfg *b)
{
	static __thread char buf[200];

	if (!strcmp(a->vmm_path, b->vmm_path))
		snprintf(buf, sizeof(buf), "vmm=%s is device %s's VMM socket", a->vmm_path, b->name);
	else if (!strcmp(a->vmm_path, b->backend_path))
		snprintf(buf, sizeof(buf), "vmm=%s is device %s's back-end", a->vmm_path, b->name);
	else if (!strcmp(a->backend_path, b->vmm_path))
		snprintf(buf, sizeof(buf), "backend=%s is device %s's VMM socket", a->backend_path,
			 b->name);
	else
		return NULL;
	return buf;
}

int vrm_proxy_parse(const char *spec, struct vrm_proxy_cfg *cfg, const char **why)
{
	static const char *const keys[] = { "vmm=", "backend=", "kick=", "type=", "order=", "poll=",
					    "event_idx=", "vmm_client=" };
	static __thread char unknown[80];
	char buf[512], *tok, *save = NULL;
	bool first = true, order_set = false, eidx_set = false;
	unsigned seen = 0;

	memset(cfg, 0, sizeof(*cfg));
	if (strlen(spec) >= sizeof(buf)) {
		*why = "too long";
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), first = false) {
		for (unsigned k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
			if (!strncmp(tok, keys[k], strlen(keys[k]))) {
				if (seen & 1u << k) {
					snprintf(unknown, sizeof(unknown), "%.*s is given twice",
						 (int)strlen(keys[k]) - 1, keys[k]);
					*why = unknown;
					return -EINVAL;
				}
				seen |= 1u << k;
			}
		if (first && !strchr(tok, '=')) {
			if (strlen(tok) >= sizeof(cfg->name)) {
				*why = "name longer than 31 characters";
				return -EINVAL;
			}
			strcpy(cfg->name, tok);
		} else if (!strncmp(tok, "vmm=", 4) && strlen(tok + 4) < sizeof(cfg->vmm_path)) {
			strcpy(cfg->vmm_path, tok + 4);
		} else if (!strncmp(tok, "backend=", 8) &&
			   strlen(tok + 8) < sizeof(cfg->backend_path)) {
			strcpy(cfg->backend_path, tok + 8);
		} else if (!strncmp(tok, "kick=", 5)) {
			cfg->kick_set = true;
			if (vrm_kick_path_parse(tok + 5, &cfg->kick)) {
				*why = "kick= takes auto, bpf or userspace";
				return -EINVAL;
			}
		} else if (!strcmp(tok, "type=net") || !strcmp(tok, "type=blk")) {
			cfg->type = tok[5] == 'b' ? VRM_DEV_BLK : VRM_DEV_NET;
		} else if (!strcmp(tok, "order=be") || !strcmp(tok, "order=le")) {
			cfg->order = tok[6] == 'b' ? VRM_ORDER_BE : VRM_ORDER_LE;
			order_set = true;
		} else if (!strncmp(tok, "poll=", 5)) {
			uint32_t us = 0;

			cfg->poll_set = true;
			if (strcmp(tok + 5, "off") &&
			    vrm_parse_u32(tok + 5, 0, VRM_PROXY_POLL_US_MAX, &us)) {
				*why = "poll= takes off or microseconds, 0 to 1000";
				return -EINVAL;
			}
			cfg->poll_us = us;
		} else if (!strcmp(tok, "event_idx=on") || !strcmp(tok, "event_idx=off")) {
			cfg->event_idx = tok[11] == 'n';
			eidx_set = true;
		} else if (!strcmp(tok, "vmm_client=on") || !strcmp(tok, "vmm_client=off")) {
			cfg->vmm_client = tok[12] == 'n';
		} else {
			/* Say which word was not understood, then what is. */
			snprintf(unknown, sizeof(unknown), "'%.40s' not understood; ", tok);
			*why = vrp_spec_help(unknown);
			return -EINVAL;
		}
	}
	if (!cfg->name[0] || !cfg->vmm_path[0] || !cfg->backend_path[0]) {
		*why = "expected NAME,vmm=PATH,backend=PATH";
		return -EINVAL;
	}
	/* Absolute: the daemon's working directory is no place for sockets
	 * (under the unit it is /), nor a thing to compare paths by. */
	if (cfg->vmm_path[0] != '/' ||
	    (cfg->backend_path[0] != '/' && !vrm_xdp_is_spec(cfg->backend_path))) {
		*why = "vmm= and backend= take absolute paths (backend= also xdp:IFACE)";
		return -EINVAL;
	}
	if (!strcmp(cfg->vmm_path, cfg->backend_path)) {
		*why = "vmm= and backend= are one socket";
		return -EINVAL;
	}
	if (cfg->type == VRM_DEV_BLK && vrm_xdp_is_spec(cfg->backend_path)) {
		*why = "backend=xdp:IFACE is a net device's (an interface's frames)";
		return -EINVAL;
	}
	if (!eidx_set)
		cfg->event_idx = cfg->type == VRM_DEV_NET;
	if (cfg->type == VRM_DEV_BLK && !order_set) {
		*why = "type=blk needs order=be|le: the VMM reads the config space before its "
		       "guest says a byte order";
		return -EINVAL;
	}
	if (cfg->type == VRM_DEV_NET && order_set) {
		*why = "order= is for type=blk: a net device takes its guest's byte order";
		return -EINVAL;
	}
	for (const char *c = cfg->name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '-' || *c == '_' || *c == '.')) {
			*why = "name may hold letters, digits, '-', '_' and '.' only";
			return -EINVAL;
		}
	return 0;
}

const char *vrm_kick_path_name(enum vrm_kick_path k)
{
	return k == VRM_KICK_BPF ? "bpf" : k == VRM_KICK_USERSPACE ? "userspace" : "auto";
}

int vrm_kick_path_parse(const char *name, enum vrm_kick_path *out)
{
	static const enum vrm_kick_path all[] = { VRM_KICK_AUTO, VRM_KICK_BPF, VRM_KICK_USERSPACE };

	for (unsigned i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(name, vrm_kick_path_name(all[i]))) {
			*out = all[i];
			return 0;
		}
	return -EINVAL;
}

void vrp_err(struct vrm_proxy *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	pr_warn("device %s: %s\n", p->cfg.name, p->last_error);
}

/* A guest memory access of this thread faulted (uxlate.c's guard): the device
 * is broken by now; the log says why in words an operator can act on. */
static void vrp_tell_faults(struct vrm_proxy *p)
{
	if (vrm_ux_fault.n == p->faults_told)
		return;
	p->faults_told = vrm_ux_fault.n;
	if (vrm_ux_fault.dev == vrp_dev(p))
		vrp_err(p, "guest memory faulted (SIGBUS at %p: the VMM shrank its memory file?): "
			"the device is broken until its VMM resets it", vrm_ux_fault.addr);
}

static void vrp_publish(struct vrm_proxy *p)
{
	vrp_tell_faults(p);
	pthread_mutex_lock(&p->pub_lock);
	p->pub = (struct vrm_proxy_info){
		.name = p->cfg.name, .vmm_path = p->cfg.vmm_path, .vmm_client = p->cfg.vmm_client,
		.backend_path = p->cfg.backend_path, .state = p->state, .slot = p->slot,
		.type = p->cfg.type,
		.vmm_pid = p->vmm_pid, .legacy = p->legacy,
		.negotiated = vrp_dev(p)->features != 0,
		.order = vrp_is_blk(p) ? p->cfg.order : p->order,
		.guest_features = p->guest_features, .backend_features = p->be_features,
		.sessions = p->sessions, .teardowns = p->teardowns,
		.deferred_done = p->deferred_done,
		/* Before a ring runs, the path configured (auto: not yet chosen). */
		.kick_path = p->kick_path != VRM_KICK_AUTO ? p->kick_path : p->cfg.kick,
		.starts = p->starts,
	};
	snprintf(p->pub.kick_why, sizeof(p->pub.kick_why), "%s", p->kick_why);
	p->pub.mem_regions = p->nreg > 0 ? (uint32_t)p->nreg : 0;
	for (int r = 0; r < p->nreg; r++)
		p->pub.mem_bytes += p->reg[r].size;
	p->pub.poll_us = p->cfg.poll_us;
	p->pub.nqueues = vrp_nq(p);
	for (unsigned i = 0; i < VRP_NQ; i++) {
		if (p->q[i].started)
			p->queue_path[i] = p->kick_path;
		p->pub.queue_path[i] = p->queue_path[i];
		p->pub.calls[i] = p->calls[i];
		p->pub.calls_suppressed[i] = p->calls_suppressed[i];
		p->pub.poll_periods[i] = p->poll[i].periods;
		p->pub.poll_chains[i] = p->poll[i].chains;
		p->pub.poll_first_kicks[i] = p->poll[i].firsts;
		p->pub.poll_ns[i] = p->poll[i].poll_ns;
		p->pub.eidx_kicks_saved[i] = p->poll[i].eidx_kicks_saved;
		p->pub.eidx_calls_saved[i] = p->poll[i].eidx_calls_saved;
		p->pub.eidx_be_kicks_saved[i] = p->poll[i].eidx_be_kicks_saved;
		p->pub.eidx_rescues[i] = p->q[i].eidx_rescues;
	}
	snprintf(p->pub.last_error, sizeof(p->pub.last_error), "%s", p->last_error);
	pthread_mutex_unlock(&p->pub_lock);
}

/* ---- the session: one VMM connection and its back-end connection ---- */

/* The state of a device with no VMM: waiting for one to connect, or trying
 * to connect to one (vmm_client). */
static const char *vrp_idle_state(const struct vrm_proxy *p)
{
	return p->cfg.vmm_client ? "connecting" : "listening";
}

/* Ends what a previous daemon left running in this slot (its VMM's kicks
 * were still being translated) when a VMM connects: the queues stop, so
 * that one they resume is made whole first (vrp_can_resume); their state,
 * the shadow rings and the counters stay. */
static void vrp_release_adopted(struct vrm_proxy *p)
{
	struct vrm_device *dev = vrp_dev(p);
	int n;

	if (!p->adopted)
		return;
	p->adopted = false;
	for (unsigned i = 0; i < VRM_DEV_QUEUES; i++)
		__atomic_store_n(&p->b->queues[vrp_qslot(p, i)].flags, 0, __ATOMIC_SEQ_CST);
	n = vrm_bpf_del_kickfds_of(p->b, vrp_qslot(p, 0), VRM_DEV_QUEUES);
	if (dev->tgid)
		vrm_bpf_del_vmm(p->b, dev->tgid);
	__atomic_store_n(&dev->flags, 0, __ATOMIC_SEQ_CST);
	dev->tgid = 0;
	dev->nregions = 0;
	dev->generation++;
	pr_info("device %s: the adopted session ends (%d kick fds released)\n", p->cfg.name,
		n < 0 ? 0 : n);
}

void vrp_unmap_regions(struct vrm_proxy *p)
{
	for (int i = 0; i < p->nreg; i++) {
		if (p->reg[i].map)
			munmap(p->reg[i].map, p->reg[i].map_len);
		if (p->reg[i].fd >= 0)
			close(p->reg[i].fd);
	}
	memset(p->reg, 0, sizeof(p->reg));
	p->nreg = 0;
}

void vrp_teardown(struct vrm_proxy *p, const char *why)
{
	struct vrm_device *dev = vrp_dev(p);

	if (p->vmm.fd < 0 && p->be.fd < 0)
		return;
	if (p->be_warned && !strcmp(why, "back-end unavailable"))
		pr_debug("device %s: session ended: %s\n", p->cfg.name, why);
	else
		pr_info("device %s: session ended: %s\n", p->cfg.name, why);
	for (unsigned i = 0; i < VRP_NQ; i++)
		vrp_queue_stop(p, i);
	vrp_be_stop_rings(p);
	/* The back-end has stopped: the keeper lets go, and both see the
	 * session end when we close. */
	vrm_keeper_hold(p->slot, -1, -1, 0);
	for (unsigned i = 0; i < VRP_NQ; i++) {
		vrp_queue_clear(p, i);
		p->rs_valid[i] = false;
	}
	__atomic_store_n(&dev->flags, 0, __ATOMIC_SEQ_CST);
	if (p->vmm_added)
		vrm_bpf_del_vmm(p->b, (uint32_t)p->vmm_pid);
	p->vmm_added = false;
	dev->tgid = 0;
	dev->nregions = 0;
	dev->generation++;
	vrp_unmap_regions(p);
	vrp_log_close(p);
	vrp_blk_close(p);
	if (p->vmm.fd >= 0) {
		vrm_ev_del(p->epfd, &p->vmm);
		close(p->vmm.fd);
		p->vmm.fd = -1;
	}
	if (p->be.fd >= 0) {
		vrm_ev_del(p->epfd, &p->be);
		close(p->be.fd);
		p->be.fd = -1;
	}
	p->vmm_pid = 0;
	p->features_set = p->order_latched = p->owner_sent = p->be_proto = p->be_down = false;
	p->be_acked = 0;
	p->kick_path = VRM_KICK_AUTO;
	p->kick_why[0] = 0;
	p->be_features = p->be_pf = p->offered = p->guest_features = p->vmm_pf = 0;
	p->state = vrp_idle_state(p);
	p->teardowns++;
}

/* A VMM on `fd` (accepted, or connected to: vmm_client): checked against
 * the allowed peers, its session begun and the back-end connected.  Takes
 * fd. */
static void vrp_vmm_attach(struct vrm_proxy *p, int fd)
{
	struct timeval tv = { .tv_sec = VRP_VMM_TIMEOUT };
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (p->vmm.fd >= 0) {
		pr_warn("device %s: a second VMM connection refused (one VMM per device)\n",
			p->cfg.name);
		close(fd);
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid <= 0) {
		pr_warn("device %s: cannot tell who the VMM is (SO_PEERCRED)\n", p->cfg.name);
		close(fd);
		return;
	}
	if (!vrm_access_peer_ok(&cred)) {
		char who[160];

		pr_warn("device %s: VMM connection refused: pid %d uid %u gid %u is not one of "
			"%s (--allow-uid, --socket-group)\n", p->cfg.name, (int)cred.pid,
			(unsigned)cred.uid, (unsigned)cred.gid, vrm_access_allowed(who, sizeof(who)));
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	vrp_release_adopted(p);
	p->last_error[0] = 0;
	p->vmm = (struct vrm_ev){ .fd = fd, .fn = vrp_on_vmm, .ctx = p };
	p->vmm_pid = cred.pid;
	p->vmm_wait_said = false;
	p->state = "negotiating";
	p->sessions++;
	if (p->be_warned)
		pr_debug("device %s: VMM pid %d connected\n", p->cfg.name, (int)cred.pid);
	else
		pr_info("device %s: VMM pid %d connected\n", p->cfg.name, (int)cred.pid);
	for (unsigned i = 0; i < VRP_NQ; i++)
		vrp_queue_clear(p, i);
	vrp_publish(p);		/* "negotiating" while the back-end answers */
	if (vrp_backend_connect(p) || vrm_ev_add(p->epfd, &p->vmm, EPOLLIN | EPOLLRDHUP | EPOLLET)) {
		vrp_teardown(p, "back-end unavailable");
		return;
	}
}

static void vrp_on_listen(struct vrm_ev *ev, uint32_t events)
{
	int fd;

	(void)events;
	fd = accept4(ev->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		vrp_vmm_attach(ev->ctx, fd);
}

/* vmm_client: with no VMM, connects to the one listening at vmm_path, at
 * most once every VRP_VMM_RETRY_MS; its absence is said once a spell. */
static void vrp_vmm_connect(struct vrm_proxy *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint64_t now = vrm_now_ms();
	int fd;

	if (!p->cfg.vmm_client || p->vmm.fd >= 0 || now < p->vmm_next_try_ms)
		return;
	p->vmm_next_try_ms = now + VRP_VMM_RETRY_MS;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p->cfg.vmm_path);
	/* Non-blocking while it connects: a listener whose backlog is full
	 * (a VMM that does not accept) must not hold the device's thread. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)) {
		if (!p->vmm_wait_said)
			pr_info("device %s: no VMM listening on %s (%s): trying every %d ms\n",
				p->cfg.name, p->cfg.vmm_path, strerror(errno), VRP_VMM_RETRY_MS);
		p->vmm_wait_said = true;
		close(fd);
		return;
	}
	vrp_vmm_attach(p, fd);
}

int vrm_proxy_pick_slot(const struct vrm_bpf *b, const char *name, const bool *taken)
{
	int fresh = -1, stale = -1;

	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		const char *n = b->devices[i].name;

		if (taken[i])
			continue;
		if (!strncmp(n, name, VRM_DEV_NAME_LEN))
			return i;
		if (!n[0] && fresh < 0)
			fresh = i;
		if (n[0] && stale < 0)
			stale = i;
	}
	return fresh >= 0 ? fresh : stale >= 0 ? stale : -ENOSPC;
}

static pthread_once_t vrp_guard_once = PTHREAD_ONCE_INIT;
static int vrp_guard_err;

static void vrp_guard_install(void)
{
	vrp_guard_err = vrm_ux_guard_install();
}

/* A proxy with nothing open yet. */
static struct vrm_proxy *vrp_alloc(struct vrm_bpf *b, int epfd, uint32_t slot,
				   const struct vrm_proxy_cfg *cfg)
{
	struct vrm_proxy *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->b = b;
	p->epfd = epfd;
	pthread_mutex_init(&p->pub_lock, NULL);
	p->slot = slot;
	/* -1 before the first failure: calloc's 0 is stdin's number. */
	p->vmm.fd = p->be.fd = p->lsn.fd = p->be_req.fd = p->vmm_req_fd = p->log.fd = -1;
	p->state = vrp_idle_state(p);
	for (unsigned i = 0; i < VRP_NQ; i++) {
		p->q[i].kickfd = p->q[i].vmm_callfd = p->q[i].call.fd = -1;
		p->q[i].kick.fd = p->q[i].be_kickfd = -1;
		p->q[i].kick_id = -1;
	}
	return p;
}

/* A previous daemon's session: its kicks go on being translated until the
 * VMM reconnects; counters carry on. */
static void vrp_adopt_slot(struct vrm_proxy *p)
{
	struct vrm_device *dev = vrp_dev(p);
	struct vrm_bpf *b = p->b;

	p->adopted = true;
	p->state = "adopted";
	/* Its guest memory was mapped by the dead daemon, not by us: nothing
	 * here may use those addresses (BPF reads the VMM's). */
	for (unsigned r = 0; r < VRM_MAX_REGIONS; r++)
		__atomic_store_n(&dev->regions[r].mediator_va, 0, __ATOMIC_SEQ_CST);
	p->rs_tgid = dev->tgid;
	p->rs_features = dev->features;
	p->rs_order = dev->order;
	for (unsigned i = 0; i < VRP_NQ; i++) {
		const struct vrm_queue *q = &b->queues[vrp_qslot(p, i)];

		/* Not across builds: another build's programs kept translating
		 * into rings this one does not have. */
		p->rs_valid[i] = (q->flags & VRM_QF_ENABLED) && q->dev == p->slot &&
				 !dev->broken && !b->stale_links;
	}
	p->order = dev->order;
	p->guest_features = dev->features;
	p->legacy = !(dev->features & BIT(VU_F_VERSION_1));
	p->vmm_pid = (pid_t)dev->tgid;
	pr_info("device %s: adopted slot %u from the pinned maps (%s rings, features "
		"0x%llx, VMM pid %u): kicks are translated until the VMM reconnects\n",
		p->cfg.name, p->slot, vrp_order_name(dev->order),
		(unsigned long long)dev->features, dev->tgid);
}

/* A fresh slot: whatever an earlier owner left is reset, and the counters
 * too unless they were this device's (`same` name). */
static void vrp_fresh_slot(struct vrm_proxy *p, bool same)
{
	struct vrm_device *dev = vrp_dev(p);
	struct vrm_bpf *b = p->b;

	memset(dev, 0, sizeof(*dev));
	for (unsigned i = 0; i < VRM_DEV_QUEUES; i++) {
		__atomic_store_n(&b->queues[vrp_qslot(p, i)].flags, 0, __ATOMIC_SEQ_CST);
		if (!same)
			vrm_bpf_clear_stats(b, vrp_qslot(p, i));
	}
	vrm_bpf_del_kickfds_of(b, vrp_qslot(p, 0), VRM_DEV_QUEUES);
	memcpy(dev->name, p->cfg.name, strnlen(p->cfg.name, sizeof(dev->name) - 1));
	dev->type = p->cfg.type;
	if (dev->type == VRM_DEV_BLK)
		dev->order = p->cfg.order;	/* configured: a blk device's order is known */
	dev->first_queue = vrp_qslot(p, 0);
	dev->nqueues = vrp_nq(p);
}

void vrm_proxy_forget_slot(struct vrm_bpf *b, uint32_t slot)
{
	struct vrm_device *dev = &b->devices[slot];

	__atomic_store_n(&dev->flags, 0, __ATOMIC_SEQ_CST);
	dev->broken = 0;
	memset(dev->name, 0, sizeof(dev->name));
}

/* The VMM's socket, listened on; 0 or a positive errno, which the caller
 * says (vrm_proxy_listen_why): EADDRINUSE when something listens there
 * already, EEXIST when the path is not a socket. */
static int vrp_listen(struct vrm_proxy *p)
{
	const struct vrm_proxy_cfg *cfg = &p->cfg;
	int err = -vrm_access_claim(cfg->vmm_path);

	if (err)
		return err;
	p->lsn = (struct vrm_ev){ .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
				 .fn = vrp_on_listen, .ctx = p };
	/* 0600, or 0660 with the socket group, from the start (access.c). */
	if (p->lsn.fd < 0 || (err = -vrm_access_listen(p->lsn.fd, cfg->vmm_path, 4, true)) ||
	    vrm_ev_add(p->epfd, &p->lsn, EPOLLIN))
		return err ? err : errno;
	return 0;
}

const char *vrm_proxy_listen_why(int err)
{
	if (err == EADDRINUSE)
		return "something listens there already (another daemon, a back-end or a VMM): "
		       "its socket is left alone; give the device a path of its own";
	if (err == EEXIST)
		return "it exists and is not a socket";
	return strerror(err);
}

struct vrm_proxy *vrm_proxy_new(struct vrm_bpf *b, int epfd, uint32_t slot,
			      const struct vrm_proxy_cfg *cfg)
{
	const struct vrm_device *dev;
	struct vrm_proxy *p;
	bool same;
	int err;

	if (slot >= VRM_MAX_DEVICES) {
		errno = ENOSPC;
		return NULL;
	}
	/* Before any guest memory is mapped: a VMM that shrinks its memory
	 * file must break its own device only (vrp_seal). */
	pthread_once(&vrp_guard_once, vrp_guard_install);
	if (vrp_guard_err) {
		pr_warn("device %s: cannot install the SIGBUS guard: %s\n", cfg->name,
			strerror(-vrp_guard_err));
		errno = -vrp_guard_err;
		return NULL;
	}
	p = vrp_alloc(b, epfd, slot, cfg);
	if (!p)
		return NULL;
	dev = vrp_dev(p);
	same = !strncmp(dev->name, cfg->name, sizeof(dev->name));
	if (same && (dev->flags & VRM_DF_ACTIVE))
		vrp_adopt_slot(p);
	else
		vrp_fresh_slot(p, same);
	err = p->cfg.vmm_client ? 0 : vrp_listen(p);
	if (err) {
		if (p->lsn.fd >= 0)
			close(p->lsn.fd);
		pthread_mutex_destroy(&p->pub_lock);
		free(p);
		errno = err;
		return NULL;
	}
	pr_info("device %s: %s %s for the VMM, back-end %s\n", cfg->name,
		cfg->vmm_client ? "connecting to" : "listening on", cfg->vmm_path, cfg->backend_path);
	vrp_publish(p);
	vrp_vmm_connect(p);
	return p;
}

bool vrm_proxy_attached(const struct vrm_proxy *p)
{
	return strcmp(p->state, vrp_idle_state(p)) != 0;
}

void vrm_proxy_free(struct vrm_proxy *p)
{
	if (!p)
		return;
	vrp_teardown(p, "daemon stopping");
	vrp_release_adopted(p);
	if (p->lsn.fd >= 0) {	/* the VMM's own socket when we connect (vmm_client) */
		vrm_ev_del(p->epfd, &p->lsn);
		close(p->lsn.fd);
		unlink(p->cfg.vmm_path);
	}
	for (unsigned i = 0; i < VRP_NQ; i++)
		vrm_ux_scratch_free(p->scratch[i]);
	pthread_mutex_destroy(&p->pub_lock);
	free(p);
}

void vrm_proxy_tick(struct vrm_proxy *p)
{
	vrp_vmm_connect(p);
	vrp_deferred(p);
	for (unsigned i = 0; i < VRP_NQ; i++) {
		vrp_complete(p, i);
		vrp_call_watch(p, i);
	}
	vrp_watch_kicks(p);
	vrp_be_reconnect(p);
	vrp_publish(p);
}

void vrm_proxy_info(struct vrm_proxy *p, struct vrm_proxy_info *out)
{
	pthread_mutex_lock(&p->pub_lock);
	*out = p->pub;
	pthread_mutex_unlock(&p->pub_lock);
}

const char *vrm_proxy_name(const struct vrm_proxy *p)
{
	return p->cfg.name;
}
