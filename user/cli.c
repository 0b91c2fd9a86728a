// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* See cli.h. */
#include <string.h>

#include "cli.h"

void vrm_usage_row(FILE *f, const char *left, int width, const char *help)
{
	int indent = width + 2;

	if ((int)strlen(left) > width)
		fprintf(f, "  %s\n%*s", left, indent, "");
	else
		fprintf(f, "  %-*s", width, left);
	for (;;) {
		size_t len = strcspn(help, "\n");

		fprintf(f, " %.*s\n", (int)len, help);
		if (!help[len])
			break;
		help += len + 1;
		fprintf(f, "%*s", indent, "");
	}
}
