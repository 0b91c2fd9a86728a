/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A queue's counters as JSON, one shape for the daemon's `stats` and
 * vringmedctl's listings (which add what each knows besides).
 */
#ifndef VRINGMED_QSTATS_JSON_H
#define VRINGMED_QSTATS_JSON_H

#include <jansson.h>
#include <vringmed/abi.h>
#include "uxlate.h"

/* {"queue", "kicks", ..., "errors": {verdict name: count}}. */
static inline json_t *vrm_qstats_json(const struct vrm_qstats *st, unsigned q)
{
	json_t *errs = json_object();

	for (__u32 v = VRM_AVAIL_JUMP; v < VRM_VERDICT_NR; v++)
		if (st->errors[v])
			json_object_set_new(errs, vrm_verdict_name(v),
					    json_integer((json_int_t)st->errors[v]));
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "queue", (int)q,
			 "kicks", (json_int_t)st->kicks, "kicks_empty", (json_int_t)st->kicks_empty,
			 "chains", (json_int_t)st->chains, "descriptors", (json_int_t)st->descs,
			 "indirect_tables", (json_int_t)st->indirect,
			 "used", (json_int_t)st->used, "deferred", (json_int_t)st->deferred,
			 "read_faults", (json_int_t)st->read_faults,
			 "foreign", (json_int_t)st->foreign, "errors", errs);
}

#endif
