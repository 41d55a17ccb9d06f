#!/bin/sh
# preload.sh - the preload layer of `make check` (target check-preload).
# Runs unmodified programs through libvigil-preload.so with the vigil
# command: its own options and errors; a torture test of every interposed
# function (alignments, threads, fork, dlopen, exit from several threads);
# seeded bugs found by `vigil run --debug` and by `vigil memcheck`; and real
# programs of the base system (python3, perl, git, gcc, sort), whose output
# must be the same with and without vigil, with no report.
# Usage: preload.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
vigil="$build/tools/vigil"
torture="$build/tests/preload_torture"
bugs="$build/tests/preload_bugs"
plugin="$build/tests/.libs/preload_plugin.so"

# The uninstalled library and suppressions, and nothing of the caller's.
VIGIL_PRELOAD="$build/.libs/libvigil-preload.so"
VIGIL_SUPPRESSIONS="$src/supp/vigil.supp"
export VIGIL_PRELOAD VIGIL_SUPPRESSIONS
# harness.sh, then run, has and lacks
. "$src/tests/tools/checks.sh"

echo "--- the vigil command"
run "--version" 0 "$vigil" --version
has "--version names the version" "$out" '^vigil [0-9]+\.[0-9]+'
run "--help" 0 "$vigil" --help
has "--help shows the commands" "$out" '^Usage: vigil run'
run "info" 0 "$vigil" info
has "info: the preload library in use" "$out" "^preload library: +$VIGIL_PRELOAD\$"
has "info: the suppressions in use" "$out" "^suppressions: +$VIGIL_SUPPRESSIONS\$"
has "info: valgrind support" "$out" '^valgrind annotations: +(yes|no)$'
run "no command" 125 "$vigil"
has "no command: says so" "$err" '^vigil: no command given'
run "unknown command" 125 "$vigil" frobnicate
has "unknown command: names it" "$err" "^vigil: unknown command 'frobnicate'"
run "run: unknown option" 125 "$vigil" run --bogus -- true
has "run: unknown option: names it" "$err" "^vigil: run: unknown option '--bogus'"
run "run: bad quarantine size" 125 "$vigil" run --quarantine=lots -- true
has "run: bad quarantine size: says why" "$err" "quarantine: 'lots' is not a size"
run "run: bad exit status" 125 "$vigil" run --error-exitcode=300 -- true
run "run: no program" 125 "$vigil" run --debug --
has "run: no program: says so" "$err" '^vigil: run: no program given'
run "run: missing program" 127 "$vigil" run -- vigil-no-such-program
has "run: missing program: names it" "$err" '^vigil: vigil-no-such-program: command not found'
run "run: missing file" 127 "$vigil" run -- ./vigil-no-such-file
: >"$tmp/notexec"
run "run: a file that is not executable" 126 "$vigil" run -- "$tmp/notexec"
has "run: not executable: says so" "$err" 'permission denied'
run "run: missing preload" 125 env VIGIL_PRELOAD=/nonexistent/libvigil-preload.so "$vigil" run -- true
has "run: missing preload: names it" "$err" 'preload library /nonexistent/libvigil-preload.so is missing'
run "memcheck: another tool is refused" 125 "$vigil" memcheck --tool=massif -- true
run "run: the program's status is passed on" 7 "$vigil" run -- sh -c 'exit 7'
run "run: arguments are passed as they are" 0 "$vigil" run -- printf '%s|' 'a b' '' c
has "run: arguments: spaces and empty ones kept" "$out" '^a b\|\|c\|$'
run "run --debug: the environment" 0 "$vigil" run --debug --quarantine=1M --stats -- \
    sh -c 'echo "$VIGIL_MALLOC $VIGIL_QUARANTINE $VIGIL_MALLOCSTATS $VIGIL_ERROR_EXITCODE"'
has "run --debug: mode, quarantine, stats, exit status" "$out" '^debug 1M 1 86$'

echo "--- every allocation function comes from the preload"
run "which" 0 "$vigil" run -- "$torture" which
if [ "$(grep -c ' libvigil-preload\.so$' "$out")" -eq 11 ]; then
    ok "the 11 functions resolve to libvigil-preload.so"
else
    bad "the 11 functions resolve to libvigil-preload.so"
fi

