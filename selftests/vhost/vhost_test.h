/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What test_vhost's subject files share: vu_driver runs (drv.c). */
#ifndef VRINGMED_TEST_VHOST_H
#define VRINGMED_TEST_VHOST_H

#include <stdbool.h>
#include <sys/types.h>

#define BIT(n)		(1ull << (n))
#define DRIVER_WAIT_MS	90000	/* a driver that outlives this is killed */
#define VIA_SKIP	"VRINGMED_VIA=0 in the environment"

/* One vu_driver run: its process, its log (stdout + stderr) and the
 * summary line parsed from it. */
struct drv {
	pid_t pid;
	int status;		/* exit code, or 128 + signal */
	char log[256];
	bool have_line;
	char mode[16], order[16], result[8];
	int mrg;
	unsigned sent, received, bad_header, bad_payload, pauses, bad_pauses, stray_writes;
};

/* Where this binary and vu_driver live, and qemu-s390x-static (or ""):
 * found once by find_tools(), read-only after. */
extern char bindir[256];
extern char qemu[512];

void sleep_ms(int ms);
void find_tools(void);
/* Starts vu_driver (s390x: under qemu-s390x-static) with the given
 * arguments (NULL-terminated), output to a log file in `dir`. */
int drv_start(struct drv *r, const char *dir, bool s390x, const char *sock, ...);
/* Reads the driver's summary line from its log into r. */
void drv_parse(struct drv *r);
bool drv_log_has(const struct drv *r, const char *needle);
/* Waits for the driver to exit (killing it after `ms`); parses its line. */
int drv_wait(struct drv *r, int ms);
/* Prints the log at `path` under the heading `what`. */
void dump_log(const char *what, const char *path);
/* Whether run r is what a back-end whose receive ring was not ready yet
 * gives (frames sent and dropped, none spoiled, every TX chain returned):
 * then said, with the driver's log, and the caller runs once more. */
bool drv_not_ready(const struct drv *r, const char *what);
/* One run to completion; true when it passed as expected. */
bool drv_run_pass(const char *dir, bool s390x, const char *sock, const char *mode,
		  const char *want_order);
/* Whether the s390x driver can run here (a skip says why not). */
bool want_s390x(void);

#endif
