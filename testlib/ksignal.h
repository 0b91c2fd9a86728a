/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A kick the kernel signals on the VMM's behalf, as KVM does for an
 * ioeventfd: io_uring's registered eventfd, written when a completion is
 * posted, in the submitting task.  No write() happens, so the write()
 * tracepoint sees nothing; fentry on eventfd_signal_mask does.  Linking it
 * needs -luring.
 */
#ifndef VRINGMED_KSIGNAL_H
#define VRINGMED_KSIGNAL_H

/* Signals eventfd `efd` once through io_uring: 0, or -errno. */
int kernel_signal(int efd);

#endif
