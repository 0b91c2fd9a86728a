#!/usr/bin/env bash
# Installing vringmed: `make install` and `make uninstall` into a DESTDIR,
# the man pages (they render without a warning and name every option of
# --help), the default config (every setting), and the Debian package on
# this machine: `make deb` (lintian clean), `dpkg -i`, the installed daemon
# serving the big-endian driver through dpdk-testpmd, SIGTERM, `dpkg
# --purge`, and nothing left behind.
#
# PID 1 is not systemd here (nor in CI), so `systemctl start` cannot be
# exercised.  Instead the installed unit's ExecStart is run as the unit
# says: with its capability bounding set and NoNewPrivileges (setpriv), its
# UMask, RuntimeDirectory, notify socket and WatchdogSec; the system calls
# the daemon makes are checked against its SystemCallFilter (strace).  Its
# mount sandbox (ProtectSystem= and the like) is not applied.  The package
# is purged on every way out, failure included.
# Summary: "test_install: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
SUITE=test_install SUITE_TAG=install
. selftests/lib.sh

echo "== test_install (make install/uninstall, man pages, the Debian package)"
TMP=$(mktemp -d /tmp/vm-install-XXXXXX)
# make from inside `make test`: not the outer make's jobserver or variables.
mk() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory "$@"; }
PKG_INSTALLED= RUNDIR_MADE= PINS_OURS= D= TP= HOLD= NPY=
# dpkg, waiting up to 2 min for another dpkg or apt to let go of its lock.
dpkg_w() {
	local out
	for _ in $(seq 120); do
		out=$(dpkg "$@" 2>&1) && { echo "$out"; return 0; }
		grep -q 'dpkg frontend lock\|lock-frontend\|dpkg status database is locked' <<<"$out" || { echo "$out"; return 1; }
		sleep 1
	done
	echo "$out"; return 1
}
cleanup() {
	for p in $D $NPY $TP $HOLD $XR; do stop_pid "$p"; done
	wait 2>/dev/null
	[ -z "$XNS" ] || { ip link del "$XIF" 2>/dev/null; ip netns del "$XNS" 2>/dev/null; }
	rm -rf /etc/systemd/system/vringmedd.service.d/xdp.conf
	rmdir /etc/systemd/system/vringmedd.service.d 2>/dev/null
	if [ -n "$PKG_INSTALLED" ]; then
		dpkg_w --purge vringmed > "$TMP/purge-on-exit.log" 2>&1 ||
			{ echo "      dpkg --purge vringmed failed on the way out:"; sed 's/^/      /' "$TMP/purge-on-exit.log"; }
	fi
	# What a killed daemon of ours leaves: its pins and sockets (no other
	# daemon had the default paths, checked before the first start).
	if [ -n "$PINS_OURS" ]; then
		rm -rf /sys/fs/bpf/vringmed
		rm -f /run/vringmed/control.sock /run/vringmed/net0.sock /run/vringmed/x0.sock
	fi
	[ -z "$RUNDIR_MADE" ] || rm -rf /run/vringmed
	rm -rf "/var/run/dpdk/vmi-$$"
	[ -n "${VRM_KEEP_LOGS:-}" ] && echo "logs kept in $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

# ---- make install / uninstall ---------------------------------------------
FILES_LOCAL="usr/local/sbin/vringmedd usr/local/bin/vringmedctl
usr/local/lib/systemd/system/vringmedd.service etc/vringmed/vringmedd.conf
usr/local/share/man/man8/vringmedd.8 usr/local/share/man/man1/vringmedctl.1
usr/local/share/vringmed/prometheus/vringmed-alerts.yml
usr/local/share/vringmed/grafana/vringmed-dashboard.json
usr/local/share/vringmed/systemd/vringmedd-xdp.conf"
DEST=$TMP/dest
if mk -s install DESTDIR="$DEST" > "$TMP/install.log" 2>&1; then
	missing=$(for f in $FILES_LOCAL; do [ -f "$DEST/$f" ] || echo "$f"; done)
	check install_puts_every_file [ -z "$missing" ]
	[ -z "$missing" ] || echo "      missing: $missing"
	check install_unit_has_installed_paths grep -qx \
		'ExecStart=/usr/local/sbin/vringmedd --config /etc/vringmed/vringmedd.conf' \
		"$DEST/usr/local/lib/systemd/system/vringmedd.service"
	check install_modes bash -c "[ \$(stat -c %a $DEST/usr/local/sbin/vringmedd) = 755 ] &&
		[ \$(stat -c %a $DEST/etc/vringmed/vringmedd.conf) = 644 ]"
	# An edited config survives a second install and the uninstall.
	echo "device net9,vmm=/run/vringmed/x.sock,backend=/run/y.sock" >> "$DEST/etc/vringmed/vringmedd.conf"
	mk -s install DESTDIR="$DEST" > /dev/null 2>&1
	mk -s uninstall DESTDIR="$DEST" > "$TMP/uninstall.log" 2>&1
	check uninstall_keeps_edited_config bash -c "grep -q net9 $DEST/etc/vringmed/vringmedd.conf &&
		[ \$(find $DEST -type f | wc -l) -eq 1 ]"
	rm -rf "$DEST"
	mk -s install DESTDIR="$DEST" > /dev/null 2>&1
	mk -s uninstall DESTDIR="$DEST" > /dev/null 2>&1
	left=$(find "$DEST" -mindepth 1 2>/dev/null | sed "s|^$DEST||")
	check install_then_uninstall_leaves_destdir_empty test -d "$DEST" -a -z "$left"
	[ -z "$left" ] || echo "      left in DESTDIR: $(echo $left)"
	rm -rf "$DEST"
	mk -s install DESTDIR="$DEST" PREFIX=/usr > /dev/null 2>&1
	check install_prefix_usr grep -qx 'ExecStart=/usr/sbin/vringmedd --config /etc/vringmed/vringmedd.conf' \
		"$DEST/usr/lib/systemd/system/vringmedd.service"
	rm -rf "$DEST"
else
	sed 's/^/      /' "$TMP/install.log" | tail -5
	bad install_puts_every_file "make install DESTDIR=$DEST failed"
fi

# ---- man pages ------------------------------------------------------------
# No warning from groff nor from man, at a terminal's width.
for page in docs/vringmedd.8 docs/vringmedctl.1; do
	w=$( { groff -man -ww -z "$page"; LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" > /dev/null; } 2>&1)
	check "man_renders_clean/${page##*/}" [ -z "$w" ]
	[ -z "$w" ] || echo "$w" | head -5 | sed 's/^/      /'
done
render() { groff -man -Tascii -P-cbou "$1" 2>/dev/null; }
# Every option of --help (short and long), each vringmedctl command, and
# each config setting --help names must be in the man page: a new option
# without its documentation fails here.
has_all() {	# name, rendered page, words...
	local name=$1 text=$2 miss=()
	shift 2
	for w in "$@"; do
		grep -qE -- "(^|[^[:alnum:]-])${w}([^[:alnum:]-]|\$)" <<<"$text" || miss+=("$w")
	done
	if [ ${#miss[@]} -eq 0 ]; then ok "$name"; else bad "$name" "not in the man page: ${miss[*]}"; fi
}
dhelp=$(.output/vringmedd --help)
chelp=$(.output/vringmedctl --help)
# Options from the lines that define them (indented, then a dash) and from
# the commands' lines; not from the prose or the QEMU example.
opts_of() { grep -E '^ {1,4}(-|[a-z])' | grep -oE -- '(^|[ ,[])--?[a-zA-Z][a-z-]*' | sed 's/^[ ,[]//' | sort -u; }
dopts=$(opts_of <<<"$dhelp")
copts=$(opts_of <<<"$chelp")
# vringmedctl's commands: the first words of the lines indented by two,
# before "Options:".
ccmds=$(sed '/^Options:/q' <<<"$chelp" | grep -oE '^  [a-z]+( [a-z]+)?' | sed 's/^  //' | sort -u)
# The config settings: the quoted words after "-f, --config".
dkeys=$(sed -n '/--config FILE/,/command line win/p' <<<"$dhelp" | grep -oE "'[a-z][a-z-]*" | tr -d "'" | sort -u)
echo "      vringmedd --help: $(echo $dopts); settings: $(echo $dkeys)"
echo "      vringmedctl --help: $(echo $copts); commands: $(echo $ccmds | tr ' ' '_')"
check help_parsed bash -c "[ $(wc -w <<<"$dopts") -ge 20 ] && [ $(wc -w <<<"$copts") -ge 6 ] &&
	[ $(wc -l <<<"$ccmds") -ge 5 ] && [ $(wc -w <<<"$dkeys") -ge 6 ]"
has_all man_vringmedd_every_option "$(render docs/vringmedd.8)" $dopts
has_all man_vringmedd_every_setting "$(render docs/vringmedd.8)" $dkeys
has_all man_vringmedctl_every_option "$(render docs/vringmedctl.1)" $copts
mapfile -t cmdlist <<<"$ccmds"
has_all man_vringmedctl_every_command "$(render docs/vringmedctl.1)" "${cmdlist[@]}"
# The default config shows every setting, commented out, and no device.
miss=$(for k in $dkeys; do grep -qE "^#$k( |\$)" tools/vringmedd.conf || echo "$k"; done)
check config_shows_every_setting [ -z "$miss" ]
[ -z "$miss" ] || echo "      not in tools/vringmedd.conf: $miss"
check config_sets_nothing bash -c "! grep -vE '^[[:space:]]*(#|\$)' tools/vringmedd.conf | grep -q ."

# The unit's hardening, as systemd-analyze rates it (lower is better).
if command -v systemd-analyze > /dev/null; then
	exposure=$(systemd-analyze security --offline=true --no-pager "$PWD/tools/vringmedd.service" 2>/dev/null |
		sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
	echo "      systemd-analyze security: exposure ${exposure:-?} (10 is unprotected)"
	check unit_exposure_at_most_5 python3 -c "import sys; sys.exit(0 if 0 < float('${exposure:-99}') <= 5 else 1)"
else
	skp unit_exposure_at_most_5 "systemd-analyze not installed (make setup)"
fi

# ---- the Debian package on this machine -----------------------------------
N_PKG=27	# the checks below, skipped together
XNS= XIF= XR=
skip_pkg() { skp 'package/*' "$1"; skip=$((skip + N_PKG - 1)); finish; }
[ "$(id -u)" -eq 0 ] || skip_pkg "needs root (dpkg -i, BPF)"
for t in dpkg-buildpackage dh lintian dpdk-testpmd setpriv strace; do
	command -v "$t" > /dev/null || skip_pkg "$t not installed (make setup)"
done
pkg_state() { dpkg-query -W -f='${db:Status-Status}' vringmed 2>/dev/null; }	# empty when unknown
if [ -n "$(pkg_state)" ] && [ "$(pkg_state)" != not-installed ]; then
	skip_pkg "the vringmed package is installed on this machine: the test would replace and purge it"
fi
if [ -e /sys/fs/bpf/vringmed ] || [ -S /run/vringmed/control.sock ]; then
	skip_pkg "/sys/fs/bpf/vringmed or /run/vringmed/control.sock is in use: a vringmedd with the default paths runs here"
fi

echo "      building the package (make deb: a copy of the tree, debhelper, lintian)"
if mk deb > "$TMP/deb.log" 2>&1; then deb_rc=0; else deb_rc=1; fi
DEB=$(ls .output/deb/vringmed_*.deb 2>/dev/null | head -1)
[ "$deb_rc" -eq 0 ] && [ -n "$DEB" ] || { tail -n 15 "$TMP/deb.log" | sed 's/^/      /'; }
check package/deb_builds [ -n "$DEB" ]
check package/lintian_clean bash -c "[ $deb_rc -eq 0 ] && ! grep -qE '^[EW]: ' $TMP/deb.log"
[ -n "$DEB" ] || { skp 'package/*' "no package was built"; skip=$((skip + N_PKG - 3)); finish; }
deps=$(dpkg-deb -f "$DEB" Depends)
echo "      Depends: $deps"
check package/depends_from_shlibs bash -c "grep -q 'libbpf1' <<<'$deps' && grep -q 'libmicrohttpd12' <<<'$deps' && grep -q 'libjansson4' <<<'$deps'"
# Exactly these files: no BPF object beside the binaries (each carries it).
dpkg-deb -c "$DEB" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' | sort > "$TMP/contents"
cat > "$TMP/expected" <<'EOF'
/etc/vringmed/vringmedd.conf
/lib/systemd/system/vringmedd.service
/usr/bin/vringmedctl
/usr/sbin/vringmedd
/usr/share/doc/vringmed/changelog.gz
/usr/share/doc/vringmed/copyright
/usr/share/lintian/overrides/vringmed
/usr/share/man/man1/vringmedctl.1.gz
/usr/share/man/man8/vringmedd.8.gz
/usr/share/vringmed/grafana/vringmed-dashboard.json
/usr/share/vringmed/prometheus/vringmed-alerts.yml
/usr/share/vringmed/systemd/vringmedd-xdp.conf
EOF
check package/contents_exact diff -u "$TMP/expected" "$TMP/contents"

# Installed from here on: purged by cleanup() on every way out.
PKG_INSTALLED=1
if ! dpkg_w -i "$DEB" > "$TMP/dpkg-i.log" 2>&1; then
	sed 's/^/      /' "$TMP/dpkg-i.log" | tail -5
	bad package/dpkg_install "dpkg -i failed"; skip=$((skip + N_PKG - 5)); finish
fi
ok package/dpkg_install
dpkg -L vringmed | sort > "$TMP/pkg-files"
check package/help_from_path bash -c "[ \"\$(command -v vringmedd)\" = /usr/sbin/vringmedd ] &&
	vringmedd --help | grep -q '^usage: vringmedd' && vringmedctl --help | grep -q '^usage: vringmedctl'"
check package/man_pages_found bash -c "[ \"\$(man -w vringmedd)\" = /usr/share/man/man8/vringmedd.8.gz ] &&
	[ \"\$(man -w vringmedctl)\" = /usr/share/man/man1/vringmedctl.1.gz ] &&
	MANWIDTH=80 man vringmedd 2>/dev/null | grep -q 'CONFIGURATION FILE'"
UNIT=/lib/systemd/system/vringmedd.service
# `systemctl cat` needs a running systemd; the file is checked, and
# `systemd-analyze verify` resolves its ExecStart and Documentation=.
check package/unit_verifies bash -c "[ -f $UNIT ] && systemd-analyze verify $UNIT > $TMP/verify.out 2>&1 && ! grep -q . $TMP/verify.out"
[ -s "$TMP/verify.out" ] && sed 's/^/      /' "$TMP/verify.out" | head -5
check package/unit_enabled_not_started bash -c "
	[ \"\$(readlink /etc/systemd/system/multi-user.target.wants/vringmedd.service)\" = $UNIT ] &&
	[ \"\$(systemctl --root=/ is-enabled vringmedd.service 2>/dev/null)\" = enabled ] &&
	! [ -e /sys/fs/bpf/vringmed ]"
check package/config_is_conffile bash -c "dpkg-query -W -f='\${Conffiles}' vringmed | grep -q '^ /etc/vringmed/vringmedd.conf '"
check package/version_matches bash -c "v=\$(dpkg-query -W -f='\${Version}' vringmed) &&
	/usr/sbin/vringmedd --version | grep -q \"^vringmedd \${v%%[-+~]*} (libbpf \" &&
	/usr/bin/vringmedctl --version | grep -q \"^vringmedctl \${v%%[-+~]*} \""

# ---- the installed daemon, started as its unit says --------------------------
echo "      note: PID 1 is not systemd here, so \`systemctl start vringmedd\` is not exercised; the"
echo "      unit's ExecStart runs with its CapabilityBoundingSet, NoNewPrivileges, UMask, RuntimeDirectory,"
echo "      notify socket and watchdog, and its SystemCallFilter is checked against the calls made (strace)"
unitval() { sed -n "s/^$1=//p" "$UNIT" | tail -n1; }
EXEC=$(unitval ExecStart)
caps=$(unitval CapabilityBoundingSet)
bset=-all
for c in $caps; do c=${c#CAP_}; bset="$bset,+${c,,}"; done
nnp=; [ "$(unitval NoNewPrivileges)" = yes ] && nnp=--no-new-privs
wd=$(unitval WatchdogSec); wd=${wd%s}
rundir=/run/$(unitval RuntimeDirectory)
umask_unit=$(unitval UMask)
echo "      ExecStart=$EXEC"
echo "      bounding set: $bset $nnp; watchdog ${wd}s; runtime directory $rundir; umask $umask_unit"
if [ ! -d "$rundir" ]; then mkdir -m 0755 "$rundir" && RUNDIR_MADE=1; fi
PINS_OURS=1	# none were there (checked above): whatever appears is this test's

# The unit's start: notify socket and watchdog as systemd sets them; the
# output of the run in $1; strace's in $2 when given.
unit_start() {
	local log=$1 trace=${2:-}
	[ -z "$NPY" ] || { stop_pid "$NPY"; wait "$NPY" 2>/dev/null; NPY=; }
	rm -f "$TMP/notify.sock" "$TMP/notify.out"
	# Every message as it comes, one a line, for as long as the daemon runs.
	python3 - "$TMP/notify.sock" > "$TMP/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
while True:
    for m in s.recv(4096).decode().split("\n"):
        if m: print(m, flush=True)
PY
	NPY=$!
	for _ in $(seq 100); do [ -S "$TMP/notify.sock" ] && break; sleep 0.1; done
	( umask "$umask_unit"
	  exec env NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=$((wd * 1000000)) \
		setpriv --bounding-set "${UNIT_BSET:-$bset}" $nnp -- \
		${trace:+strace -D -f -qq -o "$trace"} $EXEC ) > "$log" 2>&1 &
	D=$!
	# Loading the programs takes a second, more on a loaded machine.
	for _ in $(seq 3000); do
		grep -q "ready: pid $D" "$log" && return 0
		kill -0 "$D" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}
unit_stop() {	# SIGTERM as systemd sends it; 0 when it exited 0 within TimeoutStopSec
	local rc t=$(unitval TimeoutStopSec)
	[ -n "$D" ] || return 1
	kill -TERM "$D"
	for _ in $(seq $(( ${t%s} * 10 ))); do kill -0 "$D" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$D" 2>/dev/null && { kill -9 "$D"; wait "$D" 2>/dev/null; D=; return 1; }
	wait "$D"; rc=$?; D=
	stop_pid "$NPY"; wait "$NPY" 2>/dev/null; NPY=
	return "$rc"
}
freeport() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); print(sys.argv[1])' "$1" 2>/dev/null; }

# As shipped: no device, and it starts.
if [ -z "$(freeport 9464)" ]; then
	skp package/shipped_config_starts "port 9464, the default metrics port, is taken here"
elif unit_start "$TMP/run0.log"; then
	check package/shipped_config_starts grep -q "ready: pid $D, pin root /sys/fs/bpf/vringmed, 0 devices" "$TMP/run0.log"
	unit_stop || bad package/shipped_config_stops "no clean exit on SIGTERM"
else
	sed 's/^/      /' "$TMP/run0.log" | tail -5
	bad package/shipped_config_starts "the installed vringmedd did not start with the shipped config"
	unit_stop
fi

# One device: the VMM's socket in the runtime directory, testpmd behind.
testpmd_start "$TMP/be.sock" "$TMP/tp.in" "$TMP/testpmd.log" "vmi-$$"
echo "device net0,vmm=$rundir/net0.sock,backend=$TMP/be.sock" >> /etc/vringmed/vringmedd.conf
MURL=http://127.0.0.1:9464/metrics
if [ -z "$(freeport 9464)" ]; then
	p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	echo "metrics 127.0.0.1:$p" >> /etc/vringmed/vringmedd.conf
	MURL=http://127.0.0.1:$p/metrics
	echo "      port 9464 is taken here: metrics on $p"
fi
if ! unit_start "$TMP/run1.log" "$TMP/strace.out"; then
	sed 's/^/      /' "$TMP/run1.log" | tail -5
	bad package/daemon_starts "the installed vringmedd did not start with one device"
	skip=$((skip + N_PKG - 13)); finish
fi
ok package/daemon_starts
if command -v qemu-s390x-static > /dev/null; then
	drv=(qemu-s390x-static .output/vu_driver.s390x); order=big
else
	drv=(.output/vu_driver); order=little
	echo "      qemu-s390x-static not installed: the native driver instead of the big-endian one"
fi
timeout 60 "${drv[@]}" --socket "$rundir/net0.sock" --legacy --frames 64 > "$TMP/driver.log" 2>&1
echo "      $(tail -n1 "$TMP/driver.log")"
check package/serves_the_driver grep -q 'sent=64 received=64 .*RESULT: PASS' "$TMP/driver.log"
vringmedctl --json device list > "$TMP/list.json" 2>&1
check package/vringmedctl_device_list python3 -c "
import json, sys
d = json.load(open('$TMP/list.json'))
sys.exit(0 if d[0]['name'] == 'net0' and d[0]['byte_order'] == '$order' and d[0]['virtio'] == 'legacy' else 1)"
check package/metrics_served bash -c "curl -sf $MURL | grep -qx 'vringmed_up 1'"
# The watchdog is petted at half WatchdogSec: both within a whole one.
notified() { grep -qx READY=1 "$TMP/notify.out" && grep -qx WATCHDOG=1 "$TMP/notify.out"; }
for _ in $(seq $((wd * 10))); do notified && break; sleep 0.1; done
echo "      sd_notify: $(sort -u "$TMP/notify.out" | tr '\n' ' ')"
check package/notify_ready_and_watchdog notified
# A crash, and the start Restart=on-failure makes: the new daemon adopts
# the pins (each device's shadow map by its id: CAP_SYS_ADMIN) and serves
# the driver again.
kill -9 "$D"; wait "$D" 2>/dev/null; D=
if unit_start "$TMP/run2.log" "$TMP/strace2.out" &&
   timeout 60 "${drv[@]}" --socket "$rundir/net0.sock" --legacy --frames 64 > "$TMP/driver2.log" 2>&1; then
	check package/restart_after_kill_adopts grep -q "^vringmed info: adopted /sys/fs/bpf/vringmed" "$TMP/run2.log"
else
	sed 's/^/      /' "$TMP/run2.log" "$TMP/driver2.log" 2>/dev/null | tail -5
	bad package/restart_after_kill_adopts "no restart, or the driver failed after it"
fi
unit_stop; rc=$?
check package/sigterm_exits_0 [ "$rc" -eq 0 ]
check package/sigterm_removes_pins_and_sockets bash -c "[ -z \"\$(ls -A /sys/fs/bpf/vringmed 2>/dev/null)\" ] &&
	[ ! -e $rundir/net0.sock ] && [ ! -e $rundir/control.sock ]"

# ---- backend=xdp under the unit: refused without its drop-in, served with it
# The package ships the drop-in (share/vringmed/systemd/vringmedd-xdp.conf);
# an operator copies it under /etc.  Its capabilities are added to the
# bounding set here as systemd would; its address families are checked
# against the calls made (strace), as the unit's are below.
XDROP=/usr/share/vringmed/systemd/vringmedd-xdp.conf
dropval() { sed -n "s/^$1=//p" "$XDROP" | tail -n1; }
check package/xdp_dropin_verifies bash -c "[ -f $XDROP ] && mkdir -p /etc/systemd/system/vringmedd.service.d &&
	cp $XDROP /etc/systemd/system/vringmedd.service.d/xdp.conf &&
	systemd-analyze verify $UNIT > $TMP/verify-xdp.out 2>&1 && ! grep -q . $TMP/verify-xdp.out"
XNS=vrmins-$$ XIF=vrmi$$ XPEER=vrmip$$
cp /etc/vringmed/vringmedd.conf "$TMP/conf.before-xdp"
if ip netns add "$XNS" && ip link add "$XIF" type veth peer name "$XPEER" netns "$XNS" &&
   ip netns exec "$XNS" sysctl -qw "net.ipv6.conf.$XPEER.disable_ipv6=1" &&
   ip link set "$XIF" up && ip -n "$XNS" link set "$XPEER" up; then
	echo "device x0,vmm=$rundir/x0.sock,backend=xdp:$XIF" >> /etc/vringmed/vringmedd.conf
	if unit_start "$TMP/xdp-refused.log"; then
		timeout 60 "${drv[@]}" --socket "$rundir/x0.sock" --legacy --any-mac --frames 8 \
			--timeout-ms 2000 > "$TMP/xdp-refused-driver.log" 2>&1
		check package/xdp_refused_names_the_dropin grep -q "under the packaged unit, add the drop-in share/vringmed/systemd/vringmedd-xdp.conf" "$TMP/xdp-refused.log"
		grep -m1 "cannot set up the back-end" "$TMP/xdp-refused.log" | cut -c1-150 | sed 's/^/      /'
	else
		bad package/xdp_refused_names_the_dropin "the installed vringmedd did not start: $(tail -n2 "$TMP/xdp-refused.log")"
	fi
	unit_stop
	xb=$bset
	for c in $(dropval CapabilityBoundingSet); do c=${c#CAP_}; xb="$xb,+${c,,}"; done
	ip netns exec "$XNS" python3 selftests/reflector.py "$XPEER" swap & XR=$!
	sleep 0.5
	if UNIT_BSET=$xb unit_start "$TMP/xdp-served.log" "$TMP/strace-xdp.out"; then
		timeout 120 "${drv[@]}" --socket "$rundir/x0.sock" --legacy --any-mac --frames 200 \
			--timeout-ms 20000 > "$TMP/xdp-driver.log" 2>&1
		echo "      with the drop-in: $(grep '^vu_driver: mode=' "$TMP/xdp-driver.log" | cut -c1-120)"
		check package/xdp_served_with_the_dropin grep -q "sent=200 received=200 .*RESULT: PASS" "$TMP/xdp-driver.log"
	else
		bad package/xdp_served_with_the_dropin "no start with the drop-in's capabilities: $(tail -n2 "$TMP/xdp-served.log")"
	fi
	unit_stop
	stop_pid "$XR"; XR=
else
	bad package/xdp_refused_names_the_dropin "cannot make the namespace and veth pair"
	bad package/xdp_served_with_the_dropin "cannot make the namespace and veth pair"
fi
cp "$TMP/conf.before-xdp" /etc/vringmed/vringmedd.conf
rm -f /etc/systemd/system/vringmedd.service.d/xdp.conf
rmdir /etc/systemd/system/vringmedd.service.d 2>/dev/null

# Every socket the daemon opened is of a family its unit allows (with the
# drop-in: the drop-in's too): RestrictAddressFamilies refuses the others.
check package/sockets_within_unit_families python3 - "$(unitval RestrictAddressFamilies)" "$(dropval RestrictAddressFamilies)" "$TMP"/strace*.out <<'PY'
import re, sys
unit, drop = set(sys.argv[1].split()), set(sys.argv[2].split())
bad, seen = [], set()
for path in sys.argv[3:]:
    allowed = unit | drop if path.endswith("strace-xdp.out") else unit
    for fam in set(re.findall(r'\bsocket\((AF_[A-Z0-9]+)', open(path).read())):
        seen.add(fam)
        if fam not in allowed:
            bad.append("%s in %s" % (fam, path.rsplit("/", 1)[-1]))
print("      socket families used: %s%s" % (" ".join(sorted(seen)), ("; outside the unit's: " + ", ".join(bad)) if bad else ""))
sys.exit(0 if seen and not bad else 1)
PY

# Every system call the daemon made (its threads too) passes the unit's
# SystemCallFilter, its groups expanded by systemd-analyze itself.
systemd-analyze syscall-filter > "$TMP/groups.txt" 2>/dev/null
cat "$TMP"/strace*.out > "$TMP/strace.all" 2>/dev/null
check package/syscalls_within_unit_filter python3 - "$TMP/groups.txt" "$TMP/strace.all" "$(unitval SystemCallFilter)" <<'PY'
import re, sys
groups, cur = {}, None
for line in open(sys.argv[1]):
    s = line.strip()
    if not s or s.startswith('#'): continue
    if not line[0].isspace() and s.startswith('@'): cur = s; groups[cur] = []
    elif cur: groups[cur].append(s)
def expand(name, seen):
    out = set()
    for x in groups.get(name, []):
        if x.startswith('@'):
            if x not in seen: seen.add(x); out |= expand(x, seen)
        else: out.add(x)
    return out
allowed = set()
for a in sys.argv[3].split():
    allowed |= expand(a, {a}) if a.startswith('@') else {a}
used = set()
for line in open(sys.argv[2]):
    m = re.match(r'\d+\s+([a-z0-9_]+)\(', line)
    if m: used.add(m.group(1))
outside = sorted(used - allowed)
print("      %d distinct system calls, %d outside the filter%s" % (len(used), len(outside), (": " + " ".join(outside)) if outside else ""))
sys.exit(0 if used and allowed and not outside else 1)
PY

# With the unit's capabilities nothing is missing: no warning in any run
# (without CAP_SYSLOG, say: "eventfd_write not found in /proc/kallsyms").
warns=$(grep -h 'vringmed warn' "$TMP"/run*.log)
check package/daemon_logs_no_warning [ -z "$warns" ]
[ -z "$warns" ] || echo "$warns" | head -5 | sed 's/^/      /'

# Purge: nothing of the package is left.
cp /etc/vringmed/vringmedd.conf "$TMP/conf.edited"
if dpkg_w --purge vringmed > "$TMP/purge.log" 2>&1; then
	PKG_INSTALLED=
	# Directories others share (/usr/bin, /usr/share/man/man8) stay.
	left=$(while read -r f; do
		[ -d "$f" ] && [[ $f != *vringmed* ]] && continue
		[ -e "$f" ] && echo "$f"
	done < "$TMP/pkg-files"
	for f in /etc/vringmed /etc/systemd/system/multi-user.target.wants/vringmedd.service \
		 /var/lib/systemd/deb-systemd-helper-enabled/vringmedd.service.dsh-also \
		 /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/vringmedd.service; do
		[ -e "$f" ] && echo "$f"
	done)
	st=$(pkg_state)
	check package/purge_leaves_nothing test -z "$left" -a "${st:-not-installed}" = not-installed
	[ -z "$left" ] || echo "      left after purge: $(echo $left)"
else
	sed 's/^/      /' "$TMP/purge.log" | tail -5
	bad package/purge_leaves_nothing "dpkg --purge failed"
fi
finish
