/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What several of test_bpf's subject files use (common.c). */
#ifndef VRINGMED_TEST_BPF_H
#define VRINGMED_TEST_BPF_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "bfx.h"
#include "loader.h"
#include "rig.h"
#include "bpf_once.h"

/* A queue in the maps of the object the tests share (testlib/bfx.h). */
void bfx_setup(struct bfx *f, uint32_t slot, uint16_t size, int be);
/* One kick of the queue under BPF_PROG_TEST_RUN: its verdict. */
uint32_t bkick(struct bfx *f, uint32_t *chains);
const char *order_name(int be);
/* The write() hook this kernel runs (vrm_tp_write, or vrm_tp_write_pre62
 * before Linux 6.2): the name its link is pinned under. */
const char *write_prog(void);
/* bpf(), for a test that kicks through BPF_PROG_TEST_RUN (vrm_test_kick):
 * NULL with a skip that says why where that program is not loaded (Linux
 * before 6.2; real_kicks and kernel_kicks cover such a kernel). */
struct vrm_bpf *bpf_tk(void);
/* One kick of n chains: the backend woke to exactly the new chains, all
 * intact. */
void kick_ok(struct rig *r, unsigned n);
/* vringmedd with pin root `root`, started and ready; its pid, or -1. */
pid_t daemon_start(const char *root, FILE **out);
void daemon_reap(pid_t pid, FILE *out, int sig, int *status);

#endif
