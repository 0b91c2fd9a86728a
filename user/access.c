// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Who may be vringmedd's peer: see access.h.
 *
 * Security model.  Each of the daemon's peers gets or gives a guest's whole
 * memory: a VMM hands it over at SET_MEM_TABLE, and the back-end is handed
 * it in turn.  Whoever connects to a VMM socket of ours can feed a device
 * (and, without these checks, take a device's slot from its VMM); whoever
 * listens at a back-end path the daemon connects to receives every region
 * of the guest.  So:
 *  - the daemon's sockets are made 0600 (its own uid), or 0660 with the
 *    group --socket-group names (VMM sockets only: the control socket can
 *    add devices, which makes the daemon listen and connect where it is
 *    told, and stays 0600); the mode is the socket's own before bind() (so
 *    the file never exists laxer) and the group is set before listen() (so
 *    nobody connects before it is right);
 *  - a VMM is admitted when SO_PEERCRED says its uid is root, the daemon's
 *    or one of --allow-uid, or its gid is the socket group's: the file's
 *    mode is the first fence, this the second, for modes an operator or a
 *    directory's ACL may have widened;
 *  - a back-end is sent nothing, not even a GET_FEATURES, until the process
 *    listening at its path passes the same test: SO_PEERCRED of a connected
 *    socket names the process that called listen(), so a path squatted by
 *    another user (a back-end not started yet, a directory others can
 *    write) is refused.  The socket file's owner is not looked at: it
 *    proves nothing the listener's credentials do not, and could change
 *    between a stat and the connect.
 * Group membership counts by the peer's gid as SO_PEERCRED gives it (the
 * group it runs as), not by supplementary groups: deciding those would take
 * a user database lookup (NSS, maybe over the network) in a device's
 * thread.  Run the VMM with the socket group as its group (libvirt's qemu
 * user: group kvm or qemu), or name its uid with --allow-uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "access.h"
#include "num.h"

static struct {
	bool have_group;
	gid_t group;
	int nuids;
	uid_t uids[VRM_ACCESS_MAX_UIDS];
} vrm_acc;

/* A decimal id, or -1: then it is a name. */
static long vrm_access_number(const char *s)
{
	uint32_t v;

	return vrm_parse_u32(s, 0, 0x7fffffff, &v) ? -1 : (long)v;
}

int vrm_access_set_group(const char *name)
{
	long id = vrm_access_number(name);
	struct group *g = id < 0 ? getgrnam(name) : NULL;

	if (id < 0 && !g)
		return -ENOENT;
	vrm_acc.group = id >= 0 ? (gid_t)id : g->gr_gid;
	vrm_acc.have_group = true;
	return 0;
}

int vrm_access_allow_uid(const char *name)
{
	long id = vrm_access_number(name);
	struct passwd *pw = id < 0 ? getpwnam(name) : NULL;

	if (id < 0 && !pw)
		return -ENOENT;
	if (vrm_acc.nuids == VRM_ACCESS_MAX_UIDS)
		return -ENOSPC;
	vrm_acc.uids[vrm_acc.nuids++] = id >= 0 ? (uid_t)id : pw->pw_uid;
	return 0;
}

bool vrm_access_peer_ok(const struct ucred *c)
{
	if (c->uid == 0 || c->uid == geteuid())
		return true;
	for (int i = 0; i < vrm_acc.nuids; i++)
		if (c->uid == vrm_acc.uids[i])
			return true;
	return vrm_acc.have_group && c->gid == vrm_acc.group;
}

int vrm_access_check_fd(int fd, struct ucred *c)
{
	socklen_t len = sizeof(*c);

	memset(c, 0, sizeof(*c));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, c, &len))
		return -errno;
	return vrm_access_peer_ok(c) ? 0 : -EPERM;
}

const char *vrm_access_allowed(char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "root, uid %u", (unsigned)geteuid());

	for (int i = 0; i < vrm_acc.nuids && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, ", uid %u", (unsigned)vrm_acc.uids[i]);
	if (vrm_acc.have_group && n < len)
		snprintf(buf + n, len - n, ", gid %u", (unsigned)vrm_acc.group);
	return buf;
}

int vrm_access_listen(int fd, const char *path, int backlog, bool group)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	bool grp = group && vrm_acc.have_group;
	mode_t old = 0;
	int err = 0;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* bind() gives the file the socket's own mode less the umask. */
	if (fchmod(fd, grp ? 0660 : 0600))
		return -errno;
	/* A umask may take the group's bits: cleared around the bind.  It is
	 * the process's, but no other thread of the daemon creates files. */
	if (grp)
		old = umask(0);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		err = -errno;
	if (grp)
		umask(old);
	if (err)
		return err;
	/* Not following a link: the name is in a directory others may write. */
	if (grp && fchownat(AT_FDCWD, path, (uid_t)-1, vrm_acc.group, AT_SYMLINK_NOFOLLOW))
		err = -errno;
	if (!err && listen(fd, backlog))
		err = -errno;
	if (err)
		unlink(path);
	return err;
}

int vrm_access_claim(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	bool live;
	int probe;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	if (lstat(path, &st))
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	strcpy(sa.sun_path, path);
	/* Non-blocking: a listener whose backlog is full is live too. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	live = !connect(probe, (const struct sockaddr *)&sa, sizeof(sa)) || errno == EAGAIN;
	close(probe);
	if (live)
		return -EADDRINUSE;
	unlink(path);
	return 0;
}
