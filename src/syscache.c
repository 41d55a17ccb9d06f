/*
 * syscache.c - the arena's large allocator: a per-thread cache of the
 * system allocator's medium blocks (see syscache.h).
 *
 * A medium request (513 bytes to 32 KiB) is rounded up to its class, 4 a
 * power of two (640, 768, 896, 1024, 1280, ...), and a miss asks the
 * system allocator for the class's size, so every block of a class serves
 * every request of it.  A freed block's class is read from the system
 * allocator (malloc_usable_size), not trusted to be one of ours: the
 * largest class it holds, which also takes in the raw domain's blocks and
 * libc's own that the arena is handed.  A block too small for the first
 * class or larger than a class and a quarter over the last goes straight
 * back.
 *
 * Only the owning thread touches its cache, without a lock or an atomic
 * read-modify-write; the one shared word is each cache's block count,
 * written by its owner and read relaxed by vigil__syscache_blocks.  The
 * registry (treg.h) and its lock are for thread exit, fork and that count.
 * A cache holds at most its bound, which adapts between 32 KiB and
 * SYSCACHE_BYTES; a free that finds it full first doubles the bound or
 * gives half of every class back to the system allocator (grow_or_trim),
 * and the 8 blocks parked by the last frees (sc_free) may come on top.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "lock.h"
#include "request.h"
#include "syscache.h"
#include "treg.h"

#define FIRST_ABOVE 512                     /* VIGIL_SMALL_MAX: the pools' */
#define LAST 32768
#define CLASSES 24
/* The bytes one thread may keep.  Blocks kept here are kept apart by
 * class, where the system allocator would have merged and reused them for
 * any size, so the bound is paid for in resident memory, nearly byte for
 * byte: espresso of mimalloc-bench peaked at 2.7 MiB with 64 KiB, 2.85 with
 * 256 KiB, 3.0 with 512 KiB (glibc alone: 2.4), though 64 KiB already
 * served 96% of its requests.  rptest (2 threads, random sizes to 16 KB, a
 * block often freed by the other thread) needs the room: 23% of its
 * requests were served at 64 KiB, 58% at 512 KiB, and it ran 31% slower at
 * 64 KiB.  So the bound adapts, between FIRST_BOUND and MAX_BOUND, each
 * time the cache is full (grow_or_trim): it doubles when more than a
 * quarter of the requests missed, and halves when fewer than one in 32
 * did. */
#ifndef SYSCACHE_BYTES
#define SYSCACHE_BYTES ((size_t)512 << 10)
#endif
#define MAX_BOUND SYSCACHE_BYTES
/* 32 KiB: espresso's peak anonymous RSS 1008 KiB at 64, 988 at 32 (and at
 * 16).  A trim leaves at least half the bound free, which at the first
 * bound is less than the largest class: such a block goes back (push). */
#define FIRST_BOUND (MAX_BOUND / 16)
/* A doubled bound has room for the largest class (grow_or_trim). */
_Static_assert(FIRST_BOUND >= LAST, "SYSCACHE_BYTES too small for the classes");

/* The class of a request of 513..32768 bytes: the power of two above
 * size - 1 split in four. */
static inline unsigned class_of(size_t size)
{
    size_t s = size - 1;
    unsigned lg = 63u - (unsigned)__builtin_clzl(s);       /* 9..14 */
    return (lg - 9) * 4 + (unsigned)((s >> (lg - 2)) & 3);
}

static inline size_t class_size(unsigned c)
{
    return (size_t)(5 + c % 4) << (c / 4 + 7);
}

static inline bool medium(size_t size)
{
    return size - (FIRST_ABOVE + 1) < LAST - FIRST_ABOVE;
}

struct cached_block {
    struct cached_block *next;
};

/* Frees a thread makes before it reads their blocks' size words (see
 * sc_free); a power of two. */
#define LAG 8

