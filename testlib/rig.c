// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "rig.h"
#include "ringgen.h"
#include "uxlate.h"

/* Our helper binaries sit next to the running executable. */
static const char *rig_bin(const char *name)
{
	static char path[PATH_MAX + 64];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0)
		return name;
	self[n] = 0;
	slash = strrchr(self, '/');
	if (slash)
		*slash = 0;
	snprintf(path, sizeof(path), "%s/%s", self, name);
	return path;
}

static uint64_t find_mapping(pid_t pid, const char *memfd_name)
{
	char path[64], line[512];
	unsigned long long start = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, memfd_name) && sscanf(line, "%llx-", &start) == 1)
			break;
	fclose(f);
	return start;
}

/* The backend: blocked in read() on the kick eventfd; at every wake it
 * reports the shadow avail idx it finds and whether every published
 * descriptor is what the driver wrote. */
static void backend_main(int kickfd, struct vrm_shadow_queue *sh, int out)
{
	uint16_t seen = 0;

	for (;;) {
		uint64_t v;
		uint16_t idx;
		int bad = 0;
		char line[64];

		if (read(kickfd, &v, sizeof(v)) != sizeof(v))
			_exit(0);
		idx = (uint16_t)tr_le(&sh->avail.idx, 2);
		__sync_synchronize();
		for (uint16_t s = seen; s != idx; s++) {
			uint16_t h = (uint16_t)tr_le(&sh->avail.ring[s % DRV_SIZE], 2);
			uint16_t d = (h + 1) % DRV_SIZE;

			bad |= tr_le(&sh->desc[h].addr, 8) != 0x10000 + 0x100ull * h;
			bad |= tr_le(&sh->desc[h].len, 4) != 16u + h;
			bad |= tr_le(&sh->desc[h].flags, 2) != VRM_VRING_DESC_F_NEXT;
			bad |= tr_le(&sh->desc[h].next, 2) != d;
			bad |= tr_le(&sh->desc[d].addr, 8) != 0x10000 + 0x100ull * d;
			bad |= tr_le(&sh->desc[d].len, 4) != 16u + d;
			bad |= tr_le(&sh->desc[d].flags, 2) != VRM_VRING_DESC_F_WRITE;
		}
		seen = idx;
		snprintf(line, sizeof(line), "%u %d\n", idx, bad);
		if (write(out, line, strlen(line)) < 0)
			_exit(1);
	}
}

