#!/usr/bin/env bash
# The built-in XDP back-end (backend=xdp:IFACE) against real peers: a veth
# pair whose other end sits in a network namespace made here, and
# vu_driver (a VMM plus a legacy virtio-net guest; the s390x build under
# qemu-s390x-static, a real big-endian legacy driver) through vringmedd.
# In the namespace reflector.py sends each frame back: unicast to the
# sender (swap: the steering program's MAC -> socket path) or as the
# broadcast it was (relay: the kernel's copy through the daemon's packet
# socket).  Then the real s390x guests through it (tools/guest/xdp.sh).
# Everything made here is taken down at the end.
# Summary: "test_xdp: N passed, N failed, N skipped"
set -u
cd "$(dirname "$0")/.." || exit 1
SUITE=test_xdp SUITE_TAG=xdp
. selftests/lib.sh

echo "== test_xdp (vringmedd's AF_XDP back-end, a veth pair, a network namespace)"
if [ "$(id -u)" -ne 0 ]; then
	skp '*' "needs root (BPF, XDP, network namespaces)"; skip=$((skip + 14)); finish
fi
if command -v qemu-s390x-static > /dev/null; then
	DRV=(qemu-s390x-static .output/vu_driver.s390x) ORDER=big
else
	echo "      qemu-s390x-static missing (make setup): the native driver stands in"
	DRV=(.output/vu_driver) ORDER=little
fi

