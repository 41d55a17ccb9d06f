/*
 * arena_map.h - the table of arena addresses, and the O(1) ownership check
 * that reads it ("is this pointer the arena's?", see arena.h).
 *
 * The table never moves and its entries are atomics, so the check needs no
 * lock.  The heap writes an entry when it maps an arena and clears it before
 * it gives the memory back.
 *
 * An entry holds the address with its top bit flipped, not the address: an
 * arena whose first pool has its header at the end (arena.h) starts with a
 * block, and a table in the data segment holding that block's address would
 * make memcheck call the block "still reachable" when the program leaks it.
 * A user-space address with its top bit set lies in the kernel's half, where
 * no block is.  A free slot holds 0, which decodes to that half too, so the
 * inline check's range test fails for it with no test of its own.  (The
 * same rule holds for every word vigil keeps: the heap's tables keep
 * offsets, and queues are cleared as entries leave.)
 */
#ifndef VIGIL_ARENA_MAP_H
#define VIGIL_ARENA_MAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "vigil/annotate.h"

/* Arena index -> arena address (as its source gave it) ^ VIGIL_ARENA_KEY,
 * 0 for a free slot. */
extern _Atomic uintptr_t vigil__arena_base[VIGIL_MAX_ARENAS];
#define VIGIL_ARENA_KEY ((uintptr_t)1 << (sizeof(uintptr_t) * 8 - 1))
_Static_assert((VIGIL_MAX_ARENAS & (VIGIL_MAX_ARENAS - 1)) == 0,
               "the inline check masks the arena index");

/* The address of arena idx, or 0. */
static inline uintptr_t vigil__arena_address(uint32_t idx, memory_order order)
{
    uintptr_t enc = atomic_load_explicit(&vigil__arena_base[idx], order);
    return enc ? enc ^ VIGIL_ARENA_KEY : 0;
}

/* The 1 MiB regions of the address space that some arena overlaps, so the
 * out-of-line check can tell most other allocators' blocks (the system
 * allocator's medium and large ones above all) without reading the first
 * bytes of their page, a cache miss of memory that is not ours.  A slot per region
 * number modulo VIGIL_REGION_SLOTS: 0 when no arena's region falls on it,
 * the region's number + 1 when one region does, VIGIL_REGION_MANY when
 * several do (then every pointer there takes the header check).  Written
 * under the heap lock as arenas come and go, before an arena's first block
 * and after its last; read relaxed. */
#define VIGIL_REGION_SHIFT 20
#define VIGIL_REGION_SLOTS 4096
#define VIGIL_REGION_MANY  UINTPTR_MAX
extern _Atomic uintptr_t vigil__arena_regions[VIGIL_REGION_SLOTS];

/* Heap lock held: the regions of the arena at base gained or lost. */
void vigil__arena_regions_add(uintptr_t base);
void vigil__arena_regions_remove(uintptr_t base);

/* 0 when p lies in no region of an arena: not the arena's. */
static inline bool vigil__arena_region_maybe(const void *p)
{
    uintptr_t r = (uintptr_t)p >> VIGIL_REGION_SHIFT;
    uintptr_t v = atomic_load_explicit(&vigil__arena_regions[r % VIGIL_REGION_SLOTS],
                                       memory_order_relaxed);
    return v == r + 1 || v == VIGIL_REGION_MANY;
}

static inline void vigil__arena_map_set(uint32_t idx, uintptr_t base)
{
    if (base)
        vigil__arena_regions_add(base);
    else
        vigil__arena_regions_remove(vigil__arena_address(idx, memory_order_relaxed));
    atomic_store_explicit(&vigil__arena_base[idx], base ? base ^ VIGIL_ARENA_KEY : 0,
                          memory_order_release);
}

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
    /* No region test here (vigil__arena_owns has it): on this path nearly
     * every block is a pool's, and the test cost 9 instructions a free,
     * 10% of the random workload's and 17% of FIFO's (cachegrind), for 12%
     * fewer read misses on mimalloc-bench's rptest, whose frees of medium
     * blocks read their page's first bytes here.  Masked, not compared:
     * whatever slot a foreign page's bytes name, the range test below
     * refuses p (a free slot decodes to the kernel's half). */
    uint32_t idx = vigil__pool_of(p)->arenaindex & (VIGIL_MAX_ARENAS - 1);
    uintptr_t enc = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return (uintptr_t)p - (enc ^ VIGIL_ARENA_KEY) < VIGIL_ARENA_SIZE;
#endif
}

#endif /* VIGIL_ARENA_MAP_H */
