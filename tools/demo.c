// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * vringmed-demo: a big-endian legacy driver (s390x, under qemu-s390x-static)
 * and a little-endian driver kick their rings; the real BPF programs, loaded
 * into this kernel, translate at the kick; a modern (little-endian-only)
 * backend process reads the shadow ring when the kick wakes it.  Shows what
 * that backend would have read from the guest ring directly, what it reads
 * from the shadow ring, and vringmed's counters, then says whether it worked.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"
#include "log.h"
#include "uxlate.h"
#include "rig.h"
#include "ringgen.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vringmed-demo [--kicks N] [--verbose]\n"
		"\n"
		"Loads vringmed's BPF programs, starts a big-endian legacy driver (s390x under\n"
		"qemu-s390x-static) and a little-endian one, each with a modern backend process\n"
		"woken by the driver's own kick eventfd, and shows the translation.\n"
		"Needs root (BPF).  Exit status 0 when every kick was translated intact.\n");
}

/* What a modern backend would make of the guest's descriptor 0 if it read the
 * legacy ring directly: VERSION_1 says little-endian. */
static void show_direct(const struct rig *r)
{
	const uint8_t *d = (const uint8_t *)r->local + DRV_RING_GPA;

	printf("  %-7s guest desc[0] read as little-endian (no mediation): addr=0x%016llx len=%llu\n",
	       r->name, (unsigned long long)tr_le(d, 8), (unsigned long long)tr_le(d + 8, 4));
}

static void show_shadow(struct vrm_bpf *b, const struct rig *r)
{
	const struct vrm_shadow_queue *sh = &b->shadow[r->qslot];

	printf("  %-7s shadow desc[0] as the backend reads it (vringmed): addr=0x%016llx len=%llu\n",
	       r->name, (unsigned long long)tr_le(&sh->desc[0].addr, 8),
	       (unsigned long long)tr_le(&sh->desc[0].len, 4));
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kicks", required_argument, NULL, 'k' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	struct vrm_bpf_opts lo = { .attach = true };
	struct rig rigs[2] = {
		{ .name = "s390x", .big_endian = 1, .slot = 0 },
		{ .name = "x86_64", .big_endian = 0, .slot = 1 },
	};
	struct vrm_bpf b;
	int kicks = 5, c, failures = 0, started = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* interleave with the logger in order */
	while ((c = getopt_long(argc, argv, "k:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			kicks = atoi(optarg);
			if (kicks < 1 || kicks > 10) {
				fprintf(stderr, "vringmed-demo: --kicks must be 1..10\n");
				return 2;
			}
			break;
		case 'v':
			vrm_log_set_level(VRM_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "vringmed-demo: needs root to load BPF programs\n");
		return 1;
	}
	if (!rig_have_qemu_user()) {
		fprintf(stderr, "vringmed-demo: qemu-s390x-static or the s390x driver is missing; run `make setup && make`\n");
		return 1;
	}
	if (vrm_bpf_load(&b, &lo))
		return 1;
	printf("vringmed: BPF programs loaded and attached (write() kicks%s%s)\n",
	       b.have_kvm ? ", KVM pio/mmio" : "", b.have_fentry ? ", fentry" : "");

	for (int i = 0; i < 2; i++) {
		int err = rig_start(&b, &rigs[i]);

		if (err) {
			fprintf(stderr, "vringmed-demo: starting the %s driver failed: %s\n",
				rigs[i].name, strerror(-err));
			failures++;
			break;
		}
		started++;
		printf("device %u: %s legacy driver pid %d (%s-endian ring), backend pid %d\n",
		       rigs[i].slot, rigs[i].name, (int)rigs[i].driver,
		       rigs[i].big_endian ? "big" : "little", (int)rigs[i].backend);
	}

	for (int k = 0; k < kicks && !failures; k++) {
		for (int i = 0; i < 2; i++) {
			unsigned kicked, seen, n = 1 + k * 2;
			int bad, err = rig_kick(&rigs[i], n, &kicked, &seen, &bad);
			bool ok = !err && seen == kicked && !bad;

			printf("kick %d %-7s %2u chains: guest avail idx %3u, backend woke to shadow idx %3u, descriptors %s\n",
			       k + 1, rigs[i].name, n, kicked, seen,
			       err ? "(no answer)" : bad ? "WRONG" : "intact");
			failures += !ok;
		}
	}
	if (started == 2) {
		printf("\nwhat a modern backend sees:\n");
		for (int i = 0; i < 2; i++) {
			show_direct(&rigs[i]);
			show_shadow(&b, &rigs[i]);
		}
	}
	printf("\nvringmed counters (per device, queue 0):\n");
	printf("  %-7s %6s %7s %6s %8s %7s %7s\n", "device", "kicks", "chains", "descs", "deferred",
	       "errors", "broken");
	for (int i = 0; i < started; i++) {
		struct vrm_qstats st;
		__u64 errors = 0;

		vrm_bpf_read_stats(&b, rigs[i].qslot, &st);
		for (int v = VRM_DEFER + 1; v < VRM_VERDICT_NR; v++)
			errors += st.errors[v];
		printf("  %-7s %6llu %7llu %6llu %8llu %7llu %7s\n", rigs[i].name,
		       (unsigned long long)st.kicks, (unsigned long long)st.chains,
		       (unsigned long long)st.descs, (unsigned long long)st.deferred,
		       (unsigned long long)errors, vrm_verdict_name(b.devices[rigs[i].slot].broken));
	}
	for (int i = started - 1; i >= 0; i--)
		rig_stop(&b, &rigs[i]);
	vrm_bpf_close(&b);
	printf("\n%s\n", failures ? "RESULT: FAILED — see the lines above"
				  : "RESULT: WORKED — every big- and little-endian kick reached the modern backend translated and intact");
	return failures ? 1 : 0;
}
