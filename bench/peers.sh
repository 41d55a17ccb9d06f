#!/bin/sh
# peers.sh - mimalloc-bench's programs through every installed allocator
# (make bench-peers MB=DIR).
#
#   peers.sh BUILDDIR SRCDIR MBDIR [ROUNDS]
#
# MBDIR is the user's checkout of https://github.com/daanx/mimalloc-bench;
# nothing of it is in this repository.  The programs are compiled from
# MBDIR/bench with gcc and g++ (CC, CXX) into BUILDDIR/bench/peers, with the
# flags of mimalloc-bench's CMake release build (-O3 -DNDEBUG, warnings
# off), each one again only when its sources are newer than the binary.
# Two of them have no argument for their length, so their copy in
# BUILDDIR/bench/peers/src gets a smaller iteration count (PEERS_FULL=1:
# mimalloc-bench's own counts and arguments, every run several times longer):
#   alloc-test    iterCount 100000000 -> 10000000
#   glibc-simple  NUM_ITERS 2000000 -> 250000
# and the others are given shorter arguments than bench.sh's (the programs
# table below).
#
# Allocators (columns), each through LD_PRELOAD, left out with a note when
# not installed: glibc (no preload), mimalloc, jemalloc, tcmalloc
# (tcmalloc_minimal), vigil (BUILDDIR/.libs/libvigil-preload.so), vigil
# debug (the same with VIGIL_MALLOC=debug), tcmalloc debug
# (tcmalloc_minimal_debug).
#
# Rounds: ROUNDS (default 5) after one warm-up run of each program with
# glibc; a round runs every program through every allocator, the allocator
# order rotating by one from round to round, so a noisy stretch of a shared
# machine is shared out.  The time of a run is its elapsed time, except for
# the programs that run for a fixed time and print their throughput, whose
# time is the one mimalloc-bench derives from that output (larson, rptest,
# xmalloc-test, glibc-thread).  Peak RSS: the child's maximum resident set,
# /usr/bin/time's %M.  Reported: the median over the rounds of each
# round's ratio to glibc, time and peak RSS.  A run that exits non-zero is
# reported as failed (and its stderr shown at the end); the others go on.
# A run still going after PEERS_TIMEOUT seconds (default 300) is killed and
# reported as failed, status 124: rptest's own start barrier has been seen
# to leave all its threads asleep, whatever the allocator.
# PEERS_PROGRAMS="cfrac larson-2 ..." runs only those rows (the keys of the
# programs table below).
# shellcheck disable=SC2034  # env_*, label_*, how_*, cmd_*: read through eval
set -u
build=$1 src=$2 mb=$3 rounds=${4:-5}
: "$src"
preload="$build/.libs/libvigil-preload.so"
libdir=/usr/lib/x86_64-linux-gnu
[ -d "$libdir" ] || libdir=/usr/lib
CC=${CC:-gcc} CXX=${CXX:-g++}
full=${PEERS_FULL:-}

die() { echo "peers.sh: $*" >&2; exit 1; }
[ -f "$preload" ] || die "$preload is missing: build first (make)"
[ -f "$mb/bench/larson/larson.cpp" ] ||
    die "$mb is not a mimalloc-bench checkout (no bench/larson/larson.cpp); get one with
    git clone https://github.com/daanx/mimalloc-bench"
mb=$(cd "$mb" && pwd) || exit 1   # the runs are made in a directory of their own
case $rounds in ''|*[!0-9]*|0) die "ROUNDS must be a positive number, not '$rounds'" ;; esac
[ "$(date +%N)" != "%N" ] || die "needs date +%N (GNU date)"
timer=/usr/bin/time
limit=
command -v timeout >/dev/null 2>&1 && limit="timeout ${PEERS_TIMEOUT:-300}"
[ -x "$timer" ] || { timer=; echo "note: /usr/bin/time not found: no peak RSS"; }

out="$build/bench/peers"
mkdir -p "$out/src" || exit 1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# ---- building ----
# build NAME COMPILER FLAGS -- SOURCES...: compile NAME into $out unless it
# is newer than its sources and this script.
build_prog() {
    name=$1 compiler=$2 flags=$3
    shift 4
    stale=
    [ -x "$out/$name" ] || stale=1
    for f in "$@" "$0"; do
        [ -n "$stale" ] || [ -z "$(find "$f" -newer "$out/$name")" ] || stale=1
    done
    [ -z "$stale" ] && return 0
    echo "building $name"
    # shellcheck disable=SC2086
    "$compiler" -O3 -DNDEBUG $quiet $flags -o "$out/$name" "$@" -lpthread -lm >"$tmp/cc.log" 2>&1 ||
        { cat "$tmp/cc.log" >&2; die "building $name from $mb/bench failed"; }
}
# mimalloc-bench's CMakeLists: these old programs' warnings off, and off as
# errors for compilers that make them errors (gcc 14).
quiet="-w -Wno-implicit-function-declaration -Wno-implicit-int -Wno-int-conversion
    -Wno-return-mismatch -Wno-incompatible-pointer-types"
