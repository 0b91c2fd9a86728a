// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A daemon started over the pins another build left. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "test.h"
#include "rig.h"
#include "loader.h"
#include "vringmed.skel.h"
#include "bpf_test.h"

/* The link id pinned at `path`, or 0. */
static __u32 pinned_link_id(const char *path)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);
	int fd = bpf_obj_get(path);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.id = 0;
	close(fd);
	return info.id;
}

/* The pins a daemon leaves when killed (-9), under a root of this test's
 * own, minus map `map_name`'s pin (NULL: all there).  Paths go to root, link (the write()
 * hook's) and map; returns that link's id, or 0. */
struct crashed_pins {
	char root[96], link[160], map[160];
};

static __u32 crashed_pins(struct crashed_pins *c, const char *tag, const char *map_name)
{
	FILE *out;
	pid_t pid;
	int status = -1;
	__u32 id;

	snprintf(c->root, sizeof(c->root), "/sys/fs/bpf/vringmed-test-%s-%d", tag, (int)getpid());
	snprintf(c->link, sizeof(c->link), "%s/link_%s", c->root, write_prog());
	snprintf(c->map, sizeof(c->map), "%s/%s", c->root, map_name ? map_name : "");
	pid = daemon_start(c->root, &out);
	if (!VRM_TRUE(pid > 0))
		return 0;
	daemon_reap(pid, out, SIGKILL, &status);
	id = pinned_link_id(c->link);
	VRM_TRUE(id != 0);
	if (map_name)
		VRM_EQ(unlink(c->map), 0);
	return id;
}

/* After an upgrade over another build's pins: kicks reach this build's
 * shadow rings, and a clean stop removes every pin and the root. */
static void after_upgrade(struct vrm_bpf *T, const struct crashed_pins *c)
{
	struct rig r = { .name = "native", .big_endian = 0, .slot = 12 };

	if (VRM_EQ(rig_start(T, &r), 0))
		kick_ok(&r, 3);
	rig_stop(T, &r);
	vrm_bpf_unpin(T);
	vrm_bpf_close(T);
	VRM_TRUE(access(c->root, F_OK) != 0);
}

/* A pin root left by another build (here: one without vrm_shadows, as every
 * build before per-device shadow maps): its programs would go on filling
 * rings this build never hands out, so their links are replaced, not
 * adopted, and kicks are translated into this build's maps. */
VRM_TEST(daemon_upgrade)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char cmd[320];
	__u32 old_id, new_id;

	if (!vrm_subtest("links_of_another_build_replaced") || !bpf())
		return;
	old_id = crashed_pins(&c, "up", VRM_MAP_SHADOW);
	if (!old_id)
		return;
	/* The map the old build had in its place. */
	snprintf(cmd, sizeof(cmd), "bpftool map create %s/vrm_shadow type array key 4 value 8 "
		 "entries 4 name vrm_shadow", c.root);
	VRM_EQ(system(cmd), 0);
	if (!VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	snprintf(cmd, sizeof(cmd), "%s/vrm_shadow", c.root);
	VRM_TRUE(access(cmd, F_OK) != 0);	/* unpinned: a clean stop can rmdir */
	VRM_TRUE(T.stale_links);
	VRM_TRUE(!T.links_only);
	new_id = pinned_link_id(c.link);
	VRM_TRUE(new_id != 0 && new_id != old_id);
	VRM_TRUE(access(c.map, F_OK) == 0);
	after_upgrade(&T, &c);
}

/* A link to a program this build does not have (a hook a later build
 * dropped or renamed): another build's, detached, and the kicks go through
 * this build's program. */
VRM_TEST(daemon_upgrade_foreign_link)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char foreign[200];
	__u32 old_id;

	if (!vrm_subtest("link_of_unknown_program_detached") || !bpf())
		return;
	old_id = crashed_pins(&c, "fl", NULL);
	if (!old_id)
		return;
	snprintf(foreign, sizeof(foreign), "%s/link_vrm_old_hook", c.root);
	if (!VRM_EQ(rename(c.link, foreign), 0) || !VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	VRM_TRUE(T.stale_links);
	VRM_TRUE(access(foreign, F_OK) != 0);
	VRM_TRUE(bpf_link_get_fd_by_id(old_id) < 0);	/* gone, not just unpinned */
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	after_upgrade(&T, &c);
}

/* Pins, where map `name` of the crashed daemon was, an empty map of another
 * layout (8-byte values): what an older or newer build would have left. */
