/*
 * tcache.c - the arena allocator's table: per-thread caches of free blocks
 * over the thread heaps (theap.c) and the shared heap (heap.c), and large
 * requests handed on to the allocator the arena was given at start-up.  The
 * design is drawn in arena.h; the hits are inline in tcache.h.
 *
 * Only the owning thread touches a cache's head[] and writes its room[];
 * other threads read room[] (relaxed) for the statistics.  A cache's misses
 * go to its thread's heap, which embeds it.  No cache is used while
 * annotating: then every block goes through the locked path over the shared
 * pools, where the tool annotations, the tools' quarantine and the marking
 * of freed blocks are; so does a thread whose cache is off.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "arena_tools.h"
#include "check.h"
#include "heap.h"
#include "request.h"
#include "tcache.h"

static struct vigil_arena_env env;

void vigil__arena_setup(const struct vigil_arena_env *e)
{
    env = *e;
    vigil__tools_setup(e->on_valgrind, e->quarantine, e->keep);
}

/* A cache starts holding at most TCACHE_BYTES of a class (between 8 and
 * 256 blocks): enough that a thread rarely takes the lock, little enough
 * that idle caches of 32 classes do not add up to much resident memory.  An
 * empty cache takes half its capacity from the pools at once; a full one
 * gives half back.
 *
 * A class whose cache fills again after it refilled (its working set, a
 * queue of a thousand blocks say, is larger than the cache, so every block
 * would go back to its pool and out again) has its cap doubled instead of
 * giving blocks back, up to TCACHE_GROWN_BYTES or TCACHE_GROWN_MAX blocks,
 * while the thread's caps have grown by less than TCACHE_GROWN_BUDGET in
 * all.  A one-off burst of frees does not grow it: it did not refill.  The
 * caps go back to their start when the cache is given back whole (a flush,
 * the thread's exit). */
#ifndef TCACHE_BYTES
#define TCACHE_BYTES 16384
#endif
#define TCACHE_MAX          256
#define TCACHE_GROWN_BYTES  65536
#define TCACHE_GROWN_MAX    2048
#define TCACHE_GROWN_BUDGET (256 * 1024)

/* A thread whose first slow path is a free (a consumer of other threads'
 * blocks) gets a cache too, with caps of FREE_ONLY_BYTES a class (at least
 * 8 blocks) until it first refills one: its frees then go to their owners'
 * queues in runs, one compare-and-swap a run of one owner's blocks
 * (theap.c), where without a cache each took a CAS on the owner's queue
 * and an atomic add on a shared count (mimalloc-bench's xmalloc-test: 2.4x
 * mimalloc's CPU time a free).  Small, because such a cache holds other
 * threads' blocks that only their owners reuse: with full caps xthread's
 * peak RSS was 1.8x glibc's. */
#define FREE_ONLY_BYTES 2048

static uint16_t tcache_caps[VIGIL_NB_CLASSES];   /* set before any cache exists */
static uint16_t free_only_caps[VIGIL_NB_CLASSES];
static uint16_t tcache_grown_caps[VIGIL_NB_CLASSES];

static inline uint32_t tcache_cap(struct vigil_tcache *t, unsigned cls)
{
    return atomic_load_explicit(&t->cap[cls], memory_order_relaxed);
}

__attribute__((tls_model("initial-exec"))) _Thread_local struct vigil_tcache *vigil__tc;
/* A thread past its cache's destructor gets this one: always empty (no
 * head) and always full (no room), so both fast paths fall through to the
 * locked path. */
static struct vigil_tcache tcache_off;
static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;

static void tcache_destructor(void *arg);
static void fork_child(void);

/* Every thread's cache.  The heap's lock is the registry's: the statistics
 * read every cache and the pools in one critical section. */
static struct vigil_treg registry = {
    .lock = vigil__heap_lock, .unlock = vigil__heap_unlock, .size = sizeof(struct vigil_tcache),
    .node_offset = offsetof(struct vigil_tcache, link),
};

/* Other threads read the cap and the room while the owner changes both: a
 * room seen above its cap (a shrink half seen) counts as none cached. */
static inline uint32_t cached(struct vigil_tcache *t, unsigned cls)
{
    uint32_t cap = tcache_cap(t, cls), room = vigil__room(t, cls);
    return room < cap ? cap - room : 0;
}

