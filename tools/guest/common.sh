# Shared by the guest scenarios (run.sh, lifecycle.sh, migrate.sh, xdp.sh);
# sourced, not run.

fail() { echo "RESULT: FAILED ($*)"; exit 1; }

# guest_preflight BIN...: root, the s390x guest in $CACHE, and each of the
# binaries; fails the run otherwise.
guest_preflight() {
	local f b
	[ "$(id -u)" -eq 0 ] || fail "needs root"
	for f in vmlinuz busybox modules/virtio_net.ko; do
		[ -s "$CACHE/$f" ] || fail "guest not in $CACHE: run tools/guest/fetch.sh (make setup)"
	done
	for b in "$@"; do
		[ -x "$b" ] || fail "$b missing (make setup; make)"
	done
}

# stop_pids PID...: SIGTERM to each, up to 5 s for each to go, then SIGKILL;
# waits for these alone (other processes of the run go on).
stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null; done
	for p in "$@"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
}

# drop_run_state PREFIX ROOT: testpmd's runtime files and our pin root.
drop_run_state() {
	rm -rf "/var/run/dpdk/$1"
	[ -d "$2" ] && rm -rf "$2"
	return 0
}

# guest_initramfs [--traffic]: $TMP/initrd.gz from busybox, the modules
# and tools/guest/init (with --traffic, the checked-traffic tool too), all
# from $CACHE and .output; fails the run when it cannot.
guest_initramfs() {
	local r=$TMP/root
	mkdir -p "$r/bin" "$r/lib/modules" "$r/proc" "$r/sys" "$r/dev"
	cp "$CACHE/busybox" "$r/bin/busybox"
	[ "${1:-}" = --traffic ] && cp .output/guest-traffic.s390x "$r/bin/guest-traffic"
	cp "$CACHE"/modules/*.ko "$r/lib/modules/"
	[ -f "$CACHE/modules/order" ] && cp "$CACHE/modules/order" "$r/lib/modules/"
	cp tools/guest/init "$r/init"
	python3 tools/guest/mkinitramfs.py "$TMP/initrd.gz" "$r" || fail "initramfs"
}
