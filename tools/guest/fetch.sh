#!/usr/bin/env bash
# Downloads, once, what vringmed's s390x test guest is made of: Debian 12's
# s390x kernel (and the modules virtio-net needs that are not built in) and
# busybox-static, into a cache that `make clean` leaves alone.
#   tools/guest/fetch.sh            fetch unless cached (a second run downloads nothing)
#   tools/guest/fetch.sh --check    exit 0 when cached, 1 when not; never downloads
#   VRINGMED_GUEST_CACHE   (default /var/cache/vringmed/guest)
#   VRINGMED_GUEST_KERNEL  (default linux-image-6.1.0-50-s390x; when the archive
#                           has moved on, the newest linux-image-*-s390x it has)
# Cache: vmlinuz, busybox, modules/*.ko, modules/order (insmod order, one
# name a line), VERSION ("<package> <kernel release>", written last).
# The initramfs itself is built per run by run.sh (mkinitramfs.py, no cpio).
set -euo pipefail
CACHE=${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}
KPKG=${VRINGMED_GUEST_KERNEL:-linux-image-6.1.0-50-s390x}

cached() {
	[ -s "$CACHE/VERSION" ] && [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/busybox" ] &&
		[ -s "$CACHE/modules/virtio_net.ko" ]
}
. "$(dirname "$0")/cachelib.sh"
CACHE_ROOT_WHY="dpkg --add-architecture, apt-get" cache_start guest "$@"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"	# apt's _apt user downloads into it

if ! dpkg --print-foreign-architectures | grep -qx s390x; then
	dpkg --add-architecture s390x
	apt-get update -qq
fi
# The exact kernel package may have moved on in the archive: fall back to
# whatever linux-image-*-s390x the mirror has now.
if ! apt-cache show "$KPKG:s390x" >/dev/null 2>&1; then
	apt-get update -qq
	if ! apt-cache show "$KPKG:s390x" >/dev/null 2>&1; then
		KPKG=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-s390x$' |
		       awk '{print $1}' | sort -V | tail -n1)
		[ -n "$KPKG" ] || { echo "guest: no linux-image-*-s390x in the archive" >&2; exit 1; }
	fi
fi
echo "guest: downloading $KPKG:s390x and busybox-static:s390x"
(cd "$work" && { apt-get download -q "$KPKG:s390x" busybox-static:s390x >/dev/null 2>&1 ||
	apt-get download "$KPKG:s390x" busybox-static:s390x; })
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done

# virtio_net and what it depends on.  The virtio core (virtio, virtio_ring)
# and the CCW transport (virtio_ccw: CONFIG_S390_GUEST) must be built in, as
# they are in Debian's s390x kernel: this guest's init cannot load them.
kernel_cache "$work" "$KPKG" guest virtio_net CONFIG_VIRTIO CONFIG_S390_GUEST
