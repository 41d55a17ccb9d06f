#!/bin/sh
# apidoc.sh - the documentation check of `make check` (target check-apidoc):
# the C API that include/vigil.h declares is the API that README.md's table
# and vigil(3) (man/vigil.3.in) document, no more and no less.
#   - every public function of vigil.h (each vigil_ name followed by "(")
#     must be in the README's API table, and in vigil(3) both in the
#     SYNOPSIS and in the text after it;
#   - every type of vigil.h and every macro of vigil.h and
#     annotate/vigil/annotate.h must be in vigil(3);
#   - no vigil_ function that vigil.h does not declare may be named in the
#     README or in vigil(3) (PENDING below lists the exceptions, and each
#     must leave the list as soon as vigil.h declares it);
#   - groff, when installed, formats vigil(3) without a warning.
# Then it shows that the check fails when it should, on copies changed in
# one way each (a check that cannot fail checks nothing): a function gone
# from the man page, a row gone from the table, a function declared that
# neither documents, a function documented that is not declared, a pending
# function declared, a macro the man page lacks, a page groff warns about.
# Each must fail, naming what was changed and nothing else new.
# Usage: apidoc.sh SRCDIR
set -u
src=$1
. "$src/tests/tools/layer.sh"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"; rm -f "$log"' EXIT

# Documented before vigil.h declares them: the tracing API of DESIGN.md
# ("Tracing and leaks"), whose declarations come with the tracing wrapper.
PENDING="vigil_trace_start vigil_trace_stop vigil_trace_frames vigil_trace_get
vigil_trace_print_top"

# ---- what each file holds ----

