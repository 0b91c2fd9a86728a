# Shared by the shell test suites: results, the summary line, stopping
# processes by PID.  The includer sets SUITE (the summary's name).
pass=0 fail=0 skip=0
ok()   { echo "ok    $SUITE_TAG/$1"; pass=$((pass + 1)); }
bad()  { echo "FAIL  $SUITE_TAG/$1: $2"; fail=$((fail + 1)); }
skp()  { echo "SKIP  $SUITE_TAG/$1: $2"; skip=$((skip + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name" "$*"; fi; }
finish() { echo "$SUITE: $pass passed, $fail failed, $skip skipped"; [ "$fail" -eq 0 ]; exit $?; }
# TERM, then KILL after 5 s.
stop_pid() { [ -n "$1" ] || return 0; kill "$1" 2>/dev/null; for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; kill -9 "$1" 2>/dev/null; }
# dpdk-testpmd in io-forward mode on a vhost-user server socket $1, reading
# commands from the fifo $2; its output in $3; file prefix $4.  Sets TP and
# HOLD (the fifo's writer), waits for the socket.
testpmd_start() {
	mkfifo "$2"; sleep 100000 > "$2" & HOLD=$!
	stdbuf -oL dpdk-testpmd -l 0,1 --no-huge --no-pci -m 256 --file-prefix "$4" \
		--vdev "net_vhost0,iface=$1,queues=1" -- --no-mlockall --forward-mode=io \
		--auto-start --total-num-mbufs=4096 < "$2" > "$3" 2>&1 & TP=$!
	for _ in $(seq 100); do [ -S "$1" ] && break; sleep 0.1; done
}
# .output/vringmedd with extra environment $2 ("" for none) and arguments
# $3..., output appended to $1.  Sets D (its PID) and READY_MS (exec to its
# "ready" line, measured here every 10 ms); 1 when not ready within 30 s
# (a fresh load waits for the verifier: seconds more on a busy machine).
vringmedd_start() {
	local log=$1 envs=$2 t0 n
	shift 2
	n=$(grep -c . "$log" 2>/dev/null || echo 0)
	t0=$(date +%s%N)
	env $envs .output/vringmedd "$@" >> "$log" 2>&1 &
	D=$!
	for _ in $(seq 3000); do
		if tail -n +"$((n + 1))" "$log" | grep -q "ready: pid $D"; then
			READY_MS=$(( ($(date +%s%N) - t0) / 1000000 ))
			return 0
		fi
		kill -0 "$D" 2>/dev/null || return 1
		sleep 0.01
	done
	return 1
}
