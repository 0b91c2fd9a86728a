// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "test.h"

#define VRM_MAX_TESTS 128

static struct {
	const char *name;
	vrm_test_fn fn;
} tests[VRM_MAX_TESTS];
static int ntests;

static const char *cur_test;
static char cur_sub[128];
static bool sub_open, sub_failed, sub_skipped, verbose;
static int passed, failed, skipped;
static char **filters;
static int nfilters;
const char *vrm_test_suite __attribute__((weak)) = "tests";

/* Called by the tests' constructors, before main: a test the table cannot
 * hold stops the binary with a message, never goes missing from the run.
 * So does a second test of the same name (tests are static functions in
 * several files, so the linker cannot catch it): its results would be
 * counted under the other's name. */
void vrm_test_register(const char *name, vrm_test_fn fn)
{
	if (ntests == VRM_MAX_TESTS) {
		fprintf(stderr, "runner: more than %d tests (%s): raise VRM_MAX_TESTS\n",
			VRM_MAX_TESTS, name);
		exit(2);
	}
	for (int t = 0; t < ntests; t++) {
		if (!strcmp(tests[t].name, name)) {
			fprintf(stderr, "runner: two tests named %s\n", name);
			exit(2);
		}
	}
	tests[ntests].name = name;
	tests[ntests].fn = fn;
	ntests++;
}

bool vrm_test_verbose(void)
{
	return verbose;
}

static void close_sub(void)
{
	if (!sub_open)
		return;
	if (sub_failed) {
		failed++;
		printf("FAIL  %s/%s\n", cur_test, cur_sub);
	} else if (sub_skipped) {
		skipped++;
	} else {
		passed++;
		if (verbose)
			printf("ok    %s/%s\n", cur_test, cur_sub);
	}
	fflush(stdout);
	sub_open = false;
}

bool vrm_subtest(const char *fmt, ...)
{
	char full[256];
	va_list ap;
	bool match = nfilters == 0;

	close_sub();
	va_start(ap, fmt);
	vsnprintf(cur_sub, sizeof(cur_sub), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s/%s", cur_test, cur_sub);
	for (int i = 0; i < nfilters; i++)
		if (strstr(full, filters[i]))
			match = true;
	if (!match)
		return false;
	sub_open = true;
	sub_failed = sub_skipped = false;
	return true;
}

void vrm_skip(const char *fmt, ...)
{
	va_list ap;

	printf("SKIP  %s/%s: ", cur_test, cur_sub);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	sub_skipped = true;
}

bool vrm_subtest_failed(void)
{
	return sub_failed;
}

void vrm_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	/* Outside a subtest, the name of the last one would mislead. */
	printf("      %s%s%s: %s:%d: ", cur_test, sub_open ? "/" : "", sub_open ? cur_sub : "", file,
	       line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!sub_open) {
		/* A failure outside any subtest (set-up): counts on its own. */
		failed++;
		printf("FAIL  %s (outside a subtest)\n", cur_test);
		return;
	}
	sub_failed = true;
}

int main(int argc, char **argv)
{
	struct utsname u;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = true;
		else if (!strcmp(argv[i], "-l")) {
			for (int t = 0; t < ntests; t++)
				printf("%s\n", tests[t].name);
			return 0;
		}
	}
	filters = calloc(argc, sizeof(*filters));
	for (int i = 1; i < argc; i++)
		if (argv[i][0] != '-')
			filters[nfilters++] = argv[i];
	uname(&u);
	printf("== %s on %s (%s-endian host)\n", vrm_test_suite, u.machine,
	       ((const union { uint16_t w; uint8_t b[2]; }){ .w = 1 }).b[0] ? "little" : "big");
	for (int t = 0; t < ntests; t++) {
		cur_test = tests[t].name;
		tests[t].fn();
		close_sub();
	}
	printf("%s on %s: %d passed, %d failed, %d skipped\n", vrm_test_suite, u.machine,
	       passed, failed, skipped);
	return failed ? 1 : 0;
}
