// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* An eventfd's identity as the kernel shows it (/proc/PID/fdinfo): the same
 * for every fd of every process that holds that eventfd. */
#include <errno.h>
#include <stdio.h>

#include "loader.h"

long vrm_eventfd_id(pid_t pid, int fd)
{
	char path[64], line[256];
	long id = -ENOENT;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	else
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "eventfd-id: %ld", &id) == 1)
			break;
	fclose(f);
	return id;
}
