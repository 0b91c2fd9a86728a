// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <dirent.h>
#include <stddef.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loader.h"
#include "log.h"
#include "vringmed.skel.h"
#include "probe_fentry.skel.h"

/* The address of the kernel function `name`, from /proc/kallsyms. */
static __u64 vrm_kallsyms_lookup(const char *name)
{
	char line[512], sym[256], type;
	unsigned long long addr;
	__u64 found = 0;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%llx %c %255s", &addr, &type, sym) != 3)
			continue;
		if ((type == 't' || type == 'T') && !strcmp(sym, name)) {
			found = addr;
			break;
		}
	}
	fclose(f);
	return found;
}

/* fentry needs BPF trampolines; some hosts refuse them (lockdown, no
 * CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS).  A tiny object tells. */
static int vrm_probe_fentry(void)
{
	struct probe_fentry_bpf *p;
	int err;

	vrm_log_libbpf_quiet(1);
	p = probe_fentry_bpf__open();
	if (!p) {
		err = -errno;
		goto out;
	}
	err = probe_fentry_bpf__load(p);
	if (!err)
		err = probe_fentry_bpf__attach(p);
	probe_fentry_bpf__destroy(p);
out:
	vrm_log_libbpf_quiet(0);
	return err;
}

/*
 * One shadow map per device slot, each mapped at its place in one reserved
 * range, so userspace sees every queue's shadow ring at b->shadow[queue
 * slot] as before while each back-end is given its own device's map only.
 * Maps a previous owner left in the (pinned) outer map are adopted.
 */
VRM_STATIC_ASSERT(VRM_SHADOW_DEV_BYTES % 4096 == 0, "a device's shadow map is whole pages");

