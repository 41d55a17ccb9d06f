#!/bin/sh
# modgraph.sh - the module graph of the built library, read from its object
# files with nm, held against the allowed arrows of src/LAYERS.
#
# A module is one source file src/NAME.c; its objects are those the build
# made from it (libtool's src/.libs/TARGET-NAME.o, else src/TARGET-NAME.o or
# src/NAME.o).  There is an edge A -> B when a symbol A's object leaves
# undefined (nm type U, or w/v for a weak reference; thread-local and other
# variables show as U too) is defined in B's object.  Self edges, and
# symbols defined nowhere in src/ (libc, pthread, the sanitizer runtimes),
# are not edges.  What is read is what was built: the objects, not the
# sources, so an inline function from a header counts where it is inlined.
#
# It fails (status 1), naming each problem, when
#   - an edge is not an allowed arrow ("a -> b (symbol) is not an allowed arrow");
#   - the objects' graph has a loop (each loop found is printed);
#   - the allowed arrows themselves make a loop;
#   - a source file or object of src/ belongs to no module of the list (a new
#     file must be given its place in the house);
#   - the list is malformed (a bad line, a module twice, an arrow to a
#     module the list does not have, a module pointing at itself);
#   - no object is found at all (nothing built: nothing would be checked).
# A module of the list with no object here (not built on this system, or not
# written yet) is a warning only, so the list can run ahead of the tree.
# Otherwise it passes and prints what it checked and the layers it found,
# ending with "modgraph: N passed, 0 failed".  Status 2: usage or I/O error.
#
# Usage: modgraph.sh [--list FILE] [--edges] BUILDDIR SRCDIR
#   --list FILE  check against FILE instead of SRCDIR/src/LAYERS
#   --edges      only print the edges found, one a line:
#                "caller callee first-symbol allowed|forbidden"; status 0
# Environment: NM, the nm to run (default nm; libtool's "nm -B" is fine).
set -u
LC_ALL=C; export LC_ALL    # one sort order, whatever the caller's locale

usage() { echo "usage: modgraph.sh [--list FILE] [--edges] BUILDDIR SRCDIR" >&2; exit 2; }

list= mode=check
while [ $# -gt 0 ]; do
    case $1 in
        --list) [ $# -ge 2 ] || usage; list=$2; shift 2 ;;
        --edges) mode=edges; shift ;;
        --) shift; break ;;
        -*) usage ;;
        *) break ;;
    esac
