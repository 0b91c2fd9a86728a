// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The whole vhost-user path with a real dpdk-testpmd (io forwarding: every
 * frame goes straight back) and vu_driver, a VMM plus virtio-net guest in
 * one process, run natively and as a big-endian s390x process under
 * qemu-s390x-static:
 *
 *   direct:  vu_driver -> testpmd.  Modern works in both byte orders; a
 *            big-endian legacy ring cannot work (testpmd has no
 *            CROSS_ENDIAN), and forced through anyway it garbles.
 *   via:     vu_driver -> vringmedd -> testpmd.  The big-endian legacy
 *            guest works, testpmd sees VERSION_1; a driver or a testpmd
 *            killed with SIGKILL takes down its own device only.
 *
 * VRINGMED_VIA=0 skips the "via" tests (with the reason printed), e.g. to
 * look at the direct cases alone.
 *
 * The tests are in this folder, one subject a file, run in the order the
 * Makefile lists the files; this file starts and watches vu_driver runs
 * for all of them.  Each test starts the peers it needs (testpmd, or
 * testpmd and vringmedd) in a folder of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "test.h"
#include "vhost_test.h"

const char *vrm_test_suite = "test_vhost";

char bindir[256];	/* where this binary and vu_driver live */
char qemu[512];		/* qemu-s390x-static, or "" */
int ndrv;

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

void find_tools(void)
{
	static bool done;
	char self[256], *slash, *path, *save = NULL;
	ssize_t n;

	if (done)
		return;
	done = true;
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = 0;
		slash = strrchr(self, '/');
		if (slash)
			*slash = 0;
		snprintf(bindir, sizeof(bindir), "%s", self);
	} else {
		snprintf(bindir, sizeof(bindir), ".output");
	}
	path = strdup(getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
	for (char *d = strtok_r(path, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char p[512];

		snprintf(p, sizeof(p), "%s/qemu-s390x-static", d);
		if (!access(p, X_OK)) {
			snprintf(qemu, sizeof(qemu), "%s", p);
			break;
		}
	}
	free(path);
}

/* Starts vu_driver (s390x: under qemu-s390x-static) with the given
 * arguments (NULL-terminated), output to a log file in `dir`. */
int drv_start(struct drv *r, const char *dir, bool s390x, const char *sock, ...)
{
	const char *argv[40];
	char exe[300];
	va_list ap;
	int n = 0, out;

	memset(r, 0, sizeof(*r));
	snprintf(r->log, sizeof(r->log), "%s/driver-%d.log", dir, ndrv++);
	snprintf(exe, sizeof(exe), "%s/vu_driver%s", bindir, s390x ? ".s390x" : "");
	if (s390x)
		argv[n++] = qemu;
	argv[n++] = exe;
	argv[n++] = "--socket";
	argv[n++] = sock;
	va_start(ap, sock);
	for (const char *a; n < 38 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;

	out = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	r->pid = fork();
	if (r->pid == 0) {
		dup2(out, 1);
		dup2(out, 2);
		close(0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out);
	return r->pid < 0 ? -errno : 0;
}

void drv_parse(struct drv *r)
{
	FILE *f = fopen(r->log, "r");
	char line[512];

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "vu_driver: mode=");

		if (s && sscanf(s, "vu_driver: mode=%15s order=%15s mrg_rxbuf=%d sent=%u "
				   "received=%u bad_header=%u bad_payload=%u bad_used=%*u tx_unreturned=%*u "
				   "reconnects=%*u away_dropped=%*u resent=%*u pauses=%u bad_pauses=%u "
				   "stray_writes=%u RESULT: %7s",
				r->mode, r->order, &r->mrg, &r->sent, &r->received,
				&r->bad_header, &r->bad_payload, &r->pauses, &r->bad_pauses,
				&r->stray_writes, r->result) == 11)
			r->have_line = true;
	}
	fclose(f);
}

bool drv_log_has(const struct drv *r, const char *needle)
{
	FILE *f = fopen(r->log, "r");
	char line[512];
	bool hit = false;

	if (!f)
		return false;
	while (!hit && fgets(line, sizeof(line), f))
		hit = strstr(line, needle) != NULL;
	fclose(f);
	return hit;
}

/* Waits for the driver to exit (killing it after `ms`); parses its line. */
int drv_wait(struct drv *r, int ms)
{
	int st = 0;

	for (int t = 0; r->pid > 0; t += 20) {
		pid_t w = waitpid(r->pid, &st, WNOHANG);

		if (w == r->pid)
			break;
		if (t >= ms) {
			kill(r->pid, SIGKILL);
			waitpid(r->pid, &st, 0);
			break;
		}
		sleep_ms(20);
	}
	r->pid = 0;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	drv_parse(r);
	return r->status;
}

void dump_log(const char *what, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	int n = 0;

	if (!f)
		return;
	printf("      --- %s (%s)\n", what, path);
	while (fgets(line, sizeof(line), f) && n++ < 40)
		printf("      | %s", line);
	fclose(f);
}

bool drv_not_ready(const struct drv *r, const char *what)
{
	/* The back-end took the transmit ring before its receive ring was
	 * ready and dropped what it could not deliver (a testpmd just
	 * started can).  A device that drops frames fails the second run
	 * too. */
	if (!r->status || !r->have_line || !r->sent || r->received >= r->sent ||
	    r->bad_header || r->bad_payload || !drv_log_has(r, "(0 in TX flight)"))
		return false;
	printf("      %s: sent %u, %u back, none spoiled, every TX chain returned (a back-end "
	       "not yet ready); once more\n", what, r->sent, r->received);
	dump_log("vu_driver", r->log);
	return true;
}

/* One run to completion; true when it passed as expected. */
bool drv_run_pass(const char *dir, bool s390x, const char *sock, const char *mode,
		  const char *want_order)
{
	struct drv r;
	bool ok;

	if (!VRM_EQ(drv_start(&r, dir, s390x, sock, mode, "--frames", "256", NULL), 0))
		return false;
	drv_wait(&r, DRIVER_WAIT_MS);
	if (drv_not_ready(&r, mode)) {
		if (!VRM_EQ(drv_start(&r, dir, s390x, sock, mode, "--frames", "256", NULL), 0))
			return false;
		drv_wait(&r, DRIVER_WAIT_MS);
	}
	ok = VRM_EQ(r.status, 0);
	ok &= VRM_TRUE(r.have_line);
	ok &= VRM_STREQ(r.result, "PASS");
	ok &= VRM_STREQ(r.order, want_order);
	ok &= VRM_EQ(r.sent, 256);
	ok &= VRM_EQ(r.received, 256);
	ok &= VRM_EQ(r.bad_header, 0);
	ok &= VRM_EQ(r.bad_payload, 0);
	if (!ok || vrm_test_verbose())
		dump_log("vu_driver", r.log);
	return ok;
}

bool want_s390x(void)
{
	find_tools();
	if (!qemu[0]) {
		vrm_skip("qemu-s390x-static not installed (make setup)");
		return false;
	}
	return true;
}