static int vrm_shadow_maps(struct vrm_bpf *b)
{
	int outer = bpf_map__fd(b->skel->maps.vrm_shadows);
	/* Typed as the outer map's template was (vrm_bpf_load noted its BTF
	 * types before libbpf dropped it): a kernel before 6.2 takes an inner
	 * map only if it matches the template's BTF-derived layout. */
	LIBBPF_OPTS(bpf_map_create_opts, copts, .map_flags = BPF_F_MMAPABLE,
		    .btf_fd = bpf_object__btf_fd(b->skel->obj),
		    .btf_key_type_id = b->shadow_key_tid, .btf_value_type_id = b->shadow_value_tid);
	char *base;

	base = mmap(NULL, (size_t)VRM_MAX_DEVICES * VRM_SHADOW_DEV_BYTES, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	b->shadow = (struct vrm_shadow_queue *)base;
	for (__u32 slot = 0; slot < VRM_MAX_DEVICES; slot++) {
		char name[16];
		__u32 id;
		int fd;

		if (!bpf_map_lookup_elem(outer, &slot, &id)) {
			fd = bpf_map_get_fd_by_id(id);
			if (fd < 0) {
				pr_warn("failed to adopt the shadow map of device slot %u (map id %u): %s\n",
					slot, id, strerror(errno));
				return -errno;
			}
		} else {
			snprintf(name, sizeof(name), "vrm_shadow_d%u", slot);
			fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, name, sizeof(__u32),
					    sizeof(struct vrm_shadow_queue), VRM_DEV_QUEUES, &copts);
			if (fd < 0 || bpf_map_update_elem(outer, &slot, &fd, BPF_ANY)) {
				int err = -errno;

				pr_warn("failed to %s the shadow map of device slot %u: %s\n",
					fd < 0 ? "create" : "install", slot, strerror(errno));
				if (fd >= 0)
					close(fd);
				return err;
			}
		}
		b->shadow_fd[slot] = fd;
		if (mmap(base + (size_t)slot * VRM_SHADOW_DEV_BYTES, VRM_SHADOW_DEV_BYTES,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
			pr_warn("failed to mmap the shadow map of device slot %u: %s\n", slot,
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static void vrm_shadow_maps_close(struct vrm_bpf *b)
{
	if (b->shadow)
		munmap(b->shadow, (size_t)VRM_MAX_DEVICES * VRM_SHADOW_DEV_BYTES);
	b->shadow = NULL;
	for (int i = 0; i < VRM_MAX_DEVICES; i++) {
		if (b->shadow_fd[i] >= 0)
			close(b->shadow_fd[i]);
		b->shadow_fd[i] = -1;
	}
}

static void *vrm_map_mmap(struct bpf_map *map)
{
	size_t sz = (size_t)((bpf_map__value_size(map) + 7) & ~7u) * bpf_map__max_entries(map);
	void *p;

	sz = (sz + 4095) & ~(size_t)4095;
	p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, bpf_map__fd(map), 0);
	if (p == MAP_FAILED) {
		pr_warn("failed to mmap map %s: %s\n", bpf_map__name(map), strerror(errno));
		return NULL;
	}
	return p;
}

static void vrm_map_munmap(struct bpf_map *map, void *p)
{
	size_t sz = (size_t)((bpf_map__value_size(map) + 7) & ~7u) * bpf_map__max_entries(map);

	if (p)
		munmap(p, (sz + 4095) & ~(size_t)4095);
}

static void vrm_drop_link(const char *path);

/* A pinned map of an older layout whose state this build takes over. */
struct vrm_carried {
	int fd;
	__u32 value_size;
	struct bpf_map *map;	/* this build's */
};
#define VRM_CARRIED_MAX	3	/* vrm_queues, vrm_qstats, vrm_ustats */

/* The verdicts a vrm_qstats of `value_size` bytes counts, or 0 when it is
 * not that struct of an older build: one without the counters after
 * batch[] (VRM_QSTATS_TAIL), counting no more verdicts than this build's
 * (verdicts are only ever added, at the end of VRM_VERDICTS). */
static __u32 vrm_qstats_old_verdicts(__u32 value_size)
{
	__u32 fixed = sizeof(struct vrm_qstats) / 8 - VRM_VERDICT_NR - VRM_QSTATS_TAIL;

	if (value_size % 8 || value_size / 8 <= fixed || value_size >= sizeof(struct vrm_qstats) ||
	    value_size / 8 - fixed > VRM_VERDICT_NR)
		return 0;
	return value_size / 8 - fixed;
}

/* Is a pinned map `name` of `value_size` bytes an older layout this build
 * takes the state of (vrm_carry)?  vrm_queues without offered[] (a prefix of
 * this one), counters of fewer verdicts. */
static bool vrm_layout_carried(const char *name, __u32 value_size)
{
	if (!strcmp(name, VRM_MAP_QUEUES))
		return value_size == VRM_QUEUE_BYTES_NO_OFFERED;
	if (!strcmp(name, VRM_MAP_STATS) || !strcmp(name, VRM_MAP_USTATS))
		return vrm_qstats_old_verdicts(value_size) != 0;
	return false;
}

/* `src`, counters of `nr` verdicts, in this build's layout. */
static void vrm_qstats_carry(struct vrm_qstats *dst, const __u64 *src, __u32 nr)
{
	const size_t head = offsetof(struct vrm_qstats, errors) / 8;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst, src, 8 * (head + nr));
	memcpy(dst->batch, src + head + nr, sizeof(dst->batch));
}

/* Copies the state of a pinned map of an older layout (`c->fd`, held open
 * since vrm_check_pinned_maps) into this build's, which then takes its pin.
 * The old build's programs were stopped first (vrm_carry_all). */
static int vrm_carry(struct vrm_bpf *b, struct vrm_carried *c)
{
	const char *name = bpf_map__name(c->map);
	int ncpu = libbpf_num_possible_cpus();
	__u32 per = (c->value_size + 7) & ~7u, nr = vrm_qstats_old_verdicts(c->value_size);
	bool percpu = bpf_map__type(c->map) == BPF_MAP_TYPE_PERCPU_ARRAY;
	size_t n = percpu ? (size_t)(ncpu > 0 ? ncpu : 1) : 1;
	void *old = calloc(n, per), *new = calloc(n, sizeof(struct vrm_qstats));
	char path[256];
	int err = 0;

	if (!old || !new) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 key = 0; key < bpf_map__max_entries(c->map); key++) {
		if (bpf_map_lookup_elem(c->fd, &key, old)) {
			err = -errno;
			pr_warn("failed to read map %s of the older layout: %s\n", name, strerror(errno));
			goto out;
		}
		if (!strcmp(name, VRM_MAP_QUEUES)) {
			memcpy(&b->queues[key], old, c->value_size);
		} else if (!strcmp(name, VRM_MAP_USTATS)) {
			vrm_qstats_carry(&b->ustats[key], old, nr);
		} else {
			for (size_t cpu = 0; cpu < n; cpu++)
				vrm_qstats_carry((struct vrm_qstats *)new + cpu,
						(const __u64 *)((char *)old + cpu * per), nr);
			if (bpf_map__update_elem(c->map, &key, sizeof(key), new,
						 n * sizeof(struct vrm_qstats), BPF_ANY)) {
				err = -errno;
				pr_warn("failed to update map %s: %s\n", name, strerror(errno));
				goto out;
			}
		}
	}
	snprintf(path, sizeof(path), "%s/%s", b->pin_root, name);
	if (unlink(path) && errno != ENOENT) {
		err = -errno;
		pr_warn("cannot unpin %s: %s\n", path, strerror(errno));
		goto out;
	}
	err = bpf_map__pin(c->map, path);
	if (err)
		pr_warn("failed to pin map %s: %s\n", path, strerror(-err));
	else
		pr_info("pinned map %s had an older layout (value size %u): its state is carried "
			"into this build's\n", path, c->value_size);
out:
	free(old);
	free(new);
	return err;
}

/* The carried maps, once this build's are made and mapped: the old build's
 * programs stop (their links go; this build attaches its own after), so
 * nothing they translate after the copy is lost, then each map's state is
 * copied.  A kick in between waits in the guest's ring for the next one. */
static int vrm_carry_all(struct vrm_bpf *b, struct vrm_carried *carried, int n)
{
	struct bpf_program *p;
	char path[256];
	int err;

	if (!n)
		return 0;
	bpf_object__for_each_program(p, b->skel->obj) {
		snprintf(path, sizeof(path), "%s/link_%s", b->pin_root, bpf_program__name(p));
		if (!access(path, F_OK))
			vrm_drop_link(path);
	}
	for (int i = 0; i < n; i++) {
		err = vrm_carry(b, &carried[i]);
		if (err)
			return err;
	}
	return 0;
}

static void vrm_carried_close(struct vrm_carried *carried, int n)
{
	for (int i = 0; i < n; i++)
		close(carried[i].fd);
}

/* A map pinned under the root that this build cannot reuse (another
 * layout): libbpf would only say "error reusing pinned map".  The scratch
 * holds nothing from one kick to the next, so another layout of it is
 * replaced: its pin is removed (this build pins its own) and the links are
 * marked stale, so the programs that used it are replaced too.  An older
 * layout this build knows (vrm_layout_carried) is held open and its state
 * carried into this build's map once that is made (vrm_carry), the links
 * again marked stale.  Any other map holds state: says which map and what
 * differs, and what to do; returns -EEXIST, or 0. */
/* The value size of the maps in the array of maps `outer` (the first one
 * there), or 0.  The shadow rings of a build with another layout (one
 * without the indirect table room) are in use by back-ends: not carried,
 * and never mapped with this build's size. */
static __u32 vrm_inner_value_size(int outer)
{
	for (__u32 slot = 0; slot < VRM_MAX_DEVICES; slot++) {
		struct bpf_map_info info = { 0 };
		__u32 id, len = sizeof(info);
		int fd;

		if (bpf_map_lookup_elem(outer, &slot, &id))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd < 0)
			return 0;
		if (bpf_obj_get_info_by_fd(fd, &info, &len))
			info.value_size = 0;
		close(fd);
		return info.value_size;
	}
	return 0;
}

/* The shadow rings of a queue as builds with half this build's indirect
 * table room laid them out (16384 entries). */
#define VRM_SHADOW_BYTES_ITAB16K	(VRM_SHADOW_ITAB_OFF + 16 * 16384)

/*
 * A pin root whose shadow rings are of that older layout: every queue's
 * rings sit elsewhere in this build's, and a back-end has the old ones
 * mapped, so neither they nor the device state that points into them can
 * be carried.  Everything pinned there is removed (links detached, maps
 * unpinned), as a SIGINT stop would have, and this build starts afresh: its
 * devices' VMMs connect again (QEMU with reconnect=N) and their rings start
 * where the guest is.
 */
static void vrm_pins_of_older_shadow(struct vrm_bpf *b)
{
	char path[512];
	struct dirent *e;
	__u32 have;
	DIR *dir;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", b->pin_root, VRM_MAP_SHADOW);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return;
	have = vrm_inner_value_size(fd);
	close(fd);
	if (have != VRM_SHADOW_BYTES_ITAB16K || !(dir = opendir(b->pin_root)))
		return;
	pr_warn("the shadow rings pinned under %s are of an older layout (%u bytes a queue, this "
		"build's %zu): removing every pin there; the devices start afresh and their VMMs "
		"connect again\n", b->pin_root, have, sizeof(struct vrm_shadow_queue));
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.' || e->d_type == DT_DIR)
			continue;
		snprintf(path, sizeof(path), "%s/%s", b->pin_root, e->d_name);
		if (!strncmp(e->d_name, "link_", 5))
			vrm_drop_link(path);
		else if (unlink(path))
			pr_warn("cannot unpin %s: %s\n", path, strerror(errno));
	}
	closedir(dir);
}