b="$mb/bench"
in_dir() { d=$1; shift; for f in "$@"; do printf '%s ' "$d/$f"; done; }
# shellcheck disable=SC2046
build_prog cfrac "$CC" "-std=gnu89 -DNOMEMOPT=1" -- $(in_dir "$b/cfrac" cfrac.c pops.c \
    pconst.c pio.c pabs.c pneg.c pcmp.c podd.c phalf.c padd.c psub.c pmul.c pdivmod.c psqrt.c \
    ppowmod.c atop.c ptoa.c itop.c utop.c ptou.c errorp.c pfloat.c pidiv.c pimod.c picmp.c \
    primes.c pcfrac.c pgcd.c)
# shellcheck disable=SC2046
build_prog espresso "$CC" "-std=gnu89" -- $(in_dir "$b/espresso" cofactor.c cols.c compl.c \
    contain.c cubestr.c cvrin.c cvrm.c cvrmisc.c cvrout.c dominate.c equiv.c espresso.c \
    essen.c exact.c expand.c gasp.c getopt.c gimpel.c globals.c hack.c indep.c irred.c main.c \
    map.c matrix.c mincov.c opo.c pair.c part.c primes.c reduce.c rows.c set.c setc.c sharp.c \
    sminterf.c solution.c sparse.c unate.c utility.c verify.c)
build_prog larson "$CXX" "-DCPP=1" -- "$b/larson/larson.cpp"
build_prog xmalloc-test "$CC" "" -- "$b/xmalloc-test/xmalloc-test.c"
build_prog mstress "$CC" "" -- "$b/mstress/mstress.c"
build_prog rptest "$CC" "-I$b/rptest" -- "$b/rptest/rptest.c" "$b/rptest/thread.c" \
    "$b/rptest/timer.c"
build_prog glibc-thread "$CC" "" -- "$b/glibc-bench/bench-malloc-thread.c"

# The two without a length argument: a copy, scaled down unless PEERS_FULL.
copy() {  # copy FILE SED-EXPRESSION: FILE into $out/src, edited; prints the copy's path
    dest="$out/src/$(basename "$1")"
    if [ -n "$full" ]; then sed_expr=; else sed_expr=$2; fi
    sed -e "${sed_expr:-p;d}" "$1" >"$dest.new" || die "cannot copy $1"
    if cmp -s "$dest.new" "$dest"; then rm -f "$dest.new"; else mv "$dest.new" "$dest"; fi
    echo "$dest"
}
for f in test_common.h allocator_tester.h new_delete_allocator.h selector.h void_allocator.h; do
    [ -f "$b/alloc-test/$f" ] && { cmp -s "$b/alloc-test/$f" "$out/src/$f" || cp "$b/alloc-test/$f" "$out/src/"; }
done
at=$(copy "$b/alloc-test/allocator_tester.cpp" 's/iterCount = 100000000;/iterCount = 10000000;/')
tc=$(copy "$b/alloc-test/test_common.cpp" '')
build_prog alloc-test "$CXX" "-DBENCH=4 -I$out/src" -- "$at" "$tc"
gs=$(copy "$b/glibc-bench/bench-malloc-simple.c" 's/^#define NUM_ITERS 2000000$/#define NUM_ITERS 250000/')
build_prog glibc-simple "$CC" "" -- "$gs"

# ---- programs: NAME, the command, and how its time is read ----
# (mimalloc-bench's bench.sh arguments, its $procs = 2; scaled down unless
# PEERS_FULL, as the README's table says)
progs=
add() {  # KEY LABEL HOW COMMAND
    k=$(echo "$1" | tr - _)
    case " ${PEERS_PROGRAMS:-$1} " in *" $1 "*) ;; *) return ;; esac
    progs="$progs $1"
    eval "label_$k=\$2; how_$k=\$3; cmd_$k=\$4"
}
if [ -n "$full" ]; then
    cfrac_n=17545186520507317056371138836327483792789528
    larson_s=5 xmalloc_s=5 rptest_loops=500
