#!/usr/bin/env bash
# vringmed's real big-endian guest migrated live, away and back, while it
# sends checked traffic; the same migration of a modern guest straight to
# testpmd is the yardstick for its loss:
#
#   tools/guest/migrate.sh [--keep-logs DIR] [--secs N] [--only modern|legacy] [--queues 1|2]
#
# Two back-ends on this machine, A and B (dpdk-testpmd, io forwarding: every
# frame comes straight back).  Each case boots the s390x guest under QEMU A
# (tools/guest/init, vrg_plan=migrate: three phases m1, m2, m3 of
# tools/guest/traffic.c, N guest seconds each, default 6, with 5 quiet
# seconds after m1 and m2).  During m1 QMP migrate starts towards QEMU B
# (waiting with -incoming unix:...), held live with dirty logging on by a
# bandwidth too small to finish; in the quiet after m1 it may finish
# (lifecycle.py migrate-start, migrate-finish); QEMU A quits.  A new QEMU A
# waits, and B -> A goes the same way during m2.  Why the switch-over waits
# for the quiet: see migrate() below.
#   modern  virtio-net-ccw (VERSION_1, guest_announce=off as vringmedd
#           offers it) straight to testpmd A, B, A: the yardstick
#   legacy  virtio-net-ccw,max_revision=0 (big-endian rings) through
#           vringmedd A (to testpmd A), vringmedd B (to testpmd B), A again
# A back-end side runs only while a VM may use it (testpmd polls a core).
# Passes when both legacy migrations completed and every phase had frames
# back, none corrupted or duplicated, frames back in the last 2 s; the
# legacy guest lost at most what the modern one did plus one window (32
# frames) a migration; the source vringmedd got a dirty log (SET_LOG_BASE)
# and each destination ran the device legacy with big-endian rings.
# --queues 2: each QEMU has two vCPUs and its NIC two queue pairs (netdev
# queues=2, mq=on), each testpmd two queues of each kind, and the guest's
# phases take turns on the CPUs (m1 and m3 on the second), so each pair is
# migrated with frames in flight.
# Prints a line per case and, last, "RESULT: WORKED" or "RESULT: FAILED
# (why)".  Needs root (BPF), `make` and tools/guest/fetch.sh.  Environment:
# VRINGMED_GUEST_TIMEOUT (seconds for each QEMU, default 240),
# VRINGMED_GUEST_CACHE.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

KEEP= SECS=6 QUIET=5 ONLY= TIMEOUT=${VRINGMED_GUEST_TIMEOUT:-240}
CACHE=${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}
WINDOW=32 QUEUES=1
while [ $# -gt 0 ]; do
	case $1 in
	--keep-logs) KEEP=$2; shift 2 ;;
	--secs) SECS=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--queues) QUEUES=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "migrate.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $QUEUES in 1|2) ;; *) echo "migrate.sh: --queues 1|2" >&2; exit 2 ;; esac
MQ=$([ "$QUEUES" -gt 1 ] && echo ,mq=on)

