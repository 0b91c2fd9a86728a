#!/usr/bin/env bash
# Observability and operations, against the real things: vringmedd
# mediating a device for vu_driver (a VMM + legacy guest) on dpdk-testpmd,
# its /metrics checked by promtool and scraped by a real Prometheus server,
# the alert rules under promtool's unit tests, vringmedctl on the pinned maps,
# kill -9 of the daemon with counters that never go backwards, sd_notify,
# and the systemd unit.  Summary: "test_ops: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
SUITE=test_ops SUITE_TAG=ops
. selftests/lib.sh

echo "== test_ops (metrics, Prometheus, alerts, vringmedctl, restarts, systemd)"
# What needs no root first.
quiet() { "$@" > /dev/null 2>&1; }
check promtool_test_rules quiet promtool test rules tools/prometheus/vringmed-alerts.test.yml
check promtool_check_rules quiet promtool check rules tools/prometheus/vringmed-alerts.yml
check grafana_dashboard_json python3 -c "import json,sys; d=json.load(open('tools/grafana/vringmed-dashboard.json')); sys.exit(0 if d['panels'] and 'vringmed_descriptors_total' in json.dumps(d) else 1)"
if [ "$(id -u)" -ne 0 ]; then
	skp 'live/*' "needs root (BPF, testpmd)"; skip=$((skip + 73)); finish
fi

TMP=$(mktemp -d /tmp/vm-ops-XXXXXX)
ROOT=/sys/fs/bpf/vringmed-ops-$$
PREFIX=vmo-$$
TP= D= PROM= TRAFFIC= HOLD= LSN=
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MPORT=$(freeport) PPORT=$(freeport)
cleanup() {
	[ -n "$TRAFFIC" ] && { kill "$TRAFFIC" 2>/dev/null; pkill -P "$TRAFFIC" 2>/dev/null; }
	for p in $TRAFFIC $PROM $D $TP $HOLD $LSN; do stop_pid "$p"; done
	wait 2>/dev/null
	rm -rf "/var/run/dpdk/$PREFIX" "$ROOT"
	[ -n "${VRM_KEEP_LOGS:-}" ] && echo "logs kept in $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

testpmd_start "$TMP/be.sock" "$TMP/tp.in" "$TMP/testpmd.log" "$PREFIX"

# A bad setting is named, and exits 2 before anything is loaded.
printf 'devce net0,vmm=/run/a.sock,backend=/run/b.sock\n' > "$TMP/typo.conf"
bad_config() {	# CHECK MESSAGE ARGS...
	local name=$1 msg=$2
	shift 2
	check "$name" env MSG="$msg" bash -c ".output/vringmedd -p $ROOT-cfg $* > /dev/null 2> $TMP/cfg.err; [ \$? -eq 2 ] && grep -qF -- \"\$MSG\" $TMP/cfg.err && [ ! -e $ROOT-cfg ]"
}
bad_config config_unknown_setting_named "no setting is called 'devce'" -f "$TMP/typo.conf"
bad_config config_directory_refused "a directory, not a file" -f "$TMP"
bad_config control_relative_refused "an absolute path, or none" -c rel.sock
bad_config config_vmm_is_control_refused "its vmm= is the daemon's control socket" -c $TMP/c.sock -m none -d n,vmm=$TMP/c.sock,backend=$TMP/b.sock
# The config file holds what a reload changes; net0 is the command line's.
echo "# devices a reload adds and removes" > "$TMP/ops.conf"
start_daemon() {	# extra env in $1
	vringmedd_start "$TMP/vringmedd.log" "$1" -p "$ROOT" -c "$TMP/ctl.sock" -m "127.0.0.1:$MPORT" \
		-f "$TMP/ops.conf" -d "net0,vmm=$TMP/vmm.sock,backend=$TMP/be.sock"
}

# sd_notify: a notify socket of our own sees READY=1 and the watchdog.
# It listens up to 30 s, as peers.c waits for "ready": a fresh load waits
# for the verifier, seconds more on a busy machine.
python3 - "$TMP/notify.sock" > "$TMP/notify.out" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); s.settimeout(30)
end = time.time() + 30	# loading the programs takes seconds on a loaded machine
seen = set()
while time.time() < end and not {"READY=1", "WATCHDOG=1"} <= seen:
    try: seen.add(s.recv(256).decode())
    except OSError: break
