#!/usr/bin/env bash
# One run of vringmed's real-guest scenario, unattended, cleaning up after
# itself:
#
#   tools/guest/run.sh [--mode legacy|modern] [--path vringmedd|direct] [--event-idx on|off]
#                      [--plan ping|burst|tcp] [--rx-buffers mergeable|big|small]
#                      [--queue-size 256|512|1024] [--vmm-server] [--daemon-restarts]
#                      [--hugepages] [--queues 1|2] [--keep-logs DIR]
#
# A big-endian s390x Linux guest (Debian's kernel, its own virtio-net
# driver) boots under qemu-system-s390x (TCG) with a virtio-net-ccw device on
# a vhost-user netdev: legacy (max_revision=0: virtio 0.9, big-endian rings)
# or modern.  The back-end is dpdk-testpmd's vhost PMD in io-forward mode,
# which sends every frame straight back.  --path vringmedd puts vringmedd
# between QEMU and testpmd; --path direct connects QEMU to testpmd itself.
# The guest pings a neighbour that never answers, so its own frames are what
# comes back, and prints its counters.  --plan burst (with --path vringmedd)
# gives the guest a second virtio-net device, through a second vringmedd
# device that withholds event idx, to a second testpmd port, and sends
# checkable frames on each in turn, A B B A (guest-traffic,
# VRINGMED_GUEST_BURST_SECS seconds on each, default 4, in two halves,
# VRINGMED_GUEST_BURST_WINDOW frames in flight, default 32): the two
# devices' kicks and calls per frame compare event idx on and off under
# the same load, neither sharing the guest's vCPU with the other.
# --plan tcp (with --path vringmedd) gives it the same two devices, but
# testpmd forwards each port's frames to the other and offers TSO and
# checksum offload (its vhost PMD's tso=1): the guest puts the second NIC
# in a network namespace of its own and sends a file over TCP each way
# between its two NICs (busybox httpd and wget, MD5 sums compared), large
# segments in big-endian headers through vringmedd, then pings across with
# 9000-byte MTUs (jumbo frames over mergeable receive buffers).
# --daemon-restarts (with --plan tcp) makes the file 32 MiB and restarts
# vringmedd under each transfer, 1 s into it, as a crash and an operator
# would: SIGKILL under the first, SIGTERM (systemctl restart) under the
# second, each time a new vringmedd over the pins; QEMU's chardevs have
# reconnect=1.  The connections must live through both, every byte intact.
# --hugepages puts the guest's memory in 2 MiB huge pages, a file on a
# hugetlbfs mount of the run's own (QEMU memory-backend-file, as libvirt
# sets it up for vhost-user back-ends), 128 of them reserved for the run
# (vm.nr_hugepages raised, and set back afterwards).
# --queues 2 (ping plan): two vCPUs and two queue pairs (QEMU's netdev
# queues=2, the NIC's mq=on; testpmd's port with two of each, io forwarding
# each receive queue to the transmit queue of its number), the guest's
# driver using both, its pings sent from each CPU so each pair carries
# frames; through vringmedd, each of the four rings must have.
# The device runs with event_idx=on (vringmedd's default for net);
# --event-idx off withholds VIRTIO_RING_F_EVENT_IDX from guest and back-end.
# --rx-buffers picks the receive buffers Linux posts, by the features QEMU
# gives the guest: mergeable (MRG_RXBUF, the default), big (mrg_rxbuf=off:
# big packets, the 10-byte header in a descriptor of its own) or small
# (mrg_rxbuf=off and no receive offloads: header and frame in one buffer).
# --queue-size sets both rings of each NIC (QEMU's rx_queue_size and
# tx_queue_size; 256 by default).  --vmm-server: QEMU listens on the
# vhost-user socket (its chardev's server=on, as libvirt and OpenStack with
# OVS-DPDK's vhostuserclient ports run it) and vringmedd connects
# (vmm_client=on); by default vringmedd listens and QEMU connects.
# Prints what flowed (guest, testpmd, vringmed per device and queue, and its
# kicks and calls per frame) and, last, "RESULT: WORKED" or
# "RESULT: FAILED (why)"; exits 0 only when it worked.
#
# Needs root (BPF), `make` (the binaries) and tools/guest/fetch.sh (the guest,
# run by `make setup`).  Environment: VRINGMED_GUEST_TIMEOUT (seconds for
# QEMU, default 150), VRINGMED_GUEST_CACHE, VRINGMED_GUEST_VERBOSE=1 (vringmedd
# -v, and the vhost-user messages testpmd received, in order),
# VRINGMED_GUEST_NIC_OPTS (appended to each -device virtio-net-ccw, e.g.
# ,indirect_desc=off).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