static int vrm_check_pinned_maps(struct vrm_bpf *b, struct vrm_carried *carried, int *ncarried)
{
	struct bpf_map *m;
	char path[256];

	bpf_object__for_each_map(m, b->skel->obj) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		const char *what = NULL;
		unsigned have = 0, want = 0;
		int fd;

		if (bpf_map__is_internal(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", b->pin_root, bpf_map__name(m));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			close(fd);
			continue;
		}
		if (info.type != bpf_map__type(m))
			what = "type", have = info.type, want = bpf_map__type(m);
		else if (info.key_size != bpf_map__key_size(m))
			what = "key size", have = info.key_size, want = bpf_map__key_size(m);
		else if (info.value_size != bpf_map__value_size(m))
			what = "value size", have = info.value_size, want = bpf_map__value_size(m);
		else if (info.max_entries != bpf_map__max_entries(m))
			what = "entries", have = info.max_entries, want = bpf_map__max_entries(m);
		else if (info.map_flags != bpf_map__map_flags(m))
			what = "flags", have = info.map_flags, want = bpf_map__map_flags(m);
		else if (info.type == BPF_MAP_TYPE_ARRAY_OF_MAPS &&
			 (have = vrm_inner_value_size(fd)) && have != sizeof(struct vrm_shadow_queue))
			what = "shadow rings of value size", want = sizeof(struct vrm_shadow_queue);
		if (what && !strcmp(what, "value size") && info.max_entries == bpf_map__max_entries(m) &&
		    info.map_flags == bpf_map__map_flags(m) &&
		    vrm_layout_carried(bpf_map__name(m), info.value_size) && *ncarried < VRM_CARRIED_MAX) {
			/* Made anew and pinned once its state is in (vrm_carry). */
			bpf_map__set_pin_path(m, NULL);
			carried[(*ncarried)++] = (struct vrm_carried){ fd, info.value_size, m };
			b->stale_links = true;
			continue;
		}
		close(fd);
		if (what && !strcmp(bpf_map__name(m), VRM_MAP_SCRATCH)) {
			if (unlink(path) && errno != ENOENT) {
				pr_warn("cannot unpin %s: %s\n", path, strerror(errno));
				return -errno;
			}
			b->stale_links = true;
			pr_info("pinned map %s has %s %u, this build's has %u: it holds nothing between "
				"kicks, so it is replaced, and the links of the programs that used it\n",
				path, what, have, want);
		} else if (what) {
			pr_warn("pinned map %s has %s %u, this build needs %u: the pins under %s come from "
				"an incompatible build; stop the daemon that made them with SIGINT (it "
				"removes them) or remove %s, then start again\n", path, what, have, want,
				b->pin_root, b->pin_root);
			return -EEXIST;
		}
	}
	return 0;
}

/* Is `name` a pin this build makes: one of its maps, or link_<program>? */
static bool vrm_pin_is_ours(struct vrm_bpf *b, const char *name)
{
	struct bpf_program *p;
	struct bpf_map *m;

	bpf_object__for_each_map(m, b->skel->obj)
		if (!bpf_map__is_internal(m) && !strcmp(name, bpf_map__name(m)))
			return true;
	bpf_object__for_each_program(p, b->skel->obj)
		if (!strncmp(name, "link_", 5) && !strcmp(name + 5, bpf_program__name(p)))
			return true;
	return false;
}

