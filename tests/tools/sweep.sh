#!/bin/sh
# sweep.sh - fault injection for unmodified programs (target check-sweep):
# VIGIL_FAIL's items through libvigil-preload.so, every allocation function
# a candidate, in arena and debug modes; vigil run --fail; and vigil sweep
# finding the unhandled failures of tests/programs/fail_unchecked.c (its
# allocation number, function and line), nothing in fail_checked.c, and
# its options.
# Usage: sweep.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
vigil="$build/tools/vigil"
probe="$build/tests/failprobe_libc"
unchecked="$build/tests/fail_unchecked"
checked="$build/tests/fail_checked"

VIGIL_PRELOAD="$build/.libs/libvigil-preload.so"
export VIGIL_PRELOAD
unset VIGIL_MALLOC VIGIL_MALLOCSTATS VIGIL_QUARANTINE VIGIL_ABORT VIGIL_ERROR_EXITCODE \
      VIGIL_BREAK_SERIAL VIGIL_FAIL VIGIL_FAIL_LOG VIGIL_FAIL_FILE LD_PRELOAD

# tmp, out, err; run, has, lacks, ok, skip, bad
. "$src/tests/tools/checks.sh"

# is NAME FILE TEXT: the whole of FILE is TEXT.
is() {
    if [ "$(cat "$2")" = "$3" ]; then ok "$1"; else echo "    (wanted: $3)"; bad "$1"; fi
}

# line FILE TEXT: the number of the line of tests/programs/FILE holding TEXT.
line() { grep -nF -- "$2" "$src/tests/programs/$1" | head -n 1 | cut -d: -f1; }

preload() { env LD_PRELOAD="$VIGIL_PRELOAD" "$@"; }

echo "--- VIGIL_FAIL's items, for an unmodified program"
run "nth" 0 env VIGIL_FAIL=nth=2 LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=16*4
is "nth: the 2nd allocation fails" "$out" "1 mem.malloc 16*4: .X.."
for mode in arena debug malloc; do
    run "every call is a candidate ($mode)" 0 env VIGIL_MALLOC=$mode VIGIL_FAIL=every=2 \
        LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=16*2 mem.calloc=16*2 mem.realloc=64*2 \
        mem.posix_memalign=100*2 mem.aligned_alloc=100*2 mem.memalign=100*2 mem.malloc=5000*2
    is "malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign ($mode)" "$out" \
"1 mem.malloc 16*2: .X
3 mem.calloc 16*2: .X
5 mem.realloc 64*2: .X
7 mem.posix_memalign 100*2: .X
9 mem.aligned_alloc 100*2: .X
11 mem.memalign 100*2: .X
13 mem.malloc 5000*2: .X"
    lacks "no report ($mode)" "$err" "vigil"
    run "realloc keeps the old block ($mode)" 0 env VIGIL_MALLOC=$mode VIGIL_FAIL=nth=2 \
        LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=24 mem.realloc=2000
    is "realloc: ENOMEM, the old block whole ($mode)" "$out" \
"1 mem.malloc 24: ok
2 mem.realloc 2000: ENOMEM, old block kept"
done
run "after, times" 0 env VIGIL_FAIL=after=3,times=4 LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=16*10
is "after=3,times=4" "$out" "1 mem.malloc 16*10: ...XXXX..."
run "size" 0 env VIGIL_FAIL=size=1K,every=2 LD_PRELOAD="$VIGIL_PRELOAD" "$probe" \
    mem.malloc=100*4 mem.malloc=1024*4
is "size=1K: only big requests count" "$out" "1 mem.malloc 100*4: ....
5 mem.malloc 1024*4: .X.X"
run "domain" 0 env VIGIL_FAIL=domain=obj,after=0 LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=16*4
is "domain=obj: the preload's blocks are mem's" "$out" "1 mem.malloc 16*4: ...."
preload env VIGIL_FAIL=prob=0.3,seed=99 "$probe" mem.malloc=16*60 >"$tmp/p1" 2>&1
run "prob" 0 env VIGIL_FAIL=prob=0.3,seed=99 LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=16*60
if cmp -s "$out" "$tmp/p1" && grep -q X "$out" && grep -q '\.' "$out"; then
    ok "prob=0.3,seed=99: the same failures run after run"
else
    bad "prob=0.3,seed=99: the same failures run after run"
