// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's settings: the command line and the configuration file read
 * through one table (vrd_settings), which also writes --help's options.
 *
 * The configuration file: one setting a line, '#' starts a comment.
 *   device NAME,vmm=PATH,backend=PATH     (repeatable)
 *   pin-root DIR
 *   control PATH|none
 *   metrics ADDR:PORT|none
 *   socket-group NAME|GID
 *   allow-uid NAME|UID                    (repeatable)
 * Command-line options win over the file; devices from both are served,
 * uids from both are allowed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "access.h"
#include "cli.h"
#include <bpf/libbpf.h>

#include "daemon.h"
#include "defaults.h"
#include "metrics.h"
#include "num.h"

/* A setter's answers: go on, stop with exit code 0 (--help), or stop with
 * exit code 2 (a bad value, said on stderr when it came from the command
 * line; the file's reader names the line). */
enum { VRD_SET_OK, VRD_SET_DONE, VRD_SET_BAD };

struct vrd_setting {
	const char *name;	/* --name, and the file's key when in_file */
	char opt;		/* -opt */
	const char *arg;	/* what it takes, NULL: nothing */
	bool in_file;
	int (*set)(struct vrd_config *c, char *val, bool file);
	const char *help;	/* --help: lines of at most 54 characters */
};

static void vrd_usage(FILE *f);

/* A value from the file: its own copy, for the line buffer is reused. */
static char *vrd_keep(char *val, bool file)
{
	return file ? strdup(val) : val;
}

static int vrd_set_device(struct vrd_config *c, char *val, bool file)
{
	if (c->ndev == VRM_MAX_DEVICES) {
		if (!file)
			fprintf(stderr, "vringmedd: at most %d devices\n", VRM_MAX_DEVICES);
		return VRD_SET_BAD;
	}
	c->devspec_file[c->ndev] = file;
	c->devspec[c->ndev++] = vrd_keep(val, file);
	return VRD_SET_OK;
}

static int vrd_set_poll(struct vrd_config *c, char *val, bool file)
{
	uint32_t us = 0;

	if (!strcmp(val, "off") || !vrm_parse_u32(val, 0, VRM_PROXY_POLL_US_MAX, &us)) {
		c->poll_us = us;
		return VRD_SET_OK;
	}
	fprintf(stderr, "vringmedd: bad --poll '%s': expected off or microseconds, 0 to %d\n",
		val, VRM_PROXY_POLL_US_MAX);
	return VRD_SET_BAD;
}

static int vrd_set_kick_path(struct vrd_config *c, char *val, bool file)
{
	if (!vrm_kick_path_parse(val, &c->kick))
		return VRD_SET_OK;
	fprintf(stderr, "vringmedd: bad --kick-path '%s': expected auto, bpf or userspace\n", val);
	return VRD_SET_BAD;
}

/* A path the command line sets, and the file only when it did not. */
static int vrd_set_path(const char **path, bool *said, char *val, bool file)
{
	if (!file || !*said)
		*path = vrd_keep(val, file);
	*said |= !file;
	return VRD_SET_OK;
}

static int vrd_set_control(struct vrd_config *c, char *val, bool file)
{
	/* Absolute, or off: under the unit the working directory is /. */
	if (strcmp(val, "none") && (val[0] != '/' || strpbrk(val, " \t"))) {
		fprintf(stderr, "vringmedd: control socket '%s': an absolute path, or none\n", val);
		return VRD_SET_BAD;
	}
	return vrd_set_path(&c->control, &c->control_set, val, file);
}

/* --socket-group and --allow-uid go to the access policy at once. */
static int vrd_set_group(struct vrd_config *c, char *val, bool file)
{
	int err;

	if (file && c->group_set)
		return VRD_SET_OK;
	err = vrm_access_set_group(val);
	if (err) {
		fprintf(stderr, "vringmedd: socket group '%s': %s\n", val,
			err == -ENOENT ? "no such group" : strerror(-err));
		return VRD_SET_BAD;
	}
	c->group_set |= !file;
	return VRD_SET_OK;
}

static int vrd_set_uid(struct vrd_config *c, char *val, bool file)
{
	int err = vrm_access_allow_uid(val);

	if (!err)
		return VRD_SET_OK;
	fprintf(stderr, "vringmedd: allowed uid '%s': %s\n", val,
		err == -ENOENT ? "no such user" : err == -ENOSPC ? "too many" : strerror(-err));
	return VRD_SET_BAD;
}

