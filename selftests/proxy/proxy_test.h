/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What test_proxy's subject files share: the session (session.c), the VMM
 * the tests play (vmm.c) and the back-ends they play (ebe.c).
 */
#ifndef VRINGMED_TEST_PROXY_H
#define VRINGMED_TEST_PROXY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <vringmed/abi.h>

#include "peers.h"

#define BIT(n)		(1ull << (n))
#define MEM_SIZE	(1u << 20)
#define QSIZE		64
#define RING_GPA(q)	(0x1000u + (q) * 0x4000u)
#define BUF_GPA		0x20000u

/* ---- the session (session.c) ---- */

/* Its folder, pin root, control socket, the two devices' VMM and back-end
 * sockets: written by bring_up(), read-only after. */
extern char dir[64], root[96], ctl[128], vmm_a[128], vmm_b[128], be_a[128], be_b[128];
/* testpmd behind neta and netb, and vringmedd. */
extern struct peer tp_a, tp_b, dmn;
/* The session is up (bring_up() succeeded and zz_shutdown has not run). */
extern bool up;
/* vringmedd's metrics port on loopback. */
extern int metrics_port;

/* Brings the session up the first time; whether it is up. */
bool bring_up(void);
/* One command on the control socket, its answer in `out`; 0 or -1. */
int ctl_query(const char *cmd, char *out, size_t len);
/* The JSON object of device `name` in "device list" holds `needle`. */
bool device_has(const char *name, const char *needle);
uint64_t mono_ms(void);
/* The daemon's control socket answers within a second. */
bool ctl_answers_fast(void);
/* The number after `"key":` in the `stats` row of `dev` queue `q`, or -1. */
long long stats_field(const char *dev, int q, const char *key);
/* Counters of queue slot `q`, summed over CPUs, from the pinned map. */
uint64_t pinned_counter(uint32_t q, size_t field_off);

/* ---- the VMM (vmm.c) ---- */

struct vmm {
	int sock;
	uint8_t *mem;
	int memfd;
	int kick[2], call[2];
	uint64_t offered, pf, feat;
	enum vrm_order order;
};

int vmm_connect(const char *path);
/* True when the peer closed the connection (within 2 s). */
bool closed_by_peer(int fd);
int send_state(struct vmm *v, uint32_t req, uint32_t idx, uint32_t num, bool ack);
/* The memory table and each ring from `base`, as QEMU's vhost_dev_start
 * sends them. */
int vmm_rings_start(struct vmm *v, const uint16_t *base);
/* A VM pause as QEMU's vhost_dev_stop makes it (base[q]: where ring q
 * stopped); 0, or -1 when the daemon did not answer. */
int vmm_pause(struct vmm *v, uint16_t *base);
/* ... and resumed: features, memory, rings from base. */
int vmm_resume(struct vmm *v, const uint16_t *base);
/* Everything QEMU says to start a legacy virtio-net device in `order`, its
 * guest memory in `memfd` (MEM_SIZE bytes, taken over). */
int vmm_start_fd(struct vmm *v, const char *path, enum vrm_order order, int memfd);
int vmm_start(struct vmm *v, const char *path, enum vrm_order order);
/* Set: the VMMs started from now on take EVENT_IDX when offered. */
extern bool vmm_event_idx;
void vmm_stop(struct vmm *v);
/* Guest-order stores into guest memory, and a guest-order load. */
void g16(struct vmm *v, uint64_t gpa, uint16_t x);
void g32(struct vmm *v, uint64_t gpa, uint32_t x);
void g64(struct vmm *v, uint64_t gpa, uint64_t x);
uint16_t gl16(struct vmm *v, uint64_t gpa);
/* One TX chain (a header and a frame descriptor) at descriptors 2 * pair and
 * 2 * pair + 1, its head in avail slot `slot`; not published. */
void vmm_tx_chain(struct vmm *v, uint16_t slot, uint16_t pair);
/* One TX frame and a kick; `evict`: the ring's page leaves the VMM's page
 * tables first, `kick` false: the caller kicks. */
void vmm_tx_post(struct vmm *v, uint16_t n, bool evict, bool kick);
void vmm_tx_ex(struct vmm *v, uint16_t n, bool evict);
void vmm_tx(struct vmm *v, uint16_t n);
/* The guest's TX used idx once it reaches `want`, or as it is after `ms`. */
uint16_t vmm_tx_used(struct vmm *v, uint16_t want, int ms);

/* ---- back-ends in place of testpmd (ebe.c) ---- */

/* A back-end socket that listens and never accepts; its fd, or -1. */
int mute_backend(const char *path);

/*
 * A modern back-end that, unlike testpmd (which polls), looks at a ring only
 * when its kick eventfd wakes it, as libvhost-user and rust-vmm back-ends
 * do: it maps the shadow region, returns every TX chain it finds and
 * signals its call eventfd.  A thread of the test.
 */
struct ebe {
	int lsn;
	pthread_t thr;
	bool running;
	atomic_int stop;
	atomic_int no_call;		/* return chains without calling */
	atomic_int at_stop;		/* return TX chains only when stopped */
	bool logs;			/* offers LOG_ALL and LOG_SHMFD */
	atomic_uint log_bases;		/* SET_LOG_BASEs taken, each with a file */
	atomic_ullong log_file_size;	/* the last one's file size */
	atomic_uint wakes, returned;
	atomic_uint stop_ms;		/* takes this long to stop a ring */
	atomic_uint stops;		/* rings stopped so slowly */
	atomic_ullong stopped_ms;	/* when the last one was (mono_ms) */
	void *shadow;
	uint64_t sh_uaddr, sh_len;
	uint8_t *avail, *used;		/* TX ring, in the shadow region */
	uint16_t num, last;
	int kick, call;
};

/* neta with the test's back-end in place of testpmd, and a big-endian
 * legacy VMM session on it, running; false (and a failure) if not. */
bool ebe_session(struct ebe *e, struct vmm *v);
/* ... with a back-end that offers dirty logging (and takes the log). */
bool ebe_session_logging(struct ebe *e, struct vmm *v);
/* Ends it: neta listens again, the socket is free for testpmd. */
void ebe_session_end(struct ebe *e, struct vmm *v);
/* Stops the back-end alone, whatever the daemon's state. */
void ebe_close(struct ebe *e);

#endif