static inline void set_cached(struct vigil_tcache *t, unsigned cls, uint32_t n)
{
    VIGIL_ASSERT(n <= tcache_cap(t, cls));
    vigil__room_set(t, cls, tcache_cap(t, cls) - n);
}

/* The caps back to their start (the cache is empty). */
static void reset_caps(struct vigil_tcache *t)
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        atomic_store_explicit(&t->cap[c], tcache_caps[c], memory_order_relaxed);
        set_cached(t, c, 0);
    }
    t->free_only = 0;
    t->grown = 0;
    t->refilled = 0;
    t->growths = 0;
    memset(t->grew_at, 0, sizeof t->grew_at);
}

/* Class c's cap back to its start, the blocks above it given back (the
 * heap busy: they go back to their pools). */
static void cache_shrink(struct vigil_tcache *t, unsigned c)
{
    uint32_t cap = tcache_cap(t, c), base = tcache_caps[c], n = cached(t, c);
    if (n > base) {
        t->head[c] = vigil__theap_free_first(&t->heap, t->head[c], n - base);
        n = base;
    }
    t->grown -= (uint32_t)((cap - base) * vigil__class_size(c));
    /* The room first, so a reader meanwhile sees it under the old cap. */
    vigil__room_set(t, c, base - n);
    atomic_store_explicit(&t->cap[c], tcache_caps[c], memory_order_relaxed);
}

/* The full cache of class cls may grow instead of giving blocks back (see
 * the top of this file): its cap doubled, the new room open.  Past the
 * budget, the classes that grew longest ago go back to their start first,
 * so the budget follows the working set of the moment.  The heap busy. */
static bool cache_grow(struct vigil_tcache *t, unsigned cls)
{
    uint32_t bit = (uint32_t)1 << cls, cap = tcache_cap(t, cls);
    uint32_t to = 2 * cap < tcache_grown_caps[cls] ? 2 * cap : tcache_grown_caps[cls];
    size_t bytes = (size_t)(to - cap) * vigil__class_size(cls);
    if (!(t->refilled & bit) || to <= cap)
        return false;
    while (t->grown + bytes > TCACHE_GROWN_BUDGET) {
        unsigned oldest = VIGIL_NB_CLASSES;
        for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
            if (c != cls && tcache_cap(t, c) > tcache_caps[c] &&
                (oldest == VIGIL_NB_CLASSES || t->grew_at[c] - t->grew_at[oldest] > UINT32_MAX / 2))
                oldest = c;
        if (oldest == VIGIL_NB_CLASSES)
            return false;
        cache_shrink(t, oldest);
    }
    t->refilled &= ~bit;
    t->grown += (uint32_t)bytes;
    t->grew_at[cls] = ++t->growths;
    uint32_t n = cached(t, cls);
    atomic_store_explicit(&t->cap[cls], (uint16_t)to, memory_order_relaxed);
    set_cached(t, cls, n);
    return true;
}

/* The cache's blocks of class cls but the last keep, off the cache, as a
 * list (NULL-terminated). */
static struct vigil_block *cache_take(struct vigil_tcache *t, unsigned cls, uint32_t keep)
{
    uint32_t n = cached(t, cls);
    if (n <= keep)
        return NULL;
    struct vigil_block *first = t->head[cls], *last = first;
    for (uint32_t i = 1; i < n - keep; i++)
        last = last->next;
    t->head[cls] = last->next;
    last->next = NULL;
    set_cached(t, cls, keep);
    return first;
}

/* Every class's blocks off the cache, as one list. */
static struct vigil_block *cache_take_all(struct vigil_tcache *t)
{
    struct vigil_block *all = NULL;
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        struct vigil_block *l = cache_take(t, c, 0), *tail = l;
        if (!l)
            continue;
        while (tail->next)
            tail = tail->next;
        tail->next = all;
        all = l;
    }
    return all;
}

/* Lock held: every block back to the pools, every pool of the thread's
 * heap back to the shared state, the cache to the spares. */
static void tcache_retire(struct vigil_tcache *t)
{
    for (struct vigil_block *b = cache_take_all(t), *next; b; b = next) {
        next = b->next;
        vigil__theap_release_locked(&t->heap, b);
    }
    vigil__theap_abandon_locked(&t->heap);
    vigil__treg_retire(&registry, t);
}

static void drain_spares(void);

