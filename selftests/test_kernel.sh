#!/usr/bin/env bash
# vringmed on Debian 12's own kernel (bookworm's linux-image-amd64, Linux
# 6.1), not only on the kernel this machine runs: the kernel boots under
# qemu-system-x86_64 (TCG) with an initramfs of busybox, this build's
# binaries and the libraries they link, and inside it
#   - verifier_stats loads the object as vringmedd does: every program this
#     kernel can run loads, the write() hook being vrm_tp_write_pre62 (no
#     bpf_rdonly_cast before 6.2), the KVM programs at kvm.ko's tracepoints,
#     fentry where that kernel allows trampolines;
#   - test_bpf, whose tests that kick through BPF_PROG_TEST_RUN skip there
#     saying so (vrm_test_kick does not fit 6.1's stack rule); the rest
#     must pass: load, real_kicks (a native and an s390x
#     driver under qemu-user write() their kicks; BPF fills the shadow
#     ring before the back-end wakes), kernel_kicks (io_uring signals the
#     kick eventfd in the kernel, as KVM does an ioeventfd: fentry, which
#     that kernel allows, translates it), the daemon's start, restart and
#     upgrade.
# The kernel, kvm.ko and busybox come from tools/guest/x86-kernel.sh (make
# setup).  One boot for all of it, about a minute.
# Summary: "test_kernel: N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
SUITE=test_kernel SUITE_TAG=kernel61
. selftests/lib.sh

echo "== test_kernel (vringmed's BPF programs on Debian 12's own kernel, under QEMU)"
CACHE=${VRINGMED_X86_CACHE:-/var/cache/vringmed/x86}
if ! command -v qemu-system-x86_64 >/dev/null; then
	skp boot "qemu-system-x86_64 not installed (make setup)"
	finish
fi
if ! tools/guest/x86-kernel.sh --check >/dev/null 2>&1; then
	skp boot "Debian 12's amd64 kernel is not cached in $CACHE (run tools/guest/x86-kernel.sh or make setup)"
	finish
fi
BINS="test_bpf verifier_stats vringmedd legacy_driver legacy_driver.s390x"
for b in $BINS; do
	[ -x ".output/$b" ] || { bad build ".output/$b missing (make)"; finish; }
done
# daemon_upgrade forges older builds' pins with bpftool.
BPFTOOL=$(command -v bpftool || true)
[ -n "$BPFTOOL" ] || { bad build "bpftool not installed (make setup)"; finish; }

TMP=$(mktemp -d /tmp/vm-kernel-XXXXXX)
trap 'rm -rf "$TMP"' EXIT
R=$TMP/root
mkdir -p "$R/bin" "$R/vm/.output" "$R/modules" "$R/proc" "$R/sys" "$R/dev" "$R/tmp" "$R/run"
install -m 755 "$CACHE/busybox" "$R/bin/busybox"
cp "$CACHE/modules/"*.ko "$CACHE/modules/order" "$R/modules/"
for b in $BINS; do cp ".output/$b" "$R/vm/.output/"; done
# test_bpf's real_kicks finds the s390x driver's emulator on PATH.
qemu_user=$(command -v qemu-s390x-static || true)
[ -n "$qemu_user" ] && cp "$qemu_user" "$R/bin/"
cp "$BPFTOOL" "$R/bin/"
# The dynamic binaries' libraries, at the paths they were linked against.
for b in $(for b in $BINS; do echo ".output/$b"; done) "$BPFTOOL"; do
	ldd "$b" 2>/dev/null | grep -o '/[^ ]*' | while read -r lib; do
		[ -e "$R$lib" ] || { mkdir -p "$R$(dirname "$lib")"; cp -L "$lib" "$R$lib"; }
	done