MODE=legacy PATH_KIND=vringmedd EIDX=on PLAN=ping RXBUF=mergeable QSIZE= VSRV= DRESTART= HUGE= KEEP= TIMEOUT=${VRINGMED_GUEST_TIMEOUT:-150} QUEUES=1
CACHE=${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}
while [ $# -gt 0 ]; do
	case $1 in
	--mode) MODE=$2; shift 2 ;;
	--path) PATH_KIND=$2; shift 2 ;;
	--event-idx) EIDX=$2; shift 2 ;;
	--plan) PLAN=$2; shift 2 ;;
	--rx-buffers) RXBUF=$2; shift 2 ;;
	--queue-size) QSIZE=$2; shift 2 ;;
	--daemon-restarts) DRESTART=1; shift ;;
	--hugepages) HUGE=1; shift ;;
	--queues) QUEUES=$2; shift 2 ;;
	--vmm-server) VSRV=1; shift ;;
	--keep-logs) KEEP=$2; shift 2 ;;
	-h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $MODE in legacy|modern) ;; *) echo "run.sh: --mode legacy|modern" >&2; exit 2 ;; esac
case $PATH_KIND in vringmedd|direct) ;; *) echo "run.sh: --path vringmedd|direct" >&2; exit 2 ;; esac
case $EIDX in on|off) ;; *) echo "run.sh: --event-idx on|off" >&2; exit 2 ;; esac
case $PLAN in ping|burst|tcp) ;; *) echo "run.sh: --plan ping|burst|tcp" >&2; exit 2 ;; esac
case $QUEUES in 1|2) ;; *) echo "run.sh: --queues 1|2" >&2; exit 2 ;; esac
[ "$QUEUES" = 1 ] || [ "$PLAN" = ping ] || { echo "run.sh: --queues 2 is for the ping plan" >&2; exit 2; }
case $RXBUF in
mergeable) NICOPT= ;;
big) NICOPT=,mrg_rxbuf=off ;;
small) NICOPT=,mrg_rxbuf=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off ;;
*) echo "run.sh: --rx-buffers mergeable|big|small" >&2; exit 2 ;;
esac
# --vmm-server: QEMU's chardevs listen (waiting for vringmedd before the
# guest boots), vringmedd's devices connect.
VC= QC=
if [ -n "$VSRV" ]; then
	[ "$PATH_KIND" = vringmedd ] || { echo "run.sh: --vmm-server is for --path vringmedd" >&2; exit 2; }
	VC=,vmm_client=on QC=,server=on,wait=on
fi
# --daemon-restarts: QEMU connects again to the next vringmedd (with
# --vmm-server, vringmedd connects again to QEMU).
if [ -n "$DRESTART" ]; then
	[ "$PLAN" = tcp ] || { echo "run.sh: --daemon-restarts is for --plan tcp" >&2; exit 2; }
	[ -n "$VSRV" ] || QC=,reconnect=1
fi
case $QSIZE in
'') ;;
256|512|1024) NICOPT=$NICOPT,rx_queue_size=$QSIZE,tx_queue_size=$QSIZE ;;
*) echo "run.sh: --queue-size 256|512|1024" >&2; exit 2 ;;
esac

