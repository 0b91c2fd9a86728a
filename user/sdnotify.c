// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* sd_notify without libsystemd: see sdnotify.h. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "num.h"
#include "sdnotify.h"

int vrm_sd_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, err = 1;

	if (!path || !*path)
		return 0;
	if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(sa.sun_path))
		return -EINVAL;
	strcpy(sa.sun_path, path);
	if (path[0] == '@')
		sa.sun_path[0] = 0;	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len) < 0)
		err = -errno;
	close(fd);
	return err;
}

unsigned long long vrm_sd_watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint32_t for_pid;
	uint64_t usec;

	/* Not ours (another process's, or unreadable): no watchdog to pet. */
	if (pid && (vrm_parse_u32(pid, 1, UINT32_MAX, &for_pid) || for_pid != (uint32_t)getpid()))
		return 0;
	return us && !vrm_parse_u64(us, 0, UINT64_MAX, &usec) ? usec : 0;
}
