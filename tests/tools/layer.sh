# layer.sh - what the shell test layers (valgrind.sh, asan.sh) share:
# running a command with some environment, and asserting on its status and
# its output.  Sourced; each layer ends with `finish NAME`.
pass=0 fail=0
log=$(mktemp) ; trap 'rm -f "$log"' EXIT

ok()  { pass=$((pass + 1)); echo "PASS: $1"; }
bad() { fail=$((fail + 1)); echo "FAIL: $1"; sed 's/^/    /' "$log" | tail -n 40; }

# run NAME WANT [ENV-ARGS...] -- COMMAND...
# WANT is an exit status, or "fail" for any non-zero one; ENV-ARGS are given
# to env(1) (NAME=VALUE, or -u NAME first).
run() {
    name=$1 want=$2; shift 2
    envs=
    while [ "$1" != -- ]; do envs="$envs $1"; shift; done
    shift
    env $envs "$@" >"$log" 2>&1
    got=$?
    if { [ "$want" = fail ] && [ "$got" -ne 0 ]; } || [ "$got" = "$want" ]; then
        ok "$name"
    else
        echo "    (exit $got, wanted $want)"; bad "$name"
    fi
}

# has / hasnt NAME PATTERN: the last run's output matches PATTERN (grep -E), or not
has() {
    if grep -Eq "$2" "$log"; then ok "$1"; else echo "    (no match for: $2)"; bad "$1"; fi
}
hasnt() {
    if grep -Eq "$2" "$log"; then echo "    (unwanted: $2)"; bad "$1"; else ok "$1"; fi
}

finish() {
    echo "$1: $pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
