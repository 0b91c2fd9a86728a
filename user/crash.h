/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
#ifndef VRINGMED_CRASH_H
#define VRINGMED_CRASH_H

/* SIGSEGV, SIGILL, SIGFPE and SIGABRT print the signal, the address and
 * the stack on stderr before the default action (crash.c). */
void vrm_crash_install(void);

#endif