/* Pins under the root that this build does not make: another build's.  With
 * `drop`, another build's maps are unpinned (whatever still uses one keeps
 * it until its links are replaced) and its links to programs this build
 * lacks are detached, so nothing of it runs on and a clean stop can remove
 * the root.  Returns the first such link's name, or NULL.  Only for a root
 * this daemon owns. */
static char *vrm_foreign_pins(struct vrm_bpf *b, bool drop, char *link, size_t len)
{
	DIR *dir = opendir(b->pin_root);
	struct dirent *e;
	char path[512];
	char *found = NULL;

	if (!dir)
		return NULL;
	while ((e = readdir(dir))) {
		bool is_link = !strncmp(e->d_name, "link_", 5);

		if (e->d_name[0] == '.' || vrm_pin_is_ours(b, e->d_name))
			continue;
		if (is_link && !found) {
			snprintf(link, len, "%s", e->d_name);
			found = link;
		}
		if (!drop)
			continue;
		snprintf(path, sizeof(path), "%s/%s", b->pin_root, e->d_name);
		if (is_link) {
			vrm_drop_link(path);
			pr_info("detached %s, a program of another build\n", path);
		} else if (!unlink(path)) {
			pr_info("unpinned %s, a map of another build\n", path);
		}
	}
	closedir(dir);
	return found;
}

/* True when any notification source has a link pinned under the root. */
static bool vrm_any_link_pinned(struct vrm_bpf *b)
{
	struct bpf_program *p;
	char path[256];

	bpf_object__for_each_program(p, b->skel->obj) {
		snprintf(path, sizeof(path), "%s/link_%s", b->pin_root, bpf_program__name(p));
		if (!access(path, F_OK))
			return true;
	}
	return false;
}

/* Detaches and unpins the link pinned at `path`. */
static void vrm_drop_link(const char *path)
{
	struct bpf_link *old = bpf_link__open(path);

	if (old) {
		bpf_link__unpin(old);
		bpf_link__destroy(old);
	} else {
		unlink(path);
	}
}

/* Puts a link of `p` where another build's was pinned.  The old one goes
 * first: run side by side, it could take a kick into rings this build does
 * not hand out; a kick neither sees is not lost, the ring still holds it and
 * a session's start translates what is pending. */
static struct bpf_link *vrm_replace_link(struct bpf_program *p, const char *path)
{
	struct bpf_link *l;
	int err;

	vrm_drop_link(path);
	l = bpf_program__attach(p);
	if (!l) {
		err = errno;
		pr_warn("failed to attach program %s: %s\n", bpf_program__name(p), strerror(err));
		errno = err;
		return NULL;
	}
	if (bpf_link__pin(l, path)) {
		err = errno;
		pr_warn("failed to pin link %s: %s\n", path, strerror(err));
		bpf_link__destroy(l);
		errno = err;
		return NULL;
	}
	return l;
}

/* Attaches every loaded notification source, or adopts the link a previous
 * owner pinned for it, and pins what it attached. */
static int vrm_attach_pinned(struct vrm_bpf *b)
{
	struct bpf_program *p;
	char path[256];

	bpf_object__for_each_program(p, b->skel->obj) {
		struct bpf_link *l;

		if (bpf_program__type(p) == BPF_PROG_TYPE_SYSCALL)
			continue;
		if (b->nlinks >= (int)(sizeof(b->links) / sizeof(b->links[0])))
			return -E2BIG;
		snprintf(path, sizeof(path), "%s/link_%s", b->pin_root, bpf_program__name(p));
		/* Not loaded: the host cannot run it, or its pinned link is
		 * adopted as it is (vrm_bpf_load skipped the load). */
		if (!bpf_program__autoload(p) && access(path, F_OK))
			continue;
		if (b->stale_links && !access(path, F_OK)) {
			if (!bpf_program__autoload(p)) {	/* not run here */
				vrm_drop_link(path);
				continue;
			}
			l = vrm_replace_link(p, path);
			if (!l)
				return -errno;
		} else if (!access(path, F_OK)) {
			l = bpf_link__open(path);
			if (!l) {
				pr_warn("failed to adopt link %s: %s\n", path, strerror(errno));
				return -errno;
			}
			b->adopted = true;
			pr_debug("adopted %s\n", path);
		} else {
			l = bpf_program__attach(p);
			if (!l) {
				pr_warn("failed to attach program %s: %s\n", bpf_program__name(p),
					strerror(errno));
				return -errno;
			}
			if (bpf_link__pin(l, path)) {
				int err = -errno;

				pr_warn("failed to pin link %s: %s\n", path, strerror(errno));
				bpf_link__destroy(l);
				return err;
			}
		}
		snprintf(b->link_prog[b->nlinks], sizeof(b->link_prog[0]), "%s",
			 bpf_program__name(p));
		b->links[b->nlinks++] = l;
	}
	return 0;
}

/* True when every notification source this host runs has a pinned link:
 * a restart then adopts the links, and the programs behind them go on
 * running as they are.  Loading them again would only cost verification
 * time (most of a restart) for copies nothing attaches. */
static bool vrm_links_all_pinned(struct vrm_bpf *b)
{
	struct bpf_program *p;
	char path[256];
	int n = 0;

	bpf_object__for_each_program(p, b->skel->obj) {
		if (!bpf_program__autoload(p) || bpf_program__type(p) == BPF_PROG_TYPE_SYSCALL)
			continue;
		snprintf(path, sizeof(path), "%s/link_%s", b->pin_root, bpf_program__name(p));
		if (access(path, F_OK))
			return false;
		n++;
	}
	return n > 0;
}

