#!/bin/sh
# heapcheck.sh - the check of every live debug block (run by check-leaks):
# blocks of tests/programs/heapcheck.c damaged and never freed, found at
# exit, through the API in every debug mode and through the preload; the
# exit status, the report's words and every frame of its stack (function
# and heapcheck.c:LINE, the line found by its "@NAME" marker);
# vigil_check_heap's count and its report; the report at exit reaching a
# stderr the program closed; a healthy program silent.
# Usage: heapcheck.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
source="$src/tests/programs/heapcheck.c"
preload="$build/.libs/libvigil-preload.so"
vigil="$build/tools/vigil"
bad_lines=40
. "$src/tests/tools/checks.sh"

if ! grep -q '^#define VIGIL_HAVE_LIBDW 1' "$build/config.h"; then
    skip "heapcheck: built without libdw, frames have no file:line"
    echo "heapcheck: $pass passed, $fail failed, $skip skipped"
    exit 0
fi

. "$src/tests/tools/frames.sh"

# frames NAME HEADING FUNC@MARKER...: the stack under HEADING in $err is
# exactly these frames (expect_frames).
frames() {
    n=$1 h=$2; shift 2
    expect_frames "$err" "$n" "$h" "$@"
}

# The block the program printed last (its stdout, or $1).
block() { grep '^0x' "${1:-$out}" | tail -n 1; }

MAKE=make_block@make MAIN=main@main
FOUND="    found at exit, when every live block was checked: the block was never freed"

# at_exit NAME CASE WORDS SIZE ALLOC-FRAMES...: the report at exit of CASE.
at_exit() {
    name=$1 case=$2 words=$3 size=$4; shift 4
    has "$name: the first line" "$err" "^vigil: $words on block $(block) \\($size bytes, API 'm'\\)\$"
    has "$name: found at exit" "$err" "^$FOUND\$"
    lacks "$name: no bad call" "$err" ' called by thread '
    [ "$(grep -c '^vigil: .* on block' "$err")" -eq 1 ] && ok "$name: one report" || bad "$name: one report"
    frames "$name" "allocated by thread T${thread:-0} here:" "$@"
}

cases() {
    prefix=$1 status=$2; shift 2
    run "$prefix exit-small: status $status" "$status" "$@" exit-small
    at_exit "$prefix exit-small" exit-small "buffer overflow" 24 $MAKE exit_small@small-make $MAIN
    run "$prefix exit-large: status $status" "$status" "$@" exit-large
    at_exit "$prefix exit-large" exit-large "buffer overflow" 5000 $MAKE exit_large@large-make $MAIN
    run "$prefix memcpy: status $status" "$status" "$@" memcpy
    at_exit "$prefix memcpy" memcpy "buffer overflow" 19 $MAKE copy_string@memcpy-make $MAIN
    has "$prefix memcpy: the NUL past the end" "$err" '^        at p\+19: 0x00 \*\*\* OUCH$'
    run "$prefix thread: status $status" "$status" "$@" thread
    thread=1 at_exit "$prefix thread" thread "buffer overflow" 40 $MAKE thread_main@thread-make
    run "$prefix clean: exit 0" 0 "$@" clean
    lacks "$prefix clean: no report" "$err" '^vigil:'
    has "$prefix clean: ran to the end" "$out" '^done$'
}

echo "--- through the API: VIGIL_MALLOC=debug, arena_debug, malloc_debug"
for mode in debug arena_debug malloc_debug; do
    cases "api $mode" 86 env VIGIL_MALLOC=$mode VIGIL_ERROR_EXITCODE=86 "$build/tests/heapcheck"
done
run "api: without VIGIL_ERROR_EXITCODE, abort as the hooks do" 134 \
    env VIGIL_MALLOC=debug "$build/tests/heapcheck" exit-small
