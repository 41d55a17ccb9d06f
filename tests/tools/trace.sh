#!/bin/sh
# trace.sh - allocation tracing of unmodified programs (target check-trace):
# tests/programs/trace_plain.c through the preload, with `vigil run --trace`
# and with VIGIL_TRACE alone; the sites printed at exit held to their exact
# bytes, blocks, functions and file:line (the program prints the line of
# each allocation); over the debug hooks; 8 threads at once; the massif
# file read by ms_print; the options refused; the preload's torture test
# and a real program traced to the end.
# Usage: trace.sh BUILDDIR SRCDIR
set -u
build=$1 src=$2
vigil="$build/tools/vigil"
plain="$build/tests/trace_plain"
torture="$build/tests/preload_torture"
plugin="$build/tests/.libs/preload_plugin.so"

VIGIL_PRELOAD="$build/.libs/libvigil-preload.so"
export VIGIL_PRELOAD
# harness.sh, then run, has and lacks
. "$src/tests/tools/checks.sh"

# where FUNC: the "trace_plain.c:LINE" the program said FUNC allocates on.
where() { sed -n "s/^expect $1 //p" "$out" | head -n 1; }

# site NAME K HEAD FUNC: site K of stderr says "HEAD allocated from:" and
# its frame #0 is FUNC at the line the program named.
site() {
    loc=$(where "$4")
    if awk -v k="Site $2: $3 allocated from:" -v f=" in $4 " -v loc="$loc" '
        $0 == k { at = NR }
        at && NR == at + 1 { found = index($0, "    #0 0x") == 1 && index($0, f) > 0 &&
                                    (substr($0, length($0) - length(loc)) == "/" loc ||
                                     substr($0, length($0) - length(loc)) == " " loc) }
        END { exit !found }' "$err"; then
        ok "$1"
    else
        echo "    (wanted 'Site $2: $3' from $4 at $loc)"; bad "$1"
    fi
}

sites_of_plain() {
    site "$1: site 1, calloc" 1 "100000 byte(s) in 1 block(s)" plain_big
    site "$1: site 2, posix_memalign from the system" 2 "5000 byte(s) in 1 block(s)" plain_page_aligned
    site "$1: site 3, realloc" 3 "3000 byte(s) in 1 block(s)" plain_grow
    site "$1: site 4, malloc" 4 "400 byte(s) in 10 block(s)" plain_name
    site "$1: site 5, aligned_alloc from the arena" 5 "128 byte(s) in 1 block(s)" plain_line_aligned
    lacks "$1: freed blocks are not live" "$err" ' 777 byte'
}

echo "--- vigil run --trace"
run "run --trace" 0 "$vigil" run --trace -- "$plain" sites
has "run --trace: the header" "$err" '^vigil: live blocks by allocation site, most bytes first \(16 frame\(s\) traced\)$'
sites_of_plain "run --trace"
has "run --trace: the summary" "$err" '^vigil: SUMMARY: [0-9]+ byte\(s\) in [0-9]+ live block\(s\) from [0-9]+ allocation site\(s\), [0-9]+ shown$'
has "run --trace: what tracing costs" "$err" '^vigil: trace memory: block table [0-9]+ byte\(s\) for [0-9]+ block\(s\), depot [0-9]+ byte\(s\) of stacks and [0-9]+ of index for [0-9]+ stack\(s\); [0-9]+ allocation\(s\) traced; lost: 0 trace\(s\), 0 stack\(s\)$'
has "run --trace: the caller's frame" "$err" "^    #1 0x[0-9a-f]+ in sites .*trace_plain\.c:[0-9]+$"

run "run --trace: the environment" 0 "$vigil" run --trace -- \
    sh -c 'echo "$VIGIL_TRACE $VIGIL_TRACE_TOP ${VIGIL_TRACE_FILE-unset}"'
has "run --trace: 16 frames, 10 sites, no file" "$out" '^16 10 unset$'
run "run --trace=8 --trace-top=3 --trace-file=F: the environment" 0 "$vigil" run --trace=8 \
    --trace-top=3 --trace-file=/x/%p -- sh -c 'echo "$VIGIL_TRACE $VIGIL_TRACE_TOP $VIGIL_TRACE_FILE"'
has "run --trace=8 ...: as given" "$out" '^8 3 /x/%p$'
run "run --trace-top alone implies --trace" 0 "$vigil" run --trace-top=2 -- sh -c 'echo "$VIGIL_TRACE"'
has "run --trace-top alone: 16 frames" "$out" '^16$'

echo "--- frames and sites"
run "run --trace=2 --trace-top=1" 0 "$vigil" run --trace=2 --trace-top=1 -- "$plain" sites
has "--trace=2: two frames" "$err" '\(2 frame\(s\) traced\)$'
site "--trace=2: the top site" 1 "100000 byte(s) in 1 block(s)" plain_big
has "--trace=2: the caller" "$err" '^    #1 0x[0-9a-f]+ in sites '
lacks "--trace=2: no third frame" "$err" '^    #2 '
lacks "--trace-top=1: one site" "$err" '^Site 2:'
has "--trace-top=1: one shown" "$err" ', 1 shown$'

echo "--- VIGIL_TRACE through LD_PRELOAD alone"
run "VIGIL_TRACE=16 VIGIL_TRACE_TOP=5" 0 env LD_PRELOAD="$VIGIL_PRELOAD" VIGIL_TRACE=16 \
    VIGIL_TRACE_TOP=5 "$plain" sites