static bool pin_other_layout(const struct crashed_pins *c, const char *name)
{
	char cmd[320];

	snprintf(cmd, sizeof(cmd), "bpftool map create %s type array key 4 value 8 entries 4 name %s",
		 c->map, name);
	return VRM_EQ(system(cmd), 0);
}

/* The per-kick scratch of another layout (VRM_WIN grew with the window
 * policy): it holds nothing between kicks, so it is replaced, with the
 * links of the programs that used it, and the daemon starts. */
VRM_TEST(daemon_upgrade_scratch)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info), old_id;
	int fd;

	if (!vrm_subtest("scratch_of_another_layout_replaced") || !bpf())
		return;
	old_id = crashed_pins(&c, "scr", VRM_MAP_SCRATCH);
	if (!old_id)
		return;
	if (!pin_other_layout(&c, VRM_MAP_SCRATCH) || !VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	VRM_TRUE(T.stale_links);
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	fd = bpf_obj_get(c.map);
	if (VRM_TRUE(fd >= 0)) {
		VRM_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
		VRM_EQ(info.value_size, bpf_map__value_size(T.skel->maps.vrm_scratch));
		close(fd);
	}
	after_upgrade(&T, &c);
}

/* Shadow rings of the layout with half the indirect table room (16384
 * entries a queue): they cannot be carried (a back-end has them mapped,
 * and this build's rings lie elsewhere), so every pin goes and the daemon
 * starts afresh, rather than refusing to start after an upgrade. */
VRM_TEST(daemon_upgrade_older_shadow)
{
	LIBBPF_OPTS(bpf_map_create_opts, io, .map_flags = BPF_F_MMAPABLE);
	LIBBPF_OPTS(bpf_map_create_opts, oo);
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char queues[200];
	__u32 old_id, key = 0;
	int inner, outer;

	if (!vrm_subtest("pins_removed_fresh_start") || !bpf())
		return;
	old_id = crashed_pins(&c, "shd", VRM_MAP_SHADOW);
	if (!old_id)
		return;
	inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vrm_shadow_d0", 4,
			       VRM_SHADOW_ITAB_OFF + 16 * 16384, VRM_DEV_QUEUES, &io);
	if (!VRM_TRUE(inner >= 0))
		return;
	oo.inner_map_fd = inner;
	outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, VRM_MAP_SHADOW, 4, 4, VRM_MAX_DEVICES, &oo);
	if (VRM_TRUE(outer >= 0)) {
		VRM_EQ(bpf_map_update_elem(outer, &key, &inner, BPF_ANY), 0);
		VRM_EQ(bpf_obj_pin(outer, c.map), 0);
		close(outer);
	}
	close(inner);
	snprintf(queues, sizeof(queues), "%s/%s", c.root, VRM_MAP_QUEUES);
	VRM_TRUE(access(queues, F_OK) == 0);	/* the device state another build left */
	if (!VRM_EQ(vrm_bpf_load(&T, &o), 0))
		return;
	VRM_TRUE(!T.adopted);
	VRM_TRUE(!T.links_only);
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	after_upgrade(&T, &c);
}

/* Pins at `c->root`/`name` a map of value size `value_size` (max_entries
 * and flags of this build's `m`) holding `value` at key `key`: what an
 * older build left. */
static bool pin_older(const struct crashed_pins *c, const struct bpf_map *m, __u32 value_size,
		      __u32 key, const void *value)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = bpf_map__map_flags(m));
	bool percpu = bpf_map__type(m) == BPF_MAP_TYPE_PERCPU_ARRAY;
	int ncpu = libbpf_num_possible_cpus(), fd;
	size_t per = (value_size + 7) & ~7u;
	char path[200];
	char *buf;
	bool ok;

	snprintf(path, sizeof(path), "%s/%s", c->root, bpf_map__name(m));
	unlink(path);
	fd = bpf_map_create(bpf_map__type(m), bpf_map__name(m), 4, value_size,
			    bpf_map__max_entries(m), &o);
	if (!VRM_TRUE(fd >= 0))
		return false;
	buf = calloc(percpu ? ncpu : 1, per);
	for (int cpu = 0; cpu < (percpu ? ncpu : 1); cpu++)
		memcpy(buf + cpu * per, value, value_size);
	ok = VRM_EQ(bpf_map_update_elem(fd, &key, buf, BPF_ANY), 0) && VRM_EQ(bpf_obj_pin(fd, path), 0);
	free(buf);
	close(fd);
	return ok;
}

