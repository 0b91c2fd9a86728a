// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The real BPF object a test binary shares among its tests: bpf_once.h. */
#include <string.h>
#include <unistd.h>

#include "test.h"
#include "bpf_once.h"

struct vrm_bpf B;
static int load_err = 1;	/* 1: not tried yet */

struct vrm_bpf *bpf(void)
{
	if (load_err == 1) {
		struct vrm_bpf_opts o = { .attach = true };

		load_err = vrm_bpf_load(&B, &o);
	}
	if (load_err && geteuid() != 0)
		vrm_skip("not root: BPF programs cannot be loaded");
	else if (load_err)
		/* As root on this kernel a load failure is a bug (the verifier
		 * refused the object), never a reason to skip. */
		VRM_CHECK(false, "BPF object did not load: %s", strerror(-load_err));
	return load_err ? NULL : &B;
}

void bpf_close(void)
{
	if (load_err == 0)
		vrm_bpf_close(&B);
	load_err = 1;
}