struct syscache {
    struct cached_block *head[CLASSES];
    uint32_t n[CLASSES];
    size_t room;                            /* bytes it may still take */
    void *lag[LAG];                         /* freed, not yet classed */
    unsigned lag_at;
    size_t bound;                           /* room plus the bytes kept */
    uint32_t hits, misses;                  /* requests, since last judged */
    _Atomic size_t blocks;                  /* the owner's; read relaxed */
    struct vigil_treg_node link;
};

static struct vigil_syscache_env env;

/* A thread past its cache's destructor, or while claiming one: no room and
 * no blocks, so every call passes through. */
static struct syscache cache_off;
static __attribute__((tls_model("initial-exec"))) _Thread_local struct syscache *my;

static void fork_child(void);
VIGIL_LOCK_DEFINE(reg_lock, fork_child);
static void reg_lock_take(void) { vigil__lock(&reg_lock); }
static void reg_lock_give(void) { vigil__unlock(&reg_lock); }

static struct vigil_treg registry = {
    .lock = reg_lock_take, .unlock = reg_lock_give, .size = sizeof(struct syscache),
    .node_offset = offsetof(struct syscache, link),
};

static inline void count(struct syscache *c, long delta)
{
    atomic_store_explicit(&c->blocks,
                          atomic_load_explicit(&c->blocks, memory_order_relaxed) + (size_t)delta,
                          memory_order_relaxed);
}

/* Every block of c back to the system allocator; the lists are walked to
 * their ends, not by their counts (a forked child's dead threads may have
 * stopped between a link and its count). */
static void drop(void *obj)
{
    struct syscache *c = obj;
    for (unsigned k = 0; k < CLASSES; k++) {
        for (struct cached_block *b = c->head[k], *next; b; b = next) {
            next = b->next;
            env.sys->free(env.sys->ctx, b);
        }
        c->head[k] = NULL;
        c->n[k] = 0;
    }
    for (unsigned i = 0; i < LAG; i++) {
        if (c->lag[i])
            env.sys->free(env.sys->ctx, c->lag[i]);
        c->lag[i] = NULL;
    }
    c->room = c->bound = FIRST_BOUND;
    c->hits = c->misses = 0;
    atomic_store_explicit(&c->blocks, 0, memory_order_relaxed);
}

static void destructor(void *obj)
{
    my = &cache_off;
    drop(obj);
    reg_lock_take();
    vigil__treg_retire(&registry, obj);
    reg_lock_give();
}

static void fork_child(void)
{
    vigil__treg_fork_child(&registry, my, drop);
}

__attribute__((noinline, cold))
static struct syscache *claim(void)
{
    my = &cache_off;                        /* while claiming: see treg.h */
    int fresh;
    struct syscache *c = vigil__treg_claim(&registry, &fresh);
    if (c && fresh)
        c->room = c->bound = FIRST_BOUND;   /* a spare was emptied by drop */
    my = c ? c : &cache_off;
    return my;
}

static inline struct syscache *cache(void)
{
    struct syscache *c = my;
    return __builtin_expect(c != NULL, 1) ? c : claim();
}

static inline void *pop(struct syscache *c, unsigned k)
{
    struct cached_block *b = c->head[k];
    if (!b)
        return NULL;
    c->head[k] = b->next;
    c->n[k]--;
    c->room += class_size(k);
    c->hits++;
    count(c, -1);
    return b;
}

/* Half of every class's blocks (the older half) back to the system.  The
 * half is cut off the list before any of it is freed: a forked child gives
 * back the lists of the threads that did not survive (fork_child), and a
 * block still listed after its free would be freed twice there. */
