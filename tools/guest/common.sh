# Shared by the guest scenarios (run.sh, lifecycle.sh); sourced, not run.

# stop_pids PID...: SIGTERM to each, up to 5 s for each to go, then SIGKILL.
stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
}

# drop_run_state PREFIX ROOT: testpmd's runtime files and our pin root.
drop_run_state() {
	rm -rf "/var/run/dpdk/$1"
	[ -d "$2" ] && rm -rf "$2"
	return 0
}