print(" ".join(sorted(seen)))
PY
NPY=$!
for _ in $(seq 50); do [ -S "$TMP/notify.sock" ] && break; sleep 0.1; done
start_daemon "NOTIFY_SOCKET=$TMP/notify.sock WATCHDOG_USEC=400000" || { bad live_daemon "vringmedd did not start: $(tail -n2 "$TMP/vringmedd.log")"; finish; }
wait $NPY
check sd_notify_ready_and_watchdog grep -q "READY=1 WATCHDOG=1" "$TMP/notify.out"

# Traffic: the legacy driver (native: the emulated one is slow), over and over.
( while :; do .output/vu_driver --socket "$TMP/vmm.sock" --legacy --frames 128 >> "$TMP/traffic.log" 2>&1; done ) &
TRAFFIC=$!
sleep 2

scrape() { curl -sf "http://127.0.0.1:$MPORT/metrics"; }
val() {	# metric selector regex -> summed value
	scrape | awk -v re="$1" '$0 !~ /^#/ && $1 ~ re { s += $2 } END { printf "%d\n", s }'
}
scrape > "$TMP/scrape1.txt"
check scrape_content_type bash -c "curl -sI http://127.0.0.1:$MPORT/metrics | grep -qi 'text/plain; version=0.0.4'"
# Idle connections (any local user can open them) do not lock the scraper
# out: 64 held open, a scrape still answers.
check metrics_idle_connections_no_lockout python3 - "$MPORT" <<'PY'
import socket, subprocess, sys
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(64)]
r = subprocess.run(["curl", "-sf", "-m", "2", "-o", "/dev/null", "http://127.0.0.1:%s/metrics" % sys.argv[1]])
sys.exit(r.returncode)
PY
check promtool_check_metrics bash -c "promtool check metrics < $TMP/scrape1.txt > $TMP/promtool.out 2>&1 && [ ! -s $TMP/promtool.out ]"
d1=$(val '^vringmed_descriptors_total')
check metrics_descriptors_counted [ "$d1" -gt 0 ]
check metrics_guest_calls [ "$(awk '$1 ~ /^vringmed_guest_calls_total\{device="net0"/ { s += $2 } END { print s + 0 }' "$TMP/scrape1.txt")" -gt 0 ]
check metrics_device_info grep -q 'vringmed_device_info{device="net0",slot="0",byte_order="little",virtio="legacy"' "$TMP/scrape1.txt"
# Histogram: cumulative buckets, +Inf equals _count.
check metrics_histogram_consistent python3 - "$TMP/scrape1.txt" <<'PY'
import re, sys
b, c = {}, {}
for line in open(sys.argv[1]):
    m = re.match(r'vringmed_kick_batch_chains_bucket\{device="([^"]*)",queue="(\d+)",le="([^"]*)"\} (\d+)', line)
    if m: b.setdefault((m[1], m[2]), []).append(int(m[4]))
    m = re.match(r'vringmed_kick_batch_chains_count\{device="([^"]*)",queue="(\d+)"\} (\d+)', line)
    if m: c[(m[1], m[2])] = int(m[3])
ok = b and all(v == sorted(v) and v[-1] == c[k] for k, v in b.items())
sys.exit(0 if ok else 1)
PY

# A real Prometheus server on loopback scrapes vringmedd during traffic.
cat > "$TMP/prometheus.yml" <<EOF
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "$PWD/tools/prometheus/vringmed-alerts.yml" ]
scrape_configs:
  - job_name: vringmed
    static_configs: [ { targets: [ "127.0.0.1:$MPORT" ] } ]
EOF
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
	--web.listen-address="127.0.0.1:$PPORT" > "$TMP/prometheus.log" 2>&1 & PROM=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PPORT/-/ready" >/dev/null && break; sleep 0.2; done
q() { curl -sf "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" |
	python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else -1)'; }
