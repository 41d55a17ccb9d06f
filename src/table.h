/*
 * table.h - what the layers know of each other: allocator tables, compared
 * by value, and the one question a layer may ask of the allocator below it.
 *
 * A wrapper (the debug hooks, later tracing and fault injection) is made
 * from an inner vigil_allocator and knows nothing else of it, except what
 * the domains, which compose the stack, hand it beside the table: a block
 * query, when the inner allocator can answer one.  The arena answers it from
 * its pool headers; no other file reads a pool header.
 */
#ifndef VIGIL_TABLE_H
#define VIGIL_TABLE_H

#include <stddef.h>

#include "vigil.h"

static inline int vigil__same_table(const vigil_allocator *a, const vigil_allocator *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

struct vigil_block_query {
    /* 1, with *usable set to the bytes the block really has, when p is the
     * start of a block this allocator handed out and has not taken back (as
     * far as it can tell cheaply); 0 when p is none of its blocks.  Reads
     * nothing outside the page p lies in, which must be mapped (the arena's
     * ownership check reads that page's first or last bytes). */
    int (*block_size)(const void *p, size_t *usable);
    /* Optional: load what freeing p will read (a pool header) ahead of time. */
    void (*prefetch)(const void *p);
};

#endif /* VIGIL_TABLE_H */
