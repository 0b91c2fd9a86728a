/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The keeper: a small process forked by vringmedd that holds a copy of each
 * device's VMM and back-end connections, so that a daemon that dies without
 * a word (a crash, kill -9) does not let the VMM go on before the back-end
 * has stopped.
 *
 * Why: the back-end reads and writes guest memory through the shadow rings
 * until it stops its rings.  A VMM that loses its vhost-user connection
 * takes its queues back at once (QEMU: the link goes down and every
 * transmit chain it finds is completed, length 0, from the guest's used
 * idx on); the guest then reuses those buffers.  Both connections close
 * together when the daemon dies, and a back-end still working through
 * those chains would send what the guest has since written over them.  So
 * when the daemon is gone, the keeper first has each back-end stop its
 * rings (GET_VRING_BASE, answered only once its data path let go of the
 * ring), and only then lets the connections close.  A daemon that ends a
 * session itself stops the back-end first and tells the keeper to let go
 * of both (vrm_keeper_hold with no fds).
 */
#ifndef VRINGMED_KEEPER_H
#define VRINGMED_KEEPER_H

#include <stdint.h>

/* Forks the keeper; called once, early, before any thread or connection
 * exists.  0, or -errno (the daemon runs on without one). */
int vrm_keeper_start(void);

/* Device slot `slot` has these connections (-1: none) and these rings the
 * back-end may be using (bit per ring).  Both -1: let go.  A no-op
 * without a keeper. */
void vrm_keeper_hold(uint32_t slot, int vmm_fd, int be_fd, uint32_t be_rings);

/* The keeper's pid, or 0. */
int vrm_keeper_pid(void);

#endif
