// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The proxy's dirty log, for a live migration (vhost-user "Migration"): the
 * VMM's bitmap, one bit per VU_LOG_PAGE bytes of guest-physical memory,
 * shared through a memory file (PROTOCOL_F_LOG_SHMFD).  While the VMM has
 * LOG_ALL set, whoever writes guest memory marks the pages it wrote, and the
 * VMM sends those pages again.  Two writers here:
 *   - the back-end, for the guest buffers it fills (received frames, block
 *     reads): it is handed the bitmap (its own dup of the fd) and logs by
 *     guest address, as it would behind a VMM;
 *   - the mediator's used path (vrm_env_wrote in the core): used entries,
 *     used idx and flags, the RX net headers written back in guest order.
 * The shadow region is the mediator's memory, not guest RAM: its rings go
 * to the back-end without VHOST_VRING_F_LOG and the used path marks only
 * what lies in a guest region.  The bitmap and its sizes are the VMM's,
 * untrusted: a mark past its end is dropped (and counted), never written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "log.h"
#include "proxy_int.h"
#include "vu_wire.h"

/* Larger than any guest this daemon serves (a bit per 4 KiB: 32 GiB of
 * bitmap is 1 PiB of guest memory); bounds what a VMM makes us map. */
#define VRP_LOG_MAX	(32ull << 30)

/* Marks the pages of [gpa, gpa + len), written by the used path. */
static void vrp_log_mark(void *ctx, __u64 gpa, __u64 len)
{
	struct vrp_log *l = ctx;
	uint64_t page, last;

	if (!len || gpa + len < gpa)
		return;
	/* The guest write is visible before the bit that sends its page:
	 * the VMM takes the bits (an atomic exchange) and then reads the
	 * page.  Linux vhost's log_write has the same smp_wmb. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	last = (gpa + len - 1) / VU_LOG_PAGE;
	for (page = gpa / VU_LOG_PAGE; page <= last; page++) {
		if (page / 8 >= l->size) {
			l->beyond++;
			return;
		}
		/* Atomic: the back-end and the VMM touch the same bytes. */
		__atomic_fetch_or(&l->bits[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELAXED);
		l->marks++;
	}
}

static void vrp_log_unmap(struct vrp_log *l)
{
	if (l->map)
		munmap(l->map, l->map_len);
	if (l->fd >= 0)
		close(l->fd);
	*l = (struct vrp_log){ .fd = -1 };
}

/* The VMM's bitmap of `size` bytes at `off` in `fd`, checked and mapped
 * into `l`, with a dup of the fd.  0 or -errno. */
