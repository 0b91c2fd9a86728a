/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vhost-user front-end the test drivers share (vu_driver, vu_blk_driver):
 * one connection to a back-end, the request helpers a driver calls in
 * QEMU's order, and one way to fail.  Built natively and for s390x.
 */
#ifndef VRM_VU_CLIENT_H
#define VRM_VU_CLIENT_H

#include <stdint.h>
#include "vu_wire.h"

/* Exit status of a driver whose back-end broke the protocol. */
#define VUC_EXIT_PROTO	2

/* The connection; -1 before vuc_connect(). */
extern int vuc_sock;

/* Called first when a request fails; a driver that retries (vu_driver's
 * reconnect) jumps out of it.  If it returns, the failure is printed and
 * the driver exits with VUC_EXIT_PROTO. */
extern void (*vuc_on_error)(const char *what, int err);

/* Set once by the driver: the name its messages start with. */
void vuc_init(const char *who);
int64_t vuc_now_ms(void);
void vuc_sleep_ms(int ms);
__attribute__((noreturn)) void vuc_die(const char *what, int err);

/* Connect to PATH, trying for 5 s while it does not exist or refuses;
 * replies are waited for at most 5 s.  Exits when it cannot. */
int vuc_connect(const char *path);
void vuc_send(struct vu_msg *m);
void vuc_send_u64(uint32_t req, uint64_t v, int fd);
uint64_t vuc_get_u64(uint32_t req);
/* A vring state request: { index, num }. */
void vuc_send_state(uint32_t req, uint32_t idx, uint32_t num);
/* One memory region, GPA..GPA+SIZE at the driver's address UADDR in FD
 * (under qemu-s390x-static guest_base is 0: the address is the host's). */
void vuc_set_mem_table(uint64_t gpa, uint64_t size, const void *uaddr, int fd);
/* The ring's parts by the driver's addresses, no logging. */
void vuc_set_vring_addr(uint32_t idx, const void *desc, const void *used, const void *avail);

#endif
