// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd: the loader daemon.  Loads vringmed's BPF object, attaches the
 * notification sources the host allows, pins maps and links under one
 * flock-protected pin root; each device's thread completes in userspace the
 * kicks BPF hands over (deferred kicks) with the same translation core.
 *
 * For every device given with --device (or added through the control
 * socket) it is a vhost-user proxy (user/proxy.c): a back-end towards the
 * VMM, a front-end towards a modern-only back-end.
 *
 * A clean stop (SIGTERM, SIGINT) removes every pin it owns.  A crash leaves
 * the pins: the programs keep translating kicks in the kernel, and the next
 * vringmedd adopts maps, links and counters as they are.
 *
 * main: parse (daemon_config.c), start, loop, stop; the rooms and the
 * threads are described in daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <bpf/libbpf.h>

#include "backend_xdp.h"
#include "crash.h"
#include "daemon.h"
#include "keeper.h"
#include "log.h"
#include "metrics.h"
#include "sdnotify.h"
#include "uxlate.h"
#include "vringmed.skel.h"

/* Who holds the flock on the directory fd is open on: its pid from
 * /proc/locks ("N: FLOCK  ADVISORY  WRITE PID MAJ:MIN:INODE ..."), or 0. */
static pid_t vrd_lock_holder(int fd)
{
	char line[256], kind[16];
	struct stat st;
	unsigned long ino;
	unsigned maj, min;
	pid_t pid = 0;
	int holder;
	FILE *f;

	if (fstat(fd, &st) || !(f = fopen("/proc/locks", "re")))
		return 0;
	while (!pid && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*[^:]: %15s %*s %*s %d %x:%x:%lu", kind, &holder, &maj, &min,
			   &ino) == 5 && !strcmp(kind, "FLOCK") && ino == st.st_ino &&
		    maj == major(st.st_dev) && min == minor(st.st_dev))
			pid = holder;
	fclose(f);
	return pid;
}

/* One owner per pin root: an exclusive flock on the directory itself (bpffs
 * holds no regular files to lock).  The kernel drops it when we die. */
static int vrd_lock(const char *root)
{
	struct statfs fs;
	bool made = !mkdir(root, 0700);
	int fd;

	if (!made && errno != EEXIST) {
		pr_warn("cannot create pin root %s: %s\n", root, strerror(errno));
		return -errno;
	}
	fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		pr_warn("cannot open pin root %s: %s\n", root, strerror(errno));
		return -errno;
	}
	/* Else libbpf's pinning fails deep inside the load, with EINVAL. */
	if (fstatfs(fd, &fs) || fs.f_type != BPF_FS_MAGIC) {
		pr_warn("pin root %s is not on a BPF file system (mount -t bpf bpf /sys/fs/bpf, "
			"or give a --pin-root under it)\n", root);
		close(fd);
		if (made)
			rmdir(root);
		return -ENOTDIR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		pid_t holder = vrd_lock_holder(fd);

		if (holder > 0)
			pr_warn("%s is owned by another running vringmedd (pid %d): stop it, or give "
				"this one a --pin-root of its own\n", root, (int)holder);
		else
			pr_warn("%s is owned by another running vringmedd: stop it, or give this one "
				"a --pin-root of its own\n", root);
		close(fd);
		return -EBUSY;
	}
	return fd;
}

/* The ring buffer tells the main thread; the device's thread completes the
 * kick (vrm_proxy_tick), where its queues and kick fds are.  A slot no device
 * runs has no session whose guest memory the daemon mapped: its deferred
 * flag stays until a VMM connects and the ring (re)starts, which translates
 * whatever is pending. */