has "api abort: said" "$err" '^vigil: aborting \(VIGIL_ABORT=0 reports and continues\)$'
run "api: VIGIL_ABORT=0 reports and goes on" 0 \
    env VIGIL_MALLOC=debug VIGIL_ABORT=0 "$build/tests/heapcheck" exit-small
has "api VIGIL_ABORT=0: reported" "$err" "^$FOUND\$"
run "api: no debug mode, no check" 0 env VIGIL_MALLOC=arena "$build/tests/heapcheck" exit-small
lacks "api arena: no report" "$err" '^vigil:'

echo "--- vigil_check_heap"
run "check: two damaged, status 0 with VIGIL_ABORT=0" 0 \
    env VIGIL_MALLOC=debug VIGIL_ABORT=0 "$build/tests/heapcheck" check
has "check: returns 2" "$out" '^vigil_check_heap: 2$'
[ "$(grep -c '^vigil: .* on block' "$err")" -eq 2 ] && ok "check: two reports" || bad "check: two reports"
has "check: the overflow" "$err" "^vigil: buffer overflow on block $(grep '^0x' "$out" | head -n 1) \\(16 bytes, API 'm'\\)\$"
has "check: the underflow" "$err" "^vigil: buffer underflow on block $(block) \\(3000 bytes, API 'm'\\)\$"
has "check: found by it" "$err" '^    found by vigil_check_heap, which checks every live block: this is what freeing the block now would report$'
frames "check" "vigil_check_heap called by thread T0 here:" check@check check_damaged@check-call $MAIN
# The overflow's report comes first or second (the record is by address
# hash): each allocation stack is one of the two sites.
for site in check-make1 check-make2; do
    n=$(line $site)
    has "check: allocated at $site" "$err" "^    #1 0x[0-9a-f]+ in check_damaged (.*/)?heapcheck\\.c:$n\$"
done
run "check: stops at the first when aborting" 86 \
    env VIGIL_MALLOC=debug VIGIL_ERROR_EXITCODE=86 "$build/tests/heapcheck" check
[ "$(grep -c '^vigil: .* on block' "$err")" -eq 1 ] && ok "check abort: one report" || bad "check abort: one report"
run "check: a healthy heap gives 0" 0 env VIGIL_MALLOC=malloc_debug "$build/tests/heapcheck" check-clean
has "check clean: returns 0" "$out" '^vigil_check_heap: 0$'
lacks "check clean: no report" "$err" '^vigil:'

echo "--- stderr closed by the program at exit"
run "closed stderr: status 86" 86 env VIGIL_MALLOC=debug VIGIL_ERROR_EXITCODE=86 \
    "$build/tests/heapcheck" closed-stderr
at_exit "closed stderr" closed-stderr "buffer overflow" 24 \
    $MAKE exit_small@small-make closed_stderr@closed-small $MAIN

if [ -f "$preload" ]; then
    echo "--- through the preload: an unmodified program"
    cases "preload debug" 86 env VIGIL_PRELOAD="$preload" "$vigil" run --debug -- \
        "$build/tests/heapcheck_libc"
    run "preload closed stderr: status 86" 86 env VIGIL_PRELOAD="$preload" "$vigil" run --debug -- \
        "$build/tests/heapcheck_libc" closed-stderr
    at_exit "preload closed stderr" closed-stderr "buffer overflow" 24 \
        $MAKE exit_small@small-make closed_stderr@closed-small $MAIN
    run "preload malloc_debug: status 86" 86 env VIGIL_MALLOC=malloc_debug VIGIL_ERROR_EXITCODE=86 \
        LD_PRELOAD="$preload" "$build/tests/heapcheck_libc" exit-large
    at_exit "preload malloc_debug" exit-large "buffer overflow" 5000 $MAKE exit_large@large-make $MAIN
    run "preload arena: no check" 0 env LD_PRELOAD="$preload" "$build/tests/heapcheck_libc" exit-small
    lacks "preload arena: no report" "$err" '^vigil:'
else
    skip "preload: no preload library"
fi

echo "heapcheck: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