fi
run "malformed" 0 env VIGIL_FAIL=nth=2,every LD_PRELOAD="$VIGIL_PRELOAD" "$probe" mem.malloc=16*3
is "malformed: nothing injected" "$out" "1 mem.malloc 16*3: ..."
is "malformed: one line, the item and the syntax" "$err" \
"vigil: VIGIL_FAIL=nth=2,every is not valid (every: not NAME=VALUE); syntax: VIGIL_FAIL=ITEM[,ITEM...] with items nth=N, every=N, after=N, prob=P (0 to 1), seed=S, size=N[K|M|G], times=K, domain=raw|mem|obj; nothing is injected"

echo "--- VIGIL_FAIL_LOG: the stack of each failure, symbolized on the failing heap"
l=$(line failprobe.c 'return malloc(size);')
# after=1: every allocation but the first fails, the symbolizer's own
# (libdw mallocs through the preload) would too if they counted.
run "log" 0 env VIGIL_FAIL=after=1,times=2 VIGIL_FAIL_LOG=1 LD_PRELOAD="$VIGIL_PRELOAD" \
    "$probe" mem.malloc=10 mem.malloc=20 mem.malloc=30 mem.malloc=40
is "log: the probe saw two failures" "$out" "1 mem.malloc 10: ok
2 mem.malloc 20: ENOMEM
3 mem.malloc 30: ENOMEM
4 mem.malloc 40: ok"
has "log: failure #1 is allocation #2" "$err" '^vigil: injected failure #1 \(allocation #2, 20 bytes\)$'
has "log: failure #2 is allocation #3 (the record's allocations not counted)" "$err" \
    '^vigil: injected failure #2 \(allocation #3, 30 bytes\)$'
has "log: the failing call, function and line" "$err" \
    "^    #0 0x[0-9a-f]+ in do_op[.a-z0-9]* ([^ ]*/)?tests/programs/failprobe\.c:$l\$"
has "log: its caller" "$err" "^    #1 0x[0-9a-f]+ in main ([^ ]*/)?tests/programs/failprobe\.c:[0-9]+\$"
lacks "log: no frame of vigil's" "$err" "preload\\.c|fail\\.c|domain\\.c"

echo "--- vigil run --fail"
run "run --fail" 0 "$vigil" run --fail=nth=3 -- "$probe" mem.malloc=16*4
is "run --fail: VIGIL_FAIL set" "$out" "1 mem.malloc 16*4: ..X."
has "run --fail: VIGIL_FAIL_LOG on" "$err" '^vigil: injected failure #1 \(allocation #3, 16 bytes\)$'
run "run --fail, VIGIL_FAIL_LOG=0 kept" 0 env VIGIL_FAIL_LOG=0 "$vigil" run --fail=nth=3 -- "$probe" mem.malloc=16*4
is "run --fail: no log when VIGIL_FAIL_LOG=0" "$err" ""
run "run --fail=: refused" 125 "$vigil" run --fail= -- "$probe"
has "run --fail=: names the option" "$err" "^vigil: --fail: no items given"
run "run --fail=junk: the library's one line" 0 "$vigil" run --fail=junk -- "$probe" mem.malloc=16*2
has "run --fail=junk: refused" "$err" '^vigil: VIGIL_FAIL=junk is not valid \(junk: not NAME=VALUE\); syntax: '
is "run --fail=junk: nothing injected" "$out" "1 mem.malloc 16*2: .."
run "help shows sweep and --fail" 0 "$vigil" --help
has "help: sweep" "$out" '^       vigil sweep \[--debug\]'
has "help: --fail" "$out" '--fail=SPEC'

echo "--- vigil sweep finds the unchecked allocation"
run "sweep: a crash is a finding" 86 "$vigil" sweep -- "$unchecked" crash
has "sweep: allocation #2, the signal" "$out" \
    '^vigil sweep: allocation #2 \(6 bytes\) failed, and the program died of signal 11 \(SIGSEGV\):$'
has "sweep: the record" "$out" '^vigil: injected failure #1 \(allocation #2, 6 bytes\)$'
has "sweep: the unchecked malloc, function and line" "$out" \
    "^    #0 0x[0-9a-f]+ in copy_name ([^ ]*/)?tests/programs/fail_unchecked\.c:$(line fail_unchecked.c 'char *p = malloc(n);')\$"
