#!/bin/sh
# layers.sh - the layer check of `make check` (target check-layers): the
# module graph read from the built objects of src/ must keep to the allowed
# arrows of src/LAYERS (tests/tools/modgraph.sh does the check), and the check is
# shown to fail when it should, because a check that cannot fail checks
# nothing:
#   - a copy of the list without one arrow the objects really use must fail,
#     naming that edge and nothing else new;
#   - a copy of the list with the back arrow of one of its arrows must fail,
#     reporting the loop;
#   - a tiny tree of three objects compiled here (a thread-local variable, a
#     loop) must pass, fail and warn as the rules say.
# The arrows are chosen from what the objects hold, so this works whatever
# the modules are.
# Usage: layers.sh BUILDDIR SRCDIR    (environment: NM, CC)
set -u
build=$1 src=$2
graph="$src/tests/tools/modgraph.sh"
list="$src/src/LAYERS"
. "$src/tests/tools/layer.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"; rm -f "$log"' EXIT

# without_arrow LIST A B / with_arrow LIST A B: LIST, less or plus A -> B.
without_arrow() {
    awk -v a="$2" -v b="$3" '
        { line = $0; sub(/#.*/, "", line); c = index(line, ":") }
        c { m = substr(line, 1, c - 1); gsub(/[ \t]/, "", m) }
        c && m == a {
            n = split(substr(line, c + 1), w); out = m ":"
            for (i = 1; i <= n; i++) if (w[i] != b) out = out " " w[i]
            print out; next
        }
        { print }' "$1"
}
with_arrow() {
    awk -v a="$2" -v b="$3" '
        { line = $0; sub(/#.*/, "", line); c = index(line, ":") }
        c { m = substr(line, 1, c - 1); gsub(/[ \t]/, "", m) }
        c && m == a { print line " " b; done = 1; next }
        { print }
        END { if (!done) print a ": " b }' "$1"
}
# fails_of FILE LIST: the FAIL lines of a modgraph output, sorted, with the
# name of the list they were checked against made LIST, to compare runs.
fails_of() {
    grep '^FAIL' "$1" |
    awk -v n="$2" '{ while ((i = index($0, n)) > 0) $0 = substr($0, 1, i - 1) "LIST" substr($0, i + length(n)); print }' |
    sort
}

echo "--- the objects of $build/src against src/LAYERS"
sh "$graph" "$build" "$src" >"$tmp/real.out" 2>&1
status=$?
sed 's/^/    /' "$tmp/real.out"
cp "$tmp/real.out" "$log"
if [ $status -eq 0 ]; then ok "the module graph keeps to src/LAYERS"
else fail=$((fail + 1)); echo "FAIL: the module graph keeps to src/LAYERS (exit $status; the problems are above)"; fi
hasnt "src/LAYERS itself has no loop" "FAIL: the allowed arrows .* make a loop"
hasnt "src/LAYERS is well formed" "FAIL: src/LAYERS:[0-9]+:"

echo "--- the check fails without an arrow the objects use"
sh "$graph" --edges "$build" "$src" >"$tmp/edges" 2>"$log"
# The first edge that src/LAYERS allows; with none (a tree far from its
# list) a list made of the objects' own graph, every edge allowed.
set -- $(awk '$4 == "allowed" { print $1, $2, $3; exit }' "$tmp/edges")
if [ $# -eq 3 ]; then
    base=$list basename=src/LAYERS; cp "$tmp/real.out" "$tmp/base.out"
else
    echo "    (src/LAYERS allows no edge of these objects: using a list made of their graph)"
    set -- $(awk 'NR == 1 { print $1, $2, $3 }' "$tmp/edges")
    awk '{ a[$1] = a[$1] " " $2; a[$2] = a[$2] } END { for (m in a) print m ":" a[m] }' "$tmp/edges" |
        sort >"$tmp/graph.list"
    base=$tmp/graph.list basename=$base
    sh "$graph" --list "$base" "$build" "$src" >"$tmp/base.out" 2>&1
fi
if [ $# -ne 3 ]; then
    echo "    (no edges at all)" >"$log"; bad "the objects have edges to check"
else
    caller=$1 callee=$2 sym=$3
    expect="FAIL: $caller -> $callee ($sym) is not an allowed arrow"
    without_arrow "$base" "$caller" "$callee" >"$tmp/removed.list"
    run "without the arrow $caller -> $callee: fails" 1 -- \
        sh "$graph" --list "$tmp/removed.list" "$build" "$src"
    if grep -Fqx "$expect" "$log"; then ok "without $caller -> $callee: names the edge and its symbol $sym"
    else echo "    (no line: $expect)"; bad "without $caller -> $callee: names the edge and its symbol $sym"; fi
    cp "$log" "$tmp/removed.out"
    fails_of "$tmp/base.out" "$basename" >"$tmp/base.fails"
    fails_of "$tmp/removed.out" "$tmp/removed.list" >"$tmp/removed.fails"
    if [ "$(comm -13 "$tmp/base.fails" "$tmp/removed.fails")" = "$expect" ] &&
       [ -z "$(comm -23 "$tmp/base.fails" "$tmp/removed.fails")" ]; then
        ok "without $caller -> $callee: that is the only difference"
    else
        diff "$tmp/base.fails" "$tmp/removed.fails" >"$log"; bad "without $caller -> $callee: that is the only difference"
    fi
fi

echo "--- the check fails on a loop in the list"
# The back arrow of the used arrow above, or else of the list's first arrow,
# or else (a list with no arrow) of a tiny list of the objects' first edge.
# That list has no loop (checked above), so any loop now has the new arrow.
looplist=$list
if [ "$base" != "$list" ] || [ $# -ne 3 ]; then
    set -- $(awk '{ sub(/#.*/, "") } /:/ { c = index($0, ":"); m = substr($0, 1, c - 1); gsub(/[ \t]/, "", m)
                   if (split(substr($0, c + 1), w) > 0) { print m, w[1]; exit } }' "$list")
fi
if [ $# -lt 2 ]; then
    set -- $(awk 'NR == 1 { print $1, $2 }' "$tmp/edges")
    [ $# -lt 2 ] || { printf '%s: %s\n%s:\n' "$1" "$2" "$2" >"$tmp/tiny.list"; looplist=$tmp/tiny.list; }
fi
if [ $# -lt 2 ]; then
    echo "    (no arrow in src/LAYERS, no edge in the objects)" >"$log"; bad "an arrow to turn back"
else
    with_arrow "$looplist" "$2" "$1" >"$tmp/loop.list"
    run "with the back arrow $2 -> $1: fails" 1 -- sh "$graph" --list "$tmp/loop.list" "$build" "$src"
    loop=$(sed -n 's/^FAIL: the allowed arrows of .* make a loop: \(.*\)$/ \1 /p' "$log")
    case $loop in
        *" $2 -> $1 "*) ok "with $2 -> $1: reports the loop ($(echo $loop))" ;;
        *) echo "    (no loop through $2 -> $1 reported)"; bad "with $2 -> $1: reports the loop" ;;
    esac
fi

echo "--- the rules, on three objects compiled here"
# top calls mid and reads base's thread-local depth; mid calls base; with
# -DLOOP base calls top back.
fake=$tmp/fake
mkdir -p "$fake/src" "$fake/build/src" "$fake/loop/src" "$fake/empty/src"
cat >"$fake/src/top.c" <<'EOF'
int mid(int n);
extern _Thread_local int depth;
int top(int n) { depth++; return mid(n); }
EOF
cat >"$fake/src/mid.c" <<'EOF'
int base_fn(int n);
int mid(int n) { return base_fn(n) + 1; }
EOF
cat >"$fake/src/base.c" <<'EOF'
_Thread_local int depth;
int top(int n);
int base_fn(int n)
{
#ifdef LOOP
    if (n > 100)
        return top(n - 100);
#endif
    return n + depth;
}
EOF
printf 'top: mid base\nmid: base\nbase:\n' >"$fake/good.list"
cc=${CC:-cc}
if ! ( for m in top mid base; do $cc -c "$fake/src/$m.c" -o "$fake/build/src/$m.o" || exit 1; done
       cp "$fake/build/src/top.o" "$fake/build/src/mid.o" "$fake/loop/src/" &&
       $cc -DLOOP -c "$fake/src/base.c" -o "$fake/loop/src/base.o" ) >"$log" 2>&1; then
    sed 's/^/    /' "$log"; echo "SKIP: $cc cannot compile the three objects"
else
    run "the good list passes" 0 -- sh "$graph" --list "$fake/good.list" "$fake/build" "$fake"
    has "the good list: 0 failed" '^modgraph: [0-9]+ passed, 0 failed$'
    has "the good list: the layers, top first" '^  2: top$'
    has "the good list: the bottom layer" '^  0: base$'
    without_arrow "$fake/good.list" top base >"$fake/l1"
    run "a thread-local variable is an edge" 1 -- sh "$graph" --list "$fake/l1" "$fake/build" "$fake"
    has "a thread-local variable: named" '^FAIL: top -> base \(depth\) is not an allowed arrow$'
    printf 'top: base\nbase:\n' >"$fake/l2"
    run "a module with no line fails" 1 -- sh "$graph" --list "$fake/l2" "$fake/build" "$fake"
    has "a module with no line: named" '^FAIL: src/mid\.c is module mid, which has no line in '
    with_arrow "$fake/good.list" ghost base >"$fake/l3"
    run "a listed module with no source: passes" 0 -- sh "$graph" --list "$fake/l3" "$fake/build" "$fake"
    has "a listed module with no source: a warning" '^warning: .* lists module ghost, which has no src/ghost\.c'
    printf 'top: mid base nowhere\nmid: base\nbase:\nmid: top\n' >"$fake/l4"
    run "a malformed list fails" 1 -- sh "$graph" --list "$fake/l4" "$fake/build" "$fake"
    has "a malformed list: an arrow to no module" ':1: top -> nowhere: there is no line for nowhere$'
    has "a malformed list: a module twice" ':4: mid has a line already \(line 2\)$'
    run "a loop in the objects fails" 1 -- sh "$graph" --list "$fake/good.list" "$fake/loop" "$fake"
    has "a loop in the objects: the upward edge" '^FAIL: base -> top \(top\) is not an allowed arrow$'
    has "a loop in the objects: the loop" "^FAIL: loop in the objects' graph: (base -> top -> mid -> base|top -> mid -> base -> top|mid -> base -> top -> mid)\$"
    run "no objects at all fails" 1 -- sh "$graph" --list "$fake/good.list" "$fake/empty" "$fake"
fi

finish layers