/* The maps that hold state, in the layout of the build before this one
 * (vrm_queues without offered[], counters of one verdict fewer): this build
 * takes their state over, replaces the links of the programs that used
 * them, and runs. */
VRM_TEST(daemon_upgrade_carries_state)
{
	const __u32 old_nr = VRM_VERDICT_NR - 1, key = VRM_QSLOT(12, 1);
	const size_t head = offsetof(struct vrm_qstats, errors) / 8;
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	__u64 stats[sizeof(struct vrm_qstats) / 8] = { 0 };
	struct vrm_queue *q = calloc(1, sizeof(*q));
	struct vrm_qstats st;
	__u32 old_id;
	int ncpu = libbpf_num_possible_cpus();

	if (!vrm_subtest("queues_and_counters_of_the_older_layout") || !bpf())
		goto out;
	old_id = crashed_pins(&c, "carry", NULL);
	if (!old_id)
		goto out;
	q->size = 64;
	q->last_avail = 77;
	q->desc_state[3] = (struct vrm_desc_state){ 4, VRM_DESC_END };
	stats[0] = 11;				/* kicks */
	stats[head + VRM_NET_HDR] = 2;		/* the older build's last verdict */
	stats[head + old_nr + 1] = 3;		/* batch[1] */
	if (!pin_older(&c, B.skel->maps.vrm_queues, VRM_QUEUE_BYTES_NO_OFFERED, key, q) ||
	    !pin_older(&c, B.skel->maps.vrm_qstats, 8 * (head + old_nr + VRM_BATCH_BUCKETS), key,
		       stats) ||
	    !pin_older(&c, B.skel->maps.vrm_ustats, 8 * (head + old_nr + VRM_BATCH_BUCKETS), key,
		       stats) ||
	    !VRM_EQ(vrm_bpf_load(&T, &o), 0))
		goto out;
	VRM_TRUE(T.stale_links);
	VRM_TRUE(pinned_link_id(c.link) != 0 && pinned_link_id(c.link) != old_id);
	VRM_EQ(T.queues[key].last_avail, 77);
	VRM_EQ(T.queues[key].desc_state[3].owner, 4);
	VRM_EQ(T.queues[key].desc_state[3].next, VRM_DESC_END);
	VRM_EQ(T.queues[key].offered[3], 0);	/* unknown: the older build kept none */
	if (VRM_EQ(vrm_bpf_read_stats(&T, key, &st), 0)) {
		VRM_EQ(st.kicks, 11 * (ncpu + 1));	/* every CPU's and the daemon's */
		VRM_EQ(st.errors[VRM_NET_HDR], 2 * (ncpu + 1));
		VRM_EQ(st.errors[VRM_USED_LEN], 0);
		VRM_EQ(st.batch[1], 3 * (ncpu + 1));
	}
	/* Pinned again in this build's layout: a restart reuses them. */
	for (int i = 0; i < 3; i++) {
		const struct bpf_map *m = i == 0 ? T.skel->maps.vrm_queues :
					  i == 1 ? T.skel->maps.vrm_qstats : T.skel->maps.vrm_ustats;
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		char path[200];
		int fd;

		snprintf(path, sizeof(path), "%s/%s", c.root, bpf_map__name(m));
		fd = bpf_obj_get(path);
		if (VRM_TRUE(fd >= 0)) {
			VRM_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
			VRM_EQ(info.value_size, bpf_map__value_size(m));
			close(fd);
		}
	}
	T.queues[key].flags = 0;
	vrm_bpf_clear_stats(&T, key);
	after_upgrade(&T, &c);
out:
	free(q);
}

/* A pin of a map that holds state, in a layout this build cannot reuse:
 * refused before anything is loaded or attached, the pins left as they
 * are for the operator. */
VRM_TEST(daemon_incompatible_pins)
{
	struct crashed_pins c;
	struct vrm_bpf T;
	struct vrm_bpf_opts o = { .attach = true, .pin_root = c.root };
	char cmd[320];
	__u32 old_id;

	if (!vrm_subtest("refused_before_anything_changes") || !bpf())
		return;
	old_id = crashed_pins(&c, "inc", VRM_MAP_QUEUES);
	if (!old_id)
		return;
	if (pin_other_layout(&c, VRM_MAP_QUEUES)) {
		VRM_EQ(vrm_bpf_load(&T, &o), -EEXIST);
		VRM_EQ(pinned_link_id(c.link), old_id);	/* untouched */
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", c.root);
	VRM_EQ(system(cmd), 0);
}
