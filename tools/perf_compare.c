// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Direct vs userspace relay vs vringmed (BPF), side by side in one run.
 *
 *   perf_compare [-o DATA_PREFIX] [-b BLOCKS] [-n ITERS]      (tools/perf-compare)
 *
 * One workload, three ways to get a guest's kick to a modern back-end:
 *
 *   direct   a modern driver (little-endian ring) kicks the back-end's own
 *            eventfd; no mediation.  The baseline.
 *   relay    a legacy driver kicks its eventfd; a relay thread blocked in
 *            read() on it wakes, translates with the reference mediator
 *            (user/ref.c, the same core) into a shadow ring, and kicks the
 *            back-end's eventfd (QEMU's shadow virtqueue does this).
 *   bpf      a legacy driver kicks its eventfd; vm_tp_write translates at
 *            the write(); the back-end, blocked in read() on that same
 *            eventfd, wakes to a filled shadow ring.
 *
 * Every round: the driver adds BATCH fresh chains and kicks; the back-end
 * wakes, checks the ring holds exactly the new chains (else the run fails),
 * reads every descriptor, returns every chain in its used ring and signals
 * its call eventfd; the completion side (direct: none; relay: the relay
 * thread; bpf: a daemon thread, as vringmedd's used path) moves used entries
 * back to the guest in the guest's byte order and signals the driver, which
 * checks them.  So the figures are of a closed loop that really round-trips
 * descriptors.  Modes are interleaved in blocks, in an order that rotates
 * (ABC, CBA, ...), so drift on a shared machine hits them alike.  Threads are
 * pinned: driver and relay/daemon on CPU 0, back-end on CPU 1.
 *
 * Measured per mode, batch (1, 16, 256) and guest byte order:
 *   wake latency  back-end's wake - driver's write() (CLOCK_MONOTONIC), p50/p99;
 *   added latency the same minus direct's (vs direct), and the ratio to the relay;
 *   CPU per kick  relay/daemon thread CPU time + BPF program run time
 *                 (kernel.bpf_stats_enabled, switched on for a separate pass);
 *   descriptors/s BATCH / mean round trip (the closed loop), and / direct.
 * Last line: bpf_vs_relay_added_latency_ratio=<r> bpf_throughput_vs_direct=<t>
 * (r: BPF's added p50 over the relay's, batch 1, big-endian guest; t: BPF's
 * descriptors/s over direct's, batch 256, big-endian guest.)
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "ref.h"
#include "vringmed.skel.h"
#include "../selftests/ringgen.h"
#include "benchlib.h"

#define RING		512
#define GUEST_MEM	(2u << 20)
#define BUF_LEN		256
#define DEV		(VM_MAX_DEVICES - 1)	/* device slot in the maps */
#define SLOT		(DEV * VM_DEV_QUEUES)	/* its queue slot */

enum mode { DIRECT, RELAY_LE, RELAY_BE, BPF_LE, BPF_BE, NMODES };
static const char *const mode_name[NMODES] = { "direct", "relay", "relay", "bpf", "bpf" };
static const char *const mode_order[NMODES] = { "le", "le", "be", "le", "be" };
static const unsigned batches[] = { 1, 16, 256 };
#define NBATCH 3

static struct vm_bpf B;
static int loaded;
static int blocks = 8, iters = 400;
static const char *prefix = ".output/perf-compare";

static void cleanup(void)
{
	stats_restore();
	if (loaded) {
		vm_bpf_close(&B);
		loaded = 0;
	}
}


static void on_signal(int sig)
{
	stats_restore();
	_exit(128 + sig);
}

/* ---- one mode's set-up ---------------------------------------------------- */

struct rig {
	enum mode mode;
	struct tr_ring t;		/* the guest's ring and buffers */
	/* What the back-end reads and writes: modern split ring. */
	uint8_t *desc, *avail, *used;
	/* Mediated modes: device, queue, shadow (BPF maps or plain memory). */
	struct vm_device *dev, own_dev;
	struct vm_queue *q;
	struct vm_shadow_queue *sh;
	struct vm_ref_queue rq;
	struct vm_qstats st;		/* the relay's / daemon's counters */
	int kickfd;			/* what the driver writes */
	int bekick;			/* what the back-end reads */
	int becall;			/* what the back-end signals */
	int drvcall;			/* what the driver waits on */
	uint16_t be_last;		/* back-end's next avail slot */
	uint16_t drv_used;		/* driver's next used slot */
	/* Written by the driver before its kick, read by the back-end. */
	uint64_t t_write;
	uint16_t expect;
	/* Results of the round. */
	uint64_t lat;
	int bad;
	pthread_t be_thr, med_thr;
	_Atomic pid_t be_tid;
	_Atomic int stop;
	uint64_t med_cpu_ns;		/* relay/daemon thread CPU time */
	int streaming;			/* many kicks in flight: no per-kick check */
};

static uint16_t le16(const void *p)
{
	return (uint16_t)tr_le(p, 2);
}

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The back-end: modern ring only, whatever the mode. */
static void *backend_main(void *arg)
{
	struct rig *r = arg;
	uint64_t v;

	pin_self(1);
	atomic_store(&r->be_tid, (pid_t)syscall(SYS_gettid));
	while (read(r->bekick, &v, sizeof(v)) == sizeof(v)) {
		uint64_t t = now_ns();
		uint16_t idx, n;

		if (atomic_load(&r->stop))
			break;
		r->lat = t - r->t_write;
		idx = vm_swab16_if(VM_ORDER_LE, __atomic_load_n((uint16_t *)(r->avail + 2),
								__ATOMIC_ACQUIRE));
		n = idx - r->be_last;
		r->bad = !r->streaming && idx != r->expect;
		for (uint16_t k = 0; k < n; k++) {
			uint16_t head = le16(r->avail + 4 + 2 * ((r->be_last + k) % RING));
			const uint8_t *d = r->desc + 16u * (head % RING);
			uint32_t len = (uint32_t)tr_le(d + 8, 4);
			uint8_t *u = r->used + 4 + 8 * ((r->be_last + k) % RING);

			/* Read the descriptor the way a back-end does, then
			 * return the chain. */
			if (!len || tr_le(d, 8) >= GUEST_MEM)
				r->bad = 1;
			tr_put_le(u, head, 4);
			tr_put_le(u + 4, len, 4);
		}
		r->be_last = idx;
		__atomic_store_n((uint16_t *)(r->used + 2), vm_swab16_if(VM_ORDER_LE, idx),
				 __ATOMIC_RELEASE);
		v = 1;
		if (write(r->becall, &v, sizeof(v)) != sizeof(v))
			break;
	}
	return NULL;
}

static void wait_call(struct rig *r)
{
	struct pollfd p = { .fd = r->drvcall, .events = POLLIN };
	uint64_t v;

	if (poll(&p, 1, 5000) != 1 || read(r->drvcall, &v, 8) != 8)
		die("%s %s: no completion within 5 s (device %s; guest avail %u, guest used %u, back-end saw %u, ring used %u)",
		    mode_name[r->mode], mode_order[r->mode],
		    r->dev && r->dev->broken ? vm_verdict_name(r->dev->broken) : "ok", r->t.avail_idx,
		    (unsigned)tr_get(&r->t, tr_used_gpa(&r->t) + 2, 2), r->be_last, le16(r->used + 2));
}

static void med_complete(struct rig *r)
{
	uint32_t n;
	uint64_t v = 1;

	if (vm_ref_complete(&r->rq, &n) != VM_OK)
		die("%s: used path failed: %s (last_avail %u last_used %u, guest avail %u used %u, shadow avail %u used %u)",
		    mode_name[r->mode], vm_verdict_name(r->dev->broken), r->q->last_avail,
		    r->q->last_used, r->t.avail_idx, (unsigned)tr_get(&r->t, tr_used_gpa(&r->t) + 2, 2),
		    le16(r->avail + 2), le16(r->used + 2));
	if (n && write(r->drvcall, &v, sizeof(v)) != sizeof(v))
		atomic_store(&r->stop, 1);
}

/* relay: kick in, translate, kick out; call in, complete, call out.
 * bpf: call in, complete, call out (vringmedd's used path). */
static void *mediator_main(void *arg)
{
	struct rig *r = arg;
	int relay = r->mode == RELAY_LE || r->mode == RELAY_BE;
	struct pollfd pf[2] = { { .fd = r->becall, .events = POLLIN },
				{ .fd = r->kickfd, .events = POLLIN } };
	uint64_t c0 = thread_cpu_ns();

	pin_self(0);
	while (!atomic_load(&r->stop)) {
		uint64_t v;

		if (poll(pf, relay ? 2 : 1, 200) <= 0)
			continue;
		if (relay && (pf[1].revents & POLLIN) && read(r->kickfd, &v, 8) == 8) {
			uint32_t chains;

			if (vm_ref_kick(&r->rq, &chains) != VM_OK)
				die("relay: translation failed: %s", vm_verdict_name(r->dev->broken));
			v = 1;
			if (write(r->bekick, &v, 8) != 8)
				break;
		}
		if ((pf[0].revents & POLLIN) && read(r->becall, &v, 8) == 8)
			med_complete(r);
		r->med_cpu_ns = thread_cpu_ns() - c0;
	}
	return NULL;
}

static void rig_init(struct rig *r, enum mode m)
{
	int legacy = m != DIRECT, be = m == RELAY_BE || m == BPF_BE;
	int bpf = m == BPF_LE || m == BPF_BE;

	memset(r, 0, sizeof(*r));
	r->mode = m;
	if (tr_init(&r->t, RING, be, GUEST_MEM))
		die("out of memory");
	r->kickfd = eventfd(0, EFD_CLOEXEC);
	r->becall = eventfd(0, EFD_CLOEXEC | (m == DIRECT ? 0 : EFD_NONBLOCK));
	if (r->kickfd < 0 || r->becall < 0)
		die("eventfd: %s", strerror(errno));
	if (!legacy) {
		/* The legacy little-endian layout is the modern one. */
		r->desc = r->t.mem + r->t.ring_gpa;
		r->avail = r->t.mem + tr_avail_gpa(&r->t);
		r->used = r->t.mem + tr_used_gpa(&r->t);
		r->bekick = r->kickfd;
		r->drvcall = r->becall;
		return;
	}
	r->drvcall = eventfd(0, EFD_CLOEXEC);
	if (bpf) {
		r->dev = &B.devices[DEV];
		r->q = &B.queues[SLOT];
		r->sh = &B.shadow[SLOT];
		r->bekick = r->kickfd;
	} else {
		r->dev = &r->own_dev;
		r->q = calloc(1, sizeof(*r->q));
		r->sh = aligned_alloc(4096, sizeof(*r->sh));
		r->bekick = eventfd(0, EFD_CLOEXEC);
		if (!r->q || !r->sh || r->bekick < 0)
			die("out of memory");
	}
	tr_device(&r->t, r->dev, getpid());
	r->dev->flags = 0;
	r->dev->first_queue = SLOT;
	r->dev->nqueues = 1;
	vm_ref_shadow_reset(r->sh);
	if (vm_ref_queue_setup(r->q, DEV, RING, tr_va(&r->t, r->t.ring_gpa),
			       tr_va(&r->t, tr_avail_gpa(&r->t)), tr_va(&r->t, tr_used_gpa(&r->t))))
		die("queue set-up");
	r->rq = (struct vm_ref_queue){ r->dev, r->q, r->sh, vm_ref_scratch_new(), &r->st };
	if (!r->rq.scr)
		die("out of memory");
	r->desc = (uint8_t *)r->sh->desc;
	r->avail = (uint8_t *)&r->sh->avail;
	r->used = (uint8_t *)&r->sh->used;
	if (bpf) {
		long id = vm_eventfd_id(0, r->kickfd);

		if (id < 0 || vm_bpf_add_kickfd(&B, (uint32_t)id, SLOT) ||
		    vm_bpf_add_vmm(&B, (uint32_t)getpid()))
			die("cannot register the kick eventfd");
		vm_bpf_clear_stats(&B, SLOT);
	}
	r->q->flags = VM_QF_ENABLED;
	r->dev->flags = VM_DF_ACTIVE;
}

static void rig_start(struct rig *r)
{
	atomic_store(&r->stop, 0);
	atomic_store(&r->be_tid, 0);
	if (pthread_create(&r->be_thr, NULL, backend_main, r))
		die("pthread_create");
	if (r->mode != DIRECT && pthread_create(&r->med_thr, NULL, mediator_main, r))
		die("pthread_create");
	while (!atomic_load(&r->be_tid))
		sched_yield();
}

static void rig_stop(struct rig *r)
{
	uint64_t v = 1;

	atomic_store(&r->stop, 1);
	if (write(r->bekick, &v, 8) != 8)
		pthread_cancel(r->be_thr);
	if (r->mode != DIRECT && write(r->becall, &v, 8) != 8)	/* wakes the mediator */
		pthread_cancel(r->med_thr);
	pthread_join(r->be_thr, NULL);
	if (r->mode != DIRECT)
		pthread_join(r->med_thr, NULL);
}

static void rig_fini(struct rig *r)
{
	if (r->mode == BPF_LE || r->mode == BPF_BE) {
		vm_bpf_del_kickfd(&B, (uint32_t)vm_eventfd_id(0, r->kickfd));
		vm_bpf_del_vmm(&B, (uint32_t)getpid());
		r->dev->flags = 0;
		r->q->flags = 0;
	} else if (r->mode != DIRECT) {
		free(r->q);
		free(r->sh);
		close(r->bekick);
	}
	if (r->mode != DIRECT)
		close(r->drvcall);
	vm_ref_scratch_free(r->rq.scr);
	close(r->kickfd);
	close(r->becall);
	tr_free(&r->t);
}

/* One round: BATCH chains, kick, wait for them all back.  Returns the
 * round-trip time; fills r->lat. */
static uint64_t round_trip(struct rig *r, unsigned batch, int sysfd)
{
	uint64_t v = 1, t0, t1;
	uint16_t want;
	int err;

	r->t.next_desc = r->t.avail_idx % RING;	/* fresh, all returned */
	for (unsigned i = 0; i < batch; i++)
		tr_add_chain(&r->t, 1, i & 1, BUF_LEN);
	tr_publish(&r->t);
	r->expect = r->t.avail_idx;
	if ((err = wait_blocked_in_read(sysfd)))
		die("%s: the back-end never went to sleep: %s", mode_name[r->mode], strerror(-err));
	t0 = now_ns();
	r->t_write = t0;
	if (write(r->kickfd, &v, 8) != 8)
		die("write(kick): %s", strerror(errno));
	wait_call(r);
	t1 = now_ns();
	want = r->t.avail_idx;
	/* The driver sees every chain back, in its own byte order. */
	for (int spin = 0; (uint16_t)tr_get(&r->t, tr_used_gpa(&r->t) + 2, 2) != want; spin++) {
		if (spin > 1000000)
			die("%s: used idx %u, want %u", mode_name[r->mode],
			    (unsigned)tr_get(&r->t, tr_used_gpa(&r->t) + 2, 2), want);
		wait_call(r);
	}
	if (r->bad)
		die("%s %s batch %u: the back-end woke to a ring without the kick's chains",
		    mode_name[r->mode], mode_order[r->mode], batch);
	return t1 - t0;
}

struct cell {
	double stream_dps;		/* the sustained stream, best block */
	uint64_t *lat;
	unsigned n;
	long double rt_sum;
	uint64_t med_cpu, prog_ns, prog_runs, kicks;
	uint64_t p50, p99;
	double rt_mean, dps, cpu_per_kick;
};

static struct cell cells[NBATCH][NMODES];

static int attach_tp(int on)
{
	if (on && !B.skel->links.vm_tp_write) {
		B.skel->links.vm_tp_write = bpf_program__attach(B.skel->progs.vm_tp_write);
		if (!B.skel->links.vm_tp_write)
			return -errno;
	} else if (!on && B.skel->links.vm_tp_write) {
		bpf_link__destroy(B.skel->links.vm_tp_write);
		B.skel->links.vm_tp_write = NULL;
	}
	return 0;
}

/* iters rounds of mode m at batch b; `stats`: BPF run time pass. */
static void run_block(enum mode m, unsigned bi, int n, int stats)
{
	struct rig r;
	struct cell *c = &cells[bi][m];
	unsigned batch = batches[bi];
	char path[64];
	int sysfd;

	if (attach_tp(m == BPF_LE || m == BPF_BE))
		die("cannot attach vm_tp_write: %s", strerror(errno));
	rig_init(&r, m);
	pin_self(0);
	rig_start(&r);
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)atomic_load(&r.be_tid));
	sysfd = open(path, O_RDONLY);
	if (sysfd < 0)
		die("open %s", path);
	for (int i = 0; i < 20; i++)
		round_trip(&r, batch, sysfd);	/* warm-up */
	if (stats) {
		struct bpf_prog_info info = {};
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(B.skel->progs.vm_tp_write);
		uint64_t c0, r0;

		bpf_obj_get_info_by_fd(fd, &info, &len);
		c0 = info.run_time_ns;
		r0 = info.run_cnt;
		for (int i = 0; i < n; i++)
			round_trip(&r, batch, sysfd);
		len = sizeof(info);
		bpf_obj_get_info_by_fd(fd, &info, &len);
		c->prog_ns += info.run_time_ns - c0;
		c->prog_runs += info.run_cnt - r0;
	} else {
		uint64_t cpu0 = r.med_cpu_ns;

		for (int i = 0; i < n; i++) {
			c->rt_sum += round_trip(&r, batch, sysfd);
			c->lat[c->n++] = r.lat;
		}
		c->kicks += (uint64_t)n;
		c->med_cpu += r.med_cpu_ns - cpu0;
	}
	rig_stop(&r);
	close(sysfd);
	attach_tp(0);
	rig_fini(&r);
}

