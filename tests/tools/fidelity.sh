#!/bin/sh
# fidelity.sh - the fidelity matrix of `make check` (target check-fidelity).
#
# vigil's promise: a bug in a pool block is reported by memcheck and by ASan
# as surely as the same bug in a malloc'd block, in the tool's own words.
# Every seeded bug of tests/programs/fidelity.c runs in every mode; each cell
# asserts the words of its tool, the exit status, and that the report names
# the bug's function and line (the line tagged "BUG: name" in fidelity.c).
#
# The rule: the arena column of a tool must catch every bug its malloc
# column catches, in the same words; a cell that does not is a FAIL that
# names it.  The clean program must be silent everywhere.  Expected misses
# (known gaps with an issue of their own) are printed as such and do not fail.
#
# Usage: fidelity.sh valgrind BUILDDIR SRCDIR [CELLS]
#            the debug hooks, the preload and the memcheck columns
#            (VALGRIND, VALGRIND_ANNOTATIONS: as configure found them; by
#            default the PATH's valgrind, and annotations on)
#        fidelity.sh asan BUILDDIR SRCDIR [CELLS]
#            the ASan columns, in a tree configured --with-address-sanitizer
#        fidelity.sh matrix CELLS...
#            the matrix of the cells the halves wrote, side by side
# Each half prints its PASS/FAIL lines, its half of the matrix and a
# `N passed, M failed` line, and appends its cells (bug|column|result) to
# CELLS.
set -u

# The matrix: rows and columns, in print order.
bug_list="overflow-exact overflow-read overflow-slot overflow-large underflow-slot
uaf-read uaf-write uaf-reuse double-free free-stack free-interior api-mismatch
uninitialised leak-small leak-large leak-first clean"
columns="debug hooks|preload debug|memcheck arena|memcheck malloc|ASan arena|ASan malloc"

print_matrix() {    # print_matrix CELLS-FILE...: the table, in Markdown
    cat "$@" 2>/dev/null | awk -F'|' -v bugs="$bug_list" -v cols="$columns" '
        { cell[$1 "|" $2] = $3; seen[$2] = 1 }
        END {
            nb = split(bugs, b, /[ \n]+/); nc = split(cols, c, /\|/)
            w = 14; line = sprintf("| %-*s |", w, "bug"); rule = "|" dashes(w + 2) "|"
            for (j = 1; j <= nc; j++) if (c[j] in seen) {
                cw[j] = length(c[j]) < 13 ? 13 : length(c[j])
                line = line sprintf(" %-*s |", cw[j], c[j]); rule = rule dashes(cw[j] + 2) "|"
            }
            print line; print rule
            for (i = 1; i <= nb; i++) {
                line = sprintf("| %-*s |", w, b[i])
                for (j = 1; j <= nc; j++) if (c[j] in seen) {
                    v = (b[i] "|" c[j]) in cell ? cell[b[i] "|" c[j]] : "?"
                    line = line sprintf(" %-*s |", cw[j], v)
                }
                print line
            }
        }
        function dashes(n,  s) { s = ""; while (n-- > 0) s = s "-"; return s }'
}

legend() {
    cat <<'EOF'
caught: reported, in the tool's own words.  memcheck and ASan: the words
  each uses for the same bug in a malloc'd block, in a stack that names the
  bug's function and line (for a pool block ASan may say use-after-poison,
  its one word for memory poisoned by hand, when vigil's line names the
  block: past the end of a live one, inside a freed one); under ASan, with
  the block's allocation stack and, once freed, its free stack (vigil's
  note gives them for a pool block).  The debug hooks:
  "vigil: <error> on block ..." and a failing exit status; their leaks are
  the leak check's (VIGIL_LEAKS=1, `vigil run --leaks`): "Direct leak of N
  byte(s) in 1 object(s) allocated from:" with the allocation's stack, and
  exit status 23 (86 under `vigil run`).
