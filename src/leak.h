/*
 * leak.h - leak checking: which live blocks nothing points to any more,
 * reported grouped by allocation stack, as LeakSanitizer reports them
 * (DESIGN.md, "Tracing and leaks").
 *
 * The blocks come from whoever knows every live block and its allocation
 * stack: the tracing layer, handed in by the domains as a source, so this
 * module knows no layer above the helpers.  A check:
 *   1. holds the source still (its lock, so no block comes or goes);
 *   2. copies the blocks and vigil's own mappings (not roots);
 *   3. stops every other thread (leak_world.h) and scans (leak_scan.h);
 *   4. lets them go, releases the source, and writes the report, with
 *      the suppressions of VIGIL_LEAK_SUPPRESSIONS left out.
 */
#ifndef VIGIL_LEAK_H
#define VIGIL_LEAK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "leak_scan.h"

struct vigil_leak_source {
    void *ctx;
    void (*lock)(void *ctx);        /* no block comes or goes until unlock */
    void (*unlock)(void *ctx);
    size_t (*count)(void *ctx);     /* live blocks now (under lock) */
    /* Up to max live blocks into out (start, size, stack; any order); the
     * number written.  Under lock; must not allocate. */
    size_t (*each)(void *ctx, struct vigil_leak_block *out, size_t max);
};

struct vigil_leak_totals {
    size_t direct_bytes, direct_blocks;
    size_t indirect_bytes, indirect_blocks;
    size_t suppressed_bytes, suppressed_blocks;
};

/* Check now and write the report to out (nothing when there is no leak);
 * the number of leaked blocks reported (suppressed ones not counted).
 * totals, when given, gets the figures.  Not from inside malloc. */
size_t vigil__leak_check(const struct vigil_leak_source *src, FILE *out,
                         struct vigil_leak_totals *totals);

/* Check at exit (VIGIL_LEAKS=1): a leak found makes the process _exit with
 * status exitcode. */
void vigil__leak_at_exit(const struct vigil_leak_source *src, int exitcode);

#endif /* VIGIL_LEAK_H */
