// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* vu_driver against back-ends that misbehave. */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "peers.h"
#include "test.h"
#include "vu_wire.h"
#include "vhost_test.h"

/* ---- the driver against a back-end that misbehaves ---- */

enum fake_mode { FAKE_CLOSE, FAKE_GARBAGE, FAKE_WRONG_REPLY, FAKE_CLOSE_LATER, FAKE_CLOSE_RUNNING };

/* A back-end in a child process: takes one connection, answers
 * GET_FEATURES the way `mode` says. */
static pid_t fake_backend(const char *path, enum fake_mode mode)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int lsn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	pid_t pid;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		close(lsn);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if (lsn < 0 || bind(lsn, (struct sockaddr *)&sa, sizeof(sa)) || listen(lsn, 1)) {
		if (lsn >= 0)
			close(lsn);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		static const uint8_t garbage[12] = { 1, 0, 0, 0, 7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
		struct vu_msg m, r;
		int c = accept(lsn, NULL, NULL);

		if (c < 0 || vu_recv(c, &m) != 1)
			_exit(1);
		switch (mode) {
		case FAKE_CLOSE:
			break;
		case FAKE_GARBAGE:
			if (write(c, garbage, sizeof(garbage)) < 0)
				_exit(1);
			sleep_ms(1000);
			break;
		case FAKE_WRONG_REPLY:
			vu_msg_init(&r, VU_SET_MEM_TABLE);
			r.flags |= VU_FLAG_REPLY;
			vu_put_u64(&r, 0, 0);
			vu_send(c, &r);
			sleep_ms(1000);
			break;
		case FAKE_CLOSE_LATER:
			/* Offers little, then goes away mid-configuration. */
			vu_msg_init(&r, VU_GET_FEATURES);
			r.flags |= VU_FLAG_REPLY;
			vu_put_u64(&r, 0, BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF));
			vu_send(c, &r);
			vu_recv(c, &m);		/* SET_OWNER */
			break;
		case FAKE_CLOSE_RUNNING:
			/* Same, but lets the set-up messages (no replies
			 * asked) land in the socket first: the driver sees
			 * the close once its rings run. */
			vu_msg_init(&r, VU_GET_FEATURES);
			r.flags |= VU_FLAG_REPLY;
			vu_put_u64(&r, 0, BIT(VU_F_VERSION_1) | BIT(VU_NET_F_MRG_RXBUF));
			vu_send(c, &r);
			sleep_ms(500);
			break;
		}
		close(c);
		_exit(0);
	}
	close(lsn);
	return pid;
}

VRM_TEST(driver)
{
	static const struct {
		const char *name;
		enum fake_mode mode;
		const char *msg;
	} cases[] = {
		{ "backend_closes", FAKE_CLOSE,
		  "GET_FEATURES failed: the back-end closed the connection" },
		{ "backend_garbage", FAKE_GARBAGE,
		  "GET_FEATURES failed: malformed message from the back-end" },
		{ "backend_wrong_reply", FAKE_WRONG_REPLY,
		  "GET_FEATURES failed: unexpected reply from the back-end" },
		{ "backend_closes_mid_setup", FAKE_CLOSE_LATER, "the back-end closed the connection" },
		{ "backend_closes_running", FAKE_CLOSE_RUNNING, "the back-end closed the connection" },
	};
	char dir[64] = "", sock[128];

	find_tools();
	if (peers_tmpdir(dir, sizeof(dir), "vhost-drv"))
		return;
	snprintf(sock, sizeof(sock), "%s/fake.sock", dir);
	for (int arch = 0; arch < 2; arch++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct drv r;
			pid_t fb;

			if (!vrm_subtest("%s_%s", cases[i].name, arch ? "s390x" : "native") ||
			    (arch && !want_s390x()))
				continue;
			fb = fake_backend(sock, cases[i].mode);
			if (!VRM_TRUE(fb > 0))
				continue;
			if (VRM_EQ(drv_start(&r, dir, arch, sock, "--modern", NULL), 0)) {
				drv_wait(&r, 30000);
				VRM_EQ(r.status, 2);		/* protocol error, no crash */
				VRM_TRUE(drv_log_has(&r, cases[i].msg));
				if (!drv_log_has(&r, cases[i].msg) || vrm_test_verbose())
					dump_log("vu_driver", r.log);
			}
			kill(fb, SIGKILL);
			waitpid(fb, NULL, 0);
		}
	}
	if (vrm_subtest("usage")) {
		struct drv r;

		if (VRM_EQ(drv_start(&r, dir, false, sock, "--ring", "100", NULL), 0)) {
			drv_wait(&r, 10000);
			VRM_EQ(r.status, 2);
			VRM_TRUE(drv_log_has(&r, "bad value for --ring: 100"));
		}
	}
	peers_rmdir(dir);
}
