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

/* The addresses of every arena mapped since start-up lie in [lo, lo +
 * span), for the inline check: a pointer outside is not ours, told without
 * reading its page's first bytes (a cold line of another allocator's: the
 * system allocator's medium blocks).  The span only ever widens, and every
 * pair a reader can see covers the arenas whose blocks it may hold: lo is
 * lowered after span has grown to keep the top where it was (release), and
 * read first (acquire), so a reader that sees the new lo sees the span
 * that goes with it.  Written under the heap lock before an arena's first
 * block.  lo is kept negated, -lo (an address in the kernel's half, as the
 * table's entries are: lo itself may be a block's address), which is also
 * what the check adds to p.  Both 0, an empty span, until the first arena.
 * A line of their own, read-mostly: arenas are mapped rarely.  The
 * out-of-line check does not test it: there the region table turns away
 * most foreign pointers, and the suppressions' tests need its read of a
 * system block's page, whose words memcheck names (supp/vigil.supp). */
struct vigil_arena_span {
    _Atomic uintptr_t minus_lo;
    _Atomic size_t span;
} __attribute__((aligned(64)));
extern struct vigil_arena_span vigil__arena_span;

/* 0 when p lies outside the span of the arenas. */
static inline bool vigil__arena_span_holds(const void *p)
{
    uintptr_t minus_lo = atomic_load_explicit(&vigil__arena_span.minus_lo, memory_order_acquire);
    size_t span = atomic_load_explicit(&vigil__arena_span.span, memory_order_relaxed);
    return (uintptr_t)p + minus_lo < span;
}

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
    /* The span test first, not the region table's (vigil__arena_owns
     * has that): on this path nearly every block is a pool's, and the
     * table cost 9 instructions a free (10% of the random workload's), the
     * span 4 and a line that stays hot, for the cold read of the first
     * bytes of a medium block's page (mimalloc-bench's larson and rptest
     * free as many of those as of pool blocks) that the span saves
     * whenever the system allocator's blocks lie apart from the arenas.
     * NULL fails it too, in TSan builds as well: the callers no longer
     * test for it, and the exempt function would read NULL's page when
     * several regions share the region table's first slot. */
    if (__builtin_expect(!vigil__arena_span_holds(p), 0))
        return false;
#if VIGIL_TSAN_ENABLED
    return vigil__arena_owns(p);
#else
    /* Masked, not compared: whatever slot a foreign page's bytes name, the
     * range test below refuses p (a free slot decodes to the kernel's
     * half). */
    uint32_t idx = vigil__pool_of(p)->arenaindex & (VIGIL_MAX_ARENAS - 1);
    uintptr_t enc = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return (uintptr_t)p - (enc ^ VIGIL_ARENA_KEY) < VIGIL_ARENA_SIZE;
#endif
}

#endif /* VIGIL_ARENA_MAP_H */
