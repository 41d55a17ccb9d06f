# checks.sh - the checks preload.sh and trace.sh share, over harness.sh
# (sourced first, for $out, $err and the counts):
#   run NAME EXPECTED_STATUS COMMAND...   stdout and stderr are kept for
#                                         the checks that follow; the
#                                         status must match
#   has NAME FILE PATTERN / lacks NAME FILE PATTERN   (grep -E)
. "$src/tests/tools/harness.sh"

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
