// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Who may connect to the daemon's sockets, and who may take their place. */
#include <grp.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <vringmed/byteorder.h>

#include "test.h"
#include "vu_wire.h"
#include "proxy_test.h"

#define NOBODY	65534	/* uid nobody, gid nogroup */

/* Drops to uid `uid`, gid `gid` (and `gid2` as a supplementary group when
 * not -1), in a child about to _exit. */
static void become(uid_t uid, gid_t gid, gid_t gid2)
{
	gid_t groups[1] = { gid2 };

	if (setgroups(gid2 == (gid_t)-1 ? 0 : 1, groups) || setgid(gid) || setuid(uid))
		_exit(125);
}

/* A VMM as uid/gid connects to `path` and asks GET_FEATURES: 0 answered,
 * 1 the connection closed unanswered, 2 it could not connect. */
static int vmm_as(const char *path, uid_t uid, gid_t gid, gid_t gid2, pid_t *child)
{
	int st = -1, s;
	pid_t pid = fork();

	if (pid == 0) {
		uint64_t f;

		become(uid, gid, gid2);
		s = vmm_connect(path);
		if (s < 0)
			_exit(2);
		_exit(vu_get_u64_reply(s, VU_GET_FEATURES, &f) ? 1 : 0);
	}
	if (child)
		*child = pid;
	waitpid(pid, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A back-end as uid nobody listening at `path` (its directory nobody's):
 * writes to `report` how many bytes the first connection brought in 3 s. */
static pid_t squatter(const char *path, int report, int ready)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		struct pollfd p;
		char buf[256];
		int l, c, got = 0, n;

		become(NOBODY, NOBODY, (gid_t)-1);
		strcpy(sa.sun_path, path);
		l = socket(AF_UNIX, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4))
			_exit(2);
		if (write(ready, "r", 1) != 1)
			_exit(2);
		p = (struct pollfd){ .fd = l, .events = POLLIN };
		if (poll(&p, 1, 5000) == 1 && (c = accept(l, NULL, NULL)) >= 0) {
			p = (struct pollfd){ .fd = c, .events = POLLIN };
			while (poll(&p, 1, 3000) == 1 && (n = (int)read(c, buf, sizeof(buf))) > 0)
				got += n;
		} else {
			got = -1;
		}
		if (write(report, &got, sizeof(got)) != sizeof(got))
			_exit(2);
		unlink(path);
		_exit(0);
	}
	return pid;
}

/*
 * Who may be a peer: the daemon's sockets are 0600 from the
 * start; a VMM of another uid is refused even where the file's mode would
 * let it in; a back-end path squatted by another uid is handed nothing;
 * --socket-group makes VMM sockets 0660 with that group and admits it, and
 * --allow-uid a uid.  (Sockets had the umask's mode, any VMM was taken, and
 * the daemon sent whoever listened at the back-end path every region of
 * guest memory.)
 */