MISSED: not reported, or not in those words (the FAIL lines say what is
  missing).  silent: the clean program, exit 0 and no report.
expected miss: a known gap with an issue of its own; not a failure.
n/a: out of the column's reach.  The debug hooks check guard bytes and fills
  on free, realloc and at exit: a read past the end or after free and an
  uninitialised read leave them nothing to see.  ASan has no
  uninitialised-read check.  Only vigil knows its domains apart (mem and obj
  are both the arena, or both malloc), and a plain malloc program has one API.
EOF
}

if [ "${1:-}" = matrix ]; then
    shift
    found=
    for f in "$@"; do [ -s "$f" ] && found="$found $f"; done
    [ -n "$found" ] || { echo "fidelity: no cells to print (the halves did not run)"; exit 0; }
    echo "--- the fidelity matrix"
    print_matrix $found
    legend
    exit 0
fi

half=$1 build=$2 src=$3 cells=${4:-/dev/null}
bugs="$build/tests/fidelity"
plain="$build/tests/fidelity_libc"
source_file="$src/tests/programs/fidelity.c"
supp="$src/supp/vigil.supp"
. "$src/tests/tools/layer.sh"
# Nothing of the caller's may change what the tools say.
unset VIGIL_MALLOC VIGIL_MALLOCSTATS VIGIL_QUARANTINE VIGIL_ABORT VIGIL_ERROR_EXITCODE \
      VIGIL_TRACE VIGIL_LEAKS VIGIL_FAIL LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS
xfail=0
results=$(mktemp) ; trap 'rm -f "$log" "$results"' EXIT
tmo=; command -v timeout >/dev/null 2>&1 && tmo="timeout 300"

# The program and this script must know the same bugs.
if [ "$("$bugs" --list | tr '\n' ' ')" = "$(echo $bug_list) " ]; then
    ok "fidelity --list: the bugs of this matrix"
else
    "$bugs" --list >"$log" 2>&1; bad "fidelity --list: the bugs of this matrix"
fi

# ---- one cell ----

# fn_of BUG: the bug's function; line_of TAG: the line tagged "BUG: TAG"
fn_of() { echo "$1" | tr - _; }
line_of() { grep -n "/\\* BUG: $1 \\*/" "$source_file" | cut -d: -f1; }

# cell COLUMN BUG [ENV-ARGS...] -- COMMAND...: run it (output in $log), and
# start the cell's assertions; each need* adds to $why what is missing.
cell() {
    col=$1 bug=$2; shift 2
    envs=
    while [ "$1" != -- ]; do envs="$envs $1"; shift; done
    shift
    # In a subshell, so that the shell's note on a program killed by a
    # signal (the debug hooks abort) goes to the log, not the output.
    (env $envs $tmo "$@"; exit $?) >"$log" 2>&1
    status=$? why= unseen=
}
# A run that went on as if nothing happened: that says it all.
miss()        { [ -n "$unseen" ] || why="${why:+$why; }$1"; }
need_fail()   { [ "$status" -ne 0 ] || { miss "not reported: exit status 0"; unseen=1; }; }
need_words()  { grep -Fq -- "$1" "$log" || miss "no '$1'"; }
need_re()     { grep -Eq -- "$2" "$log" || miss "no $1"; }
lacks_re()    { ! grep -Eq -- "$2" "$log" || miss "$1"; }

# The memcheck error (its lines up to the blank line after it) in which TEXT
# occurs: the checks of one error's stacks.
error_with() {
    awk -v pat="$1" '
        /^==[0-9]+== ?$/ { if (hit) printf "%s", blk; blk = ""; hit = 0; next }
        { blk = blk $0 "\n"; if (index($0, pat)) hit = 1 }
        END { if (hit) printf "%s", blk }' "$log"
}

