/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The real BPF object a test binary shares among its tests (bpf_once.c). */
#ifndef VRINGMED_BPF_ONCE_H
#define VRINGMED_BPF_ONCE_H

#include "loader.h"

/* The loaded and attached object, loaded by the first bpf() call:
 * loading and attaching it once a test would multiply the run time. */
extern struct vrm_bpf B;

/* &B, or NULL when it did not load: the test is then skipped when not
 * root, failed when root. */
struct vrm_bpf *bpf(void);
/* Closes B if it loaded; the next bpf() loads it again. */
void bpf_close(void);

#endif