static void tcache_destructor(void *arg)
{
    vigil__heap_lock();
    tcache_retire(arg);
    /* Blocks pushed to exited threads' heaps after they gave their pools
     * away would otherwise wait for a statistics call or a new thread. */
    drain_spares();
    vigil__heap_unlock();
    vigil__tc = &tcache_off;
}

static void tcache_setup(void)
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        size_t n = TCACHE_BYTES / vigil__class_size(c);
        tcache_caps[c] = (uint16_t)(n < 8 ? 8 : n > TCACHE_MAX ? TCACHE_MAX : n);
        n = FREE_ONLY_BYTES / vigil__class_size(c);
        free_only_caps[c] = (uint16_t)(n < 8 ? 8 : n);
        n = TCACHE_GROWN_BYTES / vigil__class_size(c);
        tcache_grown_caps[c] = (uint16_t)(n > TCACHE_GROWN_MAX ? TCACHE_GROWN_MAX : n);
    }
    vigil__treg_init(&registry, tcache_destructor);
    vigil__heap_on_fork_child(fork_child);
}

/* Every class's cap from caps, its cached blocks kept (the cap first, as
 * cache_grow does: the room is counted from it). */
static void set_caps(struct vigil_tcache *t, const uint16_t *caps)
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        uint32_t n = cached(t, c);
        atomic_store_explicit(&t->cap[c], caps[c], memory_order_relaxed);
        set_cached(t, c, n);
    }
}

/* The calling thread's cache, made on its first slow path; NULL when blocks
 * must take the locked path (annotating, or no memory for a cache). */
static struct vigil_tcache *tcache_get(bool for_free)
{
    if (vigil__tc)
        return vigil__tc;
    vigil__tools_decide();
    pthread_once(&tcache_once, tcache_setup);
    if (vigil__annotating())
        return NULL;
    vigil__tc = &tcache_off;            /* while claiming: see treg.h */
    int fresh;
    struct vigil_tcache *t = vigil__treg_claim(&registry, &fresh);
    if (t) {
        reset_caps(t);                  /* fresh, or a spare emptied when retired */
        if (for_free) {
            set_caps(t, free_only_caps);
            t->free_only = 1;
        }
    }
    (void)fresh;
    vigil__tc = t;
    return t;
}

/* A cache made by a free, at its first refill: the caps of a thread that
 * allocates, its cached blocks kept. */
__attribute__((noinline, cold))
static void widen_caps(struct vigil_tcache *t)
{
    set_caps(t, tcache_caps);
    t->free_only = 0;
}

/* One block for the caller, and enough more of the same class to fill the
 * (empty) cache halfway, from the thread's own pools. */
static void *tcache_refill(struct vigil_tcache *t, size_t size, bool *grew)
{
    if (__builtin_expect(t->free_only, 0))
        widen_caps(t);
    unsigned cls = vigil__size_class(size);
    uint32_t n = cached(t, cls), fill = tcache_cap(t, cls) / 2, got;
    /* Up to half full, counting the block handed out: the cache need not
     * be empty (a request of 0 bytes misses it, see arena_malloc_slow). */
    uint32_t want = n + 1 < fill ? fill - n : 1;
    vigil__theap_busy(&t->heap, 1);
    /* The blocks land in front of the cached ones, p first: p is handed
     * out, the rest become the cache (room for cap - n of them). */
    struct vigil_block *p = vigil__theap_alloc(&t->heap, cls, want, tcache_cap(t, cls) - n + 1,
                                               t->head[cls], &got, grew);
    if (p) {
        t->head[cls] = p->next;
        set_cached(t, cls, n + got - 1);
        t->refilled |= (uint32_t)1 << cls;
    }
    vigil__theap_busy(&t->heap, 0);
    return p;
}

/* Lock held: what the heaps of exited threads were sent since they
 * exited (theap.h), back to the pools. */
static void drain_spares(void)
{
    for (struct vigil_treg_node *n = registry.spare; n; n = n->next)
        vigil__theap_drain_locked(&((struct vigil_tcache *)vigil__treg_object(&registry, n))->heap);
}

/* Lock held: per class, the blocks in caches, and the thread heaps' pools,
 * blocks handed out and blocks queued, every heap's. */
