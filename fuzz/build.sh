#!/bin/sh
# build.sh - the libFuzzer harnesses, out of the main build: vigil's
# sources compiled again with clang -fsanitize=fuzzer-no-link,address (so
# the arena annotates its blocks for ASan, as in the ASan tree), and each
# harness linked over them with -fsanitize=fuzzer,address.
#   fuzz/ops       the allocators (fuzz/ops.c)
#   fuzz/settings  the environment's parsers (fuzz/settings.c)
# Usage: build.sh SRCDIR BUILDDIR OUTDIR
# Environment: FUZZ_CC (default clang), DW_CFLAGS, DW_LIBS, DL_LIBS (what
# configure found; make passes them).
set -eu
src=$1 build=$2 out=$3
cc=${FUZZ_CC:-clang}
mkdir -p "$out/obj"
flags="-g -O1 -fno-omit-frame-pointer -pthread -Wall -Wextra -Werror
       -I$build -I$src/include -I$src/annotate -I$src/src ${DW_CFLAGS:-}"

# Every module of the library: the preload library is not one (it would
# take over this process's malloc).
# A header newer than an object rebuilds it (whichever header it is).
newest=$(ls -t "$src"/src/*.h "$src"/include/*.h "$src"/annotate/vigil/*.h "$build/config.h" | head -n 1)
objs=
for c in "$src"/src/*.c; do
    name=$(basename "$c" .c)
    [ "$name" = preload ] && continue
    o="$out/obj/$name.o"
    if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ "$newest" -nt "$o" ]; then
        # shellcheck disable=SC2086
        $cc $flags -fvisibility=hidden -fsanitize=fuzzer-no-link,address -c "$c" -o "$o"
    fi
    objs="$objs $o"
done
for h in ops settings; do
    # shellcheck disable=SC2086
    $cc $flags -fsanitize=fuzzer,address "$src/fuzz/$h.c" $objs -o "$out/$h" \
        ${DW_LIBS:-} ${DL_LIBS:-}
done
echo "fuzz/build.sh: built $out/ops and $out/settings with $cc"