TMP=$(mktemp -d /tmp/vm-xdp-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-xdp-$$
NS=vrmxdp-$$ IF=vrmx$$ PEER=vrmxp$$
D= R=
cleanup() {
	for p in $R $D; do stop_pid "$p"; done
	wait 2>/dev/null
	ip link del "$IF" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$ROOT"
	[ -n "${VRM_KEEP_LOGS:-}" ] && echo "logs kept in $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

# The namespace's end says nothing of its own (no IPv6 autoconfiguration):
# the driver must see its own frames only.
ip netns add "$NS" && ip link add "$IF" type veth peer name "$PEER" netns "$NS" &&
	ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$PEER.disable_ipv6=1" &&
	ip link set "$IF" up && ip -n "$NS" link set "$PEER" up ||
	{ bad be/setup "cannot make the namespace and veth pair"; finish; }

MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
vringmedd_start "$TMP/vringmedd.log" "" -p "$ROOT" -c "$TMP/ctl.sock" -m "127.0.0.1:$MPORT" \
	-d "x0,vmm=$TMP/vmm0.sock,backend=xdp:$IF" ||
	{ bad be/daemon "vringmedd did not start: $(tail -n3 "$TMP/vringmedd.log")"; finish; }

xdp_stat() {	# the steering program's counter $1, summed over CPUs
	bpftool -j map dump pinned "$ROOT/xdp/$IF/vrm_xdp_stats" 2>/dev/null |
		python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(v['value'] for e in d if e['formatted']['key']==$1 for v in e['formatted']['values']))" 2>/dev/null || echo 0
}

# One driver run against reflector MODE: frames all back, intact, and the
# program's counter STAT went up by as many.
be_case() {	# NAME MODE STAT FRAMES [DRIVER ARGS...]
	local name=$1 mode=$2 stat=$3 n=$4 before after line
	shift 4
	ip netns exec "$NS" python3 selftests/reflector.py "$PEER" "$mode" & R=$!
	sleep 0.5
	before=$(xdp_stat "$stat")
	line=$(timeout 120 "${DRV[@]}" --socket "$TMP/vmm0.sock" --legacy --any-mac --frames "$n" \
		--timeout-ms 20000 "$@" 2>"$TMP/$name.err" | grep '^vu_driver: mode=')
	after=$(xdp_stat "$stat")
	stop_pid "$R"; R=
	if [[ $line == *"order=$ORDER"*"sent=$n received=$n "*"RESULT: PASS"* ]] &&
	   [ $((after - before)) -ge "$n" ]; then
		ok "$name: ${line#vu_driver: }; the program's counter $stat +$((after - before))"
	else
		bad "$name" "${line:-no summary: $(tail -n3 "$TMP/$name.err")}; counter $stat +$((after - before)) (want >= $n)"
	fi
}
be_case be_unicast_steered swap 0 2000
be_case be_broadcast_flooded relay 2 2000

# Prometheus: frames per device and direction, the program's verdicts.
metric() { curl -s "http://127.0.0.1:$MPORT/metrics" | grep -F "$1" | awk '{print $2}'; }
tx=$(metric 'vringmed_xdp_frames_total{device="x0",interface="'"$IF"'",direction="tx"}')
rx=$(metric 'vringmed_xdp_frames_total{device="x0",interface="'"$IF"'",direction="rx"}')
st=$(metric 'vringmed_xdp_steer_total{interface="'"$IF"'",verdict="steered"}')
if [ "${tx:-0}" -ge 4000 ] && [ "${rx:-0}" -ge 4000 ] && [ "${st:-0}" -ge 2000 ]; then
	ok "be_metrics: frames tx $tx rx $rx, steered $st"
else
	bad be_metrics "frames tx ${tx:-none} rx ${rx:-none} (want >= 4000), steered ${st:-none} (want >= 2000)"
fi

# vringmedctl reads the pins: the program attached, its verdicts (the
# MACs went with the sessions).
check be_vringmedctl_xdp sh -c ".output/vringmedctl -p '$ROOT' xdp list | grep -Eq '^$IF +yes +2000 +0 +2000 +0'"

# Without MRG_RXBUF the driver's RX buffers hold a 10-byte header and the
# frame in one descriptor: the back-end walks the shadow table each becomes.
be_case be_no_mrg_rxbuf swap 0 500 --no-mrg-rxbuf

# Every UMEM frame where the back-end's books say: none still out, none
# coming back from the kernel that it had not handed over.
check be_frames_accounted grep -q "the port's frames: [0-9]* free, [0-9]* to fill, 0 out, 0 unknown" "$TMP/vringmedd.log"

# Attached and shown: the program on the interface, its maps under the pin root.
check be_program_attached sh -c "ip -d link show '$IF' | grep -q 'prog/xdp.*vrm_xdp_steer'"

# A daemon killed (no clean stop) leaves its program on the interface;
# the next one adopts it (its own in its place in one step, the maps kept:
# the counter goes on) and its devices' frames flow again.
kill -9 "$D"; wait "$D" 2>/dev/null; D=
check be_crash_leaves_program sh -c "ip -d link show '$IF' | grep -q 'prog/xdp.*vrm_xdp_steer'"
if vringmedd_start "$TMP/vringmedd.log" "" -p "$ROOT" -c "$TMP/ctl.sock" -m none \
	-d "x0,vmm=$TMP/vmm0.sock,backend=xdp:$IF"; then
	be_case be_after_crash_restart swap 0 500
	check be_program_adopted grep -q "steering program attached (adopted" "$TMP/vringmedd.log"
else
	bad be_after_crash_restart "vringmedd did not start again: $(tail -n3 "$TMP/vringmedd.log")"
fi

# A clean stop takes the program off the interface.
stop_pid "$D"; D=
check be_detached_at_stop sh -c "! ip -d link show '$IF' | grep -q 'prog/xdp'"

# The real s390x guests (tools/guest/xdp.sh, about a minute): an 8 MiB
# wget with its MD5 sum, pings both ways over IPv4 and IPv6 (ARP, ND),
# two guests on one interface reaching each other and the namespace.
if [ -s "${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}/vmlinuz" ]; then
	out=$(tools/guest/xdp.sh --guests 2 2>&1)
	if grep -q "^RESULT: WORKED" <<<"$out"; then
		ok "guest_two_on_one_interface: $(grep -o "wget .*" <<<"$out" | head -n1)"
		[ -n "${VERBOSE:-}" ] && echo "$out" | sed 's/^/      /'
	else
		echo "$out" | sed 's/^/      /'
		bad guest_two_on_one_interface "$(tail -n1 <<<"$out")"
	fi
	# The receive offloads: the guest took them, the wget's segments
	# reached it merged (an 8 MiB wget is ~5800 wire frames), and no
	# checksum the back-end computed was wrong.
	offl=$(grep -o "guest 0: version_1=[^|]*" <<<"$out" | head -n1)
	merged=$(grep -o "device g0: session ended.*" <<<"$out" | grep -o "checksums [0-9]* right, [0-9]* wrong; [0-9]* merged into [0-9]*")
	rxp=$(grep -o "guest 0: version_1.*rx_packets=[0-9]*" <<<"$out" | head -n1 | grep -o "[0-9]*$")
	if [[ $offl == *"guest_csum=1 guest_tso4=1 guest_tso6=1"* && $merged =~ right,\ 0\ wrong\;\ [1-9][0-9]*\ merged ]] &&
	   [ "${rxp:-99999}" -lt 1500 ]; then
		ok "guest_rx_offloads: ${offl#guest 0: }; $merged; the guest received $rxp frames"
	else
		bad guest_rx_offloads "${offl:-no feature line}; ${merged:-no offload counts}; guest rx_packets ${rxp:-?} (want < 1500)"
	fi
	# The status quo, same guest, same transfer: QEMU's own virtio-net on
	# a tap.  Both figures printed; the machine's load decides them more
	# than either path (a TCG guest), so they are shown, not judged.
	tap=$(tools/guest/xdp.sh --path tap 2>&1)
	if grep -q "^RESULT: WORKED" <<<"$tap"; then
		ok "guest_status_quo_tap: the same wget on QEMU's virtio-net and a tap worked"
		grep -h "^  transfer" <<<"$out
$tap" | sed 's/^  /      /'
	else
		echo "$tap" | sed 's/^/      /'
		bad guest_status_quo_tap "$(tail -n1 <<<"$tap")"
	fi
else
	skp guest_two_on_one_interface "no guest in the cache (make setup)"
	skp guest_rx_offloads "no guest in the cache (make setup)"
	skp guest_status_quo_tap "no guest in the cache (make setup)"
fi
finish