p1=-1
for _ in $(seq 60); do	# the first scrapes take a moment to be queryable
	p1=$(q 'sum(vringmed_descriptors_total{device="net0"})')
	[ "$p1" -gt 0 ] 2>/dev/null && break
	sleep 0.5
done
sleep 3; p2=$(q 'sum(vringmed_descriptors_total{device="net0"})')
echo "      prometheus query sum(vringmed_descriptors_total): $p1 then $p2"
rising() { [ "$p1" -gt 0 ] 2>/dev/null && [ "$p2" -gt "$p1" ] 2>/dev/null; }
check prometheus_sees_counter_rise rising
check prometheus_target_up [ "$(q 'up{job="vringmed"}')" = 1 ]

# vringmedctl on the same pinned maps.
C=".output/vringmedctl -p $ROOT -c $TMP/ctl.sock"
check ctl_device_list_json bash -c "$C --json device list | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[0][\"name\"]==\"net0\" and d[0][\"virtio\"]==\"legacy\" and d[0][\"state\"] in (\"running\",\"negotiating\",\"listening\",\"stopped\") else 1)'"
check ctl_prefix_match bash -c "$C dev l | grep -q '^net0 '"
check ctl_stats_json bash -c "$C st -j | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if sum(q[\"descriptors\"] for q in r) > 0 else 1)'"
check ctl_stats_daemon_calls bash -c "$C st -j | python3 -c 'import json,sys; r=json.load(sys.stdin); sys.exit(0 if any(q.get(\"guest_calls\", 0) > 0 for q in r) else 1)' && $C stats | grep -q CALLS/SUPPRESSED"
check ctl_stats_watch bash -c "$C --json stats --watch --interval 0.5 --count 5 > $TMP/watch.txt && [ \$(wc -l < $TMP/watch.txt) -eq 5 ] && python3 -c 'import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if any(q[\"descriptors_per_s\"] > 0 for s in r[1:] for q in s) else 1)' $TMP/watch.txt"
check ctl_program_list bash -c "$C -j program list | grep -q '\"vrm_tp_write\"'"
check ctl_device_show bash -c "$C device show net0 | grep -q 'queue 1: kicks'"
check ctl_extra_word_refused bash -c "! $C device list extra 2> $TMP/err.txt && grep -q \"unknown command 'extra'\\|expected device list\" $TMP/err.txt && ! $C stats extra 2> $TMP/err.txt && grep -q \"unexpected 'extra' after 'stats'\" $TMP/err.txt"
check ctl_no_state_error bash -c "! .output/vringmedctl -p /sys/fs/bpf/vringmed-none-$$ device list 2> $TMP/err.txt && grep -q 'is vringmedd running' $TMP/err.txt"

# kill -9 mid-traffic: counters never go backwards, the restart adopts.
before=$($C -j stats | python3 -c 'import json,sys; print(sum(q["descriptors"] for q in json.load(sys.stdin)))')
kill -9 "$D"; wait "$D" 2>/dev/null; D=
sleep 1
down=$($C -j stats 2>/dev/null | python3 -c 'import json,sys; print(sum(q["descriptors"] for q in json.load(sys.stdin)))')
start_daemon "" || bad restart "vringmedd did not restart"
ready_ms=$READY_MS
echo "      restart: ready ${ready_ms} ms after exec (links adopted, programs not reloaded)"
check restart_ready_within_1s [ "$ready_ms" -le 1000 ]
check restart_programs_not_reloaded grep -q "adopted $ROOT: .*not reloaded" "$TMP/vringmedd.log"
sleep 2
after=$(val '^vringmed_descriptors_total')
echo "      descriptors: $before before kill -9, $down while down (pinned maps), $after after restart"
monotonic() { [ "$before" -gt 0 ] && [ "$down" -ge "$before" ] && [ "$after" -ge "$down" ]; } 2>/dev/null
check restart_counters_never_go_back monotonic
check restart_pins_adopted grep -q "adopted $ROOT" "$TMP/vringmedd.log"

