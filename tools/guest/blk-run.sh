#!/usr/bin/env bash
# One run of vringmed's real block guest, unattended, cleaning up after
# itself:
#
#   tools/guest/blk-run.sh [--path vringmedd|direct]
#                          [--pause N | --reset | --backend-restart | --daemon-restart | --mem-hotplug
#                           | --migrate] [--modern] [--queues N]
#                          [--vmm-server] [--keep-logs DIR]
#
# A big-endian ppc64 Linux guest (pseries, its own legacy virtio-pci and
# virtio-blk drivers; the kernel tools/guest/ppc64-kernel.sh builds) boots
# under qemu-system-ppc64 (TCG) with a vhost-user-blk-pci,disable-modern=on
# disk, served by qemu-storage-daemon's vhost-user-blk export, a modern-only
# back-end, from an 8 MiB image of random bytes.  --path vringmedd puts
# vringmedd (type=blk,order=be) between QEMU and the daemon; --path direct
# connects QEMU to the daemon itself.  The guest (tools/guest/blk-init.c)
# reads its whole disk and prints its checksum, which must be the host's of
# the image; writes a marker sector, which must be in the image afterwards;
# and powers off.  --pause N (--path vringmedd): after the first read the
# guest reads its disk again and again past its page cache for 3 + N
# seconds, while the host makes N QMP stop/cont cycles (0.3-0.8 s running,
# 0.2-0.5 s stopped) and times how long after each cont the requests flow
# again; every pass must sum to the image, every resume flow within 1 s.
# --reset (--path vringmedd): after the first read, while the guest reads
# its disk again and again, a QMP system_reset, requests in flight; the
# guest boots again and does it all once more (read, passes, marker), and
# both boots' reads must sum to the image.  --backend-restart (--path
# vringmedd): instead, qemu-storage-daemon SIGKILLed a second into the
# passes and started again on the same image and socket; vringmedd
# connects to the new one and hands it what the old one took and never
# answered, and the passes go on, every one the image's.  --daemon-restart
# (--path vringmedd): vringmedd SIGKILLed there instead and started again
# over its pins; QEMU (reconnect=1) or, with --vmm-server, vringmedd
# connects again, the guest's requests in flight are handed out again, and
# the passes go on.  --mem-hotplug (--path vringmedd): a DIMM of 256 MiB
# (memfd, shared) plugged in there over QMP: QEMU sends the memory table
# again while the ring runs, and the passes go on.  --migrate (--path
# vringmedd): a second QEMU waits (-incoming) on a second device of the
# same vringmedd (disk1), whose back-end is a second export of the same
# image by the same qemu-storage-daemon; the guest migrates live to it in
# its passes, requests in flight, and they go on there, every one the
# image's, the marker written through the second device.  With QEMU 7.2
# (TCG, pseries) a guest sometimes hangs after such a migration, with or
# without vringmedd (docs/migration.md): not in make test.  --modern: the device is offered
# modern (disable-modern=off) and the guest's driver takes it little-endian:
# with --path direct --migrate, the same migration without vringmedd, the
# yardstick for a run that goes wrong.
# --queues N (1-4, default 1): N vCPUs and N request queues, QEMU's own
# choice for vhost-user-blk-pci with -smp N (no num-queues given), the
# export's num-queues=N; the guest's passes (3 s when nothing else asks for
# them) run on every CPU, so every queue carries requests, and through
# vringmedd each queue must have translated chains.
# --vmm-server: QEMU listens on the vhost-user socket (server=on) and
# vringmedd connects (vmm_client=on).  Prints what flowed and, last, "RESULT: WORKED" or
# "RESULT: FAILED (why)"; exits 0 only when it worked.
#
# Needs root (BPF), `make` (the binaries) and the guest kernel (make setup).
# Environment: VRINGMED_GUEST_TIMEOUT (seconds for QEMU, default 150),
# VRINGMED_PPC64_CACHE, VRINGMED_GUEST_VERBOSE=1 (vringmedd -v, and the
# guest's console).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2

