#!/usr/bin/env bash
# Runs every test binary and prints one summary line over all of them.
# Exits non-zero when any test failed or any binary did not finish.
set -u
cd "$(dirname "$0")/.."
OUT=.output
total_p=0 total_f=0 total_s=0 rc=0

run() {
	local name=$1; shift
	local log
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local status=${PIPESTATUS[0]}
	local line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n1)
	if [ -z "$line" ]; then
		echo "run.sh: $name finished without a summary (exit $status)"
		total_f=$((total_f + 1)); rc=1
	else
		local p f s
		p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line")
		f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
		s=$(sed -nE 's/.* ([0-9]+) skipped.*/\1/p' <<<"$line")
		total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + ${s:-0}))
		[ "$status" -eq 0 ] || rc=1
	fi
	rm -f "$log"
}

# Kernel hygiene: a marker in the kernel log now, and at the end
# every kernel line after it is searched for warnings, oopses, BPF messages
# and crashes of our own binaries.
KMARK=""
if [ "$(id -u)" -eq 0 ] && [ -w /dev/kmsg ]; then
	KMARK="vringmed-selftests: begin $$ $(date +%s%N)"
	echo "$KMARK" > /dev/kmsg
fi

kernel_hygiene() {
	if [ -z "$KMARK" ]; then
		echo "SKIP  kernel/dmesg_clean: not root, the kernel log cannot be marked"
		total_s=$((total_s + 1))
		return
	fi
	local bad
	bad=$(dmesg | sed -n "/$KMARK/,\$p" | tail -n +2 |
	      grep -E 'WARNING|BUG|Oops|general protection|Call Trace|RIP:|bpf|BPF|verifier|vringmed|vrm_[a-z_]+\+|(test_[a-z]+|vringmedd|vringmedctl|vu_driver|legacy_driver|perf_compare|bench_[a-z]+)\[[0-9]+\]: segfault' || true)
	if [ -n "$bad" ]; then
		echo "$bad" | head -20 | sed 's/^/      /'
		echo "FAIL  kernel/dmesg_clean: the kernel logged the lines above during the tests"
		total_f=$((total_f + 1)); rc=1
	else
		echo "ok    kernel/dmesg_clean: no kernel warning, BPF message or crash of ours since the tests began"
		total_p=$((total_p + 1))
	fi
}

run test_core "$OUT/test_core"
if command -v qemu-s390x-static >/dev/null; then
	run test_core.s390x qemu-s390x-static "$OUT/test_core.s390x"
else
	echo "SKIP  test_core.s390x: qemu-s390x-static not installed (run make setup)"
	total_s=$((total_s + 1))
fi
if [ "$(id -u)" -eq 0 ]; then
	run test_bpf "$OUT/test_bpf"
	run test_proxy "$OUT/test_proxy"
	run test_suppress "$OUT/test_suppress"
else
	echo "SKIP  test_bpf, test_proxy, test_suppress: need root to load BPF programs"
	total_s=$((total_s + 3))
fi
# dpdk-testpmd + vu_driver (native and s390x); the parts through vringmedd
# skip themselves without root.
run test_vhost "$OUT/test_vhost"
# qemu-storage-daemon + vu_blk_driver (native and s390x), direct and
# through vringmedd (those parts skip themselves without root).
run test_blk "$OUT/test_blk"
run test_ops selftests/test_ops.sh
run test_soak selftests/test_soak.sh
run test_guest selftests/test_guest.sh
# vringmedd's XDP back-end on a veth pair into a namespace of its own.
run test_xdp selftests/test_xdp.sh
run test_fuzz selftests/test_fuzz.sh
# The BPF programs on Debian 12's own kernel (6.1), booted under QEMU.
run test_kernel selftests/test_kernel.sh
run test_tools selftests/test_tools.sh
# make install/uninstall, the man pages, and the Debian package installed
# on this machine, started, and purged (the package part needs root).
run test_install selftests/test_install.sh
kernel_hygiene

echo "$total_p passed, $total_f failed, $total_s skipped"
[ "$total_f" -eq 0 ] && [ "$rc" -eq 0 ]
