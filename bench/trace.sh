#!/bin/sh
# trace.sh - what allocation tracing costs (make bench-trace): vigil's
# VIGIL_TRACE=16 against vigil untraced, and heaptrack against the glibc
# malloc it traces, side by side in one run.
#
#   trace.sh BUILDDIR SRCDIR [ROUNDS]
#
# 1. bench/trace_cost churn: malloc/free pairs 24 calls deep from 8 sites
#    (a 16-frame stack is whole), under glibc, vigil, vigil-trace,
#    heaptrack and heaptrack --raw (recording only); the ns a pair inside
#    the program, and of the whole command (heaptrack's interpreter works
#    in a process of its own, on the other core, and finishes after the
#    program), median of ROUNDS (default 5), the order rotating by round.
# 2. bench/trace_cost live: the bytes tracing keeps per live block (the
#    table's, 1,000,000 blocks of 64 bytes) and the depot's.
# 3. The programs of `make bench-real` (bench/real.sh) under glibc, vigil,
#    vigil-trace and heaptrack, then what tracing kept in each, and the cost
#    an allocation.
set -u
build=$1 src=$2 rounds=${3:-5}
preload="$build/.libs/libvigil-preload.so"
cost="$build/bench/trace_cost"
for f in "$preload" "$cost"; do
    [ -f "$f" ] || { echo "trace.sh: $f is missing: build first (make bench-trace)" >&2; exit 1; }
done
ht=$(command -v heaptrack 2>/dev/null)
[ -n "$ht" ] || echo "heaptrack: not installed: its rows left out"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
pairs=2000000
now() { date +%s%N; }

configs="glibc vigil vigil-trace"
[ -n "$ht" ] && configs="$configs heaptrack heaptrack-raw"
# run_one CONFIG: one churn run; appends ns a pair, in the program and of
# the whole command, to in.CONFIG and all.CONFIG.
run_one() {
    case $1 in
    glibc) set -- "$1" ;;
    vigil) set -- "$1" env LD_PRELOAD="$preload" ;;
    vigil-trace) set -- "$1" env LD_PRELOAD="$preload" VIGIL_TRACE=16 ;;
    heaptrack) set -- "$1" "$ht" -o "$tmp/ht" ;;
    heaptrack-raw) set -- "$1" "$ht" --raw -o "$tmp/htraw" ;;
    esac
    name=$1
    shift
    t0=$(now)
    "$@" "$cost" churn "$pairs" >"$tmp/out" 2>"$tmp/err" ||
        { echo "trace.sh: $name failed:" >&2; tail -n 5 "$tmp/err" >&2; exit 1; }
    t1=$(now)
    sed -n 's/^ns\/pair: //p' "$tmp/out" >>"$tmp/in.$name"
    echo "$t1 $t0 $pairs" | awk '{ printf "%.1f\n", ($1 - $2) / $3 }' >>"$tmp/all.$name"
    rm -f "$tmp"/ht* 2>/dev/null
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "vigil tracing bench: $rounds rounds, $(nproc 2>/dev/null || echo '?') cores"
echo
echo "1. bench/trace_cost churn: $pairs malloc/free pairs, 24 calls deep, 8 sites, 4096 live"
n=$(echo $configs | wc -w)
r=0
while [ $r -lt "$rounds" ]; do
    order=$(echo $configs | tr ' ' '\n' | awk -v s=$((r % n)) '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + s) % NR + 1] }')
    for c in $order; do run_one "$c"; done
    r=$((r + 1))
done
printf '%-14s %14s %16s %14s\n' config "ns/pair (in)" "ns/pair (whole)" "cost (in)"
for c in $configs; do
    case $c in
    vigil-trace) base=vigil ;;
    heaptrack*) base=glibc ;;
    *) base= ;;
    esac
    extra=-
    [ -n "$base" ] && extra=$(echo "$(median "$tmp/in.$c") $(median "$tmp/in.$base")" | awk '{ printf "+%.1f", $1 - $2 }')
    printf '%-14s %14s %16s %14s\n' "$c" "$(median "$tmp/in.$c")" "$(median "$tmp/all.$c")" "$extra"
done
echo "(cost: over the same program untraced, vigil-trace over vigil, heaptrack over glibc;"
echo " 'whole' includes start-up and, for heaptrack, its interpreter finishing)"

echo
echo "2. bench/trace_cost live: 1,000,000 blocks of 64 bytes kept, VIGIL_TRACE=16"
env LD_PRELOAD="$preload" VIGIL_TRACE=16 VIGIL_TRACE_TOP=1 "$cost" live 1000000 >/dev/null 2>"$tmp/err"
awk '/^vigil: trace memory: / {
        printf "block table: %d bytes for %d blocks: %.1f bytes a traced block\n", $6, $9, $6 / $9
        printf "depot: %d bytes of stacks and %d of index for %d stacks\n", $12, $17, $21 }' "$tmp/err"

echo
echo "3. the programs of make bench-real"
REAL_ALLOCS="glibc vigil vigil-trace heaptrack" REAL_RATIOS="vigil-trace/vigil heaptrack/glibc" \
    REAL_TRACE_MEMORY=1 sh "$src/bench/real.sh" "$build" "$src" "$rounds"
