#!/usr/bin/env bash
# What a VMM and an operator do to a running device, done to vringmed's real
# big-endian guest in one QEMU session, unattended, cleaning up after itself:
#
#   tools/guest/lifecycle.sh [--keep-logs DIR] [--seed N] [--cycles N] [--skip pause,backend,vmm,hotplug,daemon]
#                            [--vmm-reconnect] [--vmm-server] [--resets N] [--kills N] [--queues 1|2]
#
# The s390x guest (legacy virtio-net-ccw, big-endian rings) reaches
# dpdk-testpmd (io forwarding: every frame comes straight back) through
# vringmedd, and runs guest-traffic (tools/guest/traffic.c): frames of
# 60..1514 bytes with checkable payloads, at most 32 outstanding, one not
# back within 1 s counted lost.  The guest's plan (tools/guest/init,
# vrg_plan=lifecycle) has three traffic phases: pause, then the virtio_net
# driver unloaded and loaded again, reload, then backend; then it waits.
# Meanwhile the host does, over QMP and to the processes:
#   boot 1  pause:   N (default 20) QMP stop/cont cycles, run 0.3-0.8 s,
#                    stopped 0.2-0.5 s; after each cont, the time until
#                    vringmedd's TX used counter moves           -> phase a
#           reload, backend: nothing (traffic after the reload)   -> phase b
#   QMP system_reset: the guest boots again, same plan
#   boot 2  pause, reload: nothing                                -> phase c
#           backend: testpmd SIGKILLed and started again on the
#                    same socket while the traffic runs           -> phase d
#   QEMU SIGKILLed (the device idle), a new QEMU on the same socket;
#           that one SIGKILLed 2 s into its traffic, and a third
#           (boot 3)                                          -> phase e
#   boot 3  its NIC unplugged (QMP device_del) and a new one plugged in
#           on the same netdev (device_add)                   -> phase f
#           (this QEMU has reconnect=1) vringmedd SIGKILLed in the middle
#           of traffic and started again, then restarted with
#           SIGTERM, then the device deleted and added again
#           (vringmedctl device del, add)                     -> phase g
#   QMP quit.
# Passes: a: every resume flowing again within 1 s, lost <= 0.5% of sent;
# b, c: the driver reload and the reset worked, lost <= 0.5%; d: frames flow
# again after the restart (losses in the outage expected, reported); e: the
# third VMM's traffic as a, vringmedd up, the device running; f: the new
# NIC's traffic as a; g: frames flow again after each restart and after
# the device's return (losses while no daemon or device runs expected,
# reported); every phase: no duplicated or corrupted frame, frames still
# coming back in its last 2 s.  Prints one line per phase (guest sent/received/lost/dup/corrupt,
# testpmd's RX/TX-packets, resume times) and, last, "RESULT: WORKED" or
# "RESULT: FAILED (why)"; exits 0 only when it worked.
#
# --skip pause (no stop/cont cycles), --skip backend (no testpmd restart),
# --skip vmm (no QEMU killed, no NIC swap, no daemon restart), --skip
# hotplug and --skip daemon leave a phase out, to look at the others alone; --seed repeats a run's
# cycle lengths.  --vmm-reconnect gives QEMU's vhost-user socket
# reconnect=1, as operators configure it: then a back-end restart also
# passes where vringmedd drops the VMM and QEMU comes back, instead of
# vringmedd keeping the VMM and reconnecting to the back-end by itself (the
# default tests the latter).  --vmm-server: every QEMU listens on the
# vhost-user socket (server=on, as libvirt and OpenStack with OVS-DPDK's
# vhostuserclient ports run it) and vringmedd connects (vmm_client=on),
# again after each QEMU and each daemon restart.  --resets N: the guest's
# plan and a QMP system_reset after it, N times in a row, and nothing else
# (the other phases left out): every boot's traffic judged as phase b's,
# summed in a line "phase r-resets".  --kills N: phase g kills vringmedd
# (-9) N times, 4 s apart, before its SIGTERM.  --queues 2: every QEMU
# has two vCPUs and its NIC two queue pairs (netdev queues=2, mq=on; the
# swapped-in NIC too), testpmd's port two queues of each kind; the
# resume times are those of all transmit rings.  Needs root (BPF), `make` (the binaries) and
# tools/guest/fetch.sh (the guest).  Environment: VRINGMED_GUEST_TIMEOUT
# (seconds for QEMU, default 240), VRINGMED_GUEST_CACHE,
# VRINGMED_GUEST_VERBOSE=1 (vringmedd -v: its log has every vhost-user
# message; see --keep-logs), VRINGMED_GUEST_APPEND (more of the guest
# kernel's command line, e.g. page_poison=1: a write into a page the guest
# had freed is reported when the page is taken again).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

