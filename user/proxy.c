// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's vhost-user proxy for one virtio-net device: see proxy.h.
 *
 * Security model.  Both peers are untrusted, and one daemon serves the
 * devices of many tenants: a peer may end or break its own device, never
 * another, nor the daemon.
 *  - Who: a VMM is admitted, and a back-end handed anything, only when its
 *    credentials pass access.c's policy (the socket files are 0600 or 0660
 *    with a configured group; SO_PEERCRED against root, our uid,
 *    --allow-uid and --socket-group), before the first message.
 *  - What a VMM says is checked once, on our copy, before use: message
 *    sizes, ring indices, sizes and alignment, memory regions (no overlap,
 *    no wrap, inside their files, below the shadow region), fds (eventfds,
 *    made non-blocking).  A refusal ends that session, or with REPLY_ACK
 *    is told.
 *  - Its memory may be taken back: files are sealed against shrinking
 *    where they can be (vmp_seal), and every access of ours to guest memory
 *    runs under ref.c's SIGBUS guard, which breaks that device only.
 *  - Its rings are the guest's: the translation core validates every entry
 *    and marks the device broken at the first nonsense.
 *  - Neither peer can hold the device's thread for long: every socket send
 *    and receive has a timeout (the back-end's VMP_BE_TIMEOUT, the VMM's
 *    VMP_VMM_TIMEOUT), a message is read only once wholly there, eventfds
 *    are non-blocking; and the daemon's main thread never waits for a
 *    device's thread beyond a bound (vringmedd's vmd_dev_join).
 *  - A back-end may rewrite the shadow rings it was given: only
 *    mediator-private state steers what the used path writes to the guest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#include <vringmed/abi.h>
#include <vringmed/byteorder.h>
#include <vringmed/vhost_user.h>
#include <vringmed/vring.h>

#include "access.h"
#include "loader.h"
#include "log.h"
#include "proxy.h"
#include "ref.h"
#include "vu_wire.h"

#define BIT(n)		(1ull << (n))
#define VMP_NQ		VM_PROXY_NQ
#define VMP_BE_TIMEOUT	5		/* seconds a back-end may take to answer */
/* Seconds a reply to the VMM may wait for room in its socket: a VMM reads
 * each reply before its next request (QEMU does), so the socket fills only
 * for one that stopped reading, which must not hold the device's thread. */
#define VMP_VMM_TIMEOUT	2
#define VMP_QUIET	10		/* seconds between repeats of one warning */
/* Where the shadow region sits in the back-end's guest-physical space: far
 * above any guest RAM, checked against every region the VMM sends. */
#define VMP_SHADOW_GPA	(1ull << 48)

/* Features a guest is never offered: what the proxy does not mediate
 * (indirect tables, event idx, packed rings, in-order, notification data,
 * ring reset, an IOMMU), what needs a control path it does not have (MQ,
 * GUEST_ANNOUNCE), dirty logging, and ANY_LAYOUT so a legacy guest's TX
 * header keeps a descriptor of its own. */
#define VMP_GUEST_MASK	(BIT(VU_F_INDIRECT_DESC) | BIT(VU_F_EVENT_IDX) | BIT(VU_F_ANY_LAYOUT) | \
			 BIT(VU_F_RING_PACKED) | BIT(VU_F_IN_ORDER) |			    \
			 BIT(VU_F_NOTIFICATION_DATA) | BIT(VU_F_RING_RESET) |		    \
			 BIT(VU_F_ACCESS_PLATFORM) | BIT(VU_F_SR_IOV) | BIT(VU_F_ORDER_PLATFORM) | \
			 BIT(VU_NET_F_MQ) | BIT(VU_NET_F_GUEST_ANNOUNCE) | BIT(26) /* LOG_ALL */ | \
			 /* legacy-only bits a modern back-end must not see */	    \
			 BIT(6) /* NET_F_GSO */ | BIT(VU_F_NOTIFY_ON_EMPTY))
/* Protocol features offered to the VMM: its own, not the back-end's. */
#define VMP_VMM_PF	(BIT(VU_PF_CROSS_ENDIAN) | BIT(VU_PF_REPLY_ACK))

struct vmp_region {
	uint64_t gpa, size, uaddr, offset;
	void *map;
	size_t map_len;
	int fd;			/* ours (a dup): a back-end that comes back gets it */
};

struct vmp_queue {
	uint16_t num;
	uint16_t base;
	bool have_addr, enabled, started, endian_be, endian_set;
	bool resume;			/* picks up a dead daemon's ring state */
	uint64_t desc, avail, used;	/* VMM addresses */
	int kickfd;			/* the guest's kick eventfd (ours: a dup) */
	long kick_id;			/* its eventfd-id, registered with BPF */
	struct vm_ev kick;		/* userspace path: kickfd in our loop */
	int be_kickfd;			/* userspace path: the back-end's kick fd */
	bool be_kick_sent;		/* the back-end has the kick fd of the path in use */
	/* BPF path: since when the guest's avail idx has been ahead of the
	 * translation with no progress (0: it is not). */
	uint64_t lag_since_ms;
	uint16_t lag_last_avail;
	int vmm_callfd;			/* the VMM's call eventfd */
	struct vm_ev call;		/* ours, given to the back-end */
};

struct vm_proxy {
	struct vm_proxy_cfg cfg;
	struct vm_bpf *b;
	int epfd;
	uint32_t slot;
	struct vm_ev lsn, vmm, be;
	pid_t vmm_pid;
	struct vm_scratch *scratch[VMP_NQ];

	uint64_t be_features, be_pf, offered, guest_features, vmm_pf;
	bool features_set, legacy, order_latched, owner_sent, be_proto, vmm_added;
	int order;
	enum vm_kick_path kick_path;	/* how the guest's kicks reach the core */
	int told_order;			/* what the log said of the last start */
	uint64_t told_features;
	unsigned long starts;		/* device starts (first, after a stop) */
	char kick_why[160];		/* ... and why */
	struct vmp_region reg[VM_MAX_REGIONS];
	int nreg;
	struct vmp_queue q[VMP_NQ];

	const char *state;
	bool adopted;		/* the slot still holds a dead daemon's session */
	/* That session's rings ran and stay in the pinned queue state, so
	 * the VMM reconnecting after our crash may resume them where they
	 * are (vmp_can_resume); with its VMM, features and byte order. */
	bool rs_valid[VMP_NQ];
	uint32_t rs_tgid;
	uint64_t rs_features;
	int rs_order;
	/* The back-end went away while the VMM session goes on: every VMM
	 * request still changes our state, nothing goes to the back-end, and
	 * the tick connects again and replays the state (vmp_be_reconnect). */
	bool be_down, be_retrying;
	uint64_t be_acked;		/* the features the back-end was given */
	uint64_t be_down_since_ms, be_next_try_ms;
	unsigned long be_reconnects;
	unsigned be_rings;	/* rings the back-end may be using (bit per ring) */
	unsigned be_stopped;	/* rings it stopped before the VMM stopped ours */
	uint16_t be_stopped_at[VMP_NQ];
	time_t be_warned;
	unsigned long faults_told;	/* vm_ref_fault.n of this thread, told */
	unsigned long unsealed_told;	/* the session whose unsealable memory was told */
	char last_error[160];
	unsigned long sessions, teardowns, deferred_done;
	unsigned long calls[VMP_NQ], calls_suppressed[VMP_NQ];
	/* What vm_proxy_info tells other threads: a copy made by the thread
	 * running the proxy (vmp_publish), so a reader never waits for a
	 * proxy stuck on its back-end and never sees a field half written. */
	pthread_mutex_t pub_lock;
	struct vm_proxy_info pub;
};

int vm_ev_add(int epfd, struct vm_ev *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, ev->fd, &e) ? -errno : 0;
}

void vm_ev_del(int epfd, struct vm_ev *ev)
{
	if (ev->fd >= 0)
		epoll_ctl(epfd, EPOLL_CTL_DEL, ev->fd, NULL);
}