static int vrd_set_metrics(struct vrd_config *c, char *val, bool file)
{
	if (file && c->metrics_set)
		return VRD_SET_OK;
	c->metrics_set |= !file;
	if (!vrm_metrics_parse(val, c->metrics_addr, sizeof(c->metrics_addr), &c->metrics_port))
		return VRD_SET_OK;
	if (!file)
		fprintf(stderr, "vringmedd: bad --metrics '%s': expected ADDR:PORT, PORT or none\n",
			val);
	return VRD_SET_BAD;
}

static int vrd_set_config(struct vrd_config *c, char *val, bool file)
{
	c->file = val;
	return VRD_SET_OK;
}

static int vrd_set_pin_root(struct vrd_config *c, char *val, bool file)
{
	return vrd_set_path(&c->pin_root, &c->pin_root_set, val, file);
}

static int vrd_set_verbose(struct vrd_config *c, char *val, bool file)
{
	c->verbose++;
	return VRD_SET_OK;
}

static int vrd_set_quiet(struct vrd_config *c, char *val, bool file)
{
	c->verbose = -1;
	return VRD_SET_OK;
}

static int vrd_set_version(struct vrd_config *c, char *val, bool file)
{
	printf("vringmedd %s (libbpf %u.%u)\n", VRINGMED_VERSION, libbpf_major_version(),
	       libbpf_minor_version());
	return VRD_SET_DONE;
}

static int vrd_set_help(struct vrd_config *c, char *val, bool file)
{
	vrd_usage(stdout);
	return VRD_SET_DONE;
}

static const struct vrd_setting vrd_settings[] = {
	{ "device", 'd', "NAME,vmm=PATH,backend=PATH[,KEY=VALUE...]",
	  true, vrd_set_device,
	  "mediate a device: listen for the VMM's vhost-user\n"
	  "connection on PATH, connect to the modern back-end's\n"
	  "socket when the VMM arrives (repeatable, up to " VRM_STR(VRM_MAX_DEVICES) ");\n"
	  "backend=xdp:IFACE: vringmedd's own back-end, frames\n"
	  "to and from host interface IFACE over AF_XDP.\n"
	  "Keys: kick=auto|bpf|userspace (as --kick-path),\n"
	  "poll=US|off (as --poll), event_idx=on|off (on, a net\n"
	  "device's default: mediated on each side; off, a blk\n"
	  "device's default: withheld), vmm_client=on (the VMM\n"
	  "listens on PATH, QEMU's server=on, and vringmedd\n"
	  "connects, again whenever it is gone), type=net|blk (virtio-net,\n"
	  "the default, or virtio-blk), order=be|le (type=blk:\n"
	  "the byte order of its config space and rings)" },
	{ "kick-path", 'k', "auto|bpf|userspace", false, vrd_set_kick_path,
	  "how guest kicks reach the translation (default auto:\n"
	  "BPF where an attached hook sees them, else userspace;\n"
	  "a BPF device whose kicks go unseen switches itself)" },
	{ "poll", 'P', "US|off", false, vrd_set_poll,
	  "a busy queue is polled by its device thread, the guest's\n"
	  "kicks and the back-end's calls off, through idle spells\n"
	  "of up to US microseconds (default " VRM_STR(VRM_PROXY_POLL_US) ", at most "
	  VRM_STR(VRM_PROXY_POLL_US_MAX) "; off:\n"
	  "never; the spell adapts, and an idle device is not polled)" },
	{ "control", 'c', "PATH", true, vrd_set_control,
	  "control socket, mode 0600 (default " VRM_CONTROL_PATH ";\n"
	  "'none': off)" },
	{ "socket-group", 'g', "NAME|GID", true, vrd_set_group,
	  "VMM sockets are 0660 with this group (default 0600),\n"
	  "and a VMM or back-end whose gid it is is admitted" },
	{ "allow-uid", 'u', "NAME|UID", true, vrd_set_uid,
	  "a VMM or back-end running as this uid is admitted\n"
	  "(repeatable, up to " VRM_STR(VRM_ACCESS_MAX_UIDS) "; root and the daemon's own uid\n"
	  "always are); any other peer is refused" },
	{ "metrics", 'm', "ADDR:PORT", true, vrd_set_metrics,
	  "Prometheus endpoint http://ADDR:PORT/metrics (default\n"
	  VRM_METRICS_ADDR ":" VRM_STR(VRM_METRICS_PORT) ", loopback only; a PORT alone:\n"
	  "on " VRM_METRICS_ADDR "; 'none': off)" },
	{ "config", 'f', "FILE", false, vrd_set_config,
	  "settings, one a line: 'device NAME,vmm=PATH,backend=PATH',\n"
	  "'pin-root DIR', 'control PATH|none', 'metrics ADDR:PORT|none',\n"
	  "'socket-group NAME', 'allow-uid UID' ('#' comments);\n"
	  "options on the command line win" },
	{ "pin-root", 'p', "DIR", true, vrd_set_pin_root,
	  "bpffs directory it owns (default " VRM_PIN_ROOT ")" },
	{ "verbose", 'v', NULL, false, vrd_set_verbose, "debug logging (twice: libbpf's too)" },
	{ "quiet", 'q', NULL, false, vrd_set_quiet, "warnings only" },
	{ "version", 'V', NULL, false, vrd_set_version, "the version, and libbpf's" },
	{ "help", 'h', NULL, false, vrd_set_help, "this text" },
};

