/*
 * arena_map.c - the arena address table and the ownership check (see
 * arena_map.h and, for why the check may read any page, arena.h).
 */
#include "config.h"

#include "arena_map.h"

_Atomic uintptr_t vigil__arena_base[VIGIL_MAX_ARENAS];
_Atomic uintptr_t vigil__arena_regions[VIGIL_REGION_SLOTS];
struct vigil_arena_span vigil__arena_span;
/* The arenas' regions on each slot, counted with repeats (two arenas may
 * share a region): a slot empties when its last one goes.  Heap lock. */
static uint32_t region_users[VIGIL_REGION_SLOTS];

void vigil__arena_regions_add(uintptr_t base)
{
    uintptr_t lo = -atomic_load_explicit(&vigil__arena_span.minus_lo, memory_order_relaxed);
    size_t span = atomic_load_explicit(&vigil__arena_span.span, memory_order_relaxed);
    uintptr_t hi = lo + span;
    /* A lower lo goes after the span that keeps the top (arena_map.h). */
    if (span == 0 || base < lo) {
        atomic_store_explicit(&vigil__arena_span.span, (span ? hi : base + VIGIL_ARENA_SIZE) - base,
                              memory_order_relaxed);
        atomic_store_explicit(&vigil__arena_span.minus_lo, -base, memory_order_release);
    } else if (base + VIGIL_ARENA_SIZE > hi) {
        atomic_store_explicit(&vigil__arena_span.span, base + VIGIL_ARENA_SIZE - lo,
                              memory_order_relaxed);
    }
    uintptr_t first = base >> VIGIL_REGION_SHIFT, last = (base + VIGIL_ARENA_SIZE - 1) >> VIGIL_REGION_SHIFT;
    for (uintptr_t r = first; r <= last; r++) {
        size_t k = r % VIGIL_REGION_SLOTS;
        uintptr_t v = atomic_load_explicit(&vigil__arena_regions[k], memory_order_relaxed);
        region_users[k]++;
        atomic_store_explicit(&vigil__arena_regions[k],
                              v == 0 || v == r + 1 ? r + 1 : VIGIL_REGION_MANY,
                              memory_order_relaxed);
    }
}

/* A slot that had several regions stays "many" until it empties: the
 * others are not known any more, and "many" is never wrong. */
void vigil__arena_regions_remove(uintptr_t base)
{
    uintptr_t first = base >> VIGIL_REGION_SHIFT, last = (base + VIGIL_ARENA_SIZE - 1) >> VIGIL_REGION_SHIFT;
    for (uintptr_t r = first; r <= last; r++) {
        size_t k = r % VIGIL_REGION_SLOTS;
        if (--region_users[k] == 0)
            atomic_store_explicit(&vigil__arena_regions[k], 0, memory_order_relaxed);
    }
}

/* pool->arenaindex may be uninitialised or another allocator's bytes when p
 * is not ours: any value is harmless, as arena.h explains. */
VIGIL_NO_SANITIZE_ADDRESS VIGIL_NO_SANITIZE_THREAD __attribute__((noinline))
int vigil__arena_owns(const void *p)
{
    if (!vigil__arena_region_maybe(p))
        return 0;
    uint32_t idx = vigil__pool_of(p)->arenaindex;
    if (idx >= VIGIL_MAX_ARENAS)
        return 0;
    /* Decoded here, not by vigil__arena_address: the suppressions name
     * this function, and memcheck names an inlined callee instead. */
    uintptr_t enc = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return enc != 0 && (uintptr_t)p - (enc ^ VIGIL_ARENA_KEY) < VIGIL_ARENA_SIZE;
}