int rig_start(struct vrm_bpf *b, struct rig *r)
{
	char name[32], a_mem[16], a_kick[16], a_gpa[16], a_size[16], line[64];
	const char *qemu = "qemu-s390x-static";
	int in[2], outp[2], rep[2];
	uint64_t vmm_va;
	long efd_id;
	void *local;

	if (r->slot >= VRM_MAX_DEVICES)
		return -EINVAL;
	r->qslot = VRM_QSLOT(r->slot, 0);
	snprintf(name, sizeof(name), "vm-guest-%u", r->slot);
	r->memfd = memfd_create(name, 0);
	r->kickfd = eventfd(0, 0);
	if (r->memfd < 0 || r->kickfd < 0 || ftruncate(r->memfd, DRV_MEM))
		return -errno;
	r->local = local = mmap(NULL, DRV_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (local == MAP_FAILED || pipe(in) || pipe(outp) || pipe(rep))
		return -errno;

	r->backend = fork();
	if (r->backend == 0) {
		close(rep[0]);
		backend_main(r->kickfd, &b->shadow[r->qslot], rep[1]);
		_exit(0);
	}
	close(rep[1]);
	r->report_f = fdopen(rep[0], "r");

	snprintf(a_mem, sizeof(a_mem), "%d", r->memfd);
	snprintf(a_kick, sizeof(a_kick), "%d", r->kickfd);
	snprintf(a_gpa, sizeof(a_gpa), "%d", DRV_RING_GPA);
	snprintf(a_size, sizeof(a_size), "%d", DRV_SIZE);
	r->driver = fork();
	if (r->driver == 0) {
		dup2(in[0], 0);
		dup2(outp[1], 1);
		close(in[1]);
		close(outp[0]);
		if (r->big_endian)
			execlp(qemu, qemu, rig_bin("legacy_driver.s390x"), a_mem, a_kick, a_gpa,
			       a_size, (char *)NULL);
		else
			execl(rig_bin("legacy_driver"), "legacy_driver", a_mem, a_kick, a_gpa,
			      a_size, (char *)NULL);
		perror("exec legacy driver");
		_exit(127);
	}
	close(in[0]);
	close(outp[1]);
	r->drv_in = fdopen(in[1], "w");
	r->drv_out = fdopen(outp[0], "r");
	if (!fgets(line, sizeof(line), r->drv_out) || strncmp(line, "ready", 5))
		return -EIO;

	/* What a daemon learns from vhost-user, learnt here from /proc. */
	vmm_va = find_mapping(r->driver, name);
	if (!vmm_va)
		return -ENOENT;
	efd_id = vrm_eventfd_id(0, r->kickfd);
	if (efd_id < 0)
		return (int)efd_id;

	struct vrm_device *dev = &b->devices[r->slot];
	struct vrm_queue *q = &b->queues[r->qslot];

	memset(dev, 0, sizeof(*dev));
	dev->tgid = r->driver;
	dev->order = r->big_endian ? VRM_ORDER_BE : VRM_ORDER_LE;
	dev->nregions = 1;
	dev->nqueues = 1;
	dev->first_queue = r->qslot;
	dev->regions[0] = (struct vrm_region){ 0, DRV_MEM, vmm_va, (uint64_t)(uintptr_t)local };
	vrm_ux_shadow_reset(&b->shadow[r->qslot]);
	vrm_ux_queue_setup(q, r->slot, DRV_SIZE, vmm_va + DRV_RING_GPA,
			   vmm_va + DRV_RING_GPA + vrm_legacy_avail_off(DRV_SIZE),
			   vmm_va + DRV_RING_GPA + vrm_legacy_used_off(DRV_SIZE));
	vrm_bpf_clear_stats(b, r->qslot);
	q->flags = VRM_QF_ENABLED;
	dev->flags = VRM_DF_ACTIVE;
	if (vrm_bpf_add_vmm(b, r->driver) || vrm_bpf_add_kickfd(b, efd_id, r->qslot))
		return -EIO;
	return 0;
}

int rig_kick(struct rig *r, unsigned n, unsigned *kicked, unsigned *seen, int *bad)
{
	char line[64];

	*kicked = *seen = 0;
	*bad = 1;
	fprintf(r->drv_in, "kick %u\n", n);
	fflush(r->drv_in);
	if (!fgets(line, sizeof(line), r->drv_out) || sscanf(line, "kicked %u", kicked) != 1)
		return -EIO;	/* the driver died */
	if (!fgets(line, sizeof(line), r->report_f) || sscanf(line, "%u %d", seen, bad) != 2)
		return -EPIPE;	/* the backend died */
	r->expect_idx += n;
	return 0;
}

void rig_stop(struct vrm_bpf *b, struct rig *r)
{
	if (r->drv_in)
		fclose(r->drv_in);
	if (r->driver > 0) {
		kill(r->driver, SIGTERM);
		waitpid(r->driver, NULL, 0);
		vrm_bpf_del_vmm(b, r->driver);
	}
	if (r->backend > 0) {
		kill(r->backend, SIGKILL);
		waitpid(r->backend, NULL, 0);
	}
	if (r->drv_out)
		fclose(r->drv_out);
	if (r->report_f)
		fclose(r->report_f);
	vrm_bpf_del_kickfd(b, vrm_eventfd_id(0, r->kickfd));
	b->devices[r->slot].flags = 0;
	b->queues[r->qslot].flags = 0;
	if (r->local && r->local != MAP_FAILED)
		munmap(r->local, DRV_MEM);
	close(r->memfd);
	close(r->kickfd);
}

bool rig_have_qemu_user(void)
{
	return system("command -v qemu-s390x-static >/dev/null 2>&1") == 0 &&
	       access(rig_bin("legacy_driver.s390x"), X_OK) == 0;
}

