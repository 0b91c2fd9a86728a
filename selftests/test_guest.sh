#!/usr/bin/env bash
# The real big-endian guest end to end (issue 5): Debian's s390x kernel and
# its own virtio-net driver under qemu-system-s390x, through vringmedd, to
# dpdk-testpmd.  Each case is one tools/guest/run.sh; a case passes when the
# run ends the way the case says.  Summary: "test_guest: N passed, ..."
set -u
cd "$(dirname "$0")/.."
pass=0 fail=0 skip=0

case_run() {	# NAME EXPECT(WORKED|FAILED) GREP-or-empty ARGS...
	local name=$1 expect=$2 want=$3 out
	shift 3
	out=$(tools/guest/run.sh "$@" 2>&1)
	if ! grep -q "^RESULT: $expect" <<<"$out" || { [ -n "$want" ] && ! grep -q -- "$want" <<<"$out"; }; then
		echo "$out" | sed 's/^/      /'
		echo "FAIL  guest/$name (expected RESULT: $expect${want:+ and '$want'})"
		fail=$((fail + 1))
	else
		[ "${VERBOSE:-}" ] && echo "$out" | sed 's/^/      /'
		echo "ok    guest/$name: $(grep -E '^  guest:' <<<"$out" | sed 's/^  //')"
		pass=$((pass + 1))
	fi
}

echo "== test_guest (s390x Linux guest under qemu-system-s390x, TCG)"
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP  guest/*: needs root (BPF, testpmd)"; skip=4
elif ! tools/guest/fetch.sh >/dev/null 2>&1; then
	echo "SKIP  guest/*: the s390x guest could not be fetched (tools/guest/fetch.sh; make setup)"; skip=4
else
	# The point of it all: a legacy big-endian guest on a modern-only back-end.
	case_run legacy_via_vringmedd WORKED "version_1=0" --mode legacy --path vringmedd
	case_run modern_via_vringmedd WORKED "version_1=1" --mode modern --path vringmedd
	# The problem, documented: straight to testpmd the legacy guest gets nothing back.
	case_run legacy_direct_fails FAILED "rx_packets=0" --mode legacy --path direct
	case_run modern_direct_works WORKED "" --mode modern --path direct
fi
echo "test_guest: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
