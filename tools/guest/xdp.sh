#!/usr/bin/env bash
# vringmed's real big-endian guest on a network through vringmedd's XDP
# back-end, unattended, cleaning up after itself:
#
#   tools/guest/xdp.sh [--guests 1|2] [--mbytes N] [--path xdp|tap] [--keep-logs DIR]
#
# A veth pair: one end (IF) stays in the host, the other in a network
# namespace made here, 10.0.2.2/24 and fd00::2/64, where python3 -m
# http.server serves a file of N MiB (default 8) of random bytes.  The
# s390x guest (legacy virtio-net-ccw, big-endian rings, its own virtio-net
# driver) reaches IF through vringmedd, backend=xdp:IF; it is 10.0.2.15
# (fd00::15) and fetches the file with busybox wget (MD5 sum, bytes,
# seconds), pings the namespace over IPv4 and IPv6 and, with --guests 2,
# a second guest on the same interface (10.0.2.16), which pings it and the
# namespace back.  While the guests are up the namespace pings them (v4 and
# v6: ARP and neighbour discovery, answered through the steering program)
# and its neighbour table must hold their MACs.  Prints what flowed and,
# last, "RESULT: WORKED" or "RESULT: FAILED (why)"; exits 0 only when it
# worked.  --path tap is the status quo to compare with: the same guest on
# QEMU's own virtio-net and a tap device in the namespace (one guest, no
# vringmedd).  Both print the transfer's MiB/s and the host CPU it took
# while the guest's wget ran: vringmedd's (all its threads) or QEMU's I/O
# thread's (its main loop, where its virtio-net and tap work runs).
#
# Needs root, `make` and the guest of tools/guest/fetch.sh (make setup).
# Environment: VRINGMED_GUEST_TIMEOUT (seconds for QEMU, default 150),
# VRINGMED_GUEST_CACHE, VRINGMED_PEER_TX_CSUM=on (the namespace's veth end
# keeps its checksum offload: its TCP frames reach the back-end with the
# checksum left to do, docs/xdp.md), VRINGMED_GUEST_NIC_OPTS (appended to
# the guests' -device virtio-net-ccw, e.g. ,mrg_rxbuf=off).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

GUESTS=1 MBYTES=8 KEEP= NETPATH=xdp TIMEOUT=${VRINGMED_GUEST_TIMEOUT:-150}
CACHE=${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}
while [ $# -gt 0 ]; do
	case $1 in
	--guests) GUESTS=$2; shift 2 ;;
	--mbytes) MBYTES=$2; shift 2 ;;
	--path) NETPATH=$2; shift 2 ;;
	--keep-logs) KEEP=$2; shift 2 ;;
	-h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "xdp.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $GUESTS in 1|2) ;; *) echo "xdp.sh: --guests 1|2" >&2; exit 2 ;; esac
case $NETPATH in xdp|tap) ;; *) echo "xdp.sh: --path xdp|tap" >&2; exit 2 ;; esac
[ "$NETPATH" = tap ] && GUESTS=1

