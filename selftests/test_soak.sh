#!/usr/bin/env bash
# Crash soak: SOAK_RESTARTS (default 100) kill -9s of vringmedd
# while a big-endian legacy driver (vu_driver.s390x under qemu-s390x-static:
# a VMM and its guest) streams frames through it to dpdk-testpmd, which sends
# every one back.  The driver reconnects after each kill as QEMU does
# (reconnect=1: rings restarted at the guest's used idx); the new daemon
# adopts the pinned links and maps and resumes every ring where the dead one
# left it.  Checked, with per-descriptor accounting at both ends:
#   - every restart ready within 1 s, every ring resumed, traffic after each;
#   - every TX chain the guest posted came back exactly once, no frame came
#     back damaged or twice (the driver's own accounting);
#   - frames the guest sent == frames testpmd received, and frames testpmd
#     sent == frames the guest received: none lost or repeated by vringmed;
#   - the counters never went backwards, the device never broke.
# Summary: "test_soak: N passed, N failed, N skipped".  SOAK_DRIVER=native
# uses the little-endian driver instead.
set -u
cd "$(dirname "$0")/.."
SUITE=test_soak SUITE_TAG=soak
. selftests/lib.sh

N=${SOAK_RESTARTS:-100}
echo "== test_soak ($N x kill -9 of vringmedd under traffic, with reconnects)"
if [ "$(id -u)" -ne 0 ]; then
	skp 'restarts/*' "needs root (BPF, testpmd)"; skip=$((skip + 8)); finish
fi
if [ "${SOAK_DRIVER:-s390x}" = native ]; then
	DRIVER=(.output/vu_driver)
elif command -v qemu-s390x-static > /dev/null; then
	DRIVER=(qemu-s390x-static .output/vu_driver.s390x)
else
	skp 'restarts/*' "qemu-s390x-static not installed (make setup)"; skip=$((skip + 8)); finish
fi

