// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmedd's vhost-user faces against a real dpdk-testpmd, driven by a
 * small VMM written here with the wire helpers: what the VMM is offered,
 * what the back-end is given (VERSION_1, the shadow region), the byte order
 * latch, a TX chain that goes round the whole loop (BPF at the kick, testpmd,
 * the used path back in guest order), and hostile VMM messages: each ends
 * that session with a log line and a counter, never the daemon, never the
 * neighbouring device, and leaks no fd.
 *
 * The tests are in this folder, one subject a file, run in the order the
 * Makefile lists the files.  This file is the session they share, brought
 * up by the first test that calls bring_up(): two testpmd back-ends and one
 * vringmedd serving devices neta and netb (starting them for every test
 * would multiply the run time).  Its paths are written once there and only
 * read after; a test that stops one of its peers leaves the device as the
 * next test expects (a test that needs testpmd on neta starts it when it is
 * gone).  zz_shutdown, the last test, stops the daemon and checks it
 * leaves nothing behind.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <vringmed/byteorder.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "test.h"
#include "proxy_test.h"

const char *vrm_test_suite = "test_proxy";

char dir[64], root[96], ctl[128], vmm_a[128], vmm_b[128], be_a[128], be_b[128];
struct peer tp_a, tp_b, dmn;

bool up;

int ctl_query(const char *cmd, char *out, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct timeval tv = { .tv_sec = 2 };	/* a daemon that hangs fails, not hangs */
	ssize_t n, got = 0;

	strcpy(sa.sun_path, ctl);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		close(fd);
		return -1;
	}
	while ((size_t)got < len - 1 && (n = read(fd, out + got, len - 1 - (size_t)got)) > 0)
		got += n;
	out[got] = 0;
	close(fd);
	return 0;
}

/* The JSON object of device `name` in "device list" holds `needle`. */
bool device_has(const char *name, const char *needle)
{
	char buf[8192], key[64], *obj, *end;

	for (int t = 0; t < 40; t++) {
		if (!ctl_query("device list", buf, sizeof(buf))) {
			snprintf(key, sizeof(key), "\"name\":\"%s\"", name);
			obj = strstr(buf, key);
			end = obj ? strchr(obj, '}') : NULL;
			if (end) {
				*end = 0;
				if (strstr(obj, needle))
					return true;
			}
		}
		usleep(50000);
	}
	return false;
}

/* Whatever happens to the tests (a filter, a failure), nothing stays. */
static bool started;	/* something of bring_up's may be running */

static void cleanup(void)
{
	if (!started)
		return;
	started = false;
	peer_stop(&dmn, SIGTERM);
	peer_stop(&tp_a, SIGTERM);
	peer_stop(&tp_b, SIGTERM);
	if (getenv("VRM_KEEP_LOGS"))
		printf("logs kept in %s\n", dir);
	else
		peers_rmdir(dir);
	rmdir(root);	/* a daemon that failed to load may leave it empty */
	up = false;
}

/* A TCP port of loopback nobody listens on now (for the metrics). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

int metrics_port;

bool bring_up(void)
{
	char da[300], db[300], maddr[32];
	const char *args[] = { "-c", ctl, "-d", da, "-d", db, "-v", "-m", maddr, NULL };

	if (up)
		return true;
	if (started)
		return false;	/* a failed bring-up is not retried */
	if (!have_testpmd()) {
		VRM_TRUE(!"dpdk-testpmd is installed (make setup)");
		return false;
	}
	if (peers_tmpdir(dir, sizeof(dir), "proxy"))
		return false;
	started = true;	/* from here on, cleanup() stops whatever started */
	atexit(cleanup);
	snprintf(root, sizeof(root), "/sys/fs/bpf/vringmed-proxy-%d", (int)getpid());
	snprintf(ctl, sizeof(ctl), "%s/ctl.sock", dir);
	snprintf(vmm_a, sizeof(vmm_a), "%s/vmm-a.sock", dir);
	snprintf(vmm_b, sizeof(vmm_b), "%s/vmm-b.sock", dir);
	snprintf(be_a, sizeof(be_a), "%s/be-a.sock", dir);
	snprintf(be_b, sizeof(be_b), "%s/be-b.sock", dir);
	snprintf(da, sizeof(da), "neta,vmm=%s,backend=%s", vmm_a, be_a);
	snprintf(db, sizeof(db), "netb,vmm=%s,backend=%s", vmm_b, be_b);
	metrics_port = free_port();
	snprintf(maddr, sizeof(maddr), "127.0.0.1:%d", metrics_port);
	if (!VRM_EQ(testpmd_start(&tp_a, dir, be_a, "pa"), 0) ||
	    !VRM_EQ(testpmd_start(&tp_b, dir, be_b, "pb"), 0) ||
	    !VRM_EQ(vringmedd_start(&dmn, dir, root, args), 0))
		return false;
	up = true;
	signal(SIGPIPE, SIG_IGN);	/* a peer that died is a result, not our end */
	return true;
}

uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The daemon's control socket answers within a second. */
bool ctl_answers_fast(void)
{
	char buf[8192];
	uint64_t t0 = mono_ms();

	if (ctl_query("device list", buf, sizeof(buf)) || !strstr(buf, "\"name\":\"netb\""))
		return false;
	return mono_ms() - t0 < 1000;
}

/* The number after `"key":` in the `stats` row of `dev` queue `q`, or -1. */
long long stats_field(const char *dev, int q, const char *key)
{
	char buf[16384], row[64], k[64], *at, *end;

	if (ctl_query("stats", buf, sizeof(buf)))
		return -1;
	snprintf(row, sizeof(row), "\"device\":\"%s\",\"queue\":%d,", dev, q);
	snprintf(k, sizeof(k), "\"%s\":", key);
	at = strstr(buf, row);
	if (!at)
		return -1;
	end = strstr(at + 1, "{\"device\":");	/* the next row */
	if (end)
		*end = 0;
	at = strstr(at, k);
	return at ? strtoll(at + strlen(k), NULL, 10) : -1;
}

/* Counters of queue slot `q`, summed over CPUs, from the pinned map. */
uint64_t pinned_counter(uint32_t q, size_t field_off)
{
	char path[160];
	int fd, ncpu = libbpf_num_possible_cpus();
	struct vrm_qstats *per = calloc((size_t)ncpu, sizeof(*per));
	uint64_t sum = 0;

	snprintf(path, sizeof(path), "%s/%s", root, VRM_MAP_STATS);
	fd = bpf_obj_get(path);
	if (fd >= 0 && per && !bpf_map_lookup_elem(fd, &q, per))
		for (int c = 0; c < ncpu; c++)
			sum += *(uint64_t *)((char *)&per[c] + field_off);
	if (fd >= 0)
		close(fd);
	free(per);
	return sum;
}

VRM_TEST(zz_shutdown)
{
	if (!up)
		return;
	if (vrm_subtest("sigterm_removes_pins")) {
		int st = peer_stop(&dmn, SIGTERM);

		VRM_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		VRM_TRUE(access(root, F_OK) != 0);
		VRM_TRUE(access(vmm_a, F_OK) != 0);
	}
	cleanup();
}
