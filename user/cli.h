/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What vringmedd and vringmedctl share in talking to a user. */
#ifndef VRINGMED_CLI_H
#define VRINGMED_CLI_H

#include <stdio.h>

/* One row of a --help table: "  LEFT", then `help` from column width + 3,
 * each of its '\n'-separated lines there; below LEFT when LEFT is longer
 * than `width`. */
void vrm_usage_row(FILE *f, const char *left, int width, const char *help);

#endif
