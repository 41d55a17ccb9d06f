/*
 * tcache.h - the arena allocator as the layers above see it: its table,
 * what it is handed at start-up, and its common path, a hit in the calling
 * thread's cache.
 *
 * The design (what is per thread, what is shared) is drawn in arena.h.  The
 * two hits are inline here, so that the public entry points (domain.c) take
 * them without a call: a malloc that finds a cached block and a free that
 * has room for one cost a table compare, a thread-local load and a few loads
 * and stores, no lock, no atomic read-modify-write and no stack frame.
 * Anything else (an empty or full cache, a large block, a thread without a
 * cache, a tool run) returns "miss" and takes the slow path in tcache.c:
 * the thread's own heap (theap.h), or the locked shared pools.
 */
#ifndef VIGIL_TCACHE_H
#define VIGIL_TCACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "arena_map.h"
#include "stats.h"
#include "table.h"
#include "theap.h"
#include "treg.h"
#include "vigil.h"

/* What the arena needs from above, handed to it once, before its first
 * block, by whoever composes the allocators (the domains). */
struct vigil_arena_env {
    /* Where requests above VIGIL_SMALL_MAX and pointers the arena does not
     * own go (and small ones when no arena can be had). */
    const vigil_allocator *large;
    /* Called, outside the lock, after a new arena was mapped; or NULL. */
    void (*on_new_arena)(void);
    /* For the tool annotations (arena_tools.h). */
    int on_valgrind;
    size_t quarantine;
    void *(*keep)(size_t size);
};
void vigil__arena_setup(const struct vigil_arena_env *env);

extern const vigil_allocator vigil__arena_allocator;
/* The block query of table.h, for the wrappers made over the arena. */
extern const struct vigil_block_query vigil__arena_query;
/* Its table functions, so domain.c can tell it is installed. */
void *vigil__arena_malloc(void *ctx, size_t size);
void *vigil__arena_calloc(void *ctx, size_t nelem, size_t elsize);
void *vigil__arena_realloc(void *ctx, void *p, size_t size);
void vigil__arena_free(void *ctx, void *p);
/* A block of size bytes aligned to align (a power of two above 16) when
 * the arena's layout gives one; NULL otherwise (ask the system). */
void *vigil__arena_aligned(size_t align, size_t size);

/* The statistics snapshot and the live-block count, thread caches counted
 * as free; the consistency walk of heap.h plus every cache's lists. */
void vigil__arena_stats(struct vigil_arena_stats *out);
size_t vigil__arena_blocks(void);
size_t vigil__arena_check(void);
/* Give the calling thread's cached blocks back to their pools now; or do
 * that and use no cache in this thread from now on. */
void vigil__thread_cache_flush(void);
void vigil__thread_cache_disable(void);
/* Settle every block this thread freed: its cache and the tools' quarantine
 * give them back to their pools (tests use it before counting pools). */
void vigil__arena_settle(void);

struct vigil_tcache {
    struct vigil_block *head[VIGIL_NB_CLASSES];
    /* Blocks the cache may still take: its cap less the blocks in it.
     * Kept as room, not as a count, so a free compares it with 0 and need
     * not load the cap.  Written only by the owner (vigil__room_set), read
     * relaxed by the statistics (vigil__room). */
    uint32_t room[VIGIL_NB_CLASSES];
    /* Each class's cap (tcache.c: it grows for a class whose working set
     * does not fit), written by the owner, read relaxed by the statistics;
     * the bytes the caps grew by in all, and per class (a bit) whether it
     * refilled since it last gave blocks back; the count of growths, and
     * when (in it) each class last grew. */
    _Atomic uint16_t cap[VIGIL_NB_CLASSES];
    uint32_t grown;
    uint32_t refilled;
    uint32_t growths;
    uint32_t grew_at[VIGIL_NB_CLASSES];
    /* Made by a free, and no refill since: the caps are the small ones of
     * a thread that only frees (tcache.c). */
    uint32_t free_only;
    /* After them, so head[] is at offset 0 for the hits: the pools the
     * thread owns, where its misses go (theap.h). */
    struct vigil_theap heap;
    struct vigil_treg_node link;        /* the registry, under the heap lock */
};

