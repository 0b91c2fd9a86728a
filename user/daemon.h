/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Inside vringmedd: the daemon's state, and what its rooms share.
 *
 *   vringmedd.c        main: start, the main loop, stop
 *   daemon_config.c    the command line and the configuration file
 *   daemon_devices.c   a thread per device: start, stop, add, delete
 *   daemon_control.c   the control socket: its commands as a table
 *
 * Threads: the main one owns signals, the deferred-kick ring buffer, the
 * control socket, slot allocation and the watchdog; every device runs in a
 * thread of its own, with its own epoll loop over that proxy's fds (VMM and
 * back-end sockets, the back-end's calls: the used path) and that device's
 * deferred kicks.  All of a device's userspace work on its queues happens in
 * its thread, so a back-end that stops answering holds its own device and
 * nothing else.
 */
#ifndef VRINGMED_DAEMON_H
#define VRINGMED_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "loader.h"
#include "proxy.h"

struct ring_buffer;
struct vrm_metrics;

#define VRD_SCAN_MS 200	/* deferred flags are rescanned this often */
#define VRD_WATCH_MS 20	/* ... and this often while a watch waits (vrm_proxy_watching) */
#define VRD_POLL_TURNS 32	/* a polling device's turns between looks at its fds */
/* How long `device del` and a stop wait for a device's thread to end its
 * session before they abandon it (vrd_dev_join): the main thread serves the
 * control socket, the ring buffer and the watchdog of every device. */
#define VRD_JOIN_MS 500

/* What the command line and the configuration file say (daemon_config.c). */
struct vrd_config {
	const char *pin_root;
	const char *control;		/* "none": no control socket */
	const char *file;		/* --config, or NULL */
	char metrics_addr[64];
	unsigned metrics_port;		/* 0: no endpoint */
	enum vrm_kick_path kick;	/* for devices that do not say (kick=) */
	unsigned poll_us;		/* --poll, for devices that do not say (poll=) */
	int verbose;			/* -1 warnings only; 2: libbpf's debug too */
	const char *devspec[VRM_MAX_DEVICES];
	bool devspec_file[VRM_MAX_DEVICES];	/* the line came from the file */
	int ndev;
	bool devices_only;		/* a reload: every other line is skipped */
	/* Said on the command line, which wins over the file. */
	bool pin_root_set, control_set, metrics_set, group_set;
};

/* Parses the command line, then the file it names.  True to run; false
 * to exit with *exit_code: 0 after --help, 2 for a usage error (said). */
bool vrd_config_load(struct vrd_config *c, int argc, char **argv, int *exit_code);
/* The device lines of FILE again, each checked, into a fresh *c: 0, or
 * -1 with the line at fault said.  vrd_config_free_devices() after. */
int vrd_config_reread(struct vrd_config *c, const char *file);
void vrd_config_free_devices(struct vrd_config *c);
/* Why device `cfg` cannot run beside the daemon's control socket `control`
 * (NULL: none), or NULL: checked on the config file and at admission. */
const char *vrd_control_clash(const struct vrm_proxy_cfg *cfg, const char *control);

/* The longest device spec: a line of the config file. */
#define VRD_SPEC_LEN	600

struct vrd_daemon;

/* Where a device was given.  The control socket's are kept in a file
 * beside the socket (vrd_control_save) for the next daemon: a restart, a
 * stop with SIGTERM or a crash keeps them, SIGINT forgets them. */
enum vrd_origin {
	VRD_CMDLINE,
	VRD_FILE,
	VRD_CONTROL,
};

/* A device and the thread that runs it. */
struct vrd_dev {
	struct vrd_daemon *d;
	struct vrm_proxy *p;
	uint32_t slot;
	int epfd;			/* the device's own loop */
	struct vrm_ev wake;		/* eventfd: a deferred kick, or stop */
	pthread_t thr;
	atomic_bool stop;
	atomic_int fate;		/* enum vrd_fate */
	char name[32];			/* ... for once the proxy may be gone */
	char vmm_path[108];
	bool vmm_client;		/* vmm_path is the VMM's socket, not ours */
	char spec[VRD_SPEC_LEN];	/* as it was given */
	enum vrd_origin origin;		/* VRD_FILE: a reload may remove it */
};