done
[ $# -eq 2 ] || usage
build=$1 src=$2
listname=$list
[ -n "$list" ] || { list=$src/src/LAYERS; listname=src/LAYERS; }
# -P (POSIX format: "name type value size") after NM's own options wins
# over libtool's -B; -g: external symbols only, a static one is no edge.
nm="${NM:-nm} -P -g"

[ -r "$list" ] || { echo "modgraph: cannot read the list $list" >&2; exit 2; }
[ -d "$src/src" ] || { echo "modgraph: no directory $src/src" >&2; exit 2; }

tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
mods=$tmp/mods    # "module number-of-objects", one line per source file
syms=$tmp/syms    # "module D|U symbol": defined in, or referenced by, module
: >"$mods"; : >"$syms"

# objects_of NAME: the objects made from src/NAME.c.  The PIC ones in .libs
# when there are any: a non-PIC copy is the same source, and may be left
# over from an earlier configure with other options.
objects_of() {
    found=
    for o in "$build"/src/.libs/*-"$1".o "$build"/src/.libs/"$1".o; do
        [ -f "$o" ] && found="$found $o"
    done
    if [ -z "$found" ]; then
        for o in "$build"/src/*-"$1".o "$build"/src/"$1".o; do
            [ -f "$o" ] && found="$found $o"
        done
    fi
    echo $found
}

# The modules are the source files: an object whose source is gone (a file
# renamed or split since the last build) is stale, and is not read.
nobj=0
for c in "$src"/src/*.c; do
    [ -f "$c" ] || continue
    m=$(basename "$c" .c)
    n=0
    for o in $(objects_of "$m"); do
        n=$((n + 1))
        $nm "$o" >"$tmp/nm" || { echo "modgraph: $nm $o failed" >&2; exit 2; }
        awk -v m="$m" 'NF >= 2 { print m, ($2 ~ /^[Uwv]$/ ? "U" : "D"), $1 }' "$tmp/nm" >>"$syms"
    done
    echo "$m $n" >>"$mods"
    nobj=$((nobj + n))
done
for o in "$build"/src/.libs/*.o "$build"/src/*.o; do
    [ -f "$o" ] || continue
    stem=$(basename "$o" .o); stem=${stem#*-}
    [ -f "$src/src/$stem.c" ] || echo "note: $o not read: there is no src/$stem.c (left from an older build)" >&2
done
if [ "$nobj" -eq 0 ]; then
    echo "FAIL: no objects of src/*.c under $build/src: build the library first"
    echo "modgraph: 0 passed, 1 failed"
    exit 1
fi

# Resolve each reference to the module defining it: "caller callee symbol".
# The preload object defines the C library's own names (malloc, free, ...:
# the functions it interposes); another object's malloc is the system's
# allocator, which is libc in libvigil.so, so for the preload only the
# library's own vigil* names count as definitions.
sort -u "$syms" | awk '
    $2 == "D" {
        if ($1 == "preload" && $3 !~ /^vigil/) next
        if (($3 in def) && def[$3] != $1)
            printf "warning: %s is defined in both %s and %s\n", $3, def[$3], $1 >"/dev/stderr"
        else
            def[$3] = $1
        next
    }
    { ref[++n] = $1 " " $3 }
    END {
        for (i = 1; i <= n; i++) {
            split(ref[i], r, " ")
            if ((r[2] in def) && def[r[2]] != r[1]) print r[1], def[r[2]], r[2]
        }
    }' | sort -u >"$tmp/edges"

cat >"$tmp/check.awk" <<'EOF'
# The list first, then the modules, then the edges (see the shell above).
function fail(msg) { nfail++; print "FAIL: " msg }
function warn(msg) { nwarn++; print "warning: " msg }
function pass()    { npass++ }

FILENAME == listfile {
    line++
    sub(/#.*/, "")
    if ($0 ~ /^[ \t]*$/) next
    colon = index($0, ":")
    m = substr($0, 1, colon - 1); gsub(/[ \t]/, "", m)
    if (!colon || m !~ /^[A-Za-z0-9_]+$/) {
        listbad++; fail(listname ":" line ": not \"module: callee ...\": " $0); next
    }
    if (m in listed) { listbad++; fail(listname ":" line ": " m " has a line already (line " listed[m] ")"); next }
    listed[m] = line; lorder[++nlisted] = m
    n = split(substr($0, colon + 1), cs)
    for (i = 1; i <= n; i++) {
        if ((m, cs[i]) in allowed) continue
        allowed[m, cs[i]] = line; ladj[m] = ladj[m] " " cs[i]; narrows++
    }
    next
}
FILENAME == modsfile { morder[++nmods] = $1; nobjs[$1] = $2; next }
FILENAME == edgesfile {
    k = $1 SUBSEP $2
    if (!(k in esym)) { eorder[++nedges] = k; esym[k] = $3; adj[$1] = adj[$1] " " $2 }
    else esyms[k] = esyms[k] " " $3
    nsyms++
    next
}

# dfs(GRAPH, U, DEPTH): depth-first from U, printing each loop it closes.
# GRAPH "a" is the objects, "l" the list; each node is entered once, so a
# loop is printed once, by the arrow that closes it.
function dfs(g, u, d,    vs, n, i, v, k, s, h) {
    colour[g, u] = 1; path[d] = u
    n = split(g == "a" ? adj[u] : ladj[u], vs, " ")
    for (i = 1; i <= n; i++) {
        v = vs[i]
        if (colour[g, v] == 1) {
            for (k = d; path[k] != v; k--) ;
            s = v; h = ""
            for (k = k + 1; k <= d; k++) {
                s = s " -> " path[k]
                if (g == "a") h = h "\n      " path[k - 1] " -> " path[k] " (" esym[path[k - 1], path[k]] ")"
            }
            s = s " -> " v
            if (g == "a") h = h "\n      " u " -> " v " (" esym[u, v] ")"
            if (g == "a") fail("loop in the objects' graph: " s h)
            else fail("the allowed arrows of " listname " make a loop: " s)
            loops[g]++
        } else if (!colour[g, v])
            dfs(g, v, d + 1)
    }
    colour[g, u] = 2
}

