/*
 * debug.h - the debug hooks as a wrapper factory: from any vigil_allocator,
 * make one that brackets every block with guard bytes, fills new and freed
 * memory with known patterns, tags each block with its API and keeps freed
 * blocks in a quarantine (the layout is in debug_block.h).
 *
 * A wrapper knows only the inner table it was made from, and the block query
 * it was handed with it (table.h) when the inner allocator answers one; the
 * domains, which compose the allocators, make and install wrappers.
 */
#ifndef VIGIL_DEBUG_H
#define VIGIL_DEBUG_H

#include <stddef.h>

#include "table.h"
#include "vigil.h"

struct vigil_debug_settings {
    size_t quarantine;                  /* bytes of freed blocks kept */
    int on_valgrind;                    /* tell memcheck about the guards */
    int heap_tuned;                     /* the user set glibc's trim or mmap
                                           threshold: keep_heap_top leaves them */
    unsigned long long break_serial;    /* --enable-serialno: SIGTRAP at N */
};

/* Once, before the first wrapper is made. */
void vigil__debug_configure(const struct vigil_debug_settings *s);

/* The debug wrapper of domain d (its API id) around inner, into *out.
 * query answers for inner's blocks, or is NULL.  Identical requests share
 * one wrapper.  Returns 0, writing a message, when no more wrappers can be
 * made (the domain then stays unwrapped). */
int vigil__debug_make(vigil_domain d, const vigil_allocator *inner,
                      const struct vigil_block_query *query, vigil_allocator *out);

/* When a is a debug wrapper, store what it wraps in inner (when not NULL)
 * and return 1. */
int vigil__debug_unwrap(const vigil_allocator *a, vigil_allocator *inner);

/* The size the program asked for, of a healthy block made by the debug
 * wrapper a (malloc_usable_size).  0 when a is not a debug wrapper or the
 * block is damaged: freeing it will say how. */
int vigil__debug_block_size(const vigil_allocator *a, const void *ptr, size_t *n);

/* vigil_check_block and vigil_dump_block (vigil.h); caller is the program's
 * call site, for the report. */
int vigil__debug_check_block(const void *ptr, const void *caller);
void vigil__debug_dump_block(const void *ptr);

#endif /* VIGIL_DEBUG_H */