/* The ring indices the driver shares with a concurrent reader: one 16-bit
 * atomic access each, in the guest's byte order (tr_publish and tr_get go
 * byte by byte, which a reader running alongside could see torn). */
static void drv_publish(struct rig *r)
{
	enum vm_order o = r->t.big_endian ? VM_ORDER_BE : VM_ORDER_LE;

	__atomic_store_n((uint16_t *)(r->t.mem + tr_avail_gpa(&r->t) + 2),
			 vm_swab16_if(o, r->t.avail_idx), __ATOMIC_RELEASE);
}

static uint16_t drv_used_idx(struct rig *r)
{
	enum vm_order o = r->t.big_endian ? VM_ORDER_BE : VM_ORDER_LE;

	return vm_swab16_if(o, __atomic_load_n((uint16_t *)(r->t.mem + tr_used_gpa(&r->t) + 2),
					       __ATOMIC_ACQUIRE));
}

/*
 * The sustained stream: the driver keeps the ring as full as it can,
 * BATCH chains per kick, and waits for completions only when it has no room;
 * the back-end and the completion side run as they are woken.  Returns
 * descriptors per second over `total` descriptors.
 */
static double stream_block(enum mode m, unsigned batch, unsigned total)
{
	struct rig r;
	uint64_t v = 1, t0, t1;
	unsigned posted = 0, done = 0;
	uint16_t used_seen;

	if (attach_tp(m == BPF_LE || m == BPF_BE))
		die("cannot attach vm_tp_write: %s", strerror(errno));
	rig_init(&r, m);
	r.streaming = 1;
	pin_self(0);
	rig_start(&r);
	used_seen = drv_used_idx(&r);
	t0 = now_ns();
	for (;;) {
		uint16_t u = drv_used_idx(&r);
		unsigned inflight;

		done += (uint16_t)(u - used_seen);	/* u16 indices wrap */
		used_seen = u;
		inflight = posted - done;

		if (posted >= total && !inflight)
			break;
		if (posted < total && RING - inflight >= batch) {
			r.t.next_desc = r.t.avail_idx % RING;	/* FIFO completions */
			for (unsigned i = 0; i < batch; i++)
				tr_add_chain(&r.t, 1, i & 1, BUF_LEN);
			drv_publish(&r);
			posted += batch;
			if (write(r.kickfd, &v, 8) != 8)
				die("write(kick): %s", strerror(errno));
			continue;
		}
		wait_call(&r);
	}
	t1 = now_ns();
	rig_stop(&r);
	attach_tp(0);
	if (r.dev && r.dev->broken)
		die("%s stream: device broken: %s", mode_name[m], vm_verdict_name(r.dev->broken));
	rig_fini(&r);
	return total * 1e9 / (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	struct vm_bpf_opts opts = { .attach = false };
	struct utsname u;
	FILE *data;
	char path[256];
	int c, err;

	bl_prog = "perf_compare";
	bl_cleanup = cleanup;
	while ((c = getopt(argc, argv, "o:b:n:h")) != -1) {
		switch (c) {
		case 'o': prefix = optarg; break;
		case 'b': blocks = atoi(optarg); break;
		case 'n': iters = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: perf_compare [-o DATA_PREFIX] [-b BLOCKS] [-n ROUNDS_PER_BLOCK]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (blocks < 2 || iters < 10)
		die("-b >= 2 and -n >= 10");
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid())
		die("must run as root (loads BPF programs)");
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	vm_log_libbpf_quiet(1);
	if ((err = vm_bpf_load(&B, &opts)))
		die("cannot load the BPF object: %s", strerror(-err));
	loaded = 1;
	for (unsigned b = 0; b < NBATCH; b++)
		for (int m = 0; m < NMODES; m++)
			if (!(cells[b][m].lat = calloc((size_t)blocks * iters, sizeof(uint64_t))))
				die("out of memory");
	uname(&u);
	printf("perf_compare: kernel %s %s, %ld CPUs; %d blocks x %d rounds per mode and batch,\n"
	       "modes interleaved (rotating order), driver+mediator on CPU 0, back-end on CPU 1\n\n",
	       u.release, u.machine, sysconf(_SC_NPROCESSORS_ONLN), blocks, iters);

	for (int blk = 0; blk < blocks; blk++)
		for (unsigned b = 0; b < NBATCH; b++)
			for (int k = 0; k < NMODES; k++)
				run_block((enum mode)(blk & 1 ? NMODES - 1 - k : k), b, iters, 0);
	/* The sustained stream, interleaved the same way; best of the blocks
	 * (the least disturbed by the rest of the machine). */
	for (int blk = 0; blk < 3; blk++)
		for (unsigned b = 0; b < NBATCH; b++)
			for (int k = 0; k < NMODES; k++) {
				enum mode m = (enum mode)(blk & 1 ? NMODES - 1 - k : k);
				double d = stream_block(m, batches[b], 400u * RING);

				if (d > cells[b][m].stream_dps)
					cells[b][m].stream_dps = d;
			}
	/* BPF program run time: a pass of its own, stats on. */
	if ((err = stats_enable()))
		die("cannot enable %s: %s", STATS_SYSCTL, strerror(-err));
	for (unsigned b = 0; b < NBATCH; b++) {
		run_block(BPF_LE, b, iters, 1);
		run_block(BPF_BE, b, iters, 1);
	}
	stats_restore();

	snprintf(path, sizeof(path), "%s.dat", prefix);
	data = fopen(path, "w");
	if (!data)
		die("cannot write %s: %s", path, strerror(errno));
	for (unsigned b = 0; b < NBATCH; b++)
		for (int m = 0; m < NMODES; m++) {
			struct cell *ce = &cells[b][m];

			if (!ce->n)
				die("no latency samples");
			qsort(ce->lat, ce->n, sizeof(uint64_t), cmp_u64);
			ce->p50 = ce->lat[ce->n / 2];
			ce->p99 = ce->lat[(uint64_t)ce->n * 99 / 100];
			ce->rt_mean = (double)(ce->rt_sum / ce->n);
			ce->dps = batches[b] * 1e9 / ce->rt_mean;
			ce->cpu_per_kick = ((double)ce->med_cpu / (double)ce->kicks) +
				(ce->prog_runs ? (double)ce->prog_ns / (double)ce->prog_runs : 0);
			/* CDF for the plot: every 1% */
			fprintf(data, "# batch %u mode %s-%s\n", batches[b], mode_name[m], mode_order[m]);
			for (int p = 0; p <= 100; p++) {
				unsigned i = (unsigned)((uint64_t)(ce->n - 1) * p / 100);

				fprintf(data, "%.3f %d\n", ce->lat[i] / 1000.0, p);
			}
			fprintf(data, "\n\n");
		}
	fclose(data);

	printf("%-6s %-5s %5s | %8s %8s | %9s %9s | %8s | %8s | %11s %12s %7s %7s | %12s %7s\n",
	       "mode", "order", "batch", "wake p50", "wake p99", "added p50", "added p99", "/relay",
	       "cpu/kick", "round trip", "descs/s", "/direct", "/relay", "stream d/s", "/direct");
	for (unsigned b = 0; b < NBATCH; b++) {
		struct cell *d = &cells[b][DIRECT];

		for (int m = 0; m < NMODES; m++) {
			struct cell *ce = &cells[b][m];
			struct cell *rl = &cells[b][m == BPF_LE || m == RELAY_LE ? RELAY_LE : RELAY_BE];
			long long a50 = (long long)ce->p50 - (long long)d->p50;
			long long a99 = (long long)ce->p99 - (long long)d->p99;
			long long r50 = (long long)rl->p50 - (long long)d->p50;
			char lat_rel[16] = "-", tput_rel[16] = "-";

			if (m != DIRECT && r50 > 0)
				snprintf(lat_rel, sizeof(lat_rel), "%.3f", (double)a50 / (double)r50);
			if (m != DIRECT)
				snprintf(tput_rel, sizeof(tput_rel), "%.3f", ce->dps / rl->dps);
			printf("%-6s %-5s %5u | %8llu %8llu | %9lld %9lld | %8s | %8.0f | %8.0f ns %12.0f %7.3f %7s | %12.0f %7.3f\n",
			       mode_name[m], m == DIRECT ? "-" : mode_order[m], batches[b],
			       (unsigned long long)ce->p50, (unsigned long long)ce->p99,
			       m == DIRECT ? 0 : a50, m == DIRECT ? 0 : a99, lat_rel, ce->cpu_per_kick,
			       ce->rt_mean, ce->dps, ce->dps / d->dps, tput_rel, ce->stream_dps,
			       ce->stream_dps / d->stream_dps);
		}
	}
	printf("(ns; wake = back-end wake - driver write; added = minus direct's; cpu/kick = relay or\n"
	       " used-path thread CPU + BPF program run time; descs/s = batch / mean round trip of\n"
	       " the closed loop; stream d/s = sustained stream, ring kept full, best of 3 blocks)\n");
	{
		struct cell *d1 = &cells[0][DIRECT], *r1 = &cells[0][RELAY_BE], *b1 = &cells[0][BPF_BE];
		struct cell *d256 = &cells[NBATCH - 1][DIRECT], *b256 = &cells[NBATCH - 1][BPF_BE];
		long long ba = (long long)b1->p50 - (long long)d1->p50;
		long long ra = (long long)r1->p50 - (long long)d1->p50;
		long long ba99 = (long long)b1->p99 - (long long)d1->p99;
		double ratio = ra > 0 ? (double)ba / (double)ra : 0;
		double tput = b256->stream_dps / d256->stream_dps;

		printf("\nbatch 1, big-endian guest: BPF adds %lld ns p50 / %lld ns p99 over direct "
		       "(targets <= 300 / <= 1000: %s / %s); the relay adds %lld ns p50: BPF adds %.2fx "
		       "of that (target <= 0.1: %s)\n", ba, ba99, ba <= 300 ? "met" : "NOT met",
		       ba99 <= 1000 ? "met" : "NOT met", ra, ratio, ratio <= 0.1 ? "met" : "NOT met");
		printf("batch 256, big-endian guest, sustained stream: BPF moves %.3f of direct's descriptors/s "
		       "(target >= 0.95: %s)\n", tput, tput >= 0.95 ? "met" : "NOT met");
		printf("data (CDFs): %s.dat\n", prefix);
		cleanup();
		printf("bpf_vs_relay_added_latency_ratio=%.3f bpf_throughput_vs_direct=%.3f\n", ratio,
		       tput);
	}
	return 0;
}
