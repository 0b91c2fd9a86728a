// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A legacy (virtio 0.9.5) driver as a real process: it lays out a split ring
 * in guest memory (an inherited memfd) with plain C stores of native values,
 * exactly as a legacy guest kernel does, and kicks with write(eventfd).  Built
 * natively (little-endian) and for s390x under qemu-s390x-static
 * (big-endian).  Nothing here knows about byte order: that is the point.
 *
 *   legacy_driver MEMFD KICKFD RING_GPA SIZE
 * stdin: "kick N" adds N two-descriptor chains (out header, in buffer) and
 * kicks; "quit" exits.  stdout: "ready", then "kicked AVAIL_IDX" per kick.
 * Descriptor i of the ring: addr 0x10000 + 0x100 * i, len 16 + i.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#define MEM_BYTES (1u << 20)

struct ldesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

int main(int argc, char **argv)
{
	int memfd, kickfd;
	uint64_t ring_gpa;
	unsigned size, next_desc = 0;
	uint16_t avail_idx = 0;
	struct ldesc *desc;
	volatile uint16_t *avail;
	uint8_t *mem;
	char line[64];

	if (argc != 5) {
		fprintf(stderr, "usage: %s MEMFD KICKFD RING_GPA SIZE\n", argv[0]);
		return 2;
	}
	memfd = atoi(argv[1]);
	kickfd = atoi(argv[2]);
	ring_gpa = strtoull(argv[3], NULL, 0);
	size = atoi(argv[4]);
	mem = mmap(NULL, MEM_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (mem == MAP_FAILED) {
		perror("legacy_driver: mmap guest memory");
		return 1;
	}
	desc = (struct ldesc *)(mem + ring_gpa);
	avail = (volatile uint16_t *)(mem + ring_gpa + 16ull * size);
	avail[0] = 0;	/* flags: we want interrupts */
	printf("ready\n");
	fflush(stdout);

	while (fgets(line, sizeof(line), stdin)) {
		unsigned n;
		uint64_t one = 1;

		if (sscanf(line, "kick %u", &n) != 1)
			break;
		for (unsigned c = 0; c < n; c++) {
			unsigned h = next_desc % size, d = (next_desc + 1) % size;

			desc[h] = (struct ldesc){ 0x10000 + 0x100ull * h, 16 + h, 1 /* NEXT */, d };
			desc[d] = (struct ldesc){ 0x10000 + 0x100ull * d, 16 + d, 2 /* WRITE */, 0 };
			avail[2 + (avail_idx % size)] = h;
			avail_idx++;
			next_desc += 2;
		}
		__sync_synchronize();	/* ring entries before the idx */
		avail[1] = avail_idx;
		__sync_synchronize();	/* idx before the kick */
		if (write(kickfd, &one, sizeof(one)) != sizeof(one)) {
			perror("legacy_driver: kick");
			return 1;
		}
		printf("kicked %u\n", avail_idx);
		fflush(stdout);
	}
	return 0;
}