else
    cfrac_n=8539734222673567172606511345051136291
    larson_s=1 xmalloc_s=1 rptest_loops=50
fi
add cfrac cfrac wall "cfrac $cfrac_n"
add espresso espresso wall "espresso $b/espresso/largest.espresso"
add alloc-test-1 "alloc-test 1 thread" wall "alloc-test 1"
add glibc-simple glibc-simple wall "glibc-simple"
add larson-2 "larson 2 threads" larson "larson $larson_s 8 1000 5000 100 4141 2"
add xmalloc-2 "xmalloc-test 2 threads" xmalloc "xmalloc-test -w 2 -t $xmalloc_s -s 64"
add rptest-2 "rptest 2 threads" rptest "rptest 2 0 1 2 $rptest_loops 1000 100 8 16000"
add mstress-2 "mstress 2 threads" wall "mstress 2 50 25"
add glibc-thread-2 "glibc-thread 2 threads" glibcthread "glibc-thread 2"
[ -n "$progs" ] || die "PEERS_PROGRAMS='${PEERS_PROGRAMS:-}' names none of the programs"
var() { eval "echo \"\$$1_$(echo "$2" | tr - _)\""; }

# ---- allocators ----
allocs="glibc"
env_glibc=""
for a in mimalloc:libmimalloc.so.2 jemalloc:libjemalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
    name=${a%%:*} so=$libdir/${a#*:}
    if [ -f "$so" ]; then
        allocs="$allocs $name"
        eval "env_$name=\"LD_PRELOAD=$so\""
    else
        echo "note: $name: $so not installed: column left out"
    fi
done
allocs="$allocs vigil vigil-debug"
env_vigil="LD_PRELOAD=$preload"
env_vigil_debug="LD_PRELOAD=$preload VIGIL_MALLOC=debug"
so=$libdir/libtcmalloc_minimal_debug.so.4
if [ -f "$so" ]; then
    allocs="$allocs tcmalloc-debug"
    env_tcmalloc_debug="LD_PRELOAD=$so"
else
    echo "note: tcmalloc-debug: $so not installed: column left out"
fi

# ---- running ----
now() { date +%s%N; }

# The time of a run in ns, from its output when the program measures a
# fixed time (mimalloc-bench's relative times, bench.sh), else wall.
run_time() {  # HOW WALL_NS OUTFILE
    case $1 in
    wall) echo "$2" ;;
    larson) sed -n 's/.*relative time: \([0-9.]*\)s.*/\1/p' "$3" | awk '{ printf "%.0f\n", $1 * 1e9 }' ;;
    xmalloc) sed -n 's/^rtime: \([0-9.]*\),.*/\1/p' "$3" | awk '{ printf "%.0f\n", $1 * 1e9 }' ;;
    rptest) sed -n 's/.*\.\.\.*\([0-9][0-9]*\) memory ops.*/\1/p' "$3" |
            awk '$1 > 0 { printf "%.0f\n", 2000000 / $1 * 1e9 }' ;;
    glibcthread) sed -n 's/^\([0-9][0-9]*\) iterations.*/\1/p' "$3" |
            awk '$1 > 0 { printf "%.0f\n", 1e9 / $1 * 1e9 }' ;;
    esac
}

# run_one PROG ALLOC: one run; appends its time to t.PROG.ALLOC and its peak
# RSS (KiB) to m.PROG.ALLOC, or marks the cell failed.
run_one() {
    cmd="$out/$(var cmd "$1")"
    envs=$(var env "$2")
    t0=$(now)
    if [ -n "$timer" ]; then
        # shellcheck disable=SC2086
        (cd "$tmp" && $limit "$timer" -f 'maxrss %M' -o "$tmp/rss" env $envs $cmd) >"$tmp/out" 2>"$tmp/err"
    else
        # shellcheck disable=SC2086
        (cd "$tmp" && $limit env $envs $cmd) >"$tmp/out" 2>"$tmp/err"
    fi
    status=$?
    t1=$(now)
    t=$(run_time "$(var how "$1")" $((t1 - t0)) "$tmp/out")
    if [ $status -ne 0 ] || [ -z "$t" ]; then
        if [ ! -f "$tmp/fail.$1.$2" ]; then
            { echo "$1 with $2: exit status $status$([ -z "$t" ] && echo ", no time in its output")"
              tail -n 5 "$tmp/err" "$tmp/out" | sed 's/^/    /'; } >"$tmp/fail.$1.$2"
        fi
        return
    fi
    echo "$t" >>"$tmp/t.$1.$2"
    [ -n "$timer" ] && sed -n 's/^maxrss \([0-9]*\)/\1/p' "$tmp/rss" >>"$tmp/m.$1.$2"
}

