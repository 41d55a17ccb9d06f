# checks.sh - what the shell layers of `make check` (preload.sh, trace.sh)
# share, sourced after `set -u`: a temporary directory, the kept output of
# the last run, and the checks that count passes and failures.
#   run NAME EXPECTED_STATUS COMMAND...   stdout and stderr are kept for
#                                         the checks that follow; the
#                                         status must match
#   has NAME FILE PATTERN / lacks NAME FILE PATTERN   (grep -E)
#   ok NAME / skip NAME / bad NAME        count one, say why
# The caller ends with: [ "$fail" -eq 0 ].

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
out="$tmp/out" err="$tmp/err"
pass=0 fail=0 skip=0

ok()   { pass=$((pass + 1)); echo "PASS: $1"; }
skip() { skip=$((skip + 1)); echo "SKIP: $1"; }
bad()  {
    fail=$((fail + 1)); echo "FAIL: $1"
    echo "    stdout:"; tail -n 15 "$out" | sed 's/^/    | /'
    echo "    stderr:"; tail -n 30 "$err" | sed 's/^/    | /'
}

run() {
    name=$1 want=$2; shift 2
    timeout 600 "$@" >"$out" 2>"$err"
    got=$?
    if [ "$got" -eq "$want" ]; then ok "$name"; else echo "    (exit $got, wanted $want)"; bad "$name"; fi
}

has() {
    if grep -Eq -- "$3" "$2"; then ok "$1"; else echo "    (no match for: $3)"; bad "$1"; fi
}
lacks() {
    if grep -Eq -- "$3" "$2"; then echo "    (unexpected: $3)"; bad "$1"; else ok "$1"; fi
}