struct counts {
    size_t cached[VIGIL_NB_CLASSES], pools[VIGIL_NB_CLASSES];
    size_t blocks[VIGIL_NB_CLASSES], queued[VIGIL_NB_CLASSES];
};

static void tcache_counts(struct counts *k)
{
    memset(k, 0, sizeof *k);
    struct vigil_treg_node *lists[2] = { registry.live, registry.spare };
    for (int l = 0; l < 2; l++)
        for (struct vigil_treg_node *n = lists[l]; n; n = n->next) {
            struct vigil_tcache *t = vigil__treg_object(&registry, n);
            for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
                k->cached[c] += cached(t, c);
            vigil__theap_counts(&t->heap, k->pools, k->blocks, k->queued);
        }
    vigil__theap_shared_queued(k->queued);
}

void vigil__thread_cache_flush(void)
{
    struct vigil_tcache *t = vigil__tc;
    if (!t || t == &tcache_off)
        return;
    vigil__theap_busy(&t->heap, 1);
    vigil__theap_free(&t->heap, cache_take_all(t));
    reset_caps(t);
    vigil__theap_settle(&t->heap);
    vigil__theap_busy(&t->heap, 0);
}

void vigil__thread_cache_disable(void)
{
    vigil__thread_cache_flush();
    struct vigil_tcache *t = vigil__tc;
    if (t && t != &tcache_off) {
        /* Its pools go back: from now on this thread frees as a thread
         * without a heap (vigil__theap_free_uncached). */
        vigil__heap_lock();
        vigil__theap_abandon_locked(&t->heap);
        vigil__heap_unlock();
    }
    /* Annotating, no thread has a cache, and none may look like it has:
     * the fast paths would read the pool header, which is poisoned. */
    vigil__tools_decide();
    if (!vigil__annotating())
        vigil__tc = &tcache_off;
}

/* ---- the table ---- */

/* Everything but a hit in the thread's cache: kept out of line so the fast
 * path below needs no stack frame. */
__attribute__((noinline))
static void *arena_malloc_slow(size_t size)
{
    /* The inline pop sends size 0 here (it wraps to a huge class, saving a
     * test), but its class is 0, which the cache may hold. */
    if (size == 0) {
        void *p = vigil__tcache_pop(1);
        if (p)
            return p;
    }
    if (size <= VIGIL_SMALL_MAX) {
        struct vigil_tcache *t = tcache_get(false);
        bool grew = false;
        void *p;
        if (t && t != &tcache_off) {
            p = tcache_refill(t, size, &grew);
        } else {
            vigil__heap_lock();
            p = vigil__heap_alloc_locked(size, &grew);
            vigil__heap_unlock();
        }
        if (grew && env.on_new_arena)
            env.on_new_arena();
        if (p) {
            vigil__tools_block_alloc(p, size);
            return p;
        }
        /* No arena to be had: the large allocator may still serve it. */
    }
    VIGIL_ASSERT(env.large != NULL);
    return env.large->malloc(env.large->ctx, size);
}

void *vigil__arena_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = vigil__tcache_pop(size);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return arena_malloc_slow(size);
}

void *vigil__arena_calloc(void *ctx, size_t nelem, size_t elsize)
{
    size_t size;
    if (!vigil__calloc_size(nelem, elsize, &size))
        return NULL;
    if (size > VIGIL_SMALL_MAX)
        return env.large->calloc(env.large->ctx, nelem, elsize);
    void *p = vigil__arena_malloc(ctx, size);
    if (p)
        memset(p, 0, size);
    return p;
}

/* Annotating: a realloc of p that would corrupt the pools (p was freed
 * already, or is not the start of a block) is refused, as the free path
 * refuses such a free in its own critical section.  memcheck reports it,
 * in its words, when told of the free; under ASan vigil reports it in
 * ASan's (arena_tools.c).  Without the tools nothing is looked at: the
 * debug hooks are the check then.  info says which block p lies in. */
static int refused(void *p, const char *op, struct vigil_block_info *info)
{
    enum vigil_free_verdict v = vigil__heap_free_verdict(p, info);
    if (v == VIGIL_FREE_OK)
        return 0;
    vigil__tools_block_free(p);
    vigil__tools_bad_free(p, v, info, op);
    return 1;
}

