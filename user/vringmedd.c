// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd: the loader daemon.  Loads vringmed's BPF object, attaches the
 * notification sources the host allows, pins maps and links under one
 * flock-protected pin root, and completes in userspace the kicks BPF hands
 * over (deferred kicks) with the same translation core.
 *
 * A clean stop (SIGTERM, SIGINT) removes every pin it owns.  A crash leaves
 * the pins: the programs keep translating kicks in the kernel, and the next
 * vringmedd adopts maps, links and counters as they are.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "ref.h"
#include "vringmed.skel.h"

#define VMD_SCAN_MS 200	/* deferred flags are rescanned this often */

struct vmd {
	struct vm_bpf b;
	struct ring_buffer *rb;
	struct vm_scratch *scratch[VM_MAX_QUEUES];
	struct vm_qstats stats[VM_MAX_QUEUES];	/* work done here, not in BPF */
	__u32 broken_seen[VM_MAX_DEVICES];
	unsigned long completed;
};

static void usage(FILE *f)
{
	fprintf(f,
"usage: vringmedd [OPTIONS]\n"
"\n"
"Loads vringmed's BPF programs, attaches them to the kick notification points\n"
"this host allows, pins maps and links under PIN_ROOT, and completes the kicks\n"
"BPF could not finish.  Stop it with SIGTERM or SIGINT to remove what it\n"
"pinned; after a crash, start it again and it adopts the pinned state.\n"
"\n"
"  -p, --pin-root DIR   bpffs directory it owns (default " VM_PIN_ROOT ")\n"
"  -v, --verbose        debug logging (twice: libbpf's too)\n"
"  -q, --quiet          warnings only\n"
"  -h, --help           this text\n");
}

/* One owner per pin root: an exclusive flock on the directory itself (bpffs
 * holds no regular files to lock).  The kernel drops it when we die. */
static int vmd_lock(const char *root)
{
	int fd;

	if (mkdir(root, 0700) && errno != EEXIST) {
		pr_warn("cannot create pin root %s: %s\n", root, strerror(errno));
		return -errno;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("cannot open pin root %s: %s\n", root, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		pr_warn("%s is owned by another running vringmedd\n", root);
		close(fd);
		return -EBUSY;
	}
	return fd;
}

static void vmd_complete(struct vmd *d, __u32 qid)
{
	struct vm_queue *q = &d->b.queues[qid];
	struct vm_ref_queue rq;
	__u32 chains, v;

	if (qid >= VM_MAX_QUEUES || !VM_READ_ONCE(q->deferred) || !(q->flags & VM_QF_ENABLED))
		return;
	if (!d->scratch[qid] && !(d->scratch[qid] = vm_ref_scratch_new())) {
		pr_warn("queue %u: no memory for a deferred kick; retrying\n", qid);
		return;
	}
	/* Cleared first: a deferral that comes in meanwhile sets it again. */
	__sync_lock_test_and_set(&q->deferred, 0);
	rq = (struct vm_ref_queue){ &d->b.devices[q->dev % VM_MAX_DEVICES], q,
				    &d->b.shadow[qid], d->scratch[qid], &d->stats[qid] };
	v = vm_ref_kick(&rq, &chains);
	d->completed++;
	pr_debug("queue %u: deferred kick completed: %u chains, %s\n", qid, chains,
		 vm_verdict_name(v));
}

static int vmd_on_deferred(void *ctx, void *data, size_t len)
{
	const struct vm_defer_event *ev = data;

	if (len >= sizeof(*ev))
		vmd_complete(ctx, ev->queue);
	return 0;
}

/* Catches what the ring buffer could not tell (it overflowed, or the kick
 * was deferred while no daemon ran) and reports newly broken devices. */
static void vmd_scan(struct vmd *d)
{
	for (__u32 q = 0; q < VM_MAX_QUEUES; q++)
		if (VM_READ_ONCE(d->b.queues[q].deferred))
			vmd_complete(d, q);
	for (__u32 i = 0; i < VM_MAX_DEVICES; i++) {
		__u32 v = VM_READ_ONCE(d->b.devices[i].broken);

		if (v != d->broken_seen[i] && v)
			pr_warn("device %u broken: %s (needs reset)\n", i, vm_verdict_name(v));
		d->broken_seen[i] = v;
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-root", required_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *root = VM_PIN_ROOT;
	struct vm_bpf_opts opts = { .attach = true };
	struct vmd *d;
	struct pollfd pfd[2];
	sigset_t mask;
	int c, verbose = 0, lockfd, sfd, err = 1;

	while ((c = getopt_long(argc, argv, "p:vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': root = optarg; break;
		case 'v': verbose++; break;
		case 'q': verbose = -1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vringmedd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	vm_log_set_level(verbose < 0 ? VM_LOG_WARN : verbose ? VM_LOG_DEBUG : VM_LOG_INFO);
	if (strlen(root) >= sizeof(((struct vm_bpf *)0)->pin_root) - 1) {
		pr_warn("pin root path too long: %s\n", root);
		return 2;
	}
	if (access("/sys/fs/bpf", W_OK)) {
		pr_warn("/sys/fs/bpf is not writable: run as root with bpffs mounted (make setup)\n");
		return 1;
	}

	d = calloc(1, sizeof(*d));
	if (!d)
		return 1;
	lockfd = vmd_lock(root);
	if (lockfd < 0)
		goto out_free;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	opts.pin_root = root;
	if (vm_bpf_load(&d->b, &opts))
		goto out_lock;
	d->rb = ring_buffer__new(bpf_map__fd(d->b.skel->maps.vm_deferred), vmd_on_deferred, d,
				 NULL);
	if (!d->rb) {
		pr_warn("failed to open ring buffer vm_deferred: %s\n", strerror(errno));
		goto out_bpf;
	}
	pr_info("%s %s: %d notification sources attached%s%s\n",
		d->b.adopted ? "adopted" : "pinned", root, d->b.nlinks,
		d->b.have_kvm ? ", KVM tracepoints" : "", d->b.have_fentry ? ", fentry" : "");
	printf("vringmedd ready: pid %d, pin root %s\n", (int)getpid(), root);
	fflush(stdout);

	vmd_scan(d);
	pfd[0] = (struct pollfd){ .fd = ring_buffer__epoll_fd(d->rb), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (;;) {
		int n = poll(pfd, 2, VMD_SCAN_MS);

		if (n < 0 && errno != EINTR) {
			pr_warn("poll: %s\n", strerror(errno));
			break;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				pr_info("signal %u: removing pins under %s and exiting\n",
					si.ssi_signo, root);
			vm_bpf_unpin(&d->b);
			err = 0;
			break;
		}
		if (pfd[0].revents & POLLIN)
			ring_buffer__consume(d->rb);
		vmd_scan(d);
	}
	pr_info("completed %lu deferred kicks\n", d->completed);
	ring_buffer__free(d->rb);
out_bpf:
	vm_bpf_close(&d->b);
out_lock:
	close(lockfd);
out_free:
	for (int i = 0; i < VM_MAX_QUEUES; i++)
		vm_ref_scratch_free(d->scratch[i]);
	free(d);
	return err;
}