static int vrd_on_deferred(void *ctx, void *data, size_t len)
{
	const struct vrm_defer_event *ev = data;
	struct vrd_daemon *d = ctx;
	struct vrd_dev *dv;
	uint64_t one = 1;

	if (len < sizeof(*ev) || ev->queue >= VRM_MAX_QUEUES)
		return 0;
	dv = d->dev[ev->queue / VRM_DEV_QUEUES];
	if (dv && write(dv->wake.fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("wake eventfd: %s\n", strerror(errno));
	return 0;
}

static void vrd_on_ringbuf(struct vrm_ev *ev, uint32_t events)
{
	struct vrd_daemon *d = ev->ctx;

	(void)events;
	ring_buffer__consume(d->rb);
}

static volatile int vrd_stop_sig;

static void vrd_on_signal(struct vrm_ev *ev, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(ev->fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP)
		vrd_reload(ev->ctx);
	else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
		vrd_stop_sig = (int)si.ssi_signo;
	else
		pr_warn("signal %s from pid %u ignored: SIGHUP reloads the configuration, "
			"SIGTERM and SIGINT stop (vringmedd(8)); `vringmedctl stats` shows the "
			"devices\n", sigabbrev_np((int)si.ssi_signo), si.ssi_pid);
}

/* A device's polling, to the exporter. */
static void vrd_labels_poll(struct vrd_daemon *d, const struct vrm_proxy_info *in)
{
	unsigned long us[VRM_PROXY_NQ];

	for (unsigned q = 0; q < VRM_PROXY_NQ; q++)
		us[q] = (unsigned long)(in->poll_ns[q] / 1000);
	vrm_metrics_set_poll(d->metrics, in->slot, in->poll_periods, in->poll_chains,
			     in->poll_first_kicks, us, VRM_PROXY_NQ);
	vrm_metrics_set_eidx(d->metrics, in->slot, in->eidx_kicks_saved, in->eidx_calls_saved,
			    in->eidx_be_kicks_saved, in->eidx_rescues, VRM_PROXY_NQ);
}

/* The labels only the daemon knows, to the exporter when they change. */
static void vrd_labels(struct vrd_daemon *d)
{
	for (int i = 0; i < VRM_MAX_DEVICES && d->metrics; i++) {
		struct vrm_proxy_info in;

		if (!d->dev[i]) {
			if (d->label_state[i])
				vrm_metrics_set_device(d->metrics, (uint32_t)i, NULL, NULL, NULL);
			d->label_state[i] = NULL;
			continue;
		}
		vrm_proxy_info(d->dev[i]->p, &in);
		if (in.state != d->label_state[i] || in.kick_path != d->label_kick[i])
			vrm_metrics_set_device(d->metrics, in.slot, in.backend_path, in.state,
					      in.kick_path == VRM_KICK_AUTO ? NULL :
					      vrm_kick_path_name(in.kick_path));
		d->label_state[i] = in.state;
		d->label_kick[i] = in.kick_path;
		vrm_metrics_set_calls(d->metrics, in.slot, in.calls, in.calls_suppressed,
				     VRM_PROXY_NQ);
		vrd_labels_poll(d, &in);
	}
}

/* systemd's watchdog: pet it at half its interval. */
static void vrd_watchdog(struct vrd_daemon *d)
{
	struct timespec now;

	if (!d->wd_usec)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - d->wd_last.tv_sec) * 1000000ull +
	    (unsigned long long)(now.tv_nsec - d->wd_last.tv_nsec) / 1000 >= d->wd_usec / 2) {
		vrm_sd_notify("WATCHDOG=1");
		d->wd_last = now;
	}
}

/* The daemon with its loop and the pin root locked; NULL when it cannot be
 * had at all. */
static struct vrd_daemon *vrd_new(const struct vrd_config *cfg)
{
	struct vrd_daemon *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->cfg = cfg;
	d->ctl.fd = d->sig.fd = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->lockfd = vrd_lock(cfg->pin_root);
	return d;
}

/* SIGTERM, SIGINT and SIGHUP (reload) become events of the loop: read
 * from a signalfd.  So do the signals whose default would end the daemon
 * without a word although nothing is wrong with it (an operator's SIGUSR1
 * in the hope of a dump, a stray timer's): each is logged and ignored.
 * Blocked here, before any thread starts, they stay blocked in all. */