# layer(U): 0 for a module calling no other, else one above its highest callee.
function layer(u,    vs, n, i, l, best) {
    if (u in lev) return lev[u]
    best = 0
    n = split(adj[u], vs, " ")
    for (i = 1; i <= n; i++) { l = layer(vs[i]) + 1; if (l > best) best = l }
    return lev[u] = best
}

END {
    if (mode == "edges") {
        for (i = 1; i <= nedges; i++) {
            split(eorder[i], e, SUBSEP)
            print e[1], e[2], esym[eorder[i]], ((eorder[i] in allowed) ? "allowed" : "forbidden")
        }
        exit 0
    }

    # The list: every arrow goes to a module it has, none to itself.
    for (i = 1; i <= nlisted; i++) {
        m = lorder[i]
        n = split(ladj[m], cs, " ")
        for (j = 1; j <= n; j++) {
            if (cs[j] == m) { listbad++; fail(listname ":" allowed[m, m] ": " m " lists itself") }
            else if (!(cs[j] in listed)) { listbad++; fail(listname ":" allowed[m, cs[j]] ": " m " -> " cs[j] ": there is no line for " cs[j]) }
        }
    }
    if (!listbad) pass()

    # Every module has its place in the house; the list has no stale line.
    for (i = 1; i <= nmods; i++) {
        m = morder[i]; found[m] = 1
        if (m in listed) pass()
        else fail("src/" m ".c is module " m ", which has no line in " listname ": give it its place in the layers")
        if ((m in listed) && nobjs[m] == 0)
            warn("module " m " (src/" m ".c) has no object in this build: its arrows are not checked")
        if (nobjs[m] > 0) built++
    }
    for (i = 1; i <= nlisted; i++)
        if (!(lorder[i] in found))
            warn(listname " lists module " lorder[i] ", which has no src/" lorder[i] ".c (not written yet, or gone)")

    # Every edge is an allowed arrow.
    for (i = 1; i <= nedges; i++) {
        k = eorder[i]; split(k, e, SUBSEP)
        if (k in allowed) { pass(); continue }
        why = (e[1] in listed) ? "" : (" (" e[1] " is not in " listname ")")
        fail(e[1] " -> " e[2] " (" esym[k] ") is not an allowed arrow" why \
             (k in esyms ? "\n      also:" esyms[k] : ""))
    }

    # No loops, in the objects or in the list.
    for (i = 1; i <= nmods; i++) if (!colour["a", morder[i]]) dfs("a", morder[i], 1)
    if (!loops["a"]) pass()
    for (i = 1; i <= nlisted; i++) if (!colour["l", lorder[i]]) dfs("l", lorder[i], 1)
    if (!loops["l"]) pass()

    printf "modgraph: %d modules (%d built), %d edges (%d symbols) checked against %d allowed arrows of %s\n", \
        nmods, built, nedges, nsyms, narrows, listname
    if (loops["a"])
        print "modgraph: no layers: the objects' graph has a loop"
    else {
        # The layers found, top first: a module calls only modules of lower layers.
        top = 0
        for (i = 1; i <= nmods; i++) {
            m = morder[i]
            if (!nobjs[m]) continue
            l = layer(m); members[l] = members[l] " " m
            if (l > top) top = l
        }
        print "modgraph: the layers found, top first:"
        for (l = top; l >= 0; l--) if (l in members) printf "  %d:%s\n", l, members[l]
    }
    printf "modgraph: %d passed, %d failed\n", npass, nfail
    exit (nfail > 0)
}
EOF

awk -v mode="$mode" -v listfile="$list" -v listname="$listname" \
    -v modsfile="$mods" -v edgesfile="$tmp/edges" \
    -f "$tmp/check.awk" "$list" "$mods" "$tmp/edges"
