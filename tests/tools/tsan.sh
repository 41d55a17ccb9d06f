#!/bin/sh
# tsan.sh - the ThreadSanitizer layer of `make check` (target check-tsan):
# the CUnit suites that involve threads and the arena (tracing too: its 8
# threads run in a child program of the same tree), in a tree built with
# -fsanitize=thread, must finish with no ThreadSanitizer report.  (The debug
# suite's seeded double and invalid frees are memory bugs by design, which
# ThreadSanitizer reports too, so that suite is left to the other layers.)
# Usage: tsan.sh BUILDDIR
set -u
build=$1
log=$(mktemp) ; trap 'rm -f "$log"' EXIT
TSAN_OPTIONS="halt_on_error=1 exitcode=66 $(printf %s "${TSAN_OPTIONS:-}")" \
    "$build/tests/unit" config os sysalloc arena domain stats threads trace >"$log" 2>&1
status=$?
grep -E "tests +[0-9]+|asserts" "$log"
if [ $status -eq 0 ] && ! grep -q "WARNING: ThreadSanitizer" "$log"; then
    echo "tsan: 1 passed, 0 failed"
    exit 0
fi
tail -n 60 "$log"
echo "tsan: 0 passed, 1 failed"
exit 1
