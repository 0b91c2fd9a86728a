#!/usr/bin/env bash
# Downloads, once, what vringmed's s390x test guest is made of: Debian 12's
# s390x kernel (and the three modules virtio-net needs) and busybox-static,
# into a cache that `make clean` leaves alone.
#   VRINGMED_GUEST_CACHE (default /var/cache/vringmed/guest)
# A second run downloads nothing.
set -euo pipefail
CACHE=${VRINGMED_GUEST_CACHE:-/var/cache/vringmed/guest}
KPKG=${VRINGMED_GUEST_KERNEL:-linux-image-6.1.0-50-s390x}

if [ -s "$CACHE/vmlinuz" ] && [ -s "$CACHE/busybox" ] && [ -s "$CACHE/modules/virtio_net.ko" ]; then
	echo "guest: cached in $CACHE ($(cat "$CACHE/VERSION" 2>/dev/null))"
	exit 0
fi
mkdir -p "$CACHE"
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
	KPKG=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-s390x$' |
	       awk '{print $1}' | sort -V | tail -n1)
fi
(cd "$work" && apt-get download -q "$KPKG:s390x" busybox-static:s390x >/dev/null 2>&1 ||
	apt-get download "$KPKG:s390x" busybox-static:s390x)
for d in "$work"/*.deb; do dpkg-deb -x "$d" "$work/x"; done

kver=$(ls "$work/x/lib/modules")
install -D -m 644 "$work/x/boot/vmlinuz-$kver" "$CACHE/vmlinuz"
install -D -m 755 "$work/x/bin/busybox" "$CACHE/busybox"
for m in net/core/failover drivers/net/net_failover drivers/net/virtio_net; do
	src="$work/x/lib/modules/$kver/kernel/$m.ko"
	[ -f "$src" ] || { [ -f "$src.xz" ] && xz -dc "$src.xz" > "$work/m.ko" && src="$work/m.ko"; }
	install -D -m 644 "$src" "$CACHE/modules/$(basename "$m").ko"
done
echo "$KPKG $kver" > "$CACHE/VERSION"
echo "guest: $KPKG ($kver) and busybox cached in $CACHE"