# Public functions declared in a header: vigil_ names followed by "(",
# comments left out.
header_functions() {
    sed 's,//.*,,' "$1" | awk '
        { text = text $0 "\n" }
        END {
            while ((i = index(text, "/*")) > 0) {
                rest = substr(text, i + 2); j = index(rest, "*/")
                text = substr(text, 1, i - 1) (j ? substr(rest, j + 2) : "")
            }
            printf "%s", text
        }' | grep -oE 'vigil_[a-z][a-z0-9_]*[[:space:]]*\(' | sed 's/[[:space:](]*$//' | sort -u
}
# Types of a header (typedef names) and macros (#define NAME, not the
# include guard, not the helpers whose names end in "_").
header_types() { grep -oE '^\}[[:space:]]*vigil_[a-z_]+;|^typedef .*\}[[:space:]]*vigil_[a-z_]+;' "$1" | grep -oE 'vigil_[a-z_]+;$' | tr -d ';' | sort -u; }
header_macros() {
    grep -oE '^#[[:space:]]*define[[:space:]]+VIGIL_[A-Z0-9_]+' "$1" | awk '{ print $NF }' |
        grep -v '_$' | grep -vE '^VIGIL_[A-Z]*_H$|^VIGIL_H$' | sort -u
}

# The man page as its reader sees the words: font escapes and quotes gone,
# the arguments of the alternating-font macros (.BR, .BI, ...) joined as
# groff joins them, without spaces.  Each line is prefixed with its section.
man_text() {
    awk '
        /^\.\\"/ { next }
        /^\.SH/ { sec = $0; sub(/^\.SH[ \t]*/, "", sec); gsub(/"/, "", sec); next }
        {
            line = $0
            gsub(/\\f[BIRP]/, "", line); gsub(/\\f\(..|\\f\[[^]]*\]/, "", line)
            gsub(/\\-/, "-", line); gsub(/\\e/, "\\", line); gsub(/\\&/, "", line)
            if (line ~ /^\.(BR|RB|BI|IB|IR|RI)[ \t]/) {
                sub(/^\.[A-Z][A-Z][ \t]*/, "", line); out = ""
                while (line != "") {
                    if (substr(line, 1, 1) == "\"") {
                        line = substr(line, 2); j = index(line, "\"")
                        if (!j) j = length(line) + 1
                        out = out substr(line, 1, j - 1); line = substr(line, j + 1)
                    } else {
                        j = match(line, /[ \t]/)
                        if (!j) { out = out line; line = "" }
                        else { out = out substr(line, 1, j - 1); line = substr(line, j) }
                    }
                    sub(/^[ \t]+/, "", line)
                }
                line = out
            } else if (line ~ /^\.(B|I)[ \t]/) {
                sub(/^\.[BI][ \t]*/, "", line); gsub(/"/, "", line)
            }
            print sec "\t" line
        }' "$1"
}
# Functions the page names (followed by "("), in one section or all.
man_functions() { man_text "$1" | grep -oE 'vigil_[a-z][a-z0-9_]*\(' | tr -d '(' | sort -u; }
man_functions_in() { man_text "$1" | awk -F'\t' -v s="$2" '$1 == s { print $2 }' |
    grep -oE 'vigil_[a-z][a-z0-9_]*\(' | tr -d '(' | sort -u; }
man_functions_after() { man_text "$1" | awk -F'\t' -v s="$2" '$1 != s && $1 != "" { print $2 }' |
    grep -oE 'vigil_[a-z][a-z0-9_]*\(' | tr -d '(' | sort -u; }
man_words() { man_text "$1" | cut -f2 | grep -oE '[A-Za-z_][A-Za-z0-9_]*' | sort -u; }

# The README's API table: the first column of the table under "## The API
# in brief", its vigil_ names with their braces expanded
# (vigil_{raw,mem}_free: two names).
# readme_rows: one line per row of the table, its names.
readme_rows() {
    awk '/^## / { on = ($0 ~ /^## The API in brief/) } on && /^\|/ { print }' "$1" |
    awk -F'|' '
        function expand(s,   i, j, n, k, alts) {
            i = index(s, "{")
            if (!i) { if (s ~ /^vigil_[a-z]/) out = out " " s; return }
            j = i + index(substr(s, i), "}") - 1
            n = split(substr(s, i + 1, j - i - 1), alts, ",")
            for (k = 1; k <= n; k++) expand(substr(s, 1, i - 1) alts[k] substr(s, j + 1))
        }
        NR > 2 {
            out = ""; col = $2
            while (match(col, /vigil_[a-z0-9_{},]*/)) {
                expand(substr(col, RSTART, RLENGTH)); col = substr(col, RSTART + RLENGTH)
            }
            print substr(out, 2)
        }'
}
readme_table() { readme_rows "$1" | tr ' ' '\n' | grep -E '^vigil_[a-z]' | sort -u; }
# Functions the README names anywhere as calls (vigil_name followed by "(").
readme_calls() { grep -oE 'vigil_[a-z][a-z0-9_]*\(' "$1" | tr -d '(' | sort -u; }

is_pending() { case " $(echo $PENDING) " in *" $1 "*) return 0 ;; esac; return 1; }

# ---- the check ----

# check HEADER ANNOTATE README MANPAGE: FAIL lines for every disagreement;
# status 1 when there is one.
check() {
    h=$1 a=$2 r=$3 m=$4 status=0
    header_functions "$h" >"$tmp/declared"
    readme_table "$r" >"$tmp/table"
    { readme_table "$r"; readme_calls "$r"; } | sort -u >"$tmp/readme_named"
    man_functions_in "$m" SYNOPSIS >"$tmp/man_synopsis"
    man_functions_after "$m" SYNOPSIS >"$tmp/man_text"
    man_functions "$m" >"$tmp/man_named"
    man_words "$m" >"$tmp/man_words"
    if [ ! -s "$tmp/declared" ]; then
        echo "FAIL: $h declares no vigil_ function (is it the API header?)"; return 1
    fi
    for f in $(cat "$tmp/declared"); do
        grep -qx "$f" "$tmp/table" ||
            { echo "FAIL: $f is declared in vigil.h but missing from the README's API table"; status=1; }
        grep -qx "$f" "$tmp/man_synopsis" ||
            { echo "FAIL: $f is declared in vigil.h but missing from the SYNOPSIS of vigil(3)"; status=1; }
        grep -qx "$f" "$tmp/man_text" ||
            { echo "FAIL: $f is declared in vigil.h but not described in vigil(3) (only its SYNOPSIS names it)"; status=1; }
        if is_pending "$f"; then
            echo "FAIL: $f is declared in vigil.h now: remove it from PENDING in tests/tools/apidoc.sh"; status=1
        fi
    done
    for f in $(cat "$tmp/readme_named"); do
        grep -qx "$f" "$tmp/declared" ||
            { echo "FAIL: the README names $f, which vigil.h does not declare"; status=1; }
    done
    for f in $(cat "$tmp/man_named"); do
        grep -qx "$f" "$tmp/declared" || is_pending "$f" ||
            { echo "FAIL: vigil(3) names $f, which vigil.h does not declare"; status=1; }
    done
    for t in $(header_types "$h") $(header_macros "$h") $(header_macros "$a"); do
        grep -qx "$t" "$tmp/man_words" ||
            { echo "FAIL: $t (from $(basename "$h") or $(basename "$a")) is missing from vigil(3)"; status=1; }
    done
    return $status
}

# lint MANPAGE: groff's warnings, as FAIL lines.
have_groff=; command -v groff >/dev/null 2>&1 && have_groff=1
lint() {
    [ -n "$have_groff" ] || return 0
    sed 's/@[A-Za-z_]*@/x/g' "$1" >"$tmp/lint.3"
    w=$(groff -man -Tutf8 -ww -z "$tmp/lint.3" 2>&1)
    [ -z "$w" ] && return 0
    echo "$w" | sed 's/^/FAIL: groff: /'
    return 1
}

header="$src/include/vigil.h"
annotate="$src/annotate/vigil/annotate.h"
readme="$src/README.md"
man="$src/man/vigil.3.in"

echo "--- include/vigil.h against README.md and vigil(3)"
check "$header" "$annotate" "$readme" "$man" >"$tmp/real.out"
status=$?
cp "$tmp/real.out" "$log"
if [ $status -eq 0 ]; then
    ok "every function of vigil.h ($(wc -l <"$tmp/declared" | tr -d ' ')) is in the README's table and vigil(3), and they name no other"
else
    bad "the README, vigil(3) and vigil.h agree"
fi
if [ -n "$have_groff" ]; then
    lint "$man" >"$log"
    if [ $? -eq 0 ]; then ok "groff -man -ww formats vigil(3) without a warning"; else bad "groff formats vigil(3) without a warning"; fi
else
    echo "SKIP: groff is not installed: vigil(3) not linted"
fi

echo "--- the check fails when it should"
grep '^FAIL' "$tmp/real.out" | sort >"$tmp/base.fails"
# expect NAME PATTERN HEADER ANNOTATE README MANPAGE: the check of these
# files fails, with a FAIL line matching PATTERN, and no other new one.
expect() {
    name=$1 pat=$2; shift 2
    check "$@" >"$tmp/mut.out"
    st=$?
    grep '^FAIL' "$tmp/mut.out" | sort | comm -13 "$tmp/base.fails" - >"$tmp/new.fails"
    cp "$tmp/mut.out" "$log"
    if [ $st -eq 0 ]; then
        echo "    (the check passed)"; bad "$name"
    elif ! grep -Eq "$pat" "$tmp/new.fails"; then
        echo "    (no new FAIL line matching: $pat)"; bad "$name"
    elif grep -Evq "$pat" "$tmp/new.fails"; then
        echo "    (other new FAIL lines:)"; grep -Ev "$pat" "$tmp/new.fails" | sed 's/^/    /'; bad "$name"
    else
        ok "$name"
    fi
}

# A function vigil.h declares that the table names on a row of its own, so
# that dropping the row drops it alone.
victim=$(readme_rows "$readme" | awk 'NF == 1 { print $1 }' | grep -vxF "$(echo $PENDING | tr ' ' '\n')" |
    grep -xF -f "$tmp/declared" | sed -n '1p')
[ -n "$victim" ] || victim=$(sed -n '1p' "$tmp/declared")

sed "/$victim/d" "$man" >"$tmp/noman.3"
expect "vigil(3) without $victim fails, naming it" \
    "^FAIL: $victim is declared in vigil.h but (missing from the SYNOPSIS|not described in)" \
    "$header" "$annotate" "$readme" "$tmp/noman.3"

awk -v v="$victim" '/^## / { on = ($0 ~ /^## The API in brief/) } !(on && /^\|/ && index($0, v)) { print }' \
    "$readme" >"$tmp/README.md"
expect "the README's table without the row of $victim fails, naming it" \
    "^FAIL: $victim is declared in vigil.h but missing from the README's API table" \
    "$header" "$annotate" "$tmp/README.md" "$man"

sed 's/^\(VIGIL_API void vigil_setup_debug_hooks(void);\)$/\1\nVIGIL_API int vigil_apidoc_probe(int n);/' \
    "$header" >"$tmp/vigil.h"
grep -q vigil_apidoc_probe "$tmp/vigil.h" || echo "VIGIL_API int vigil_apidoc_probe(int n);" >>"$tmp/vigil.h"
expect "a function declared and documented nowhere fails, in both documents" \
    "^FAIL: vigil_apidoc_probe is declared in vigil.h but" \
    "$tmp/vigil.h" "$annotate" "$readme" "$man"
[ "$(grep -c '^FAIL: vigil_apidoc_probe' "$tmp/mut.out")" -eq 3 ] &&
    ok "  ... missing from the table, the SYNOPSIS and the text" ||
    bad "a function documented nowhere: three FAIL lines"

{ cat "$man"; printf '%s\n' '.PP' '.BR vigil_apidoc_gone ()' 'is documented here.'; } >"$tmp/extra.3"
expect "vigil(3) naming a function vigil.h does not declare fails" \
    "^FAIL: vigil\\(3\\) names vigil_apidoc_gone, which vigil.h does not declare" \
    "$header" "$annotate" "$readme" "$tmp/extra.3"

{ cat "$readme"; echo 'Call `vigil_apidoc_gone()` to see.'; } >"$tmp/README.md"
expect "the README naming a function vigil.h does not declare fails" \
    "^FAIL: the README names vigil_apidoc_gone, which vigil.h does not declare" \
    "$header" "$annotate" "$tmp/README.md" "$man"

pending1=$(echo $PENDING | awk '{ print $1 }')
if [ -n "$pending1" ] && ! grep -qx "$pending1" "$tmp/declared"; then
    { cat "$header"; echo "VIGIL_API int $pending1(int n);"; } >"$tmp/vigil.h"
    expect "a pending function that vigil.h declares fails until PENDING drops it" \
        "^FAIL: $pending1 is declared in vigil.h (now: remove it from PENDING|but missing from the README)" \
        "$tmp/vigil.h" "$annotate" "$readme" "$man"
    grep -q "^FAIL: $pending1 is declared in vigil.h now: remove it from PENDING" "$tmp/mut.out" &&
        ok "  ... saying so" || bad "a pending function declared: the PENDING line"
fi

macro=$(header_macros "$annotate" | sed -n '1p')
sed "/$macro/d" "$man" >"$tmp/nomacro.3"
expect "vigil(3) without the macro $macro fails, naming it" \
    "^FAIL: $macro \\(from vigil.h or annotate.h\\) is missing from vigil\\(3\\)" \
    "$header" "$annotate" "$readme" "$tmp/nomacro.3"

if [ -n "$have_groff" ]; then
    { cat "$man"; echo '.XYZZY not a macro'; } >"$tmp/warn.3"
    lint "$tmp/warn.3" >"$log"
    if [ $? -ne 0 ] && grep -q XYZZY "$log"; then ok "a page groff warns about fails the lint"
    else bad "a page groff warns about fails the lint"; fi
fi

finish apidoc