KEEP= TIMEOUT=${VRINGMED_GUEST_TIMEOUT:-240} SEED=$((RANDOM % 10000)) CYCLES=20 SKIP= RECONNECT=
SERVER= VC= RESETS=0 KILLS=1 QUEUES=1
CACHE=${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}
while [ $# -gt 0 ]; do
	case $1 in
	--keep-logs) KEEP=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--cycles) CYCLES=$2; shift 2 ;;
	--skip) SKIP=,$2,; shift 2 ;;
	--vmm-reconnect) RECONNECT=,reconnect=1; shift ;;
	--vmm-server) SERVER=,server=on,wait=on VC=,vmm_client=on; shift ;;
	--resets) RESETS=$2; shift 2 ;;
	--kills) KILLS=$2; shift 2 ;;
	--queues) QUEUES=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "lifecycle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $RESETS in ''|*[!0-9]*) echo "lifecycle.sh: --resets wants a number, not '$RESETS'" >&2; exit 2 ;; esac
case $KILLS in ''|0|*[!0-9]*) echo "lifecycle.sh: --kills wants a number from 1, not '$KILLS'" >&2; exit 2 ;; esac
case $QUEUES in 1|2) ;; *) echo "lifecycle.sh: --queues 1|2, not '$QUEUES'" >&2; exit 2 ;; esac
MQ=$([ "$QUEUES" -gt 1 ] && echo ,mq=on)
# Each SIGKILL beyond the first: 2 s of traffic before it, the restart, and
# the flow again.
[ -n "${VRINGMED_GUEST_TIMEOUT:-}" ] || [ $((240 + 4 * (KILLS - 1))) -le "$TIMEOUT" ] ||
	TIMEOUT=$((240 + 4 * (KILLS - 1)))
if [ "$RESETS" -gt 0 ]; then
	SKIP=,pause,backend,vmm,hotplug,daemon,
	# A boot and its plan take about 20 s here.
	[ -n "${VRINGMED_GUEST_TIMEOUT:-}" ] || [ $((30 * (RESETS + 1) + 60)) -le "$TIMEOUT" ] ||
		TIMEOUT=$((30 * (RESETS + 1) + 60))
fi
skipped() { case $SKIP in *,$1,*) return 0 ;; esac; return 1; }