# Reload (SIGHUP: systemctl reload) and the control socket's device add and
# del, while net0's traffic goes on: one VM's device comes and goes.
state() {	# NAME -> its state in the device list, or "none"
	$C -j device list | python3 -c "import json,sys; d={e['name']: e['state'] for e in json.load(sys.stdin)}; print(d.get('$1', 'none'))"
}
until_state() {	# NAME STATE: within 5 s
	for _ in $(seq 50); do [ "$(state "$1")" = "$2" ] && return 0; sleep 0.1; done
	return 1
}
hup() { kill -HUP "$D"; sleep 0.3; }
# The driver that was running at the kill -9 gives up after its timeout
# (10 s); the loop's next one connects: traffic first flows again.
d0=$(val '^vringmed_descriptors_total')
for _ in $(seq 40); do
	sleep 0.5; d1=$(val '^vringmed_descriptors_total'); [ "$d1" -gt "$d0" ] && break; d0=$d1
done
d0=$(val '^vringmed_descriptors_total')
echo "device net1,vmm=$TMP/vmm1.sock,backend=$TMP/be1.sock" >> "$TMP/ops.conf"
hup
check reload_adds_device bash -c "$(declare -f state until_state); C='$C'; until_state net1 listening && [ -S $TMP/vmm1.sock ]"
printf 'device net2,vmm=%s,backend=%s\nbogus line\n' "$TMP/vmm2.sock" "$TMP/be1.sock" >> "$TMP/ops.conf"
hup
check reload_bad_file_not_applied bash -c "grep -q 'not applied' $TMP/vringmedd.log && [ ! -e $TMP/vmm2.sock ] && [ -S $TMP/vmm1.sock ]"
sed -i -e '/bogus/d' -e '/net2/d' -e "s|be1.sock|be9.sock|" "$TMP/ops.conf"
hup
check reload_changed_device_kept bash -c "$(declare -f state until_state); C='$C'; for _ in \$(seq 50); do grep -q 'device net1 changed' $TMP/vringmedd.log && break; sleep 0.1; done; grep -q 'device net1 changed' $TMP/vringmedd.log && until_state net1 listening"
sed -i '/net1/d' "$TMP/ops.conf"
hup
check reload_removes_device bash -c "for _ in \$(seq 50); do [ -e $TMP/vmm1.sock ] || break; sleep 0.1; done; [ ! -e $TMP/vmm1.sock ] && grep -q 'device net1 removed' $TMP/vringmedd.log"
check reload_keeps_command_line_device bash -c "[ -S $TMP/vmm.sock ] && ! grep -q 'device net0 removed' $TMP/vringmedd.log"
check ctl_device_add bash -c "$C device add net3,vmm=$TMP/vmm3.sock,backend=$TMP/be1.sock | grep -q 'device net3 added' && [ -S $TMP/vmm3.sock ]"
check ctl_device_add_refused bash -c "! $C device add net3,vmm=$TMP/vmm3.sock 2> $TMP/err.txt && grep -q 'expected NAME,vmm=PATH,backend=PATH' $TMP/err.txt"
hup	# not the file's: a reload leaves it
check reload_keeps_control_device [ -S "$TMP/vmm3.sock" ]
check ctl_device_del bash -c "$C device del net3 | grep -q 'device net3 removed' && [ ! -e $TMP/vmm3.sock ]"
check ctl_device_del_forgets_it bash -c "! $C dev l | grep -q '^net3 ' && ! curl -sf http://127.0.0.1:$MPORT/metrics | grep -q 'device=\"net3\"'"
# What the listing says before a guest came: a blk device's configured
# order, a net device's unknown; a configured kick path.
$C device add "blk0,vmm=$TMP/vmmb.sock,backend=$TMP/be1.sock,type=blk,order=be,kick=userspace" > /dev/null
$C device add "net7,vmm=$TMP/vmm7.sock,backend=$TMP/be1.sock" > /dev/null
check ctl_unconnected_devices_shown bash -c "$C dev l | grep -Eq '^blk0 +[0-9]+ +blk +big +unknown' && $C dev l | grep -Eq '^net7 +[0-9]+ +net +unknown +unknown' && $C dev show blk0 | grep -q 'kick path: userspace'"
$C device del blk0 > /dev/null; $C device del net7 > /dev/null
check ctl_device_del_unknown bash -c "! $C device del net3 2> $TMP/err.txt && grep -q 'no such device' $TMP/err.txt"
# vmm_client=on: the VMM listens (QEMU's server=on) and vringmedd connects,
# trying again while nothing listens there; the path is the VMM's, neither
# made nor removed by vringmedd.
check ctl_device_add_vmm_client bash -c "$(declare -f state until_state); C='$C'; $C device add net4,vmm=$TMP/vmm4.sock,backend=$TMP/be1.sock,vmm_client=on | grep -q 'device net4 added' && until_state net4 connecting && [ ! -e $TMP/vmm4.sock ] && $C device show net4 | grep -q 'vmm4.sock (the VMM listens, vringmedd connects)'"
check ctl_device_del_vmm_client bash -c "touch $TMP/vmm4.sock && $C device del net4 | grep -q 'device net4 removed' && [ -e $TMP/vmm4.sock ]"
# A socket somebody else listens on is never taken over: another daemon's,
# a back-end's (testpmd's be.sock), one of this daemon's own; every refusal
# says why, and the listener keeps its socket.
refused() {	# CHECK SPEC MESSAGE
	check "$1" env SPEC="$2" MSG="$3" bash -c "! $C device add \"\$SPEC\" 2> $TMP/err.txt && grep -qF -- \"\$MSG\" $TMP/err.txt"
}
refused ctl_device_add_backends_socket_refused "net5,vmm=$TMP/be.sock,backend=$TMP/be1.sock" "is device net0's back-end"
refused ctl_device_add_same_vmm_refused "net5,vmm=$TMP/vmm.sock,backend=$TMP/be1.sock" "is device net0's VMM socket"
refused ctl_device_add_control_socket_refused "net5,vmm=$TMP/ctl.sock,backend=$TMP/be1.sock" "the daemon's control socket"
python3 -c "import socket,sys,time; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen(1); time.sleep(60)" "$TMP/other.sock" & LSN=$!
for _ in $(seq 50); do [ -S "$TMP/other.sock" ] && break; sleep 0.1; done
refused ctl_device_add_live_socket_refused "net5,vmm=$TMP/other.sock,backend=$TMP/be1.sock" "something listens there already"
check live_socket_left_alone bash -c "[ -S $TMP/other.sock ] && grep -q 'cannot listen on $TMP/other.sock: something listens there already' $TMP/vringmedd.log && python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' $TMP/other.sock"
stop_pid "$LSN"; LSN=
# A second daemon on the same pin root exits 1 and names the first.
check second_daemon_names_owner bash -c ".output/vringmedd -p $ROOT -c none -m none > /dev/null 2> $TMP/second.err; [ \$? -eq 1 ] && grep -q 'owned by another running vringmedd (pid $D)' $TMP/second.err"
refused ctl_device_add_relative_path_refused "net5,vmm=rel.sock,backend=$TMP/be1.sock" "take absolute paths"
refused ctl_device_add_key_twice_refused "net5,vmm=$TMP/a.sock,backend=$TMP/be1.sock,vmm=$TMP/b.sock" "vmm is given twice"
refused ctl_device_add_unknown_key_named "net5,vmm=$TMP/a.sock,backend=$TMP/be1.sock,polll=3" "'polll=3' not understood"
# Idle control clients (a hung socat) hold neither the daemon's loop nor
# the next client: 40 held open, a command is answered at once.
check ctl_idle_clients_no_lockout python3 - "$TMP/ctl.sock" "$C" <<'PY'
import socket, subprocess, sys, time
held = []
for _ in range(40):
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); held.append(s)
t = time.time()
r = subprocess.run(sys.argv[2].split() + ["device", "list"], capture_output=True, text=True)
sys.exit(0 if r.returncode == 0 and "does not answer" not in r.stderr and "net0" in r.stdout
         and time.time() - t < 1.0 else 1)
