// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <liburing.h>

#include "ksignal.h"

int kernel_signal(int efd)
{
	struct io_uring ring;
	struct io_uring_cqe *cqe;
	int err = io_uring_queue_init(4, &ring, 0);

	if (err)
		return err;
	err = io_uring_register_eventfd(&ring, efd);
	if (!err) {
		io_uring_prep_nop(io_uring_get_sqe(&ring));
		err = io_uring_submit_and_wait(&ring, 1);
		if (err == 1 && !io_uring_peek_cqe(&ring, &cqe))
			err = 0;
	}
	io_uring_queue_exit(&ring);
	return err;
}