# done_cell [xfail REASON]: the cell's verdict, recorded and counted.
done_cell() {
    if [ -z "$why" ]; then
        label=caught; [ "$bug" = clean ] && label=silent
        ok "$col / $bug: $label"
    elif [ "${1:-}" = xfail ]; then
        label="expected miss"; xfail=$((xfail + 1))
        echo "XFAIL: $col / $bug: expected miss ($2): $why"
    else
        label=MISSED; [ "$bug" = clean ] && label="NOT SILENT"
        rule=
        case $col in
        *arena) m=$(grep -F "$bug|${col% arena} malloc|" "$results" | cut -d'|' -f3)
                [ "$m" = caught ] && rule=" (${col% arena} malloc catches it)" ;;
        esac
        echo "    ($why)"; bad "$col / $bug: $label$rule"
    fi
    echo "$bug|$col|$label" >>"$results"
}

# leak-first is about a block at its arena's first byte (the address the
# arena table holds); the program puts it there with an arena source of its
# own, and says whether it did.  A separate check: it is the test's setup,
# not the tool's verdict.
first_byte() {
    if grep -Fq "leak-first: the block is the first byte of its arena" "$log"; then
        ok "$1 / leak-first: the block is its arena's first byte"
    else
        bad "$1 / leak-first: the block is its arena's first byte"
    fi
}

# na COLUMN BUG: out of this column's reach (the legend says why)
na() { echo "$2|$1|n/a" >>"$results"; }
skipped() { for b in $bug_list; do echo "$b|$1|skipped" >>"$results"; done; echo "SKIP: $1: $2"; }

# ---- the debug hooks: vigil's own words, in any build ----

# hook_words BUG: the first words of vigil's report, or nothing when the bug
# is out of the hooks' reach: they check guards and fills on free, realloc,
# when a block leaves the quarantine and at exit, so a read past the end or
# after free and an uninitialised read leave them nothing to see (the leaks
# are the leak check's: hook_env).
hook_words() {
    case $1 in
    overflow-exact|overflow-slot|overflow-large|uaf-reuse) echo "buffer overflow" ;;
    underflow-slot) echo "buffer underflow" ;;
    uaf-write) echo "use after free" ;;
    double-free) echo "double free" ;;
    free-stack|free-interior) echo "invalid free" ;;
    api-mismatch) echo "API mismatch" ;;
    esac
}

# hook_cell BUG [STATUS]: the assertions after `cell`; STATUS, the exit
# status a report must give (any but 0 when not given).  The leaks are the
# leak check's (VIGIL_LEAKS=1, which these columns run them with): its
# report at exit, in LSan's words, with the allocation's stack.
hook_cell() {
    case $1 in leak-*) leak_cell "$@"; return ;; esac
    if [ "$1" = clean ]; then
        [ "$status" -eq 0 ] || miss "exit status $status"
        lacks_re "a vigil report" '^vigil:'
    else
        need_fail
        [ -z "${2:-}" ] || [ "$status" -eq "$2" ] || miss "exit status $status, not $2"
        need_re "report 'vigil: $(hook_words "$1") on block'" "^vigil: $(hook_words "$1") on block "
    fi
    done_cell
}

leak_cell() {
    need_fail
    [ "$status" -eq "${2:-23}" ] || miss "exit status $status, not ${2:-23}"
    case $1 in leak-large) n=4000 ;; *) n=40 ;; esac
    need_words "vigil: detected memory leaks"
    need_words "Direct leak of $n byte(s) in 1 object(s) allocated from:"
    need_words "vigil: SUMMARY: $n byte(s) leaked in 1 allocation(s)."
    need_re "frame 'in $(fn_of $1) .../fidelity.c:$(line_of $1)'" " in $(fn_of $1) [^ ]*fidelity\\.c:$(line_of $1)\$"
    lacks_re "an indirect leak" '^Indirect leak'
    done_cell
}

# hook_env BUG: what the hooks' columns run BUG with: the leak check for the
# leaks, and for the clean program, which must stay silent with it too.
hook_env() { case $1 in leak-*|clean) echo VIGIL_LEAKS=1 ;; esac; }