__attribute__((noinline))
static void trim(struct syscache *c)
{
    for (unsigned k = 0; k < CLASSES; k++) {
        uint32_t keep = c->n[k] / 2;
        struct cached_block **link = &c->head[k];
        for (uint32_t i = 0; i < keep; i++)
            link = &(*link)->next;
        struct cached_block *cut = *link;
        *link = NULL;
        atomic_signal_fence(memory_order_seq_cst);
        c->n[k] = keep;
        for (struct cached_block *b = cut, *next; b; b = next) {
            next = b->next;
            env.sys->free(env.sys->ctx, b);
            c->room += class_size(k);
            count(c, -1);
        }
    }
}

/* The cache is full and a block of size bytes is freed: more room when the
 * cache has been missing, else the older half of it back, and less room
 * when it has hardly been missing (the rule at SYSCACHE_BYTES above).  The
 * counts run on until they are enough to judge by: a cache just shrunk is
 * full again after a few frees. */
__attribute__((noinline))
static void grow_or_trim(struct syscache *c, size_t size)
{
    uint64_t misses = c->misses, requests = c->hits + misses;
    if (requests >= 16 && misses * 4 > requests && c->bound < MAX_BOUND) {
        c->hits = c->misses = 0;
        c->room += c->bound;
        c->bound *= 2;
        return;                             /* room >= FIRST_BOUND >= LAST */
    }
    trim(c);
    if (requests >= 128 && misses * 32 < requests && c->bound > FIRST_BOUND) {
        c->hits = c->misses = 0;
        size_t half = c->bound / 2;
        while (c->bound - c->room > half - size)
            trim(c);                        /* each time, at least half */
        c->room -= half;
        c->bound = half;
    } else if (requests >= 1024) {
        c->hits = c->misses = 0;            /* judged: neither */
    }
}

/* Keep p, whose usable size is u; false: it goes back to the system. */
static inline bool push(struct syscache *c, void *p, size_t u)
{
    if (u < class_size(0) || u >= class_size(CLASSES))
        return false;
    unsigned k = class_of(u + 1) - 1;       /* the largest class it holds */
    size_t size = class_size(k);
    if (__builtin_expect(size > c->room, 0)) {
        if (c == &cache_off)
            return false;
        grow_or_trim(c, size);
        if (size > c->room)
            return false;                   /* a trim left less than a large class */
    }
    struct cached_block *b = p;
    b->next = c->head[k];
    /* A forked child walks dead threads' lists (fork_child): the link
     * before the block is on the list. */
    atomic_signal_fence(memory_order_release);
    c->head[k] = b;
    c->n[k]++;
    c->room -= size;
    count(c, 1);
    return true;
}

/* p, whose usable size is u, onto its list, or back to the system. */
static inline void keep(struct syscache *c, void *p, size_t u)
{
    if (!push(c, p, u))
        env.sys->free(env.sys->ctx, p);
}

/* The parked blocks of sc_free onto their lists (or back to the system):
 * before a miss goes to the system, so a block freed serves its class
 * next.  Each is counted once, parked or listed. */
__attribute__((noinline))
static void unpark(struct syscache *c)
{
    for (unsigned i = 0; i < LAG; i++) {
        void *p = c->lag[i];
        if (!p)
            continue;
        c->lag[i] = NULL;
        atomic_signal_fence(memory_order_seq_cst);
        count(c, -1);
        keep(c, p, env.usable(p));
    }
}

/* A block of class k cached by c, or NULL. */
static inline void *pop_or_unpark(struct syscache *c, unsigned k)
{
    void *p = pop(c, k);
    if (__builtin_expect(p == NULL, 0) && c != &cache_off) {
        unpark(c);
        p = pop(c, k);
    }
    return p;
}

/* A request the cache could not serve, counted for grow_or_trim. */
static inline void missed(struct syscache *c)
{
    if (c != &cache_off)
        c->misses++;
}

/* A block of class k, from the cache or the system allocator. */
static inline void *take(unsigned k)
{
    struct syscache *c = cache();
    void *p = pop_or_unpark(c, k);
    if (__builtin_expect(p != NULL, 1))
        return p;
    missed(c);
    return env.sys->malloc(env.sys->ctx, class_size(k));
}

