/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * vhost-user messages on a unix stream socket: framing, fd passing and the
 * little-endian field accessors.  Shared by vringmedd's two faces and by the
 * test drivers (which may run big-endian under qemu-user).
 */
#ifndef VRINGMED_VU_WIRE_H
#define VRINGMED_VU_WIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <vringmed/vhost_user.h>

/* Receives one message.  Returns 1, 0 on orderly EOF before a header, or
 * -errno: -EBADMSG for a malformed header (bad version, size over
 * VU_MAX_PAYLOAD, more fds than VU_MAX_FDS), -EPIPE for EOF mid-message.
 * Any fds received are owned by the message (vu_msg_close_fds). */
int vu_recv(int sock, struct vu_msg *m);

/* Sends `m` (request, flags, size, payload, fds).  0 or -errno. */
int vu_send(int sock, const struct vu_msg *m);

void vu_msg_close_fds(struct vu_msg *m);
/* Takes fd i out of the message (-1 when absent); the caller owns it. */
int vu_msg_take_fd(struct vu_msg *m, int i);

/* Starts a request (version flag set, size 0, no fds). */
void vu_msg_init(struct vu_msg *m, uint32_t request);
/* Little-endian payload accessors at byte offset `off`; growing size. */
void vu_put_u32(struct vu_msg *m, uint32_t off, uint32_t v);
void vu_put_u64(struct vu_msg *m, uint32_t off, uint64_t v);
uint32_t vu_get_u32(const struct vu_msg *m, uint32_t off);
uint64_t vu_get_u64(const struct vu_msg *m, uint32_t off);

/* A ring-state request (struct vhost_vring_state): ring `idx`, `num`. */
void vu_msg_state(struct vu_msg *m, uint32_t request, uint32_t idx, uint32_t num);

/* Sends a request and, when it has one, waits for the reply to the same
 * request (skipping nothing: anything else is -EPROTO). */
int vu_call(int sock, struct vu_msg *req, struct vu_msg *reply);
/* A request whose payload is one u64 (and maybe one fd): SET_FEATURES & co.
 * vu_send_u64 is the VMM side's (the test drivers play the VMM over this
 * same wire code); the proxy builds with vu_msg_u64 and sends itself. */
void vu_msg_u64(struct vu_msg *m, uint32_t request, uint64_t v, int fd);
int vu_send_u64(int sock, uint32_t request, uint64_t v, int fd);
/* Convenience: GET_FEATURES / GET_PROTOCOL_FEATURES / GET_QUEUE_NUM. */
int vu_get_u64_reply(int sock, uint32_t request, uint64_t *v);

const char *vu_request_name(uint32_t request);

#endif