. tools/guest/common.sh
guest_preflight /usr/bin/dpdk-testpmd /usr/bin/qemu-system-s390x .output/vringmedd .output/guest-traffic.s390x
TMP=$(mktemp -d /tmp/vm-life-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-life-$$
PREFIX=vml-$$
TP_PID= TP_HOLD= D_PID= Q_PID= TP_N=0
LIFE="python3 tools/guest/lifecycle.py"
cleanup() {
	stop_pids $Q_PID $D_PID $TP_PID $TP_HOLD
	drop_run_state "$PREFIX" "$ROOT"
	if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$TMP"/*.log "$TMP"/*.out "$KEEP"/ 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The initramfs: busybox, the modules, the traffic tool, tools/guest/init.
guest_initramfs --traffic

# tp_start N: the back-end, instance N, on the one socket vringmedd knows;
# interactive, its commands from a FIFO that a sleep holds open.
tp_start() {
	TP_N=$1
	rm -f "$TMP/vhost.sock"	# a killed testpmd leaves its socket file behind
	[ -p "$TMP/tp.in" ] || { mkfifo "$TMP/tp.in" && { sleep 100000 > "$TMP/tp.in" & TP_HOLD=$!; }; }
	stdbuf -oL /usr/bin/dpdk-testpmd -l 0,1 --no-huge --no-pci -m 256 --file-prefix "$PREFIX" \
		--vdev "net_vhost0,iface=$TMP/vhost.sock,queues=$QUEUES" --log-level=lib.vhost.config:info \
		-- -i --no-mlockall --forward-mode=io --auto-start --total-num-mbufs=4096 \
		--rxq="$QUEUES" --txq="$QUEUES" \
		< "$TMP/tp.in" > "$TMP/testpmd-$1.log" 2>&1 & TP_PID=$!
	for _ in $(seq 100); do [ -S "$TMP/vhost.sock" ] && return 0; sleep 0.1; done
	return 1
}
# tp_counters: the running testpmd's port counters now, "RX TX" (empty
# when it does not answer within 2 s).
tp_counters() {
	local f=$TMP/testpmd-$TP_N.log n0
	n0=$(grep -a -c "Tx-pps" "$f")
	timeout 2 sh -c "echo 'show port stats 0' > '$TMP/tp.in'" || return
	for _ in $(seq 40); do
		if [ "$(grep -a -c "Tx-pps" "$f")" -gt "$n0" ]; then
			grep -a -o -E "(RX|TX)-packets: *[0-9]+" "$f" | tail -n2 | grep -o "[0-9]*$" | paste -sd' '
			return
		fi
		sleep 0.05
	done
}
tp_start 1 || fail "testpmd did not start (see its log)"

# d_start: vringmedd, its log appended to; false when it is not ready.
d_start() {
	local n0
	n0=$(grep -c "vringmedd ready" "$TMP/vringmedd.log" 2>/dev/null)
	.output/vringmedd -p "$ROOT" -c "$TMP/ctl.sock" -m none ${VRINGMED_GUEST_VERBOSE:+-v} \
		-d "net0,vmm=$TMP/vmm.sock,backend=$TMP/vhost.sock$VC" >> "$TMP/vringmedd.log" 2>&1 &
	D_PID=$!
	for _ in $(seq 600); do	# loading the programs takes seconds on a loaded machine
		[ "$(grep -c "vringmedd ready" "$TMP/vringmedd.log")" -gt "${n0:-0}" ] && return 0
		kill -0 "$D_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
d_start || fail "vringmedd did not start: $(tail -n1 "$TMP/vringmedd.log")"

# The pause phase must outlast the cycles (guest time stands still while
# the VM is stopped); the others need only a few seconds of flow, the
# backend one also the outage and testpmd's start-up.
S_PAUSE=$(( $(${LIFE} plan "$SEED" "$CYCLES" | cut -d. -f1) + 2 ))
skipped pause && S_PAUSE=4
S_RELOAD=3 S_BACKEND=8 S_HOTPLUG=3 S_DAEMON=$((18 + 4 * (KILLS - 1)))
skipped backend && S_BACKEND=3

# A reset (QMP system_reset, the guest's own reboot) IPLs the kernel again
# without clearing memory; QEMU writes the kernel and initrd images back, but
# the kernel's decompressor takes the memory after its image for its bss and
# heap as zeroed, and on the previous kernel's leftovers it loops in its XZ
# decoder for ever (seen with Debian's 6.1 s390x kernel under QEMU 7.2, with
# or without any network device).  A generic loader blob of zeros there,
# which QEMU writes back at every reset as it does the images, gives each
# boot the memory the first one had, up to where QEMU puts the initrd (8 MiB).
KSIZE=$(( ($(stat -c %s "$CACHE/vmlinuz") + 4095) / 4096 * 4096 ))
ZEROS=
if [ "$KSIZE" -lt $((0x800000)) ]; then
	head -c $((0x800000 - KSIZE)) /dev/zero > "$TMP/zeros.bin"
	ZEROS="-device loader,file=$TMP/zeros.bin,addr=$KSIZE,force-raw=on"
fi

# No -no-reboot: system_reset must boot the guest again, and QMP quit ends it.
# qemu_start LOG SECS [CHARDEV-OPTIONS]: a QEMU on vringmedd's VMM socket,
# its console in LOG, the guest's phases SECS (vrg_secs) long.
qemu_start() {
	rm -f "$TMP/qmp.sock"
	LOG=$1
	timeout "$TIMEOUT" qemu-system-s390x -M s390-ccw-virtio,memory-backend=mem -m 256 -smp "$QUEUES" \
		-object memory-backend-memfd,id=mem,size=256M,share=on \
		-nographic -nodefaults -serial stdio -qmp "unix:$TMP/qmp.sock,server=on,wait=off" \
		-kernel "$CACHE/vmlinuz" -initrd "$TMP/initrd.gz" $ZEROS \
		-append "console=ttysclp0 panic=0 quiet loglevel=3 vrg_plan=lifecycle vrg_secs=$2 ${VRINGMED_GUEST_APPEND:-}" \
		-chardev "socket,id=c0,path=$TMP/vmm.sock${SERVER:-${3-$RECONNECT}}" -netdev vhost-user,id=n0,chardev=c0,queues=$QUEUES \
		-device "virtio-net-ccw,netdev=n0,mac=52:54:00:12:34:56,max_revision=0,id=nic0$MQ" \
		< /dev/null > "$LOG" 2>&1 & Q_PID=$!
	for _ in $(seq 100); do [ -S "$TMP/qmp.sock" ] && break; sleep 0.1; done
}
# qemu_kill: the VMM dies as a crash kills it, the device live.
qemu_kill() {
	pkill -KILL -P "$Q_PID" 2>/dev/null	# QEMU, under timeout
	kill -9 "$Q_PID" 2>/dev/null
	wait "$Q_PID" 2>/dev/null
	Q_PID=
}
t_start=$(date +%s%N)
qemu_start "$TMP/guest.log" "$S_PAUSE,$S_RELOAD,$S_BACKEND"
LOG1=$LOG
elapsed() { echo $(( ($(date +%s%N) - t_start) / 1000000000 )); }
# wait_for PATTERN N SECONDS: until the guest's log has PATTERN N times.
# Gives up early when QEMU is gone or the guest panicked.
wait_for() {
	local end=$(( $(date +%s) + $3 ))
	while [ "$(grep -a -c -- "$1" "$LOG")" -lt "$2" ]; do
		# A panic first: QEMU's default panic action powers the guest
		# off, so QEMU exits after one.
		grep -a -q "Kernel panic" "$LOG" && { WHY="the guest panicked while waiting for '$1' #$2: $(grep -a -m1 -E "BUG|Oops|Kernel panic" "$LOG" | tr -d '\r')"; return 1; }
		kill -0 "$Q_PID" 2>/dev/null || { WHY="QEMU exited while waiting for '$1' #$2"; return 1; }
		[ "$(date +%s)" -lt "$end" ] || { WHY="no '$1' #$2 within $3 s"; return 1; }
		sleep 0.05
	done
}
# mark NAME: testpmd's counters as MARK_NAME.  The guest keeps quiet for
# a moment after each phase, so taken when its end line shows they are the
# counters at its end.
mark() { eval "MARK_$1='$(tp_counters)'"; }

# --resets N: after each boot's plan a QMP system_reset, N times.
run_resets() {
	local k
	for k in $(seq 1 $((RESETS + 1))); do
		wait_for "^GUEST done" "$k" 120 || return 1
		[ "$k" -gt "$RESETS" ] || ${LIFE} qmp "$TMP/qmp.sock" system_reset > /dev/null ||
			{ WHY="QMP system_reset refused (boot $k)"; return 1; }
	done
}

WHY= SEQ_OK=1 DEVICE1= DEVICE2= HOTPLUGGED= DAEMON_FLOW= PAUSE_OVERRAN=0 FLOW_AFTER_RESTART= TP_DOWN_MS= RESTARTED=0
run_plan() {
	[ "$RESETS" -gt 0 ] && { run_resets; return; }
	wait_for "^GUEST boot id=" 1 90 || return 1
	wait_for "GUEST traffic start phase=pause" 1 60 || return 1
	if ! skipped pause; then
		${LIFE} pausecont "$TMP/qmp.sock" "$TMP/ctl.sock" "$SEED" "$CYCLES" > "$TMP/pausecont.out" 2>&1
		PAUSE_RC=$?
		grep -a -q "GUEST traffic end phase=pause" "$LOG" && PAUSE_OVERRAN=1
	fi
	wait_for "GUEST traffic end phase=pause" 1 $((S_PAUSE + 60)) || return 1
	mark pause1
	wait_for "GUEST traffic end phase=reload" 1 $((S_RELOAD + 30)) || return 1
	mark reload1
	wait_for "GUEST traffic end phase=backend" 1 $((S_BACKEND + 30)) || return 1
	mark backend1
	wait_for "^GUEST done" 1 30 || return 1
	DEVICE1=$(${LIFE} device "$TMP/ctl.sock" 2>&1)
	${LIFE} qmp "$TMP/qmp.sock" system_reset > /dev/null || { WHY="QMP system_reset refused"; return 1; }
	wait_for "^GUEST boot id=" 2 90 || return 1
	wait_for "GUEST traffic end phase=pause" 2 $((S_PAUSE + 60)) || return 1
	mark pause2
	wait_for "GUEST traffic end phase=reload" 2 $((S_RELOAD + 30)) || return 1
	mark reload2
	wait_for "GUEST traffic start phase=backend" 2 30 || return 1
	if ! skipped backend; then
		sleep 2
		mark kill
		kill -9 "$TP_PID"
		wait "$TP_PID" 2>/dev/null
		local t0 t1
		t0=$(date +%s%N)
		sleep 1
		tp_start 2 || { WHY="testpmd did not start again"; return 1; }
		RESTARTED=1
		FLOW_AFTER_RESTART=$(${LIFE} wait-flow "$TMP/ctl.sock" 10)
		t1=$(date +%s%N)
		TP_DOWN_MS=$(( (t1 - t0) / 1000000 ))
	fi
	wait_for "GUEST traffic end phase=backend" 2 $((S_BACKEND + 30)) || return 1
	mark backend2
	wait_for "^GUEST done" 2 30 || return 1
	skipped vmm && return 0
	# The VMM killed with the device idle (RX buffers posted), a new one
	# on the same socket; that one killed in the middle of its traffic,
	# and a third: each time vringmedd takes the new VMM from scratch.
	DEVICE2=$(${LIFE} device "$TMP/ctl.sock" 2>&1)
	qemu_kill
	qemu_start "$TMP/guest-vmm2.log" 8,2,2
	wait_for "GUEST traffic start phase=pause" 1 90 || return 1
	sleep 2
	grep -a -q "GUEST traffic end phase=pause" "$LOG" && { WHY="the second VMM's traffic ended before its kill"; return 1; }
	qemu_kill
	# The third with reconnect=1, as operators give it: it comes back
	# to a vringmedd that crashed or was restarted (phase g).
	qemu_start "$TMP/guest-vmm3.log" "3,2,2,$(skipped hotplug || echo $S_HOTPLUG),$(skipped daemon || echo $S_DAEMON)" ,reconnect=1
	skipped hotplug || { nic_swap || return 1; }
	skipped daemon || { daemon_restarts || return 1; }
	wait_for "^GUEST done" 1 120 || return 1
}
# nic_swap: phase f.
nic_swap() {
	# Its NIC unplugged (QMP device_del) and a new one plugged in on the
	# same netdev, as an operator swaps a NIC: vringmedd sees the device
	# stopped and a new driver set it up on the same VMM connection.
	wait_for "GUEST hotplug wait" 1 120 || return 1
	${LIFE} qmp "$TMP/qmp.sock" device_del '{"id": "nic0"}' > /dev/null || { WHY="QMP device_del refused"; return 1; }
	wait_for "GUEST unplugged" 1 60 || return 1
	local added=
	for _ in $(seq 20); do	# the id is QEMU's until the device is gone
		${LIFE} qmp "$TMP/qmp.sock" device_add \
			"{\"driver\": \"virtio-net-ccw\", \"netdev\": \"n0\", \"mac\": \"52:54:00:12:34:56\", \"max_revision\": 0, \"id\": \"nic0\"$([ -n "$MQ" ] && echo ', "mq": true')}" \
			> "$TMP/device_add.out" 2>&1 && { added=1; break; }
		sleep 0.5
	done
	[ -n "$added" ] || { WHY="QMP device_add refused: $(cat "$TMP/device_add.out")"; return 1; }
	HOTPLUGGED=1
}
# daemon_restarts: phase g, vringmedd killed (-9) in the middle of the
# traffic and started again, as systemd's Restart=on-failure does; then
# restarted with SIGTERM (systemctl restart, a package upgrade).  Each
# time, how long from the signal until the new daemon is ready, and from
# then until the guest's frames flow again.
daemon_restarts() {
	local how t0 t1 flow
	wait_for "GUEST traffic start phase=daemon" 1 120 || return 1
	for how in $(yes KILL | head -n "$KILLS") TERM; do
		sleep 2
		t0=$(date +%s%N)
		kill -"$how" "$D_PID"
		wait "$D_PID" 2>/dev/null
		D_PID=
		d_start || { WHY="vringmedd did not start again after SIG$how: $(tail -n1 "$TMP/vringmedd.log")"; return 1; }
		t1=$(date +%s%N)
		flow=$(${LIFE} wait-flow "$TMP/ctl.sock" 15)
		DAEMON_FLOW="$DAEMON_FLOW SIG$how:ready_ms=$(( (t1 - t0) / 1000000 )),$flow"
	done
	# The operator removes the device and adds it again (vringmedctl):
	# its session ends, and the VMM comes back to the new one.
	sleep 2
	.output/vringmedctl -p "$ROOT" -c "$TMP/ctl.sock" device del net0 > /dev/null ||
		{ WHY="vringmedctl device del net0 failed"; return 1; }
	sleep 1
	.output/vringmedctl -p "$ROOT" -c "$TMP/ctl.sock" device add \
		"net0,vmm=$TMP/vmm.sock,backend=$TMP/vhost.sock$VC" > /dev/null ||
		{ WHY="vringmedctl device add net0 failed"; return 1; }
	DAEMON_FLOW="$DAEMON_FLOW device_del_add:$(${LIFE} wait-flow "$TMP/ctl.sock" 15)"
}
run_plan || SEQ_OK=0
LOG_LAST=$LOG
DEVICE=$(${LIFE} device "$TMP/ctl.sock" 2>&1)
if kill -0 "$Q_PID" 2>/dev/null; then
	${LIFE} qmp "$TMP/qmp.sock" quit > /dev/null 2>&1
	for _ in $(seq 50); do kill -0 "$Q_PID" 2>/dev/null || break; sleep 0.1; done
fi
wait "$Q_PID" 2>/dev/null; Q_PID=
secs=$(elapsed)
LOG=$LOG1
timeout 2 sh -c "echo quit > '$TMP/tp.in'"
for _ in $(seq 50); do kill -0 "$TP_PID" 2>/dev/null || break; sleep 0.1; done

# ---- what flowed ---------------------------------------------------------
# tp_delta FROM TO: "testpmd RX=.. TX=.." between two marks ("RX TX"
# each; "zero": a testpmd counts from its start).
tp_delta() {
	local a b
	[ "$1" = zero ] && a=(0 0) || read -r -a a <<<"$1"
	[ "$2" = zero ] && b=(0 0) || read -r -a b <<<"$2"
	[ "${#a[@]}" -eq 2 ] && [ "${#b[@]}" -eq 2 ] || { echo "testpmd RX/TX=?"; return; }
	echo "testpmd RX=$((b[0] - a[0])) TX=$((b[1] - a[1]))"
}
# end_line PHASE N: the guest's Nth "traffic end" line of PHASE.
end_line() { grep -a "GUEST traffic end phase=$1 " "$LOG" | sed -n "$2p" | tr -d '\r'; }
f() { grep -o " $1=[^ ]*" <<<"$2" | head -n1 | cut -d= -f2; }
# flowing_at_end PHASE N: frames back in the last 2 s of the phase (its
# progress lines, one a guest second).
flowing_at_end() {
	awk -v ph="$1" -v n="$2" '
		index($0, "GUEST traffic start phase=" ph " ") { k++; next }
		k == n && index($0, "GUEST traffic phase=" ph " ") {
			for (i = 1; i <= NF; i++) if ($i ~ /^received=/) { split($i, kv, "="); r[++m] = kv[2] }
		}
		END { if (!m) print 0; else print r[m] - (m > 2 ? r[m - 2] : 0) }' "$LOG" | tr -d '\r'
}
FAILS=
# judge NAME PHASE N MAX_LOSS_PERMILLE EXTRA_OK EXTRA_WHY FIGURES: one line, one verdict.
judge() {
	local name=$1 ph=$2 n=$3 maxloss=$4 extra_ok=$5 extra_why=$6 figs=$7 l why=
	l=$(end_line "$ph" "$n")
	if [ -z "$l" ]; then
		why="no traffic figures from the guest (boot $n, $ph)"
	else
		local sent recv lost dup cor tail
		sent=$(f sent "$l") recv=$(f received "$l") lost=$(f lost "$l") dup=$(f dup "$l") cor=$(f corrupt "$l")
		tail=$(flowing_at_end "$ph" "$n")
		[ "$recv" -gt 0 ] || why="$why, nothing came back"
		[ "$dup" -eq 0 ] || why="$why, $dup duplicated"
		[ "$cor" -eq 0 ] || why="$why, $cor corrupted"
		[ "$maxloss" = any ] || [ $((lost * 1000)) -le $((sent * maxloss)) ] ||
			why="$why, lost $lost of $sent (> $maxloss/1000)"
		[ "$tail" -gt 0 ] || why="$why, nothing came back in the phase's last 2 s"
		figs="sent=$sent received=$recv lost=$lost late=$(f late "$l") dup=$dup corrupt=$cor stray=$(f stray "$l") rtt_max_ms=$(( $(f rtt_max_us "$l") / 1000 )) max_gap_ms=$(f max_gap_ms "$l") frames/s=$(f frames_per_s "$l"); $figs"
	fi
	[ "$extra_ok" = 1 ] || why="$why, $extra_why"
	why=${why#, }
	if [ -z "$why" ]; then
		echo "  phase $name: ok: $figs"
	else
		echo "  phase $name: FAILED ($why): ${figs}"
		FAILS="$FAILS; $name: $why"
	fi
}

echo "== vringmed guest life cycle: legacy virtio-net-ccw guest (s390x, big-endian) -> vringmedd -> dpdk-testpmd"
boots=$(grep -a "^GUEST boot id=" "$LOG" | tr -d '\r' | cut -d= -f2 | sort -u | wc -l)
echo "  qemu: ${secs} s in all, seed $SEED, $CYCLES cycles; guest boots seen: $boots (distinct boot ids); vrg_secs=$S_PAUSE,$S_RELOAD,$S_BACKEND"
grep -a -E "vhost|Operation not supported|Kernel panic" "$LOG" | grep -v "^GUEST" | sort | uniq -c | head -n5 | sed 's/^ */  qemu says: /'
[ -s "$TMP/pausecont.out" ] && sed 's/^/    /' "$TMP/pausecont.out"

if skipped pause; then
	judge a-steady pause 1 5 1 "" "no stop/cont (--skip pause); $(tp_delta zero "${MARK_pause1:-}")"
else
	pc=$(grep "^pausecont " "$TMP/pausecont.out" 2>/dev/null)
	judge a-pause-cont pause 1 5 "$([ "${PAUSE_RC:-1}" = 0 ] && [ "$PAUSE_OVERRAN" = 0 ] && echo 1)" \
		"resumes: ${pc#pausecont }$([ "$PAUSE_OVERRAN" = 1 ] && echo ", the guest's phase ended before the last cycle")" "resumes: ${pc#pausecont }; $(tp_delta zero "${MARK_pause1:-}")"
fi
reload1=$(grep -a "^GUEST reload " "$LOG" | sed -n 1p | tr -d '\r')
judge b-driver-reload reload 1 5 "$([ "${reload1% dev=*}" = "GUEST reload ok" ] && echo 1)" "driver reload: ${reload1:-no line}" \
	"$(tp_delta "${MARK_pause1:-}" "${MARK_reload1:-}")"
judge b-steady backend 1 5 1 "" "$(tp_delta "${MARK_reload1:-}" "${MARK_backend1:-}")"
reload2=$(grep -a "^GUEST reload " "$LOG" | sed -n 2p | tr -d '\r')
judge c-system-reset pause 2 5 "$([ "$boots" -ge 2 ] && echo 1)" "no second boot after system_reset" \
	"after system_reset; $(tp_delta "${MARK_backend1:-}" "${MARK_pause2:-}")"
judge c-reload reload 2 5 "$([ "${reload2% dev=*}" = "GUEST reload ok" ] && echo 1)" "driver reload: ${reload2:-no line}" \
	"$(tp_delta "${MARK_pause2:-}" "${MARK_reload2:-}")"
if skipped backend; then
	judge d-steady backend 2 5 1 "" "no restart (--skip backend)"
else
	# The killed one's counters a moment before the kill.
	old=$(tp_delta "${MARK_reload2:-}" "${MARK_kill:-}")
	new=$(tp_delta zero "${MARK_backend2:-}")
	judge d-backend-restart backend 2 any "$([ "$RESTARTED" = 1 ] && [ "${FLOW_AFTER_RESTART#flow_ms=}" != none ] && [ -n "$FLOW_AFTER_RESTART" ] && echo 1)" \
		"no flow after the restart (${FLOW_AFTER_RESTART:-testpmd not restarted})" \
		"killed testpmd (until just before): ${old#testpmd }, restarted testpmd: ${new#testpmd }; down to flowing ${TP_DOWN_MS:-?} ms (${FLOW_AFTER_RESTART:-no flow_ms} after its start)"
fi
if ! skipped vmm; then
	# The third VMM's boot: its traffic as any phase's, vringmedd alive
	# and the device running for it.
	vmm_ok=$([ -n "$DEVICE2" ] && kill -0 "$D_PID" 2>/dev/null && grep -q "state=running" <<<"$DEVICE" &&
		! grep -q "state=broken" <<<"$DEVICE" && echo 1)
	LOG=$TMP/guest-vmm3.log judge e-vmm-killed pause 1 5 "${vmm_ok:-0}" \
		"vringmedd after the kills: $(kill -0 "$D_PID" 2>/dev/null && echo "${DEVICE:-no answer}" | head -n1 || echo exited)" \
		"two VMMs killed (-9), the first idle, the second $(grep -a -c "GUEST traffic phase=pause" "$TMP/guest-vmm2.log" 2>/dev/null) s into its traffic; the third's boot"
fi
if ! skipped vmm && ! skipped hotplug; then
	hp=$(grep -a -E "^GUEST (hotplug failed|replugged)" "$TMP/guest-vmm3.log" 2>/dev/null | head -n1 | tr -d '\r')
	LOG=$TMP/guest-vmm3.log judge f-hotplug hotplug 1 5 "$([ -n "$HOTPLUGGED" ] && [ "${hp% dev=*}" = "GUEST replugged" ] && echo 1)" \
		"NIC swap: ${hp:-no line from the guest}" "QMP device_del, device_add on the same netdev; the guest's new NIC"
fi
if ! skipped vmm && ! skipped daemon; then
	# Losses while no daemon ran are expected (at most the window, each
	# time); the frames must flow again after both restarts.
	LOG=$TMP/guest-vmm3.log judge g-daemon-restart daemon 1 any \
		"$([ "$(grep -o "flow_ms=[0-9]" <<<"$DAEMON_FLOW" | wc -l)" -eq $((KILLS + 2)) ] && echo 1)" \
		"no flow after a restart:${DAEMON_FLOW:- vringmedd not restarted}" \
		"vringmedd killed (-9)$([ "$KILLS" -gt 1 ] && echo " $KILLS times"), then SIGTERM, each started again, then the device deleted and added again (vringmedctl); flowing again:$DAEMON_FLOW"
fi
# --resets: every boot's three traffic phases back whole (lost <= 0.5%
# each, nothing duplicated or corrupted), summed in one line.
if [ "$RESETS" -gt 0 ]; then
	r_sent=0 r_recv=0 r_lost=0 r_dup=0 r_cor=0 r_bad=
	for k in $(seq 1 $((RESETS + 1))); do
		for ph in pause reload backend; do
			l=$(end_line "$ph" "$k")
			[ -n "$l" ] || { r_bad="$r_bad, boot $k: no $ph figures"; continue; }
			r_sent=$((r_sent + $(f sent "$l"))) r_recv=$((r_recv + $(f received "$l")))
			r_lost=$((r_lost + $(f lost "$l"))) r_dup=$((r_dup + $(f dup "$l"))) r_cor=$((r_cor + $(f corrupt "$l")))
			[ $(($(f lost "$l") * 1000)) -le $(($(f sent "$l") * 5)) ] ||
				r_bad="$r_bad, boot $k $ph: lost $(f lost "$l") of $(f sent "$l")"
		done
	done
	[ "$r_dup" -eq 0 ] && [ "$r_cor" -eq 0 ] || r_bad="$r_bad, $r_dup duplicated, $r_cor corrupted"
	r_figs="$RESETS resets, $((RESETS + 1)) boots: sent=$r_sent received=$r_recv lost=$r_lost dup=$r_dup corrupt=$r_cor"
	if [ -z "$r_bad" ]; then
		echo "  phase r-resets: ok: $r_figs"
	else
		echo "  phase r-resets: FAILED (${r_bad#, }): $r_figs"
		FAILS="$FAILS; r-resets: ${r_bad#, }"
	fi
fi
[ -n "$DEVICE1" ] && echo "  vringmedd after boot 1: $DEVICE1"
[ -n "${DEVICE2:-}" ] && echo "  vringmedd after boot 2: $DEVICE2"
echo "  vringmedd at the end: $DEVICE"
echo "  guest: $(cat "$LOG" "$TMP"/guest-vmm*.log 2>/dev/null | grep -a "^GUEST driver_complaints=" | tr -d '\r' | sed 's/^GUEST //' | paste -sd' ') (one a boot)"
grep -E "warn|broken|error" "$TMP/vringmedd.log" | grep -v fentry | head -n8 | sed 's/^/  vringmedd: /'
cat "$LOG1" "$TMP"/guest-vmm*.log 2>/dev/null | grep -a "^GUEST corrupt " | tr -d '\r' | head -n8 | sed 's/^GUEST /  guest: /'

[ "$SEQ_OK" = 1 ] || FAILS="$FAILS; the scenario stopped: $WHY"
complaints=$(cat "$LOG" "$TMP"/guest-vmm*.log 2>/dev/null | grep -a "^GUEST driver_complaints=" | tr -d '\r' | cut -d= -f2 | awk '{s += $1} END {print s + 0}')
[ "${complaints:-0}" -eq 0 ] || FAILS="$FAILS; the guest's driver complained ($complaints lines)"
# --queues 2: the second pair carried frames too (the phases on CPU 1).
if [ "$QUEUES" -gt 1 ] && ! grep -q "used per ring: .*q2=[1-9][0-9]* q3=[1-9]" <<<"$DEVICE"; then
	FAILS="$FAILS; the second queue pair returned nothing: $(grep -o "used per ring: .*" <<<"$DEVICE")"
fi
if [ -n "$FAILS" ]; then
	[ -n "$KEEP" ] || tail -n 12 "$LOG_LAST" | sed 's/^/  guest log: /'
	fail "${FAILS#; }"
fi
echo "RESULT: WORKED"