static int vrd_signals(struct vrd_daemon *d)
{
	static const int quiet_end[] = { SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF,
					 SIGIO, SIGPWR, SIGSTKFLT };
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	for (unsigned i = 0; i < sizeof(quiet_end) / sizeof(quiet_end[0]); i++)
		sigaddset(&mask, quiet_end[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	d->sig = (struct vrm_ev){ .fd = signalfd(-1, &mask, SFD_CLOEXEC), .fn = vrd_on_signal,
				 .ctx = d };
	if (d->sig.fd < 0) {
		/* Without it SIGTERM would never be seen: blocked, unread. */
		pr_warn("cannot create a signalfd for SIGTERM and SIGINT: %s\n", strerror(errno));
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* The BPF object loaded (or adopted) under the pin root, its deferred
 * kicks and the signals in the main loop. */
static int vrd_bpf_start(struct vrd_daemon *d)
{
	struct vrm_bpf_opts opts = { .attach = true, .pin_root = d->cfg->pin_root };

	if (vrm_bpf_load(&d->b, &opts))
		return -1;
	vrm_xdp_set_pin_root(d->cfg->pin_root);
	d->rb = ring_buffer__new(bpf_map__fd(d->b.skel->maps.vrm_deferred), vrd_on_deferred, d,
				 NULL);
	if (!d->rb) {
		pr_warn("failed to open ring buffer vrm_deferred: %s\n", strerror(errno));
		return -1;
	}
	pr_info("%s %s: %d notification sources attached%s%s%s\n",
		d->b.adopted ? "adopted" : "pinned", d->cfg->pin_root, d->b.nlinks,
		d->b.have_kvm ? ", KVM tracepoints" : "", d->b.have_fentry ? ", fentry" : "",
		d->b.links_only ? " (their programs kept running, not reloaded)" : "");
	d->ringbuf = (struct vrm_ev){ .fd = ring_buffer__epoll_fd(d->rb), .fn = vrd_on_ringbuf,
				     .ctx = d };
	if (vrm_ev_add(d->epfd, &d->sig, EPOLLIN) || vrm_ev_add(d->epfd, &d->ringbuf, EPOLLIN)) {
		pr_warn("epoll: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Pinned slots with a guest attached that no device here takes: the
 * operator is told how to resume them (their VMMs wait to reconnect). */
static void vrd_unconfigured_guests(struct vrd_daemon *d)
{
	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		const struct vrm_device *dev = &d->b.devices[i];
		char name[sizeof(dev->name) + 1];

		if (!(dev->flags & VRM_DF_ACTIVE) || !dev->name[0])
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)sizeof(dev->name), dev->name);
		if (vrd_find(d, name))
			continue;
		pr_warn("device %s (slot %d) had a guest attached when the last vringmedd stopped, "
			"and no device of that name is configured here: `vringmedctl device add "
			"%s,vmm=PATH,backend=PATH` or its line in the configuration file resumes it\n",
			name, i, name);
	}
}

/* The devices configured.  Device slots nobody configures again are
 * cleared: their VMMs went with the vhost-user connections of the daemon
 * that died. */
static int vrd_devices_start(struct vrd_daemon *d)
{
	for (int i = 0; i < d->cfg->ndev; i++) {
		char why[256];

		if (vrd_add_device(d, d->cfg->devspec[i],
				   d->cfg->devspec_file[i] ? VRD_FILE : VRD_CMDLINE, why, sizeof(why))) {
			pr_warn("%s\n", why);
			return -1;
		}
	}
	vrd_control_restore(d);
	vrd_unconfigured_guests(d);
	return 0;
}

static void vrd_ready(struct vrd_daemon *d)
{
	const struct vrd_config *c = d->cfg;

	vrd_labels(d);
	printf("vringmedd ready: pid %d, pin root %s, %d device%s, control %s, metrics %s%s%.0u\n",
	       (int)getpid(), c->pin_root, c->ndev, c->ndev == 1 ? "" : "s",
	       d->ctl_path ? d->ctl_path : "off",
	       c->metrics_port ? c->metrics_addr : "off", c->metrics_port ? ":" : "",
	       c->metrics_port);
	fflush(stdout);
	vrm_sd_notify("READY=1");
	d->wd_usec = vrm_sd_watchdog_usec();
}


/*
 * The capabilities the unit gives it (vringmedd(8), SYSTEMD): without
 * CAP_BPF and CAP_PERFMON nothing loads, and libbpf's own words for that
 * do not say what to change; without the others, parts go missing, each
 * named here.  Nonzero when it cannot start.
 */
#define VRD_CAP(name)	CAP_##name, "CAP_" #name
static int vrd_caps_missing(void)
{
	static const struct { int cap; const char *name, *for_what; } need[] = {
		{ VRD_CAP(BPF), NULL },
		{ VRD_CAP(PERFMON), NULL },
		{ VRD_CAP(SYS_ADMIN), "a restart cannot adopt the shadow maps by id" },
		{ VRD_CAP(SYSLOG), "eventfd_write's address stays hidden: write() kicks go unseen" },
		{ VRD_CAP(SYS_PTRACE), "a VMM's /proc/PID/fd cannot be read (KVM VMMs not told)" },
		{ VRD_CAP(DAC_OVERRIDE), "sockets of other users cannot be reached" },
		{ VRD_CAP(CHOWN), "--socket-group cannot be given to the sockets" },
	};
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct c[2] = { 0 };
	char missing[160] = "";
	int fatal = 0;

	if (syscall(SYS_capget, &h, c))
		return 0;	/* cannot tell: loading will say */
	for (unsigned i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		int cap = need[i].cap;

		if (c[cap / 32].effective & (1u << (cap % 32)))
			continue;
		/* Before CAP_BPF and CAP_PERFMON (5.8), CAP_SYS_ADMIN was both. */
		if (!need[i].for_what && (c[CAP_SYS_ADMIN / 32].effective & (1u << (CAP_SYS_ADMIN % 32))))
			continue;
		if (!need[i].for_what) {
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing), "%s%s",
				 missing[0] ? " and " : "", need[i].name);
			fatal = 1;
		} else {
			pr_warn("without %s: %s\n", need[i].name, need[i].for_what);
		}
	}
	if (fatal)
		pr_warn("vringmedd needs %s to load its BPF programs: run it as root (the unit "
			"vringmedd.service grants what it needs: vringmedd(8), SYSTEMD)\n", missing);
	return fatal;
}
/* Everything up, in order; *out is set once there is something for
 * vrd_stop to take down.  0, or the exit code. */
static int vrd_start(struct vrd_daemon **out, const struct vrd_config *cfg)
{
	struct vrd_daemon *d;
	int err;

	*out = NULL;
	/* Our kick rounds leave a journal: a kill -9 anywhere is resumable. */
	vrm_ux_journal = true;
	vrm_log_set_level(cfg->verbose < 0 ? VRM_LOG_WARN : cfg->verbose ? VRM_LOG_DEBUG :
			  VRM_LOG_INFO);
	vrm_log_libbpf_debug(cfg->verbose >= 2);
	if (strlen(cfg->pin_root) >= sizeof(((struct vrm_bpf *)0)->pin_root) - 1) {
		pr_warn("pin root path too long: %s\n", cfg->pin_root);
		return 2;
	}
	if (vrd_caps_missing())
		return 1;
	if (access("/sys/fs/bpf", W_OK)) {
		pr_warn("/sys/fs/bpf is not writable: run as root with bpffs mounted (make setup)\n");
		return 1;
	}
	d = *out = vrd_new(cfg);
	if (!d || d->lockfd < 0 || d->epfd < 0 || vrd_signals(d))
		return 1;
	/* Before any thread or connection; it closes what it inherits. */
	err = vrm_keeper_start();
	if (err)
		pr_warn("cannot start the keeper (%s): a crash of this daemon may let a VMM take "
			"back chains its back-end still uses\n", strerror(-err));
	if (vrd_bpf_start(d))
		return 1;
	if (strcmp(cfg->control, "none") && vrd_control_open(d, cfg->control))
		return 1;
	/* The endpoint before the devices: a port taken is a configuration
	 * error, said before any VMM socket appears. */
	if (cfg->metrics_port &&
	    vrm_metrics_start(&d->metrics, &d->b, cfg->metrics_addr, cfg->metrics_port))
		return 1;
	if (vrd_devices_start(d))
		return 1;
	vrd_ready(d);
	d->started = true;
	return 0;
}

/* Until SIGTERM or SIGINT: 0 then, 1 when the loop itself failed. */
static int vrd_loop(struct vrd_daemon *d)
{
	vrd_scan(d);
	while (!vrd_stop_sig) {
		struct epoll_event evs[16];
		int n = epoll_wait(d->epfd, evs, 16, VRD_SCAN_MS);

		if (n < 0 && errno != EINTR) {
			pr_warn("epoll_wait: %s\n", strerror(errno));
			break;
		}
		vrm_ev_dispatch(evs, n);
		vrd_control_tick(d);
		vrd_scan(d);
		vrd_labels(d);
		vrd_watchdog(d);
	}
	vrm_sd_notify("STOPPING=1");
	if (!vrd_stop_sig)
		return 1;
	/* SIGTERM is how systemd stops and restarts the daemon, a package
	 * upgrade among them: guests attached then keep their sessions and
	 * their kicks translated, as after a crash, and the next vringmedd
	 * adopts them and resumes each ring where it was (vrd_stop).  SIGINT,
	 * and SIGTERM with no guest, end everything. */
	d->handover = vrd_stop_sig == SIGTERM;
	return 0;
}

/*
 * Takes down whatever vrd_start brought up.  A clean stop (err 0) removes
 * the pins unless a device handed its guest over (vrd_loop), and so does a
 * first start that failed; a failed loop, or a failed start over adopted
 * pins, leaves them for the next daemon.  With device threads abandoned,
 * what they still use (the maps, the daemon's state) is left to the exit.
 * Returns err, the exit code.
 */
static int vrd_stop(struct vrd_daemon *d, int err)
{
	bool zombies;
	int handed;

	vrm_metrics_stop(d->metrics);
	zombies = vrd_devices_stop(d);
	handed = atomic_load(&d->handed_over);
	if (!err && handed)
		pr_info("signal %d: %d device%s with guests attached: leaving the pins under %s "
			"(kicks are translated meanwhile) for the next vringmedd to adopt, and "
			"exiting; SIGINT stops and removes everything\n", vrd_stop_sig, handed,
			handed == 1 ? "" : "s", d->cfg->pin_root);
	else if (!err)
		pr_info("signal %d: removing pins under %s and exiting\n", vrd_stop_sig,
			d->cfg->pin_root);
	if (!zombies && !handed)
		vrm_xdp_shutdown();
	vrd_control_close(d);
	/* A first start that failed pinned what nobody uses: no VMM ever
	 * connected.  After a start, or over adopted pins, they are left;
	 * so are they when handed over. */
	if ((!err && !handed) || (!d->started && !d->b.adopted && d->lockfd >= 0))
		vrm_bpf_unpin(&d->b);
	/* SIGTERM is a restart's, or a stop's until the next start: the
	 * control socket's devices stay for the next daemon.  SIGINT ends
	 * everything. */
	if (!err && vrd_stop_sig == SIGINT)
		vrd_control_forget(d);
	if (zombies) {
		pr_warn("exiting with abandoned device threads\n");
		return err;
	}
	ring_buffer__free(d->rb);
	vrm_bpf_close(&d->b);
	if (err && d->lockfd >= 0)
		rmdir(d->cfg->pin_root);	/* only if empty: a failed first start leaves nothing */
	if (d->lockfd >= 0)
		close(d->lockfd);
	if (d->sig.fd >= 0)
		close(d->sig.fd);
	if (d->epfd >= 0)
		close(d->epfd);
	free(d);
	return err;
}

int main(int argc, char **argv)
{
	struct vrd_config cfg;
	struct vrd_daemon *d;
	int code;

	if (!vrd_config_load(&cfg, argc, argv, &code))
		return code;
	vrm_crash_install();
	code = vrd_start(&d, &cfg);
	if (!d)
		return code;
	if (!code)
		code = vrd_loop(d);
	return vrd_stop(d, code);
}
