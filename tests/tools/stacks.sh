#!/bin/sh
# stacks.sh - the stacks of the debug reports (target check-stacks): for
# each report kind, a seeded bug of tests/programs/stackbugs.c, built with
# -g, runs in a child process; its exit status, the report's first line and
# every frame of every stack the report shows (the bad call, where the
# block was allocated, where it was freed) are asserted: function and
# stackbugs.c:LINE, the line found in the source by its "@NAME" marker.
#
# Through the API (VIGIL_MALLOC=debug, arena_debug, malloc_debug) and
# through the preload (an unmodified program under `vigil run --debug`),
# each built with frame pointers and without (the capture's libunwind
# fallback); a stripped copy, whose frames must say (module+0xOFFSET) with
# offsets that addr2line resolves to the same functions and lines.
# Usage: stacks.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
source="$src/tests/programs/stackbugs.c"
vigil="$build/tools/vigil"

VIGIL_PRELOAD="$build/.libs/libvigil-preload.so"
export VIGIL_PRELOAD
bad_lines=60
. "$src/tests/tools/harness.sh"

if ! grep -q '^#define VIGIL_HAVE_LIBDW 1' "$build/config.h"; then
    skip "stacks: built without libdw, frames have no file:line"
    echo "stacks: $pass passed, $fail failed, $skip skipped"
    exit 0
fi
have_unwind=0
grep -q '^#define VIGIL_HAVE_LIBUNWIND 1' "$build/config.h" && have_unwind=1

. "$src/tests/tools/frames.sh"

# frames FILE HEADING FUNC@MARKER...: the stack under HEADING is exactly
# these frames (expect_frames), for the variant being run ($label).
frames() {
    f=$1 h=$2; shift 2
    expect_frames "$f" "$label" "$h" "$@"
}

# run LABEL STATUS COMMAND...: the status must be STATUS.
run() {
    label=$1 want=$2; shift 2
    timeout 120 "$@" >"$out" 2>"$err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$label: exit status $want"; else
        echo "    (exit $got, wanted $want)"; bad "$label: exit status $want"; fi
}

# first WORDS: the report's first line names the error and the block the
# program printed last before the bug.
first() {
    addr=$(tail -n 1 "$out")
    if grep -q "^vigil: $1 on block $addr (" "$err"; then ok "$label: '$1' on the block"; else
        echo "    (no line 'vigil: $1 on block $addr (')"; bad "$label: '$1' on the block"; fi
}

has() {
    if grep -Fq -- "$2" "$err"; then ok "$label: $1"; else echo "    (missing: $2)"; bad "$label: $1"; fi
}

T0="called by thread T0 here:"
drop="drop_block@drop"
MAIN="main@main"