/* A cache's room for class cls, read by any thread; and set by its owner.
 * The owner's store is a plain one, which the compiler folds into the
 * hits' one add or subtract in memory: an aligned 32-bit store, which a
 * relaxed read elsewhere sees whole, old or new.  Under TSan an atomic
 * store, which it can tell from a race. */
static inline uint32_t vigil__room(const struct vigil_tcache *t, size_t cls)
{
    return __atomic_load_n(&t->room[cls], __ATOMIC_RELAXED);
}

static inline void vigil__room_set(struct vigil_tcache *t, size_t cls, uint32_t room)
{
#if VIGIL_TSAN_ENABLED
    __atomic_store_n(&t->room[cls], room, __ATOMIC_RELAXED);
#else
    t->room[cls] = room;
#endif
}

/* NULL until the thread's first slow path, and for good when annotating (a
 * tool run has no caches: the fast paths would read poisoned headers). */
extern __attribute__((tls_model("initial-exec"))) _Thread_local
    struct vigil_tcache *vigil__tc;

/* A cached block for a request of size bytes, or NULL. */
static inline void *vigil__tcache_pop(size_t size)
{
    struct vigil_tcache *t = vigil__tc;
    /* vigil__size_class() without its test for 0: size 0 wraps to a huge
     * class and takes the slow path, as sizes above VIGIL_SMALL_MAX do. */
    size_t cls = (size - 1) >> VIGIL_ALIGNMENT_SHIFT;
    if (__builtin_expect(t == NULL || cls >= VIGIL_NB_CLASSES, 0))
        return NULL;
    struct vigil_block *b = t->head[cls];
    if (__builtin_expect(b == NULL, 0))
        return NULL;
    t->head[cls] = b->next;
    vigil__room_set(t, cls, t->room[cls] + 1);
    return b;
}

/* Put p in the cache; false when it must take the slow path instead. */
static inline bool vigil__tcache_push(void *p)
{
    struct vigil_tcache *t = vigil__tc;
    /* NULL fails the check (arena_map.h: outside the arenas' span). */
    if (__builtin_expect(t == NULL, 0) || !vigil__owns_inline(p))
        return false;
    /* p is live, so its pool's class cannot change under us. */
    unsigned cls = vigil__pool_of(p)->cls;
    uint32_t room = t->room[cls];     /* the owner's own */
    if (__builtin_expect(room == 0, 0))
        return false;
    struct vigil_block *b = p;
    b->next = t->head[cls];
    /* A forked child walks the dead threads' lists (tcache.c, fork_drop):
     * the link must be in place before the block is on the list. */
    atomic_signal_fence(memory_order_release);
    t->head[cls] = b;
    vigil__room_set(t, cls, room - 1);
    return true;
}

/* A block of class cls (cur bytes) reallocated to size bytes stays in
 * place when it still fits and no more than a quarter of it would be
 * wasted; otherwise it moves, so a shrunk block frees its room. */
static inline bool vigil__realloc_stays(size_t size, unsigned cls, size_t cur)
{
    return size <= cur && (vigil__size_class(size) == cls || 4 * size >= 3 * cur);
}

/* The arena's realloc of p to size bytes, when the cache can do it all: p
 * is the arena's and stays where it is (the rule of vigil__arena_realloc:
 * it fits its class and wastes at most a quarter of it), or moves to a
 * cached block; NULL otherwise (the slow path decides). */
static inline void *vigil__tcache_realloc_hit(void *p, size_t size)
{
    if (__builtin_expect(vigil__tc == NULL || p == NULL || size - 1 >= VIGIL_SMALL_MAX, 0) ||
        !vigil__owns_inline(p))
        return NULL;
    unsigned cls = vigil__pool_of(p)->cls;   /* constant while p is live */
    size_t cur = vigil__class_size(cls);
    if (vigil__realloc_stays(size, cls, cur))
        return p;
    void *q = vigil__tcache_pop(size);
    if (q) {
        memcpy(q, p, size < cur ? size : cur);
        if (!vigil__tcache_push(p))
            vigil__arena_free(NULL, p);
    }
    return q;
}

#endif /* VIGIL_TCACHE_H */
