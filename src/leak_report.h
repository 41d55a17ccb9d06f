/*
 * leak_report.h - the words of a leak report, LeakSanitizer's:
 *
 *     vigil: detected memory leaks
 *
 *     Direct leak of 40 byte(s) in 1 object(s) allocated from:
 *         #0 0x... in make_cache /src/app/cache.c:22
 *
 *     Indirect leak of 16 byte(s) in 1 object(s) allocated from:
 *         ...
 *
 *     vigil: SUMMARY: 56 byte(s) leaked in 2 allocation(s).
 *
 * one entry per allocation stack and kind, most bytes first; and the
 * suppressions (VIGIL_LEAK_SUPPRESSIONS) that leave some out.
 */
#ifndef VIGIL_LEAK_REPORT_H
#define VIGIL_LEAK_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "leak.h"
#include "leak_scan.h"

/* Write the report of the marked blocks (reorders them) to out; the number
 * of leaked blocks reported; *t the figures. */
size_t vigil__leak_report(struct vigil_leak_block *blocks, size_t n, FILE *out,
                          struct vigil_leak_totals *t);

/* Read the suppression file now (at start-up, where reading a file is
 * safe): lines `leak:PATTERN`, `#` comments and blank lines; any other line
 * is named on stderr and skipped.  A PATTERN matches a frame's function,
 * source file or module as LeakSanitizer's do: anywhere in the name, `*`
 * for any characters, `^` and `$` to anchor it.  NULL or "" clears them. */
void vigil__leak_suppressions(const char *path);

#endif /* VIGIL_LEAK_REPORT_H */
