// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target: vhost-user framing as vringmedd receives it from a VMM
 * or a back-end (user/vu_wire.c): the fuzz input is the byte stream on a
 * real unix socket, with up to 12 real eventfds passed alongside the first
 * bytes.  Every message vu_recv() accepts must respect the caps, every
 * payload accessor must stay inside the message whatever offset it is given,
 * and when the stream ends no fd may be left open (ASan, UBSan, and an fd
 * count before and after).
 *
 * Input: [0] fds to pass (low nibble, 0..12), [1..2] where the first write
 * ends, then the stream.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include "vu_wire.h"

#define FUZZ_NAME "fuzz_vu_wire"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2], fds[12], nfds, before, rc;
	size_t first;
	struct vu_msg m;

	if (size < 4 || size > 100000)
		return 0;
	nfds = (data[0] & 15) % 13;
	first = (data[1] | (size_t)data[2] << 8) % (size - 3) + 1;
	data += 3;
	size -= 3;
	before = fuzz_open_fds();
	CHECK(!socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), "socketpair");
	for (int i = 0; i < nfds; i++)
		CHECK((fds[i] = eventfd(0, EFD_CLOEXEC)) >= 0, "eventfd");
	CHECK(fuzz_send(sv[0], data, first, fds, nfds, 0) == (ssize_t)first, "sendmsg failed");
	if (first < size)
		CHECK(fuzz_send(sv[0], data + first, size - first, NULL, 0, 0) ==
		      (ssize_t)(size - first), "sendmsg failed");
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	shutdown(sv[0], SHUT_WR);

	while ((rc = vu_recv(sv[1], &m)) == 1) {
		CHECK(m.size <= VU_MAX_PAYLOAD, "payload of %u bytes accepted", m.size);
		CHECK(m.nfds <= VU_MAX_FDS, "%d fds accepted", m.nfds);
		CHECK((m.flags & VU_VERSION_MASK) == VU_VERSION, "version 0x%x accepted", m.flags);
		(void)vu_request_name(m.request);
		/* Offsets from the stream itself: the accessors must bound
		 * them, whatever they are. */
		for (uint32_t k = 0; k + 4 <= m.size && k < 64; k += 4) {
			uint32_t off = vu_get_u32(&m, k);

			(void)vu_get_u32(&m, off);
			(void)vu_get_u64(&m, off);
		}
		(void)vu_get_u32(&m, UINT32_MAX - 1);
		(void)vu_get_u64(&m, UINT32_MAX - 5);
		vu_put_u32(&m, UINT32_MAX - 1, 0);
		vu_put_u64(&m, UINT32_MAX - 5, 0);
		CHECK(m.size <= VU_MAX_PAYLOAD, "a put grew the payload to %u", m.size);
		if (m.nfds)
			close(vu_msg_take_fd(&m, 0));
		vu_msg_close_fds(&m);
	}
	CHECK(rc <= 0, "vu_recv returned %d", rc);
	close(sv[0]);
	close(sv[1]);
	CHECK(fuzz_open_fds() == before, "fds leaked: %d open before, %d after", before, fuzz_open_fds());
	return 0;
}