static void *sc_malloc(void *ctx, size_t size)
{
    (void)ctx;
    if (medium(size))
        return take(class_of(size));
    return env.sys->malloc(env.sys->ctx, size);
}

static void *sc_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    size_t total;
    if (!vigil__calloc_size(nelem, elsize, &total))
        return NULL;
    if (medium(total)) {
        unsigned k = class_of(total);
        struct syscache *c = cache();
        void *p = pop_or_unpark(c, k);
        if (p)
            return memset(p, 0, total);
        missed(c);
        return env.sys->calloc(env.sys->ctx, 1, class_size(k));
    }
    return env.sys->calloc(env.sys->ctx, nelem, elsize);
}

/* A block another thread used last (larson's, rptest's) is a cold line
 * here, and its class is in its size word, before it: a load that would
 * stall the free.  So the free only prefetches that line and parks the
 * block, and classes the one it parked LAG frees ago, whose line has
 * arrived meanwhile.  A parked block is counted cached.  The ring's slot
 * takes the new block before the old one is listed: a child forked in
 * between loses the old one (a leak in the child), where the other order
 * would free it twice there (drop).  Any block the arena is handed may be
 * parked, a large one too: at most LAG of them wait. */
static void sc_free(void *ctx, void *p)
{
    (void)ctx;
    struct syscache *c = cache();
    if (__builtin_expect(!p || c == &cache_off, 0)) {
        env.sys->free(env.sys->ctx, p);
        return;
    }
    /* A block 16 bytes into a page is most likely a mapping of its own
     * (glibc's large blocks): never parked, so its memory goes back to
     * the system at its free. */
    if (__builtin_expect(((uintptr_t)p & 4095) == 2 * sizeof(size_t), 0)) {
        keep(c, p, env.usable(p));
        return;
    }
    __builtin_prefetch((char *)p - sizeof(size_t), 1);
    unsigned i = c->lag_at;
    void *old = c->lag[i];
    c->lag[i] = p;
    c->lag_at = (i + 1) % LAG;
    atomic_signal_fence(memory_order_seq_cst);
    if (!old) {
        count(c, 1);
        return;
    }
    /* p in and old out of the ring leave the count as it was; push counts
     * old on its list. */
    keep(c, old, env.usable(old));
}

/* In place while the new size fits and wastes at most a quarter of the
 * block (always within its class); otherwise moved, a shrunk block giving
 * its room back.  Sizes outside the classes are the system's to decide. */
static void *sc_realloc(void *ctx, void *p, size_t size)
{
    if (!p)
        return sc_malloc(ctx, size);
    if (!medium(size))
        return env.sys->realloc(env.sys->ctx, p, size);
    size_t u = env.usable(p);
    if (size <= u && 4 * size >= 3 * u)
        return p;
    void *q = take(class_of(size));
    if (!q)
        return NULL;                        /* p stays valid */
    memcpy(q, p, size < u ? size : u);
    keep(cache(), p, u);
    return q;
}

static const vigil_allocator table = {
    NULL, sc_malloc, sc_calloc, sc_realloc, sc_free,
};

const vigil_allocator *vigil__syscache_setup(const struct vigil_syscache_env *e)
{
    if (e->off)
        return e->sys;
    env = *e;
    vigil__treg_init(&registry, destructor);
    return &table;
}

size_t vigil__syscache_blocks(void)
{
    size_t n = 0;
    reg_lock_take();
    for (struct vigil_treg_node *l = registry.live; l; l = l->next) {
        struct syscache *c = vigil__treg_object(&registry, l);
        n += atomic_load_explicit(&c->blocks, memory_order_relaxed);
    }
    reg_lock_give();
    return n;
}

void vigil__syscache_flush(void)
{
    struct syscache *c = my;
    if (c && c != &cache_off)
        drop(c);
}
