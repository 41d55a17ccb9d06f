#!/bin/sh
# leaks.sh - the leak check of `make check` (target check-leaks): the seeded
# program tests/programs/leaky.c at exit with VIGIL_LEAKS=1, through the API
# in every mode and through the preload, against memcheck's count of the
# same program with plain malloc; the report's words and stacks; the exit
# status; suppressions; vigil run --leaks; vigil_leak_check; the report at
# exit on the stderr of start-up when the program closed fd 2.
# Usage: leaks.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
leaky="$build/tests/leaky"
preload="$build/.libs/libvigil-preload.so"
vigil="$build/tools/vigil"
. "$src/tests/tools/checks.sh"

line() { grep -n -- "$1" "$src/tests/programs/leaky.c" | head -n 1 | cut -d: -f1; }
at_block=$(line '@block')
at_direct40=$(line '@direct40') at_indirect16=$(line '@indirect16')
at_direct1000=$(line '@direct1000') at_indirect100=$(line '@indirect100') at_cycle=$(line '@cycle')

# The report of leaky.c: memcheck's counts (definitely lost 1,104 bytes in
# 3 blocks, indirectly lost 180 in 3), each entry with its stack.
report_is() {
    what=$1
    has "$what: the first line" "$err" '^vigil: detected memory leaks$'
    has "$what: the summary" "$err" '^vigil: SUMMARY: 1284 byte\(s\) leaked in 6 allocation\(s\)\.$'
    [ "$(grep -c '^Direct leak of' "$err")" -eq 3 ] && ok "$what: 3 direct" || bad "$what: 3 direct"
    [ "$(grep -c '^Indirect leak of' "$err")" -eq 3 ] && ok "$what: 3 indirect" || bad "$what: 3 indirect"
    # Largest first, each with block() then its caller's line.
    order=$(grep -E '^(Direct|Indirect) leak' "$err" | sed -E 's/ leak of ([0-9]+) byte.*/ \1/' | tr '\n' ' ')
    [ "$order" = "Direct 1000 Indirect 100 Direct 64 Indirect 64 Direct 40 Indirect 16 " ] &&
        ok "$what: largest first" || { echo "    (order: $order)"; bad "$what: largest first"; }
    for entry in "Direct leak of 40 byte(s):$at_direct40" "Indirect leak of 16 byte(s):$at_indirect16" \
                 "Direct leak of 1000 byte(s):$at_direct1000" "Indirect leak of 100 byte(s):$at_indirect100"; do
        head=${entry%:*} at=${entry##*:}
        if grep -A3 -F -- "$head" "$err" | grep -Eq "#0 0x[0-9a-f]+ in block .*leaky\.c:$at_block$" &&
           grep -A3 -F -- "$head" "$err" | grep -Eq "#1 0x[0-9a-f]+ in make_leaks .*leaky\.c:$at$"; then
            ok "$what: $head: block, make_leaks line $at"
        else
            bad "$what: $head: block, make_leaks line $at"
        fi
    done
    has "$what: the cycle's site" "$err" "#1 0x[0-9a-f]+ in make_leaks .*leaky\\.c:$at_cycle\$"
    lacks "$what: kept blocks not reported" "$err" 'make_kept|leak of (24|48|2000|32|88|72) byte'
}

echo "--- through the API, VIGIL_LEAKS=1, every mode"
for mode in arena arena_debug malloc malloc_debug; do
    run "api $mode: a leak exits 23" 23 env VIGIL_MALLOC=$mode VIGIL_LEAKS=1 "$leaky"
    report_is "api $mode"
done

echo "--- through the preload"
for mode in arena debug malloc_debug; do
    run "preload $mode: a leak exits 23" 23 env VIGIL_MALLOC=$mode VIGIL_LEAKS=1 LD_PRELOAD="$preload" "$leaky" libc
    report_is "preload $mode"
done

echo "--- the same program under memcheck, plain malloc"
if command -v valgrind >/dev/null 2>&1; then
    run "memcheck: runs" 0 env VIGIL_MALLOC=malloc valgrind --leak-check=full "$leaky"
    has "memcheck: definitely lost 1,104 in 3, as vigil's direct" "$err" 'definitely lost: 1,104 bytes in 3 blocks'
    has "memcheck: indirectly lost 180 in 3, as vigil's indirect" "$err" 'indirectly lost: 180 bytes in 3 blocks'
    run "under memcheck VIGIL_LEAKS says memcheck checks" 0 env VIGIL_LEAKS=1 valgrind -q "$leaky"
    has "under memcheck: said" "$err" "no leak check under Valgrind: memcheck's --leak-check=full reports leaks"
else
    skip "memcheck: no valgrind"
fi

echo "--- status, suppressions, off"
run "VIGIL_ERROR_EXITCODE chooses the status" 86 env VIGIL_LEAKS=1 VIGIL_ERROR_EXITCODE=86 "$leaky"
printf '# leaky.c allocates its leaks here\nleak:make_leaks\n' >"$tmp/supp"
run "suppressed: exit 0" 0 env VIGIL_LEAKS=1 VIGIL_LEAK_SUPPRESSIONS="$tmp/supp" "$leaky"
lacks "suppressed: no report" "$err" 'detected memory leaks'
printf 'leak:^make_leak$\n' >"$tmp/supp2"
run "anchored pattern matching nothing: reported" 23 env VIGIL_LEAKS=1 VIGIL_LEAK_SUPPRESSIONS="$tmp/supp2" "$leaky"
printf 'leak:leaky.c\n' >"$tmp/supp3"
run "a file name suppresses" 0 env VIGIL_LEAKS=1 VIGIL_LEAK_SUPPRESSIONS="$tmp/supp3" "$leaky"
run "VIGIL_LEAKS=0: no check" 0 env VIGIL_LEAKS=0 "$leaky"
lacks "VIGIL_LEAKS=0: no report" "$err" 'leak'
run "VIGIL_LEAKS=maybe refused" 0 env VIGIL_LEAKS=maybe "$leaky"
has "VIGIL_LEAKS=maybe: named" "$err" 'vigil: VIGIL_LEAKS=maybe is not valid; accepted: 0, 1'

echo "--- vigil run --leaks, vigil_leak_check"
run "vigil run --leaks: status 86" 86 env VIGIL_PRELOAD="$preload" "$vigil" run --leaks -- "$leaky" libc
report_is "vigil run --leaks"
run "vigil_leak_check with tracing: 6" 0 env VIGIL_TRACE=16 "$leaky" check
has "vigil_leak_check: returns 6" "$out" '^vigil_leak_check: 6$'
has "vigil_leak_check: its report on the FILE" "$out" '^vigil: SUMMARY: 1284 byte\(s\) leaked in 6 allocation\(s\)\.$'
run "vigil_leak_check without tracing: 0" 0 "$leaky" check
has "vigil_leak_check without tracing: says why" "$out" 'no leak check: tracing is off'

echo "--- the report at exit reaches the stderr of start-up, closed by the program"
hc_line=$(grep -n '/\* @leak-make \*/$' "$src/tests/programs/heapcheck.c" | cut -d: -f1)
closed_is() {
    has "$1: the report" "$err" '^vigil: detected memory leaks$'
    has "$1: the block" "$err" '^Direct leak of 100 byte\(s\) in 1 object\(s\) allocated from:$'
    has "$1: its site" "$err" "^    #1 0x[0-9a-f]+ in leak_main (.*/)?heapcheck\\.c:$hc_line\$"
}
run "api: stderr closed at exit, status 23" 23 env VIGIL_LEAKS=1 "$build/tests/heapcheck" leak-closed-stderr
closed_is "api closed stderr"
run "preload: stderr closed at exit, status 23" 23 env VIGIL_LEAKS=1 LD_PRELOAD="$preload" \
    "$build/tests/heapcheck_libc" leak-closed-stderr
closed_is "preload closed stderr"

echo "leaks: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