valgrind_half() {
    echo "--- debug hooks (VIGIL_MALLOC=arena_debug, no tool)"
    for b in $bug_list; do
        if [ "$b" != clean ] && [ -z "$(hook_words $b)$(hook_env $b)" ]; then na "debug hooks" $b; continue; fi
        cell "debug hooks" $b VIGIL_MALLOC=arena_debug $(hook_env $b) -- "$bugs" $b
        hook_cell $b
    done

    echo "--- the debug hooks through the preload: vigil run --debug, a plain malloc program"
    if [ -f "$build/.libs/libvigil-preload.so" ] && [ -x "$build/tools/vigil" ]; then
        for b in $bug_list; do
            # A plain malloc program has one API: nothing to mismatch.
            if [ $b = api-mismatch ] || { [ "$b" != clean ] && [ -z "$(hook_words $b)$(hook_env $b)" ]; }; then
                na "preload debug" $b; continue
            fi
            leaks=; [ -n "$(hook_env $b)" ] && leaks=--leaks
            cell "preload debug" $b VIGIL_PRELOAD="$build/.libs/libvigil-preload.so" -- \
                "$build/tools/vigil" run --debug $leaks -- "$plain" $b
            hook_cell $b 86
        done
    else
        skipped "preload debug" "no preload library"
    fi

    echo "--- memcheck: VIGIL_MALLOC=arena (the annotated arena) and unset (malloc)"
    # Set (even empty) by make, as configure found it; by hand, the PATH's.
    VALGRIND=${VALGRIND-$(command -v valgrind)}
    if [ -z "$VALGRIND" ]; then
        skipped "memcheck malloc" "valgrind is not installed"; skipped "memcheck arena" "valgrind is not installed"
        return
    elif [ "${VALGRIND_ANNOTATIONS:-yes}" != yes ]; then
        skipped "memcheck malloc" "built --without-valgrind"; skipped "memcheck arena" "built --without-valgrind"
        return
    fi
    vg="$VALGRIND -q --error-limit=no --num-callers=20 --suppressions=$supp --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99"
    for b in $bug_list; do
        # Both domains are the arena, or both malloc: only vigil knows them apart.
        [ $b = api-mismatch ] && { na "memcheck malloc" $b; na "memcheck arena" $b; continue; }
        # Leaks: show every kind, so a miss shows what memcheck thought instead.
        more=; case $b in leak-*) more=--show-leak-kinds=all ;; esac
        cell "memcheck malloc" $b -u VIGIL_MALLOC -- $vg $more "$bugs" $b
        memcheck_cell $b
        cell "memcheck arena" $b VIGIL_MALLOC=arena -- $vg $more "$bugs" $b
        memcheck_cell $b
        [ $b = leak-first ] && first_byte "memcheck arena"
    done
}