has "sweep: its caller" "$out" \
    "^    #1 0x[0-9a-f]+ in main ([^ ]*/)?tests/programs/fail_unchecked\.c:$(line fail_unchecked.c 'copy_name(argc')\$"
has "sweep: how to run it again" "$out" "^  again: vigil run --fail=nth=2 -- $unchecked crash\$"
has "sweep: where it ended" "$out" '^vigil sweep: allocations #1 to #3 failed one at a time; run 4 met no injected failure$'
has "sweep: one finding" "$out" '^vigil sweep: 1 finding\(s\)$'
lacks "sweep: the clean error exits are not findings" "$out" 'allocation #[13] '
lacks "sweep: no progress when stderr is not a terminal" "$err" "$(printf '\r')"
run "sweep: one run at a time, the same" 86 "$vigil" sweep --jobs=1 -- "$unchecked" crash
has "sweep --jobs=1: allocation #2" "$out" '^vigil sweep: allocation #2 \(6 bytes\) failed'

run "sweep: a hang is a finding" 86 "$vigil" sweep --timeout=1 -- "$unchecked" hang
has "sweep: the hang, allocation #2" "$out" \
    '^vigil sweep: allocation #2 \(100 bytes\) failed, and the program hung \(still running after 1 s, killed\):$'
has "sweep: the hang's stack" "$out" \
    "^    #0 0x[0-9a-f]+ in main ([^ ]*/)?tests/programs/fail_unchecked\.c:$(line fail_unchecked.c 'char *greeting = malloc(100);')\$"

run "sweep --debug: a double free on the way out is a finding" 86 "$vigil" sweep --debug -- "$unchecked" twice
has "sweep --debug: the report" "$out" \
    '^vigil sweep: allocation #2 \(100 bytes\) failed, and the program drew a vigil report \(exit status 86\):$'
has "sweep --debug: the report's words" "$out" '^  \| vigil: double free on block 0x[0-9a-f]+ \(32 bytes'
has "sweep --debug: run again with --debug" "$out" "^  again: vigil run --debug --fail=nth=2 -- $unchecked twice\$"

echo "--- vigil sweep: nothing in a program that checks every allocation"
run "sweep: no finding" 0 "$vigil" sweep -- "$checked"
has "sweep: every allocation failed once" "$out" \
    '^vigil sweep: allocations #1 to #12 failed one at a time; run 13 met no injected failure$'
has "sweep: no findings" "$out" '^vigil sweep: no findings$'
lacks "sweep: no finding printed" "$out" 'failed, and the program'
run "sweep --debug: no finding" 0 "$vigil" sweep --debug -- "$checked"

echo "--- vigil sweep's range and size"
run "sweep --from --to" 86 "$vigil" sweep --from=2 --to=2 -- "$unchecked" crash
has "--from=2 --to=2: the one run" "$out" '^vigil sweep: allocations #2 to #2 failed one at a time; stopped at --to=2$'
run "sweep --to below the finding" 0 "$vigil" sweep --to=1 -- "$unchecked" crash
has "--to=1: allocation #1 alone" "$out" '^vigil sweep: allocations #1 to #1 failed one at a time; stopped at --to=1$'
run "sweep --size" 0 "$vigil" sweep --size=50 -- "$unchecked" crash
has "--size=50: only the 100-byte greeting" "$out" \
    '^vigil sweep: allocations #1 to #1 failed one at a time; run 2 met no injected failure$'
run "sweep --size=4K: nothing that big" 0 "$vigil" sweep --size=4K -- "$unchecked" crash
has "--size=4K: no allocation failed" "$out" '^vigil sweep: no allocation failed; run 1 met no injected failure$'

echo "--- vigil sweep's errors"
run "sweep: no program" 125 "$vigil" sweep
has "sweep: no program: said" "$err" "^vigil: sweep: no program given"
run "sweep: --jobs=0" 125 "$vigil" sweep --jobs=0 -- "$checked"
run "sweep: --timeout=x" 125 "$vigil" sweep --timeout=x -- "$checked"
run "sweep: --to below --from" 125 "$vigil" sweep --from=3 --to=2 -- "$checked"
run "sweep: --size=junk" 125 "$vigil" sweep --size=junk -- "$checked"
run "sweep: unknown option" 125 "$vigil" sweep --frobnicate -- "$checked"
run "sweep: program not found" 127 "$vigil" sweep -- no-such-program-here

echo "sweep: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
