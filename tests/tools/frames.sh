# frames.sh - asserting a report's stack frame by frame, for the layers
# that check every frame (stacks.sh, heapcheck.sh).  Sourced after
# harness.sh (ok, bad, $tmp), with $source set to the program's C file,
# whose lines are found by their "/* @NAME */" markers.

# The line of $source that ends with the marker comment NAME.
line() {
    n=$(grep -n "/\\* @$1 \\*/\$" "$source" | cut -d: -f1)
    [ -n "$n" ] || { echo "frames.sh: no marker @$1 in $source" >&2; exit 1; }
    echo "$n"
}

# The frame lines of the stack under the line HEADING of FILE.
section() {
    awk -v h="$2" 'f && /^    #[0-9]+ / { print; next } f { exit } $0 == h { f = 1 }' "$1"
}

# expect_frames FILE LABEL HEADING FUNC@MARKER...: the stack under HEADING
# in FILE is exactly these frames, #0 first, each "in FUNC .../PROG.c:LINE"
# (PROG.c: $source); no frame after them is the program's source.
expect_frames() {
    local file=$1 label=$2 heading=$3 prog problem k spec func ln got; shift 3
    prog=$(basename "$source")
    section "$file" "$heading" >"$tmp/section"
    problem= k=0
    for spec in "$@"; do
        func=${spec%@*} ln=$(line "${spec#*@}")
        got=$(sed -n "$((k + 1))p" "$tmp/section")
        if ! echo "$got" | grep -Eq "^    #$k 0x[0-9a-f]+ in $func (.*/)?${prog%.c}\\.c:$ln\$"; then
            problem="frame #$k: wanted $func at $prog:$ln, got: ${got:-nothing}"
            break
        fi
        k=$((k + 1))
    done
    if [ -z "$problem" ] && sed "1,${k}d" "$tmp/section" | grep -q "${prog%.c}\\.c:"; then
        problem="frames past #$((k - 1)) are the program's: $(sed "1,${k}d" "$tmp/section" | head -n 1)"
    fi
    if [ -z "$problem" ]; then ok "$label: $heading"; else echo "    ($problem)"; bad "$label: $heading"; fi
}
