#!/usr/bin/env bash
# vringmed set-up: installs every build and test dependency from Debian 12
# packages, and mounts bpffs / tracefs when missing. Idempotent: a second run
# installs nothing and mounts nothing.
set -euo pipefail

PKGS=(
	# build
	make gcc pkg-config clang-19 llvm-19 lld-19 libclang-rt-19-dev libbpf-dev bpftool libelf-dev zlib1g-dev liburing-dev
	# the XDP back-end (libxdp), and testpmd's AF_XDP port to compare it with
	libxdp-dev librte-net-af-xdp23
	# big-endian legacy driver: s390x cross toolchain + user-mode emulator
	gcc-s390x-linux-gnu libc6-dev-s390x-cross qemu-user-static
	# the big-endian block guest: ppc64 (pseries) under QEMU, its kernel
	# built once from Debian's source (tools/guest/ppc64-kernel.sh), its
	# /init cross-built
	qemu-system-ppc gcc-powerpc64-linux-gnu libc6-dev-ppc64-cross linux-source-6.1 flex bison bc
	# Debian 12's own kernel (6.1) under QEMU, where test_kernel.sh loads
	# and runs the BPF programs (tools/guest/x86-kernel.sh caches it)
	qemu-system-x86
	# measurement
	valgrind
	# daemon and its peers
	libmicrohttpd-dev libjansson-dev dpdk dpdk-dev librte-net-vhost23 librte-mempool-ring23 qemu-system-misc qemu-utils prometheus
	# make deb, and test_install.sh: the package, its man pages, its unit
	# (systemd-analyze), the daemon run as the unit says (setpriv from
	# util-linux, strace)
	build-essential debhelper lintian man-db groff-base systemd strace
	# misc tools the tests use
	iproute2 iputils-ping procps util-linux python3 gnuplot-nox curl
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	echo "setup: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	echo "setup: all ${#PKGS[@]} packages present"
fi

# The prometheus package starts a server on :9090 via its unit; tests run
# their own instance on a private port, so the packaged one is left alone.

mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
if [ ! -d /sys/kernel/tracing/events/syscalls ] && ! mountpoint -q /sys/kernel/debug; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null || true
fi
echo "setup: bpffs at /sys/fs/bpf, tracefs at /sys/kernel/tracing"

# The real big-endian guest (s390x kernel + busybox), downloaded once and
# cached outside the tree: tools/guest/fetch.sh.
bash "$(dirname "$0")/guest/fetch.sh"
# The big-endian block guest's kernel, built once (a few minutes) and
# cached outside the tree: tools/guest/ppc64-kernel.sh.
bash "$(dirname "$0")/guest/ppc64-kernel.sh"
# Debian 12's amd64 kernel, kvm.ko and busybox, downloaded once and cached
# outside the tree: tools/guest/x86-kernel.sh.
bash "$(dirname "$0")/guest/x86-kernel.sh"
