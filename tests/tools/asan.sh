#!/bin/sh
# asan.sh - the AddressSanitizer layer of `make check` (target check-asan),
# run in a tree configured --with-address-sanitizer.  The CUnit suite must be
# silent with leak detection on; every seeded bug in a pool block must be
# reported, with vigil's description of the block; a clean program none.
# Usage: asan.sh BUILDDIR
set -u
build=$1
unit="$build/tests/unit"
bugs="$build/tests/poolbugs"
. "$(dirname "$0")/layer.sh"

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
run "p[20] of a 20-byte block: reported" fail $noleaks -- "$bugs" read-past-end
has "p[20]: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "p[20]: vigil says past the end of the 20 bytes" "vigil: 0x[0-9a-f]+ is 0 bytes after the end of the live 20-byte block"
run "p[32] of a 32-byte block: reported" fail $noleaks -- "$bugs" read-past-32
has "p[32]: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "p[32]: caught by the redzone" "0 bytes after the end of the live 32-byte block at 0x[0-9a-f]+ \\(vigil pool, size class 32, in its redzone\\)"
run "use after free, slot wanted by 200 new blocks: reported" fail $noleaks -- "$bugs" reused-slot
has "reused slot: ASan's words" "ERROR: AddressSanitizer: use-after-poison on address"
has "reused slot: still a freed block (quarantine)" "is 8 bytes inside a freed block"

echo "--- the same bugs with VIGIL_MALLOC=malloc (ASan's own allocator)"
run "malloc: use after free" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" use-after-free
has "malloc: heap-use-after-free" "ERROR: AddressSanitizer: heap-use-after-free"
run "malloc: p[20]" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" read-past-end
has "malloc: heap-buffer-overflow" "ERROR: AddressSanitizer: heap-buffer-overflow"
run "malloc: p[32]" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" read-past-32
run "malloc: reused slot" fail $noleaks VIGIL_MALLOC=malloc -- "$bugs" reused-slot
run "malloc: leak found by LSan" fail $leaks VIGIL_MALLOC=malloc -- "$bugs" leak
has "malloc: LSan's words" "ERROR: LeakSanitizer: detected memory leaks"

finish asan