. tools/guest/common.sh
guest_preflight /usr/bin/qemu-system-s390x .output/vringmedd
TMP=$(mktemp -d /tmp/vm-xdpg-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-xdpg-$$
NS=vrmg-$$ IF=vrmg$$ PEER=vrmgp$$
D_PID= H_PID= Q_PIDS=() G0_PID=
cleanup() {
	stop_pids "${Q_PIDS[@]}" $D_PID $H_PID
	ip link del "$IF" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	drop_run_state "" "$ROOT"
	if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$TMP"/*.log "$KEEP"/ 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$TMP/www"
guest_initramfs

if [ "$NETPATH" = tap ]; then
	# The status quo: the namespace's end is QEMU's tap device itself.
	ip netns add "$NS" && ip -n "$NS" tuntap add "$PEER" mode tap && ip -n "$NS" link set lo up &&
		ip -n "$NS" link set "$PEER" up && ip -n "$NS" addr add 10.0.2.2/24 dev "$PEER" &&
		ip -n "$NS" -6 addr add fd00::2/64 dev "$PEER" nodad || fail "cannot make the namespace and the tap"
else
	ip netns add "$NS" && ip link add "$IF" type veth peer name "$PEER" netns "$NS" &&
		ip link set "$IF" up && ip -n "$NS" link set lo up && ip -n "$NS" link set "$PEER" up &&
		ip -n "$NS" addr add 10.0.2.2/24 dev "$PEER" && ip -n "$NS" -6 addr add fd00::2/64 dev "$PEER" nodad ||
		fail "cannot make the namespace and the veth pair"
fi
# The namespace's stack must checksum what it sends: with the veth's
# checksum offload on, its TCP frames leave with the checksum to be done
# by a NIC there is none of, and an AF_XDP socket has no way to tell (a
# frame from a real NIC is whole).  ethtool -K PEER tx off, by its ioctl.
[ "${VRINGMED_PEER_TX_CSUM:-off}" = on ] ||
ip netns exec "$NS" python3 - "$PEER" <<'PY' || fail "cannot turn checksum offload off in the namespace"
import fcntl, socket, struct, sys
ifr = struct.pack("16sP", sys.argv[1].encode(), 0)
val = bytearray(struct.pack("II", 0x17, 0))	# ETHTOOL_STXCSUM, off
import ctypes
buf = ctypes.create_string_buffer(bytes(val))
ifr = struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(buf))
fcntl.ioctl(socket.socket(), 0x8946, ifr)	# SIOCETHTOOL
PY
head -c $((MBYTES << 20)) /dev/urandom > "$TMP/www/blob"
SUM=$(md5sum < "$TMP/www/blob" | cut -d' ' -f1)
ip netns exec "$NS" python3 -m http.server -b 10.0.2.2 -d "$TMP/www" 8080 > "$TMP/http.log" 2>&1 & H_PID=$!

if [ "$NETPATH" = xdp ]; then
	devs=()
	for i in $(seq 0 $((GUESTS - 1))); do devs+=(-d "g$i,vmm=$TMP/vmm$i.sock,backend=xdp:$IF"); done
	.output/vringmedd -p "$ROOT" -c "$TMP/ctl.sock" -m none "${devs[@]}" > "$TMP/vringmedd.log" 2>&1 &
	D_PID=$!
	for _ in $(seq 600); do grep -q "vringmedd ready" "$TMP/vringmedd.log" && break; kill -0 "$D_PID" 2>/dev/null || break; sleep 0.1; done
	grep -q "vringmedd ready" "$TMP/vringmedd.log" || fail "vringmedd did not start: $(tail -n1 "$TMP/vringmedd.log")"
fi

guest() {	# INDEX KERNEL-ARGS: one guest, in the background
	local net=(-chardev "socket,id=c0,path=$TMP/vmm$1.sock" -netdev vhost-user,id=n0,chardev=c0) ns=()
	if [ "$NETPATH" = tap ]; then
		net=(-netdev "tap,id=n0,ifname=$PEER,script=no,downscript=no")
		ns=(ip netns exec "$NS")
	fi
	"${ns[@]}" timeout "$TIMEOUT" qemu-system-s390x -M s390-ccw-virtio,memory-backend=mem -m 256 -smp 1 \
		-name "guest$1,debug-threads=on" \
		-object memory-backend-memfd,id=mem,size=256M,share=on \
		-nographic -nodefaults -no-reboot -serial stdio \
		-kernel "$CACHE/vmlinuz" -initrd "$TMP/initrd.gz" \
		-append "console=ttysclp0 panic=-1 quiet loglevel=3 vrg_plan=net $2" \
		"${net[@]}" -device "virtio-net-ccw,netdev=n0,mac=52:54:00:12:34:$((56 + 2 * $1)),max_revision=0${VRINGMED_GUEST_NIC_OPTS:-}" \
		< /dev/null > "$TMP/guest$1.log" 2>&1 &
	Q_PIDS+=($!)
	[ "$1" = 0 ] && G0_PID=$!
}
start=$(date +%s%N)
if [ "$GUESTS" = 2 ]; then
	guest 1 "vrg_ip=10.0.2.16/24 vrg_ping=10.0.2.2,10.0.2.15 vrg_stay=${STAY1:-25}"
	guest 0 "vrg_ip=10.0.2.15/24 vrg_url=http://10.0.2.2:8080/blob vrg_ping=10.0.2.2,10.0.2.16 vrg_stay=12"
else
	guest 0 "vrg_ip=10.0.2.15/24 vrg_url=http://10.0.2.2:8080/blob vrg_ping=10.0.2.2 vrg_stay=12"
fi

# Host CPU (clock ticks: utime + stime) of a process or one thread.
ticks() { [ -r "$1" ] && awk '{print $14 + $15}' "$1" || echo 0; }
cpu_now() {
	local qemu
	qemu=$(pgrep -P "$G0_PID" | head -n1)	# guest 0's, the one that fetches
	echo "$(ticks "/proc/${D_PID:-0}/stat") $(ticks "/proc/$qemu/task/$qemu/stat") $(vcpu_ticks "$qemu")"
}
# The guest's own CPU: QEMU's TCG vCPU thread.  Under TCG it is what sets
# the pace, so its time per MiB compares the paths' cost to the guest
# whatever else the host's cores are busy with.
vcpu_ticks() {
	local t
	for t in /proc/"$1"/task/*; do
		grep -q "/TCG" "$t/comm" 2>/dev/null && { ticks "$t/stat"; return; }
	done
	echo 0
}
wait_line() {	# GUEST-INDEX PATTERN: until the guest says it, or is gone
	for _ in $(seq $((TIMEOUT * 20))); do
		grep -aq "^GUEST $2" "$TMP/guest$1.log" && return 0
		kill -0 "${Q_PIDS[$1]}" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}
# While the first guest's wget runs: the host CPU it takes.
CPU0="0 0 0" CPU1="0 0 0"
wait_line 0 "wget start" && CPU0=$(cpu_now)
wait_line 0 "wget bytes" && CPU1=$(cpu_now)

# While each guest is up: the namespace pings it (ARP, then ND for IPv6).
declare -A NSPING
for i in $(seq 0 $((GUESTS - 1))); do
	for _ in $(seq $((TIMEOUT * 10))); do
		grep -aq "^GUEST ready" "$TMP/guest$i.log" && break
		kill -0 "${Q_PIDS[$i]}" 2>/dev/null || break
		sleep 0.1
	done
	a=10.0.2.$((15 + i)) a6=fd00::$((15 + i))
	ip netns exec "$NS" ping -c 3 -i 0.3 -w 10 "$a" > "$TMP/nsping$i.log" 2>&1
	n4=$(grep -c "bytes from" "$TMP/nsping$i.log")
	n6=$(ip netns exec "$NS" ping -6 -c 3 -i 0.3 -w 10 "$a6" 2>/dev/null | grep -c "bytes from")
	mac=52:54:00:12:34:$((56 + 2 * i))
	arp=$(ip -n "$NS" neigh show "$a" | grep -c "lladdr $mac")
	nd=$(ip -n "$NS" neigh show "$a6" | grep -c "lladdr $mac")
	NSPING[$i]="v4=$n4/3 v6=$n6/3 arp=$arp nd=$nd"
done
for p in "${Q_PIDS[@]}"; do wait "$p"; done
Q_PIDS=()
ms=$(( ($(date +%s%N) - start) / 1000000 ))

g() { grep -a "^GUEST $2" "$TMP/guest$1.log" | tail -n1 | tr -d "\r" | sed "s/^GUEST //"; }
kv() { grep -o "$2=[^ ]*" <<<"$1" | head -n1 | cut -d= -f2; }

if [ "$NETPATH" = tap ]; then
	echo "== status quo run: 1 legacy virtio-net-ccw guest (s390x, big-endian) -> QEMU's virtio-net -> tap -> namespace"
else
	echo "== vringmed XDP run: $GUESTS legacy virtio-net-ccw guest(s) (s390x, big-endian) -> vringmedd -> AF_XDP on a veth -> namespace"
fi
echo "  qemu: done after $((ms / 1000)).$(printf %03d $((ms % 1000))) s; ${MBYTES} MiB file, md5 $SUM"
why=
for i in $(seq 0 $((GUESTS - 1))); do
	echo "  guest $i: $(g "$i" version_1) | $(g "$i" tx_packets) | $(g "$i" driver_complaints)"
	w=$(g "$i" wget)
	if [ -n "$w" ] || [ "$i" = 0 ]; then
		t0=$(kv "$w" t0) t1=$(kv "$w" t1) bytes=$(kv "$w" bytes)
		rate=$(python3 -c "print('%.2f' % (${bytes:-0} / 1048576 / max(${t1:-0} - ${t0:-0}, 0.001)))")
		echo "  guest $i: wget ${bytes:-?} bytes in $(python3 -c "print('%.2f' % (${t1:-0} - ${t0:-0}))") s ($rate MiB/s), md5 $(kv "$w" md5)"
		[ "$i" = 0 ] && python3 - "$CPU0" "$CPU1" "$MBYTES" "$rate" "$NETPATH" <<'PY'
import os, sys
hz = os.sysconf("SC_CLK_TCK")
a, b = [list(map(int, x.split())) for x in sys.argv[1:3]]
mib, rate, path = float(sys.argv[3]), sys.argv[4], sys.argv[5]
d = [(y - x) * 1000.0 / hz for x, y in zip(a, b)]
who = "vringmedd %.0f ms (%.1f ms/MiB), QEMU I/O thread %.0f ms (%.1f ms/MiB)" % (d[0], d[0] / mib, d[1], d[1] / mib) \
    if path == "xdp" else "QEMU I/O thread %.0f ms (%.1f ms/MiB)" % (d[1], d[1] / mib)
who += "; the guest's vCPU %.0f ms (%.1f ms/MiB)" % (d[2], d[2] / mib)
print("  transfer (%s): %s MiB/s; host CPU while it ran: %s" % (path, rate, who))
PY
		[ "$(kv "$w" md5)" = "$SUM" ] && [ "$bytes" = $((MBYTES << 20)) ] || why="${why:+$why; }guest $i's file differs"
	fi
	while read -r line; do
		echo "  guest $i: $line"
		# Answered: 2 of 3 echoes or more each way (a guest's first
		# echo may go before its neighbour entry is complete).
		[[ $line =~ v4=([23])\ v6=([23]) ]] || why="${why:+$why; }guest $i: $line"
	done < <(grep -a "^GUEST ping" "$TMP/guest$i.log" | tr -d "\r" | sed "s/^GUEST //")
	echo "  namespace -> guest $i: ${NSPING[$i]}"
	[[ ${NSPING[$i]} == "v4=3/3 v6=3/3 arp=1 nd=1" ]] || why="${why:+$why; }namespace -> guest $i: ${NSPING[$i]}"
	[ "$(kv "$(g "$i" driver_complaints)" driver_complaints)" = 0 ] || why="${why:+$why; }guest $i's driver complained"
done
if [ "$NETPATH" = xdp ]; then
	grep -a "xdp $IF" "$TMP/vringmedd.log" | grep -E "attached|mode|session ended" | sed "s/^vringmed info: /  vringmedd: /"
	grep -E "warn|broken" "$TMP/vringmedd.log" | grep -v fentry | head -n5 | sed 's/^/  vringmedd: /'
fi
[ -z "$why" ] || fail "$why"
echo "RESULT: WORKED"
