#!/bin/sh
# tooltree.sh - configure and build the test programs of a second tree, for
# the sanitizer layers of `make check`.
# Usage: tooltree.sh SRCDIR BUILDDIR CONFIGURE-ARGS...
set -u
src=$1 build=$2; shift 2
rm -rf "$build" && mkdir -p "$build" && cd "$build" || exit 1
echo "building a sanitizer tree in $build ($*)"
if ! "$src/configure" --disable-tool-checks "$@" >configure.out 2>&1; then
    tail -n 30 configure.out; exit 1
fi
if ! make check-programs >build.out 2>&1; then
    tail -n 30 build.out; exit 1
fi