#define VRD_NSETTINGS (sizeof(vrd_settings) / sizeof(vrd_settings[0]))

static void vrd_usage(FILE *f)
{
	fprintf(f,
"usage: vringmedd [OPTIONS]\n"
"\n"
"Loads vringmed's BPF programs, attaches them to the kick notification points\n"
"this host allows, pins maps and links under PIN_ROOT, and completes the kicks\n"
"BPF could not finish.  SIGINT, or SIGTERM while no guest is attached,\n"
"removes what it pinned; SIGTERM with guests attached (systemctl stop or\n"
"restart) leaves it, as a crash does: start it again and it adopts the\n"
"pinned state (kicks are translated meanwhile) and resumes each ring where\n"
"it was when the same VMM reconnects.\n"
"\n");
	for (size_t i = 0; i < VRD_NSETTINGS; i++) {
		const struct vrd_setting *s = &vrd_settings[i];
		char opt[96];

		snprintf(opt, sizeof(opt), "-%c, --%s%s%s", s->opt, s->name, s->arg ? " " : "",
			 s->arg ? s->arg : "");
		vrm_usage_row(f, opt, 20, s->help);
	}
	fprintf(f,
"\n"
"Control socket: connect, write one line, read the JSON answer:\n");
	vrd_control_usage(f);
	fprintf(f,
"\n"
"Peers: a VMM is admitted, and a back-end handed guest memory, only when\n"
"SO_PEERCRED says its uid is root, the daemon's or an --allow-uid one, or its\n"
"gid is the --socket-group's.\n"
"\n"
"Example (QEMU with -chardev socket,path=/run/vm0.sock -netdev vhost-user):\n"
"  vringmedd --device net0,vmm=/run/vm0.sock,backend=/run/testpmd0.sock\n"
"A big-endian legacy guest's disk (QEMU: vhost-user-blk-pci,disable-modern=on)\n"
"on qemu-storage-daemon's vhost-user-blk export:\n"
"  vringmedd --device disk0,vmm=/run/vm0-disk0.sock,backend=/run/qsd0.sock,type=blk,order=be\n");
}

/* The command line, through the table: -1 to go on, else the exit code. */
static int vrd_config_args(struct vrd_config *c, int argc, char **argv)
{
	struct option longopts[VRD_NSETTINGS + 1] = { 0 };
	char shortopts[2 * VRD_NSETTINGS + 1], *so = shortopts;
	int opt;

	for (size_t i = 0; i < VRD_NSETTINGS; i++) {
		const struct vrd_setting *s = &vrd_settings[i];

		longopts[i] = (struct option){ s->name, s->arg ? required_argument : no_argument,
					       NULL, s->opt };
		*so++ = s->opt;
		if (s->arg)
			*so++ = ':';
	}
	*so = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct vrd_setting *s = NULL;

		for (size_t i = 0; i < VRD_NSETTINGS && !s; i++)
			if (vrd_settings[i].opt == opt)
				s = &vrd_settings[i];
		if (!s) {
			vrd_usage(stderr);
			return 2;
		}
		switch (s->set(c, optarg, false)) {
		case VRD_SET_DONE:
			return 0;
		case VRD_SET_BAD:
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vringmedd: unexpected argument '%s'\n", argv[optind]);
		vrd_usage(stderr);
		return 2;
	}
	return -1;
}

/* One line of the file, comment and blanks cut: false when it is bad. */
/* One line of the file: NULL when taken, else what is wrong with it. */
static const char *vrd_config_line(struct vrd_config *c, char *line)
{
	static char why[96];
	char *key, *val, *end;

	key = line + strspn(line, " \t");
	if (!*key)
		return NULL;
	val = key + strcspn(key, " \t");
	if (*val)
		*val++ = 0;
	val += strspn(val, " \t");
	end = val + strlen(val);
	while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = 0;
	for (size_t i = 0; i < VRD_NSETTINGS; i++) {
		const struct vrd_setting *s = &vrd_settings[i];

		if (!s->in_file || strcmp(key, s->name))
			continue;
		snprintf(why, sizeof(why), !*val ? "'%s' without a value" : "a bad '%s'", key);
		if (!*val)
			return why;
		if (c->devices_only && s->set != vrd_set_device)
			return NULL;
		return s->set(c, val, true) == VRD_SET_OK ? NULL : why;
	}
	snprintf(why, sizeof(why), "no setting is called '%.40s'", key);
	return why;
}