PATH_KIND=vringmedd KEEP= TIMEOUT=${VRINGMED_GUEST_TIMEOUT:-150} PAUSE=0 VC= QC= ACT= MODERN= QUEUES=1
CACHE=${VRINGMED_PPC64_CACHE:-/var/cache/vringmed/ppc64}
while [ $# -gt 0 ]; do
	case $1 in
	--path) PATH_KIND=$2; shift 2 ;;
	--keep-logs) KEEP=$2; shift 2 ;;
	--pause) PAUSE=$2; shift 2 ;;
	--modern) MODERN=1; shift ;;
	--queues) QUEUES=$2; shift 2 ;;
	--reset|--backend-restart|--daemon-restart|--mem-hotplug|--migrate)
		[ -z "$ACT" ] || { echo "blk-run.sh: one of --reset, --backend-restart, --daemon-restart, --mem-hotplug, --migrate" >&2; exit 2; }
		ACT=${1#--}; shift ;;
	--vmm-server) VC=,vmm_client=on QC=,server=on,wait=on; shift ;;
	-h|--help) sed -n '2,/^[^#]/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "blk-run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done
case $PATH_KIND in vringmedd|direct) ;; *) echo "blk-run.sh: --path vringmedd|direct" >&2; exit 2 ;; esac
case $PAUSE in ''|*[!0-9]*) echo "blk-run.sh: --pause N (cycles)" >&2; exit 2 ;; esac
case $QUEUES in [1-4]) ;; *) echo "blk-run.sh: --queues N, 1 to 4" >&2; exit 2 ;; esac
[ "$PAUSE" -gt 0 ] && [ "$PATH_KIND" != vringmedd ] && { echo "blk-run.sh: --pause needs --path vringmedd" >&2; exit 2; }
[ -n "$VC" ] && [ "$PATH_KIND" != vringmedd ] && { echo "blk-run.sh: --vmm-server needs --path vringmedd" >&2; exit 2; }
if [ -n "$ACT" ]; then
	[ "$PATH_KIND" = vringmedd ] || [ "$ACT$MODERN" = migrate1 ] ||
		{ echo "blk-run.sh: --$ACT needs --path vringmedd (--migrate: or --path direct --modern)" >&2; exit 2; }
	[ "$PAUSE" -eq 0 ] || { echo "blk-run.sh: --pause and --$ACT go one at a time" >&2; exit 2; }
fi
# The guest's passes: through the pauses, or for the reset or the restart
# to fall in.
SECS=$([ "$PAUSE" -gt 0 ] && echo $((PAUSE + 3)) || case $ACT in reset) echo 4 ;; ?*) echo 6 ;; *) [ "$QUEUES" -gt 1 ] && echo 3 ;; esac)
# A VMM that connects (the default) does so again after a daemon restart.
[ "$ACT" = daemon-restart ] && [ -z "$QC" ] && QC=,reconnect=1