PY
# A signal that would end the daemon without a word is logged and ignored.
kill -USR1 "$D"; kill -ALRM "$D"; sleep 0.3
check sigusr1_sigalrm_ignored bash -c "kill -0 $D && grep -q 'signal USR1 from pid [0-9]* ignored' $TMP/vringmedd.log && grep -q 'signal ALRM from pid' $TMP/vringmedd.log && [ -S $TMP/ctl.sock ]"
sleep 1
d1=$(val '^vringmed_descriptors_total')
echo "      net0 descriptors: $d0 before the reloads, $d1 after"
check reload_net0_traffic_goes_on [ "$d1" -gt "$d0" ]

# SIGTERM with a guest attached (systemctl restart, a package upgrade)
# hands it over: the pins stay, kicks are translated meanwhile, the next
# daemon adopts them and the VMM (reconnecting, as QEMU's reconnect=1)
# goes on where it was.  SIGINT, with the same guest, removes everything.
kill "$TRAFFIC" 2>/dev/null; pkill -P "$TRAFFIC" 2>/dev/null; wait "$TRAFFIC" 2>/dev/null; TRAFFIC=
until_state net0 listening	# one VMM a device: the looping one's session ended first

# A VMM killed mid-traffic (a crash, kill -9), thirty times: its hang-up and
# the back-end's calls come in one batch, the hang-up's teardown ends the
# calls' registrations, and the daemon lives on (it died at the second or
# third when the batch's later events still reached their cleared handlers).
vmm_kills() {
	local v
	for _ in $(seq 30); do
		.output/vu_driver --socket "$TMP/vmm.sock" --legacy --stream > /dev/null 2>&1 & v=$!
		sleep 0.$((RANDOM % 4 + 2))
		kill -9 "$v"; wait "$v" 2>/dev/null
		kill -0 "$D" 2>/dev/null || return 1
		until_state net0 listening || return 1
	done
}
check vmm_killed_mid_traffic_x30 vmm_kills
.output/vu_driver --socket "$TMP/vmm.sock" --legacy --reconnect --stream > "$TMP/stream.log" 2>&1 & TRAFFIC=$!
until_state net0 running || echo "      net0 is $(state net0), not running: $(tail -n2 "$TMP/stream.log")"
# A device of the control socket outlives the restart too (the file beside
# the socket), and SIGINT forgets it.
$C device add "net6,vmm=$TMP/vmm6.sock,backend=$TMP/be1.sock" > /dev/null
check control_devices_kept_beside_socket grep -qx "net6,vmm=$TMP/vmm6.sock,backend=$TMP/be1.sock" "$TMP/ctl.sock.devices"
before=$(val '^vringmed_descriptors_total')
kill -TERM "$D"; wait "$D"; rc=$?; D=
check sigterm_hands_over_attached_guest bash -c "[ $rc -eq 0 ] &&
	grep -q 'signal 15: 1 device with guests attached: leaving the pins under $ROOT' $TMP/vringmedd.log &&
	[ -e $ROOT/link_vrm_tp_write ] && ! grep -q 'signal 15: removing pins' $TMP/vringmedd.log"
