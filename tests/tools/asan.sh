#!/bin/sh
# asan.sh - the AddressSanitizer layer of `make check` (target check-asan),
# run in a tree configured --with-address-sanitizer.  The CUnit suite must be
# silent with leak detection on; every seeded bug in a pool block must be
# reported, with vigil's description of the block and the block's stacks
# (function and file:line of each frame, and the threads); a clean program
# none.  A leaked pool block is reported at exit beside LeakSanitizer's
# report, in its words, a pool block reached through a live ASan chunk is
# not (tests/programs/asanleaks.c).
# Usage: asan.sh BUILDDIR
set -u
build=$1
unit="$build/tests/unit"
bugs="$build/tests/poolbugs"
source_file="$(dirname "$0")/../programs/poolbugs.c"
. "$(dirname "$0")/layer.sh"

# at TAG: the line of poolbugs.c tagged "AT: TAG"
at() { grep -n "/\\* AT: $1 \\*/" "$source_file" | cut -d: -f1; }
# frames HEADING: the stack under the line HEADING of the last run (up to the
# blank line that ends it, as ASan ends its own)
frames() { awk -v h="$1" 'f && /^$/ { exit } f { print } $0 == h { f = 1 }' "$log"; }
# stack NAME HEADING FRAME...: the stack under HEADING begins with these
# frames, innermost first; a FRAME is "FUNCTION TAG", the call at the line
# tagged TAG, or "main", main at any line.
stack() {
    name=$1 heading=$2; shift 2
    got=$(frames "$heading") i=0 why=
    [ -n "$got" ] || why="no '$heading' with a stack"
    for f in "$@"; do
        fn=${f%% *} line='[0-9]+'
        [ "$fn" = "$f" ] || line=$(at "${f#* }")
        echo "$got" | sed -n "$((i + 1))p" |
            grep -Eq "^    #$i 0x[0-9a-f]+ in $fn [^ ]*poolbugs\\.c:$line\$" ||
            why="${why:+$why; }frame #$i is not $fn at poolbugs.c:$line"
        i=$((i + 1))
    done
    if [ -z "$why" ]; then ok "$name"; else echo "    ($why)"; bad "$name"; fi
}

leaks="ASAN_OPTIONS=detect_leaks=1"
noleaks="ASAN_OPTIONS=detect_leaks=0"

echo "--- CUnit suite under ASan, leak detection on"
run "suite under ASan" 0 -u VIGIL_MALLOC $leaks -- "$unit"
has "suite: CUnit ran every test" "tests +[0-9]+ +[0-9]+ +[0-9]+ +0 "
hasnt "suite: no ASan or LSan report" "ERROR: (AddressSanitizer|LeakSanitizer)"

echo "--- clean programs"
run "clean program: silent" 0 $leaks -- "$bugs" clean
hasnt "clean program: no report" "ERROR: (AddressSanitizer|LeakSanitizer)"
run "pointer kept only in a pool block: no false leak" 0 $leaks -- "$bugs" lsan-roots
hasnt "pool memory is an LSan root region" "LeakSanitizer"

echo "--- seeded bugs, annotated arena (the default under ASan)"
run "use after free: reported" fail $noleaks -- "$bugs" use-after-free
has "use after free: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "use after free: vigil names the freed block" "vigil: 0x[0-9a-f]+ is 4 bytes inside a freed block at 0x[0-9a-f]+ \\(vigil pool, size class 32\\)"
stack "use after free: freed by T0, at the free" "freed by thread T0 here:" \
    "use_after_free uaf-free" main
stack "use after free: previously allocated by T0, at the malloc" \
    "previously allocated by thread T0 here:" "use_after_free uaf-alloc" main
run "p[20] of a 20-byte block: reported" fail $noleaks -- "$bugs" read-past-end
has "p[20]: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "p[20]: vigil says past the end of the 20 bytes" "vigil: 0x[0-9a-f]+ is 0 bytes after the end of the live 20-byte block"
stack "p[20]: allocated by T0, at the malloc" "allocated by thread T0 here:" \
    "read_past_end past-end-alloc" main
hasnt "p[20]: a live block has no free stack" "^freed by thread"
run "p[32] of a 32-byte block: reported" fail $noleaks -- "$bugs" read-past-32
has "p[32]: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "p[32]: caught by the redzone" "0 bytes after the end of the live 32-byte block at 0x[0-9a-f]+ \\(vigil pool, size class 32, in its redzone\\)"
run "use after free, slot wanted by 200 new blocks: reported" fail $noleaks -- "$bugs" reused-slot
has "reused slot: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "reused slot: still a freed block (quarantine)" "is 8 bytes inside a freed block"

run "realloc in place, then p[24]: reported" fail $noleaks -- "$bugs" realloc-past-end
has "realloc in place: it was" "^realloc-past-end: in place"
stack "realloc in place: allocated by the realloc, as ASan's realloc says" \
    "allocated by thread T0 here:" "realloc_past_end realloc" main

