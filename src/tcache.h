/*
 * tcache.h - the arena's common path: a hit in the calling thread's cache.
 *
 * The design (what is per thread, what is shared) is drawn in arena.h.  This
 * header holds only the two hits, inline, so that the public entry points
 * (domain.c) take them without a call: a malloc that finds a cached block
 * and a free that has room for one cost a table compare, a thread-local load
 * and a few loads and stores, no lock, no atomic read-modify-write and no
 * stack frame.  Anything else (an empty or full cache, a large block, a
 * thread without a cache, a tool run) returns "miss" and takes the locked
 * path in arena.c.
 */
#ifndef VIGIL_TCACHE_H
#define VIGIL_TCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

struct vigil_tcache {
    struct vigil_block *head[VIGIL_NB_CLASSES];
    /* Blocks the cache may still take: its cap less the blocks in it.
     * Kept as room, not as a count, so a free compares it with 0 and need
     * not load the cap.  Written only by the owner; read relaxed by the
     * statistics. */
    _Atomic uint32_t room[VIGIL_NB_CLASSES];
    struct vigil_tcache *next, *prev;   /* the registry, under the lock */
};

/* NULL until the thread's first slow path, and for good when annotating (a
 * tool run has no caches: the fast paths would read poisoned headers). */
extern __attribute__((tls_model("initial-exec"))) _Thread_local
    struct vigil_tcache *vigil__tc;
/* Arena index -> arena address, 0 for a free slot; never moves. */
extern _Atomic uintptr_t vigil__arena_base[VIGIL_MAX_ARENAS];

int vigil__arena_owns(const void *p);      /* arena.c, out of line */
/* The table functions of the arena, so domain.c can tell it is installed. */
void *vigil__arena_malloc(void *ctx, size_t size);
void vigil__arena_free(void *ctx, void *p);

/* The ownership check of arena.h, for the cache path only.  It runs only in
 * a thread with a cache, hence never under Valgrind or ASan, where the
 * out-of-line vigil__arena_owns (the name supp/vigil.supp gives) does the
 * read.  Under TSan the read of a foreign page's first bytes would race
 * with its owner's writes, so TSan builds call the exempt function too. */
static inline bool vigil__owns_inline(const void *p)
{
#if VIGIL_TSAN_ENABLED
    return vigil__arena_owns(p);
#else
    uint32_t idx = vigil_pool_of(p)->arenaindex;
    if (idx >= VIGIL_MAX_ARENAS)
        return false;
    uintptr_t base = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return base != 0 && (uintptr_t)p - base < VIGIL_ARENA_SIZE;
#endif
}

/* A cached block for a request of size bytes, or NULL. */
static inline void *vigil__tcache_pop(size_t size)
{
    struct vigil_tcache *t = vigil__tc;
    /* vigil_size_class() without its test for 0: size 0 wraps to a huge
     * class and takes the slow path, as sizes above VIGIL_SMALL_MAX do. */
    size_t cls = (size - 1) >> VIGIL_ALIGNMENT_SHIFT;
    if (__builtin_expect(t == NULL || cls >= VIGIL_NB_CLASSES, 0))
        return NULL;
    struct vigil_block *b = t->head[cls];
    if (__builtin_expect(b == NULL, 0))
        return NULL;
    t->head[cls] = b->next;
    atomic_store_explicit(&t->room[cls],
                          atomic_load_explicit(&t->room[cls], memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return b;
}

/* Put p in the cache; false when it must take the slow path instead. */
static inline bool vigil__tcache_push(void *p)
{
    struct vigil_tcache *t = vigil__tc;
    if (__builtin_expect(t == NULL || p == NULL, 0) || !vigil__owns_inline(p))
        return false;
    /* p is live, so its pool's class cannot change under us. */
    unsigned cls = vigil_pool_of(p)->cls;
    uint32_t room = atomic_load_explicit(&t->room[cls], memory_order_relaxed);
    if (__builtin_expect(room == 0, 0))
        return false;
    struct vigil_block *b = p;
    b->next = t->head[cls];
    /* A forked child walks the dead threads' lists (arena.c, fork_drop):
     * the link must be in place before the block is on the list. */
    atomic_signal_fence(memory_order_release);
    t->head[cls] = b;
    atomic_store_explicit(&t->room[cls], room - 1, memory_order_relaxed);
    return true;
}

#endif /* VIGIL_TCACHE_H */