/* Can this kernel take the object at all?  Everything needs the kernel's
 * BTF; said plainly here rather than as libbpf's errors.  Also whether it
 * has the bpf_rdonly_cast kfunc (Linux 6.2): the kick program's walk from
 * the writer's fd to the eventfd uses it where it can (*kfunc), a walk of
 * helper reads where not. */
static int vrm_kernel_check(bool *kfunc)
{
	static int checked = 1;	/* 1: not yet; else the answer, once a process */
	static bool have_kfunc;
	struct btf *vmlinux;
	int err = 0;

	if (checked != 1) {
		*kfunc = have_kfunc;
		return checked;
	}
	vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux) {
		err = -errno;
		pr_warn("this kernel has no BTF (/sys/kernel/btf/vmlinux: %s): vringmed's BPF programs "
			"need a kernel built with CONFIG_DEBUG_INFO_BTF\n", strerror(-err));
		return checked = err ? err : -EOPNOTSUPP;
	}
	have_kfunc = btf__find_by_name_kind(vmlinux, "bpf_rdonly_cast", BTF_KIND_FUNC) >= 0;
	if (!have_kfunc)
		pr_info("no bpf_rdonly_cast kfunc here (Linux before 6.2): the write() hook "
			"is vrm_tp_write_pre62, which walks to the eventfd with helper reads\n");
	btf__free(vmlinux);
	*kfunc = have_kfunc;
	return checked = err;
}

/* What this host lets BPF see kicks with, told once. */
static void vrm_probe_hooks(struct vrm_bpf *b)
{
	int err = vrm_probe_fentry();

	b->have_fentry = !err;
	if (err)
		pr_info("fentry unavailable here (%s): kicks signalled inside the kernel (KVM "
			"ioeventfds, io_uring) reach no BPF program; devices whose VMM kicks that "
			"way are mediated in userspace\n", strerror(-err));
	b->have_kvm = access("/sys/kernel/tracing/events/kvm/kvm_pio", F_OK) == 0 ||
		      access("/sys/kernel/debug/tracing/events/kvm/kvm_pio", F_OK) == 0;
	if (!b->have_kvm)
		pr_info("no kvm tracepoints on this host: KVM ioeventfd kicks are not mediated\n");
}

/* Every map of the object pinned under `root` (libbpf reuses a compatible
 * pinned map, else pins), what a previous build left there checked and
 * carried, and links that are another build's marked for replacing. */
static int vrm_pin_maps(struct vrm_bpf *b, const char *root, struct vrm_carried *carried,
			int *ncarried)
{
	const char *missing = NULL;
	char path[256], foreign[256];
	struct bpf_map *m;
	int err;

	snprintf(b->pin_root, sizeof(b->pin_root), "%s", root);
	if (mkdir(b->pin_root, 0700) && errno != EEXIST) {
		err = -errno;
		pr_warn("failed to create pin root %s: %s\n", b->pin_root, strerror(errno));
		return err;
	}
	vrm_pins_of_older_shadow(b);
	bpf_object__for_each_map(m, b->skel->obj) {
		if (bpf_map__is_internal(m))
			continue;
		snprintf(path, sizeof(path), "%s/%s", b->pin_root, bpf_map__name(m));
		if (!access(path, F_OK))
			b->adopted = true;
		else if (!missing)
			missing = bpf_map__name(m);
		bpf_map__set_pin_path(m, path);
	}
	err = vrm_check_pinned_maps(b, carried, ncarried);
	if (err)
		return err;
	/* Links pinned by a build that had no such map run programs that will
	 * never use the one made now, and a link to a program this build does
	 * not have is another build's: replace them. */
	if (missing && vrm_any_link_pinned(b)) {
		b->stale_links = true;
		pr_info("the programs pinned under %s come from another build (no map %s there): "
			"replacing their links\n", b->pin_root, missing);
	} else if (vrm_foreign_pins(b, false, foreign, sizeof(foreign))) {
		b->stale_links = true;
		pr_info("the programs pinned under %s come from another build (%s is not one of "
			"this build's): replacing their links\n", b->pin_root, foreign);
	}
	if (b->stale_links)
		vrm_foreign_pins(b, true, foreign, sizeof(foreign));
	return 0;
}

/* Which programs load: those the host runs, or none when every one of them
 * has a pinned link to adopt. */
static void vrm_choose_programs(struct vrm_bpf *b, const struct vrm_bpf_opts *opts)
{
	struct vringmed_bpf *skel = b->skel;
	__u64 efd_write;

	bpf_program__set_autoload(skel->progs.vrm_fentry_signal, b->have_fentry);
	bpf_program__set_autoload(skel->progs.vrm_kvm_pio, b->have_kvm);
	bpf_program__set_autoload(skel->progs.vrm_kvm_mmio, b->have_kvm);
	bpf_program__set_autoload(skel->progs.vrm_kvm_fast_mmio, b->have_kvm);
	bpf_program__set_autoload(skel->progs.vrm_tp_write, b->have_rdonly_cast);
	bpf_program__set_autoload(skel->progs.vrm_tp_write_pre62, !b->have_rdonly_cast);
	/* The tests' way in (BPF_PROG_TEST_RUN): its frame, at the bottom of
	 * the kick's deepest call chain, is 32 bytes over what kernels before
	 * 6.2 allow (512 at 32 a frame); vringmedd never runs it. */
	bpf_program__set_autoload(skel->progs.vrm_test_kick, b->have_rdonly_cast);

	if (opts && opts->attach && b->pin_root[0] && !b->stale_links && vrm_links_all_pinned(b)) {
		struct bpf_program *p;

		bpf_object__for_each_program(p, skel->obj)
			bpf_program__set_autoload(p, false);
		b->links_only = true;
		pr_debug("every notification source has a pinned link: adopting, not reloading\n");
		return;
	}
	/* Only a program that is loaded needs it (a restart that adopts every
	 * link skips this walk of /proc/kallsyms). */
	efd_write = vrm_kallsyms_lookup("eventfd_write");
	if (!efd_write)
		pr_warn("eventfd_write not found in /proc/kallsyms: write() kicks will not "
			"be seen\n");
	skel->rodata->eventfd_write_addr = efd_write;
}