fail() { echo "RESULT: FAILED ($*)"; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "needs root"
tools/guest/ppc64-kernel.sh --check 2>/dev/null || fail "no ppc64 guest kernel in $CACHE: run tools/guest/ppc64-kernel.sh (make setup)"
for b in /usr/bin/qemu-storage-daemon /usr/bin/qemu-system-ppc64 .output/blk-guest-init.ppc64 \
	 $([ "$PATH_KIND" = vringmedd ] && echo .output/vringmedd .output/vringmedctl); do
	[ -x "$b" ] || fail "$b missing (make setup; make)"
done

. tools/guest/common.sh
TMP=$(mktemp -d /tmp/vm-blkguest-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-blkguest-$$
Q_PID= D_PID= S_PID= QB_PID=
cleanup() {
	stop_pids $Q_PID $QB_PID $D_PID $S_PID
	[ -d "$ROOT" ] && rm -rf "$ROOT"
	if [ -n "$KEEP" ]; then mkdir -p "$KEEP" && cp "$TMP"/*.log "$KEEP"/ 2>/dev/null; fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The disk: random bytes, and its checksum as the guest computes it.
fnv() { python3 -c '
import sys
h = 0xcbf29ce484222325
data = open(sys.argv[1], "rb").read()
for b in data:
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("0x%016x" % h)' "$1"; }
head -c $((8 << 20)) /dev/urandom > "$TMP/disk.img"
HOST_SUM=$(fnv "$TMP/disk.img")
MARK=mark-$$-$RANDOM SECTOR=100

# The initramfs: the guest's /init and the mount points it uses.
mkdir -p "$TMP/root/dev" "$TMP/root/proc" "$TMP/root/sys"
cp .output/blk-guest-init.ppc64 "$TMP/root/init"
python3 tools/guest/mkinitramfs.py "$TMP/initrd.gz" "$TMP/root" || fail "initramfs"

# The modern-only back-end.
qsd_start() {	# a new instance on the same image and socket
	rm -f "$TMP/qsd.sock"
	/usr/bin/qemu-storage-daemon \
		--blockdev "driver=file,node-name=file0,filename=$TMP/disk.img" \
		--blockdev driver=raw,node-name=disk0,file=file0 \
		--export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$TMP/qsd.sock,writable=on,num-queues=$QUEUES" \
		$([ "$ACT" = migrate ] && echo "--export type=vhost-user-blk,id=exp1,node-name=disk0,addr.type=unix,addr.path=$TMP/qsdB.sock,writable=on,num-queues=$QUEUES") \
		>> "$TMP/qsd.log" 2>&1 & S_PID=$!
	for _ in $(seq 100); do [ -S "$TMP/qsd.sock" ] && break; sleep 0.1; done
	[ -S "$TMP/qsd.sock" ]
}
qsd_start || fail "qemu-storage-daemon did not start (see its log)"

d_start() {	# vringmedd, or a new one after it (the pins under ROOT kept)
	local n0
	n0=$(grep -c "vringmedd ready" "$TMP/vringmedd.log" 2>/dev/null)
	.output/vringmedd -p "$ROOT" -c "$TMP/ctl.sock" -m none ${VRINGMED_GUEST_VERBOSE:+-v} \
		-d "disk0,vmm=$SOCK,backend=$TMP/qsd.sock,type=blk,order=be$VC" \
		$([ "$ACT" = migrate ] && echo "-d disk1,vmm=$TMP/vmmB.sock,backend=$TMP/qsdB.sock,type=blk,order=be$VC") \
		>> "$TMP/vringmedd.log" 2>&1 & D_PID=$!
	for _ in $(seq 300); do
		[ "$(grep -c "vringmedd ready" "$TMP/vringmedd.log")" -gt "${n0:-0}" ] && return 0
		kill -0 $D_PID 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

SOCK=$TMP/qsd.sock
if [ "$PATH_KIND" = vringmedd ]; then
	SOCK=$TMP/vmm.sock
	d_start || fail "vringmedd did not start: $(tail -n2 "$TMP/vringmedd.log")"
fi

echo "== vringmed block guest run: legacy virtio-blk-pci guest (ppc64, big-endian) -> $([ "$PATH_KIND" = vringmedd ] && echo "vringmedd -> ")qemu-storage-daemon"
t0=$(date +%s.%N)
q_start() {	# SUFFIX VMM_SOCKET [ARGS]: a QEMU, its console, QMP socket and log named by SUFFIX
	local sfx=$1 sock=$2
	shift 2
	timeout "$TIMEOUT" /usr/bin/qemu-system-ppc64 \
		-M pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off,memory-backend=mem \
		-m 256$([ "$ACT" = mem-hotplug ] && echo ,slots=2,maxmem=1G) -smp "$QUEUES" -nodefaults -nographic \
		-serial "file:$TMP/console$sfx.log" -monitor none \
		-object memory-backend-memfd,id=mem,size=256M,share=on \
		-kernel "$CACHE/vmlinux" -initrd "$TMP/initrd.gz" \
		-append "console=hvc0 vrm.mark=$MARK vrm.sector=$SECTOR${SECS:+ vrm.secs=$SECS}" \
		$([ -n "$SECS" ] && echo "-qmp unix:$TMP/qmp$sfx.sock,server=on,wait=off") \
		-chardev "socket,id=c0,path=$sock$QC" \
		-device vhost-user-blk-pci,chardev=c0,disable-modern=$([ -n "$MODERN" ] && echo off || echo on) \
		$([ "$ACT" != reset ] && echo -no-reboot) "$@" > "$TMP/qemu$sfx.log" 2>&1 &
}
q_start "" "$SOCK"; Q_PID=$!
# --migrate: the destination waits from the start.
[ "$ACT" = migrate ] && { q_start B "$TMP/$([ "$PATH_KIND" = direct ] && echo qsdB || echo vmmB).sock" \
				  -incoming "unix:$TMP/mig.sock"; QB_PID=$!; }
# --pause, --reset: once the guest's passes began (its first read done).
PAUSED= DONE= P_AT= SHOWN= MIGSTAT=
if [ -n "$SECS" ]; then
	for _ in $(seq 600); do
		grep -a -q -E "^blk-guest: (read|FAILED)" "$TMP/console.log" 2>/dev/null && break
		kill -0 $Q_PID 2>/dev/null || break
		sleep 0.1
	done
	if [ -n "$ACT" ] && grep -a -q "^blk-guest: read" "$TMP/console.log"; then
		sleep 1		# into the passes: requests in flight
		P_AT=$(grep -a -c "^blk-guest: passes t=" "$TMP/console.log")
		case $ACT in
		reset) python3 tools/guest/lifecycle.py qmp "$TMP/qmp.sock" system_reset > /dev/null && DONE=1 ;;
		backend-restart)
			kill -9 $S_PID 2>/dev/null; wait $S_PID 2>/dev/null; S_PID=
			qsd_start && DONE=1 ;;
		daemon-restart)
			kill -9 $D_PID 2>/dev/null; wait $D_PID 2>/dev/null; D_PID=
			d_start && DONE=1 ;;
		migrate)
			# Switched over in the passes, requests in flight.
			python3 tools/guest/lifecycle.py migrate-start "$TMP/qmp.sock" "unix:$TMP/mig.sock" > "$TMP/migrate.log" 2>&1 &&
			python3 tools/guest/lifecycle.py migrate-finish "$TMP/qmp.sock" >> "$TMP/migrate.log" 2>&1 && DONE=1
			MIGSTAT=$(grep -o "migrate status=.*" "$TMP/migrate.log" | tail -n1)
			SHOWN=$(.output/vringmedctl -p "$ROOT" -c "$TMP/ctl.sock" device show disk1 2>&1 | grep -o "state: [a-z]*\|big-endian rings" | paste -sd' ')
			# The source is done with: it quits, the destination runs on.
			python3 tools/guest/lifecycle.py qmp "$TMP/qmp.sock" quit > /dev/null 2>&1
			wait $Q_PID 2>/dev/null
			[ -n "$DONE" ] && { Q_PID=$QB_PID; QB_PID=; } ;;
		mem-hotplug)
			python3 tools/guest/lifecycle.py qmp "$TMP/qmp.sock" object-add \
				'{"qom-type": "memory-backend-memfd", "id": "mem1", "size": 268435456, "share": true}' > "$TMP/hotplug.log" 2>&1 &&
			python3 tools/guest/lifecycle.py qmp "$TMP/qmp.sock" device_add \
				'{"driver": "pc-dimm", "id": "dimm1", "memdev": "mem1"}' >> "$TMP/hotplug.log" 2>&1 && DONE=1
			sleep 1
			SHOWN=$(.output/vringmedctl -p "$ROOT" -c "$TMP/ctl.sock" device show disk0 2>&1 | grep -o "guest memory: .*") ;;
		esac
	elif grep -a -q "^blk-guest: read" "$TMP/console.log"; then
		python3 tools/guest/lifecycle.py pausecont "$TMP/qmp.sock" "$TMP/ctl.sock" "$RANDOM" "$PAUSE" 0 \
			> "$TMP/pausecont.log" 2>&1
		PAUSED=$?
	fi
fi
# A guest whose disk cannot work waits for it for ever: once QEMU says its
# vhost device did not start, or the guest gave up, it is stopped.
while kill -0 $Q_PID 2>/dev/null; do
	if grep -a -q -E "vhost_set_vring_endian failed: Operation not supported|Error starting vhost|blk-guest: FAILED" \
		"$TMP"/qemu*.log "$TMP"/console*.log 2>/dev/null; then
		sleep 1
		kill $Q_PID 2>/dev/null
		break
	fi
	sleep 0.5
done
wait $Q_PID; qrc=$?; Q_PID=
t1=$(date +%s.%N)
# --migrate: the guest's console went on at the destination.
[ -f "$TMP/consoleB.log" ] && cat "$TMP/consoleB.log" >> "$TMP/console.log"
[ -n "${VRINGMED_GUEST_VERBOSE:-}" ] && sed 's/^/  console: /' "$TMP/console.log"

kill $S_PID 2>/dev/null; wait $S_PID; S_PID=	# the image is whole once the daemon is gone
line() { grep -a "^blk-guest: $1" "$TMP/console.log" | head -n1 | tr -d '\r'; }
disk=$(line disk) read=$(line read) guest_fail=$(line FAILED)
GUEST_SUM=$(sed -n 's/.*fnv1a=\(0x[0-9a-f]*\).*/\1/p' <<<"$read")
boots=$(grep -a -c "^Linux version" "$TMP/console.log")
# Every boot's read: each must be the image's.
SUMS=$(grep -a "^blk-guest: read" "$TMP/console.log" | sed -n 's/.*fnv1a=\(0x[0-9a-f]*\).*/\1/p' | paste -sd' ')
found=$(dd if="$TMP/disk.img" bs=512 skip=$SECTOR count=1 2>/dev/null | tr -d '\0' | grep -c "$MARK")
printf '  qemu: exit %s after %.3f s; guest kernel %s\n' "$qrc" "$(echo "$t1 - $t0" | bc)" \
	"$(grep -a -o 'Linux version [^ ]*' "$TMP/console.log" | head -n1 | cut -d' ' -f3)"
echo "  guest: ${disk#blk-guest: }; ${read#blk-guest: }"
passes=$(line "passes end"); passes=${passes:-no passes line}
if [ "$ACT" = reset ]; then
	echo "  reset: $([ -n "$DONE" ] && echo "QMP system_reset in the passes" || echo "not sent"); boots=$boots; reads fnv1a=${SUMS:-none}"
	echo "  guest: ${passes#blk-guest: } (the passes of the boot after the reset)"
fi
P_END=$(grep -a -c "^blk-guest: passes t=" "$TMP/console.log")
if [ "$ACT" = backend-restart ]; then
	echo "  back-end: qemu-storage-daemon $([ -n "$DONE" ] && echo "SIGKILLed ${P_AT}s into the passes and started again; $((P_END - ${P_AT:-0}))s of passes after" || echo "not restarted");" \
	     "vringmedd: $(grep -o 'back after [0-9]* ms' "$TMP/vringmedd.log" | head -n1)"
fi
if [ "$ACT" = daemon-restart ]; then
	echo "  vringmedd: $([ -n "$DONE" ] && echo "SIGKILLed ${P_AT}s into the passes and started again ($(grep -o 'adopted\|pinned' "$TMP/vringmedd.log" | tail -n1)); $((P_END - ${P_AT:-0}))s of passes after" || echo "not restarted")"
fi
if [ "$ACT" = migrate ]; then
	echo "  migration: ${MIGSTAT:-none} ${P_AT}s into the passes;" \
	     "$(grep -a -c "^blk-guest: passes t=" "$TMP/consoleB.log" 2>/dev/null)s of passes after at the destination"
	[ "$PATH_KIND" = vringmedd ] &&
		echo "  vringmedd: dirty logs set up: $(grep -c "dirty log of" "$TMP/vringmedd.log"); destination device disk1: ${SHOWN:-not shown}"
fi
if [ "$ACT" = mem-hotplug ]; then
	echo "  memory: $([ -n "$DONE" ] && echo "a 256 MiB DIMM plugged in ${P_AT}s into the passes; $((P_END - ${P_AT:-0}))s of passes after" || echo "not plugged in: $(tail -n1 "$TMP/hotplug.log" 2>/dev/null)")"
	echo "  vringmedctl after it: ${SHOWN:-no guest memory line}"
fi
case $ACT in *restart|mem-hotplug|migrate) echo "  guest: ${passes#blk-guest: } (the passes across it)" ;; esac
if [ "$PAUSE" -gt 0 ]; then
	sed 's/^/  /' "$TMP/pausecont.log" 2>/dev/null | grep -v "cycle "
	echo "  guest: ${passes#blk-guest: } (uncached reads of the whole disk while paused and resumed)"
fi
echo "  host: image fnv1a=$HOST_SUM; marker at sector $SECTOR $([ "$found" = 1 ] && echo found || echo "not found")"
if [ "$QUEUES" -gt 1 ]; then
	echo "  guest: $(line "passes on" | sed 's/blk-guest: //'), a reader pinned to each"
fi
QLINES=
if [ "$PATH_KIND" = vringmedd ]; then
	for dv in disk0 $([ "$ACT" = migrate ] && echo disk1); do
	QLINES+=$(.output/vringmedctl -p "$ROOT" --json device show $dv 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for q in d.get("queues", []):
    e = ",".join("%s=%s" % kv for kv in q["errors"].items()) or "none"
    print("  vringmed %s queue %d (requests): kicks=%d chains=%d descriptors=%d used=%d deferred=%d errors=%s"
          % (d["name"], q["queue"], q["kicks"], q["chains"], q["descriptors"], q["used"], q["deferred"], e))' 2>/dev/null)$'\n'
	done
	printf '%s' "$QLINES"
	grep -E "broken|refused|session ended: (request|VMM protocol)" "$TMP/vringmedd.log" | head -n3 | sed 's/^/  vringmedd: /'
fi
grep -a -E "vhost|error" "$TMP/qemu.log" | head -n3 | sed 's/^/  qemu: /'

[ -n "$guest_fail" ] && fail "guest: ${guest_fail#blk-guest: }"
[ -n "$read" ] || fail "the guest read nothing of its disk (qemu exit $qrc)"
[ "$GUEST_SUM" = "$HOST_SUM" ] || fail "the guest's checksum $GUEST_SUM is not the image's $HOST_SUM"
[ "$found" = 1 ] || fail "the guest's marker is not in the image"
if [ "$ACT" = reset ]; then
	[ -n "$DONE" ] || fail "QMP system_reset not sent (the guest's first read: ${read:-none})"
	[ "$boots" -eq 2 ] || fail "$boots guest boots, not 2"
	[ "$SUMS" = "$HOST_SUM $HOST_SUM" ] || fail "the two boots read $SUMS, not the image's $HOST_SUM twice"
	grep -q " bad=0$" <<<"$passes" || fail "a pass after the reset read what the image does not hold: $passes"
fi
if [ "$ACT" = migrate ]; then
	grep -q "status=completed" <<<"$MIGSTAT" || fail "the migration did not complete: ${MIGSTAT:-$(tail -n1 "$TMP/migrate.log" 2>/dev/null)}"
	if [ "$PATH_KIND" = vringmedd ]; then
		grep -q "dirty log of" "$TMP/vringmedd.log" || fail "the source device was given no dirty log"
		grep -q "state: running" <<<"$SHOWN" && grep -q "$([ -n "$MODERN" ] && echo little || echo big)-endian rings" <<<"$SHOWN" ||
			fail "the destination device: ${SHOWN:-not shown}"
	fi
fi
if [ "$ACT" = mem-hotplug ]; then
	grep -q " in 2 regions" <<<"$SHOWN" || fail "vringmedd does not have the new memory table: ${SHOWN:-nothing}"
fi
if [ -n "$ACT" ] && [ "$ACT" != reset ]; then
	[ -n "$DONE" ] || fail "--$ACT: not restarted (the guest's first read: ${read:-none})"
	grep -q " bad=0$" <<<"$passes" || fail "a pass across the restart read what the image does not hold: $passes"
	[ "$P_END" -gt "${P_AT:-0}" ] || fail "no pass went on after the restart"
fi
if [ "$PAUSE" -gt 0 ]; then
	[ "$PAUSED" = 0 ] || fail "the stop/cont cycles: $(tail -n1 "$TMP/pausecont.log" 2>/dev/null)"
	[ -n "$passes" ] || fail "the guest did not finish its passes"
	grep -q " bad=0$" <<<"$passes" || fail "a pass read what the image does not hold: $(line "pass ")"
fi
if [ "$QUEUES" -gt 1 ]; then
	grep -q " queues=$QUEUES cpus=$QUEUES$" <<<"$disk" || fail "the guest's driver did not make $QUEUES request queues: ${disk:-no disk line}"
	grep -q " bad=0$" <<<"$passes" || fail "a pass read what the image does not hold: $passes"
	if [ "$PATH_KIND" = vringmedd ]; then
		for ((i = 0; i < QUEUES; i++)); do
			grep -q "disk0 queue $i (requests): .* chains=[1-9][0-9]* .*errors=none" <<<"$QLINES" ||
				fail "disk0 queue $i carried no request, or had errors: $(grep "disk0 queue $i " <<<"$QLINES")"
		done
	fi
fi
echo "RESULT: WORKED"