int vm_proxy_parse(const char *spec, struct vm_proxy_cfg *cfg, const char **why)
{
	char buf[512], *tok, *save = NULL;
	bool first = true;

	memset(cfg, 0, sizeof(*cfg));
	if (strlen(spec) >= sizeof(buf)) {
		*why = "too long";
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), first = false) {
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
			if (!strcmp(tok + 5, "auto"))
				cfg->kick = VM_KICK_AUTO;
			else if (!strcmp(tok + 5, "bpf"))
				cfg->kick = VM_KICK_BPF;
			else if (!strcmp(tok + 5, "userspace"))
				cfg->kick = VM_KICK_USERSPACE;
			else {
				*why = "kick= takes auto, bpf or userspace";
				return -EINVAL;
			}
		} else {
			*why = "expected NAME,vmm=PATH,backend=PATH[,kick=auto|bpf|userspace] "
			       "(socket paths under 108 bytes)";
			return -EINVAL;
		}
	}
	if (!cfg->name[0] || !cfg->vmm_path[0] || !cfg->backend_path[0]) {
		*why = "expected NAME,vmm=PATH,backend=PATH";
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

const char *vm_kick_path_name(enum vm_kick_path k)
{
	return k == VM_KICK_BPF ? "bpf" : k == VM_KICK_USERSPACE ? "userspace" : "auto";
}

static struct vm_device *vmp_dev(struct vm_proxy *p)
{
	return &p->b->devices[p->slot];
}

static uint32_t vmp_qslot(struct vm_proxy *p, unsigned i)
{
	return VM_QSLOT(p->slot, i);
}

/* Where this device's shadow map sits in its back-end's guest-physical
 * space: each device's at its own place in the range above the guest's. */
static uint64_t vmp_shadow_gpa(struct vm_proxy *p)
{
	return VMP_SHADOW_GPA + (uint64_t)p->slot * VM_SHADOW_DEV_BYTES;
}

static void vmp_err(struct vm_proxy *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void vmp_err(struct vm_proxy *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->last_error, sizeof(p->last_error), fmt, ap);
	va_end(ap);
	pr_warn("device %s: %s\n", p->cfg.name, p->last_error);
}

/* A guest memory access of this thread faulted (ref.c's guard): the device
 * is broken by now; the log says why in words an operator can act on. */
static void vmp_tell_faults(struct vm_proxy *p)
{
	if (vm_ref_fault.n == p->faults_told)
		return;
	p->faults_told = vm_ref_fault.n;
	if (vm_ref_fault.dev == vmp_dev(p))
		vmp_err(p, "guest memory faulted (SIGBUS at %p: the VMM shrank its memory file?): "
			"the device is broken until its VMM resets it", vm_ref_fault.addr);
}

static void vmp_publish(struct vm_proxy *p)
{
	vmp_tell_faults(p);
	pthread_mutex_lock(&p->pub_lock);
	p->pub = (struct vm_proxy_info){
		.name = p->cfg.name, .vmm_path = p->cfg.vmm_path,
		.backend_path = p->cfg.backend_path, .state = p->state, .slot = p->slot,
		.vmm_pid = p->vmm_pid, .legacy = p->legacy, .order = p->order,
		.guest_features = p->guest_features, .backend_features = p->be_features,
		.sessions = p->sessions, .teardowns = p->teardowns,
		.deferred_done = p->deferred_done,
		.kick_path = p->kick_path, .starts = p->starts,
	};
	snprintf(p->pub.kick_why, sizeof(p->pub.kick_why), "%s", p->kick_why);
	for (unsigned i = 0; i < VMP_NQ; i++) {
		p->pub.calls[i] = p->calls[i];
		p->pub.calls_suppressed[i] = p->calls_suppressed[i];
	}
	snprintf(p->pub.last_error, sizeof(p->pub.last_error), "%s", p->last_error);
	pthread_mutex_unlock(&p->pub_lock);
}

/* ---- the session: one VMM connection and its back-end connection ---- */

/* Ends what a previous daemon left running in this slot (its VMM's kicks
 * were still being translated) when a VMM connects: the queues stop, so
 * that one they resume is made whole first (vmp_can_resume); their state,
 * the shadow rings and the counters stay. */
static void vmp_release_adopted(struct vm_proxy *p)
{
	struct vm_device *dev = vmp_dev(p);
	int n;

	if (!p->adopted)
		return;
	p->adopted = false;
	for (unsigned i = 0; i < VM_DEV_QUEUES; i++)
		__atomic_store_n(&p->b->queues[vmp_qslot(p, i)].flags, 0, __ATOMIC_SEQ_CST);
	n = vm_bpf_del_kickfds_of(p->b, vmp_qslot(p, 0), VM_DEV_QUEUES);
	if (dev->tgid)
		vm_bpf_del_vmm(p->b, dev->tgid);
	__atomic_store_n(&dev->flags, 0, __ATOMIC_SEQ_CST);
	dev->tgid = 0;
	dev->nregions = 0;
	dev->generation++;
	pr_info("device %s: the adopted session ends (%d kick fds released)\n", p->cfg.name,
		n < 0 ? 0 : n);
}

/* How long a kernel kick may hold a queue's `busy` lock: a BPF program runs
 * to its end in microseconds, so one still holding it after this is gone
 * (a dead daemon's userspace kick left it set; vm_queue_resume clears it). */
#define VMP_BUSY_WAIT_MS	100

/* No kick reaches queue i's translation any more: its kick fd leaves the
 * BPF map (or our loop), and a kick already inside a program (it looked the fd up before)
 * ends before this returns, so the caller may change the queue's state. */
static void vmp_queue_quiesce(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];
	struct vm_queue *q = &p->b->queues[vmp_qslot(p, i)];

	if (vq->kick_id >= 0)
		vm_bpf_del_kickfd(p->b, (uint32_t)vq->kick_id);
	vq->kick_id = -1;
	if (vq->kick.fd >= 0)
		vm_ev_del(p->epfd, &vq->kick);
	vq->kick.fd = -1;
	for (int t = 0; __atomic_load_n(&q->busy, __ATOMIC_ACQUIRE); t++) {
		struct timespec ts = { 0, 100000 };

		if (t == VMP_BUSY_WAIT_MS * 10) {
			vmp_err(p, "queue %u: a kick held the queue for %d ms", i,
				VMP_BUSY_WAIT_MS);
			break;
		}
		nanosleep(&ts, NULL);
	}
}

static void vmp_queue_stop(struct vm_proxy *p, unsigned i)
{
	struct vm_queue *q = &p->b->queues[vmp_qslot(p, i)];

	vmp_queue_quiesce(p, i);
	__atomic_and_fetch(&q->flags, ~VM_QF_ENABLED, __ATOMIC_SEQ_CST);
	p->q[i].started = false;
}

static void vmp_queue_clear(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];

	vmp_queue_stop(p, i);
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	if (vq->vmm_callfd >= 0)
		close(vq->vmm_callfd);
	if (vq->call.fd >= 0) {
		vm_ev_del(p->epfd, &vq->call);
		close(vq->call.fd);
	}
	if (vq->be_kickfd >= 0)
		close(vq->be_kickfd);
	memset(vq, 0, sizeof(*vq));
	vq->kickfd = vq->vmm_callfd = vq->call.fd = vq->kick.fd = vq->be_kickfd = -1;
	vq->kick_id = -1;
}

static void vmp_unmap_regions(struct vm_proxy *p)
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

static void vmp_teardown(struct vm_proxy *p, const char *why)
{
	struct vm_device *dev = vmp_dev(p);

	if (p->vmm.fd < 0 && p->be.fd < 0)
		return;
	if (p->be_warned && !strcmp(why, "back-end unavailable"))
		pr_debug("device %s: session ended: %s\n", p->cfg.name, why);
	else
		pr_info("device %s: session ended: %s\n", p->cfg.name, why);
	for (unsigned i = 0; i < VMP_NQ; i++)
		vmp_queue_stop(p, i);
	/* Stop the back-end's rings the way a VMM does, so it has let go of
	 * the shadow rings before the next session resets them (DPDK, for
	 * one, answers only once its data path stopped using the ring). */
	for (unsigned i = 0; i < VMP_NQ && p->be.fd >= 0 && !p->be_down; i++) {
		struct vu_msg req, rep;

		if (!(p->be_rings & (1u << i)))
			continue;
		vu_msg_init(&req, VU_GET_VRING_BASE);
		vu_put_u32(&req, 0, i);
		vu_put_u32(&req, 4, 0);
		if (vu_call(p->be.fd, &req, &rep)) {
			pr_debug("device %s: back-end did not stop ring %u\n", p->cfg.name, i);
			break;
		}
		vu_msg_close_fds(&rep);
	}
	p->be_rings = p->be_stopped = 0;
	for (unsigned i = 0; i < VMP_NQ; i++) {
		vmp_queue_clear(p, i);
		p->rs_valid[i] = false;
	}
	__atomic_store_n(&dev->flags, 0, __ATOMIC_SEQ_CST);
	if (p->vmm_added)
		vm_bpf_del_vmm(p->b, (uint32_t)p->vmm_pid);
	p->vmm_added = false;
	dev->tgid = 0;
	dev->nregions = 0;
	dev->generation++;
	vmp_unmap_regions(p);
	if (p->vmm.fd >= 0) {
		vm_ev_del(p->epfd, &p->vmm);
		close(p->vmm.fd);
		p->vmm.fd = -1;
	}
	if (p->be.fd >= 0) {
		vm_ev_del(p->epfd, &p->be);
		close(p->be.fd);
		p->be.fd = -1;
	}
	p->vmm_pid = 0;
	p->features_set = p->order_latched = p->owner_sent = p->be_proto = p->be_down = false;
	p->be_acked = 0;
	p->kick_path = VM_KICK_AUTO;
	p->kick_why[0] = 0;
	p->be_features = p->be_pf = p->offered = p->guest_features = p->vmm_pf = 0;
	p->state = "listening";
	p->teardowns++;
}

static uint64_t vmp_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* How often a lost back-end is tried again. */
#define VMP_BE_RETRY_MS		250

/*
 * The back-end connection broke (it was killed, restarted, upgraded) while
 * the VMM session goes on.  The guest notices nothing but a pause in its
 * traffic: kicks are still translated into the shadow rings, which wait for
 * the next back-end; what the VMM asks meanwhile changes our state only.
 * Before the VMM has set features there is nothing to keep: the caller
 * ends the session instead.
 */
static void vmp_be_lost(struct vm_proxy *p, const char *why)
{
	if (p->be.fd >= 0) {
		vm_ev_del(p->epfd, &p->be);
		close(p->be.fd);
		p->be.fd = -1;
	}
	p->be_rings = p->be_stopped = 0;
	for (unsigned i = 0; i < VMP_NQ; i++)
		p->q[i].be_kick_sent = false;
	if (!p->be_down) {
		vmp_err(p, "back-end %s lost (%s): the VMM session goes on, connecting again",
			p->cfg.backend_path, why);
		p->be_down = true;
		p->be_down_since_ms = vmp_now_ms();
		p->state = "back-end down";
	}
	p->be_next_try_ms = vmp_now_ms() + VMP_BE_RETRY_MS;
}

/* A request to the back-end that has no reply.  While the back-end is
 * down, nothing is sent: the replay brings it our state. */
static int vmp_be_send(struct vm_proxy *p, struct vu_msg *m)
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
			vmp_err(p, "back-end %s: %s", p->cfg.backend_path, why);
			return err;
		}
		vmp_be_lost(p, why);
	}
	return 0;
}

static int vmp_be_u64(struct vm_proxy *p, uint32_t req, uint64_t v, int fd)
{
	struct vu_msg m;

	vu_msg_u64(&m, req, v, fd);
	return vmp_be_send(p, &m);
}

static int vmp_be_state(struct vm_proxy *p, uint32_t req, uint32_t idx, uint32_t num)
{
	struct vu_msg m;

	vu_msg_init(&m, req);
	vu_put_u32(&m, 0, idx);
	vu_put_u32(&m, 4, num);
	return vmp_be_send(p, &m);
}