# memcheck_cell BUG: memcheck's error kind, its description of the address
# (the same for a pool block as for a malloc'd one), and the bug's frame.
memcheck_cell() {
    kind= desc=
    case $1 in
    overflow-exact) kind="Invalid write of size 1" desc="0 bytes after a block of size 20 alloc'd" ;;
    overflow-read)  kind="Invalid read of size 1"  desc="0 bytes after a block of size 20 alloc'd" ;;
    overflow-slot)  kind="Invalid write of size 1" desc="0 bytes after a block of size 32 alloc'd" ;;
    overflow-large) kind="Invalid write of size 1" desc="0 bytes after a block of size 1,000 alloc'd" ;;
    underflow-slot) kind="Invalid write of size 1" desc="1 bytes before a block of size 32 alloc'd" ;;
    uaf-read)       kind="Invalid read of size 1"  desc="4 bytes inside a block of size 24 free'd" ;;
    uaf-write)      kind="Invalid write of size 1" desc="8 bytes inside a block of size 24 free'd" ;;
    uaf-reuse)      kind="Invalid write of size 1" desc="0 bytes after a block of size 24 alloc'd" ;;
    double-free)    kind="Invalid free() / delete / delete[] / realloc()" desc="0 bytes inside a block of size 32 free'd" ;;
    free-stack)     kind="Invalid free() / delete / delete[] / realloc()" desc="is on thread 1's stack" ;;
    free-interior)  kind="Invalid free() / delete / delete[] / realloc()" desc="8 bytes inside a block of size 32 alloc'd" ;;
    uninitialised)  kind="Conditional jump or move depends on uninitialised value(s)" ;;
    leak-small|leak-first) kind="40 bytes in 1 blocks are definitely lost" ;;
    leak-large)     kind="4,000 bytes in 1 blocks are definitely lost" ;;
    esac
    if [ $1 = clean ]; then
        [ "$status" -eq 0 ] || miss "exit status $status"
        lacks_re "a memcheck report" '^==[0-9]+== '
        done_cell; return
    fi
    need_fail
    need_words "$kind"
    [ -n "$desc" ] && need_words "$desc"
    need_re "frame '$(fn_of $1) (fidelity.c:$(line_of $1))'" ": $(fn_of $1) \\(fidelity\\.c:$(line_of $1)\\)"
    if [ $1 = uaf-reuse ]; then
        # b sits where a was (with the arena): each report about b must
        # give b's history, never a's.  b[24]=7 first, then b[0]=7 after
        # free(b).
        e=$(error_with "$desc")
        if [ -n "$e" ]; then
            case $e in *reuse_alloc_b*) ;; *) miss "'$desc' without b's allocation (reuse_alloc_b)" ;; esac
            case $e in *reuse_alloc_a*|*reuse_free_a*) miss "'$desc' with a's history (reuse_*_a)" ;; esac
        fi
        freed="0 bytes inside a block of size 24 free'd"
        at="uaf_reuse (fidelity.c:$(line_of uaf-reuse-freed))"
        e=$(error_with "$freed")
        case $e in
        "") miss "b[0]=7 after free(b): no '$freed'" ;;
        *"$at"*reuse_free_b*reuse_alloc_b*) ;;
        *) miss "b[0]=7 after free(b): not at $at with b's free (reuse_free_b) and allocation (reuse_alloc_b)" ;;
        esac
        case $e in *reuse_alloc_a*|*reuse_free_a*) miss "b[0]=7 after free(b): '$freed' with a's history (reuse_*_a)" ;; esac
    fi
    done_cell
}

# ---- ASan: the arena (the default under ASan) and VIGIL_MALLOC=malloc ----

# asan_cell MODE BUG: ASan's words for the bug.  ASan's own allocator says
# heap-buffer-overflow and heap-use-after-free; for a pool block, which the
# arena poisons by hand, ASan can only say use-after-poison, so that is
# accepted when vigil's line names the same kind (an address past a live
# block, or inside a freed one).  The frees and the leaks have one wording,
# ASan's or vigil's own in the same words.
asan_cell() {
    mode=$1
    case $2 in
    overflow-*|underflow-slot|uaf-reuse) kind=heap-buffer-overflow
        vigil_says='^vigil: 0x[0-9a-f]+ is [0-9]+ bytes (after the end|before the start) of the live [0-9]+-byte block' ;;
    uaf-read|uaf-write) kind=heap-use-after-free
        vigil_says='^vigil: 0x[0-9a-f]+ is [0-9]+ bytes inside a freed block' ;;
    double-free) kind="attempting double-free" ;;
    free-stack|free-interior) kind="attempting free on address which was not malloc()-ed" ;;
    leak-*) kind="detected memory leaks" ;;
    esac
    if [ $2 = clean ]; then
        [ "$status" -eq 0 ] || miss "exit status $status"
        lacks_re "an ASan or LSan report" 'ERROR: (AddressSanitizer|LeakSanitizer)'
        lacks_re "a vigil report" '^vigil:'
        done_cell; return
    fi
    need_fail
    case $2 in
    overflow-*|underflow-slot|uaf-*)
        if [ $mode = malloc ] || ! grep -Fq "ERROR: AddressSanitizer: use-after-poison" "$log"; then
            need_words "ERROR: AddressSanitizer: $kind"
        else
            need_re "vigil's line naming the block ($kind)" "$vigil_says"
        fi ;;
    leak-*)
        need_words "$kind"
        case $2 in leak-large) n=4000 ;; *) n=40 ;; esac
        need_words "Direct leak of $n byte(s) in 1 object(s)" ;;
    *)  need_words "$kind" ;;
    esac
    need_re "frame 'in $(fn_of $2) .../fidelity.c:$(line_of $2)'" " in $(fn_of $2) [^ ]*fidelity\\.c:$(line_of $2)"
    asan_block_stacks $2
    done_cell
}

