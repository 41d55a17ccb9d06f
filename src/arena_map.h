/*
 * arena_map.h - the table of arena addresses, and the O(1) ownership check
 * that reads it ("is this pointer the arena's?", see arena.h).
 *
 * The table never moves and its entries are atomics, so the check needs no
 * lock.  The heap writes an entry when it maps an arena and clears it before
 * it gives the memory back.
 */
#ifndef VIGIL_ARENA_MAP_H
#define VIGIL_ARENA_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "vigil/annotate.h"

/* Arena index -> arena address as its source gave it, 0 for a free slot. */
extern _Atomic uintptr_t vigil__arena_base[VIGIL_MAX_ARENAS];

/* The intentional read of arena.h, out of line: supp/vigil.supp names this
 * function, and it is exempt from ASan and TSan. */
int vigil__arena_owns(const void *p);

/* The same check inline, for the thread-cache path.  That path runs only in
 * a thread with a cache, hence never under Valgrind or ASan, where the
 * out-of-line function (the one the suppressions name) does the read.
 * Under TSan the read of a foreign page's first bytes would race with its
 * owner's writes, so TSan builds call the exempt function too. */
static inline bool vigil__owns_inline(const void *p)
{
#if VIGIL_TSAN_ENABLED
    return vigil__arena_owns(p);
#else
    uint32_t idx = vigil__pool_of(p)->arenaindex;
    if (idx >= VIGIL_MAX_ARENAS)
        return false;
    uintptr_t base = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return base != 0 && (uintptr_t)p - base < VIGIL_ARENA_SIZE;
#endif
}

#endif /* VIGIL_ARENA_MAP_H */
