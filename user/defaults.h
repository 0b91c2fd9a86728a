/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Where vringmedd and vringmedctl meet, by default: one definition each, so
 * the daemon, the CLI and their --help texts cannot disagree.  The pin root
 * (VRM_PIN_ROOT) lives in <vringmed/abi.h>, beside the map names whose pin
 * paths it makes.
 */
#ifndef VRINGMED_DEFAULTS_H
#define VRINGMED_DEFAULTS_H

/* The release, in --version, the build_info metric and the package. */
#define VRINGMED_VERSION	"0.3.0"

/* The daemon's control socket (--control). */
#define VRM_CONTROL_PATH	"/run/vringmed/control.sock"
/* Seconds either end of the control socket waits for the other: a client
 * that never writes costs the daemon this much, a daemon that does not
 * answer costs vringmedctl this much. */
#define VRM_CONTROL_TIMEOUT_S	1

/* The Prometheus endpoint (--metrics): loopback only unless told. */
#define VRM_METRICS_ADDR	"127.0.0.1"
#define VRM_METRICS_PORT	9464

/* A number as a string literal, for the --help texts. */
#define VRM_STR_(x)		#x
#define VRM_STR(x)		VRM_STR_(x)

#endif