VRM_TEST(peer_access)
{
	char sq_dir[160], sq_path[200], vmm_c[160], cmd[600], buf[512];
	struct stat st;
	pid_t child = 0;

	if (vrm_subtest("socket_modes_0600") && bring_up()) {
		VRM_TRUE(!stat(vmm_a, &st) && S_ISSOCK(st.st_mode));
		VRM_EQ(st.st_mode & 07777, 0600);
		VRM_TRUE(!stat(ctl, &st));
		VRM_EQ(st.st_mode & 07777, 0600);
	}
	if (vrm_subtest("vmm_of_another_uid_refused") && bring_up()) {
		char needle[96];

		/* Widened on purpose, as an operator or an ACL could: the file
		 * would let it in, the credentials do not. */
		chmod(dir, 0711);
		chmod(vmm_a, 0666);
		VRM_EQ(vmm_as(vmm_a, NOBODY, NOBODY, (gid_t)-1, &child), 1);
		snprintf(needle, sizeof(needle), "device neta: VMM connection refused: pid %d uid %d",
			 (int)child, NOBODY);
		VRM_TRUE(peer_log_has(&dmn, needle, 2000));
		chmod(vmm_a, 0600);
		/* As the file has it: not even a connection. */
		VRM_EQ(vmm_as(vmm_a, NOBODY, NOBODY, (gid_t)-1, NULL), 2);
		chmod(dir, 0700);
		VRM_TRUE(device_has("neta", "\"state\":\"listening\""));
	}
	if (vrm_subtest("squatted_backend_refused") && bring_up()) {
		int rep[2], rdy[2], got = -2, s;
		char c;

		snprintf(sq_dir, sizeof(sq_dir), "%s/squat", dir);
		snprintf(sq_path, sizeof(sq_path), "%s/be.sock", sq_dir);
		snprintf(vmm_c, sizeof(vmm_c), "%s/vmm-c.sock", dir);
		mkdir(sq_dir, 0755);
		VRM_EQ(chown(sq_dir, NOBODY, NOBODY), 0);
		chmod(dir, 0711);
		VRM_EQ(pipe(rep), 0);
		VRM_EQ(pipe(rdy), 0);
		child = squatter(sq_path, rep[1], rdy[1]);
		VRM_EQ(read(rdy[0], &c, 1), 1);
		snprintf(cmd, sizeof(cmd), "device add netc,vmm=%s,backend=%s", vmm_c, sq_path);
		VRM_EQ(ctl_query(cmd, buf, sizeof(buf)), 0);
		VRM_TRUE(strstr(buf, "\"ok\"") != NULL);
		s = vmm_connect(vmm_c);
		VRM_TRUE(s >= 0 && closed_by_peer(s));
		if (s >= 0)
			close(s);
		VRM_TRUE(peer_log_has(&dmn, "refused: its listener is pid", 2000));
		VRM_EQ(read(rep[0], &got, sizeof(got)), sizeof(got));
		VRM_CHECK(got == 0, "the squatter got %d bytes (-1: no connection)", got);
		waitpid(child, NULL, 0);
		VRM_EQ(ctl_query("device del netc", buf, sizeof(buf)), 0);
		close(rep[0]);
		close(rep[1]);
		close(rdy[0]);
		close(rdy[1]);
		rmdir(sq_dir);
		chmod(dir, 0700);
	}
	if (vrm_subtest("socket_group_and_allow_uid") && bring_up()) {
		char r2[96], c2[160], vmm_g[160], spec[400], needle[96], none[160];
		const char *args[] = { "-c", c2, "-g", "nogroup", "-u", "daemon", "-d", spec, "-v",
				       NULL };
		struct peer d2 = { 0 };

		snprintf(r2, sizeof(r2), "/sys/fs/bpf/vringmed-proxy2-%d", (int)getpid());
		snprintf(c2, sizeof(c2), "%s/ctl2.sock", dir);
		snprintf(vmm_g, sizeof(vmm_g), "%s/vmm-g.sock", dir);
		snprintf(none, sizeof(none), "%s/nobody-listens.sock", dir);
		snprintf(spec, sizeof(spec), "netg,vmm=%s,backend=%s", vmm_g, none);
		if (VRM_EQ(vringmedd_start(&d2, dir, r2, args), 0)) {
			VRM_TRUE(!stat(vmm_g, &st));
			VRM_EQ(st.st_mode & 07777, 0660);
			VRM_EQ(st.st_gid, NOBODY);
			VRM_TRUE(!stat(c2, &st));
			VRM_EQ(st.st_mode & 07777, 0600);
			chmod(dir, 0711);
			/* The group's member: in by the file and by its gid (its
			 * session then ends: no back-end listens). */
			vmm_as(vmm_g, NOBODY, NOBODY, (gid_t)-1, &child);
			snprintf(needle, sizeof(needle), "device netg: VMM pid %d connected", (int)child);
			VRM_TRUE(peer_log_has(&d2, needle, 2000));
			/* uid daemon (1), in the group only as a supplementary one:
			 * the file lets it in, --allow-uid admits it. */
			vmm_as(vmm_g, 1, 1, NOBODY, &child);
			snprintf(needle, sizeof(needle), "device netg: VMM pid %d connected", (int)child);
			VRM_TRUE(peer_log_has(&d2, needle, 2000));
			/* Another uid, the same way in: refused. */
			vmm_as(vmm_g, 2, 2, NOBODY, &child);
			snprintf(needle, sizeof(needle), "VMM connection refused: pid %d uid 2", (int)child);
			VRM_TRUE(peer_log_has(&d2, needle, 2000));
			chmod(dir, 0700);
			VRM_TRUE(WIFEXITED(peer_stop(&d2, SIGTERM)));
		}
		rmdir(r2);
	}
}