echo "--- libdw, the symbolizer, is loaded by the first report only"
# Loaded with the library, it and what it needs cost a small program some
# 600 KiB of resident memory for a report most runs never write.
if grep -q '^#define VIGIL_HAVE_LIBDW 1' "$build/config.h"; then
    for flag in "" --debug; do
        run "run${flag:+ $flag}: a program's own mappings" 0 "$vigil" run $flag -- cat /proc/self/maps
        has "run${flag:+ $flag}: the preload library is mapped" "$out" 'libvigil-preload\.so$'
        lacks "run${flag:+ $flag}: libdw is not, with no report written" "$out" 'libdw[.-]'
    done
else
    skip "libdw: built without it"
fi

echo "--- torture: every function, alignments, threads, fork, dlopen"
run "arena mode" 0 "$vigil" run -- "$torture" all "$plugin"
lacks "arena mode: no report" "$err" '^vigil:'
run "arena mode, statistics" 0 "$vigil" run --stats -- "$torture" serial "$plugin"
has "arena mode: the arena served blocks" "$err" '^vigil arena statistics'
run "debug mode" 0 "$vigil" run --debug -- "$torture" all "$plugin"
lacks "debug mode: no report" "$err" '^vigil:'
run "debug mode, no quarantine" 0 "$vigil" run --quarantine=0 -- "$torture" all "$plugin"
run "malloc mode (VIGIL_MALLOC=malloc)" 0 env VIGIL_MALLOC=malloc "$vigil" run -- "$torture" all "$plugin"
run "malloc_debug mode" 0 env VIGIL_MALLOC=malloc_debug "$vigil" run -- "$torture" all "$plugin"
for mode in arena debug; do
    flag=; [ $mode = debug ] && flag=--debug
    run "$mode mode: pthread keys used up before the first allocation" 0 \
        "$vigil" run $flag -- "$torture" many-keys
    n=0
    while [ $n -lt 5 ]; do
        run "$mode mode: several threads call exit at once (run $n)" 0 \
            timeout 20 "$vigil" run $flag -- "$torture" exit-threads
        n=$((n + 1))
    done
done

# Debug mode keeps glibc's top of heap as big as the quarantine (its big
# blocks come back to glibc in bursts, a quarantine after their free), unless
# the user set glibc's trim threshold, which then stands.
run "debug mode: glibc's heap top kept" 0 "$vigil" run --debug -- "$torture" heap-top
keep=$(sed -n 's/^keep //p' "$out")
if [ -n "$keep" ]; then
    name="debug mode: glibc's heap top kept ($keep bytes free, more than 256 KiB)"
    if [ "$keep" -gt 262144 ]; then ok "$name"; else bad "$name"; fi
    run "debug mode: the user's GLIBC_TUNABLES trim threshold stands" 0 \
        env GLIBC_TUNABLES=glibc.malloc.trim_threshold=131072 "$vigil" run --debug -- "$torture" heap-top
    keep=$(sed -n 's/^keep //p' "$out")
    name="debug mode: trimmed at the user's 128 KiB ($keep bytes free)"
    if [ -n "$keep" ] && [ "$keep" -le 135168 ]; then ok "$name"; else bad "$name"; fi
else
    skip "debug mode: glibc's heap top (not glibc 2.33 or later)"
fi

echo "--- seeded bugs in an unmodified program: vigil run --debug"
# The first frame of the stack under the line HEADING of the report.
first_frame() {
    awk -v h="$1" 'f { print; exit } $0 == h { f = 1 }' "$err"
}

# bug NAME REPORT-WORDS WHERE [CALL]: the report's first line names the
# error and the very block the program printed; WHERE is the function of
# the bad call's first frame, the program's call of CALL (default free),
# which the heading names as the program called it, not by vigil's API
# (every frame of every stack is asserted by tests/tools/stacks.sh).
bug() {
    run "$1: exit status 86" 86 "$vigil" run --debug -- "$bugs" "$1"
    addr=$(head -n 1 "$out")
    has "$1: '$2' on the block" "$err" "^vigil: $2 on block $addr \\("
    has "$1: the heading names ${4:-free}" "$err" "^${4:-free} called by thread T0 here:\$"
    lacks "$1: not vigil's API" "$err" 'vigil_[a-z]+_[a-z]+ called by'
    if first_frame "${4:-free} called by thread T0 here:" |
        grep -Eq "^    #0 0x[0-9a-f]+ in $3[ (]"; then
        ok "$1: the call that found it"
    else
        echo "    (the bad call's first frame is not in $3)"; bad "$1: the call that found it"
    fi
    lacks "$1: exit, not abort" "$err" 'aborting'
}
bug overflow "buffer overflow" bug_overflow
bug underflow "buffer underflow" bug_underflow
bug double-free "double free" bug_double_free
bug stack-free "invalid free" bug_stack_free
bug realloc-shrink "buffer overflow" bug_realloc_shrink
has "realloc-shrink: the size after the realloc" "$err" '\(40 bytes, API'
has "realloc-shrink: allocated by the realloc" "$err" '^allocated by thread T0 here:$'
bug big-overflow "buffer overflow" bug_big_overflow
has "big-overflow: the 5,000-byte block" "$err" '\(5000 bytes, API'
bug realloc-overflow "buffer overflow" bug_realloc_overflow realloc
bug reallocarray-freed "double free" bug_reallocarray_freed reallocarray
run "write-after-free: exit status 86" 86 "$vigil" run --debug -- "$bugs" write-after-free
has "write-after-free: 'use after free' on the block" "$err" "^vigil: use after free on block $(head -n 1 "$out") \\("
has "write-after-free: found at exit" "$err" 'found at exit, when the quarantine was checked'
if first_frame "freed by thread T0 here:" | grep -Eq "^    #0 0x[0-9a-f]+ in bug_write_after_free[ (]"; then
    ok "write-after-free: where it was freed"
