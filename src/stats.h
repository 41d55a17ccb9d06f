/*
 * stats.h - the arena statistics: a snapshot, which the heap fills, and the
 * table that formats it (vigil_print_stats, VIGIL_MALLOCSTATS), in the
 * spirit of CPython's _PyObject_DebugMallocStats.  The formatter knows
 * nothing of the allocator; every figure it prints is in the snapshot.
 */
#ifndef VIGIL_STATS_H
#define VIGIL_STATS_H

#include <stddef.h>
#include <stdio.h>

#define VIGIL_STATS_CLASSES 32              /* = VIGIL_NB_CLASSES (heap.c) */

struct vigil_arena_stats {
    size_t class_size[VIGIL_STATS_CLASSES];   /* bytes per block */
    size_t class_pools[VIGIL_STATS_CLASSES];
    size_t class_blocks[VIGIL_STATS_CLASSES]; /* handed out */
    size_t class_avail[VIGIL_STATS_CLASSES];  /* free or not yet carved */
    size_t arena_size;                        /* bytes per arena */
    size_t pool_size;                         /* bytes per pool */
    size_t arenas_allocated;                  /* since start */
    size_t arenas_reclaimed;                  /* given back to the source */
    size_t arenas_highwater;
    size_t arenas_current;
    size_t free_pools;                        /* pools holding no block */
    size_t alignment_bytes;                   /* lost rounding arenas to pools */
    size_t header_bytes;                      /* pool headers */
    size_t quantization_bytes;                /* pool tails no block fits */
    size_t redzone_bytes;                     /* gaps between blocks */
    int has_redzones;                         /* annotating: blocks have gaps */
    size_t blocks;                            /* sum of class_blocks */
    size_t quarantined;                       /* of those, freed and waiting
                                                 in the tools' quarantine */
    size_t cached;                            /* free blocks in thread caches
                                                 and on thread heaps' queues,
                                                 counted in class_avail */
};

/* Print st as vigil_print_stats does. */
void vigil__stats_print(FILE *out, const struct vigil_arena_stats *st);

#endif /* VIGIL_STATS_H */
