/*
 * trace_snapshot.h - what tracing knows at one moment, grouped by
 * allocation stack: taken from the live-block table, printed most bytes
 * first, compared with an earlier one (the sites that grew most), in the
 * words of vigil's reports.  Snapshots live in memory from vigil__os_map,
 * never in the heap they describe.
 *
 * The public functions (vigil.h) are the domains'; they make the calling
 * thread's allocations untraced around these, which symbolize with libdw,
 * which allocates.
 */
#ifndef VIGIL_TRACE_SNAPSHOT_H
#define VIGIL_TRACE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trace_table.h"
#include "vigil.h"

/* One allocation site: the blocks with one allocation stack.  The d-fields
 * are a comparison's (now minus then), 0 in a snapshot. */
struct vigil_trace_site {
    uint32_t stack;             /* the depot's id */
    uint64_t blocks, bytes;
    int64_t dblocks, dbytes;
};

struct vigil_trace_snapshot {
    size_t mapped;              /* bytes of this mapping */
    int frames;                 /* frames recorded when it was taken */
    uint64_t time_ns;           /* since the recording started */
    uint64_t blocks, bytes;     /* every site's together */
    struct vigil_trace_table_stats table;
    size_t stacks, stacks_lost; /* the depot's */
    size_t depot_records, depot_index;  /* bytes */
    size_t nsites;
    struct vigil_trace_site sites[];    /* most bytes first */
};

/* Taken now; NULL when no memory can be mapped for it. */
vigil_trace_snapshot *vigil__trace_snapshot_take(int frames, uint64_t time_ns);
void vigil__trace_snapshot_free(vigil_trace_snapshot *s);

/* The first limit sites (0: all) of s, each with its stack, and a summary;
 * the number of sites printed. */
size_t vigil__trace_snapshot_print(FILE *out, const vigil_trace_snapshot *s, size_t limit);
/* The first limit sites (0: all) whose bytes grew from then to now, most
 * growth first; then NULL counts as empty.  The number printed, or 0 with
 * errno ENOMEM when no memory can be mapped to compare. */
size_t vigil__trace_snapshot_compare(FILE *out, const vigil_trace_snapshot *then,
                                     const vigil_trace_snapshot *now, size_t limit);

/* Frame a of a stack as the reports write it, without the "    #N "
 * before it or the newline after ("0x55d0c8a1b1c9 in make_name
 * /src/app/names.c:14"), into buf; its length, 0 for one of vigil's own
 * frames. */
size_t vigil__trace_describe_frame(void *a, char *buf, size_t size);

/* Sort n elements of size bytes at base, before(x, y) saying x goes first;
 * in place, with no allocation (heapsort). */
void vigil__trace_sort(void *base, size_t n, size_t size,
                       int (*before)(const void *x, const void *y));

#endif /* VIGIL_TRACE_SNAPSHOT_H */