. tools/guest/common.sh
guest_preflight /usr/bin/dpdk-testpmd /usr/bin/qemu-system-s390x .output/vringmedd .output/guest-traffic.s390x
TMP=$(mktemp -d /tmp/vm-mig-XXXXXX)
PREFIX=vmig-$$
ROOT_A=/sys/fs/bpf/vringmed-mig-a-$$ ROOT_B=/sys/fs/bpf/vringmed-mig-b-$$
declare -A TP TP_HOLD
Q_A= Q_B= D_A= D_B=
LIFE="python3 tools/guest/lifecycle.py"
cleanup() {
	stop_pids $Q_A $Q_B $D_A $D_B ${TP[a]:-} ${TP[b]:-} ${TP_HOLD[a]:-} ${TP_HOLD[b]:-}
	drop_run_state "$PREFIX-a" "$ROOT_A"
	drop_run_state "$PREFIX-b" "$ROOT_B"
	if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$TMP"/*.log "$KEEP"/ 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

guest_initramfs --traffic

# tp_start SIDE: testpmd of side a or b on its socket, its commands from a
# FIFO a sleep holds open.  tp_stop SIDE.
tp_start() {
	local s=$1
	tp_stop "$s"	# one a side: a case that failed half-way may have left one
	rm -f "$TMP/vhost-$s.sock"
	[ -p "$TMP/tp-$s.in" ] || mkfifo "$TMP/tp-$s.in"
	sleep 100000 > "$TMP/tp-$s.in" & TP_HOLD[$s]=$!
	stdbuf -oL /usr/bin/dpdk-testpmd -l 0,1 --no-huge --no-pci -m 256 --file-prefix "$PREFIX-$s" \
		--vdev "net_vhost0,iface=$TMP/vhost-$s.sock,queues=$QUEUES" \
		-- -i --no-mlockall --forward-mode=io --auto-start --total-num-mbufs=4096 \
		--rxq="$QUEUES" --txq="$QUEUES" \
		< "$TMP/tp-$s.in" >> "$TMP/testpmd-$s.log" 2>&1 & TP[$s]=$!
	for _ in $(seq 100); do [ -S "$TMP/vhost-$s.sock" ] && return 0; sleep 0.1; done
	return 1
}
tp_stop() {
	[ -n "${TP[$1]:-}${TP_HOLD[$1]:-}" ] || return 0
	[ -n "${TP[$1]:-}" ] && timeout 2 sh -c "echo quit > '$TMP/tp-$1.in'"
	for _ in $(seq 30); do kill -0 "${TP[$1]:-0}" 2>/dev/null || break; sleep 0.1; done
	stop_pids ${TP[$1]:-} ${TP_HOLD[$1]:-}
	TP[$1]= TP_HOLD[$1]=
}

# vringmedd of side a or b: its own pin root and control socket, one device
# whose back-end is that side's testpmd.
d_start() {
	local s=$1 root=$2
	.output/vringmedd -p "$root" -c "$TMP/ctl-$s.sock" -m none \
		-d "net0,vmm=$TMP/vmm-$s.sock,backend=$TMP/vhost-$s.sock" > "$TMP/vringmedd-$s.log" 2>&1 &
	eval "D_${s^^}=$!"
	for _ in $(seq 600); do
		grep -q "vringmedd ready" "$TMP/vringmedd-$s.log" && return 0
		sleep 0.1
	done
	return 1
}

# q_start SIDE LOG SOCKET DEVICE_OPTS [INCOMING]: QEMU of side a or b, its
# PID in Q_A or Q_B.
q_start() {
	local s=$1 log=$2 sock=$3 opts=$4 inc=${5:-} pid
	rm -f "$TMP/qmp-$s.sock"
	timeout "$TIMEOUT" qemu-system-s390x -M s390-ccw-virtio,memory-backend=mem -m 256 -smp "$QUEUES" \
		-object memory-backend-memfd,id=mem,size=256M,share=on \
		-nographic -nodefaults -serial stdio -qmp "unix:$TMP/qmp-$s.sock,server=on,wait=off" \
		-kernel "$CACHE/vmlinuz" -initrd "$TMP/initrd.gz" \
		-append "console=ttysclp0 panic=0 quiet loglevel=3 vrg_plan=migrate vrg_secs=$SECS,$QUIET" \
		-chardev "socket,id=c0,path=$sock" -netdev vhost-user,id=n0,chardev=c0,queues=$QUEUES \
		-device "virtio-net-ccw,netdev=n0,mac=52:54:00:12:34:56$opts$MQ" \
		${inc:+-incoming "$inc"} < /dev/null > "$log" 2>&1 &
	pid=$!
	eval "Q_${s^^}=$pid"
	# QMP first, the incoming socket once the machine is made.
	for _ in $(seq 200); do
		[ -S "$TMP/qmp-$s.sock" ] && { [ -z "$inc" ] || [ -S "${inc#unix:}" ]; } && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# q_quit SIDE: QMP quit, then the process gone.
q_quit() {
	local s=$1 pid
	eval "pid=\$Q_${s^^}"
	[ -n "$pid" ] || return 0
	${LIFE} qmp "$TMP/qmp-$s.sock" quit > /dev/null 2>&1
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	stop_pids "$pid"
	eval "Q_${s^^}="
}

# wait_for LOGS PATTERN SECONDS: until the guest's logs (one or more
# files, space-separated) have PATTERN.
wait_for() {
	local end=$(( $(date +%s) + $3 ))
	# shellcheck disable=SC2086
	until cat $1 2>/dev/null | grep -a -q -- "$2"; do
		cat $1 2>/dev/null | grep -a -q "Kernel panic" && { WHY="the guest panicked waiting for '$2'"; return 1; }
		[ "$(date +%s)" -lt "$end" ] || { WHY="no '$2' within $3 s"; return 1; }
		sleep 0.05
	done
}

# migrate FROM TO LOGS PHASE: FROM's VM to TO (waiting with -incoming),
# live while the guest's traffic phase runs (held: QEMU logs dirty pages and
# sends them again, and cannot finish), then let finish once the guest went
# quiet (the guest's lines are in LOGS, source's and destination's).  QEMU
# 7.2's TCG interrupt controller does not migrate an I/O interrupt pending
# at the switch-over (later QEMU does), and the device then never
# interrupts the guest again: switched over under traffic, both guests here
# lost their receive path, whatever the back-end.  In the quiet the legacy
# guest (classic subchannel interrupts) kept it in every run; the modern
# one (adapter interrupts) still loses it after some: that is the
# yardstick's loss.  Sets MIG (lifecycle.py's line).
migrate() {
	local from=$1 to=$2 log=$3 phase=$4
	${LIFE} migrate-start "$TMP/qmp-$from.sock" "unix:$TMP/mig-$to.sock" ||
		{ WHY="migration $from -> $to refused"; return 1; }
	wait_for "$log" "GUEST quiet phase=$phase" $((SECS + 60)) || return 1
	MIG=$(${LIFE} migrate-finish "$TMP/qmp-$from.sock") || { WHY="migration $from -> $to: $MIG"; return 1; }
}

# leg FROM FROM_LOG TO TO_LOG TO_SOCKET OPTS PHASE NEXT: testpmd and an
# incoming QEMU on TO, the guest migrated FROM -> TO during PHASE (MIG: the
# figures), QEMU and testpmd on FROM gone, until the guest starts NEXT.
leg() {
	local from=$1 from_log=$2 to=$3 log=$4 sock=$5 opts=$6 phase=$7 next=$8
	tp_start "$to" || { WHY="testpmd $to did not start"; return 1; }
	q_start "$to" "$log" "$sock" "$opts" "unix:$TMP/mig-$to.sock" || { WHY="QEMU $to did not start"; return 1; }
	migrate "$from" "$to" "$from_log $log" "$phase" || return 1
	q_quit "$from"
	tp_stop "$from"
	wait_for "$from_log $log" "GUEST traffic start phase=$next" 30
}

# run_case NAME DEVICE_OPTS SOCKET_A SOCKET_B: boot on A, migrate to B
# during phase m1 and back during m2.  Sets MIG1, MIG2, DEV_B, DEV_A2 (the
# destination vringmedd's view), WHY on failure.
run_case() {
	local name=$1 opts=$2 sa=$3 sb=$4 l1=$TMP/guest-$1-a.log l2=$TMP/guest-$1-b.log
	local l3=$TMP/guest-$1-a2.log
	MIG1= MIG2= DEV_B= DEV_A2= WHY=
	tp_start a || { WHY="testpmd a did not start"; return 1; }
	q_start a "$l1" "$sa" "$opts" || { WHY="QEMU a did not start"; return 1; }
	wait_for "$l1" "GUEST traffic start phase=m1" 120 || return 1
	leg a "$l1" b "$l2" "$sb" "$opts" m1 m2 || return 1
	MIG1=$MIG
	[ "$name" = legacy ] && DEV_B=$(${LIFE} device "$TMP/ctl-b.sock" 2>&1)
	leg b "$l2" a "$l3" "$sa" "$opts" m2 m3 || return 1
	MIG2=$MIG
	[ "$name" = legacy ] && DEV_A2=$(${LIFE} device "$TMP/ctl-a.sock" 2>&1)
	wait_for "$l3" "^GUEST done" $((SECS + 60)) || return 1
	COMPLAINTS=$(grep -a "^GUEST driver_complaints=" "$l3" | tr -d '\r' | cut -d= -f2)
	q_quit a
	tp_stop a
}

f() { grep -o " $1=[^ ]*" <<<"$2" | head -n1 | cut -d= -f2; }
# end_line NAME PHASE: the guest's end line of a phase, from whichever QEMU
# ran it.
end_line() { cat "$TMP/guest-$1-"*.log | grep -a "GUEST traffic end phase=$2 " | tr -d '\r' | head -n1; }
# flowing_at_end NAME: frames back in the last 2 s of the last phase.
flowing_at_end() {
	cat "$TMP/guest-$1-"*.log | grep -a "GUEST traffic phase=m3 " | tr -d '\r' | grep -o "received=[0-9]*" |
		cut -d= -f2 | tail -n3 | awk '{r[NR] = $1} END { print (NR >= 3 ? r[NR] - r[1] : r[NR] + 0) }'
}

FAILS=
# judge NAME MAX_LOST [yardstick]: the case's figures (the three phases
# summed) and verdict, one line.  A yardstick (the modern guest) is
# measured, not judged: what it loses bounds the legacy guest's loss.
judge() {
	local name=$1 maxlost=$2 yard=${3:-} why= ph l sent=0 recv=0 lost=0 dup=0 cor=0 late=0 gap=0 per=
	for ph in m1 m2 m3; do
		l=$(end_line "$name" $ph)
		if [ -z "$l" ]; then
			why="$why, no figures for phase $ph"
			continue
		fi
		[ "$(f received "$l")" -gt 0 ] || why="$why, nothing came back in phase $ph"
		sent=$((sent + $(f sent "$l"))) recv=$((recv + $(f received "$l")))
		lost=$((lost + $(f lost "$l"))) dup=$((dup + $(f dup "$l")))
		cor=$((cor + $(f corrupt "$l"))) late=$((late + $(f late "$l")))
		[ "$(f max_gap_ms "$l")" -gt "$gap" ] && gap=$(f max_gap_ms "$l")
		per="$per $ph:$(f received "$l")/$(f sent "$l")"
	done
	[ "$dup" -eq 0 ] || why="$why, $dup duplicated"
	[ "$cor" -eq 0 ] || why="$why, $cor corrupted"
	[ "$maxlost" = any ] || [ "$lost" -le "$maxlost" ] || why="$why, lost $lost (> $maxlost)"
	[ "$(flowing_at_end "$name")" -gt 0 ] 2>/dev/null || why="$why, nothing came back in the last 2 s"
	[ "${COMPLAINTS:-0}" -eq 0 ] || why="$why, the guest's driver complained"
	eval "LOST_$name=$lost"
	why=${why#, }
	if [ -n "$yard" ]; then
		echo "  case $name (yardstick${why:+, $why}): sent=$sent received=$recv lost=$lost late=$late dup=$dup corrupt=$cor max_gap_ms=$gap (received/sent$per); a->b: ${MIG1#migrate }; b->a: ${MIG2#migrate }"
		return
	fi
	local figs="sent=$sent received=$recv lost=$lost late=$late dup=$dup corrupt=$cor max_gap_ms=$gap (received/sent$per); a->b: ${MIG1#migrate }; b->a: ${MIG2#migrate }"
	if [ -z "$why" ]; then
		echo "  case $name: ok: $figs"
	else
		echo "  case $name: FAILED ($why): $figs"
		FAILS="$FAILS; $name: $why"
	fi
}

echo "== vringmed live migration: s390x guest, QEMU a -> b -> a on this machine, 3 phases of $SECS s of guest traffic"
t0=$(date +%s)
LOST_modern=
if [ "$ONLY" != legacy ]; then
	# Without the announcement vringmedd does not offer either.  The
	# yardstick's own troubles (QEMU's, with no vringmedd in the path)
	# are reported, not judged.
	run_case modern ",guest_announce=off" "$TMP/vhost-a.sock" "$TMP/vhost-b.sock" ||
		echo "  case modern: the yardstick did not run to its end: $WHY"
	q_quit a; q_quit b; tp_stop a; tp_stop b
	judge modern any yardstick
fi
if [ "$ONLY" != modern ]; then
	d_start a "$ROOT_A" && d_start b "$ROOT_B" || fail "vringmedd did not start"
	if ! run_case legacy ",max_revision=0" "$TMP/vmm-a.sock" "$TMP/vmm-b.sock"; then
		FAILS="$FAILS; legacy: $WHY"
	fi
	q_quit a; q_quit b; tp_stop a; tp_stop b
	if [ -n "$LOST_modern" ]; then
		judge legacy $((LOST_modern + 2 * WINDOW))
	else
		judge legacy any
	fi
	echo "  vringmedd b after a -> b: ${DEV_B:-none}"
	echo "  vringmedd a after b -> a: ${DEV_A2:-none}"
	for d in "$DEV_B" "$DEV_A2"; do
		grep -q "state=running" <<<"$d" && grep -q "byte_order=big" <<<"$d" ||
			FAILS="$FAILS; a destination vringmedd does not run the device big-endian: ${d:-nothing}"
	done
	logged=$(cat "$TMP/vringmedd-a.log" "$TMP/vringmedd-b.log" | grep -c "dirty log of")
	echo "  vringmedd: dirty logs set up: $logged (one a migration and queue pair, at its source: QEMU sends each pair's)"
	[ "$logged" -ge 2 ] || FAILS="$FAILS; the source vringmedd was given no dirty log"
	grep -h -E "warn|broken|error" "$TMP"/vringmedd-*.log | grep -v fentry | head -n8 | sed 's/^/  vringmedd: /'
fi
echo "  host seconds: $(( $(date +%s) - t0 ))"
[ -n "$FAILS" ] && fail "${FAILS#; }"
echo "RESULT: WORKED"
