// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * What the verifier did with each of vringmed's BPF programs (root only).
 *
 *   verifier_stats [--max PERCENT]         (make verifier-stats)
 *
 * Loads the object the way the daemon does, without attaching anything or
 * pinning, and prints per program the instructions the verifier processed
 * (bpf_prog_info.verified_insns, kernel 5.16+) against its limit of one
 * million, the translated and JITed sizes.  Then the static bound on the
 * work of one kick.  Exits 1 when a program used more than PERCENT of the
 * limit (default 25): the budget is there so the core can grow, and
 * verifiers of other kernels may explore more states, without anyone
 * finding out at load time on a customer's host (6.18.44 on two machines
 * once verified the same object in 23% and 52%).  docs/performance.md has
 * the current figures.
 *
 * Last line: max_verified_insns=<n> limit=1000000 programs=<k>
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vringmed/abi.h>
#include "../user/loader.h"
#include "../user/log.h"
#include "vringmed.skel.h"

#define VERIFIER_LIMIT 1000000u

static void usage(FILE *f)
{
	fprintf(f,
		"usage: verifier_stats [--max PERCENT] [-v]\n"
		"  Loads vringmed's BPF programs (nothing attached, nothing pinned) and\n"
		"  prints the instructions the verifier processed for each, against the\n"
		"  limit of %u.  Exit 1 when one uses more than PERCENT (default 25)\n"
		"  of the limit, 2 when the object cannot be loaded.\n", VERIFIER_LIMIT);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "max", required_argument, NULL, 'm' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct vrm_bpf b = { 0 };
	struct bpf_program *p;
	unsigned max_pct = 25, worst = 0, n = 0;
	int c, err, verbose = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "m:vh", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			max_pct = strtoul(optarg, &end, 10);
			if (*end || !max_pct || max_pct > 100) {
				fprintf(stderr, "verifier_stats: bad value for --max: %s\n", optarg);
				return 2;
			}
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	vrm_log_set_level(verbose ? VRM_LOG_DEBUG : VRM_LOG_WARN);
	err = vrm_bpf_load(&b, &(struct vrm_bpf_opts){ .attach = false });
	if (err) {
		fprintf(stderr, "verifier_stats: the BPF object did not load: %s\n", strerror(-err));
		return 2;
	}
	printf("%-20s %14s %9s %12s %11s\n", "PROGRAM", "VERIFIED_INSNS", "OF_LIMIT",
	       "XLATED_INSNS", "JITED_BYTES");
	bpf_object__for_each_program(p, b.skel->obj) {
		struct bpf_prog_info info = { 0 };
		__u32 len = sizeof(info);
		int fd = bpf_program__fd(p);

		if (fd < 0) {
			printf("%-20s %14s   (not loaded on this host)\n", bpf_program__name(p), "-");
			continue;
		}
		if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
			fprintf(stderr, "verifier_stats: no info for program %s: %s\n",
				bpf_program__name(p), strerror(errno));
			vrm_bpf_close(&b);
			return 2;
		}
		printf("%-20s %14u %8.2f%% %12u %11u\n", bpf_program__name(p), info.verified_insns,
		       100.0 * info.verified_insns / VERIFIER_LIMIT, info.xlated_prog_len / 8,
		       info.jited_prog_len);
		if (info.verified_insns > worst)
			worst = info.verified_insns;
		n++;
	}
	vrm_bpf_close(&b);
	/* The loops of the kick path, from the core's own constants. */
	printf("work per kick: at most 2 translation rounds (vrm_kick), each one avail read of\n"
	       "  <= ring size entries and <= %u vrm_kick_step calls; a step takes one\n"
	       "  descriptor or a bounded run of single ones or of chains of <= %u, or one\n"
	       "  indirect table of <= %u entries, and a descriptor is owned by at most one\n"
	       "  chain, so a round translates <= ring size (<= %u) descriptors\n",
	       VRM_KICK_STEPS, VRM_FAST_CHAIN, VRM_ITAB_MAX, VRM_MAX_RING);
	printf("max_verified_insns=%u limit=%u programs=%u\n", worst, VERIFIER_LIMIT, n);
	if (!n || worst > VERIFIER_LIMIT / 100 * max_pct) {
		fprintf(stderr, "verifier_stats: a program uses more than %u%% of the verifier's "
				"limit\n", max_pct);
		return 1;
	}
	return 0;
}