# check_bug PROGRAM-KIND BUG: the report of BUG, run by the command in
# $runner; PROGRAM-KIND is api or libc (mismatch and check are api only).
check_bug() {
    kind=$1 bug=$2
    # The program's call as it made it: vigil's API, or the C library's
    # free served by the preload.
    call="vigil_mem_free $T0"
    [ "$kind" = libc ] && call="free $T0"
    case $bug in
    overflow)
        first "buffer overflow"
        frames "$err" "$call" $drop bug_overflow@overflow-drop $MAIN
        frames "$err" "allocated by thread T0 here:" make_block@make bug_overflow@overflow-make $MAIN ;;
    underflow)
        first "buffer underflow"
        frames "$err" "$call" $drop bug_underflow@underflow-drop $MAIN
        frames "$err" "allocated by thread T0 here:" make_block@make bug_underflow@underflow-make $MAIN ;;
    double-free)
        first "double free"
        frames "$err" "$call" $drop bug_double_free@df-second $MAIN
        frames "$err" "freed by thread T0 here:" $drop bug_double_free@df-first $MAIN
        frames "$err" "previously allocated by thread T0 here:" \
            make_block@make bug_double_free@df-make $MAIN ;;
    invalid-free)
        first "invalid free"
        frames "$err" "$call" $drop bug_invalid_free@invalid-drop $MAIN
        if grep -q 'allocated by' "$err"; then bad "$label: no allocation stack"; else
            ok "$label: no allocation stack"; fi ;;
    use-after-free)
        first "use after free"
        frames "$err" "found when the block left the quarantine, in a call by thread T0 here:" \
            churn@churn bug_use_after_free@uaf-churn $MAIN
        frames "$err" "freed by thread T0 here:" $drop bug_use_after_free@uaf-drop $MAIN
        frames "$err" "previously allocated by thread T0 here:" \
            make_block@make bug_use_after_free@uaf-make $MAIN ;;
    thread)
        first "double free"
        frames "$err" "$call" $drop bug_thread@thread-second $MAIN
        frames "$err" "freed by thread T0 here:" $drop bug_thread@thread-first $MAIN
        frames "$err" "previously allocated by thread T1 here:" \
            make_block@make thread_main@thread-make ;;
    smash)
        first "buffer overflow"
        frames "$err" "$call" $drop bug_smash@smash-drop $MAIN
        has "the allocation is not known" \
            "allocated by: not known: the record of it after the block was overwritten (stack id 0x78787878)" ;;
    long)
        first "buffer overflow"
        d=descend@descend
        frames "$err" "$call" $drop descend@long-drop $d $d $d $d $d $d $d $d $d $d $d $d $d $d
        frames "$err" "allocated by thread T0 here:" \
            make_block@make descend@long-make $d $d $d $d $d $d $d $d $d $d $d $d $d $d
        # Longer than the writer's buffer: written whole, to its last line.
        if [ "$(wc -c <"$err")" -gt 2048 ] && tail -n 1 "$err" | grep -q '^vigil: exiting with status 86'; then
            ok "$label: a report of $(wc -c <"$err") bytes, whole"; else bad "$label: a long report, whole"; fi ;;
    repeat)
        first "buffer overflow"
        frames "$err" "$call" $drop bug_repeat@repeat-drop $MAIN
        frames "$err" "allocated by thread T0 here:" \
            make_block@make make_alloca_block@repeat-alloca bug_repeat@repeat-make $MAIN ;;
    mismatch)
        first "API mismatch"
        frames "$err" "vigil_obj_free $T0" drop_obj@drop-obj bug_mismatch@mismatch-drop $MAIN
        frames "$err" "allocated by thread T0 here:" make_block@make bug_mismatch@mismatch-make $MAIN ;;
    check)
        first "buffer overflow"
        frames "$err" "vigil_check_block $T0" check@check bug_check@check-call $MAIN
        frames "$err" "allocated by thread T0 here:" make_block@make bug_check@check-make $MAIN ;;
    esac
}

libc_bugs="overflow underflow double-free invalid-free use-after-free thread smash long repeat"
api_bugs="$libc_bugs mismatch check"

# A build meant to be without frame pointers that has them (CFLAGS said
# otherwise) would not test the fallback.
has_frame_pointers() {
    objdump -d --no-show-raw-insn "$1" 2>/dev/null |
        awk '/<make_block>:$/ { f = 1; n = 0; next } f && n++ < 3 { print } f && n >= 3 { exit }' |
        grep -q 'push.*%rbp'
}

variants="fp"
for v in nofp libc_nofp; do
    if [ $have_unwind -eq 0 ]; then
        skip "$v: built without libunwind: no capture passes frames without frame pointers"
    elif has_frame_pointers "$build/tests/stackbugs_$v"; then
        skip "$v: CFLAGS gave tests/stackbugs_$v frame pointers after all"
    else
        variants="$variants $v"
    fi
done
[ -f "$VIGIL_PRELOAD" ] && variants="$variants libc_fp" || skip "preload: no preload library"

