/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Inside the XDP back-end (backend_xdp.h), one object per interface (a
 * port), split by what each part faces:
 *
 *   backend_xdp.c       the port: the steering program, the UMEM and its
 *                       frames, the AF_XDP sockets, the thread and its loop
 *   backend_xdp_vu.c    a device's vhost-user session with the proxy
 *   backend_xdp_ring.c  a device's shadow rings, and guest frames out
 *   backend_xdp_rx.c    frames for the guest in, through the receive
 *                       offloads (xdp_gro.c)
 *
 * Everything here runs on the port's thread but what vrm_xdp_stats reads
 * (the counters: aligned u64, written by that thread only).
 *
 * Security model: the shadow rings are the mediator's, validated copies
 * of the guest's, but the guest chose every buffer address and length in
 * them: each is checked against the memory table before it is touched,
 * each chain is bounded by the ring size.  Frames from the interface are
 * anyone's: only their length steers a copy.
 */
#ifndef VRINGMED_BACKEND_XDP_INT_H
#define VRINGMED_BACKEND_XDP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <xdp/xsk.h>

#include <vringmed/abi.h>
#include <vringmed/vhost_user.h>
#include <vringmed/xdp_steer.h>

#include "backend_xdp.h"
#include "xdp_gro.h"

#define XB_FRAME_SIZE	2048u
#define XB_NFRAMES	4096u
#define XB_RING		512u	/* each device socket's RX ring */
#define XB_FILL		2048u	/* the port's fill and completion rings */
/* A device's frames on their way out at once: one device sending flat out
 * leaves the rest of the UMEM to the others. */
#define XB_TX_MAX	256u
#define XB_VNET_HDR	12u	/* modern virtio-net header (num_buffers included) */
#define XB_MAX_FRAME	(XB_FRAME_SIZE - XB_VNET_HDR)
#define XB_BATCH	64u
#define XB_MAX_TABLE	VRM_ITAB_MAX	/* entries of an indirect table: the mediator's most */
#define XB_RX_Q		0
#define XB_TX_Q		1

/* Where a UMEM frame is: every frame is in exactly one place. */
enum xb_frame_state { XB_FR_FREE, XB_FR_FILL, XB_FR_TX, XB_FR_NSTATES };

struct xb_port;
struct xb_dev;

/* An epoll entry of the port's loop. */
struct xb_ev {
	int fd;
	void (*fn)(struct xb_ev *ev, uint32_t events);
	struct xb_port *port;
	struct xb_dev *dev;
	unsigned q;
};

struct xb_region {
	uint64_t gpa, size, uaddr;
	uint8_t *ptr;		/* our mapping of the region's first byte */
	void *map;
	size_t map_len;
};

struct xb_vq {
	uint16_t num, last_avail, used_idx;
	uint64_t desc_ua, avail_ua, used_ua;	/* the proxy's addresses */
	struct vrm_desc *desc;
	uint16_t *avail;	/* flags, idx, ring[num] (little-endian) */
	uint8_t *used;		/* flags, idx, ring[num] */
	struct xb_ev kick;
	int callfd;
	bool have_addr, running, need_call;
};

/* What a device keeps across its sessions: its name, counters, MAC. */
struct xb_slot {
	char name[VRM_DEV_NAME_LEN];
	bool used;
	struct vrm_xdp_stats st;
};

/* One device's session: the proxy's vhost-user connection. */
struct xb_dev {
	struct xb_port *port;
	unsigned idx;		/* its slot: the XSKMAP key */
	struct xb_slot *slot;
	struct xb_ev sock;
	uint64_t features;
	struct xb_region reg[VU_MAX_REGIONS];
	int nreg;
	struct xb_vq vq[2];
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;	/* what the program steers to it; it sends on the port's */
	struct xb_ev xskev;
	unsigned tx_inflight;
	struct vrm_gro gro;	/* the receive offloads' state, one batch long */
	uint64_t mac;		/* learned from its frames; 0: none yet */
	/* Ended: its events of this turn are skipped, and it is freed at
	 * the turn's end (xb_bury). */
	bool dead;
	struct xb_dev *next_dead;
};

struct xb_port {
	char iface[16];
	int ifindex;
	struct xdp_steer_bpf *skel;
	struct xdp_program *prog;
	int macs_fd, xsks_fd;
	bool zerocopy;
	bool adopted;		/* the program replaced a dead daemon's in place (no libxdp object) */
	const char *attach;
	uint8_t *umem_area;
	struct xsk_umem *umem;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_socket *anchor;
	struct xsk_ring_cons anchor_rx;
	struct xsk_ring_prod anchor_tx;
	uint8_t frame[XB_NFRAMES];	/* enum xb_frame_state of each */
	uint8_t owner[XB_NFRAMES];	/* XB_FR_TX: the sending device's slot */
	uint32_t nstate[XB_FR_NSTATES];
	uint32_t free_top, free_stack[XB_NFRAMES];
	uint64_t bad_frames;	/* addresses from the kernel we had not given it */
	int epfd;
	struct xb_ev wake, pkt;
	pthread_t thread;
	pthread_mutex_t lock;	/* the new sessions below, slots */
	int pending[VRM_XDP_MAX_SOCKS], npending;
	char pending_name[VRM_XDP_MAX_SOCKS][VRM_DEV_NAME_LEN];
	struct xb_slot slots[VRM_XDP_MAX_SOCKS];
	struct xb_dev *dev[VRM_XDP_MAX_SOCKS];
	struct xb_dev *dead;
	bool stop;
	struct xb_port *next;
};

/* backend_xdp.c: the port's frames and sockets */
int xb_frame_get(struct xb_port *pt, uint64_t *addr);
void xb_frame_put(struct xb_port *pt, uint64_t addr, enum xb_frame_state from);
void xb_refill(struct xb_port *pt);
void xb_reclaim(struct xb_port *pt);
int xb_sock_open(struct xb_dev *d);
void xb_sock_close(struct xb_dev *d);
void xb_learn(struct xb_dev *d, const uint8_t *frame);
struct xb_dev *xb_find_mac(struct xb_port *pt, const uint8_t *mac);
int xb_ev_add(struct xb_port *pt, struct xb_ev *ev, uint32_t events);
void xb_ev_del(struct xb_port *pt, struct xb_ev *ev);

/* backend_xdp_vu.c: a device's session */
void xb_on_sock(struct xb_ev *ev, uint32_t events);
void xb_dev_new(struct xb_port *pt, int fd, const char *name);
void xb_dev_free(struct xb_dev *d);
void xb_bury(struct xb_port *pt);

/* backend_xdp_ring.c: a device's rings */
void *xb_gpa(struct xb_dev *d, uint64_t gpa, uint32_t len);
void *xb_ua(struct xb_dev *d, uint64_t ua, uint64_t len);
int xb_pop(struct xb_vq *vq);
bool xb_walk(struct xb_dev *d, struct xb_vq *vq, uint16_t head, bool writable,
	     bool (*fn)(void *ctx, uint8_t *p, uint32_t len), void *ctx);
void xb_used_put(struct xb_vq *vq, uint16_t k, uint16_t head, uint32_t len);
void xb_used_publish(struct xb_vq *vq, uint16_t n);
void xb_tx(struct xb_dev *d);
void xb_tx_kick(struct xb_port *pt);
void xb_flush_calls(struct xb_dev *d);

/* backend_xdp_rx.c: frames into a device's receive ring */
void xb_rx(struct xb_dev *d);
bool xb_deliver(struct xb_dev *d, const uint8_t *frame, uint32_t len);

#endif