/* The maps userspace reads and writes in place. */
static int vrm_map_all(struct vrm_bpf *b)
{
	int err;

	b->devices = vrm_map_mmap(b->skel->maps.vrm_devices);
	b->queues = vrm_map_mmap(b->skel->maps.vrm_queues);
	err = vrm_shadow_maps(b);
	if (err)
		return err;
	b->ustats = vrm_map_mmap(b->skel->maps.vrm_ustats);
	b->fast = vrm_map_mmap(b->skel->maps.vrm_fastsets);
	if (!b->devices || !b->queues || !b->shadow || !b->ustats || !b->fast)
		return -ENOMEM;
	return 0;
}

/* Attached through pinned links under the pin root, or plainly without. */
static int vrm_attach(struct vrm_bpf *b, const struct vrm_bpf_opts *opts)
{
	int err;

	if (!opts || !opts->attach)
		return 0;
	if (b->pin_root[0]) {
		err = vrm_attach_pinned(b);
		if (err)
			return err;
	} else {
		err = vringmed_bpf__attach(b->skel);
		if (err) {
			pr_warn("failed to attach BPF programs: %s\n", strerror(-err));
			return err;
		}
	}
	b->attached = true;
	return 0;
}

int vrm_bpf_load(struct vrm_bpf *b, const struct vrm_bpf_opts *opts)
{
	struct vrm_carried carried[VRM_CARRIED_MAX];
	struct bpf_map *inner;
	int err, ncarried = 0;

	memset(b, 0, sizeof(*b));
	for (int i = 0; i < VRM_MAX_DEVICES; i++)
		b->shadow_fd[i] = -1;
	vrm_log_init_libbpf();
	err = vrm_kernel_check(&b->have_rdonly_cast);
	if (err)
		return err;
	vrm_probe_hooks(b);

	b->skel = vringmed_bpf__open();
	if (!b->skel) {
		err = -errno;
		pr_warn("failed to open BPF object: %s\n", strerror(-err));
		return err;
	}
	inner = bpf_map__inner_map(b->skel->maps.vrm_shadows);
	if (inner) {
		b->shadow_key_tid = bpf_map__btf_key_type_id(inner);
		b->shadow_value_tid = bpf_map__btf_value_type_id(inner);
	}
	if (opts && opts->pin_root) {
		err = vrm_pin_maps(b, opts->pin_root, carried, &ncarried);
		if (err)
			goto fail;
	}
	vrm_choose_programs(b, opts);
	err = vringmed_bpf__load(b->skel);
	if (err) {
		pr_warn("failed to load BPF object: %s\n", strerror(-err));
		goto fail;
	}
	err = vrm_map_all(b);
	if (!err)
		err = vrm_carry_all(b, carried, ncarried);
	if (!err)
		vrm_fast_rebuild(b);
	if (!err)
		err = vrm_attach(b, opts);
	if (err)
		goto fail;
	vrm_carried_close(carried, ncarried);
	return 0;
fail:
	vrm_carried_close(carried, ncarried);
	vrm_bpf_close(b);
	return err;
}

void vrm_bpf_close(struct vrm_bpf *b)
{
	if (!b->skel)
		return;
	vrm_map_munmap(b->skel->maps.vrm_devices, b->devices);
	vrm_map_munmap(b->skel->maps.vrm_queues, b->queues);
	vrm_shadow_maps_close(b);
	vrm_map_munmap(b->skel->maps.vrm_ustats, b->ustats);
	vrm_map_munmap(b->skel->maps.vrm_fastsets, b->fast);
	for (int i = 0; i < b->nlinks; i++)
		bpf_link__destroy(b->links[i]);	/* a pinned link stays attached */
	vringmed_bpf__destroy(b->skel);
	memset(b, 0, sizeof(*b));
}

void vrm_bpf_unpin(struct vrm_bpf *b)
{
	struct bpf_map *m;

	if (!b->skel || !b->pin_root[0])
		return;
	for (int i = 0; i < b->nlinks; i++)
		bpf_link__unpin(b->links[i]);
	bpf_object__for_each_map(m, b->skel->obj)
		if (!bpf_map__is_internal(m) && bpf_map__is_pinned(m))
			bpf_map__unpin(m, NULL);
	if (rmdir(b->pin_root) && errno != ENOENT)
		pr_warn("pin root %s not removed: %s\n", b->pin_root, strerror(errno));
}

struct bpf_program *vrm_bpf_write_prog(struct vrm_bpf *b)
{
	return b->have_rdonly_cast ? b->skel->progs.vrm_tp_write : b->skel->progs.vrm_tp_write_pre62;
}

int vrm_bpf_test_kick(struct vrm_bpf *b, __u32 queue, struct vrm_test_args *out)
{
	LIBBPF_OPTS(bpf_test_run_opts, topts);
	int err;

	memset(out, 0, sizeof(*out));
	out->queue = queue;
	topts.ctx_in = out;
	topts.ctx_size_in = sizeof(*out);
	err = bpf_prog_test_run_opts(bpf_program__fd(b->skel->progs.vrm_test_kick), &topts);
	return err ? -errno : 0;
}