else
    bad "write-after-free: where it was freed"
fi
# A bug in main itself, built without a frame record: the bad call's stack
# goes on past main as far as the allocation's does (the C library's start,
# as ASan's), not cut at main.
bug main-overflow "buffer overflow" main
past_main() {
    awk -v h="$1" '$0 == h { f = 1; next } f && !/^    #/ { exit }
        f && m { sub(/^ *#[0-9]+ /, ""); print } f && / in main / { m = 1 }' "$err"
}
freed_tail=$(past_main "free called by thread T0 here:")
alloc_tail=$(past_main "allocated by thread T0 here:")
if [ -n "$freed_tail" ] && [ "$freed_tail" = "$alloc_tail" ] &&
    printf '%s\n' "$freed_tail" | grep -q 'libc_start_main\|libc\.so'; then
    ok "main-overflow: the bad call's stack goes on past main, as the allocation's"
else
    echo "    (past main, free: $(printf '%s' "$freed_tail" | tr '\n' '|'); allocation: $(printf '%s' "$alloc_tail" | tr '\n' '|'))"
    bad "main-overflow: the bad call's stack goes on past main, as the allocation's"
fi
run "double free of a block whose mapping is gone: reported" 86 \
    "$vigil" run --debug --quarantine=0 -- "$bugs" double-free-large
has "double free of an unmapped block: the checker did not crash" "$err" \
    "^vigil: invalid free on block 0x[0-9a-f]+ \\(not a vigil block\\)"
run "clean: exit status 0" 0 "$vigil" run --debug -- "$bugs" clean
lacks "clean: no report" "$err" '^vigil:'
run "--error-exitcode chooses the status" 99 "$vigil" run --debug --error-exitcode=99 -- "$bugs" overflow
has "--error-exitcode: the report says so" "$err" '^vigil: exiting with status 99'
run "VIGIL_ABORT=0: report and go on" 0 env VIGIL_ABORT=0 "$vigil" run --debug -- "$bugs" overflow
has "VIGIL_ABORT=0: the program finished" "$out" '^done$'
has "VIGIL_ABORT=0: the report" "$err" '^vigil: buffer overflow'

echo "--- seeded bugs under vigil memcheck"
if ! command -v valgrind >/dev/null 2>&1; then
    skip "vigil memcheck: valgrind is not installed"
elif valgrind -q "$bugs" clean 2>&1 >/dev/null | grep -q 'Serious error when reading debug info'; then
    skip "vigil memcheck: this valgrind cannot read the build's debug info (clang's DWARF 5: CFLAGS=-gdwarf-4)"
else
    run "fall-back mode: clean program" 0 "$vigil" memcheck -q -- "$bugs" clean
    run "fall-back mode: overflow" 86 "$vigil" memcheck -q -- "$bugs" overflow
    has "fall-back mode: memcheck's own block" "$err" '0 bytes after a block of size 24 alloc.d'
    run "fall-back mode: double free" 86 "$vigil" memcheck -q -- "$bugs" double-free
    has "fall-back mode: invalid free" "$err" 'Invalid free'
    if "$vigil" info | grep -q '^valgrind annotations: *yes'; then
        run "arena mode: clean program, all single-threaded checks" 0 \
            "$vigil" memcheck -q --arena --leak-check=full --errors-for-leak-kinds=definite -- \
            "$torture" serial "$plugin"
        run "arena mode: overflow of a pool block" 86 "$vigil" memcheck -q --arena -- "$bugs" overflow
        has "arena mode: invalid write in the program" "$err" 'Invalid write of size 1'
        has "arena mode: at the bug" "$err" 'at 0x[0-9A-F]+: bug_overflow'
        run "arena mode: write after free" 86 "$vigil" memcheck -q --arena -- "$bugs" write-after-free
        run "arena mode: big overflow (libc's block)" 86 "$vigil" memcheck -q --arena -- "$bugs" big-overflow
        has "arena mode: big overflow: memcheck's block" "$err" '0 bytes after a block of size 5,000'
    else
        skip "vigil memcheck --arena: built without Valgrind support"
    fi
fi

echo "--- real programs: the same output with and without vigil"
# find_real NAME: the base system's program (/usr/bin first), or nothing.
find_real() {
    if [ -x "/usr/bin/$1" ]; then echo "/usr/bin/$1"; else command -v "$1" 2>/dev/null; fi
}

# same NAME OUTFILE COMMAND...: run COMMAND without vigil, then through
# `vigil run` and `vigil run --debug`; status, stdout and OUTFILE (when not
# "-") must be the same each time, and vigil must say nothing.
same() {
    what=$1 file=$2; shift 2
    rm -f "$file" 2>/dev/null
    timeout 600 "$@" >"$tmp/ref.out" 2>"$tmp/ref.err"
    ref=$?
    [ "$file" = - ] || cp "$file" "$tmp/ref.file" 2>/dev/null
    for flag in "" --debug; do
        label="$what, ${flag:-arena mode}"
        [ "$file" = - ] || rm -f "$file"
        run "$label: status $ref" "$ref" "$vigil" run $flag -- "$@"
        if cmp -s "$out" "$tmp/ref.out"; then ok "$label: same output"; else bad "$label: same output"; fi
        if [ "$file" != - ]; then
            if cmp -s "$file" "$tmp/ref.file"; then ok "$label: same file"; else bad "$label: same file"; fi
        fi
        lacks "$label: no report" "$err" '^vigil:'
    done
}

py=$(find_real python3)
if [ -n "$py" ]; then
    cat >"$tmp/roundtrip.py" <<'EOF'
import json
objs = [{"id": i, "name": "item%d" % i, "tags": ["t%d" % (i % 7), "x" * (i % 50)],
         "score": i * 0.5, "nested": {"a": i % 13, "b": str(i)}} for i in range(100000)]
text = json.dumps(objs, sort_keys=True)
back = json.loads(text)
assert back == objs
print(len(text), sum(o["nested"]["a"] for o in back))
EOF
    same "python3: JSON round-trip of 100k objects" - "$py" "$tmp/roundtrip.py"
else
    skip "python3: not installed"
fi

pl=$(find_real perl)
if [ -n "$pl" ]; then
    cat >"$tmp/hash.pl" <<'EOF'
my %h;
for my $i (1 .. 200000) { $h{"key$i"} = "value" . ($i * 7) . ("x" x ($i % 40)); }
my $total = 0;
$total += length($h{$_}) for sort keys %h;
delete $h{"key$_"} for grep { $_ % 3 == 0 } 1 .. 200000;
print scalar(keys %h), " $total\n";
EOF
    same "perl: a hash of 200k strings" - "$pl" "$tmp/hash.pl"
else
    skip "perl: not installed"
fi

gt=$(find_real git)
if [ -z "$gt" ]; then
    skip "git: not installed"
elif ! "$gt" -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
    skip "git: $src is not a git repository (a dist tarball has no .git)"
else
    same "git: log -p of this repository" - "$gt" -C "$src" --no-pager log -p --stat
fi

cc_=$(find_real gcc)
if [ -n "$cc_" ]; then
    same "gcc: compile and link a C program" "$tmp/prog" \
        "$cc_" -O2 -g -Wall -I"$build" -pthread -o "$tmp/prog" "$src/tests/programs/preload_torture.c" -ldl
else
    skip "gcc: not installed"
fi

st=$(find_real sort)
if [ -n "$st" ]; then
    awk 'BEGIN { for (i = 0; i < 300000; i++) printf "%d,line %d,%x\n", (i * 7919) % 100003, i, i * 31 }' \
        >"$tmp/lines.txt"
    # A bounded buffer: by default sort sizes it by the machine's memory, and
    # the debug hooks fill every byte of a new block.
    same "sort: 300k lines, by two keys" - "$st" -S 64M -t, -k1,1n -k3,3 "$tmp/lines.txt"
else
    skip "sort: not installed"
fi

echo "preload: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
