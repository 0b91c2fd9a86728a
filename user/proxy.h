/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One mediated virtio-net device in vringmedd: a vhost-user back-end towards
 * the VMM (legacy and cross-endian welcome) and a vhost-user front-end
 * towards a modern-only back-end (always VERSION_1, little-endian rings).
 *
 *   VMM --vmm socket--> [proxy] --backend socket--> modern back-end
 *
 * The VMM's guest memory regions go to the back-end unchanged, plus one more
 * region: the shadow map (BPF_F_MMAPABLE), whose rings the back-end is told
 * to use.  The guest's kick eventfd goes to the back-end unchanged too, and is
 * registered with the BPF kick path, so the shadow ring is filled before the
 * back-end wakes.  The back-end's call eventfd is ours: on a call the proxy
 * moves used entries (and RX headers) back to the guest and signals the VMM.
 *
 * Event-driven: every fd is an epoll entry of the loop given to
 * vm_proxy_new, whose data points at a struct vm_ev.  One thread runs a
 * proxy's loop (vringmedd: a thread per device); vm_proxy_info and
 * vm_proxy_name may be called from others.
 */
#ifndef VRINGMED_PROXY_H
#define VRINGMED_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct vm_bpf;

/* An epoll entry: the loop calls fn(ev, events). */
struct vm_ev {
	int fd;
	void (*fn)(struct vm_ev *ev, uint32_t events);
	void *ctx;
	int arg;
};

int vm_ev_add(int epfd, struct vm_ev *ev, uint32_t events);
void vm_ev_del(int epfd, struct vm_ev *ev);

/*
 * How a device's guest kicks reach the translation core.  BPF: a program at
 * a notification point that sees the VMM's kicks (the write() tracepoint for
 * a VMM that writes its kick eventfds; fentry on eventfd_signal_mask where
 * the host allows trampolines, which also sees the signals KVM makes in the
 * kernel).  Userspace: the daemon's device thread wakes on the guest's kick
 * eventfd, translates with the same core and kicks the back-end through an
 * eventfd of its own; the only way for kicks no attached hook sees.
 */
enum vm_kick_path {
	VM_KICK_AUTO = 0,	/* configuration only: BPF where a hook sees the kicks */
	VM_KICK_BPF,
	VM_KICK_USERSPACE,
};
const char *vm_kick_path_name(enum vm_kick_path k);

struct vm_proxy_cfg {
	char name[32];		/* VM_DEV_NAME_LEN: kept in the device map */
	char vmm_path[108];	/* we listen here (sun_path size) */
	char backend_path[108];	/* we connect here when a VMM arrives */
	enum vm_kick_path kick;	/* kick=auto|bpf|userspace */
	bool kick_set;		/* ... was given (else the daemon's default) */
};

/* Parses "NAME,vmm=PATH,backend=PATH[,kick=auto|bpf|userspace]"; 0 or
 * -EINVAL with *why set. */
int vm_proxy_parse(const char *spec, struct vm_proxy_cfg *cfg, const char **why);

struct vm_proxy;

#define VM_PROXY_NQ	2	/* virtio-net: receiveq1, transmitq1 */

/* The device slot for `name`: the one a previous daemon used for it (its
 * state and counters are adopted), else a slot nobody named, else one whose
 * owner is gone (taken[] marks the slots of running proxies); -ENOSPC. */
int vm_proxy_pick_slot(const struct vm_bpf *b, const char *name, const bool *taken);

/* Device slot `slot` of the maps, queues from slot * VM_DEV_QUEUES.
 * Listens on cfg->vmm_path (replacing a stale socket file).  NULL with
 * errno set on failure (logged). */
struct vm_proxy *vm_proxy_new(struct vm_bpf *b, int epfd, uint32_t slot,
			      const struct vm_proxy_cfg *cfg);
/* Tears down the session, stops listening, removes the socket file. */
void vm_proxy_free(struct vm_proxy *p);
/* After every turn of the proxy's loop (and at least every 200 ms): the
 * kicks BPF deferred to userspace (translated, then the back-end woken),
 * used entries a missed call left behind, and what vm_proxy_info tells. */
void vm_proxy_tick(struct vm_proxy *p);

struct vm_proxy_info {
	const char *name, *vmm_path, *backend_path;
	/* "adopted" (a previous daemon's session, until its VMM reconnects),
	 * "listening", "negotiating", "running", "stopped" (the VMM stopped
	 * every ring: a pause, a driver reset), "broken" */
	const char *state;
	enum vm_kick_path kick_path;	/* the one in use (auto until a ring runs) */
	unsigned long starts;		/* times the rings started: pauses, resets */
	char kick_why[160];
	uint32_t slot;
	pid_t vmm_pid;
	bool legacy;
	int order;		/* enum vm_order */
	uint64_t guest_features, backend_features;
	unsigned long sessions, teardowns;
	unsigned long deferred_done;	/* deferred kicks it completed */
	/* Per queue, since the daemon started: used-path rounds that returned
	 * entries and told the guest (its call eventfd written), and those
	 * that did not, for it had asked not to be told (it polls:
	 * VRING_AVAIL_F_NO_INTERRUPT). */
	unsigned long calls[VM_PROXY_NQ], calls_suppressed[VM_PROXY_NQ];
	char last_error[160];
};
/* As of the proxy's last vm_proxy_tick (or its creation): safe to call from
 * any thread while another runs the proxy; never waits for its back-end. */
void vm_proxy_info(struct vm_proxy *p, struct vm_proxy_info *out);
const char *vm_proxy_name(const struct vm_proxy *p);

#endif