static int vrp_log_map(struct vrm_proxy *p, struct vrp_log *l, int fd, uint64_t size, uint64_t off)
{
	struct stat st;
	int err;

	if (!size || size > VRP_LOG_MAX || off > VRP_LOG_MAX || fstat(fd, &st) ||
	    !S_ISREG(st.st_mode) || (uint64_t)st.st_size < off + size) {
		vrp_err(p, "SET_LOG_BASE: the log (%llu bytes at %llu) is not inside its memory file",
			(unsigned long long)size, (unsigned long long)off);
		return -EINVAL;
	}
	l->map_len = off + size;
	l->map = mmap(NULL, l->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (l->map == MAP_FAILED) {
		err = -errno;
		l->map = NULL;
		vrp_err(p, "cannot map the dirty log (%llu bytes): %s",
			(unsigned long long)l->map_len, strerror(-err));
		return err;
	}
	l->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (l->fd < 0) {
		err = -errno;
		munmap(l->map, l->map_len);
		l->map = NULL;
		return err;
	}
	l->bits = (uint8_t *)l->map + off;
	l->size = size;
	l->offset = off;
	return 0;
}

/* The back-end gets the bitmap `l` (the fd passed over the socket is its
 * own) and answers once it mapped it.  0, or -errno: the session ends,
 * for a back-end that writes guest memory unlogged would corrupt the
 * destination.  While the back-end is down, its replay brings it the log. */
static int vrp_be_log_base(struct vrm_proxy *p, const struct vrp_log *l)
{
	struct vu_msg m, rep;
	int err;

	if (p->be_down || p->be.fd < 0)
		return 0;
	if (!(p->be_pf & BIT(VU_PF_LOG_SHMFD)))
		return -EPROTO;
	vu_msg_init(&m, VU_SET_LOG_BASE);
	vu_put_u64(&m, 0, l->size);
	vu_put_u64(&m, 8, l->offset);
	m.fds[0] = l->fd;
	m.nfds = 1;
	err = vu_call(p->be.fd, &m, &rep);
	if (err) {
		vrp_err(p, "back-end %s: SET_LOG_BASE: %s", p->cfg.backend_path, strerror(-err));
		return err;
	}
	vu_msg_close_fds(&rep);
	return 0;
}

/*
 * SET_LOG_BASE: a migration starts, or the guest's memory grew and the VMM
 * made a larger bitmap.  The new one is mapped, and the back-end has it,
 * before the old one goes: no write between the two is left unmarked.
 * Answered (an empty SET_LOG_BASE, as LOG_SHMFD asks) only after the
 * back-end answered: from then on every write of either is in the log.
 */
enum vrp_result vrp_set_log_base(struct vrm_proxy *p, struct vrp_req *req)
{
	struct vrp_log nl = { .fd = -1 };
	struct vu_msg rep;
	int err;

	if (!(p->vmm_pf & BIT(VU_PF_LOG_SHMFD))) {
		close(req->fd);
		vrp_err(p, "SET_LOG_BASE without LOG_SHMFD negotiated");
		return vrp_refuse(req, -EPROTO);
	}
	err = vrp_log_map(p, &nl, req->fd, vu_get_u64(req->m, 0), vu_get_u64(req->m, 8));
	close(req->fd);
	if (err)
		return vrp_refuse(req, err);
	err = vrp_be_log_base(p, &nl);
	if (err) {
		vrp_log_unmap(&nl);
		return vrp_fatal(req, err);
	}
	nl.marks = p->log.marks;
	nl.beyond = p->log.beyond;
	vrp_log_unmap(&p->log);
	p->log = nl;
	p->log.dirty = (struct vrm_ux_dirty){ .mark = vrp_log_mark, .ctx = &p->log };
	pr_info("device %s: dirty log of %llu bytes (guest memory up to %llu MiB): the "
		"back-end and the used path log their writes\n", p->cfg.name,
		(unsigned long long)p->log.size,
		(unsigned long long)(p->log.size * 8 * VU_LOG_PAGE >> 20));
	vu_msg_init(&rep, VU_SET_LOG_BASE);
	return vrp_replied(req, vrp_reply(p, req->m, &rep));
}

/* SET_LOG_FD: the eventfd a back-end signals after it logged (no VMM we
 * know sends it); the back-end gets it, ours is closed. */
enum vrp_result vrp_set_log_fd(struct vrm_proxy *p, struct vrp_req *req)
{
	int err = vrp_be_u64(p, VU_SET_LOG_FD, 0, req->fd);

	close(req->fd);
	return vrp_sent(req, err);
}

/* The used path's log, or NULL while the VMM does not log (no LOG_ALL, or
 * no bitmap yet). */
const struct vrm_ux_dirty *vrp_log_dirty(struct vrm_proxy *p)
{
	return p->log.bits && (p->guest_features & BIT(VU_F_LOG_ALL)) ? &p->log.dirty : NULL;
}

/* A back-end that came back is given the bitmap again.  0 or -errno. */
int vrp_log_replay(struct vrm_proxy *p)
{
	return p->log.bits ? vrp_be_log_base(p, &p->log) : 0;
}

void vrp_log_close(struct vrm_proxy *p)
{
	unsigned long marks = p->log.marks, beyond = p->log.beyond;

	if (p->log.bits)
		pr_debug("device %s: dirty log closed: %lu pages marked, %lu writes past its end\n",
			 p->cfg.name, marks, beyond);
	vrp_log_unmap(&p->log);
}