for v in $variants; do
    prog="$build/tests/stackbugs_$v"
    case $v in
    libc_*)
        echo "--- $v: an unmodified program, vigil run --debug"
        for b in $libc_bugs; do
            # A small quarantine, so that the write after free is found soon.
            run "$v $b" 86 env VIGIL_QUARANTINE=64K "$vigil" run --debug -- "$prog" "$b"
            check_bug libc "$b"
        done
        run "$v clean" 0 "$vigil" run --debug -- "$prog" clean
        if grep -q '^vigil:' "$err"; then bad "$v clean: no report"; else ok "$v clean: no report"; fi
        run "$v masks" 0 "$vigil" run --debug -- "$prog" masks
        if grep -qx 'masks kept' "$out"; then ok "$v masks: the program's signal mask is its own"
        else bad "$v masks: the program's signal mask is its own"; fi
        # Symbolizing allocates (libdw keeps its session): from the C
        # library, never from the heap being reported on, whose bytes in
        # use at exit stay those of the program (a few blocks).
        run "$v: report and go on" 0 env VIGIL_ABORT=0 VIGIL_MALLOCSTATS=1 \
            "$vigil" run --debug -- "$prog" double-free
        used=$(awk '/^# bytes in allocated blocks/ { n = $NF } END { print n + 0 }' "$err")
        if grep -q '^    #0 0x.* in drop_block ' "$err" && [ "$used" -lt 16384 ]; then
            ok "$v: symbolizing left $used bytes in vigil's heap"
        else
            echo "    ($used bytes in vigil's heap at exit)"; bad "$v: symbolizing from the C library"
        fi ;;
    *)
        modes="debug arena_debug malloc_debug"
        [ $v = nofp ] && modes=debug
        for m in $modes; do
            echo "--- $v: VIGIL_MALLOC=$m"
            for b in $api_bugs; do
                run "$v $m $b" 86 env VIGIL_MALLOC=$m VIGIL_ERROR_EXITCODE=86 VIGIL_QUARANTINE=64K \
                    "$prog" "$b"
                check_bug api "$b"
            done
            run "$v $m clean" 0 env VIGIL_MALLOC=$m "$prog" clean
            if grep -q '^vigil:' "$err"; then bad "$v $m clean: no report"; else ok "$v $m clean: no report"; fi
            run "$v $m masks" 0 env VIGIL_MALLOC=$m "$prog" masks
            if grep -qx 'masks kept' "$out"; then ok "$v $m masks: the program's signal mask is its own"
            else bad "$v $m masks: the program's signal mask is its own"; fi
        done ;;
    esac
done

# A stripped copy: no symbols, no lines, only (module+0xOFFSET); addr2line
# on the unstripped program must name the same functions and lines.
echo "--- a stripped copy, through the preload"
resolve() {
    module=$1 unstripped=$2
    awk -v m="($module+" '{ i = index($0, m); if (i) { s = substr($0, i + length(m)); sub(/\).*/, "", s); print s } }' |
        xargs -r addr2line -f -e "$unstripped" | paste - - |
        awk '$1 != "_start" { n = split($2, a, "/"); printf "    #%d 0x0 in %s %s\n", k++, $1, a[n] }'
}
if [ ! -f "$VIGIL_PRELOAD" ] || ! command -v strip >/dev/null || ! command -v addr2line >/dev/null; then
    skip "stripped: needs the preload library, strip and addr2line"
else
    cp "$build/tests/stackbugs_libc_fp" "$tmp/stripped" && strip "$tmp/stripped"
    for b in overflow double-free; do
        label="stripped $b"
        run "$label" 86 "$vigil" run --debug -- "$tmp/stripped" "$b"
        for h in "free $T0" "allocated by thread T0 here:" "freed by thread T0 here:" \
                 "previously allocated by thread T0 here:"; do
            section "$err" "$h" >"$tmp/s"
            [ -s "$tmp/s" ] || continue
            # Every frame of the program is its module and an offset only.
            if grep "$tmp/stripped" "$tmp/s" | grep -Evq "^    #[0-9]+ 0x[0-9a-f]+ \\($tmp/stripped\\+0x[0-9a-f]+\\)\$"; then
                echo "    ($(grep "$tmp/stripped" "$tmp/s" | head -n 1))"; bad "$label: $h: module+offset"
            else
                ok "$label: $h: module+offset"
            fi
            # The program's frames but its entry point, resolved, must be
            # the stack.
            grep "$tmp/stripped" "$tmp/s" | resolve "$tmp/stripped" "$build/tests/stackbugs_libc_fp" \
                >"$tmp/resolved"
            { echo "$h"; cat "$tmp/resolved"; } >"$tmp/resolved.err"
            case "$b:$h" in
            "overflow:free called"*) frames "$tmp/resolved.err" "$h" $drop bug_overflow@overflow-drop $MAIN ;;
            overflow:alloc*) frames "$tmp/resolved.err" "$h" make_block@make bug_overflow@overflow-make $MAIN ;;
            "double-free:free called"*) frames "$tmp/resolved.err" "$h" $drop bug_double_free@df-second $MAIN ;;
            double-free:freed*) frames "$tmp/resolved.err" "$h" $drop bug_double_free@df-first $MAIN ;;
            double-free:prev*) frames "$tmp/resolved.err" "$h" make_block@make bug_double_free@df-make $MAIN ;;
            esac
        done
    done
fi

echo "stacks: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