/* The hash maps every device shares (kick fds, VMMs) are changed by the
 * threads of several devices: one at a time, so that a read-modify-write of
 * a VMM's device count or a walk of the kick fds sees no one else's half. */
static pthread_mutex_t vrm_shared_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * The fast sets in front of the two hash maps (abi.h, VRM_MAP_FASTSETS),
 * kept under vrm_shared_lock.  Each slot is one aligned store the programs
 * read with one load.  The order of each change against its hash map keeps
 * the rule: a VMM slot may claim too much (set first, cleared after), a
 * kick slot may know too little (set after, cleared first), so a kill
 * between the two stores leaves nothing the programs get wrong.
 */
static __u64 vrm_kick_slot(__u32 id, __u32 queue)
{
	return (__u64)queue << 32 | (__u32)(id + 1);
}

static void vrm_fast_kick_set(struct vrm_bpf *b, __u32 id, __u32 queue)
{
	__u64 *k;

	if (!b->fast)
		return;
	k = &b->fast->kick[id & (VRM_KICK_SLOTS - 1)];
	/* Taken by another id: that one keeps it, this one is looked up. */
	if (*k && (__u32)*k != id + 1)
		return;
	__atomic_store_n(k, vrm_kick_slot(id, queue), __ATOMIC_RELEASE);
}

static void vrm_fast_kick_clear(struct vrm_bpf *b, __u32 id)
{
	__u64 *k;

	if (!b->fast)
		return;
	k = &b->fast->kick[id & (VRM_KICK_SLOTS - 1)];
	if ((__u32)*k == id + 1)
		__atomic_store_n(k, 0, __ATOMIC_SEQ_CST);
}

/* A VMM slot holding `s` once `tgid` falls there too: the one tgid, or
 * shared. */
static __u32 vrm_vmm_slot_with(__u32 s, __u32 tgid)
{
	return !s || s == tgid ? tgid : VRM_SLOT_SHARED;
}

/* Every VMM slot as the hash map has it, into vmm[] (VRM_VMM_SLOTS). */
static void vrm_fast_vmm_slots(struct vrm_bpf *b, __u32 *vmm)
{
	struct bpf_map *m = b->skel->maps.vrm_vmms;
	__u32 key, next;
	void *prev = NULL;

	memset(vmm, 0, VRM_VMM_SLOTS * sizeof(*vmm));
	while (!bpf_map__get_next_key(m, prev, &next, sizeof(next))) {
		__u32 *s = &vmm[next & (VRM_VMM_SLOTS - 1)];

		key = next;
		prev = &key;
		*s = vrm_vmm_slot_with(*s, key);
	}
}

/* The slot of `tgid` as the hash map has it, with tgid counted as in the
 * map when `adding` (it is about to be).  Under vrm_shared_lock. */
static __u32 vrm_fast_vmm_value(struct vrm_bpf *b, __u32 tgid, bool adding)
{
	static __u32 vmm[VRM_VMM_SLOTS];
	__u32 s;

	vrm_fast_vmm_slots(b, vmm);
	s = vmm[tgid & (VRM_VMM_SLOTS - 1)];
	return adding ? vrm_vmm_slot_with(s, tgid) : s;
}

static void vrm_fast_vmm_set(struct vrm_bpf *b, __u32 tgid, __u32 value)
{
	if (b->fast)
		__atomic_store_n(&b->fast->vmm[tgid & (VRM_VMM_SLOTS - 1)], value, __ATOMIC_SEQ_CST);
}

/* Both sets from the hash maps: what a loader does before it attaches
 * (the pins may come from a build without them, or from a daemon killed
 * between two stores).  Slot by slot, each store final, for programs of a
 * pinned link may be running. */
void vrm_fast_rebuild(struct vrm_bpf *b)
{
	static __u32 vmm[VRM_VMM_SLOTS];
	static __u64 kick[VRM_KICK_SLOTS];
	struct bpf_map *m;
	struct vrm_kickfd_val v;
	__u32 key, next;
	void *prev;

	if (!b->fast)
		return;
	pthread_mutex_lock(&vrm_shared_lock);
	vrm_fast_vmm_slots(b, vmm);
	memset(kick, 0, sizeof(kick));
	m = b->skel->maps.vrm_kickfds;
	prev = NULL;
	while (!bpf_map__get_next_key(m, prev, &next, sizeof(next))) {
		__u64 *k = &kick[next & (VRM_KICK_SLOTS - 1)];

		key = next;
		prev = &key;
		if (!*k && !bpf_map__lookup_elem(m, &key, sizeof(key), &v, sizeof(v), 0))
			*k = vrm_kick_slot(key, v.queue);
	}
	for (unsigned i = 0; i < VRM_VMM_SLOTS; i++)
		__atomic_store_n(&b->fast->vmm[i], vmm[i], __ATOMIC_RELAXED);
	for (unsigned i = 0; i < VRM_KICK_SLOTS; i++)
		__atomic_store_n(&b->fast->kick[i], kick[i], __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vrm_shared_lock);
}

int vrm_bpf_add_kickfd(struct vrm_bpf *b, __u32 eventfd_id, __u32 queue)
{
	struct vrm_kickfd_val v = { .queue = queue };
	int err;

	pthread_mutex_lock(&vrm_shared_lock);
	/* A new queue for an id the slot has: the slot goes first. */
	vrm_fast_kick_clear(b, eventfd_id);
	err = bpf_map__update_elem(b->skel->maps.vrm_kickfds, &eventfd_id, sizeof(eventfd_id),
				   &v, sizeof(v), BPF_ANY) ? -errno : 0;
	if (!err)
		vrm_fast_kick_set(b, eventfd_id, queue);
	pthread_mutex_unlock(&vrm_shared_lock);
	return err;
}