# The stack under the line HEADING (up to the blank line ASan ends it with).
stack_under() { awk -v h="$1" 'f && /^$/ { exit } f { print } $0 == h { f = 1 }' "$log"; }
# need_stack HEADING FUNCTION...: that stack has a frame in each function.
need_stack() {
    heading=$1; shift
    frames=$(stack_under "$heading")
    [ -n "$frames" ] || { miss "no '$heading' with a stack"; return; }
    for f in "$@"; do
        # clang's ASan adds the column (fidelity.c:89:24).
        echo "$frames" | grep -Eq " in $f [^ ]*fidelity\\.c:[0-9]+(:[0-9]+)?\$" || miss "'$heading' without $f"
    done
}
# asan_block_stacks BUG: the block's stacks, as ASan gives them for its own
# chunks and vigil's note for a pool block: where it was allocated (in
# filled, called by the bug's function) and, once freed, where it was freed.
asan_block_stacks() {
    fn=$(fn_of $1)
    case $1 in
    overflow-*|underflow-slot|free-interior)
        need_stack "allocated by thread T0 here:" filled $fn ;;
    uaf-read|uaf-write|double-free)
        need_stack "freed by thread T0 here:" $fn
        need_stack "previously allocated by thread T0 here:" filled $fn ;;
    uaf-reuse)
        # b's history, not a's, which had the same slot before.
        need_stack "allocated by thread T0 here:" filled reuse_alloc_b
        stack_under "allocated by thread T0 here:" | grep -q reuse_alloc_a &&
            miss "'allocated by' with a's stack (reuse_alloc_a)" ;;
    esac
}

asan_half() {
    echo "--- ASan: the arena (VIGIL_MALLOC=arena) and ASan's allocator (VIGIL_MALLOC=malloc)"
    for b in $bug_list; do
        case $b in
        # ASan has no check of uninitialised reads; only vigil knows its domains.
        uninitialised|api-mismatch) na "ASan malloc" $b; na "ASan arena" $b; continue ;;
        esac
        cell "ASan malloc" $b VIGIL_MALLOC=malloc ASAN_OPTIONS=detect_leaks=1 -- "$bugs" $b
        asan_cell malloc $b
        cell "ASan arena" $b VIGIL_MALLOC=arena ASAN_OPTIONS=detect_leaks=1 -- "$bugs" $b
        asan_cell arena $b
        [ $b = leak-first ] && first_byte "ASan arena"
    done
}

case $half in
valgrind) valgrind_half ;;
asan) asan_half ;;
*) echo "usage: fidelity.sh valgrind|asan BUILDDIR SRCDIR [CELLS] | matrix CELLS..." >&2; exit 2 ;;
esac

echo "--- the fidelity matrix, $half half"
print_matrix "$results"
cat "$results" >>"$cells"
[ $xfail -eq 0 ] || echo "fidelity $half: $xfail expected misses (not failures)"
finish "fidelity $half"
