#!/bin/sh
# valgrind.sh - the Valgrind layer of `make check` (target check-valgrind).
# Runs the CUnit suite under memcheck in fall-back and annotated arena mode
# with vigil's suppressions only, proves each suppression is needed, and
# checks that memcheck reports each seeded bug in a pool block.
# Usage: valgrind.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
supp="$src/supp/vigil.supp"
unit="$build/tests/unit"
bugs="$build/tests/poolbugs"
bump="$build/examples/bump_alloc"
VG="valgrind -q --error-limit=no --num-callers=20"
. "$src/tests/tools/layer.sh"

clean_vg="$VG --suppressions=$supp --leak-check=full --errors-for-leak-kinds=definite --error-exitcode=99"

echo "--- CUnit suite under memcheck, fall-back mode (VIGIL_MALLOC unset)"
run "suite, fall-back mode, zero errors and leaks" 0 -u VIGIL_MALLOC -- $clean_vg "$unit"
has "suite, fall-back mode: CUnit ran every test" "tests +[0-9]+ +[0-9]+ +[0-9]+ +0 "

echo "--- CUnit suite under memcheck, annotated arena mode"
run "suite, arena mode, zero errors and leaks" 0 VIGIL_MALLOC=arena -- $clean_vg "$unit"
has "suite, arena mode: CUnit ran every test" "tests +[0-9]+ +[0-9]+ +[0-9]+ +0 "

echo "--- each suppression is needed: the same run without vigil.supp"
run "suite, arena mode, no suppressions (errors expected)" 99 VIGIL_MALLOC=arena -- \
    $VG --error-exitcode=99 "$unit" arena domain
has "needed: Addr4 in vigil__arena_owns" "Invalid read of size 4"
grep -A1 "Invalid read of size 4" "$log" | grep -q "vigil__arena_owns" && ok "Addr4 is the ownership read" || bad "Addr4 is the ownership read"
has "needed: Cond in vigil__arena_owns" "Conditional jump or move depends on uninitialised value"
grep -A1 "Conditional jump" "$log" | grep -q "vigil__arena_owns" && ok "Cond is the ownership read" || bad "Cond is the ownership read"
has "needed: Value8 in vigil__arena_owns" "Use of uninitialised value of size 8"
grep -A1 "Use of uninitialised value of size 8" "$log" | grep -q "vigil__arena_owns" && ok "Value8 is the ownership read" || bad "Value8 is the ownership read"
# The first frame of every error (not of the block descriptions after it).
if awk '/^==[0-9]+== (Invalid|Conditional|Use of)/ { getline; print }' "$log" |
   grep -v vigil__arena_owns >/dev/null; then
    bad "without vigil.supp, every error is the ownership read"
else
    ok "without vigil.supp, every error is the ownership read"
fi

echo "--- seeded bugs in pool blocks, annotated arena mode, with vigil.supp"
bug_vg="$VG --suppressions=$supp --error-exitcode=99"
run "clean program: silent" 0 VIGIL_MALLOC=arena -- $bug_vg --leak-check=full --errors-for-leak-kinds=definite "$bugs" clean
run "use after free: reported" 99 VIGIL_MALLOC=arena -- $bug_vg "$bugs" use-after-free
has "use after free: Invalid read, inside a freed block" "Invalid read of size 1"
has "use after free: where it was freed" "inside a block of size 24 free'd"
run "read past the end: reported" 99 VIGIL_MALLOC=arena -- $bug_vg "$bugs" read-past-end
has "read past the end: Invalid read of the byte after the 20" "Invalid read of size 1"
has "read past the end: at the reading line" "at 0x[0-9A-F]+: read_past_end \\(poolbugs.c"
run "uninitialised: reported" 99 VIGIL_MALLOC=arena -- $bug_vg "$bugs" uninitialised
has "uninitialised: conditional jump" "Conditional jump or move depends on uninitialised value"
run "leak: reported" 99 VIGIL_MALLOC=arena -- $bug_vg --leak-check=full --errors-for-leak-kinds=definite "$bugs" leak
has "leak: definitely lost" "40 bytes in 1 blocks are definitely lost"
has "leak: allocation stack names the program" "by 0x[0-9A-F]+: leak \("
# Not -q: the leak summary is what says nothing is reachable through vigil.
run "leak at every recorded position: reported" 99 VIGIL_MALLOC=arena -- \
    valgrind --suppressions=$supp --error-exitcode=99 --leak-check=full \
    --errors-for-leak-kinds=definite "$bugs" leak-positions
has "leak positions: the first block lies at the arena's start" "first block at the arena's start: yes"
has "leak positions: all four definitely lost" "definitely lost: 580 bytes in 4 blocks"
# vigil's one reachable block is memcheck's keep-alive (arena_tools.c).
hasnt "leak positions: none reachable through vigil" "(indirectly|possibly) lost: [1-9]|still reachable: [0-9,]+ bytes in [2-9]"

echo "--- the same bugs with the debug hooks on the annotated arena (arena_debug)"
run "arena_debug: clean program silent" 0 VIGIL_MALLOC=arena_debug -- $bug_vg --leak-check=full --errors-for-leak-kinds=definite "$bugs" clean
run "arena_debug: use after free" 99 VIGIL_MALLOC=arena_debug -- $bug_vg "$bugs" use-after-free
run "arena_debug: read past the end (the guard is no-access)" 99 VIGIL_MALLOC=arena_debug -- $bug_vg "$bugs" read-past-end
has "arena_debug: the read of the guard byte" "at 0x[0-9A-F]+: read_past_end \\(poolbugs.c"
run "arena_debug: uninitialised" 99 VIGIL_MALLOC=arena_debug -- $bug_vg "$bugs" uninitialised
run "arena_debug: leak" 99 VIGIL_MALLOC=arena_debug -- $bug_vg --leak-check=full --errors-for-leak-kinds=definite "$bugs" leak
has "arena_debug: definitely lost" "definitely lost"

echo "--- the same bugs in fall-back mode (memcheck's own malloc)"
run "fall-back: use after free" 99 -u VIGIL_MALLOC -- $bug_vg "$bugs" use-after-free
run "fall-back: read past the end" 99 -u VIGIL_MALLOC -- $bug_vg "$bugs" read-past-end
has "fall-back: plain malloc block" "0 bytes after a block of size 20 alloc'd"

echo "--- a user's bump allocator annotated with <vigil/annotate.h>"
run "bump allocator: clean" 0 -- $VG --error-exitcode=99 --leak-check=full "$bump"
run "bump allocator: overflow reported" 99 -- $VG --error-exitcode=99 "$bump" overflow
has "bump allocator: one byte past a 10-byte chunk" "0 bytes after a block of size 10"

finish valgrind