int vrm_bpf_del_kickfd(struct vrm_bpf *b, __u32 eventfd_id)
{
	int err;

	pthread_mutex_lock(&vrm_shared_lock);
	vrm_fast_kick_clear(b, eventfd_id);
	err = bpf_map__delete_elem(b->skel->maps.vrm_kickfds, &eventfd_id, sizeof(eventfd_id), 0)
		? -errno : 0;
	pthread_mutex_unlock(&vrm_shared_lock);
	return err;
}

static int vrm_del_kickfds_of(struct vrm_bpf *b, __u32 first_queue, __u32 nqueues)
{
	struct bpf_map *m = b->skel->maps.vrm_kickfds;
	__u32 key, next, keys[VRM_MAX_QUEUES];
	struct vrm_kickfd_val v;
	int n = 0, err = 0;
	void *prev = NULL;

	/* Collect first: deleting while walking restarts the walk. */
	while (n < VRM_MAX_QUEUES && !bpf_map__get_next_key(m, prev, &next, sizeof(next))) {
		key = next;
		prev = &key;
		if (!bpf_map__lookup_elem(m, &key, sizeof(key), &v, sizeof(v), 0) &&
		    v.queue >= first_queue && v.queue < first_queue + nqueues)
			keys[n++] = key;
	}
	for (int i = 0; i < n; i++) {
		vrm_fast_kick_clear(b, keys[i]);
		if (bpf_map__delete_elem(m, &keys[i], sizeof(keys[i]), 0) && errno != ENOENT)
			err = -errno;
	}
	return err ? err : n;
}

int vrm_bpf_del_kickfds_of(struct vrm_bpf *b, __u32 first_queue, __u32 nqueues)
{
	int n;

	pthread_mutex_lock(&vrm_shared_lock);
	n = vrm_del_kickfds_of(b, first_queue, nqueues);
	pthread_mutex_unlock(&vrm_shared_lock);
	return n;
}

/* A VMM's count of devices in vrm_vmms, moved by `delta` (+1, -1); its
 * entry goes at 0.  0 or -errno (-ENOENT: no count to lower). */
static int vrm_vmm_count(struct vrm_bpf *b, __u32 tgid, int delta)
{
	struct bpf_map *map = b->skel->maps.vrm_vmms;
	__u32 n = 0;
	int err;

	pthread_mutex_lock(&vrm_shared_lock);
	if (bpf_map__lookup_elem(map, &tgid, sizeof(tgid), &n, sizeof(n), 0) && delta < 0) {
		err = -ENOENT;
	} else if ((n += (__u32)delta)) {
		/* The fast slot claims it before the hash map holds it. */
		vrm_fast_vmm_set(b, tgid, vrm_fast_vmm_value(b, tgid, true));
		err = bpf_map__update_elem(map, &tgid, sizeof(tgid), &n, sizeof(n), BPF_ANY) ?
		      -errno : 0;
	} else {
		err = bpf_map__delete_elem(map, &tgid, sizeof(tgid), 0) ? -errno : 0;
		vrm_fast_vmm_set(b, tgid, vrm_fast_vmm_value(b, tgid, false));
	}
	pthread_mutex_unlock(&vrm_shared_lock);
	return err;
}

int vrm_bpf_add_vmm(struct vrm_bpf *b, __u32 tgid)
{
	return vrm_vmm_count(b, tgid, 1);
}

int vrm_bpf_del_vmm(struct vrm_bpf *b, __u32 tgid)
{
	return vrm_vmm_count(b, tgid, -1);
}

int vrm_bpf_shadow_fd(const struct vrm_bpf *b, __u32 slot)
{
	return slot < VRM_MAX_DEVICES ? b->shadow_fd[slot] : -EINVAL;
}

int vrm_bpf_read_stats(struct vrm_bpf *b, __u32 queue, struct vrm_qstats *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct vrm_qstats *per;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	per = calloc(ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	if (bpf_map__lookup_elem(b->skel->maps.vrm_qstats, &queue, sizeof(queue), per,
				 sizeof(*per) * ncpu, 0)) {
		err = -errno;
		goto out;
	}
	for (int c = 0; c <= ncpu; c++) {
		const __u64 *src = (const __u64 *)(c < ncpu ? &per[c] :
			b->ustats && queue < VRM_MAX_QUEUES ? &b->ustats[queue] : NULL);

		if (!src)
			break;
		__u64 *dst = (__u64 *)sum;

		for (size_t i = 0; i < sizeof(*sum) / sizeof(__u64); i++)
			dst[i] += src[i];
	}
out:
	free(per);
	return err;
}

int vrm_bpf_clear_stats(struct vrm_bpf *b, __u32 queue)
{
	int ncpu = libbpf_num_possible_cpus();
	void *zero = calloc(ncpu > 0 ? ncpu : 1, sizeof(struct vrm_qstats));
	int err;

	if (!zero)
		return -ENOMEM;
	err = bpf_map__update_elem(b->skel->maps.vrm_qstats, &queue, sizeof(queue), zero,
				   sizeof(struct vrm_qstats) * ncpu, BPF_ANY) ? -errno : 0;
	if (!err && b->ustats && queue < VRM_MAX_QUEUES)
		memset(&b->ustats[queue], 0, sizeof(b->ustats[queue]));
	free(zero);
	return err;
}

int vrm_bpf_prog_runtime(int prog_fd, __u64 *run_cnt, __u64 *run_time_ns)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	*run_cnt = info.run_cnt;
	*run_time_ns = info.run_time_ns;
	return 0;
}
