/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * vringmedd's Prometheus endpoint: GET /metrics on ADDR:PORT (default
 * VRM_METRICS_ADDR:VRM_METRICS_PORT, defaults.h), served by libmicrohttpd
 * from its own thread, the text rendered from the maps at every scrape
 * (view.c).
 */
#ifndef VRINGMED_METRICS_H
#define VRINGMED_METRICS_H

#include <stdint.h>

#include "defaults.h"	/* VRM_METRICS_ADDR, VRM_METRICS_PORT */

struct vrm_bpf;
struct vrm_metrics;

/* 0 or -errno (logged: e.g. the port is taken). */
int vrm_metrics_start(struct vrm_metrics **out, struct vrm_bpf *b, const char *addr, unsigned port);
/* Labels only the daemon knows; backend NULL forgets the slot. */
void vrm_metrics_set_device(struct vrm_metrics *m, uint32_t slot, const char *backend,
			   const char *state, const char *kick_path);
/* The used path's calls to the guest of a slot's `nq` queues, and those the
 * guest asked not to get (counters since the daemon started). */
void vrm_metrics_set_calls(struct vrm_metrics *m, uint32_t slot, const unsigned long *calls,
			  const unsigned long *suppressed, unsigned nq);
/* What event idx saved of a slot's `nq` queues: the guest's kicks and
 * calls, the back-end's kicks. */
void vrm_metrics_set_eidx(struct vrm_metrics *m, uint32_t slot, const unsigned long *kicks,
			 const unsigned long *calls, const unsigned long *be_kicks,
			 const unsigned long *rescues, unsigned nq);
/* Their polling: periods, chains translated meanwhile, kicks for a batch's
 * first part, microseconds. */
void vrm_metrics_set_poll(struct vrm_metrics *m, uint32_t slot, const unsigned long *periods,
			 const unsigned long *chains, const unsigned long *first_kicks,
			 const unsigned long *us, unsigned nq);
void vrm_metrics_stop(struct vrm_metrics *m);

/* "ADDR:PORT", ":PORT", "PORT" or "none" -> addr, port (0: off).  0 or -EINVAL. */
int vrm_metrics_parse(const char *spec, char *addr, unsigned addrlen, unsigned *port);

#endif
