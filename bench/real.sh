#!/bin/sh
# real.sh - real programs of the base system with vigil's preload library
# against glibc's malloc, and against mimalloc and jemalloc preloaded the
# same way (make bench-real).
#
#   real.sh BUILDDIR SRCDIR [ROUNDS]
#
# Allocators (columns): glibc (no preload); vigil (libvigil-preload.so, the
# arena); vigil-debug (the same with VIGIL_MALLOC=debug); mimalloc and
# jemalloc (their .so.2 in LD_PRELOAD, left out when not installed).
# REAL_ALLOCS names other columns instead (bench/trace.sh): any of those,
# vigil-trace (VIGIL_TRACE=16) and heaptrack (glibc under `heaptrack`);
# REAL_RATIOS the extra ratio columns, A/B (default vigil-debug/vigil).
#
# Programs (rows), each left out when not installed:
#   python3   JSON round-trip of 100k objects
#   perl      a hash of 200k strings, sorted, a third deleted
#   git       log -p of a generated repository of 4000 commits
#   gcc       gcc -O2 -c of vigil's src/debug.c
#   sort      sort of a generated 1M-line file, default options (sort sizes
#             its buffer by the machine's memory, and vigil-debug fills all
#             of it, as it fills every new block)
#
# Timing: perf stat's elapsed time and CPU time (task-clock: every thread
# and child process) of each run when perf can count, else the elapsed time
# from date(1).  ROUNDS rounds (default 7) after one warm-up round; a round
# runs every program with every allocator, the allocator order rotating from
# round to round so a noisy stretch is shared out.  Reported: the median of
# the rounds, and the median of the rounds' ratios to glibc (each ratio
# between runs seconds apart).  Every run must exit 0.
set -u
build=$1 src=$2 rounds=${3:-7}
preload="$build/.libs/libvigil-preload.so"
libdir=/usr/lib/x86_64-linux-gnu
[ -f "$preload" ] || { echo "real.sh: $preload is missing: build first" >&2; exit 1; }
command -v date >/dev/null && [ "$(date +%N)" != "%N" ] ||
    { echo "real.sh: needs date +%N (GNU date)" >&2; exit 1; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# ---- allocators: NAME, the environment that selects it, and a command
# the program runs under (heaptrack's) ----
allocs="glibc vigil vigil-debug"
ratios=${REAL_RATIOS:-vigil-debug/vigil}
env_glibc=""
env_vigil="LD_PRELOAD=$preload"
env_vigil_debug="LD_PRELOAD=$preload VIGIL_MALLOC=debug"
env_vigil_trace="LD_PRELOAD=$preload VIGIL_TRACE=16"
env_heaptrack=""
found=
if [ -f "$libdir/libmimalloc.so.2" ]; then
    found="$found mimalloc"
    env_mimalloc="LD_PRELOAD=$libdir/libmimalloc.so.2"
else
    echo "mimalloc: $libdir/libmimalloc.so.2 not found: column left out"
fi
if [ -f "$libdir/libjemalloc.so.2" ]; then
    found="$found jemalloc"
    env_jemalloc="LD_PRELOAD=$libdir/libjemalloc.so.2"
else
    echo "jemalloc: $libdir/libjemalloc.so.2 not found: column left out"
fi
ht=$(command -v heaptrack 2>/dev/null)
[ -n "$ht" ] && found="$found heaptrack"
wrap_heaptrack="$ht -o $tmp/heaptrack.out"
if [ -n "${REAL_ALLOCS:-}" ]; then
    allocs=
    for a in $REAL_ALLOCS; do
        case " glibc vigil vigil-debug vigil-trace $found " in
        *" $a "*) allocs="$allocs $a" ;;
        *) echo "$a: not installed: column left out" ;;
        esac
    done
else
    for a in mimalloc jemalloc; do
        case " $found " in *" $a "*) allocs="$allocs $a" ;; esac
    done
fi
alloc_env() { eval "echo \"\$env_$(echo "$1" | tr - _)\""; }
alloc_wrap() { eval "echo \"\${wrap_$(echo "$1" | tr - _):-}\""; }

# ---- programs: NAME and the command, as one shell word list each ----
find_real() {
    if [ -x "/usr/bin/$1" ]; then echo "/usr/bin/$1"; else command -v "$1" 2>/dev/null; fi
}
progs=
add() { progs="$progs $1"; eval "cmd_$1=\$2"; }

py=$(find_real python3)
if [ -n "$py" ]; then
    cat >"$tmp/roundtrip.py" <<'EOF'
import json
objs = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "x" * (i % 50)],
         "score": i * 0.5, "nested": {"a": i % 13, "b": str(i)}} for i in range(100000)]
text = json.dumps(objs, sort_keys=True)
assert json.loads(text) == objs
EOF
    add python3 "$py $tmp/roundtrip.py"
else
    echo "python3: not installed: row left out"
fi

pl=$(find_real perl)
if [ -n "$pl" ]; then
    cat >"$tmp/hash.pl" <<'EOF'
