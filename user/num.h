/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Numbers from the command line, a configuration file or the environment,
 * checked: the whole string is the number, in decimal, within [min, max].
 * No sign and no white space before a whole number (strtoul would take
 * "-1" as its largest value, "12abc" as 12).  0, or -EINVAL when the text
 * is not such a number, -ERANGE when it is one outside [min, max]; *out is
 * set only on success.
 */
#ifndef VRINGMED_NUM_H
#define VRINGMED_NUM_H

#include <stdint.h>

int vrm_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);
int vrm_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A finite decimal number ("0.5", "2", "1e-1"). */
int vrm_parse_double(const char *s, double min, double max, double *out);

#endif
