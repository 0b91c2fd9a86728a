#!/usr/bin/env bash
# Downloads, once, Debian 12's own amd64 kernel (bookworm's linux-image-amd64,
# Linux 6.1: before the bpf_rdonly_cast kfunc, and rounding every BPF frame
# to 32 bytes), the kvm module and its dependencies, and busybox-static, into
# a cache that `make clean` leaves alone.  selftests/test_kernel.sh boots it
# under qemu-system-x86_64 to load and run vringmed's BPF programs there.
#   tools/guest/x86-kernel.sh           fetch unless cached
#   tools/guest/x86-kernel.sh --check   exit 0 when cached, 1 when not; never downloads
#   VRINGMED_X86_CACHE    (default /var/cache/vringmed/x86)
#   VRINGMED_X86_KERNEL   (default: what linux-image-amd64 depends on)
# Cache: vmlinuz, busybox, modules/*.ko, modules/order (insmod order),
# VERSION ("<package> <kernel release>", written last).
set -euo pipefail
CACHE=${VRINGMED_X86_CACHE:-/var/cache/vringmed/x86}

cached() {
	[ -s "$CACHE/VERSION" ] && [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/busybox" ] &&
		[ -s "$CACHE/modules/kvm.ko" ]
}
. "$(dirname "$0")/cachelib.sh"
CACHE_ROOT_WHY=apt-get cache_start "x86 kernel" "$@"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"	# apt's _apt user downloads into it

KPKG=${VRINGMED_X86_KERNEL:-}
if [ -z "$KPKG" ]; then
	KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null |
	       awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	if [ -z "$KPKG" ]; then
		apt-get update -qq
		KPKG=$(apt-cache depends linux-image-amd64 |
		       awk '/Depends: linux-image-[0-9]/{print $2; exit}')
	fi
	[ -n "$KPKG" ] || { echo "x86 kernel: the archive has no linux-image-amd64" >&2; exit 1; }
fi
echo "x86 kernel: downloading $KPKG and busybox-static"
(cd "$work" && { apt-get download -q "$KPKG" busybox-static >/dev/null 2>&1 ||
	apt-get download "$KPKG" busybox-static; })
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done

# kvm.ko: its tracepoints (kvm_pio, kvm_mmio, kvm_fast_mmio) are where
# vringmed's KVM programs attach; it loads without hardware virtualisation.
kernel_cache "$work" "$KPKG" "x86 kernel" kvm CONFIG_DEBUG_INFO_BTF CONFIG_BPF_SYSCALL \
	CONFIG_SERIAL_8250_CONSOLE