/* The file --config names, into what the command line left unsaid.
 * 0, or 2 with the line at fault named. */
static int vrd_config_file(struct vrd_config *c)
{
	FILE *f = fopen(c->file, "re");
	const char *why;
	struct stat st;
	char line[600];
	int lineno = 0;

	if (!f || fstat(fileno(f), &st) || !S_ISREG(st.st_mode)) {
		const char *e = f && S_ISDIR(st.st_mode) ? "a directory, not a file" :
				f && !S_ISREG(st.st_mode) ? "not a regular file" : strerror(errno);

		fprintf(stderr, "vringmedd: cannot read %s: %s\n", c->file, e);
		if (f)
			fclose(f);
		return 2;
	}
	while (fgets(line, sizeof(line), f)) {
		lineno++;
		line[strcspn(line, "#\r\n")] = 0;
		if ((why = vrd_config_line(c, line))) {
			fprintf(stderr, "vringmedd: %s:%d: %s: expected 'device NAME,vmm=PATH,"
				"backend=PATH' (at most %d), 'pin-root DIR', 'control PATH|none', "
				"'metrics ADDR:PORT|none', 'socket-group NAME' or 'allow-uid UID'\n",
				c->file, lineno, why, VRM_MAX_DEVICES);
			fclose(f);
			return 2;
		}
	}
	fclose(f);
	return 0;
}

const char *vrd_control_clash(const struct vrm_proxy_cfg *cfg, const char *control)
{
	return control && !strcmp(cfg->vmm_path, control) ?
	       "its vmm= is the daemon's control socket" : NULL;
}

/* 0 when every device spec parses; else -1, said. */
static int vrd_config_devices_ok(const struct vrd_config *c)
{
	for (int i = 0; i < c->ndev; i++) {
		struct vrm_proxy_cfg cfg;
		const char *why;

		if (strlen(c->devspec[i]) >= VRD_SPEC_LEN) {
			fprintf(stderr, "vringmedd: device '%.40s...': longer than %d characters\n",
				c->devspec[i], VRD_SPEC_LEN - 1);
			return -1;
		}
		if (vrm_proxy_parse(c->devspec[i], &cfg, &why)) {
			fprintf(stderr, "vringmedd: bad %s '%s': %s\n",
				c->devspec_file[i] ? "device" : "--device", c->devspec[i], why);
			return -1;
		}
		if ((why = vrd_control_clash(&cfg, c->control))) {
			fprintf(stderr, "vringmedd: device %s: %s\n", cfg.name, why);
			return -1;
		}
		for (int j = 0; j < i; j++) {
			struct vrm_proxy_cfg other;

			if (vrm_proxy_parse(c->devspec[j], &other, &why))
				continue;
			if (!strcmp(other.name, cfg.name)) {
				fprintf(stderr, "vringmedd: device %s is given twice\n", cfg.name);
				return -1;
			}
			if ((why = vrm_proxy_paths_clash(&cfg, &other))) {
				fprintf(stderr, "vringmedd: device %s: %s\n", cfg.name, why);
				return -1;
			}
		}
	}
	return 0;
}

bool vrd_config_load(struct vrd_config *c, int argc, char **argv, int *exit_code)
{
	*c = (struct vrd_config){ .pin_root = VRM_PIN_ROOT, .control = VRM_CONTROL_PATH,
				  .metrics_port = VRM_METRICS_PORT, .kick = VRM_KICK_AUTO,
				  .poll_us = VRM_PROXY_POLL_US };
	snprintf(c->metrics_addr, sizeof(c->metrics_addr), "%s", VRM_METRICS_ADDR);
	*exit_code = vrd_config_args(c, argc, argv);
	if (*exit_code >= 0)
		return false;
	*exit_code = 2;
	if (c->file && vrd_config_file(c))
		return false;
	/* Every device, from either, before anything starts. */
	return !vrd_config_devices_ok(c);
}

int vrd_config_reread(struct vrd_config *c, const char *file)
{
	*c = (struct vrd_config){ .file = file, .devices_only = true };
	if (vrd_config_file(c) || vrd_config_devices_ok(c)) {
		vrd_config_free_devices(c);
		return -1;
	}
	return 0;
}

void vrd_config_free_devices(struct vrd_config *c)
{
	for (int i = 0; i < c->ndev; i++)
		if (c->devspec_file[i])
			free((char *)c->devspec[i]);
	c->ndev = 0;
}
