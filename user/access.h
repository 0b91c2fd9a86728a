/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Who may be vringmedd's peer: the mode of the sockets it listens on and the
 * credentials it accepts from the processes at their other ends.  One
 * policy for the whole daemon, set before its first device starts (see
 * access.c's security model).
 */
#ifndef VRINGMED_ACCESS_H
#define VRINGMED_ACCESS_H

#include <stdbool.h>
#include <sys/types.h>
#include <sys/socket.h>

#define VRM_ACCESS_MAX_UIDS	16

/* --socket-group NAME|GID: VMM sockets become 0660 with that group, and
 * its members (by their gid) are admitted as VMMs.  0 or -errno. */
int vrm_access_set_group(const char *name);
/* --allow-uid NAME|UID (repeatable): admitted besides root and the daemon's
 * own uid.  0 or -errno (-ENOSPC past VRM_ACCESS_MAX_UIDS). */
int vrm_access_allow_uid(const char *name);

/* Whether the process described by `c` (SO_PEERCRED) is an allowed peer. */
bool vrm_access_peer_ok(const struct ucred *c);
/* The peer at the other end of connected socket `fd`: 0 when it is allowed,
 * else -EPERM (-errno when its credentials cannot be read), its
 * credentials in *c either way. */
int vrm_access_check_fd(int fd, struct ucred *c);
/* Who is allowed, for log lines: "root, uid 1000, uid 107, group kvm". */
const char *vrm_access_allowed(char *buf, size_t len);

/* Binds unix socket `fd` at `path` with mode 0600, or 0660 with the socket
 * group when `group` and one is set, then listens: the file never exists
 * with a laxer mode, nor listens before it has its group.  0 or -errno
 * (the file removed again). */
int vrm_access_listen(int fd, const char *path, int backlog, bool group);

/* Makes `path` free for a socket of this daemon's: nothing there, or a
 * socket nobody listens on any more (left by a run that ended), which is
 * removed.  -EADDRINUSE when something listens on it (another daemon, a
 * back-end, a VMM: its socket is never taken over), -EEXIST when it is no
 * socket, else 0. */
int vrm_access_claim(const char *path);

#endif