check ctl_metrics_daemon_down bash -c "$C metrics | grep -qx 'vringmed_up 0'"
n_adopt=$(grep -c "adopted $ROOT" "$TMP/vringmedd.log")
n_resumed=$(grep -c "resumed where the previous daemon left it" "$TMP/vringmedd.log")
start_daemon "" || bad sigterm_restart "vringmedd did not start again: $(tail -n2 "$TMP/vringmedd.log")"
echo "      after SIGTERM: ready ${READY_MS} ms after exec"
resumed() {	# the reconnecting VMM's rings resumed, within 5 s
	local n=$1
	for _ in $(seq 50); do
		[ "$(grep -c 'queue [01] resumed where the previous daemon left it' "$TMP/vringmedd.log")" -gt "$n" ] && return 0
		sleep 0.1
	done
	return 1
}
check sigterm_next_daemon_adopts bash -c "[ $READY_MS -le 1000 ] && [ \$(grep -c 'adopted $ROOT' $TMP/vringmedd.log) -gt $n_adopt ]"
check sigterm_rings_resumed resumed "$n_resumed"
flowing() {	# the descriptor counter rises within 10 s, never below $1
	local a b
	a=$(val '^vringmed_descriptors_total')
	for _ in $(seq 40); do
		sleep 0.25; b=$(val '^vringmed_descriptors_total')
		[ "$b" -gt "$a" ] && [ "$a" -ge "$1" ] && return 0
	done
	return 1
}
check sigterm_traffic_goes_on flowing "$before"
check sigterm_control_device_added_again bash -c "$(declare -f state until_state); C='$C'; until_state net6 listening && [ -S $TMP/vmm6.sock ] && grep -q 'device net6: added again' $TMP/vringmedd.log"
kill -INT "$D"; wait "$D"; rc=$?; D=
check sigint_removes_everything bash -c "[ $rc -eq 0 ] && grep -q 'signal 2: removing pins' $TMP/vringmedd.log &&
	[ ! -e $ROOT ] && [ ! -e $TMP/vmm.sock ] && [ ! -e $TMP/vmm6.sock ] && [ ! -e $TMP/ctl.sock.devices ]"
