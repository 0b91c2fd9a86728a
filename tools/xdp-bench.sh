#!/usr/bin/env bash
# The XDP back-end against the DPDK way to the same interface, same run:
#
#   tools/xdp-bench.sh [--frames N] [--native]
#
# vu_driver (a VMM plus a legacy virtio-net guest: the s390x build under
# qemu-s390x-static, big-endian, or --native) sends N frames (default
# 20000) as fast as its ring lets, through vringmedd, to a veth whose peer
# sits in a namespace made here, where selftests/reflector.py sends each
# back to it:
#   xdp:     vringmedd -> its own AF_XDP back-end (backend=xdp:IF)
#   testpmd: vringmedd -> dpdk-testpmd, io forwarding between its vhost
#            port and a net_af_xdp port on IF
# Prints frames per second and host CPU per frame (vringmedd; testpmd,
# which polls: a core while it runs) for each, and takes everything down.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
. selftests/lib.sh

N=20000 DRV=(qemu-s390x-static .output/vu_driver.s390x)
while [ $# -gt 0 ]; do
	case $1 in
	--frames) N=$2; shift 2 ;;
	--native) DRV=(.output/vu_driver); shift ;;
	-h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "xdp-bench.sh: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "xdp-bench.sh: needs root" >&2; exit 2; }

TMP=$(mktemp -d /tmp/vm-xdpb-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-xdpb-$$
NS=vrmb-$$ IF=vrmb$$ PEER=vrmbp$$ PREFIX=vrmb-$$
D= R= TP= HOLD=
cleanup() {
	for p in $R $D $TP $HOLD; do stop_pid "$p"; done
	wait 2>/dev/null
	ip link del "$IF" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	rm -rf "$ROOT" "/var/run/dpdk/$PREFIX" "$TMP"
}
trap cleanup EXIT

ip netns add "$NS" && ip link add "$IF" type veth peer name "$PEER" netns "$NS" &&
	ip netns exec "$NS" sysctl -qw "net.ipv6.conf.$PEER.disable_ipv6=1" &&
	ip link set "$IF" up && ip -n "$NS" link set "$PEER" up || { echo "cannot make the veth pair" >&2; exit 1; }
ip netns exec "$NS" python3 selftests/reflector.py "$PEER" swap & R=$!

ticks() { [ -n "$1" ] && [ -r "/proc/$1/stat" ] && awk '{print $14 + $15}' "/proc/$1/stat" || echo 0; }

# One run: PATH-NAME; prints its line.
run() {
	local name=$1 c0 t0 t1 c1 p0 p1 line
	c0=$(ticks "$D") p0=$(ticks "$TP") t0=$(date +%s%N)
	line=$(timeout 600 "${DRV[@]}" --socket "$TMP/vmm.sock" --legacy --any-mac --frames "$N" \
		--timeout-ms 30000 2>/dev/null | grep '^vu_driver: mode=')
	t1=$(date +%s%N) c1=$(ticks "$D") p1=$(ticks "$TP")
	python3 - "$name" "$N" "$t0" "$t1" "$c0" "$c1" "$p0" "$p1" "$line" <<'PY'
import os, sys
name, n = sys.argv[1], int(sys.argv[2])
t0, t1, c0, c1, p0, p1 = map(int, sys.argv[3:9])
hz = os.sysconf("SC_CLK_TCK")
s = (t1 - t0) / 1e9
ok = "RESULT: PASS" in sys.argv[9]
d = (c1 - c0) / hz * 1e9 / n
p = (p1 - p0) / hz * 1e9 / n
extra = ", testpmd %.0f ns/frame (busy polling), together %.0f" % (p, d + p) if name == "testpmd" else ""
print("  %-8s %6.0f frames/s round trip; host CPU per frame: vringmedd %.0f ns%s; %s"
      % (name, n / s, d, extra, "all back" if ok else "FAILED: " + sys.argv[9]))
PY
}

echo "== xdp-bench: $N frames, driver ${DRV[*]##*/}, reflector in a namespace ($(date -u +%F) $(git rev-parse --short HEAD 2>/dev/null) $(nproc) CPUs)"
vringmedd_start "$TMP/d.log" "" -p "$ROOT" -m none -c none -d "b0,vmm=$TMP/vmm.sock,backend=xdp:$IF" ||
	{ echo "vringmedd did not start" >&2; exit 1; }
sleep 0.5
run xdp
stop_pid "$D"; D=

testpmd_start_xdp() {
	mkfifo "$TMP/tp.in"; sleep 100000 > "$TMP/tp.in" & HOLD=$!
	dpdk-testpmd -l 0,1 --no-huge --no-pci -m 256 --file-prefix "$PREFIX" \
		--vdev "net_vhost0,iface=$TMP/vhost.sock,queues=1" \
		--vdev "net_af_xdp0,iface=$IF,start_queue=0,queue_count=1" \
		-- --no-mlockall --forward-mode=io --auto-start --total-num-mbufs=8192 \
		< "$TMP/tp.in" > "$TMP/testpmd.log" 2>&1 & TP=$!
	for _ in $(seq 100); do [ -S "$TMP/vhost.sock" ] && break; sleep 0.1; done
}
testpmd_start_xdp
vringmedd_start "$TMP/d.log" "" -p "$ROOT" -m none -c none -d "b0,vmm=$TMP/vmm.sock,backend=$TMP/vhost.sock" ||
	{ echo "vringmedd did not start" >&2; exit 1; }
sleep 0.5
run testpmd