sites_of_plain "VIGIL_TRACE"
run "VIGIL_TRACE without VIGIL_TRACE_TOP prints nothing" 0 env LD_PRELOAD="$VIGIL_PRELOAD" \
    VIGIL_TRACE=16 "$plain" sites
lacks "VIGIL_TRACE alone: silent" "$err" 'vigil'
run "VIGIL_TRACE=99" 0 env LD_PRELOAD="$VIGIL_PRELOAD" VIGIL_TRACE=99 VIGIL_TRACE_TOP=1 "$plain" sites
has "VIGIL_TRACE=99: named" "$err" '^vigil: VIGIL_TRACE=99 is not valid; accepted: 0 \(off\) or the frames to record, 1 to 64 \(16 is usual\); using the default$'
has "VIGIL_TRACE=99: off" "$err" '^vigil: allocation tracing is off'

echo "--- over the debug hooks"
run "run --debug --trace" 0 "$vigil" run --debug --trace -- "$plain" sites
sites_of_plain "run --debug --trace"
lacks "run --debug --trace: no heap error" "$err" '^vigil: (buffer|double|invalid|use|API)'

echo "--- 8 threads at once"
# Two frames: the site and the thread function (see trace_api.c's threads).
run "run --trace=2: threads" 0 "$vigil" run --trace=2 -- "$plain" threads
site "threads: calloc, half freed" 1 "1200000 byte(s) in 4000 block(s)" plain_t2
has "threads: malloc, every block of every thread" "$err" '^Site [0-9]+: 43200 byte\(s\) in 1800 block\(s\) allocated from:$'
has "threads: the worker's frame" "$err" '^    #1 0x[0-9a-f]+ in worker .*trace_plain\.c:[0-9]+$'
has "threads: nothing lost" "$err" 'lost: 0 trace\(s\), 0 stack\(s\)$'

echo "--- the massif file"
run "run --trace-file" 0 "$vigil" run --trace-file="$tmp/plain.%p.massif" -- "$plain" sites
set -- "$tmp"/plain.*.massif
if [ $# -eq 1 ] && [ -f "$1" ]; then
    ok "--trace-file: one file, named by the process id"
    massif=$1
    if command -v ms_print >/dev/null 2>&1; then
        cp "$out" "$tmp/expect"
        ms_print --threshold=0 "$massif" >"$out" 2>"$err"
        if [ $? -eq 0 ]; then ok "ms_print reads it"; else bad "ms_print reads it"; fi
        loc=$(sed -n 's/^expect plain_big //p' "$tmp/expect")
        has "ms_print: the top site, its bytes, function and line" "$out" \
            "^->[0-9.]+% \(100,000B\) 0x[0-9a-f]+: plain_big \(.*$loc\)$"
        has "ms_print: its caller beneath it" "$out" "^\| ->[0-9.]+% \(100,000B\) 0x[0-9a-f]+: sites \("
        loc=$(sed -n 's/^expect plain_name //p' "$tmp/expect")
        has "ms_print: the ten small blocks" "$out" "^[| ]*->[0-9.]+% \(400B\) 0x[0-9a-f]+: plain_name \(.*$loc\)$"
    else
        skip "ms_print is not installed: the massif file not read"
    fi
else
    bad "--trace-file: one file, named by the process id"
fi

echo "--- a leak checker still sees leaks (the table holds every block's address)"
if ! command -v valgrind >/dev/null 2>&1; then
    skip "valgrind is not installed"
elif ! "$vigil" info | grep -q '^valgrind annotations: *yes$'; then
    skip "built without Valgrind annotations"
elif valgrind -q "$plain" leak 2>&1 >/dev/null | grep -q 'Serious error when reading debug info'; then
    skip "this valgrind cannot read the build's debug info (clang's DWARF 5: CFLAGS=-gdwarf-4)"
else
    VIGIL_SUPPRESSIONS="$src/supp/vigil.supp"
    export VIGIL_SUPPRESSIONS
    run "memcheck --arena under tracing: the leak" 86 env VIGIL_TRACE=16 "$vigil" memcheck --arena \
        --leak-check=full -- "$plain" leak
    has "memcheck --arena under tracing: definitely lost" "$err" 'definitely lost: 40 bytes in 1 blocks'
fi

echo "--- options refused"
for opt in --trace=0 --trace=65 --trace=x --trace-top=0 --trace-top=many --trace-file=; do
    run "run $opt: refused" 125 "$vigil" run "$opt" -- true
done
has "--trace-file=: says why" "$err" "^vigil: --trace-file: no file named"
run "run --trace=65: says why" 125 "$vigil" run --trace=65 -- true
has "--trace=65: names the range" "$err" "^vigil: --trace: '65' is not a number of frames from 1 to 64"

echo "--- programs traced to the end"
run "torture: every function, threads, fork, dlopen" 0 "$vigil" run --trace -- "$torture" all "$plugin"
has "torture: its sites at exit" "$err" '^vigil: SUMMARY: '
run "torture in debug mode" 0 "$vigil" run --debug --trace -- "$torture" all "$plugin"
lacks "torture in debug mode: no heap error" "$err" '^vigil: (buffer|double|invalid|use|API)'
if command -v python3 >/dev/null 2>&1; then
    run "python3" 0 "$vigil" run --trace --trace-top=3 -- python3 -c 'import json; print(len(json.dumps([{"a": i} for i in range(20000)])))'
    has "python3: its output" "$out" '^[0-9]+$'
    has "python3: its sites" "$err" '^Site 3: [0-9]+ byte\(s\) in [0-9]+ block\(s\) allocated from:$'
else
    skip "python3 is not installed"
fi

echo "trace: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