static void vmp_on_backend(struct vm_ev *ev, uint32_t events)
{
	struct vm_proxy *p = ev->ctx;
	char c;

	/* The back-end never speaks first (no BACKEND_REQ): readable means
	 * it went away, or it is talking nonsense. */
	if (recv(ev->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0 || (events & (EPOLLHUP | EPOLLERR))) {
		if (p->features_set) {
			vmp_be_lost(p, "disconnected");
			return;
		}
		vmp_err(p, "back-end %s disconnected", p->cfg.backend_path);
		p->be_down = true;
		vmp_teardown(p, "back-end disconnected");
	} else {
		vmp_err(p, "back-end %s sent an unsolicited message", p->cfg.backend_path);
		p->be_down = true;
		vmp_teardown(p, "back-end protocol error");
	}
}

/* The process listening at the back-end's path (SO_PEERCRED names whoever
 * called listen()) is one access.c allows: else a path another user
 * squatted would be handed every region of the guest.  0 or -EPERM. */
static int vmp_backend_trusted(struct vm_proxy *p, int fd)
{
	struct ucred c;
	char who[160];
	time_t now;
	int err = vm_access_check_fd(fd, &c);

	if (!err)
		return 0;
	now = time(NULL);
	/* A VMM retries at once: said once per VMP_QUIET seconds. */
	if (now - p->be_warned >= VMP_QUIET) {
		vmp_err(p, "back-end %s refused: its listener is pid %d uid %u gid %u, not one "
			"of %s (--allow-uid, --socket-group)", p->cfg.backend_path, (int)c.pid,
			(unsigned)c.uid, (unsigned)c.gid, vm_access_allowed(who, sizeof(who)));
		p->be_warned = now;
	}
	return -EPERM;
}

static int vmp_backend_connect(struct vm_proxy *p)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = VMP_BE_TIMEOUT };
	int fd, err;

	strcpy(sa.sun_path, p->cfg.backend_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		time_t now = time(NULL);

		err = -errno;
		close(fd);
		/* A VMM retries at once: say it once per VMP_QUIET seconds. */
		if (now - p->be_warned >= VMP_QUIET) {
			vmp_err(p, "cannot connect to back-end %s: %s (%s)", p->cfg.backend_path,
				strerror(-err), p->be_retrying ? "trying again" :
				"VMM connections are refused until it listens");
			p->be_warned = now;
		}
		return err;
	}
	/* Guest memory goes to whoever listens there: they must be ours. */
	err = vmp_backend_trusted(p, fd);
	if (err) {
		close(fd);
		return err;
	}
	p->be_warned = 0;
	/* A back-end that stops answering must not stall the daemon. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	p->be = (struct vm_ev){ .fd = fd, .fn = vmp_on_backend, .ctx = p };

	err = vu_get_u64_reply(fd, VU_GET_FEATURES, &p->be_features);
	if (err)
		goto proto;
	if (!(p->be_features & BIT(VU_F_VERSION_1))) {
		vmp_err(p, "back-end %s does not offer VERSION_1 (features 0x%llx)",
			p->cfg.backend_path, (unsigned long long)p->be_features);
		return -EPROTO;
	}
	if (p->be_features & BIT(VU_F_PROTOCOL_FEATURES)) {
		p->be_proto = true;
		err = vu_get_u64_reply(fd, VU_GET_PROTOCOL_FEATURES, &p->be_pf);
		if (err)
			goto proto;
		/* Nothing of the back-end's optional protocol is needed. */
		err = vmp_be_u64(p, VU_SET_PROTOCOL_FEATURES, 0, -1);
		if (err)
			return err;
	}
	err = vm_ev_add(p->epfd, &p->be, EPOLLIN | EPOLLRDHUP);
	if (err)
		return err;
	pr_info("device %s: back-end %s: features 0x%llx, protocol features 0x%llx\n",
		p->cfg.name, p->cfg.backend_path, (unsigned long long)p->be_features,
		(unsigned long long)p->be_pf);
	return 0;
proto:
	vmp_err(p, "back-end %s: feature query failed: %s", p->cfg.backend_path, strerror(-err));
	return err;
}

/* ---- queues ---- */

static void vmp_signal_vmm(struct vmp_queue *vq)
{
	uint64_t one = 1;

	if (vq->vmm_callfd >= 0 && write(vq->vmm_callfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("call eventfd write: %s\n", strerror(errno));
}

/* Wakes the back-end: chains went into the shadow ring after the guest's
 * kick had already woken it (or before it was listening), so a back-end that
 * waits for kicks (libvhost-user, rust-vmm; DPDK polls) would not look again
 * until the guest's next one.  On the BPF path that is the guest's kick
 * eventfd, which the back-end waits on: our write is not the VMM's, so BPF
 * lets it through untouched; on the userspace path, our own. */
static void vmp_kick_backend(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];
	int fd = p->kick_path == VM_KICK_USERSPACE ? vq->be_kickfd : vq->kickfd;
	uint64_t one = 1;

	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("kick eventfd write: %s\n", strerror(errno));
}

/* The fd the back-end waits on for queue i's kicks: the guest's own on the
 * BPF path (the guest's kick wakes it after BPF translated), ours on the
 * userspace path (we kick it once we translated).  -1 with errno set. */
static int vmp_be_kickfd(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];

	if (p->kick_path != VM_KICK_USERSPACE)
		return vq->kickfd;
	if (vq->be_kickfd < 0)
		vq->be_kickfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return vq->be_kickfd;
}

/* Hands the back-end queue i's kick fd of the path in use, unless it has
 * it: the guest's own one is sent as soon as the VMM gives it (the path is
 * chosen when the first ring starts, maybe later, at SET_VRING_ENABLE), and
 * replaced by ours when the path turns out to be userspace. */
static int vmp_be_set_kick(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];
	int fd;

	if (vq->be_kick_sent || vq->kickfd < 0)
		return 0;
	fd = vmp_be_kickfd(p, i);
	if (fd < 0)
		return -errno;
	if (p->be.fd < 0 || p->be_down)
		return 0;	/* the back-end gets it when it is back */
	vq->be_kick_sent = vmp_be_u64(p, VU_SET_VRING_KICK, i, fd) == 0;
	return vq->be_kick_sent ? 0 : -EIO;
}

/* Moves the back-end's used entries to the guest; signals the VMM unless
 * the guest asked not to be (vm_guest_wants_call). */
static void vmp_complete(struct vm_proxy *p, unsigned i, bool stopping)
{
	uint32_t qs = vmp_qslot(p, i), v, n = 0;
	struct vm_ref_queue rq = { vmp_dev(p), &p->b->queues[qs], &p->b->shadow[qs],
				   p->scratch[i], &p->b->ustats[qs] };

	if (!p->q[i].started && !stopping)
		return;
	v = vm_ref_complete(&rq, &n);
	if (n && vm_ref_guest_wants_call(&rq)) {
		vmp_signal_vmm(&p->q[i]);
		p->calls[i]++;
	} else if (n) {
		p->calls_suppressed[i]++;	/* the guest polls: NO_INTERRUPT */
	}
	/* The daemon's scan logs the breakage once, whichever side found it. */
	if (v != VM_OK)
		p->state = "broken";
}

/* The kicks BPF could not finish (a guest page not resident, a kick that
 * kept coming back): translated here with the same core, then the back-end
 * is woken, for the guest's kick woke it before the chains were there. */
static void vmp_deferred(struct vm_proxy *p)
{
	for (unsigned i = 0; i < VMP_NQ; i++) {
		uint32_t qs = vmp_qslot(p, i), chains = 0, v;
		struct vm_queue *q = &p->b->queues[qs];
		struct vm_ref_queue rq = { vmp_dev(p), q, &p->b->shadow[qs], p->scratch[i],
					   &p->b->ustats[qs] };

		if (!p->q[i].started || !VM_READ_ONCE(q->deferred))
			continue;
		/* Cleared first: a deferral that comes in meanwhile sets it
		 * again. */
		__sync_lock_test_and_set(&q->deferred, 0);
		v = vm_ref_kick(&rq, &chains);
		p->deferred_done++;
		if (chains)
			vmp_kick_backend(p, i);
		if (v != VM_OK && v != VM_DEFER)
			p->state = "broken";
		pr_debug("device %s: queue %u: deferred kick completed: %u chains, %s\n",
			 p->cfg.name, i, chains, vm_verdict_name(v));
	}
}

