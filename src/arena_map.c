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
    uintptr_t base = vigil__arena_address(idx, memory_order_acquire);
    return base != 0 && (uintptr_t)p - base < VIGIL_ARENA_SIZE;
}
