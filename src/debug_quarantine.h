/*
 * debug_quarantine.h - where the debug hooks' freed blocks wait, filled
 * with 0xDD, before they are really freed: so a write after free and a
 * second free of the same block are caught for certain rather than by luck.
 */
#ifndef VIGIL_DEBUG_QUARANTINE_H
#define VIGIL_DEBUG_QUARANTINE_H

#include <stddef.h>

#include "debug_block.h"
#include "debug_diagnose.h"
#include "table.h"
#include "vigil.h"

/* What the quarantine needs of the wrapper a block came from: the table it
 * is really freed through, the block query of that table (or NULL), and
 * the API id its reports name.  It must outlive every block it made (the
 * debug wrappers' contexts are never freed). */
struct vigil_quarantine_owner {
    vigil_allocator inner;
    const struct vigil_block_query *query;
    void (*prefetch)(const void *p);    /* query's, or NULL */
    unsigned char api;
};

/* Once, before the first block is put: limit is the bytes of freed blocks
 * kept (0: none). */
void vigil__quarantine_configure(size_t limit, int on_valgrind);

/* Keep the freed block [base, base + total), every byte of it 0xDD, of
 * owner's, allocated at alloc and freed at freed; the oldest blocks leave,
 * are checked for writes and freed.  A block bigger than the whole
 * quarantine is freed at once. */
void vigil__quarantine_put(const struct vigil_quarantine_owner *owner, unsigned char *base,
                           size_t total, struct vigil_origin alloc, struct vigil_origin freed);

/* 1, with what is known of it in *f, when the block at base is still in
 * the quarantine where this thread may look (a double free's report says
 * what it was, and where it was allocated and freed). */
int vigil__quarantine_find(const unsigned char *base, struct vigil_freed *f);

#endif /* VIGIL_DEBUG_QUARANTINE_H */