static void vmp_on_call(struct vm_ev *ev, uint32_t events)
{
	struct vm_proxy *p = ev->ctx;
	uint64_t cnt;

	(void)events;
	if (read(ev->fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	vmp_complete(p, (unsigned)ev->arg, false);
}

/* ---- kick paths (enum vm_kick_path) ---- */

/* A kick on the userspace path: the same core as BPF's, then the back-end. */
static void vmp_user_kick(struct vm_proxy *p, unsigned i)
{
	uint32_t qs = vmp_qslot(p, i), chains = 0, v;
	struct vm_ref_queue rq = { vmp_dev(p), &p->b->queues[qs], &p->b->shadow[qs],
				   p->scratch[i], &p->b->ustats[qs] };

	if (!p->q[i].started)
		return;
	v = vm_ref_kick(&rq, &chains);
	if (chains)
		vmp_kick_backend(p, i);
	if (v != VM_OK && v != VM_DEFER)
		p->state = "broken";
}

static void vmp_on_kick(struct vm_ev *ev, uint32_t events)
{
	struct vm_proxy *p = ev->ctx;
	uint64_t cnt;
	struct iovec iov = { &cnt, sizeof(cnt) };

	(void)events;
	/* The VMM shares this eventfd and may read it first: never block. */
	if (preadv2(ev->fd, &iov, 1, -1, RWF_NOWAIT) < 0 && errno != EAGAIN)
		return;
	vmp_user_kick(p, (unsigned)ev->arg);
}

/* Queue i's kicks reach the core: its kick fd in the BPF map, or in our
 * loop. */
static int vmp_kick_attach(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];
	long id;
	int err;

	if (p->kick_path == VM_KICK_USERSPACE) {
		vq->kick = (struct vm_ev){ .fd = vq->kickfd, .fn = vmp_on_kick, .ctx = p,
					   .arg = (int)i };
		err = vm_ev_add(p->epfd, &vq->kick, EPOLLIN);
		if (err)
			vq->kick.fd = -1;
		return err;
	}
	id = vm_eventfd_id(0, vq->kickfd);
	if (id < 0)
		return -EINVAL;
	err = vm_bpf_add_kickfd(p->b, (uint32_t)id, vmp_qslot(p, i));
	if (!err)
		vq->kick_id = id;
	return err;
}

/* Whether process `pid` holds a KVM VM: then the guest's kicks are
 * ioeventfds that KVM signals in the kernel, without a write(). */
static bool vmp_vmm_uses_kvm(pid_t pid)
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
static void vmp_kick_decide(struct vm_proxy *p)
{
	if (p->kick_path != VM_KICK_AUTO)
		return;
	if (p->cfg.kick != VM_KICK_AUTO) {
		p->kick_path = p->cfg.kick;
		snprintf(p->kick_why, sizeof(p->kick_why), "configured (kick=%s)",
			 vm_kick_path_name(p->cfg.kick));
	} else if (p->b->have_fentry) {
		p->kick_path = VM_KICK_BPF;
		snprintf(p->kick_why, sizeof(p->kick_why),
			 "fentry on eventfd_signal_mask sees every kick");
	} else if (vmp_vmm_uses_kvm(p->vmm_pid)) {
		p->kick_path = VM_KICK_USERSPACE;
		snprintf(p->kick_why, sizeof(p->kick_why),
			 "VMM pid %d runs its guest under KVM, which signals kicks inside the "
			 "kernel, and fentry is refused on this host", (int)p->vmm_pid);
	} else {
		p->kick_path = VM_KICK_BPF;
		snprintf(p->kick_why, sizeof(p->kick_why),
			 "the VMM writes its kick eventfds: the write() tracepoint sees them");
	}
	pr_info("device %s: kicks on the %s path: %s\n", p->cfg.name,
		vm_kick_path_name(p->kick_path), p->kick_why);
}

/* From now on this session's kicks are mediated in userspace: each
 * running ring's kick fd leaves BPF for our loop, the back-end gets our
 * kick eventfd, and whatever waits in the guest's ring is translated now. */
static void vmp_kick_to_userspace(struct vm_proxy *p, const char *why)
{
	snprintf(p->kick_why, sizeof(p->kick_why), "%s", why);
	pr_warn("device %s: kicks mediated in userspace from now on: %s\n", p->cfg.name, why);
	p->kick_path = VM_KICK_USERSPACE;
	for (unsigned i = 0; i < VMP_NQ; i++) {
		if (!p->q[i].started)
			continue;
		vmp_queue_quiesce(p, i);
		p->q[i].be_kick_sent = false;
		if (vmp_kick_attach(p, i) || vmp_be_set_kick(p, i)) {
			vmp_err(p, "queue %u: cannot mediate its kicks in userspace", i);
			continue;
		}
		vmp_user_kick(p, i);
	}
}

/* How long the guest's avail idx may stay ahead of the translation, with no
 * progress, before the kicks are taken to be unseen (a guest kicks right
 * after it posts; a deferred kick is done within the daemon's next tick). */
#define VMP_KICK_LAG_MS		300

/*
 * On the BPF path, kicks no hook sees would stall the device without a word
 * (the back-end wakes to an untranslated shadow ring).  Every tick (not
 * every kick: a device BPF serves costs the daemon no wake-up) each running
 * ring's avail idx is compared with the translation's position: ahead, and
 * no progress for VMP_KICK_LAG_MS, means its kicks go unseen.
 */
static void vmp_watch_kicks(struct vm_proxy *p)
{
	uint64_t now = 0;

	if (p->kick_path != VM_KICK_BPF || vmp_dev(p)->broken)
		return;
	for (unsigned i = 0; i < VMP_NQ; i++) {
		struct vmp_queue *vq = &p->q[i];
		uint32_t qs = vmp_qslot(p, i);
		struct vm_queue *q = &p->b->queues[qs];
		struct vm_ref_queue rq = { vmp_dev(p), q, &p->b->shadow[qs], p->scratch[i],
					   &p->b->ustats[qs] };
		uint16_t guest, ahead, at = VM_READ_ONCE(q->last_avail);
		char why[160];

		if (!vq->started || vm_ref_guest_avail(&rq, &guest) ||
		    !(ahead = (uint16_t)(guest - at)) || ahead > q->size) {
			vq->lag_since_ms = 0;
			continue;
		}
		now = now ? now : vmp_now_ms();
		if (!vq->lag_since_ms || vq->lag_last_avail != at) {
			vq->lag_since_ms = now;
			vq->lag_last_avail = at;
			continue;
		}
		if (now - vq->lag_since_ms < VMP_KICK_LAG_MS)
			continue;
		snprintf(why, sizeof(why), "queue %u: %u chains waited %llu ms in the guest's ring "
			 "and no kick reached BPF (signalled in the kernel or by another process)",
			 i, ahead, (unsigned long long)(now - vq->lag_since_ms));
		vq->lag_since_ms = 0;
		if (p->cfg.kick == VM_KICK_BPF) {
			/* Configured so: said, not overruled. */
			if (strcmp(p->kick_why, why))
				pr_warn("device %s: kick=bpf, but %s\n", p->cfg.name, why);
			snprintf(p->kick_why, sizeof(p->kick_why), "%s", why);
			continue;
		}
		vmp_kick_to_userspace(p, why);
		return;
	}
}

/* The guest's header length and what the queue must do about it. */
static void vmp_net_mode(struct vm_proxy *p, unsigned i, struct vm_queue *q)
{
	bool tx = i & 1;

	q->net_mode = VM_NET_NONE;
	q->net_hdr_len = VM_NET_HDR_MODERN;
	if (!p->legacy)
		return;
	if (!(p->guest_features & BIT(VU_NET_F_MRG_RXBUF)))
		q->net_hdr_len = VM_NET_HDR_LEGACY;
	if (tx) {
		if (p->order != VM_ORDER_LE || q->net_hdr_len != VM_NET_HDR_MODERN)
			q->net_mode = VM_NET_TX_SLOT;
	} else if (q->net_hdr_len == VM_NET_HDR_LEGACY) {
		q->net_mode = VM_NET_RX_SLOT;
	} else if (p->order != VM_ORDER_LE) {
		q->net_mode = VM_NET_RX_INPLACE;
	}
}

static const char *vmp_order_name(int order)
{
	return order == VM_ORDER_BE ? "big-endian" : "little-endian";
}

/*
 * Whether queue i picks up where a dead daemon (us, before a kill -9) left
 * it rather than starting afresh: the same VMM process, the same features
 * and ring, and a base the guest's own used idx can explain.  A VMM that
 * lost its vhost-user back-end restarts each ring at the guest's used idx
 * (QEMU: virtio_queue_restore_last_avail_idx); the pinned queue state knows
 * better, and the shadow ring still holds what was translated and what the
 * back-end returned: resuming from them loses and repeats nothing.
 */
static bool vmp_can_resume(struct vm_proxy *p, unsigned i, uint16_t base)
{
	const struct vm_queue *q = &p->b->queues[vmp_qslot(p, i)];
	uint16_t l = q->last_used;

	return p->rs_valid[i] && p->vmm_pid == (pid_t)p->rs_tgid && p->features_set &&
	       p->guest_features == p->rs_features && p->q[i].num == q->size &&
	       (base == l || base == (uint16_t)(l + 1));
}

/* The VMM's ring i is the one the pinned queue state describes. */
static bool vmp_same_ring(struct vm_proxy *p, unsigned i)
{
	const struct vm_queue *q = &p->b->queues[vmp_qslot(p, i)];

	return q->dev == p->slot && q->size == p->q[i].num && q->desc_va == p->q[i].desc &&
	       q->avail_va == p->q[i].avail && q->used_va == p->q[i].used;
}

/* The shadow ring of queue i, empty, at index `base`.  Done before the
 * back-end learns the ring's address: DPDK, for one, takes the ring's used
 * idx over its SET_VRING_BASE when they differ, so a previous session's
 * leftovers there would shift its view of the ring. */
static void vmp_shadow_reset(struct vm_proxy *p, unsigned i)
{
	struct vm_shadow_queue *sh = &p->b->shadow[vmp_qslot(p, i)];

	vm_ref_shadow_reset(sh);
	sh->avail.idx = vm_swab16_if(VM_ORDER_LE, p->q[i].base);
	sh->used.idx = vm_swab16_if(VM_ORDER_LE, p->q[i].base);
}

/* Starts BPF translation on queue i once the VMM has said everything. */
static int vmp_queue_try_start(struct vm_proxy *p, unsigned i)
{
	struct vmp_queue *vq = &p->q[i];
	uint32_t qs = vmp_qslot(p, i), chains;
	struct vm_device *dev = vmp_dev(p);
	struct vm_queue *q = &p->b->queues[qs];
	struct vm_shadow_queue *sh = &p->b->shadow[qs];
	struct vm_ref_queue rq;
	int order, err;

	/* With PROTOCOL_FEATURES a ring starts disabled until SET_VRING_ENABLE. */
	if (vq->started || !vq->num || !vq->have_addr || vq->kickfd < 0 || !p->features_set ||
	    !p->nreg || (!vq->enabled && (p->guest_features & BIT(VU_F_PROTOCOL_FEATURES))))
		return 0;

	/* The byte order is latched by the first queue that starts and holds
	 * until reset; a legacy device's rings all share it. */
	order = !p->legacy ? VM_ORDER_LE : vq->endian_set ?
		(vq->endian_be ? VM_ORDER_BE : VM_ORDER_LE) : vm_host_order();
	/* Latched while any ring runs; set afresh when none does. */
	if (!p->q[0].started && !p->q[1].started)
		p->order_latched = false;
	if (p->order_latched && order != p->order) {
		vmp_err(p, "queue %u asks for %s rings, the device runs %s", i,
			vmp_order_name(order), vmp_order_name(p->order));
		return -EINVAL;
	}
	if (!p->scratch[i] && !(p->scratch[i] = vm_ref_scratch_new()))
		return -ENOMEM;
	if (!p->order_latched) {
		p->order = order;
		p->order_latched = true;
		dev->tgid = (uint32_t)p->vmm_pid;
		dev->order = (uint8_t)order;
		dev->features = p->guest_features;
		dev->first_queue = vmp_qslot(p, 0);
		dev->nqueues = VMP_NQ;
		dev->broken = 0;
		__atomic_store_n(&dev->flags, VM_DF_ACTIVE, __ATOMIC_SEQ_CST);
		if (!p->vmm_added) {	/* once a session: teardown takes it back */
			err = vm_bpf_add_vmm(p->b, (uint32_t)p->vmm_pid);
			if (err)
				return err;
			p->vmm_added = true;
		}
		/* Said once a session, and again when a restart (after a
		 * pause or a driver reset) brings another byte order or
		 * other features. */
		if (p->kick_path == VM_KICK_AUTO || order != p->told_order ||
		    p->guest_features != p->told_features)
			pr_info("device %s: %s guest (features 0x%llx), %s rings, VMM pid %d\n",
				p->cfg.name, p->legacy ? "legacy" : "modern",
				(unsigned long long)p->guest_features, vmp_order_name(order),
				(int)p->vmm_pid);
		p->told_order = order;
		p->told_features = p->guest_features;
		p->starts++;
		vmp_kick_decide(p);
	}

	rq = (struct vm_ref_queue){ dev, q, sh, p->scratch[i], &p->b->ustats[qs] };
	if (vq->resume && vmp_same_ring(p, i) && p->order == p->rs_order) {
		uint16_t was = q->last_used;

		vm_ref_resume(&rq);
		pr_info("device %s: queue %u resumed where the previous daemon left it: %u "
			"in flight, %u returned by the back-end and not yet to the guest%s\n",
			p->cfg.name, i, (uint16_t)(q->last_avail - q->last_used),
			(uint16_t)(vm_swab16_if(VM_ORDER_LE, sh->used.idx) - q->last_used),
			was != q->last_used ? " (one finished from the journal)" : "");
	} else {
		if (vq->resume) {
			vmp_err(p, "queue %u: cannot resume: the pinned queue changed", i);
			return -EINVAL;
		}
		err = vm_ref_queue_setup(q, p->slot, vq->num, vq->desc, vq->avail, vq->used);
		if (err)
			return err;
		q->last_avail = q->last_used = vq->base;
	}
	vq->resume = p->rs_valid[i] = false;
	q->hdr_gpa = vmp_shadow_gpa(p) + (uint64_t)i * VM_SHADOW_BYTES + VM_SHADOW_HDR_OFF;
	vmp_net_mode(p, i, q);
	/* The shadow ring was reset when its address went to the back-end. */

	err = vmp_kick_attach(p, i);
	if (err)
		return err;
	if (p->kick_path == VM_KICK_USERSPACE) {
		vq->be_kick_sent = false;
		err = vmp_be_set_kick(p, i);
		if (err)
			return err;
	}
	__atomic_or_fetch(&q->flags, VM_QF_ENABLED, __ATOMIC_SEQ_CST);
	vq->started = true;
	p->state = "running";

	/* Whatever the guest posted before the kick fd was registered, and
	 * (resuming) what the back-end returned while we were away. */
	vm_ref_kick(&rq, &chains);
	if (chains)
		vmp_kick_backend(p, i);
	vmp_complete(p, i, false);
	pr_debug("device %s: queue %u started: size %u, base %u, net mode %u, header %u bytes\n",
		 p->cfg.name, i, vq->num, vq->base, q->net_mode, q->net_hdr_len);
	return 0;
}

/* ---- the VMM face ---- */

static int vmp_reply(struct vm_proxy *p, const struct vu_msg *req, struct vu_msg *rep)
{
	rep->request = req->request;
	rep->flags = VU_VERSION | VU_FLAG_REPLY;
	return vu_send(p->vmm.fd, rep);
}

static int vmp_reply_u64(struct vm_proxy *p, const struct vu_msg *req, uint64_t v)
{
	struct vu_msg rep;

	vu_msg_init(&rep, req->request);
	vu_put_u64(&rep, 0, v);
	return vmp_reply(p, req, &rep);
}

static bool vmp_vring_idx(struct vm_proxy *p, const struct vu_msg *m, uint32_t idx)
{
	if (idx < VMP_NQ)
		return true;
	vmp_err(p, "%s for queue %u: the device has %u", vu_request_name(m->request), idx, VMP_NQ);
	return false;
}

/*
 * virtio's ring alignment (2.7: descriptor table 16, avail ring 2, used ring
 * 4 bytes).  The core reads and writes the indices with atomics: misaligned,
 * one may straddle two cache lines, a split lock, which a host with
 * split-lock detection answers with SIGBUS or a stall of every core; and a
 * driver that misaligns its ring is broken anyway.
 */
static bool vmp_ring_aligned(struct vm_proxy *p, const struct vu_msg *m, uint32_t idx)
{
	uint64_t desc = vu_get_u64(m, VU_ADDR_DESC_OFF), avail = vu_get_u64(m, VU_ADDR_AVAIL_OFF);
	uint64_t used = vu_get_u64(m, VU_ADDR_USED_OFF);

	if (!(desc & 15) && !(avail & 1) && !(used & 3))
		return true;
	vmp_err(p, "queue %u: misaligned ring addresses refused (desc 0x%llx, avail 0x%llx, "
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
 * common set-ups; a fault in one is contained to this device by ref.c's
 * SIGBUS guard.  Said once a session.
 */
static void vmp_seal(struct vm_proxy *p, uint32_t i, int fd)
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

/* To the back-end: the guest's regions (our addresses as "user" addresses)
 * plus the shadow region: this device's shadow map, its own fd, which holds
 * no other device's rings. */
static int vmp_be_mem_table(struct vm_proxy *p, const struct vmp_region *reg, uint32_t n)
{
	struct vu_msg fwd;

	vu_msg_init(&fwd, VU_SET_MEM_TABLE);
	vu_put_u32(&fwd, 0, n + 1);
	vu_put_u32(&fwd, 4, 0);
	for (uint32_t i = 0; i <= n; i++) {
		uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;
		bool sh = i == n;

		vu_put_u64(&fwd, off, sh ? vmp_shadow_gpa(p) : reg[i].gpa);
		vu_put_u64(&fwd, off + 8, sh ? VM_SHADOW_DEV_BYTES : reg[i].size);
		vu_put_u64(&fwd, off + 16, sh ? (uint64_t)(uintptr_t)&p->b->shadow[vmp_qslot(p, 0)] :
			   (uint64_t)(uintptr_t)reg[i].map + reg[i].offset);
		vu_put_u64(&fwd, off + 24, sh ? 0 : reg[i].offset);
		fwd.fds[i] = sh ? vm_bpf_shadow_fd(p->b, p->slot) : reg[i].fd;
	}
	fwd.nfds = (int)n + 1;
	return vmp_be_send(p, &fwd);
}

static int vmp_mem_table(struct vm_proxy *p, struct vu_msg *m)
{
	struct vm_device *dev = vmp_dev(p);
	struct vmp_region reg[VM_MAX_REGIONS] = { 0 };
	struct stat fst;
	uint32_t n = vu_get_u32(m, 0);
	int err = 0;

	if (m->size < VU_MEM_HDR_SIZE || n < 1 || n > VM_MAX_REGIONS - 1 ||
	    m->size < VU_MEM_HDR_SIZE + n * VU_MEM_REGION_SIZE || (uint32_t)m->nfds != n) {
		vmp_err(p, "malformed SET_MEM_TABLE: %u regions, %d fds, %u bytes "
			"(at most %d regions)", n, m->nfds, m->size, VM_MAX_REGIONS - 1);
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t off = VU_MEM_HDR_SIZE + i * VU_MEM_REGION_SIZE;
		struct vmp_region *r = &reg[i];

		r->fd = -1;
		r->gpa = vu_get_u64(m, off);
		r->size = vu_get_u64(m, off + 8);
		r->uaddr = vu_get_u64(m, off + 16);
		r->offset = vu_get_u64(m, off + 24);
		if (!r->size || r->gpa + r->size < r->gpa || r->uaddr + r->size < r->uaddr ||
		    r->offset + r->size < r->offset || r->gpa + r->size > VMP_SHADOW_GPA) {
			vmp_err(p, "SET_MEM_TABLE region %u is invalid (gpa 0x%llx size 0x%llx)", i,
				(unsigned long long)r->gpa, (unsigned long long)r->size);
			err = -EINVAL;
			goto fail;
		}
		for (uint32_t j = 0; j < i; j++)
			if (r->gpa < reg[j].gpa + reg[j].size && reg[j].gpa < r->gpa + r->size) {
				vmp_err(p, "SET_MEM_TABLE regions %u and %u overlap in guest "
					"memory", j, i);
				err = -EINVAL;
				goto fail;
			}
		/* A mapping past the end of its file would SIGBUS us at the
		 * first write of the used path: the file must cover it, and
		 * keep covering it (vmp_seal). */
		vmp_seal(p, i, m->fds[i]);
		if (fstat(m->fds[i], &fst) || !S_ISREG(fst.st_mode) ||
		    (uint64_t)fst.st_size < r->offset + r->size) {
			vmp_err(p, "SET_MEM_TABLE region %u: its fd is not a memory file of at "
				"least %llu bytes", i, (unsigned long long)(r->offset + r->size));
			err = -EINVAL;
			goto fail;
		}
		r->map_len = r->size + r->offset;
		r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
		if (r->map == MAP_FAILED) {
			err = -errno;
			r->map = NULL;
			vmp_err(p, "cannot map guest memory region %u (%llu bytes): %s", i,
				(unsigned long long)r->map_len, strerror(-err));
			goto fail;
		}
		r->fd = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 3);
		if (r->fd < 0) {
			err = -errno;
			goto fail;
		}
	}

	err = vmp_be_mem_table(p, reg, n);
	if (err)
		goto fail;

	/* The BPF side reads through the VMM's addresses, the used path
	 * writes through ours. */
	vmp_unmap_regions(p);
	memcpy(p->reg, reg, sizeof(reg));
	p->nreg = (int)n;
	for (uint32_t i = 0; i < n; i++)
		dev->regions[i] = (struct vm_region){ reg[i].gpa, reg[i].size, reg[i].uaddr,
						      (uint64_t)(uintptr_t)reg[i].map + reg[i].offset };
	dev->nregions = (uint8_t)n;
	pr_debug("device %s: %u guest memory regions\n", p->cfg.name, n);
	return 0;
fail:
	for (uint32_t i = 0; i < n; i++) {
		if (reg[i].map)
			munmap(reg[i].map, reg[i].map_len);
		if (reg[i].fd >= 0)
			close(reg[i].fd);
	}
	return err;
}

/* How long a stop waits for the back-end to take what the guest had already
 * sent (its transmit ring), so that a pause does not drop it. */
#define VMP_DRAIN_MS		50

/* Waits (at most VMP_DRAIN_MS) until the back-end returned every chain
 * translated on queue i, then a little more while its other rings still
 * move (a frame it took is forwarded after it returned the chain). */
static void vmp_be_drain(struct vm_proxy *p, unsigned i)
{
	const struct vm_queue *q = &p->b->queues[vmp_qslot(p, i)];
	const struct vm_shadow_queue *sh = &p->b->shadow[vmp_qslot(p, i)];
	uint64_t t0 = vmp_now_ms();

	if (!p->q[i].started || p->be.fd < 0 || p->be_down)
		return;
	while (vm_swab16_if(VM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE)) !=
	       VM_READ_ONCE(q->last_avail) && vmp_now_ms() - t0 < VMP_DRAIN_MS) {
		struct timespec ts = { 0, 200000 };

		nanosleep(&ts, NULL);
	}
	for (uint16_t was = 0xffff, now;; was = now) {
		struct timespec ts = { 0, 1000000 };

		now = 0;
		for (unsigned k = 0; k < VMP_NQ; k++)
			now += vm_swab16_if(VM_ORDER_LE,
					    __atomic_load_n(&p->b->shadow[vmp_qslot(p, k)].used.idx,
							    __ATOMIC_ACQUIRE));
		if (now == was || vmp_now_ms() - t0 >= VMP_DRAIN_MS)
			break;
		nanosleep(&ts, NULL);
	}
}

/* The back-end stops its ring i (its own GET_VRING_BASE): after the answer
 * it no longer touches the shadow ring.  False when it did not answer. */
static bool vmp_be_stop_ring(struct vm_proxy *p, unsigned i, uint16_t *be_base)
{
	struct vu_msg req, rep;
	int err;

	if (p->be.fd < 0 || p->be_down || !(p->be_rings & (1u << i)))
		return false;
	p->be_rings &= ~(1u << i);
	p->q[i].be_kick_sent = false;	/* it drops the ring's fds (DPDK does) */
	vu_msg_init(&req, VU_GET_VRING_BASE);
	vu_put_u32(&req, 0, i);
	vu_put_u32(&req, 4, 0);
	err = vu_call(p->be.fd, &req, &rep);
	if (err) {
		char why[96];

		/* Its position is lost with it; ours stands. */
		snprintf(why, sizeof(why), "GET_VRING_BASE: %s", strerror(-err));
		vmp_be_lost(p, why);
		return false;
	}
	vu_msg_close_fds(&rep);
	*be_base = (uint16_t)vu_get_u32(&rep, 4);
	p->be_stopped_at[i] = *be_base;
	p->be_stopped |= 1u << i;
	return true;
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
static int vmp_ring_stop(struct vm_proxy *p, const struct vu_msg *m, uint32_t idx)
{
	struct vmp_queue *vq = &p->q[idx];
	struct vm_queue *q = &p->b->queues[vmp_qslot(p, idx)];
	struct vm_shadow_queue *sh = &p->b->shadow[vmp_qslot(p, idx)];
	bool was_started = vq->started;
	struct vu_msg rep;
	uint16_t be_base;

	vmp_queue_quiesce(p, idx);
	if (!(idx & 1) && idx + 1 < VMP_NQ && (p->be_rings & (1u << (idx + 1)))) {
		vmp_queue_quiesce(p, idx + 1);
		vmp_be_drain(p, idx + 1);
		vmp_be_stop_ring(p, idx + 1, &be_base);
	}
	vmp_be_stop_ring(p, idx, &be_base);
	if (was_started) {
		uint16_t sh_used;

		vmp_complete(p, idx, true);
		sh_used = vm_swab16_if(VM_ORDER_LE, __atomic_load_n(&sh->used.idx, __ATOMIC_ACQUIRE));
		if ((p->be_stopped & (1u << idx)) && p->be_stopped_at[idx] != sh_used)
			pr_info("device %s: queue %u: the back-end stopped with %u chains taken and "
				"not returned: they are handed to it again at the restart\n",
				p->cfg.name, idx, (uint16_t)(p->be_stopped_at[idx] - sh_used));
		vq->base = q->last_used;
		pr_debug("device %s: queue %u stopped at %u (%u translated, not taken back)\n",
			 p->cfg.name, idx, vq->base, (uint16_t)(q->last_avail - q->last_used));
	}
	p->be_stopped &= ~(1u << idx);
	__atomic_and_fetch(&q->flags, ~VM_QF_ENABLED, __ATOMIC_SEQ_CST);
	vq->started = false;
	if (vq->kickfd >= 0)
		close(vq->kickfd);
	vq->kickfd = -1;
	vq->be_kick_sent = false;
	if (!p->q[0].started && !p->q[1].started) {
		p->order_latched = false;
		p->state = "stopped";
	}
	vu_msg_init(&rep, VU_GET_VRING_BASE);
	vu_put_u32(&rep, 0, idx);
	vu_put_u32(&rep, 4, vq->base);
	return vmp_reply(p, m, &rep);
}

/* The back-end gets ring i's shadow rings, in our address space, which the
 * shadow region's "user" address covers. */
static int vmp_be_ring_addr(struct vm_proxy *p, unsigned i)
{
	uint64_t sh = (uint64_t)(uintptr_t)&p->b->shadow[vmp_qslot(p, i)];
	struct vu_msg fwd;

	vu_msg_init(&fwd, VU_SET_VRING_ADDR);
	vu_put_u32(&fwd, 0, i);
	vu_put_u32(&fwd, 4, 0);		/* no dirty logging */
	vu_put_u64(&fwd, VU_ADDR_DESC_OFF, sh);
	vu_put_u64(&fwd, VU_ADDR_USED_OFF, sh + VM_SHADOW_USED_OFF);
	vu_put_u64(&fwd, VU_ADDR_AVAIL_OFF, sh + VM_SHADOW_AVAIL_OFF);
	vu_put_u64(&fwd, 32, 0);
	p->be_rings |= 1u << i;
	return vmp_be_send(p, &fwd);
}

/*
 * A back-end that came back (vmp_be_lost) is given our whole state, as a
 * VMM would give it to a new one: features, memory table (the shadow region
 * included), and each ring from where the shadow ring stands.  What the old
 * one returned goes to the guest first; what it took and never returned is
 * still in the shadow avail ring past its used idx, so the new one takes it
 * again: the guest's buffers are not lost (a frame the old one had sent may
 * go out twice).  0, -EPROTO when it lacks a feature the guest has (the
 * session must end: the guest cannot lose a feature), or -errno.
 */
static int vmp_be_replay(struct vm_proxy *p)
{
	uint64_t need = p->be_acked & ~BIT(VU_F_PROTOCOL_FEATURES);

	if (p->features_set && (need & ~p->be_features)) {
		vmp_err(p, "back-end %s came back without features 0x%llx the guest has",
			p->cfg.backend_path, (unsigned long long)(need & ~p->be_features));
		return -EPROTO;
	}
	if (p->owner_sent)
		vmp_be_u64(p, VU_SET_OWNER, 0, -1);
	if (p->features_set)
		vmp_be_u64(p, VU_SET_FEATURES,
			   need | (p->be_proto ? BIT(VU_F_PROTOCOL_FEATURES) : 0), -1);
	if (p->nreg)
		vmp_be_mem_table(p, p->reg, (uint32_t)p->nreg);
	for (unsigned i = 0; i < VMP_NQ && !p->be_down; i++) {
		struct vmp_queue *vq = &p->q[i];
		struct vm_shadow_queue *sh = &p->b->shadow[vmp_qslot(p, i)];

		if (!vq->num)
			continue;
		vmp_be_state(p, VU_SET_VRING_NUM, i, vq->num);
		vmp_complete(p, i, false);
		vmp_be_state(p, VU_SET_VRING_BASE, i,
			     vq->have_addr ? vm_swab16_if(VM_ORDER_LE, sh->used.idx) : vq->base);
		if (vq->have_addr)
			vmp_be_ring_addr(p, i);
		if (vq->call.fd >= 0)
			vmp_be_u64(p, VU_SET_VRING_CALL, i, vq->call.fd);
		vq->be_kick_sent = false;
		vmp_be_set_kick(p, i);
		if (p->be_proto && vq->enabled)
			vmp_be_state(p, VU_SET_VRING_ENABLE, i, 1);
		if (vq->started)
			vmp_kick_backend(p, i);
	}
	return 0;
}

/* The tick's part while the back-end is down: connect again, every
 * VMP_BE_RETRY_MS, and replay. */
static void vmp_be_reconnect(struct vm_proxy *p)
{
	uint64_t now = vmp_now_ms();
	int err;

	if (!p->be_down || p->vmm.fd < 0 || now < p->be_next_try_ms)
		return;
	p->be_down = false;	/* sends go out; a failure sets it again */
	p->be_retrying = true;
	err = vmp_backend_connect(p);
	p->be_retrying = false;
	if (!err && !p->be_down)
		err = vmp_be_replay(p);
	if (err || p->be_down) {
		p->be_down = true;	/* quietly: it was said once */
		vmp_be_lost(p, "");
		if (err == -EPROTO)
			vmp_teardown(p, "back-end came back unable to serve the guest");
		return;
	}
	p->be_reconnects++;
	p->last_error[0] = 0;	/* the loss is over: "last_error" told of it */
	p->state = p->q[0].started || p->q[1].started ? "running" : "negotiating";
	pr_info("device %s: back-end %s back after %llu ms: rings set up again at the shadow "
		"rings' positions\n", p->cfg.name, p->cfg.backend_path,
		(unsigned long long)(now - p->be_down_since_ms));
}

/* Handles one VMM request.  Returns 0, or -errno to end the session. */
static int vmp_vmm_request(struct vm_proxy *p, struct vu_msg *m)
{
	uint32_t idx = vu_get_u32(m, 0) & VU_VRING_IDX_MASK;
	struct vmp_queue *vq = idx < VMP_NQ ? &p->q[idx] : NULL;
	uint64_t u;
	int err = 0, fd;

	pr_debug("device %s: VMM %s (%u bytes, %d fds)\n", p->cfg.name,
		 vu_request_name(m->request), m->size, m->nfds);
	switch (m->request) {
	case VU_GET_FEATURES:
		p->offered = (p->be_features & ~VMP_GUEST_MASK) | BIT(VU_F_PROTOCOL_FEATURES);
		return vmp_reply_u64(p, m, p->offered);
	case VU_SET_FEATURES:
		if (m->size != 8)
			return -EBADMSG;
		u = vu_get_u64(m, 0);
		if (u & ~p->offered) {
			vmp_err(p, "VMM acked features 0x%llx it was not offered",
				(unsigned long long)(u & ~p->offered));
			return -EINVAL;
		}
		if (p->order_latched && u != p->guest_features) {
			vmp_err(p, "VMM changed features while the rings run");
			return -EBUSY;
		}
		p->guest_features = u;
		p->legacy = !(u & BIT(VU_F_VERSION_1));
		p->features_set = true;
		/* The back-end always gets a modern device. */
		u = (u & p->be_features & ~BIT(VU_F_PROTOCOL_FEATURES)) | BIT(VU_F_VERSION_1);
		if (p->be_proto)
			u |= BIT(VU_F_PROTOCOL_FEATURES);
		p->be_acked = u;
		return vmp_be_u64(p, VU_SET_FEATURES, u, -1);
	case VU_GET_PROTOCOL_FEATURES:
		return vmp_reply_u64(p, m, VMP_VMM_PF);
	case VU_SET_PROTOCOL_FEATURES:
		if (m->size != 8)
			return -EBADMSG;
		p->vmm_pf = vu_get_u64(m, 0) & VMP_VMM_PF;
		return 0;
	case VU_GET_QUEUE_NUM:
		return vmp_reply_u64(p, m, 1);
	case VU_SET_OWNER:
		if (p->owner_sent)
			return 0;
		p->owner_sent = true;
		return vmp_be_u64(p, VU_SET_OWNER, 0, -1) ? -EIO : 0;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		/* A reset ends the session: the VMM reconnects for the next. */
		vmp_teardown(p, "VMM reset the device");
		return 1;
	case VU_SET_MEM_TABLE:
		return vmp_mem_table(p, m);
	case VU_SET_VRING_NUM:
		if (m->size != VU_STATE_SIZE || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		u = vu_get_u32(m, 4);
		if (vq->started || !vm_ring_size_ok((uint32_t)u, VM_MAX_RING)) {
			vmp_err(p, "queue %u: ring size %llu refused (power of two up to %d, "
				"not while running)", idx, (unsigned long long)u, VM_MAX_RING);
			return -EINVAL;
		}
		vq->num = (uint16_t)u;
		return vmp_be_state(p, VU_SET_VRING_NUM, idx, (uint32_t)u);
	case VU_SET_VRING_BASE:
		if (m->size != VU_STATE_SIZE || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		if (vq->started)
			return -EBUSY;
		vq->base = (uint16_t)vu_get_u32(m, 4);
		vq->resume = vmp_can_resume(p, idx, vq->base);
		if (vq->resume) {
			/* The back-end goes on from what it returned. */
			struct vm_shadow_queue *sh = &p->b->shadow[vmp_qslot(p, idx)];

			return vmp_be_state(p, VU_SET_VRING_BASE, idx,
					    vm_swab16_if(VM_ORDER_LE, sh->used.idx));
		}
		p->rs_valid[idx] = false;
		vmp_shadow_reset(p, idx);
		return vmp_be_state(p, VU_SET_VRING_BASE, idx, vq->base);
	case VU_SET_VRING_ADDR: {
		if (m->size != VU_ADDR_SIZE || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		if (vq->started)
			return -EBUSY;
		if (!vmp_ring_aligned(p, m, idx))
			return -EINVAL;
		vq->desc = vu_get_u64(m, VU_ADDR_DESC_OFF);
		vq->used = vu_get_u64(m, VU_ADDR_USED_OFF);
		vq->avail = vu_get_u64(m, VU_ADDR_AVAIL_OFF);
		vq->have_addr = true;
		if (vq->resume && !vmp_same_ring(p, idx)) {
			/* Another ring after all: start it afresh. */
			vq->resume = p->rs_valid[idx] = false;
			vmp_shadow_reset(p, idx);
			if (vmp_be_state(p, VU_SET_VRING_BASE, idx, vq->base))
				return -EIO;
		} else if (!vq->resume) {
			vmp_shadow_reset(p, idx);
		}
		return vmp_be_ring_addr(p, idx);
	}
	case VU_SET_VRING_ENDIAN:
		if (m->size != VU_STATE_SIZE || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		if (!(p->vmm_pf & BIT(VU_PF_CROSS_ENDIAN))) {
			vmp_err(p, "SET_VRING_ENDIAN without CROSS_ENDIAN negotiated");
			return -EPROTO;
		}
		u = vu_get_u32(m, 4);
		if (u != VU_VRING_LITTLE_ENDIAN && u != VU_VRING_BIG_ENDIAN)
			return -EINVAL;
		/* Refused while the ring runs.  A stopped ring may change it
		 * (QEMU sets the native order back when it stops a ring); it
		 * must agree with the running rings when it starts again. */
		if (vq->started) {
			vmp_err(p, "queue %u: byte order change to %s refused while the "
				"device runs %s", idx, u ? "big-endian" : "little-endian",
				vmp_order_name(p->order));
			return -EBUSY;
		}
		vq->endian_be = u == VU_VRING_BIG_ENDIAN;
		vq->endian_set = true;
		return 0;	/* the back-end's rings are little-endian, always */
	case VU_SET_VRING_KICK:
	case VU_SET_VRING_CALL:
	case VU_SET_VRING_ERR:
		if (m->size != 8 || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		u = vu_get_u64(m, 0);
		fd = (u & VU_VRING_NOFD) ? -1 : vu_msg_take_fd(m, 0);
		if (!(u & VU_VRING_NOFD) && fd < 0)
			return -EBADMSG;
		if (m->request == VU_SET_VRING_ERR) {
			if (fd >= 0)
				close(fd);
			return 0;
		}
		/* Ours to read and write without blocking, whatever the VMM
		 * made of them (QEMU's are non-blocking already). */
		if (fd >= 0 && (vm_eventfd_id(0, fd) < 0 ||
				fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK))) {
			close(fd);
			vmp_err(p, "queue %u: the %s fd is not an eventfd", idx,
				m->request == VU_SET_VRING_KICK ? "kick" : "call");
			return -EINVAL;
		}
		if (m->request == VU_SET_VRING_CALL) {
			/* The VMM's call fd is signalled by us; the back-end
			 * signals ours.  QEMU swaps it when it masks. */
			if (vq->vmm_callfd >= 0)
				close(vq->vmm_callfd);
			vq->vmm_callfd = fd;
			if (vq->call.fd < 0) {
				vq->call = (struct vm_ev){ .fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
							   .fn = vmp_on_call, .ctx = p,
							   .arg = (int)idx };
				if (vq->call.fd < 0 || vm_ev_add(p->epfd, &vq->call, EPOLLIN))
					return -errno;
			}
			/* Every time, not once: a back-end drops its call fd
			 * when the ring stops (DPDK closes it at GET_VRING_BASE)
			 * and a ring that starts again needs it back. */
			err = vmp_be_u64(p, VU_SET_VRING_CALL, idx, vq->call.fd);
			/* A running ring may have returned entries before the
			 * VMM had a call fd with us (a resumed one does). */
			if (!err && vq->started) {
				vmp_complete(p, idx, false);
				vmp_signal_vmm(vq);
			}
			return err;
		}
		/* Kick: polling mode (no fd) means no kicks to translate at. */
		if (fd < 0) {
			vmp_err(p, "queue %u: a kick fd is required (polling VMMs are not "
				"supported)", idx);
			return -EINVAL;
		}
		if (vq->started) {
			/* Another kick fd for a running ring: its state stays. */
			vmp_queue_quiesce(p, idx);
			close(vq->kickfd);
			vq->kickfd = fd;
			vq->be_kick_sent = false;
			err = vmp_kick_attach(p, idx);
		} else {
			if (vq->kickfd >= 0)
				close(vq->kickfd);
			vq->kickfd = fd;
			vq->be_kick_sent = false;
			err = vmp_queue_try_start(p, idx);
		}
		if (err)
			return err;
		err = vmp_be_set_kick(p, idx);
		/* Kicks that came before the fd was in our loop. */
		if (!err && vq->started && p->kick_path == VM_KICK_USERSPACE)
			vmp_user_kick(p, idx);
		return err;
	case VU_SET_VRING_ENABLE:
		if (m->size != VU_STATE_SIZE || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		vq->enabled = vu_get_u32(m, 4) != 0;
		if (vq->enabled) {
			err = vmp_queue_try_start(p, idx);
			if (err)
				return err;
		}
		if (!p->be_proto)
			return 0;
		return vmp_be_state(p, VU_SET_VRING_ENABLE, idx, vq->enabled);
	case VU_GET_VRING_BASE:
		if (m->size != VU_STATE_SIZE || !vmp_vring_idx(p, m, idx))
			return -EBADMSG;
		return vmp_ring_stop(p, m, idx);
	case VU_SEND_RARP:
	case VU_NET_SET_MTU:
		return 0;	/* not offered; harmless to ignore */
	default:
		vmp_err(p, "VMM request %s (%u) is not supported", vu_request_name(m->request),
			m->request);
		return -EOPNOTSUPP;
	}
}

static bool vmp_has_reply(uint32_t req)
{
	return req == VU_GET_FEATURES || req == VU_GET_PROTOCOL_FEATURES ||
	       req == VU_GET_QUEUE_NUM || req == VU_GET_VRING_BASE;
}

/*
 * Whether a whole message (or the end of the connection) waits on the VMM
 * socket.  vu_recv() reads a message to its end; a VMM that stopped half-way
 * through one would hold the daemon, and every other device, in that read.
 * The socket is edge-triggered: a partial message waits for the next edge.
 */
static bool vmp_vmm_ready(int fd, uint32_t events)
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
	return vm_swab32_if(VM_ORDER_LE, hdr[2]) > VU_MAX_PAYLOAD ||
	       (uint32_t)avail >= VU_HDR_SIZE + vm_swab32_if(VM_ORDER_LE, hdr[2]);
}

static void vmp_vmm_one(struct vm_proxy *p, int fd);

static void vmp_on_vmm(struct vm_ev *ev, uint32_t events)
{
	struct vm_proxy *p = ev->ctx;

	/* Every whole message there is (edge-triggered), while the session
	 * lasts; at most 64 per wake-up so one VMM cannot keep the loop to
	 * itself (the rest re-arms the edge below). */
	for (int n = 0; p->vmm.fd == ev->fd && ev->fd >= 0; n++) {
		if (!vmp_vmm_ready(ev->fd, events))
			return;
		if (n == 64) {
			/* Leave the rest for the next turn of the loop. */
			struct epoll_event e = { .events = EPOLLIN | EPOLLRDHUP | EPOLLET,
						 .data.ptr = ev };

			epoll_ctl(p->epfd, EPOLL_CTL_MOD, ev->fd, &e);
			return;
		}
		vmp_vmm_one(p, ev->fd);
	}
}

static void vmp_vmm_one(struct vm_proxy *p, int fd)
{
	struct vu_msg *m = malloc(sizeof(*m));
	int rc;

	if (!m)
		return;
	rc = vu_recv(fd, m);
	if (rc <= 0) {
		if (rc == 0 || rc == -ECONNRESET)
			vmp_teardown(p, "VMM disconnected");
		else {
			vmp_err(p, "malformed message from the VMM: %s", strerror(-rc));
			vmp_teardown(p, "VMM protocol error");
		}
		free(m);
		return;
	}
	rc = vmp_vmm_request(p, m);
	if (rc == 1) {			/* the session already ended */
		vu_msg_close_fds(m);
		free(m);
		return;
	}
	if ((p->vmm_pf & BIT(VU_PF_REPLY_ACK)) && (m->flags & VU_FLAG_NEED_REPLY) &&
	    !vmp_has_reply(m->request)) {
		/* REPLY_ACK: the VMM learns of a refusal and carries on. */
		if (vmp_reply_u64(p, m, rc ? 1 : 0) == 0 && rc != -EIO && rc != -EBADMSG &&
		    rc != -EPIPE && rc != -ECONNRESET) {
			if (rc)
				pr_info("device %s: %s refused: %s\n", p->cfg.name,
					vu_request_name(m->request), strerror(-rc));
			rc = 0;
		}
	}
	vu_msg_close_fds(m);
	if (rc) {
		if (!p->last_error[0])
			vmp_err(p, "%s failed: %s", vu_request_name(m->request), strerror(-rc));
		vmp_teardown(p, "request failed");
	}
	free(m);
}

static void vmp_on_listen(struct vm_ev *ev, uint32_t events)
{
	struct vm_proxy *p = ev->ctx;
	struct timeval tv = { .tv_sec = VMP_VMM_TIMEOUT };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd;

	(void)events;
	fd = accept4(ev->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
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
	if (!vm_access_peer_ok(&cred)) {
		char who[160];

		pr_warn("device %s: VMM connection refused: pid %d uid %u gid %u is not one of "
			"%s (--allow-uid, --socket-group)\n", p->cfg.name, (int)cred.pid,
			(unsigned)cred.uid, (unsigned)cred.gid, vm_access_allowed(who, sizeof(who)));
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	vmp_release_adopted(p);
	p->last_error[0] = 0;
	p->vmm = (struct vm_ev){ .fd = fd, .fn = vmp_on_vmm, .ctx = p };
	p->vmm_pid = cred.pid;
	p->state = "negotiating";
	p->sessions++;
	if (p->be_warned)
		pr_debug("device %s: VMM pid %d connected\n", p->cfg.name, (int)cred.pid);
	else
		pr_info("device %s: VMM pid %d connected\n", p->cfg.name, (int)cred.pid);
	for (unsigned i = 0; i < VMP_NQ; i++)
		vmp_queue_clear(p, i);
	vmp_publish(p);		/* "negotiating" while the back-end answers */
	if (vmp_backend_connect(p) || vm_ev_add(p->epfd, &p->vmm, EPOLLIN | EPOLLRDHUP | EPOLLET)) {
		vmp_teardown(p, "back-end unavailable");
		return;
	}
}

int vm_proxy_pick_slot(const struct vm_bpf *b, const char *name, const bool *taken)
{
	int fresh = -1, stale = -1;

	for (int i = 0; i < VM_MAX_DEVICES; i++) {
		const char *n = b->devices[i].name;

		if (taken[i])
			continue;
		if (!strncmp(n, name, VM_DEV_NAME_LEN))
			return i;
		if (!n[0] && fresh < 0)
			fresh = i;
		if (n[0] && stale < 0)
			stale = i;
	}
	return fresh >= 0 ? fresh : stale >= 0 ? stale : -ENOSPC;
}

static pthread_once_t vmp_guard_once = PTHREAD_ONCE_INIT;
static int vmp_guard_err;

static void vmp_guard_install(void)
{
	vmp_guard_err = vm_ref_guard_install();
}

struct vm_proxy *vm_proxy_new(struct vm_bpf *b, int epfd, uint32_t slot,
			      const struct vm_proxy_cfg *cfg)
{
	struct vm_proxy *p;
	struct stat st;
	int err = 0;

	if (slot >= VM_MAX_DEVICES) {
		errno = ENOSPC;
		return NULL;
	}
	/* Before any guest memory is mapped: a VMM that shrinks its memory
	 * file must break its own device only (vmp_seal). */
	pthread_once(&vmp_guard_once, vmp_guard_install);
	if (vmp_guard_err) {
		pr_warn("device %s: cannot install the SIGBUS guard: %s\n", cfg->name,
			strerror(-vmp_guard_err));
		errno = -vmp_guard_err;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	p->b = b;
	p->epfd = epfd;
	pthread_mutex_init(&p->pub_lock, NULL);
	p->slot = slot;
	/* -1 before the first goto fail: calloc's 0 is stdin's number. */
	p->vmm.fd = p->be.fd = p->lsn.fd = -1;
	p->state = "listening";
	for (unsigned i = 0; i < VMP_NQ; i++) {
		p->q[i].kickfd = p->q[i].vmm_callfd = p->q[i].call.fd = -1;
		p->q[i].kick.fd = p->q[i].be_kickfd = -1;
		p->q[i].kick_id = -1;
	}
	if (!strncmp(b->devices[slot].name, cfg->name, sizeof(b->devices[slot].name)) &&
	    (b->devices[slot].flags & VM_DF_ACTIVE)) {
		/* A previous daemon's session: its kicks go on being translated
		 * until the VMM reconnects; counters carry on. */
		struct vm_device *dev = &b->devices[slot];

		p->adopted = true;
		p->state = "adopted";
		/* Its guest memory was mapped by the dead daemon, not by us:
		 * nothing here may use those addresses (BPF reads the VMM's). */
		for (unsigned r = 0; r < VM_MAX_REGIONS; r++)
			__atomic_store_n(&dev->regions[r].mediator_va, 0, __ATOMIC_SEQ_CST);
		p->rs_tgid = dev->tgid;
		p->rs_features = dev->features;
		p->rs_order = dev->order;
		for (unsigned i = 0; i < VMP_NQ; i++) {
			const struct vm_queue *q = &b->queues[vmp_qslot(p, i)];

			/* Not across builds: another build's programs kept
			 * translating into rings this one does not have. */
			p->rs_valid[i] = (q->flags & VM_QF_ENABLED) && q->dev == slot &&
					 !dev->broken && !b->stale_links;
		}
		p->order = dev->order;
		p->guest_features = dev->features;
		p->legacy = !(dev->features & BIT(VU_F_VERSION_1));
		p->vmm_pid = (pid_t)dev->tgid;
		pr_info("device %s: adopted slot %u from the pinned maps (%s rings, features "
			"0x%llx, VMM pid %u): kicks are translated until the VMM reconnects\n",
			cfg->name, slot, vmp_order_name(dev->order),
			(unsigned long long)dev->features, dev->tgid);
	} else {
		bool same = !strncmp(b->devices[slot].name, cfg->name, sizeof(b->devices[slot].name));

		/* A fresh slot: whatever an earlier owner left is reset, and
		 * the counters too unless they were this device's. */
		memset(&b->devices[slot], 0, sizeof(b->devices[slot]));
		for (unsigned i = 0; i < VM_DEV_QUEUES; i++) {
			__atomic_store_n(&b->queues[vmp_qslot(p, i)].flags, 0, __ATOMIC_SEQ_CST);
			if (!same)
				vm_bpf_clear_stats(b, vmp_qslot(p, i));
		}
		vm_bpf_del_kickfds_of(b, vmp_qslot(p, 0), VM_DEV_QUEUES);
		memcpy(b->devices[slot].name, cfg->name,
		       strnlen(cfg->name, sizeof(b->devices[slot].name) - 1));
		b->devices[slot].first_queue = vmp_qslot(p, 0);
		b->devices[slot].nqueues = VMP_NQ;
	}

	if (!lstat(cfg->vmm_path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_warn("device %s: %s exists and is not a socket\n", cfg->name,
				cfg->vmm_path);
			err = EEXIST;
			goto fail;
		}
		unlink(cfg->vmm_path);	/* stale, from an earlier run */
	}
	p->lsn = (struct vm_ev){ .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0),
				 .fn = vmp_on_listen, .ctx = p };
	/* 0600, or 0660 with the socket group, from the start (access.c). */
	if (p->lsn.fd < 0 || (err = -vm_access_listen(p->lsn.fd, cfg->vmm_path, 4, true)) ||
	    vm_ev_add(epfd, &p->lsn, EPOLLIN)) {
		err = err ? err : errno;
		pr_warn("device %s: cannot listen on %s: %s\n", cfg->name, cfg->vmm_path,
			strerror(err));
		goto fail;
	}
	pr_info("device %s: listening on %s for the VMM, back-end %s\n", cfg->name,
		cfg->vmm_path, cfg->backend_path);
	vmp_publish(p);
	return p;
fail:
	if (p->lsn.fd >= 0)
		close(p->lsn.fd);
	pthread_mutex_destroy(&p->pub_lock);
	free(p);
	errno = err;
	return NULL;
}

void vm_proxy_free(struct vm_proxy *p)
{
	if (!p)
		return;
	vmp_teardown(p, "daemon stopping");
	vmp_release_adopted(p);
	vm_ev_del(p->epfd, &p->lsn);
	close(p->lsn.fd);
	unlink(p->cfg.vmm_path);
	for (unsigned i = 0; i < VMP_NQ; i++)
		vm_ref_scratch_free(p->scratch[i]);
	pthread_mutex_destroy(&p->pub_lock);
	free(p);
}

void vm_proxy_tick(struct vm_proxy *p)
{
	vmp_deferred(p);
	for (unsigned i = 0; i < VMP_NQ; i++)
		vmp_complete(p, i, false);
	vmp_watch_kicks(p);
	vmp_be_reconnect(p);
	vmp_publish(p);
}

void vm_proxy_info(struct vm_proxy *p, struct vm_proxy_info *out)
{
	pthread_mutex_lock(&p->pub_lock);
	*out = p->pub;
	pthread_mutex_unlock(&p->pub_lock);
}

const char *vm_proxy_name(const struct vm_proxy *p)
{
	return p->cfg.name;
}