done
cat > "$R/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
for m in $(cat /modules/order); do insmod /modules/$m.ko || echo "insmod $m failed"; done
echo "== uname $(uname -r)"
cd /vm
echo "== verifier_stats"
.output/verifier_stats
echo "== rc $?"
echo "== test_bpf"
.output/test_bpf -v
echo "== rc $?"
echo "== dmesg"
dmesg | grep -E 'WARNING|BUG|Oops|Call Trace|segfault' | head -20
echo "== end"
poweroff -f
EOF
chmod 755 "$R/init"
python3 tools/guest/mkinitramfs.py "$TMP/initrd.gz" "$R"

echo "   booting $(cat "$CACHE/VERSION") (TCG)"
t0=$(date +%s)
timeout 600 qemu-system-x86_64 -nographic -no-reboot -m 1024 -smp 2 -cpu max \
	-kernel "$CACHE/vmlinuz" -initrd "$TMP/initrd.gz" \
	-append "console=ttyS0 quiet panic=-1" < /dev/null 2>&1 | tr -d '\r' > "$TMP/console.txt"
C=.output/test_kernel.console	# kept for a look after a failure
cp "$TMP/console.txt" "$C"
echo "   console ($C): $(wc -l < "$C") lines in $(( $(date +%s) - t0 )) s"
section() { sed -n "/^== $1/,/^== rc/p" "$C"; }

if ! grep -q '^== end' "$C"; then
	tail -20 "$C" | sed 's/^/      /'
	bad boot "the guest did not get to the end of its script"
	finish
fi
kver=$(sed -n 's/.*== uname //p' "$C")
check boots_debian12_kernel test "${kver#6.1.}" != "$kver"
VS=$TMP/vs.txt; section verifier_stats > "$VS"
if grep -q '^== rc 0' "$VS"; then
	ok object_loads
else
	sed 's/^/      /' "$VS" | tail -20
	bad object_loads "verifier_stats in the guest failed"
fi
loaded() { grep -Eq "^$1 +[0-9]+ +[0-9.]+%" "$VS"; }
not_loaded() { grep -Eq "^$1 +- +\(not loaded on this host\)" "$VS"; }
check write_hook_is_pre62 bash -c "$(declare -f loaded not_loaded); VS=$VS; loaded vrm_tp_write_pre62 && not_loaded vrm_tp_write"
check kvm_programs_load bash -c "$(declare -f loaded); VS=$VS; loaded vrm_kvm_pio && loaded vrm_kvm_mmio && loaded vrm_kvm_fast_mmio"
check fentry_program_loads bash -c "$(declare -f loaded); VS=$VS; loaded vrm_fentry_signal"
check verifier_below_quarter grep -q '^max_verified_insns=[0-9]* limit=1000000 programs=5$' "$VS"
TB=$TMP/tb.txt; section test_bpf > "$TB"
summary=$(grep -E '^test_bpf on x86_64: [0-9]+ passed' "$TB" | tail -1)
echo "   in the guest: $summary (the skipped ones kick through vrm_test_kick)"
grep -E '^FAIL ' "$TB" | sed 's/^/      /'
if grep -q '^== rc 0' "$TB" && echo "$summary" | grep -q ' 0 failed,'; then
	ok test_bpf_passes
else
	tail -20 "$TB" | sed 's/^/      /'
	bad test_bpf_passes "test_bpf failed in the guest"
fi
# What it skips there is what needs vrm_test_kick, and says so.
check test_bpf_skips_only_test_kick bash -c "! grep '^SKIP ' '$TB' | grep -v 'vrm_test_kick is not loaded before Linux 6.2'"
check test_bpf_ran_19 test "$(grep -c '^ok    ' "$TB")" -ge 19
check real_kicks_ran grep -q '^ok    real_kicks/driver_s390x_under_qemu_user_be' "$TB"
# fentry is allowed there: a kick the kernel signals is BPF's too.
check kernel_signalled_kicks_in_bpf grep -q '^ok    kernel_kicks/io_uring_signal_be' "$TB"
oops=$(sed -n '/^== dmesg/,/^== end/p' "$C" | grep -v '^==')
check kernel_log_clean test -z "$oops"
finish