. tools/guest/common.sh
guest_preflight /usr/bin/dpdk-testpmd /usr/bin/qemu-system-s390x $([ "$PATH_KIND" = vringmedd ] && echo .output/vringmedd)
TMP=$(mktemp -d /tmp/vm-guest-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-guest-$$
PREFIX=vmg-$$
TP_PID= D_PID= Q_PID= HOLD_PID=
HP_OLD=
cleanup() {
	stop_pids $Q_PID $D_PID $TP_PID $HOLD_PID
	if [ -n "$HUGE" ]; then
		umount "$TMP/huge" 2>/dev/null
		[ -n "$HP_OLD" ] && echo "$HP_OLD" > /proc/sys/vm/nr_hugepages
	fi
	drop_run_state "$PREFIX" "$ROOT"
	if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$TMP"/*.log "$KEEP"/ 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The initramfs: busybox, the three modules, tools/guest/init.
APPEND=
if [ "$PLAN" = burst ]; then
	[ -x .output/guest-traffic.s390x ] || fail ".output/guest-traffic.s390x missing (make)"
	[ "$PATH_KIND" = vringmedd ] || fail "--plan burst compares two vringmedd devices: --path vringmedd"
	guest_initramfs --traffic
	APPEND=" vrg_plan=burst vrg_secs=${VRINGMED_GUEST_BURST_SECS:-4} vrg_window=${VRINGMED_GUEST_BURST_WINDOW:-32}"
elif [ "$PLAN" = tcp ]; then
	[ "$PATH_KIND" = vringmedd ] || fail "--plan tcp runs through two vringmedd devices: --path vringmedd"
	guest_initramfs
	APPEND=" vrg_plan=tcp vrg_mb=$([ -n "$DRESTART" ] && echo 32 || echo 8)"
else
	guest_initramfs
fi
# --plan burst and tcp: the second device's back-end port, vringmedd device
# and QEMU device.  burst: testpmd's loop topology sends each port's frames
# back on it; tcp: paired, each port's to the other, and TSO offered.
TP2= D2= Q2= TOPO=loop TSO=
[ "$PLAN" = tcp ] && TOPO=paired TSO=,tso=1
if [ "$PLAN" = burst ] || [ "$PLAN" = tcp ]; then
	TP2="--vdev net_vhost1,iface=$TMP/vhost1.sock,queues=1$TSO"
	D2="-d net1,vmm=$TMP/vmm1.sock,backend=$TMP/vhost1.sock,event_idx=off$VC"
	Q2="-chardev socket,id=c1,path=$TMP/vmm1.sock$QC -netdev vhost-user,id=n1,chardev=c1"
fi

# The modern-only back-end: testpmd, io forwarding, one vhost-user port.
mkfifo "$TMP/tp.in"
sleep 100000 > "$TMP/tp.in" & HOLD_PID=$!
stdbuf -oL /usr/bin/dpdk-testpmd -l 0,1 --no-huge --no-pci -m 256 --file-prefix "$PREFIX" \
	--vdev "net_vhost0,iface=$TMP/vhost.sock,queues=$QUEUES$TSO" $TP2 --log-level=lib.vhost.config:info \
	-- --no-mlockall --forward-mode=io --port-topology=$TOPO --auto-start --total-num-mbufs=4096 \
	--rxq="$QUEUES" --txq="$QUEUES" \
	< "$TMP/tp.in" > "$TMP/testpmd.log" 2>&1 & TP_PID=$!
for _ in $(seq 100); do [ -S "$TMP/vhost.sock" ] && break; sleep 0.1; done
[ -S "$TMP/vhost.sock" ] || fail "testpmd did not start (see its log)"

SOCK=$TMP/vhost.sock
# d_start: vringmedd, first or again over the pins its predecessor left;
# true once it said it is ready.
d_start() {
	local n0
	n0=$(grep -c "vringmedd ready" "$TMP/vringmedd.log" 2>/dev/null)
	.output/vringmedd -p "$ROOT" -c "$TMP/ctl.sock" -m "${VRINGMED_METRICS:-none}" ${VRINGMED_GUEST_VERBOSE:+-v} \
		-d "net0,vmm=$TMP/vmm.sock,backend=$TMP/vhost.sock,event_idx=$EIDX$VC" $D2 >> "$TMP/vringmedd.log" 2>&1 &
	D_PID=$!
	for _ in $(seq 600); do	# loading the programs takes seconds on a loaded machine
		[ "$(grep -c "vringmedd ready" "$TMP/vringmedd.log")" -gt "${n0:-0}" ] && return 0
		kill -0 "$D_PID" 2>/dev/null || break
		sleep 0.1
	done
	return 1
}
if [ "$PATH_KIND" = vringmedd ]; then
	: > "$TMP/vringmedd.log"
	d_start || fail "vringmedd did not start: $(tail -n1 "$TMP/vringmedd.log")"
	SOCK=$TMP/vmm.sock
fi

MEMOBJ=memory-backend-memfd,id=mem,size=256M,share=on
if [ -n "$HUGE" ]; then
	HP_OLD=$(cat /proc/sys/vm/nr_hugepages)
	echo $((HP_OLD + 128)) > /proc/sys/vm/nr_hugepages
	hp_free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
	[ "$hp_free" -ge 128 ] || fail "could not reserve 128 huge pages (HugePages_Free=$hp_free after raising vm.nr_hugepages to $((HP_OLD + 128)))"
	mkdir -p "$TMP/huge"
	mount -t hugetlbfs -o pagesize=2M none "$TMP/huge" || fail "cannot mount hugetlbfs with 2 MiB pages"
	MEMOBJ=memory-backend-file,id=mem,size=256M,share=on,mem-path=$TMP/huge,prealloc=on
fi
REV=
[ "$MODE" = legacy ] && REV=,max_revision=0
REV=$REV$NICOPT${VRINGMED_GUEST_NIC_OPTS:-}
start=$(date +%s%N)
timeout "$TIMEOUT" qemu-system-s390x -M s390-ccw-virtio,memory-backend=mem -m 256 -smp "$QUEUES" \
	-object "$MEMOBJ" \
	-nographic -nodefaults -no-reboot -serial stdio \
	-kernel "$CACHE/vmlinuz" -initrd "$TMP/initrd.gz" \
	-append "console=ttysclp0 panic=-1 quiet loglevel=3$APPEND" \
	-chardev "socket,id=c0,path=$SOCK$QC" -netdev vhost-user,id=n0,chardev=c0,queues=$QUEUES \
	-device "virtio-net-ccw,netdev=n0,mac=52:54:00:12:34:56$REV$([ "$QUEUES" -gt 1 ] && echo ,mq=on)" \
	$Q2 ${Q2:+-device virtio-net-ccw,netdev=n1,mac=52:54:00:12:34:58$REV} \
	< /dev/null > "$TMP/guest.log" 2>&1 & Q_PID=$!
# --hugepages: how many of them the guest's memory holds once it runs.
HP_USED=
if [ -n "$HUGE" ]; then
	for _ in $(seq 300); do grep -aq "^GUEST init_at" "$TMP/guest.log" && break; kill -0 "$Q_PID" 2>/dev/null || break; sleep 0.1; done
	HP_USED=$(( hp_free - $(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo) ))
fi
# --daemon-restarts: 1 s into each transfer, vringmedd goes (SIGKILL, then
# SIGTERM) and a new one adopts its pins.
RESTARTS=
if [ -n "$DRESTART" ]; then
	for step in down:KILL up:TERM; do
		for _ in $(seq 1200); do
			grep -aq "^GUEST ${step%:*} start" "$TMP/guest.log" && break
			kill -0 "$Q_PID" 2>/dev/null || break
			sleep 0.1
		done
		grep -aq "^GUEST ${step%:*} start" "$TMP/guest.log" || break
		sleep 1
		t0=$(date +%s%N)
		kill "-${step#*:}" "$D_PID"; wait "$D_PID" 2>/dev/null; D_PID=
		if d_start; then
			RESTARTS="$RESTARTS ${step%:*}:SIG${step#*:}:$(( ($(date +%s%N) - t0) / 1000000 ))ms"
		else
			RESTARTS="$RESTARTS ${step%:*}:SIG${step#*:}:not-back"
			break
		fi
	done
fi
wait "$Q_PID"; qrc=$?; Q_PID=
ms=$(( ($(date +%s%N) - start) / 1000000 ))

# Counters before anything stops.
VSTATS=
if [ -n "$D_PID" ]; then
	VSTATS=$(python3 - "$TMP/ctl.sock" "$EIDX" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"stats\n")
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
kicks, calls, frames, eidx = {}, {}, {}, {}
for q in json.loads(data):
    errs = ",".join("%s=%d" % kv for kv in q["errors"].items()) or "none"
    print("  vringmed %s queue %d (%s): mode=%s kicks=%d chains=%d polled_chains=%d first_kicks=%d descriptors=%d"
          " indirect_tables=%d used=%d deferred=%d calls=%d calls_suppressed=%d"
          " event_idx_saved=%d/%d/%d event_idx_rescues=%d errors=%s"
          % (q["device"], q["queue"], "rx" if q["queue"] % 2 == 0 else "tx", q.get("mode", "?"),
             q["kicks"], q["chains"], q.get("poll_chains", -1), q.get("poll_first_kicks", -1), q["descriptors"],
             q.get("indirect_tables", -1), q["used"], q["deferred"], q.get("guest_calls", -1),
             q.get("guest_calls_suppressed", -1), q.get("event_idx_guest_kicks_saved", -1),
             q.get("event_idx_guest_calls_saved", -1), q.get("event_idx_backend_kicks_saved", -1),
             q.get("event_idx_rescues", -1), errs))
    d = q["device"]
    kicks[d] = kicks.get(d, 0) + q["kicks"] - q.get("kicks_userspace", 0)
    calls[d] = calls.get(d, 0) + max(q.get("guest_calls", 0), 0)
    frames[d] = frames.get(d, 0) + q["used"]
# Per frame through the device (its used entries: frames received and sent):
# what each cost in guest kicks (VM exits on KVM) and guest interrupts.
for d in sorted(kicks):
    if frames[d]:
        print("  per frame (%s event_idx=%s, %d frames): kicks/frame=%.3f calls/frame=%.3f"
              % (d, "off" if d == "net1" or sys.argv[2] == "off" else "on", frames[d],
                 kicks[d] / frames[d], calls[d] / frames[d]))
PY
)
fi
echo > "$TMP/tp.in" 2>/dev/null; kill "$HOLD_PID" 2>/dev/null; HOLD_PID=
for _ in $(seq 50); do kill -0 "$TP_PID" 2>/dev/null || break; sleep 0.1; done

g() { grep -a "^GUEST $1" "$TMP/guest.log" | tail -n1 | tr -d "\r" | sed "s/^GUEST //"; }
gv() { grep -a -o "$1=[0-9]*" "$TMP/guest.log" | tail -n1 | cut -d= -f2; }
gf() { grep -a "^GUEST version_1=" "$TMP/guest.log" | grep -a -o "$1=[0-9]*" | head -n1 | cut -d= -f2; }	# a feature bit
tpv() { grep -A3 "Accumulated forward statistics" "$TMP/testpmd.log" | grep -o "$1: *[0-9]*" | head -n1 | grep -o "[0-9]*$"; }
neg=$(grep -o "negotiated Virtio features: 0x[0-9a-f]*" "$TMP/testpmd.log" | tail -n1 | grep -o "0x.*")
tp_v1=0
[ -n "$neg" ] && [ $(( (neg >> 32) & 1 )) -eq 1 ] && tp_v1=1

echo "== vringmed guest run: $MODE virtio-net-ccw guest (s390x, big-endian) -> $PATH_KIND -> dpdk-testpmd"
boot=$(g "init_at=" | cut -d= -f2) done_at=$(g "traffic_done_at=" | cut -d= -f2)
echo "  qemu: exit $qrc after $((ms / 1000)).$(printf %03d $((ms % 1000))) s (boot, traffic, power-off); guest kernel $(cut -d' ' -f2 "$CACHE/VERSION" 2>/dev/null), /init at ${boot:-?} s, traffic done at ${done_at:-?} s"
[ "$qrc" = 124 ] && echo "  qemu: killed by the ${TIMEOUT} s timeout"
grep -a -E "vhost|endian|Operation not supported" "$TMP/guest.log" | grep -v "^GUEST" | head -n3 | sed 's/^/  qemu says: /'
echo "  guest: version_1=$(gf version_1) mrg_rxbuf=$(gf mrg_rxbuf) indirect_desc=$(gf indirect_desc) event_idx=$(gf event_idx) tx_packets=$(gv tx_packets) rx_packets=$(gv rx_packets) rx_errors=$(gv rx_errors) driver_complaints=$(gv driver_complaints)"
[ "$QUEUES" -gt 1 ] && echo "  guest: $(g "queues=")"
echo "  testpmd: negotiated ${neg:-nothing} (VERSION_1 $([ $tp_v1 = 1 ] && echo on || echo off)), RX-packets=$(tpv RX-packets) TX-packets=$(tpv TX-packets)"
[ -n "$HUGE" ] && echo "  host: guest memory in 2 MiB huge pages ($HP_USED in use while it ran): $MEMOBJ"
[ -n "$VSTATS" ] && echo "$VSTATS"
[ "$PLAN" = burst ] && grep -a "^GUEST nic " "$TMP/guest.log" | tr -d "\r" | sed 's/^GUEST /  guest: /'
[ "$PLAN" = tcp ] && grep -a -E "^GUEST (tcp|jumbo) " "$TMP/guest.log" | tr -d "\r" | sed 's/^GUEST /  guest: /'
[ -n "$DRESTART" ] && echo "  host: vringmedd restarts (transfer:signal:until the next was ready):${RESTARTS:- none}; adopted $(grep -c "^vringmed info: adopted " "$TMP/vringmedd.log") times, queues resumed $(grep -c "resumed where the previous daemon left it" "$TMP/vringmedd.log") times"
if [ -n "${VRINGMED_GUEST_VERBOSE:-}" ]; then
	echo "  testpmd: vhost-user messages received, in order:"
	grep -o "read message VHOST_USER_[A-Z_]*" "$TMP/testpmd.log" | sed 's/.*VHOST_USER_//' | uniq -c |
		awk '{printf "%s%s", sep, ($1 > 1 ? $2 "x" $1 : $2); sep = " "} END {print ""}' | fold -s -w 100 | sed 's/^/    /'
fi
[ -n "$D_PID" ] && grep -E "warn|broken" "$TMP/vringmedd.log" | grep -v fentry | head -n5 | sed 's/^/  vringmedd: /'

res=$(g "RESULT")
if [ "$res" != "RESULT: PASS" ]; then
	[ -n "$KEEP" ] || tail -n 15 "$TMP/guest.log" | sed 's/^/  guest log: /'
	why="the guest's checks did not pass: ${res:-no result line}"
	[ -n "$(gv rx_packets)" ] && why="$why, tx_packets=$(gv tx_packets) rx_packets=$(gv rx_packets)"
	[ "$qrc" = 124 ] && why="$why; qemu timed out after ${TIMEOUT} s"
	endian=$(grep -a -o "vhost_set_vring_endian failed: [^(]*([0-9]*)" "$TMP/guest.log" | head -n1)
	[ -n "$endian" ] && why="$why; qemu: $endian"
	fail "$why"
fi
[ -z "$HUGE" ] || [ "${HP_USED:-0}" -ge 128 ] || fail "the guest's memory was not in huge pages ($HP_USED of 2 MiB in use)"
if [ -n "$DRESTART" ]; then
	case $RESTARTS in *down:SIGKILL:*ms*up:SIGTERM:*ms*) ;; *) fail "vringmedd was not restarted under both transfers:${RESTARTS:- none}" ;; esac
fi
want_v1=0; [ "$MODE" = modern ] && want_v1=1
[ "$(gv version_1)" = "$want_v1" ] || fail "guest VERSION_1=$(gv version_1), expected $want_v1"
[ "$tp_v1" = 1 ] || fail "testpmd did not negotiate VERSION_1"
if [ "$PATH_KIND" = vringmedd ]; then
	echo "$VSTATS" | grep -q "tx): mode=[a-z+]* kicks=[1-9]" || fail "vringmed translated no TX kicks"
fi
if [ "$QUEUES" -gt 1 ]; then
	g "queues=" | grep -q "^queues=$QUEUES cpus=$QUEUES" || fail "the guest's driver does not use $QUEUES queue pairs: $(g "queues=")"
	if [ "$PATH_KIND" = vringmedd ]; then
		for ((i = 0; i < 2 * QUEUES; i++)); do
			grep -q "net0 queue $i ([rt]x): .* used=[1-9][0-9]* .*errors=none" <<<"$VSTATS" ||
				fail "net0 queue $i returned nothing, or had errors: $(grep "net0 queue $i " <<<"$VSTATS")"
		done
	fi
fi
echo "RESULT: WORKED"
