/*
 * bench/leaks.c - what a leak scan costs: the check's time for N live
 * blocks (100k and 1M by default), each 32..256 bytes, linked in lists of
 * 8 from 1 root in 2 (so half are reached through other blocks, half
 * leaked), from a source like the tracing layer's.  The scan is linear in
 * the bytes it reads plus n log n for the sort: the ns per block shows it.
 *
 *   ./bench/leaks [N ...]
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "leak.h"
#include "os.h"

struct source {
    struct vigil_leak_block *b;
    size_t n;
};

static void nop(void *ctx) { (void)ctx; }
static size_t count(void *ctx) { return ((struct source *)ctx)->n; }
static size_t each(void *ctx, struct vigil_leak_block *out, size_t max)
{
    struct source *s = ctx;
    size_t n = s->n < max ? s->n : max;
    memcpy(out, s->b, n * sizeof *out);
    return n;
}

static void *volatile *roots;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void run(size_t n)
{
    /* The blocks live in os-mapped memory (as the arena's do: not roots). */
    size_t bytes = n * 160 + 4096;
    unsigned char *pool = vigil__os_map(bytes);
    struct source s = { vigil__os_map(n * sizeof *s.b), n };
    size_t lists = n / 8 + 1;
    roots = calloc(lists, sizeof *roots);
    if (!pool || !s.b || !roots) {
        fprintf(stderr, "leaks: no memory for %zu blocks\n", n);
        exit(1);
    }
    srand(1);
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size = 32 + (size_t)(rand() % 8) * 32;
        if (used + size > bytes)
            size = 32;
        s.b[i] = (struct vigil_leak_block){ (uintptr_t)(pool + used), size, 0, 0 };
        used += size;
    }
    /* Lists of 8, in a shuffled order; every other list has a root. */
    for (size_t i = 0; i + 1 < n; i++)
        if ((i + 1) % 8)
            *(void **)s.b[i].start = (void *)s.b[i + 1].start;
    for (size_t l = 0; l < lists; l += 2)
        if (l * 8 < n)
            roots[l] = (void *)s.b[l * 8].start;
    struct vigil_leak_source src = { &s, nop, nop, count, each };
    FILE *devnull = fopen("/dev/null", "w");
    double best = 1e9;
    size_t leaked = 0;
    for (int round = 0; round < 3; round++) {
        double t0 = now();
        struct vigil_leak_totals t;
        vigil__leak_check(&src, devnull, &t);
        double dt = now() - t0;
        if (dt < best)
            best = dt;
        leaked = t.direct_blocks + t.indirect_blocks;
    }
    fclose(devnull);
    printf("%8zu live blocks  %7.1f ms a check  %6.1f ns a block  (%zu leaked)\n",
           n, best * 1e3, best * 1e9 / (double)n, leaked);
    free((void *)roots);
    vigil__os_unmap(s.b, n * sizeof *s.b);
    vigil__os_unmap(pool, bytes);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            run((size_t)strtoul(argv[i], NULL, 10));
    else {
        run(100000);
        run(1000000);
    }
    return 0;
}