start_daemon "" || bad sigint_restart "vringmedd did not start again: $(tail -n2 "$TMP/vringmedd.log")"
check sigint_fresh_start_traffic flowing 0
kill -TERM "$TRAFFIC"; wait "$TRAFFIC"; drc=$?; TRAFFIC=
echo "      the reconnecting driver: $(grep -o 'sent=.*' "$TMP/stream.log" | tail -n1)"
check sigterm_sigint_driver_intact bash -c "[ $drc -eq 0 ] && grep -q 'reconnects=[2-9].*RESULT: PASS' $TMP/stream.log"

# A VMM that returned transmit chains itself while no daemon ran (QEMU with
# its back-end gone takes the link down and completes what the guest sends,
# length 0) restarts that ring at a used idx no back-end wrote: the ring
# starts afresh, never resumed (resumed, it hands the back-end a chain the
# guest has back: resent=), and the receive ring, untouched, resumes.  A
# quiet guest (a frame every 2 ms) has nothing in flight when the daemon
# goes, so its ring is one entry on: the case a resume used to accept.
.output/vu_driver --socket "$TMP/vmm.sock" --legacy --reconnect --away-drop --stream --gap-ms 2 \
	> "$TMP/away.log" 2>&1 & TRAFFIC=$!
until_state net0 running || echo "      net0 is $(state net0), not running: $(tail -n2 "$TMP/away.log")"
sleep 0.5
n_fresh=$(grep -c "queue 1 starts afresh at" "$TMP/vringmedd.log")
n_resumed=$(grep -c "queue 0 resumed where the previous daemon left it" "$TMP/vringmedd.log")
errs=$(val '^vringmed_errors_total')
kill -TERM "$D"; wait "$D"; D=
start_daemon "" || bad away_restart "vringmedd did not start again: $(tail -n2 "$TMP/vringmedd.log")"
away_restarted() {
	for _ in $(seq 50); do
		[ "$(grep -c 'queue 1 starts afresh at' "$TMP/vringmedd.log")" -gt "$n_fresh" ] &&
			[ "$(grep -c 'queue 0 resumed where the previous daemon left it' "$TMP/vringmedd.log")" -gt "$n_resumed" ] && return 0
		sleep 0.1
	done
	return 1
}
check away_drop_tx_afresh_rx_resumed away_restarted
sleep 1
kill -TERM "$TRAFFIC"; wait "$TRAFFIC"; drc=$?; TRAFFIC=
echo "      the VMM that dropped frames while away: $(grep -o 'sent=.*' "$TMP/away.log" | tail -n1)"
errs2=$(val '^vringmed_errors_total')
check away_drop_nothing_resent bash -c "[ $drc -eq 0 ] && [ $errs2 -eq $errs ] &&
	grep -q 'reconnects=1 away_dropped=[1-9][0-9]* resent=0 .*RESULT: PASS' $TMP/away.log"

# A crash leaves its last word in the log (signal, sender, stack) and the
# pins for the next daemon.  With a guest attached: a next daemon that
# configures no device for it names it, and how to resume it.
.output/vu_driver --socket "$TMP/vmm.sock" --legacy --reconnect --stream > "$TMP/crash.log" 2>&1 & TRAFFIC=$!
until_state net0 running || echo "      net0 is $(state net0), not running: $(tail -n2 "$TMP/crash.log")"
kill -SEGV "$D"; wait "$D" 2>/dev/null; D=
check crash_reported bash -c "grep -q 'fatal signal SEGV sent by pid $$' $TMP/vringmedd.log &&
	grep -q 'vringmedd(+0x' $TMP/vringmedd.log && [ -e $ROOT/link_vrm_tp_write ]"
