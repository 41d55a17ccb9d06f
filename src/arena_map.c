/*
 * arena_map.c - the arena address table and the ownership check (see
 * arena_map.h and, for why the check may read any page, arena.h).
 */
#include "config.h"

#include "arena_map.h"

_Atomic uintptr_t vigil__arena_base[VIGIL_MAX_ARENAS];

/* pool->arenaindex may be uninitialised or another allocator's bytes when p
 * is not ours: any value is harmless, as arena.h explains. */
VIGIL_NO_SANITIZE_ADDRESS VIGIL_NO_SANITIZE_THREAD __attribute__((noinline))
int vigil__arena_owns(const void *p)
{
    uint32_t idx = vigil__pool_of(p)->arenaindex;
    if (idx >= VIGIL_MAX_ARENAS)
        return 0;
    /* Decoded here, not by vigil__arena_address: the suppressions name
     * this function, and memcheck names an inlined callee instead. */
    uintptr_t enc = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return enc != 0 && (uintptr_t)p - (enc ^ VIGIL_ARENA_KEY) < VIGIL_ARENA_SIZE;
}
