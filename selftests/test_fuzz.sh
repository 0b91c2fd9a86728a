#!/usr/bin/env bash
# Fuzz smoke for `make test`: each libFuzzer target (ASan + UBSan) runs for
# FUZZ_SMOKE_SECONDS (default 20 each) on a copy of its committed seed corpus.
# A crash, a leak or a sanitizer report fails it.  `make fuzz` is the
# longer run (FUZZ_TIME seconds per target).
set -u
cd "$(dirname "$0")/.."
OUT=.output/fuzz
SECS=${FUZZ_SMOKE_SECONDS:-${FUZZ_TIME:-20}}
pass=0 fail=0 skip=0
echo "== fuzz (libFuzzer, ASan + UBSan, ${SECS} s per target)"
for src in selftests/fuzz/fuzz_*.c; do
	t=$(basename "$src" .c)
	bin=$OUT/$t
	if [ ! -x "$bin" ]; then
		echo "SKIP  fuzz/$t: $bin not built (make fuzz-build; needs clang-19 and libclang-rt-19-dev)"
		skip=$((skip + 1)); continue
	fi
	work=$(mktemp -d)
	cp selftests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
	log=$OUT/$t.log
	if "$bin" -max_total_time="$SECS" -print_final_stats=1 -timeout=10 \
		-artifact_prefix="$OUT/$t-" "$work" > "$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok    fuzz/$t: $runs executions in ${SECS} s, no crash"
		pass=$((pass + 1))
	else
		grep -E "fuzz_|ERROR|SUMMARY|runtime error" "$log" | head -8 | sed 's/^/      /'
		echo "FAIL  fuzz/$t: crashed (log $log, input $OUT/$t-crash-*)"
		fail=$((fail + 1))
	fi
	rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
