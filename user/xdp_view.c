// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedctl's view of the XDP back-end: what vringmedd pinned under
 * PIN_ROOT/xdp/IFACE (backend_xdp.c) read back, so it works without the
 * daemon: whether the steering program is the one on the interface, its
 * verdict counters, the MACs it steers.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include <vringmed/xdp_steer.h>

#include "xdp_view.h"

static int xv_get(const char *dir, const char *name)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bpf_obj_get(path);
}

static json_t *xv_stats(int fd)
{
	static const char *const names[VRM_XDP_NSTATS] = { "steered", "passed", "flooded",
							   "no_socket" };
	int ncpu = libbpf_num_possible_cpus();
	json_t *o = json_object();

	for (__u32 k = 0; k < VRM_XDP_NSTATS && ncpu > 0; k++) {
		__u64 v[ncpu], sum = 0;

		if (!bpf_map_lookup_elem(fd, &k, v))
			for (int c = 0; c < ncpu; c++)
				sum += v[c];
		json_object_set_new(o, names[k], json_integer((json_int_t)sum));
	}
	return o;
}

static json_t *xv_macs(int fd)
{
	json_t *a = json_array();
	__u64 key, next, *prev = NULL;
	__u32 sock;
	char mac[18];

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &sock))
			continue;
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x",
			 (unsigned)(key >> 40) & 0xff, (unsigned)(key >> 32) & 0xff,
			 (unsigned)(key >> 24) & 0xff, (unsigned)(key >> 16) & 0xff,
			 (unsigned)(key >> 8) & 0xff, (unsigned)key & 0xff);
		json_array_append_new(a, json_pack("{s:s, s:i}", "mac", mac, "socket", (int)sock));
	}
	return a;
}

/* Whether the pinned program is the one XDP runs on the interface. */
static bool xv_attached(const char *iface, int prog_fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info), id = 0;
	int ifindex = (int)if_nametoindex(iface);

	if (!ifindex || bpf_obj_get_info_by_fd(prog_fd, &info, &len) ||
	    bpf_xdp_query_id(ifindex, 0, &id))
		return false;
	return id == info.id;
}

json_t *vrm_xdp_view(const char *pin_root)
{
	char dir[300], sub[600];
	json_t *arr = json_array();
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/xdp", pin_root);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		int prog, stats, macs;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		prog = xv_get(sub, VRM_XDP_PROG);
		stats = xv_get(sub, VRM_XDP_MAP_STATS);
		macs = xv_get(sub, VRM_XDP_MAP_MACS);
		json_array_append_new(arr, json_pack("{s:s, s:b, s:o, s:o}", "interface", e->d_name,
			"attached", prog >= 0 && xv_attached(e->d_name, prog),
			"verdicts", stats >= 0 ? xv_stats(stats) : json_object(),
			"macs", macs >= 0 ? xv_macs(macs) : json_array()));
		for (int fd, i = 0; i < 3; i++) {
			fd = i == 0 ? prog : i == 1 ? stats : macs;
			if (fd >= 0)
				close(fd);
		}
	}
	if (d)
		closedir(d);
	return arr;
}