nallocs=$(echo $allocs | wc -w)
echo "vigil peers bench: mimalloc-bench ($mb) programs, $rounds rounds, $(nproc 2>/dev/null || echo '?') cores"
printf 'warm-up (glibc)'
for p in $progs; do run_one "$p" glibc; done
rm -f "$tmp"/t.* "$tmp"/m.* "$tmp"/fail.*
printf ', rounds:'
r=1
while [ $r -le "$rounds" ]; do
    printf ' %d' $r
    order=$(echo $allocs | tr ' ' '\n' |
        awk -v s="$((r % nallocs))" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + s) % NR + 1] }')
    for p in $progs; do
        for a in $order; do run_one "$p" "$a"; done
    done
    r=$((r + 1))
done
echo

# ---- tables ----
# ratio A B: the median over the rounds of A's sample over B's same-round one.
ratio() {
    [ -s "$1" ] && [ -s "$2" ] || { echo "-"; return; }
    [ "$(wc -l <"$1")" -eq "$(wc -l <"$2")" ] || { echo "-"; return; }
    paste "$1" "$2" | awk '$2 > 0 { print $1 / $2 }' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
median() {  # FILE SCALE FORMAT
    [ -s "$1" ] || { echo "-"; return; }
    sort -n "$1" | awk -v s="$2" -v f="$3" '{ v[NR] = $1 } END { printf f "\n", ((NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) / s }'
}
spread() {
    [ -s "$1" ] || { echo "-"; return; }
    sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f\n", (v[NR] - v[1]) * 100 / m }'
}
cell() {  # KIND PROG ALLOC: the ratio to glibc, or "failed"
    if [ -f "$tmp/fail.$2.$3" ]; then echo failed; else ratio "$tmp/$1.$2.$3" "$tmp/$1.$2.glibc"; fi
}

heading() {
    printf '| %-22s |' program
    for a in $allocs; do [ "$a" = glibc ] || printf ' %s |' "$(echo "$a" | tr - ' ')"; done
    echo
    printf '|---|'; for a in $allocs; do [ "$a" = glibc ] || printf -- '---:|'; done; echo
}
ratio_table() {  # KIND TITLE
    echo
    echo "$2"
    heading
    for p in $progs; do
        printf '| %-22s |' "$(var label "$p")"
        for a in $allocs; do [ "$a" = glibc ] || printf ' %s |' "$(cell "$1" "$p" "$a")"; done
        echo
    done
}

ratio_table t "time / glibc's, median of the $rounds rounds' ratios (below 1: faster than glibc)"
[ -n "$timer" ] && ratio_table m "peak RSS / glibc's, median of the $rounds rounds' ratios"

echo
echo "glibc's own medians: time, s (larson, rptest, xmalloc-test, glibc-thread: the relative"
echo "time mimalloc-bench derives from their throughput), and peak RSS, KiB"
echo "| program | seconds | KiB |"
echo "|---|---:|---:|"
for p in $progs; do
    printf '| %-22s | %s | %s |\n' "$(var label "$p")" "$(median "$tmp/t.$p.glibc" 1e9 %.3f)" \
        "$(median "$tmp/m.$p.glibc" 1 %.0f)"
done
echo
echo "spread of the times over the rounds, (max - min) / median, %"
printf '| %-22s |' program; for a in $allocs; do printf ' %s |' "$(echo "$a" | tr - ' ')"; done; echo
printf '|---|'; for a in $allocs; do printf -- '---:|'; done; echo
for p in $progs; do
    printf '| %-22s |' "$(var label "$p")"
    for a in $allocs; do printf ' %s |' "$(spread "$tmp/t.$p.$a")"; done
    echo
done
echo
echo "commands (in $out; \$procs = 2):"
for p in $progs; do printf '  %-22s %s\n' "$(var label "$p")" "$(var cmd "$p")"; done
[ -n "$full" ] || echo "  (scaled down; alloc-test and glibc-simple with fewer iterations, see bench/peers.sh; PEERS_FULL=1: mimalloc-bench's own)"

failed=0
for f in "$tmp"/fail.*; do
    [ -f "$f" ] || continue
    [ $failed -eq 0 ] && { echo; echo "failed runs (the first failure of each cell):"; }
    failed=1
    cat "$f"
done
exit $failed
