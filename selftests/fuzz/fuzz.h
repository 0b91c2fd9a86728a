/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the fuzz targets share: an invariant that aborts with a reason, so
 * libFuzzer keeps the input and the log says what broke. */
#ifndef VRINGMED_FUZZ_H
#define VRINGMED_FUZZ_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			fprintf(stderr, FUZZ_NAME ": " __VA_ARGS__);	\
			fputc('\n', stderr);				\
			abort();					\
		}							\
	} while (0)

/* Open fds of this process: a target that leaks one fails its check. */
static inline int fuzz_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		abort();
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* One sendmsg of `len` bytes with up to 12 fds passed alongside. */
static inline ssize_t fuzz_send(int s, const void *p, size_t len, const int *fds, int nfds,
				int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 12)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { (void *)p, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 12)
		abort();
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	return sendmsg(s, &mh, flags);
}

#endif