my %h;
for my $i (1 .. 200000) { $h{"key$i"} = "value" . ($i * 7) . ("x" x ($i % 40)); }
my $total = 0;
$total += length($h{$_}) for sort keys %h;
delete $h{"key$_"} for grep { $_ % 3 == 0 } 1 .. 200000;
EOF
    add perl "$pl $tmp/hash.pl"
else
    echo "perl: not installed: row left out"
fi

gt=$(find_real git)
if [ -n "$gt" ]; then
    # 4000 commits, each changing a few lines of one of 50 files.
    awk 'BEGIN {
        for (c = 1; c <= 4000; c++) {
            printf "commit refs/heads/main\n"
            printf "committer Bench <bench@example.org> %d +0000\n", 1600000000 + c
            msg = "change " c
            printf "data %d\n%s\n", length(msg), msg
            f = c % 50
            body = ""
            for (l = 0; l < 100; l++)
                body = body sprintf("file %d line %d version %d\n", f, l, (l % 7 == c % 7) ? c : 0)
            printf "M 644 inline f%02d.txt\ndata %d\n%s\n", f, length(body), body
        }
    }' >"$tmp/import"
    if "$gt" init -q "$tmp/repo" && "$gt" -C "$tmp/repo" fast-import --quiet <"$tmp/import"; then
        add git "$gt -C $tmp/repo --no-pager log -p main"
    else
        echo "git: could not generate the repository: row left out"
    fi
else
    echo "git: not installed: row left out"
fi

cc_=$(find_real gcc)
if [ -n "$cc_" ]; then
    add gcc "$cc_ -O2 -c -I$build -I$src/include -I$src/annotate -I$src/src $src/src/debug.c -o $tmp/debug.o"
else
    echo "gcc: not installed: row left out"
fi

st=$(find_real sort)
if [ -n "$st" ]; then
    awk 'BEGIN { for (i = 0; i < 1000000; i++) printf "%d line %d %x\n", (i * 7919) % 1000003, i, i * 31 }' \
        >"$tmp/lines.txt"
    add sort "$st $tmp/lines.txt"
else
    echo "sort: not installed: row left out"
fi

[ -n "$progs" ] || { echo "real.sh: none of the programs is installed" >&2; exit 1; }

# ---- timing ----
# perf stat, when the kernel lets it count, gives the elapsed time of the
# program alone and its CPU time (all threads and children); otherwise
# date(1) around the run gives the elapsed time only.
perf=$(command -v perf 2>/dev/null)
if [ -n "$perf" ] && ! LC_ALL=C "$perf" stat -e task-clock -o /dev/null -- true 2>/dev/null; then
    perf=
fi
now() { date +%s%N; }

# time_one PROG ALLOC: one run; appends its nanoseconds to the sample files
# t.PROG.ALLOC (elapsed) and c.PROG.ALLOC (CPU, with perf).
time_one() {
    eval "cmd=\$cmd_$1"
    envs=$(alloc_env "$2")
    cmd="$(alloc_wrap "$2") $cmd"
    if [ -n "$perf" ]; then
        # shellcheck disable=SC2086
        LC_ALL=C "$perf" stat -e task-clock -o "$tmp/perf" -- env $envs $cmd >/dev/null 2>"$tmp/stderr"
        status=$?
    else
        t0=$(now)
        # shellcheck disable=SC2086
        env $envs $cmd >/dev/null 2>"$tmp/stderr"
        status=$?
        t1=$(now)
    fi
    if [ $status -ne 0 ]; then
        echo "real.sh: $1 with $2 exited $status:" >&2
        sed 's/^/    /' "$tmp/stderr" | tail -n 10 >&2
        exit 1
    fi
    if [ -n "$perf" ]; then
        awk '/msec task-clock/ { printf "%.0f\n", $1 * 1e6 }' "$tmp/perf" >>"$tmp/c.$1.$2"
        awk '/seconds time elapsed/ { printf "%.0f\n", $1 * 1e9 }' "$tmp/perf" >>"$tmp/t.$1.$2"
    else
        echo $((t1 - t0)) >>"$tmp/t.$1.$2"
    fi
}

nallocs=$(echo $allocs | wc -w)
echo "vigil real-program bench: $rounds rounds after a warm-up, $(nproc 2>/dev/null || echo '?') cores"
printf 'warm-up'
r=0
while [ $r -le "$rounds" ]; do
    [ $r -eq 0 ] || printf ' %d' $r
    # Rotate the allocator order by one each round.
    shift_by=$((r % nallocs))
    order=$(echo $allocs | tr ' ' '\n' | awk -v s="$shift_by" '{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + s) % NR + 1] }')
    for p in $progs; do
        for a in $order; do
            time_one "$p" "$a"
        done
    done
    if [ $r -eq 0 ]; then
        rm -f "$tmp"/t.* "$tmp"/c.*
        printf ', rounds:'
    fi
    r=$((r + 1))
done
echo

