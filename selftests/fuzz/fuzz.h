/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the fuzz targets share: an invariant that aborts with a reason, so
 * libFuzzer keeps the input and the log says what broke. */
#ifndef VRINGMED_FUZZ_H
#define VRINGMED_FUZZ_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, FUZZ_NAME ": " __VA_ARGS__);	\
			fputc('\n', stderr);				\
			abort();					\
		}							\
	} while (0)

#endif