vringmedd_start "$TMP/vringmedd.log" "" -p "$ROOT" -c none -m none ||
	bad crash_next_daemon "vringmedd did not start: $(tail -n2 "$TMP/vringmedd.log")"
check crash_unconfigured_guest_named grep -q 'device net0 (slot 0) had a guest attached .*vringmedctl device add net0,' "$TMP/vringmedd.log"
kill -TERM "$TRAFFIC" 2>/dev/null; wait "$TRAFFIC" 2>/dev/null; TRAFFIC=
kill -INT "$D"; wait "$D"; D=
# The same after a SIGTERM (systemctl stop, an upgrade), which keeps the
# pins of a device with a guest attached.
start_daemon "" || bad term_daemon "vringmedd did not start: $(tail -n2 "$TMP/vringmedd.log")"
.output/vu_driver --socket "$TMP/vmm.sock" --legacy --reconnect --stream > "$TMP/term.log" 2>&1 & TRAFFIC=$!
until_state net0 running || echo "      net0 is $(state net0), not running: $(tail -n2 "$TMP/term.log")"
n_named=$(grep -c 'device net0 (slot 0) had a guest attached' "$TMP/vringmedd.log")
kill -TERM "$D"; wait "$D"; D=
vringmedd_start "$TMP/vringmedd.log" "" -p "$ROOT" -c none -m none ||
	bad term_next_daemon "vringmedd did not start: $(tail -n2 "$TMP/vringmedd.log")"
check term_unconfigured_guest_named [ "$(grep -c 'device net0 (slot 0) had a guest attached .*vringmedctl device add net0,' "$TMP/vringmedd.log")" -gt "$n_named" ]
kill -TERM "$TRAFFIC" 2>/dev/null; wait "$TRAFFIC" 2>/dev/null; TRAFFIC=
kill -INT "$D"; wait "$D"; D=

# Misconfiguration says what to do; under systemd each line carries its
# priority (journalctl -p warning).
check pin_root_not_bpffs bash -c "! .output/vringmedd -p $TMP/notbpf -c none -m none > /dev/null 2> $TMP/err.txt &&
	grep -q 'is not on a BPF file system (mount -t bpf' $TMP/err.txt && [ ! -e $TMP/notbpf ]"
check metrics_port_taken_clean_exit bash -c "! .output/vringmedd -p /sys/fs/bpf/vringmed-ops2-$$ -c none -m 127.0.0.1:$PPORT \
	-d x,vmm=$TMP/x.sock,backend=$TMP/be.sock > /dev/null 2> $TMP/err.txt && grep -q 'cannot serve http://127.0.0.1:$PPORT' $TMP/err.txt &&
	[ ! -e /sys/fs/bpf/vringmed-ops2-$$ ] && [ ! -e $TMP/x.sock ]"
check journal_priorities bash -c ": > $TMP/j.txt; JOURNAL_STREAM=\$(stat -c %d:%i $TMP/j.txt) .output/vringmedd -p $TMP/notbpf -c none -m none 2>> $TMP/j.txt >/dev/null;
	grep -q '^<4>vringmed warn: pin root' $TMP/j.txt"

# The systemd unit: verified with the binary where the unit expects it.
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/local/sbin/vringmedd|$PWD/.output/vringmedd|" tools/vringmedd.service > "$TMP/vringmedd.service"
	# Its Documentation= names the tree's man pages, found through MANPATH.
	mkdir -p "$TMP/man/man1" "$TMP/man/man8"
	ln -s "$PWD/docs/vringmedd.8" "$TMP/man/man8/"; ln -s "$PWD/docs/vringmedctl.1" "$TMP/man/man1/"
	check systemd_unit_verifies bash -c "MANPATH=$TMP/man systemd-analyze verify $TMP/vringmedd.service > $TMP/verify.out 2>&1; ! grep -q . $TMP/verify.out"
else
	skp systemd_unit_verifies "systemd-analyze not installed"
fi
finish
