#!/bin/sh
# plot.sh - draw the bench results as a grouped bar chart (SVG, and PNG when
# gnuplot can): ns/op per workload, one bar per allocator; beside it, on an
# axis of its own, the workloads counted in blocks (xthread, xmalloc: two
# threads, wall clock / blocks).

#
#   bench/bench --csv bench/results.csv
#   bench/plot.sh [--log] [CSV [SVG [PNG]]]
#
# CSV defaults to bench/results.csv, SVG to bench/results.svg (relative to
# the current directory), PNG to the SVG's name with .png for .svg.  The PNG
# is drawn with gnuplot's pngcairo terminal, or else its png one, and left
# out when gnuplot has neither.  --log draws the y axis on a log scale, which
# helps when one column (the debug hooks) dwarfs the others.  Without gnuplot
# it says so and exits 0, so a build can call it unconditionally.
set -eu

log=no
if [ "${1:-}" = "--log" ]; then
    log=yes
    shift
fi
case "${1:-}" in
    -h|--help)
        sed -n '2,15s/^# \{0,1\}//p' "$0"
        exit 0 ;;
esac
csv=${1:-bench/results.csv}
svg=${2:-bench/results.svg}
png=${3:-${svg%.svg}.png}
[ "$png" = "$svg" ] && png=$svg.png

if ! command -v gnuplot >/dev/null 2>&1; then
    echo "plot.sh: gnuplot not found, so no $svg (Debian: apt-get install gnuplot-nox)"
    exit 0
fi
if [ ! -r "$csv" ]; then
    echo "plot.sh: cannot read $csv (make it with: bench/bench --csv $csv)" >&2
    exit 1
fi

dat=$(mktemp "${TMPDIR:-/tmp}/vigil-plot.XXXXXX")
dat2=$(mktemp "${TMPDIR:-/tmp}/vigil-plot.XXXXXX")
trap 'rm -f "$dat" "$dat2"' EXIT INT TERM

# Pivot the "speed" rows (section,workload,allocator,value,min,max,unit) into
# one line per workload and one column per allocator, in the order they first
# appear; a missing value is "?".  Workloads in ns/op go to $dat, the others
# (xthread, in ns/block) to $dat2, each file with the same columns.  Labels
# are quoted, for gnuplot to take a label with a space as one column.
awk -F, -v other="$dat2" '
    $1 == "info" && $2 == "rounds" { rounds = $4 }
    $1 == "info" && $2 == "quick" { quick = $4 }
    $1 == "speed" {
        if (!($2 in wseen)) { wseen[$2] = 1; w[++nw] = $2; unit[$2] = $7 }
        if (!($3 in aseen)) { aseen[$3] = 1; a[++na] = $3 }
        v[$2, $3] = $4
    }
    function table(out, want_ops,    i, j, n) {
        printf "# rounds=%s quick=%s\n", rounds, quick > out
        printf "\"workload\"" > out
        for (j = 1; j <= na; j++) printf " \"%s\"", a[j] > out
        printf "\n" > out
        for (i = 1; i <= nw; i++) {
            if ((unit[w[i]] == "ns/op" || unit[w[i]] == "") != want_ops) continue
            printf "\"%s\"", w[i] > out
            for (j = 1; j <= na; j++) printf " %s", ((w[i], a[j]) in v) ? v[w[i], a[j]] : "?" > out
            printf "\n" > out
            n++
        }
        return n
    }
    END {
        if (nw == 0) { print "no speed rows" > "/dev/stderr"; exit 1 }
        table("/dev/stdout", 1)
        table(other, 0)
    }' "$csv" > "$dat" || { echo "plot.sh: $csv has no speed rows" >&2; exit 1; }

ncol=$(sed -n '2p' "$dat" | awk '{ print NF }')
nrow=$(($(wc -l < "$dat") - 2))
nrow2=$(($(wc -l < "$dat2") - 2))
rounds=$(sed -n '1s/.*rounds=\([0-9]*\).*/\1/p' "$dat")
quick=$(sed -n '1s/.*quick=\([0-9]*\).*/\1/p' "$dat")
title="vigil bench, median of ${rounds:-?} rounds; lower is better"
[ "$quick" = 1 ] && title="$title; --quick run"
if [ "$log" = yes ]; then
    yscale='set logscale y; set yrange [*:*]'
    logged=' (log scale)'
else
    yscale='set yrange [0:*]'
    logged=''
fi

# The plot itself, to follow a "set terminal" and a "set output": the ns/op
# workloads on the left, the ns/block one(s) on the right, one key below.
plot_commands() {
    if [ "$nrow2" -le 0 ]; then
        width=1
    else
        width=$(awk -v a="$nrow" -v b="$nrow2" 'BEGIN { printf "%.3f", (a + 0.6) / (a + b + 1.5) }')
    fi
    cat <<EOF
set datafile missing "?"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics nomirror
set bmargin 5
set tmargin 3
$yscale
set multiplot title "$title"
set origin 0, 0
set size $width, 0.96
set title "ns per malloc/realloc/free call (larson, rptest, indep2: 2 threads, wall clock)"
set ylabel "ns/op$logged"
set key at screen 0.5, 0.035 center center horizontal maxrows 1 samplen 2 width -1 autotitle columnheader
set xrange [-0.6:$nrow - 0.4]
plot for [i=2:$ncol] "$dat" using i:xtic(1)
EOF
    [ "$nrow2" -le 0 ] && { echo "unset multiplot"; return; }
    cat <<EOF
set origin $width, 0
set size 1 - $width, 0.96
set title "2 threads: ns per block"
set ylabel "ns/block, wall clock$logged"
unset key
set xrange [-0.6:$nrow2 - 0.4]
plot for [i=2:$ncol] "$dat2" using i:xtic(1)
unset multiplot
EOF
}

{
    echo 'set terminal svg size 960,540 dynamic noenhanced font "sans,12" background "white"'
    echo "set output \"$svg\""
    plot_commands
} | gnuplot
echo "plot.sh: wrote $svg"

terminals=$(gnuplot -e 'set terminal' 2>&1 < /dev/null || true)
if printf '%s\n' "$terminals" | grep -q '^ *pngcairo '; then
    pngterm='pngcairo size 960,540 noenhanced font "sans,10" background "white"'
elif printf '%s\n' "$terminals" | grep -q '^ *png '; then
    pngterm='png size 960,540 noenhanced font "sans,10" background "#ffffff"'
else
    echo "plot.sh: gnuplot has no png terminal, so no $png"
    exit 0
fi
{
    echo "set terminal $pngterm"
    echo "set output \"$png\""
    plot_commands
} | gnuplot
echo "plot.sh: wrote $png"
