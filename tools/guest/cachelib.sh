# Shared by the scripts that build or download a guest's parts once into a
# cache outside the tree (fetch.sh, ppc64-kernel.sh, x86-kernel.sh); sourced,
# not run.  The sourcing script sets CACHE and defines cached().

# cache_start LABEL ARGS...: the script's arguments (none, or --check: exit 0
# when cached, 1 when not); exits 0 when the cache is already there, else
# returns holding the cache's lock, so that a second run (make setup racing
# a test) waits and then finds it cached.  CACHE_ROOT_WHY set: filling the
# cache needs root, for that reason.
cache_start() {
	local label=$1
	shift
	if [ "${1:-}" = --check ]; then
		cached && exit 0
		echo "$label: not cached in $CACHE (run $0 or make setup)" >&2
		exit 1
	fi
	[ $# -eq 0 ] || { echo "usage: $(basename "$0") [--check]" >&2; exit 2; }
	if cached; then
		echo "$label: cached in $CACHE ($(cat "$CACHE/VERSION"))"
		exit 0
	fi
	if [ -n "${CACHE_ROOT_WHY:-}" ] && [ "$(id -u)" -ne 0 ]; then
		echo "$label: $(basename "$0") needs root ($CACHE_ROOT_WHY)" >&2
		exit 1
	fi
	mkdir -p "$CACHE" || exit 1
	exec 9>"$CACHE/.lock"
	flock 9
	if cached; then
		echo "$label: cached in $CACHE ($(cat "$CACHE/VERSION"))"
		exit 0
	fi
}

# add_module MDIR OUT NAME: module NAME of the kernel tree MDIR (its .ko or
# .ko.xz, with - or _ in its name) into OUT/NAME.ko, its dependencies first
# (each module's own "depends=": a package has no modules.dep, depmod makes
# it at install time), each once; OUT/order lists them in insmod order.
add_module() {
	local mdir=$1 out=$2 name=$3 f d
	grep -qx "$name" "$out/order" 2>/dev/null && return 0
	f=$(find "$mdir/kernel" \( -name "$name.ko" -o -name "$name.ko.xz" -o -name "${name//_/-}.ko" \
		-o -name "${name//_/-}.ko.xz" \) | head -n1)
	[ -n "$f" ] || { echo "module $name not found in $mdir" >&2; exit 1; }
	case $f in
	*.xz) xz -dc "$f" > "$out/$name.ko.part" ;;
	*) cp "$f" "$out/$name.ko.part" ;;
	esac
	for d in $(tr '\0' '\n' < "$out/$name.ko.part" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$mdir" "$out" "$d"
	done
	mv "$out/$name.ko.part" "$out/$name.ko"
	echo "$name" >> "$out/order"
}

# kernel_cache WORK KPKG LABEL MODULE CONFIG...: from a kernel package and
# busybox-static unpacked under WORK/x, into the cache: vmlinuz, busybox,
# MODULE with its dependencies (modules/), and last VERSION ("KPKG
# <release>").  Each CONFIG must be built in (=y).
kernel_cache() {
	local work=$1 kpkg=$2 label=$3 module=$4 kver mdir c
	shift 4
	kver=$(ls "$work/x/lib/modules")
	mdir=$work/x/lib/modules/$kver
	for c in "$@"; do
		grep -qx "$c=y" "$work/x/boot/config-$kver" ||
			{ echo "$label: $kver: $c is not built in" >&2; exit 1; }
	done
	rm -rf "$work/cache"
	mkdir -p "$work/cache/modules"
	add_module "$mdir" "$work/cache/modules" "$module"
	install -m 644 "$work/x/boot/vmlinuz-$kver" "$work/cache/vmlinuz"
	install -m 755 "$work/x/bin/busybox" "$work/cache/busybox"
	rm -rf "$CACHE/modules" "$CACHE/VERSION"
	cp -a "$work/cache/." "$CACHE/"
	echo "$kpkg $kver" > "$CACHE/VERSION.tmp" && mv "$CACHE/VERSION.tmp" "$CACHE/VERSION"
	echo "$label: $kpkg ($kver), modules $(tr '\n' ' ' < "$CACHE/modules/order")and busybox cached in $CACHE"
}