echo "--- bad frees of pool blocks: ASan's words, the block's stacks"
run "double free: reported" 1 $noleaks -- "$bugs" double-free
has "double free: ASan's words, thread T0" "ERROR: AddressSanitizer: attempting double-free on 0x[0-9a-f]+ in thread T0:\$"
has "double free: vigil names the block" "^vigil: 0x[0-9a-f]+ is a freed block of a vigil pool \\(size class 32\\), passed to free\$"
stack "double free: freed by T0, at the first free" "freed by thread T0 here:" \
    "drop_block drop-block" "double_free double-free-drop" main
stack "double free: previously allocated by T0" "previously allocated by thread T0 here:" \
    "make_block make-block" "double_free double-free-make" main
has "double free: ASan's summary" "^SUMMARY: AddressSanitizer: double-free"
run "free inside a live block: reported" 1 $noleaks -- "$bugs" free-interior
has "free inside a block: ASan's words, thread T0" "attempting free on address which was not malloc\\(\\)-ed: 0x[0-9a-f]+ in thread T0\$"
has "free inside a block: vigil names it" "is 8 bytes inside the live block at 0x[0-9a-f]+ \\(size class 48, 40 bytes requested\\), passed to free"
stack "free inside a block: allocated by T0" "allocated by thread T0 here:" \
    "make_block make-block" "free_interior interior-make" main
hasnt "free inside a live block: no free stack" "^freed by thread"

echo "--- threads: a block allocated by T1, freed and read by T0"
run "second thread's block, used after free: reported" fail $noleaks -- "$bugs" thread-block
has "second thread's block: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
stack "second thread's block: freed by T0" "freed by thread T0 here:" \
    "drop_block drop-block" "thread_block thread-drop" main
stack "second thread's block: previously allocated by T1" "previously allocated by thread T1 here:" \
    "make_block make-block" "thread_make thread-make"

echo "--- the same bugs with VIGIL_MALLOC=malloc (ASan's own allocator)"
run "malloc: use after free" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" use-after-free
has "malloc: heap-use-after-free" "ERROR: AddressSanitizer: heap-use-after-free"
run "malloc: p[20]" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" read-past-end
has "malloc: heap-buffer-overflow" "ERROR: AddressSanitizer: heap-buffer-overflow"
run "malloc: p[32]" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" read-past-32
run "malloc: reused slot" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" reused-slot
run "malloc: leak found by LSan" fail $leaks VIGIL_MALLOC=malloc -- "$bugs" leak
has "malloc: LSan's words" "ERROR: LeakSanitizer: detected memory leaks"

echo "--- pool-block leaks at exit, beside LeakSanitizer's (issue 14)"
aleaks="$build/tests/asanleaks"
aleaks_src="$(dirname "$0")/../programs/asanleaks.c"
mark() { grep -n "/\\* @$1 \\*/" "$aleaks_src" | cut -d: -f1; }
run "a leaked pool block: exit 1, ASan's status" 1 $leaks -- "$aleaks" pool
has "pool leak: vigil's first line, LSan's words" "^vigil: detected memory leaks\$"
has "pool leak: the block" "^Direct leak of 40 byte\\(s\\) in 1 object\\(s\\) allocated from:\$"
has "pool leak: #0 the allocation" "^    #0 0x[0-9a-f]+ in make_pool [^ ]*asanleaks\\.c:$(mark pool-make)\$"
has "pool leak: the summary" "^vigil: SUMMARY: 40 byte\\(s\\) leaked in 1 allocation\\(s\\)\\.\$"
hasnt "pool leak: LSan has nothing of its own" "ERROR: LeakSanitizer"
run "VIGIL_ERROR_EXITCODE chooses the status" 86 $leaks VIGIL_ERROR_EXITCODE=86 -- "$aleaks" pool
run "detect_leaks=0: no check" 0 $noleaks -- "$aleaks" pool
hasnt "detect_leaks=0: no report" "detected memory leaks"
run "leak_check_at_exit=0: no check" 0 ASAN_OPTIONS=leak_check_at_exit=0 -- "$aleaks" pool
hasnt "leak_check_at_exit=0: no report" "detected memory leaks"
run "a pool block kept only through a live ASan chunk: no leak" 0 $leaks -- "$aleaks" chunk
hasnt "through a chunk: no report" "detected memory leaks"
run "a leaked ASan chunk holding a pool block: both reported" 1 $leaks -- "$aleaks" both
has "both: vigil's pool block, indirect (reached from the leaked chunk)" \
    "^Indirect leak of 24 byte\\(s\\) in 1 object\\(s\\) allocated from:\$"
has "both: its allocation" "^    #0 0x[0-9a-f]+ in make_both [^ ]*asanleaks\\.c:$(mark both-pool)\$"
has "both: LSan's own report, next to it" "ERROR: LeakSanitizer: detected memory leaks"
has "both: LSan's chunk" "in make_both [^ ]*asanleaks\\.c:$(mark both-raw)\$"
run "nothing leaked: silent" 0 $leaks -- "$aleaks" clean
hasnt "nothing leaked: no report" "detected memory leaks|ERROR: (AddressSanitizer|LeakSanitizer)"

finish asan