__attribute__((noinline))
static void arena_free_slow(void *p)
{
    if (!p)
        return;
    if (!vigil__arena_owns(p)) {
        env.large->free(env.large->ctx, p);
        return;
    }
    /* A thread that frees before it allocates gets a small cache
     * (FREE_ONLY_BYTES). */
    struct vigil_tcache *t = vigil__tc ? vigil__tc : tcache_get(true);
    if (t && t != &tcache_off) {
        /* The cache is full for this class: half of it goes back, and p
         * takes the room that makes. */
        unsigned cls = vigil__pool_of(p)->cls;
        uint32_t keep = tcache_cap(t, cls) / 2, n = cached(t, cls);
        /* busy: a child forked meanwhile leaves this cache alone. */
        vigil__theap_busy(&t->heap, 1);
        if (n > keep && !cache_grow(t, cls)) {
            t->refilled &= ~((uint32_t)1 << cls);
            /* The newest blocks go, in one walk that frees them as it goes. */
            t->head[cls] = vigil__theap_free_first(&t->heap, t->head[cls], n - keep);
            set_cached(t, cls, keep);
        }
        vigil__theap_busy(&t->heap, 0);
        if (vigil__tcache_push(p))
            return;
    }
    if (!vigil__annotating()) {
        /* A thread without a cache: p's pool may be a thread heap's. */
        vigil__theap_free_uncached(p);
        return;
    }
    /* refused(), in the critical section that frees the block, while its
     * header is open anyway: one lock and one header a free.  The free's
     * stack (ASan only) is taken before the lock, which it does not need. */
    struct vigil_block_info info;
    uint32_t freed_at = vigil__tools_stack_here();
    vigil__heap_lock();
    /* Told to memcheck before the block can be anybody's again; for a bad
     * free, memcheck reports it there. */
    vigil__tools_block_free(p);
    enum vigil_free_verdict v = vigil__heap_release_checked_locked(p, &info, freed_at);
    vigil__heap_unlock();
    if (v != VIGIL_FREE_OK)
        vigil__tools_bad_free(p, v, &info, "free");
}

void vigil__arena_free(void *ctx, void *p)
{
    (void)ctx;
    if (__builtin_expect(vigil__tcache_push(p), 1))
        return;
    arena_free_slow(p);
}

void *vigil__arena_realloc(void *ctx, void *p, size_t size)
{
    if (!p)
        return vigil__arena_malloc(ctx, size);
    if (!vigil__arena_owns(p))
        return env.large->realloc(env.large->ctx, p, size);
    unsigned cls;
    size_t cur, old;
    if (vigil__annotating()) {
        /* The check reads the class and the requested size anyway. */
        struct vigil_block_info info;
        if (refused(p, "realloc", &info)) {
            errno = EINVAL;
            return NULL;
        }
        cur = info.class_size;
        cls = vigil__size_class(cur);
        old = info.requested;
    } else {
        cls = vigil__pool_of(p)->cls;  /* constant while p is live */
        cur = old = vigil__class_size(cls);
    }
    if (vigil__realloc_stays(size, cls, cur)) {
        if (vigil__annotating()) {
            vigil__heap_set_requested(p, size);
            vigil__tools_block_resize(p, cur, old, size);
        }
        return p;
    }
    void *q = vigil__arena_malloc(ctx, size);
    if (!q)
        return NULL;                   /* p stays valid */
    memcpy(q, p, size < old ? size : old);
    vigil__arena_free(ctx, p);
    return q;
}

const vigil_allocator vigil__arena_allocator = {
    NULL, vigil__arena_malloc, vigil__arena_calloc, vigil__arena_realloc, vigil__arena_free,
};

const struct vigil_block_query vigil__arena_query = {
    vigil__heap_block_size, vigil__heap_prefetch,
};

/* Blocks of a class whose size is a multiple of the alignment are aligned
 * that much when the first block (at 0 or after the header) is: up to the
 * header's own alignment (64). */
#define ARENA_ALIGN_MAX ((size_t)(VIGIL_POOL_OVERHEAD & -VIGIL_POOL_OVERHEAD))

void *vigil__arena_aligned(size_t align, size_t size)
{
    if (align > ARENA_ALIGN_MAX)
        return NULL;
    size_t n = ((size ? size : 1) + align - 1) & ~(align - 1);
    if (n > VIGIL_SMALL_MAX)
        return NULL;
    void *p = vigil__arena_malloc(NULL, n);
    if (p && ((uintptr_t)p & (align - 1)) == 0)
        return p;
    /* The arena's layout says otherwise (or it had no arena and the large
     * allocator served it). */
    vigil__arena_free(NULL, p);
    return NULL;
}