# ratio A B: the median over the rounds of A's time over B's in the same
# round.  The runs of one round are seconds apart, so a slow stretch of a
# shared machine weighs on both sides of each ratio.
ratio() {
    paste "$1" "$2" | awk '{ print $1 / $2 }' | sort -n |
        awk '{ v[NR] = $1 } END { printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m / 1e9 }'; }
spread() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f", (v[NR] - v[1]) * 100 / m }'; }

# table KIND TITLE: medians, ratios to glibc, spreads of sample files KIND.*
table() {
    echo
    echo "$2, seconds, median of $rounds runs"
    printf '%-10s' program; for a in $allocs; do printf ' %12s' "$a"; done; echo
    for p in $progs; do
        printf '%-10s' "$p"
        for a in $allocs; do printf ' %12s' "$(median "$tmp/$1.$p.$a")"; done
        echo
    done
    echo "$2, ratio to glibc, median of the $rounds rounds' ratios (below 1: faster than glibc);"
    echo "then the ratios $ratios (vigil-debug/vigil: the debug hooks' cost)"
    printf '%-10s' program
    for a in $allocs; do [ "$a" = glibc ] || printf ' %12s' "$a"; done
    for q in $ratios; do printf ' %20s' "$q"; done
    echo
    for p in $progs; do
        printf '%-10s' "$p"
        for a in $allocs; do
            [ "$a" = glibc ] && continue
            printf ' %12s' "$(ratio "$tmp/$1.$p.$a" "$tmp/$1.$p.glibc")"
        done
        for q in $ratios; do
            if [ -f "$tmp/$1.$p.${q%/*}" ] && [ -f "$tmp/$1.$p.${q#*/}" ]; then
                printf ' %20s' "$(ratio "$tmp/$1.$p.${q%/*}" "$tmp/$1.$p.${q#*/}")"
            else
                printf ' %20s' -
            fi
        done
        echo
    done
    echo "$2, spread over the runs, (max - min) / median, %"
    printf '%-10s' program; for a in $allocs; do printf ' %12s' "$a"; done; echo
    for p in $progs; do
        printf '%-10s' "$p"
        for a in $allocs; do printf ' %12s' "$(spread "$tmp/$1.$p.$a")"; done
        echo
    done
}

table t "elapsed time"
[ -n "$perf" ] && table c "CPU time (user + system, all threads and child processes)"
[ -n "$perf" ] || echo "(perf stat is not available: elapsed time only, from date)"

# ---- what tracing keeps and costs an allocation (REAL_TRACE_MEMORY=1) ----
# Each program once more with VIGIL_TRACE=16 and VIGIL_TRACE_TOP=1: every
# process it runs prints its trace memory line at exit, summed here.  The
# cost an allocation is the median time traced less untraced (CPU time with
# perf: every process counted), over the allocations traced.
median_ns() { sort -n "$1" | awk '{ v[NR] = $1 } END { printf "%.0f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
per_alloc() {
    if [ -f "$tmp/$kind.$1.$2" ] && [ -f "$tmp/$kind.$1.$3" ]; then
        echo "$(median_ns "$tmp/$kind.$1.$2") $(median_ns "$tmp/$kind.$1.$3") $4" |
            awk '{ printf "%.0f", ($1 - $2) / ($3 > 0 ? $3 : 1) }'
    else
        echo -
    fi
}
if [ -n "${REAL_TRACE_MEMORY:-}" ]; then
    kind=t
    [ -n "$perf" ] && kind=c
    echo
    echo "tracing, 16 frames: what it keeps at exit (every process summed), and its cost an"
    echo "allocation: ns, (traced - untraced) / allocations, $([ "$kind" = c ] && echo "CPU" || echo "elapsed") time medians"
    printf '%-10s %9s %12s %12s %10s %11s %11s %7s %12s %12s\n' program processes allocations \
        live-blocks table-B B/block depot-B stacks vigil-trace heaptrack
    for p in $progs; do
        eval "cmd=\$cmd_$p"
        # shellcheck disable=SC2086
        env LD_PRELOAD="$preload" VIGIL_TRACE=16 VIGIL_TRACE_TOP=1 $cmd >/dev/null 2>"$tmp/trace.err"
        set -- $(awk '/^vigil: trace memory: / {
                n++; table += $6; live += $9; depot += $12 + $17; stacks += $21; allocs += $23 }
            END { printf "%d %d %d %d %d %d", n, allocs, live, table, depot, stacks }' "$tmp/trace.err")
        perblock=$(echo "$4 $3" | awk '{ printf "%.1f", ($2 > 0 ? $1 / $2 : 0) }')
        printf '%-10s %9s %12s %12s %10s %11s %11s %7s %12s %12s\n' "$p" "$1" "$2" "$3" "$4" \
            "$perblock" "$5" "$6" "$(per_alloc "$p" vigil-trace vigil "$2")" \
            "$(per_alloc "$p" heaptrack glibc "$2")"
    done
    echo "(B/block: the table's bytes over the blocks live at exit; it is sized by its peak)"
fi
