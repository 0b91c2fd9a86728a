#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Instructions per descriptor of the translation core (kick direction),
# counted by callgrind: .output/bench_core kicks 256 single-descriptor chains
# in one go (bench_kick_256) and kicks the drained queue once more
# (bench_kick_empty, the fixed cost of a kick).  Only those functions, and
# what they call, are collected (--toggle-collect).
#
# Last line: core_instructions_per_desc=<Ir of the 256-chain kick / 256 for
# the big-endian guest>, the byte-swapping case on a little-endian host.
#
# --headers: instructions per chain, big-endian guest, of 64 virtio-blk
# requests (header, data, status) and 64 virtio-net TX chains (header,
# frame) in one kick, beside the same chains without a header to
# translate; last line: blk_header_ir=<difference per request>
# net_header_ir=<difference per chain>.
set -euo pipefail

BIN=${BIN:-.output/bench_core}
NDESC=256

die() { echo "bench-core: $*" >&2; exit 1; }

command -v valgrind >/dev/null 2>&1 ||
	die "valgrind not found (apt-get install valgrind, or: make setup)"
[ -x "$BIN" ] || die "$BIN missing (make $BIN)"

tmpdir=$(mktemp -d "${TMPDIR:-/tmp}/bench-core.XXXXXX")
trap 'rm -rf "$tmpdir"' EXIT

# Total Ir collected inside function $2 for byte order $1.
ir_of() {
	local order=$1 fn=$2 out log total
	out=$(mktemp "$tmpdir/callgrind.$order.$fn.XXXXXX")
	log=$(mktemp "$tmpdir/log.$order.$fn.XXXXXX")
	if ! valgrind --tool=callgrind --callgrind-out-file="$out" \
		--toggle-collect="$fn" --error-exitcode=99 \
		"$BIN" "$order" >"$log" 2>&1; then
		cat "$log" >&2
		die "valgrind run failed: $BIN $order (toggle-collect=$fn)"
	fi
	total=$(awk '/^summary:/ { print $2; f = 1; exit }
		     /^totals:/  { t = $2 }
		     END { if (!f && t != "") print t }' "$out")
	[[ "$total" =~ ^[0-9]+$ ]] || die "no Ir total in callgrind output for $order/$fn"
	[ "$total" -gt 0 ] || die "nothing collected for $fn ($order): symbol missing or inlined?"
	echo "$total"
}

if [ "${1:-}" = --headers ]; then
	ir_hdr() {	# as ir_of, for the headers run
		local out
		out=$(mktemp "$tmpdir/callgrind.hdr.$1.XXXXXX")
		valgrind --tool=callgrind --callgrind-out-file="$out" --toggle-collect="$1" \
			--error-exitcode=99 "$BIN" be headers >/dev/null 2>&1 || die "valgrind run failed: $BIN be headers"
		awk '/^summary:/ { print $2; f = 1; exit } /^totals:/ { t = $2 } END { if (!f) print t }' "$out"
	}
	blk=$(ir_hdr bench_kick_blk) p3=$(ir_hdr bench_kick_plain3)
	net=$(ir_hdr bench_kick_net_tx) p2=$(ir_hdr bench_kick_plain2)
	awk -v b="$blk" -v p3="$p3" -v n="$net" -v p2="$p2" 'BEGIN {
		printf "%-22s %10s %10s\n", "chains (64, be)", "Ir", "Ir/chain"
		printf "%-22s %10d %10.1f\n", "blk request (3 desc)", b, b / 64
		printf "%-22s %10d %10.1f\n", "same, no header", p3, p3 / 64
		printf "%-22s %10d %10.1f\n", "net TX (2 desc)", n, n / 64
		printf "%-22s %10d %10.1f\n", "same, no header", p2, p2 / 64
		printf "blk_header_ir=%.1f net_header_ir=%.1f\n", (b - p3) / 64, (n - p2) / 64 }'
	exit 0
fi

printf '%-6s %14s %14s %16s %16s\n' order "Ir(256 chains)" "Ir(empty kick)" "Ir/desc incl." "Ir/desc marginal"
be_incl=
for order in be le; do
	full=$(ir_of "$order" bench_kick_256)
	empty=$(ir_of "$order" bench_kick_empty)
	incl=$(awk -v a="$full" -v n="$NDESC" 'BEGIN { printf "%.1f", a / n }')
	marg=$(awk -v a="$full" -v b="$empty" -v n="$NDESC" 'BEGIN { printf "%.1f", (a - b) / n }')
	printf '%-6s %14s %14s %16s %16s\n' "$order" "$full" "$empty" "$incl" "$marg"
	[ "$order" = be ] && be_incl=$incl
done
echo "core_instructions_per_desc=$be_incl"