/* ---- counting and checking ---- */

void vigil__arena_stats(struct vigil_arena_stats *st)
{
    struct counts k;
    vigil__heap_lock();
    drain_spares();
    tcache_counts(&k);
    vigil__heap_stats_locked(st, k.pools, k.blocks);
    vigil__heap_unlock();
    /* Blocks in thread caches and on queues are handed out as far as their
     * pools know, and free as far as the program knows: count them
     * available. */
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        size_t idle = k.cached[c] + k.queued[c];
        st->class_blocks[c] -= idle;
        st->class_avail[c] += idle;
        st->blocks -= idle;
        st->cached += idle;
    }
}

size_t vigil__arena_blocks(void)
{
    struct counts k;
    vigil__heap_lock();
    drain_spares();
    size_t n = vigil__heap_blocks_locked();
    tcache_counts(&k);
    vigil__heap_unlock();
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
        n += k.blocks[c] - k.cached[c] - k.queued[c];
    return n;
}

void vigil__arena_settle(void)
{
    vigil__thread_cache_flush();
    vigil__heap_lock();
    drain_spares();
    vigil__heap_unlock();
    vigil__heap_drain_quarantine();
}

/* Every cache's lists hold blocks of their class, as many as the room
 * says, and every thread heap's lists hold pools it owns, consistent.
 * Other threads' caches and heaps are read under the lock, which is sound
 * only while they do not allocate: the tests call this between phases.
 * The heaps a forked child could not trust (orphaned) are left out. */
static size_t check_caches(size_t *owned_pools, int *orphans)
{
    size_t bad = 0;
    struct vigil_treg_node *lists[2] = { registry.live, registry.spare };
    for (int l = 0; l < 2; l++)
        for (struct vigil_treg_node *n = lists[l]; n; n = n->next) {
            struct vigil_tcache *t = vigil__treg_object(&registry, n);
            if (t->heap.orphaned) {
                *orphans = 1;
                continue;
            }
            bad += vigil__theap_check(&t->heap, owned_pools);
            for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
                uint32_t want = cached(t, c), have = 0;
                for (struct vigil_block *b = t->head[c]; b && have <= want; b = b->next, have++)
                    if (!vigil__arena_owns(b) || vigil__pool_of(b)->cls != c) {
                        bad++;
                        break;
                    }
                bad += have != want;
            }
        }
    return bad;
}

size_t vigil__arena_check(void)
{
    size_t owned = 0;
    int orphans = 0;
    vigil__heap_lock();
    size_t bad = check_caches(&owned, &orphans);
    vigil__heap_unlock();
    return bad + vigil__heap_check(owned, orphans);
}

/* ---- fork ---- */

/* Only the forking thread lives on in the child.  Every other thread's
 * cache and heap go back to the shared state, so none of their blocks is
 * lost (heap lock held, as lock.h's policy has it).  Such a thread may
 * have been stopped anywhere in its lock-free push or pop: its count may be
 * off by one, but its list is whole, because a push links the block before
 * it publishes it (the signal fences keep the compiler to that order, and
 * x86 stores become visible in order).  So each list is walked to its end,
 * not by its count.  One stopped in a change of its heap's lists
 * (vigil__theap_busy) left them half made: that heap and its cache are
 * left as they are, orphaned, their pools never used again, and blocks the
 * child frees into them are lost (counted free). */
static void fork_child(void)
{
    struct vigil_tcache *own = vigil__tc;
    for (struct vigil_treg_node *n = registry.live, *next; n; n = next) {
        next = n->next;
        struct vigil_tcache *t = vigil__treg_object(&registry, n);
        if (t == own || t->heap.orphaned)
            continue;
        if (t->heap.busy) {
            t->heap.orphaned = 1;
            continue;
        }
        for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
            for (struct vigil_block *b = t->head[c], *bn; b; b = bn) {
                bn = b->next;
                vigil__theap_release_locked(&t->heap, b);
            }
            t->head[c] = NULL;
            set_cached(t, c, 0);
        }
        vigil__theap_abandon_locked(&t->heap);
        vigil__treg_retire(&registry, t);
    }
}
