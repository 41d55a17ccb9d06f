# harness.sh - what the shell layers of make check share, sourced by them
# (preload.sh, stacks.sh, trace.sh): none of the caller's vigil settings, a temporary
# directory with the last run's stdout and stderr ($out, $err), and the
# PASS / FAIL / SKIP lines and counts.  bad shows the last run's output,
# $bad_lines lines of its stderr (default 30).
unset VIGIL_MALLOC VIGIL_MALLOCSTATS VIGIL_QUARANTINE VIGIL_ABORT VIGIL_ERROR_EXITCODE \
      VIGIL_BREAK_SERIAL VIGIL_TRACE VIGIL_TRACE_TOP VIGIL_TRACE_FILE LD_PRELOAD \
      VIGIL_LEAKS VIGIL_LEAK_SUPPRESSIONS VIGIL_FAIL VIGIL_FAIL_LOG VIGIL_FAIL_FILE

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
out="$tmp/out" err="$tmp/err"
: >"$out"; : >"$err"
pass=0 fail=0 skip=0

ok()   { pass=$((pass + 1)); echo "PASS: $1"; }
skip() { skip=$((skip + 1)); echo "SKIP: $1"; }
bad()  {
    fail=$((fail + 1)); echo "FAIL: $1"
    echo "    stdout:"; tail -n 15 "$out" | sed 's/^/    | /'
    echo "    stderr:"; tail -n "${bad_lines:-30}" "$err" | sed 's/^/    | /'
}
