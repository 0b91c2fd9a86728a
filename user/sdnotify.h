/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* systemd's readiness and watchdog protocol ($NOTIFY_SOCKET), without
 * linking libsystemd: one datagram per state change. */
#ifndef VRINGMED_SDNOTIFY_H
#define VRINGMED_SDNOTIFY_H

/* Sends `state` ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=...").
 * 1 sent, 0 not run by systemd, -errno. */
int vrm_sd_notify(const char *state);
/* The watchdog interval systemd asked for, in microseconds (0: none). */
unsigned long long vrm_sd_watchdog_usec(void);

#endif