TMP=$(mktemp -d /tmp/vm-soak-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-soak-$$
PREFIX=vms-$$
TP= D= HOLD= DRV=
cleanup() {
	for p in $DRV $D $TP $HOLD; do stop_pid "$p"; done
	wait 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$ROOT"
	[ -n "${VRM_KEEP_LOGS:-}" ] && echo "logs kept in $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

testpmd_start "$TMP/be.sock" "$TMP/tp.in" "$TMP/testpmd.log" "$PREFIX"
LOG=$TMP/vringmedd.log
start() {
	vringmedd_start "$LOG" "${SOAK_DAEMON_ENV:-}" -p "$ROOT" -c "$TMP/ctl.sock" -m none \
		-d "net0,vmm=$TMP/vmm.sock,backend=$TMP/be.sock"
}
C=".output/vringmedctl -p $ROOT"
# descriptors and used entries over both queues, from the pinned maps
counters() { $C -j stats 2>/dev/null | python3 -c 'import json,sys; r=json.load(sys.stdin); print(sum(q["descriptors"] for q in r), sum(q["used"] for q in r))' 2>/dev/null || echo "-1 -1"; }

start || { bad daemon "vringmedd did not start: $(tail -n2 "$LOG")"; finish; }
"${DRIVER[@]}" --socket "$TMP/vmm.sock" --legacy --stream --reconnect --timeout-ms 20000 \
	> "$TMP/driver.out" 2> "$TMP/driver.err" & DRV=$!

# Waits until descriptors and used entries both moved past $1 $2 (5 s).
flowing() {
	local d u
	for _ in $(seq 250); do
		read -r d u < <(counters)
		[ "$d" -gt "$1" ] && [ "$u" -gt "$2" ] && return 0
		kill -0 "$DRV" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
flowing 0 0 || { bad traffic "no traffic before the first kill: $(tail -n3 "$TMP/driver.err")"; finish; }

ready=() no_traffic=0 went_back=0 not_ready=0
read -r pd pu < <(counters)
for i in $(seq "$N"); do
	# Somewhere in the stream, not at a fixed phase of it.
	sleep "0.$(printf '%03d' $((RANDOM % 300)))"
	kill -9 "$D"; wait "$D" 2>/dev/null
	read -r dd du < <(counters)		# while down: the pinned maps
	if ! start; then
		not_ready=$((not_ready + 1)); echo "      restart $i: not ready: $(tail -n2 "$LOG")"
		start || break
	fi
	ready+=("$READY_MS")
	read -r rd ru < <(counters)
	if ! flowing "$rd" "$ru"; then
		no_traffic=$((no_traffic + 1)); echo "      restart $i: no traffic within 5 s"
	fi
	read -r nd nu < <(counters)
	for pair in "$pd $dd" "$dd $rd" "$rd $nd" "$pu $du" "$du $ru" "$ru $nu"; do
		set -- $pair
		[ "$2" -ge "$1" ] || { went_back=$((went_back + 1)); echo "      restart $i: a counter went back: $1 -> $2"; }
	done
	pd=$nd pu=$nu
done

# The stream ends: the driver lets everything in flight come back.
kill -TERM "$DRV"
wait "$DRV"; drv_rc=$?; DRV=
res=$(grep "RESULT" "$TMP/driver.out")
echo "      driver: ${res#vu_driver: }"
sent=$(sed -nE 's/.* sent=([0-9]+).*/\1/p' <<<"$res")
recv=$(sed -nE 's/.* received=([0-9]+).*/\1/p' <<<"$res")
reconn=$(sed -nE 's/.* reconnects=([0-9]+).*/\1/p' <<<"$res")
echo "show port stats 0" > "$TMP/tp.in"
for _ in $(seq 50); do grep -q "TX-packets" "$TMP/testpmd.log" && break; sleep 0.1; done
sleep 0.2
tp_rx=$(grep -oE 'RX-packets: *[0-9]+' "$TMP/testpmd.log" | tail -n1 | grep -oE '[0-9]+$')
tp_tx=$(grep -oE 'TX-packets: *[0-9]+' "$TMP/testpmd.log" | tail -n1 | grep -oE '[0-9]+$')
resumed=$(grep -c "queue [01] resumed where the previous daemon left it" "$LOG")
journal=$(grep -c "finished from the journal" "$LOG")
sorted=$(printf '%s\n' "${ready[@]}" | sort -n)
p50=$(sed -n "$(( (${#ready[@]} + 1) / 2 ))p" <<<"$sorted"); max=$(tail -n1 <<<"$sorted")
echo "      $N restarts: ready p50 ${p50} ms, max ${max} ms; rings resumed $resumed (of $((2 * N))), $journal completions finished from the journal; driver reconnects $reconn"
echo "      frames: guest sent $sent, testpmd received ${tp_rx:-?}; testpmd sent ${tp_tx:-?}, guest received $recv (testpmd dropped $(( ${tp_rx:-0} - ${tp_tx:-0} )))"

check all_restarts_ready [ "$not_ready" -eq 0 -a "${#ready[@]}" -eq "$N" ]
check ready_within_1s [ "${max:-99999}" -le 1000 ]
check every_ring_resumed [ "$resumed" -eq $((2 * N)) ]
check traffic_after_every_restart [ "$no_traffic" -eq 0 -a "${reconn:-0}" -eq "$N" ]
check driver_every_chain_back_once_nothing_damaged [ "$drv_rc" -eq 0 ]
check to_backend_none_lost_or_repeated [ -n "$sent" -a "$sent" = "${tp_rx:-x}" ]
check to_guest_none_lost_or_repeated [ -n "$recv" -a "$recv" = "${tp_tx:-x}" ]
check counters_never_go_back [ "$went_back" -eq 0 ]
check device_never_broken bash -c "! grep -q 'broken' '$LOG'"
finish
