#!/usr/bin/env bash
# Builds, once, the kernel of vringmed's big-endian ppc64 block guest and
# caches it: Debian main ships no ppc64 big-endian kernel binary, so it is
# made from Debian's linux-source-6.1 with gcc-powerpc64-linux-gnu, from
# allnoconfig plus what a pseries guest with a legacy virtio-blk disk needs
# (virtio-pci with its legacy I/O BAR, virtio-blk, the hvc console, an
# initramfs), all built in.  About 4 minutes on 2 cores at nice 19.
#   tools/guest/ppc64-kernel.sh          build unless cached
#   tools/guest/ppc64-kernel.sh --check  exit 0 when cached, 1 when not
#   VRINGMED_PPC64_CACHE  (default /var/cache/vringmed/ppc64)
#   VRINGMED_PPC64_JOBS   (default 2)
# Cache: vmlinux (stripped ELF, what qemu-system-ppc64 -kernel boots),
# config, VERSION ("linux-source <version> <config hash>", written last).
set -euo pipefail
CACHE=${VRINGMED_PPC64_CACHE:-/var/cache/vringmed/ppc64}
JOBS=${VRINGMED_PPC64_JOBS:-2}
SRC_TAR=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n1 || true)

# What the guest needs on top of allnoconfig.  Changing it rebuilds (its
# hash is in VERSION).
FRAGMENT='CONFIG_PPC64=y
CONFIG_PPC_BOOK3S_64=y
CONFIG_CPU_BIG_ENDIAN=y
CONFIG_PPC_PSERIES=y
CONFIG_PPC_OF_BOOT_TRAMPOLINE=y
CONFIG_PCI=y
CONFIG_VIRTIO_MENU=y
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_PCI_LEGACY=y
CONFIG_BLOCK=y
CONFIG_BLK_DEV=y
CONFIG_VIRTIO_BLK=y
CONFIG_TTY=y
CONFIG_HVC_CONSOLE=y
CONFIG_PRINTK=y
CONFIG_BINFMT_ELF=y
CONFIG_BLK_DEV_INITRD=y
CONFIG_RD_GZIP=y
CONFIG_DEVTMPFS=y
CONFIG_DEVTMPFS_MOUNT=y
CONFIG_PROC_FS=y
CONFIG_SYSFS=y
CONFIG_MODULES=n'
HASH=$(printf '%s' "$FRAGMENT" | sha256sum | cut -c1-16)

cached() {
	[ -s "$CACHE/VERSION" ] && [ -s "$CACHE/vmlinux" ] && grep -q " $HASH\$" "$CACHE/VERSION"
}
. "$(dirname "$0")/cachelib.sh"
cache_start "ppc64 guest kernel" "$@"
[ -n "$SRC_TAR" ] || { echo "ppc64 guest kernel: linux-source-6.1 is not installed (make setup)" >&2; exit 1; }
command -v powerpc64-linux-gnu-gcc >/dev/null ||
	{ echo "ppc64 guest kernel: gcc-powerpc64-linux-gnu is not installed (make setup)" >&2; exit 1; }
work=$(mktemp -d /tmp/vm-ppc64-kernel-XXXXXX)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
echo "ppc64 guest kernel: building from $SRC_TAR (nice 19, -j$JOBS)"
tar -C "$work" -xf "$SRC_TAR"
ksrc=$(echo "$work"/linux-source-*)
printf '%s\n' "$FRAGMENT" > "$work/fragment"
mk() { nice -n 19 make -C "$ksrc" -s ARCH=powerpc CROSS_COMPILE=powerpc64-linux-gnu- "$@"; }
KCONFIG_ALLCONFIG="$work/fragment" mk allnoconfig >/dev/null
# allnoconfig may not take what a dependency ruled out: say which.
while IFS= read -r line; do
	case $line in
	*=n) grep -qx "${line%=n}=y" "$ksrc/.config" && { echo "ppc64 guest kernel: ${line%=n} is on" >&2; exit 1; } ;;
	*) grep -qx "$line" "$ksrc/.config" || { echo "ppc64 guest kernel: $line did not take" >&2; exit 1; } ;;
	esac
done < "$work/fragment"
mk -j"$JOBS" vmlinux >/dev/null
powerpc64-linux-gnu-strip -o "$work/vmlinux" "$ksrc/vmlinux"
ver=$(basename "$SRC_TAR" | sed 's/linux-source-//;s/\.tar.*//')
dpkg-query -W -f='${Version}' linux-source-6.1 > "$work/pkgver" 2>/dev/null || echo "$ver" > "$work/pkgver"
install -m 644 "$work/vmlinux" "$CACHE/vmlinux"
install -m 644 "$ksrc/.config" "$CACHE/config"
echo "linux-source $(cat "$work/pkgver") $HASH" > "$CACHE/VERSION.tmp" && mv "$CACHE/VERSION.tmp" "$CACHE/VERSION"
echo "ppc64 guest kernel: built in $(( $(date +%s) - t0 )) s, cached in $CACHE ($(cat "$CACHE/VERSION"))"
