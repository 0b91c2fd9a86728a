// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A last word from a daemon that crashes: which signal, where, and the
 * stack, on stderr (the journal), then the default action (a core dump
 * where enabled; systemd's Restart= starts it again, and the new daemon
 * adopts the pins).  Only async-signal-safe calls: write(2) and
 * backtrace_symbols_fd(), whose library is loaded at install time, not in
 * the handler.  SIGBUS is not here: uxlate.c's guard owns it.
 */
#include <execinfo.h>
#include <stdbool.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "log.h"

static bool vrm_crash_journal;

static void vrm_crash_say(const char *s)
{
	ssize_t n = write(STDERR_FILENO, s, strlen(s));

	(void)n;
}

/* v in hex, into buf (at least 19 bytes). */
static const char *vrm_crash_hex(unsigned long v, char *buf)
{
	char *p = buf + 18;

	*p = 0;
	do {
		*--p = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v && p > buf + 2);
	*--p = 'x';
	*--p = '0';
	return p;
}

/* v in decimal, into buf (at least 21 bytes). */
static const char *vrm_crash_dec(unsigned long v, char *buf)
{
	char *p = buf + 20;

	*p = 0;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v && p > buf);
	return p;
}

static void vrm_crash_handler(int sig, siginfo_t *si, void *uc)
{
	void *frames[48];
	char num[21];
	int n;

	(void)uc;
	if (vrm_crash_journal)
		vrm_crash_say("<2>");	/* LOG_CRIT */
	vrm_crash_say("vringmedd: fatal signal ");
	vrm_crash_say(sigabbrev_np(sig) ?: "?");
	if (si->si_code <= 0) {	/* kill(), tgkill(), abort(): sent, not a fault */
		vrm_crash_say(" sent by pid ");
		vrm_crash_say(vrm_crash_dec((unsigned long)si->si_pid, num));
	} else {
		vrm_crash_say(" at address ");
		vrm_crash_say(vrm_crash_hex((unsigned long)si->si_addr, num));
	}
	vrm_crash_say("; the pins stay, and the next vringmedd adopts them.  Stack "
		      "(addr2line -f -e vringmedd OFFSET):\n");
	n = backtrace(frames, 48);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	signal(sig, SIG_DFL);
	raise(sig);
}

void vrm_crash_install(void)
{
	static const int sigs[] = { SIGSEGV, SIGILL, SIGFPE, SIGABRT };
	struct sigaction sa = { .sa_sigaction = vrm_crash_handler,
				.sa_flags = SA_SIGINFO | SA_RESETHAND };
	void *warm[1];

	vrm_crash_journal = vrm_log_to_journal();
	/* backtrace() loads libgcc on its first call: not in a handler. */
	backtrace(warm, 1);
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}
