#!/usr/bin/env bash
# The benchmarks, run small so the suite keeps them working (their figures
# come from `make bench-core`, `make bench-kick` and `make perf-compare`
# on a quiet machine, not from here).  Each one must finish and keep its
# own checks, which fail the run: perf-compare's back-end wakes to a ring
# holding exactly the kick's chains, every chain comes back in the guest's
# byte order, no completion goes missing while the driver polls with
# NO_INTERRUPT set (5 s and it dies); bench-kick's shadow ring is filled
# before the back-end wakes and every kick was translated.  Then the result
# lines and files are checked for shape.
# Summary: "test_tools: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
SUITE=test_tools SUITE_TAG=tools
. selftests/lib.sh

echo "== test_tools (bench-core, bench-kick -q, perf-compare and its kick phases at their smallest)"
TMP=$(mktemp -d /tmp/vm-tools-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
num='[0-9]+(\.[0-9]+)?'

if command -v valgrind >/dev/null; then
	if bash tools/bench-core.sh > "$TMP/core.txt" 2>&1; then
		check bench_core_result grep -Eq "^core_instructions_per_desc=$num\$" "$TMP/core.txt"
	else
		tail -5 "$TMP/core.txt" | sed 's/^/      /'
		bad bench_core_runs "tools/bench-core.sh failed"
	fi
else
	skp bench_core_runs "valgrind not installed (make setup)"
fi

if [ "$(id -u)" -ne 0 ]; then
	skp bench_kick_runs "needs root (loads BPF programs)"
	skp perf_compare_runs "needs root (loads BPF programs)"
	finish
fi

if .output/bench_kick -q > "$TMP/kick.txt" 2>&1; then
	ok bench_kick_runs
	check bench_kick_result grep -Eq "^bpf_ns_per_desc_256=$num kick_added_ns_p50=-?[0-9]+\$" "$TMP/kick.txt"
	check bench_kick_no_verdict_in_smoke grep -q "^targets: not judged" "$TMP/kick.txt"
	# Part 3: each primitive timed, and both hooks set against no program.
	check bench_kick_primitives grep -Eq "^   bpf_probe_read_user, 2 bytes +$num +-?$num\$" "$TMP/kick.txt"
	check bench_kick_hooks grep -Eq "^   raw tracepoint sys_enter +$num +-?$num +$num +-?$num\$" "$TMP/kick.txt"
elif grep -q "which need Linux 6.2 or later" "$TMP/kick.txt"; then
	skp bench_kick_runs "it times vrm_test_kick and vrm_tp_write, which this kernel (before 6.2) does not load"
else
	tail -5 "$TMP/kick.txt" | sed 's/^/      /'
	bad bench_kick_runs "bench_kick -q failed"
fi

png_before=$(md5sum docs/perf-compare.png 2>/dev/null)
if PERF_COMPARE_OUT="$TMP/pc" tools/perf-compare -b 2 -n 100 -S 2 -t 20 > "$TMP/pc.log" 2>&1; then
	ok perf_compare_runs
	check perf_compare_result grep -Eq "^bpf_vs_relay_added_latency_ratio=-?$num bpf_vs_relay_stream_min=$num bpf_stream_vs_direct_256=$num bpf_vs_relay_cpu_per_desc_max=$num\$" "$TMP/pc.log"
	# 7 modes x 3 batches, in the closed loop's table and the stream's.
	rows=$(grep -Ec '^(direct|relay|bpf|bpf\+poll) +(-|le|be) +(1|16|256) \|' "$TMP/pc.txt")
	check perf_compare_table_rows [ "$rows" -eq 42 ]
	check perf_compare_callgrind grep -Eq '^   be +256 +[0-9]+ +[0-9.]+ +[0-9]+ +[0-9.]+$' "$TMP/pc.txt"
	if command -v gnuplot >/dev/null; then
		check perf_compare_png [ "$(head -c 4 "$TMP/pc.png" 2>/dev/null | tail -c 3)" = PNG ]
	else
		skp perf_compare_png "gnuplot not installed (make setup)"
	fi
	check perf_compare_leaves_docs_alone [ "$(md5sum docs/perf-compare.png 2>/dev/null)" = "$png_before" ]
else
	tail -5 "$TMP/pc.log" | sed 's/^/      /'
	bad perf_compare_runs "tools/perf-compare failed"
fi

# make perf-kick-phases: the build with clock stamps, its paired pass at its
# smallest; the product's object and perf_compare have none of it.
check kick_phases_not_in_product bash -c '! llvm-nm-19 .output/vringmed.bpf.o | grep -q vrm_stamp'
.output/perf_compare -k > "$TMP/nok.txt" 2>&1; rc=$?
check kick_phases_refused_without_stamps bash -c "[ $rc -ne 0 ] && grep -q 'make perf-kick-phases' '$TMP/nok.txt'"
if make -s .output/stamps/perf_compare > "$TMP/kp-build.txt" 2>&1 &&
   .output/stamps/perf_compare -k -b 2 -n 100 > "$TMP/kp.txt" 2>&1; then
	ok kick_phases_runs
	# Seven phases and the whole, each p50 between 1 ns and 1 ms (a stamp
	# left out reads as 0 and makes its phase's difference huge), and the
	# whole still positive with the stamps' cost taken off.
	check kick_phases_table awk '/^  (the writer|fd -> |queue, device|the lock|the chain|the shadow avail|the whole \()/ {
		n++; if (!($(NF-3) > 0 && $(NF-3) < 1000000)) bad = 1 }
		/the whole less its 7 stamps, p50: [0-9]+ ns/ { net = $(NF-1) }
		END { exit !(n == 8 && !bad && net > 0) }' "$TMP/kp.txt"
	check kick_phases_ratio grep -Eq "^  BPF -?$num ns p50, the relay -?$num ns: BPF/relay -?$num\$" "$TMP/kp.txt"
else
	tail -5 "$TMP/kp-build.txt" "$TMP/kp.txt" | sed 's/^/      /'
	bad kick_phases_runs "make perf-kick-phases' binary failed"
fi
finish