/* Who frees a device that was asked to stop: whoever of the main thread
 * and the device's own settles it first (vrd_dev_join, vrd_dev_main). */
enum vrd_fate {
	VRD_RUNNING,
	VRD_ENDED,		/* the thread ended in time: the main thread joins it */
	VRD_ABANDONED,		/* it did not: it frees itself when it ends */
};

/* A slot whose device was abandoned: reserved, with its name and VMM
 * socket, until its thread ends (it still tears its session down there). */
struct vrd_zombie {
	atomic_bool live;
	char name[32];
	char vmm_path[108];
	bool vmm_client;		/* the VMM's socket: never ours to remove */
};

/* Control clients served at once (daemon_control.c). */
#define VRD_CTL_CLIENTS	16
struct vrd_client;

struct vrd_daemon {
	const struct vrd_config *cfg;
	struct vrm_bpf b;
	struct ring_buffer *rb;
	__u32 broken_seen[VRM_MAX_DEVICES];
	int epfd, lockfd;
	struct vrm_ev sig, ringbuf, ctl;
	struct vrd_dev *dev[VRM_MAX_DEVICES];
	struct vrd_zombie zombie[VRM_MAX_DEVICES];
	const char *ctl_path;		/* NULL: no control socket */
	struct vrd_client *ctl_client[VRD_CTL_CLIENTS];	/* being served */
	struct vrd_client *ctl_closed;	/* closed, freed at the next tick */
	struct vrm_metrics *metrics;
	const char *label_state[VRM_MAX_DEVICES];	/* last state told to metrics */
	enum vrm_kick_path label_kick[VRM_MAX_DEVICES];
	bool started;			/* it said ready */
	/* SIGTERM: a device with a guest attached leaves its session as it
	 * is, and then the pins stay, for the next daemon to adopt as after a
	 * crash (vrd_dev_main); handed_over counts those devices. */
	bool handover;
	atomic_int handed_over;
	unsigned long long wd_usec;	/* systemd's watchdog interval, 0: none */
	struct timespec wd_last;
};

/* daemon_devices.c: 0, or -errno with the reason in err. */
int vrd_add_device(struct vrd_daemon *d, const char *spec, enum vrd_origin origin, char *err,
		   size_t errlen);
/* The running device of that name, or NULL. */
struct vrd_dev *vrd_find(struct vrd_daemon *d, const char *name);
/* 0, or -ENOENT. */
int vrd_del_device(struct vrd_daemon *d, const char *name);
/* Asks every device to stop, then waits for them all within one
 * VRD_JOIN_MS; true when some were abandoned (their sockets removed). */
bool vrd_devices_stop(struct vrd_daemon *d);
/* The breakage of the slots no device thread runs, told once. */
void vrd_scan(struct vrd_daemon *d);

/* daemon_reload.c: SIGHUP; the config file's device lines applied to the
 * running devices (said in the log). */
void vrd_reload(struct vrd_daemon *d);

/* daemon_control.c: 0, or -errno (said). */
int vrd_control_open(struct vrd_daemon *d, const char *path);
void vrd_control_close(struct vrd_daemon *d);
/* From the main loop, after each batch: frees closed clients, closes those
 * idle VRM_CONTROL_TIMEOUT_S. */
void vrd_control_tick(struct vrd_daemon *d);
/* The control socket's devices, written to (or, with none, removed from)
 * the file beside the socket; read back and started by the next daemon;
 * forgotten (the file removed) at SIGINT. */
void vrd_control_save(struct vrd_daemon *d);
void vrd_control_restore(struct vrd_daemon *d);
void vrd_control_forget(struct vrd_daemon *d);
/* The control commands, one line, for --help. */
void vrd_control_usage(FILE *f);

#endif
