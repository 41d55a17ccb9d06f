/*
 * arena.c - the arena allocator: blocks of one size class in pools, pools in
 * arenas.  The layout and the reasoning behind it are in arena.h.
 *
 * Locking: one mutex guards the heap, the pools and the arena buckets.  The
 * ownership check reads only the pool header's arena index (constant while
 * the pool's arena lives) and the arena table's addresses (atomics), so it
 * needs no lock.
 *
 * Tools: when the program runs under Valgrind (or the build uses ASan) the
 * arena describes itself through vigil/annotate.h.  Arena memory is no-access
 * when it arrives; a pool header is opened (defined) only while this file
 * reads or writes it, under the lock, and closed again; a free-list link in a
 * freed block is made readable or writable for the one access; a block
 * handed out is a pool chunk of exactly the requested size, registered in
 * arena_malloc_slow() so memcheck's stack shows the caller's call just below it.
 * We use mempool requests rather than MALLOCLIKE_BLOCK because a realloc in
 * place must resize the chunk (VALGRIND_MEMPOOL_CHANGE).  Caveats from the
 * Valgrind manual that shape this: memcheck does not check chunks for
 * overlap, so the bookkeeping must be right; MEMPOOL_CHANGE moves or resizes
 * a chunk but does not change the bytes' state, so VIGIL_POOL_RESIZE marks
 * the grown or dropped tail itself; and arena memory is mmap'd, never a
 * malloc block, so chunks are not counted twice by the leak checker (the
 * METAPOOL case).  To resize exactly, the requested size of each block is
 * kept in a side table (one uint16_t per 16 bytes of arena), only while
 * annotating.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "tcache.h"
#include "vigil/annotate.h"

struct arena_slot {
    struct vigil_arena a;
    uint16_t *requested;   /* annotating only: requested size per block */
    /* Returned to the source that gave it, whatever the source is by then. */
    void *src_ctx;
    void (*src_free)(void *ctx, void *ptr, size_t size);
};

/* Addresses apart from the slots: the ownership check reads them unlocked. */
_Atomic uintptr_t vigil__arena_base[VIGIL_MAX_ARENAS];
static struct arena_slot slots[VIGIL_MAX_ARENAS];
static uint32_t slots_used;            /* slots ever used */
static struct vigil_arena *unused_slots;

/* Arenas with at least one free pool, by their count of free pools. */
#define NB_BUCKETS (VIGIL_POOLS_PER_ARENA + 1)
#define BUCKET_WORDS ((NB_BUCKETS + 63) / 64)
static struct vigil_arena *buckets[NB_BUCKETS];
static uint64_t bucket_bits[BUCKET_WORDS];

static struct vigil_heap heap;
static size_t heap_blocks;
static size_t empty_arenas;
static size_t arenas_allocated, arenas_reclaimed, arenas_current, arenas_highwater;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int fork_handlers;
static void atfork_prepare(void);
static void atfork_parent(void);
static void atfork_child(void);

/* Every use of the lock comes through here, so the fork handlers are in
 * place before two threads can contend for it, whoever calls the arena
 * (the domains, or a program holding the arena's table itself).  Not a
 * pthread_once: pthread_atfork may allocate, and under the preload library
 * that allocation comes back here. */
static inline void heap_lock(void)
{
    if (!atomic_load_explicit(&fork_handlers, memory_order_acquire) &&
        !atomic_exchange_explicit(&fork_handlers, 1, memory_order_acq_rel))
        pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
    pthread_mutex_lock(&lock);
}

/* ---- tool annotations ----
 * Decided once, with the first arena: under ASan always, under Valgrind when
 * running on it.  Outside both, annotating() is a constant 0. */
#define CAN_ANNOTATE (VIGIL_VALGRIND_ENABLED || VIGIL_ASAN_ENABLED)
static atomic_int annotate_flag;
static pthread_once_t annotate_once = PTHREAD_ONCE_INIT;
static char pool_anchor;                 /* names the mempool for Valgrind */
#define POOL (&pool_anchor)

/* Memcheck (3.19) skips its leak check when no malloc'd block is live, and
 * so would never report a leaked pool chunk in a program that itself uses
 * no malloc.  One small reachable block keeps the check on. */
static void *volatile leak_check_keepalive;
#if VIGIL_ASAN_ENABLED
static void on_asan_report(const char *report);
#endif

static void decide_annotation(void)
{
    int on = VIGIL_ASAN_ENABLED || vigil__config()->running_on_valgrind;
    if (on) {
        /* No redzone: blocks sit back to back, and memcheck would mark a
         * pool redzone no-access over the neighbouring live blocks. */
        VIGIL_POOL_CREATE(POOL, 0, 0);
        if (!VIGIL_ASAN_ENABLED)
            leak_check_keepalive = vigil__sys_keep(1);
#if VIGIL_ASAN_ENABLED
        VIGIL_ASAN_SET_REPORT_CALLBACK(on_asan_report);
#endif
    }
    atomic_store_explicit(&annotate_flag, on, memory_order_relaxed);
}

static inline int annotating(void)
{
    return CAN_ANNOTATE && atomic_load_explicit(&annotate_flag, memory_order_relaxed);
}

static inline void hdr_open(struct vigil_pool *pool)
{
    if (annotating())
        VIGIL_MEM_DEFINED(pool, VIGIL_POOL_OVERHEAD);
}

static inline void hdr_close(struct vigil_pool *pool)
{
    if (annotating())
        VIGIL_MEM_NOACCESS(pool, VIGIL_POOL_OVERHEAD);
}

static inline struct vigil_block *link_read(struct vigil_block *b)
{
    if (!annotating())
        return b->next;
    VIGIL_MEM_DEFINED(b, sizeof *b);
    struct vigil_block *next = b->next;
    VIGIL_MEM_NOACCESS(b, sizeof *b);
    return next;
}

static inline void link_write(struct vigil_block *b, struct vigil_block *next)
{
    if (!annotating()) {
        b->next = next;
        return;
    }
    VIGIL_MEM_UNDEFINED(b, sizeof *b);
    b->next = next;
    VIGIL_MEM_NOACCESS(b, sizeof *b);
}

/* Requested size of a block; annotating only, lock held. */
static inline uint16_t *requested_slot(const struct vigil_pool *pool, const void *p);

static inline uint32_t arena_index(const struct vigil_arena *a)
{
    return (uint32_t)((const struct arena_slot *)a - slots);
}

/* The intentional read described in arena.h: pool->arenaindex may be
 * uninitialised or another allocator's bytes when p is not ours.  Exempt from
 * ASan, suppressed for memcheck (supp/vigil.supp names this function). */
VIGIL_NO_SANITIZE_ADDRESS VIGIL_NO_SANITIZE_THREAD __attribute__((noinline))
int vigil__arena_owns(const void *p)
{
    uint32_t idx = vigil_pool_of(p)->arenaindex;
    if (idx >= VIGIL_MAX_ARENAS)
        return 0;
    uintptr_t base = atomic_load_explicit(&vigil__arena_base[idx], memory_order_acquire);
    return base != 0 && (uintptr_t)p - base < VIGIL_ARENA_SIZE;
}

static inline uint16_t *requested_slot(const struct vigil_pool *pool, const void *p)
{
    const struct arena_slot *s = &slots[pool->arenaindex];
    return &s->requested[((uintptr_t)p - s->a.first_pool) / VIGIL_ALIGNMENT];
}

/* ---- arena buckets ---- */

static void bucket_insert(struct vigil_arena *a)
{
    uint32_t n = a->nfreepools;
    if (n == 0)
        return;
    a->prev = NULL;
    a->next = buckets[n];
    if (a->next)
        a->next->prev = a;
    buckets[n] = a;
    bucket_bits[n / 64] |= (uint64_t)1 << (n % 64);
}

static void bucket_remove(struct vigil_arena *a)
{
    uint32_t n = a->nfreepools;
    if (n == 0)
        return;
    if (a->prev)
        a->prev->next = a->next;
    else
        buckets[n] = a->next;
    if (a->next)
        a->next->prev = a->prev;
    if (!buckets[n])
        bucket_bits[n / 64] &= ~((uint64_t)1 << (n % 64));
}

static struct vigil_arena *fullest_arena(void)
{
    for (unsigned w = 0; w < BUCKET_WORDS; w++)
        if (bucket_bits[w])
            return buckets[w * 64 + (unsigned)__builtin_ctzll(bucket_bits[w])];
    return NULL;
}

/* ---- arenas ---- */

static struct vigil_arena *new_arena(void)
{
    struct vigil_arena *a;
    if (unused_slots) {
        a = unused_slots;
        unused_slots = a->next;
    } else if (slots_used < VIGIL_MAX_ARENAS) {
        a = &slots[slots_used++].a;
    } else {
        return NULL;
    }

    /* No block exists before the first arena, so this is the moment to
     * decide, once, whether blocks are described to the tools. */
    pthread_once(&annotate_once, decide_annotation);
    struct arena_slot *s = (struct arena_slot *)a;
    if (annotating() && !s->requested)
        s->requested = vigil__os_map(VIGIL_ARENA_SIZE / VIGIL_ALIGNMENT * sizeof(uint16_t));

    vigil_arena_allocator src;
    vigil__arena_source(&src);
    void *mem = (annotating() && !s->requested) ? NULL : src.alloc(src.ctx, VIGIL_ARENA_SIZE);
    if (!mem) {
        a->next = unused_slots;
        unused_slots = a;
        return NULL;
    }
    s->src_ctx = src.ctx;
    s->src_free = src.free;
    if (annotating())
        VIGIL_MEM_NOACCESS(mem, VIGIL_ARENA_SIZE);
    VIGIL_LSAN_REGISTER_ROOT_REGION(mem, VIGIL_ARENA_SIZE);

    uintptr_t base = (uintptr_t)mem;
    a->first_pool = (base + VIGIL_POOL_MASK) & ~VIGIL_POOL_MASK;
    a->pool_address = a->first_pool;
    a->ntotalpools = (uint32_t)((base + VIGIL_ARENA_SIZE - a->first_pool) / VIGIL_POOL_SIZE);
    a->nfreepools = a->ntotalpools;
    a->freepools = NULL;
    atomic_store_explicit(&vigil__arena_base[arena_index(a)], base, memory_order_release);

    arenas_allocated++;
    arenas_current++;
    if (arenas_current > arenas_highwater)
        arenas_highwater = arenas_current;
    empty_arenas++;
    bucket_insert(a);
    return a;
}

static void release_arena(struct vigil_arena *a)
{
    struct arena_slot *s = (struct arena_slot *)a;
    uint32_t idx = arena_index(a);
    void *mem = (void *)atomic_load_explicit(&vigil__arena_base[idx], memory_order_relaxed);
    /* Forget the address before the memory can be reused by anybody else, so
     * the unlocked ownership check never claims foreign memory. */
    atomic_store_explicit(&vigil__arena_base[idx], 0, memory_order_release);
    /* The source, or whoever maps this range next, must find it usable. */
    VIGIL_LSAN_UNREGISTER_ROOT_REGION(mem, VIGIL_ARENA_SIZE);
    if (annotating())
        VIGIL_MEM_UNDEFINED(mem, VIGIL_ARENA_SIZE);
    s->src_free(s->src_ctx, mem, VIGIL_ARENA_SIZE);
    a->next = unused_slots;
    unused_slots = a;
    arenas_reclaimed++;
    arenas_current--;
}

/* ---- pools ---- */

/* p's header is open; its neighbours' are opened for the one store. */
static void list_push(struct vigil_pool **head, struct vigil_pool *p)
{
    p->prev = NULL;
    p->next = *head;
    if (p->next) {
        hdr_open(p->next);
        p->next->prev = p;
        hdr_close(p->next);
    }
    *head = p;
}

static void list_remove(struct vigil_pool **head, struct vigil_pool *p)
{
    if (p->prev) {
        hdr_open(p->prev);
        p->prev->next = p->next;
        hdr_close(p->prev);
    } else {
        *head = p->next;
    }
    if (p->next) {
        hdr_open(p->next);
        p->next->prev = p->prev;
        hdr_close(p->next);
    }
}

/* Returns the pool with its header open. */
static struct vigil_pool *new_pool(unsigned cls, bool *grew)
{
    struct vigil_arena *a = fullest_arena();
    if (!a) {
        a = new_arena();
        if (!a)
            return NULL;
        *grew = true;
    }
    if (a->nfreepools == a->ntotalpools)
        empty_arenas--;
    bucket_remove(a);
    a->nfreepools--;
    bucket_insert(a);

    struct vigil_pool *pool = a->freepools;
    if (pool) {
        hdr_open(pool);
        a->freepools = pool->next;
    } else {
        pool = vigil_pool_of((void *)a->pool_address);
        a->pool_address += VIGIL_POOL_SIZE;
        hdr_open(pool);
        pool->arenaindex = arena_index(a);
    }
    size_t stride = vigil_block_stride(cls);
    pool->cls = cls;
    pool->nused = 0;
    pool->full = 0;
    pool->freeblock = NULL;
    uintptr_t first = vigil_pool_first_block(vigil_pool_base(pool));
    pool->nextoffset = (uint32_t)first;
    pool->maxnextoffset = (uint32_t)(first + VIGIL_POOL_SIZE - VIGIL_POOL_OVERHEAD - stride);
    list_push(&heap.classes[cls].used, pool);
    return pool;
}

/* pool's header is open; this closes it. */
static void pool_to_arena(struct vigil_pool *pool)
{
    struct vigil_arena *a = &slots[pool->arenaindex].a;
    pool->next = a->freepools;
    hdr_close(pool);
    a->freepools = pool;
    bucket_remove(a);
    a->nfreepools++;
    if (a->nfreepools == a->ntotalpools) {
        if (empty_arenas >= 1) {       /* one spare is enough */
            release_arena(a);
            return;
        }
        empty_arenas++;
    }
    bucket_insert(a);
}

/* ---- freed blocks, as the tools see them ---- */

#define FREED_MARK 0xffffu          /* requested size of a freed block */

/* Lock held, annotating: p is poisoned / no-access over its whole class and
 * remembered as freed, for the ASan report callback. */
static void mark_freed(void *p)
{
    struct vigil_pool *pool = vigil_pool_of(p);
    hdr_open(pool);
    VIGIL_MEM_NOACCESS(p, vigil_class_size(pool->cls));
    *requested_slot(pool, p) = FREED_MARK;
    hdr_close(pool);
}

static void small_free(void *p);

#if VIGIL_ASAN_ENABLED
/* The ASan quarantine.  Without it the block just freed is the first one
 * handed out again, so a use after free reads a live block and ASan sees
 * nothing.  Freed blocks wait here, poisoned, until VIGIL_QUARANTINE bytes
 * of younger frees push them out (FIFO).  Lock held throughout. */
static void **q_ring;
static size_t q_cap, q_head, q_count, q_bytes, q_limit;
static bool q_ready;

static size_t block_class_size(void *p)
{
    struct vigil_pool *pool = vigil_pool_of(p);
    hdr_open(pool);
    size_t size = vigil_class_size(pool->cls);
    hdr_close(pool);
    return size;
}

static void quarantine_evict(void)
{
    void *p = q_ring[q_head];
    q_head = (q_head + 1) % q_cap;
    q_count--;
    q_bytes -= block_class_size(p);
    small_free(p);
}

/* Returns true when p now waits in the quarantine. */
static bool quarantine_put(void *p)
{
    if (!q_ready) {
        q_ready = true;
        q_limit = vigil__config()->quarantine;
        q_cap = q_limit / vigil_class_size(0) + 1;
        if (q_limit && !(q_ring = vigil__os_map(q_cap * sizeof *q_ring)))
            q_limit = 0;
    }
    if (!q_limit)
        return false;
    size_t size = block_class_size(p);
    while (q_count && (q_count == q_cap || q_bytes + size > q_limit))
        quarantine_evict();
    q_ring[(q_head + q_count) % q_cap] = p;
    q_count++;
    q_bytes += size;
    return true;
}

/* When ASan reports an address inside a pool, say which block it is. */
VIGIL_NO_SANITIZE_ADDRESS
static void describe_address(uintptr_t addr)
{
    struct vigil_pool *pool = vigil_pool_of((void *)addr);
    char line[256];
    int n;
    uintptr_t base = vigil_pool_base(pool), first = vigil_pool_first_block(base);
    size_t off_in_pool = addr - base;
    size_t header = vigil_pool_header_offset(base);
    unsigned cls = pool->cls;
    size_t stride = vigil_block_stride(cls), csize = vigil_class_size(cls);
    if (off_in_pool - header < VIGIL_POOL_OVERHEAD) {
        n = snprintf(line, sizeof line, "vigil: %#lx is in the header of a vigil pool "
                     "(size class %zu)\n", (unsigned long)addr, csize);
    } else {
        size_t idx = (off_in_pool - first) / stride;
        uintptr_t start = base + first + idx * stride;
        size_t off = addr - start;
        if (idx >= vigil_pool_capacity(cls) || start - base >= pool->nextoffset) {
            n = snprintf(line, sizeof line, "vigil: %#lx is in a part of a vigil pool that "
                         "holds no block (size class %zu)\n", (unsigned long)addr, csize);
        } else {
            /* requested_slot() is instrumented; the header it reads is
             * poisoned, so index the side table here. */
            const struct arena_slot *slot = &slots[pool->arenaindex];
            unsigned req = slot->requested[(start - slot->a.first_pool) / VIGIL_ALIGNMENT];
            if (req == FREED_MARK)
                n = snprintf(line, sizeof line, "vigil: %#lx is %zu bytes inside a freed "
                             "block at %#lx (vigil pool, size class %zu)\n",
                             (unsigned long)addr, off, (unsigned long)start, csize);
            else
                n = snprintf(line, sizeof line, "vigil: %#lx is %zu bytes after the end of "
                             "the live %u-byte block at %#lx (vigil pool, size class %zu%s)\n",
                             (unsigned long)addr, off - req, req, (unsigned long)start, csize,
                             off >= csize ? ", in its redzone" : "");
        }
    }
    if (n > 0)
        (void)!write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

static void on_asan_report(const char *report)
{
    const char *at = strstr(report, " on address 0x");
    if (!at)
        return;
    uintptr_t addr = (uintptr_t)strtoull(at + 12, NULL, 16);
    if (addr && vigil__arena_owns((void *)addr))
        describe_address(addr);
}
#endif

/* ---- blocks ---- */

/* Lock held.  Returns NULL only when no arena can be had. */
static void *small_alloc(size_t size, bool *grew)
{
    unsigned cls = vigil_size_class(size);
    struct vigil_class_lists *cl = &heap.classes[cls];
    struct vigil_pool *pool = cl->used;
    if (pool) {
        hdr_open(pool);
    } else {
        pool = new_pool(cls, grew);
        if (!pool)
            return NULL;
    }
    struct vigil_block *b = pool->freeblock;
    if (b) {
        pool->freeblock = link_read(b);
    } else {
        b = (struct vigil_block *)(vigil_pool_base(pool) + pool->nextoffset);
        pool->nextoffset += (uint32_t)vigil_block_stride(cls);
    }
    pool->nused++;
    heap_blocks++;
    if (!pool->freeblock && pool->nextoffset > pool->maxnextoffset) {
        list_remove(&cl->used, pool);
        list_push(&cl->full, pool);
        pool->full = 1;
    }
    if (annotating())
        *requested_slot(pool, b) = (uint16_t)size;
    hdr_close(pool);
    return b;
}

/* Lock held; p is ours and, when annotating, already through mark_freed(). */
static void small_free(void *p)
{
    struct vigil_pool *pool = vigil_pool_of(p);
    hdr_open(pool);
    struct vigil_class_lists *cl = &heap.classes[pool->cls];
    struct vigil_block *b = p;
    link_write(b, pool->freeblock);     /* p is no-access already: mark_freed */
    pool->freeblock = b;
    pool->nused--;
    heap_blocks--;
    if (pool->full) {
        list_remove(&cl->full, pool);
        pool->full = 0;
        if (pool->nused == 0) {
            pool_to_arena(pool);
            return;
        }
        list_push(&cl->used, pool);
    } else if (pool->nused == 0) {
        list_remove(&cl->used, pool);
        pool_to_arena(pool);
        return;
    }
    hdr_close(pool);
}

/* ---- per-thread caches: the common path takes no lock ----
 * See arena.h for the design.  Only the owning thread touches head[] and
 * writes room[]; other threads read room[] (relaxed) for the statistics.
 * Never used while annotating: then every block goes through the locked path,
 * where the tool annotations, the ASan quarantine and mark_freed() live. */
/* A cache holds at most TCACHE_BYTES of a class (between 8 and 256 blocks):
 * enough that a thread rarely takes the lock, little enough that idle
 * caches of 32 classes do not add up to much resident memory.  An empty
 * cache takes half its capacity from the pools at once; a full one gives
 * half back. */
#ifndef TCACHE_BYTES
#define TCACHE_BYTES 16384
#endif
#define TCACHE_MAX  256

static uint16_t tcache_caps[VIGIL_NB_CLASSES];   /* set before any cache exists */

static inline uint32_t tcache_cap(unsigned cls)
{
    return tcache_caps[cls];
}

__attribute__((tls_model("initial-exec"))) _Thread_local struct vigil_tcache *vigil__tc;
static struct vigil_tcache *tcaches;      /* every thread's cache (lock held) */
static struct vigil_tcache *spare_tcaches;/* left by exited threads (lock held) */
/* A thread past its cache's destructor gets this one: always empty (no
 * head) and always full (no room), so both fast paths fall through to the
 * locked path. */
static struct vigil_tcache tcache_off;
static pthread_key_t tcache_key;
static pthread_once_t tcache_once = PTHREAD_ONCE_INIT;

static inline uint32_t cached(struct vigil_tcache *t, unsigned cls)
{
    return tcache_cap(cls) - atomic_load_explicit(&t->room[cls], memory_order_relaxed);
}

static inline void set_cached(struct vigil_tcache *t, unsigned cls, uint32_t n)
{
    atomic_store_explicit(&t->room[cls], tcache_cap(cls) - n, memory_order_relaxed);
}

/* Lock held: give back all but keep blocks of class cls. */
static void tcache_flush(struct vigil_tcache *t, unsigned cls, uint32_t keep)
{
    uint32_t n = cached(t, cls);
    while (n > keep) {
        struct vigil_block *b = t->head[cls];
        t->head[cls] = b->next;
        small_free(b);
        n--;
    }
    set_cached(t, cls, n);
}

/* Lock held: every block back to the pools, the cache to the spares. */
static void tcache_retire(struct vigil_tcache *t)
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
        tcache_flush(t, c, 0);
    if (t->prev)
        t->prev->next = t->next;
    else
        tcaches = t->next;
    if (t->next)
        t->next->prev = t->prev;
    t->next = spare_tcaches;
    spare_tcaches = t;
}

static void tcache_destructor(void *arg)
{
    heap_lock();
    tcache_retire(arg);
    pthread_mutex_unlock(&lock);
    vigil__tc = &tcache_off;
}

static void tcache_setup(void)
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        size_t n = TCACHE_BYTES / vigil_class_size(c);
        tcache_caps[c] = (uint16_t)(n < 8 ? 8 : n > TCACHE_MAX ? TCACHE_MAX : n);
    }
    if (pthread_key_create(&tcache_key, tcache_destructor) != 0)
        tcache_key = (pthread_key_t)-1;
}

/* The calling thread's cache, made on its first slow path; NULL when blocks
 * must take the locked path (annotating, or no memory for a cache). */
static struct vigil_tcache *tcache_get(void)
{
    if (vigil__tc)
        return vigil__tc;
    pthread_once(&annotate_once, decide_annotation);
    pthread_once(&tcache_once, tcache_setup);
    if (annotating() || tcache_key == (pthread_key_t)-1)
        return NULL;
    heap_lock();
    struct vigil_tcache *t = spare_tcaches;
    if (t)
        spare_tcaches = t->next;
    else if ((t = vigil__os_map(sizeof *t)) != NULL)
        for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
            set_cached(t, c, 0);        /* a spare was emptied when retired */
    if (t) {
        t->prev = NULL;
        t->next = tcaches;
        if (tcaches)
            tcaches->prev = t;
        tcaches = t;
    }
    pthread_mutex_unlock(&lock);
    /* pthread_setspecific allocates for a key past the first 32, and under
     * the preload library that allocation comes back here: it must take
     * the locked path, not make a second cache. */
    vigil__tc = &tcache_off;
    if (t && pthread_setspecific(tcache_key, t) != 0) {
        heap_lock();
        tcache_retire(t);
        pthread_mutex_unlock(&lock);
        t = NULL;
    }
    vigil__tc = t;
    return t;
}

/* Lock held: one block for the caller, and enough more of the same class to
 * fill the (empty) cache halfway. */
static void *tcache_refill(struct vigil_tcache *t, size_t size, bool *grew)
{
    unsigned cls = vigil_size_class(size);
    void *p = small_alloc(size, grew);
    uint32_t n = cached(t, cls);
    uint32_t fill = tcache_cap(cls) / 2;
    for (uint32_t i = 1; p && i < fill; i++, n++) {
        struct vigil_block *b = small_alloc(size, grew);
        if (!b)
            break;
        b->next = t->head[cls];
        t->head[cls] = b;
    }
    set_cached(t, cls, n);
    return p;
}

/* Blocks sitting in caches, per class, all threads (lock held). */
static void tcache_counts(size_t out[VIGIL_NB_CLASSES])
{
    memset(out, 0, VIGIL_NB_CLASSES * sizeof out[0]);
    for (struct vigil_tcache *t = tcaches; t; t = t->next)
        for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
            out[c] += cached(t, c);
}

void vigil__thread_cache_flush(void)
{
    struct vigil_tcache *t = vigil__tc;
    if (!t || t == &tcache_off)
        return;
    heap_lock();
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
        tcache_flush(t, c, 0);
    pthread_mutex_unlock(&lock);
}

void vigil__thread_cache_disable(void)
{
    vigil__thread_cache_flush();
    /* Annotating, no thread has a cache, and none may look like it has:
     * the fast paths would read the pool header, which is poisoned. */
    pthread_once(&annotate_once, decide_annotation);
    if (!annotating())
        vigil__tc = &tcache_off;
}

static void report_new_arena(void)
{
    if (vigil__config()->mallocstats)
        vigil_print_stats(stderr);
}

/* Everything but a hit in the thread's cache: kept out of line so the fast
 * path below needs no stack frame. */
__attribute__((noinline))
static void *arena_malloc_slow(size_t size)
{
    if (size <= VIGIL_SMALL_MAX) {
        struct vigil_tcache *t = tcache_get();
        bool grew = false;
        void *p;
        heap_lock();
        if (t && t != &tcache_off)
            p = tcache_refill(t, size, &grew);
        else
            p = small_alloc(size, &grew);
        pthread_mutex_unlock(&lock);
        if (grew)
            report_new_arena();
        if (p) {
            if (annotating())
                VIGIL_POOL_ALLOC(POOL, p, size);
            return p;
        }
        /* No arena to be had: the raw domain may still serve it. */
    }
    const vigil_allocator *raw = vigil__domain(VIGIL_DOMAIN_RAW);
    return raw->malloc(raw->ctx, size);
}

void *vigil__arena_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = vigil__tcache_pop(size);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return arena_malloc_slow(size);
}

static void *arena_calloc(void *ctx, size_t nelem, size_t elsize)
{
    size_t size;
    if (__builtin_mul_overflow(nelem, elsize, &size)) {
        errno = ENOMEM;
        return NULL;
    }
    if (size > VIGIL_SMALL_MAX) {
        const vigil_allocator *raw = vigil__domain(VIGIL_DOMAIN_RAW);
        return raw->calloc(raw->ctx, nelem, elsize);
    }
    void *p = vigil__arena_malloc(ctx, size);
    if (p)
        memset(p, 0, size);
    return p;
}

__attribute__((noinline))
static void arena_free_slow(void *p)
{
    if (!p)
        return;
    if (vigil__arena_owns(p)) {
        struct vigil_tcache *t = vigil__tc;
        if (t && t != &tcache_off) {
            /* The cache is full for this class: half of it goes back, and
             * p takes the room that makes. */
            unsigned cls = vigil_pool_of(p)->cls;
            heap_lock();
            tcache_flush(t, cls, tcache_cap(cls) / 2);
            pthread_mutex_unlock(&lock);
            if (vigil__tcache_push(p))
                return;
        }
        if (annotating())
            VIGIL_POOL_FREE(POOL, p);
        heap_lock();
        if (annotating())
            mark_freed(p);
#if VIGIL_ASAN_ENABLED
        if (!quarantine_put(p))
#endif
            small_free(p);
        pthread_mutex_unlock(&lock);
        return;
    }
    const vigil_allocator *raw = vigil__domain(VIGIL_DOMAIN_RAW);
    raw->free(raw->ctx, p);
}

void vigil__arena_free(void *ctx, void *p)
{
    (void)ctx;
    if (__builtin_expect(vigil__tcache_push(p), 1))
        return;
    arena_free_slow(p);
}

static void *arena_realloc(void *ctx, void *p, size_t size)
{
    if (!p)
        return vigil__arena_malloc(ctx, size);
    if (!vigil__arena_owns(p)) {
        const vigil_allocator *raw = vigil__domain(VIGIL_DOMAIN_RAW);
        return raw->realloc(raw->ctx, p, size);
    }
    struct vigil_pool *pool = vigil_pool_of(p);
    unsigned cls;
    size_t cur, old;
    if (annotating()) {
        heap_lock();
        hdr_open(pool);
        cls = pool->cls;
        old = *requested_slot(pool, p);
        hdr_close(pool);
        pthread_mutex_unlock(&lock);
        cur = vigil_class_size(cls);
    } else {
        /* The class cannot change while p is live: no lock needed. */
        cls = pool->cls;
        old = cur = vigil_class_size(cls);
    }
    /* Stay in place when the block still fits and no more than a quarter of
     * it would be wasted; otherwise move, so a shrunk block frees its room. */
    if (size <= cur && (vigil_size_class(size) == cls || 4 * size >= 3 * cur)) {
        if (annotating()) {
            heap_lock();
            hdr_open(pool);
            *requested_slot(pool, p) = (uint16_t)size;
            hdr_close(pool);
            pthread_mutex_unlock(&lock);
            VIGIL_POOL_RESIZE(POOL, p, old, size);
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
    NULL, vigil__arena_malloc, arena_calloc, arena_realloc, vigil__arena_free,
};

/* ---- statistics ---- */

void vigil__arena_stats(struct vigil_arena_stats *st)
{
    memset(st, 0, sizeof *st);
    heap_lock();
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        size_t capacity = vigil_pool_capacity(c);
        struct vigil_pool *lists[2] = { heap.classes[c].used, heap.classes[c].full };
        for (int l = 0; l < 2; l++)
            for (struct vigil_pool *p = lists[l], *next; p; p = next) {
                hdr_open(p);
                st->class_pools[c]++;
                st->class_blocks[c] += p->nused;
                st->class_avail[c] += capacity - p->nused;
                next = p->next;
                hdr_close(p);
            }
        st->blocks += st->class_blocks[c];
    }
    for (uint32_t i = 0; i < slots_used; i++) {
        uintptr_t base = atomic_load_explicit(&vigil__arena_base[i], memory_order_relaxed);
        if (!base)
            continue;
        st->free_pools += slots[i].a.nfreepools;
        st->alignment_bytes += VIGIL_ARENA_SIZE - (size_t)slots[i].a.ntotalpools * VIGIL_POOL_SIZE;
    }
    /* Blocks in thread caches are handed out as far as their pools know,
     * and free as far as the program knows: count them available. */
    size_t incache[VIGIL_NB_CLASSES];
    tcache_counts(incache);
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        st->class_blocks[c] -= incache[c];
        st->class_avail[c] += incache[c];
        st->blocks -= incache[c];
        st->cached += incache[c];
    }
    st->arenas_allocated = arenas_allocated;
    st->arenas_reclaimed = arenas_reclaimed;
    st->arenas_highwater = arenas_highwater;
    st->arenas_current = arenas_current;
#if VIGIL_ASAN_ENABLED
    st->quarantined = q_count;
#endif
    pthread_mutex_unlock(&lock);
}

void vigil__pool_info(const void *p, struct vigil_pool *out)
{
    struct vigil_pool *pool = vigil_pool_of(p);
    heap_lock();
    hdr_open(pool);
    *out = *pool;
    hdr_close(pool);
    pthread_mutex_unlock(&lock);
}

size_t vigil__arena_blocks(void)
{
    heap_lock();
    size_t n = heap_blocks, incache[VIGIL_NB_CLASSES];
    tcache_counts(incache);
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
        n -= incache[c];              /* free, as far as the program knows */
#if VIGIL_ASAN_ENABLED
    n -= q_count;                      /* freed, as far as the program knows */
#endif
    pthread_mutex_unlock(&lock);
    return n;
}

void vigil__arena_settle(void)
{
    vigil__thread_cache_flush();
#if VIGIL_ASAN_ENABLED
    heap_lock();
    while (q_count)
        quarantine_evict();
    pthread_mutex_unlock(&lock);
#endif
}

/* ---- fork: the child inherits a consistent heap ---- */

static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
/* In a forked child, a thread that did not survive may have been stopped
 * anywhere in its lock-free push or pop: its count may be off by one, but
 * its list is whole, because a push links the block before it publishes it
 * (the signal fences keep the compiler to that order, and x86 stores become
 * visible in order).  So walk each list to its end, not by its count. */
static void fork_drop(struct vigil_tcache *t)
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        for (struct vigil_block *b = t->head[c], *next; b; b = next) {
            next = b->next;
            small_free(b);
        }
        t->head[c] = NULL;
        set_cached(t, c, 0);
    }
    tcache_retire(t);
}

/* Only the forking thread lives on in the child: the other threads' caches
 * go back to the pools, so none of their blocks is lost. */
static void atfork_child(void)
{
    /* The forking thread took the lock in prepare and is the one thread
     * here, so it may finish under it and unlock (re-initialising instead
     * would leave ThreadSanitizer believing the lock is still held). */
    for (struct vigil_tcache *t = tcaches, *next; t; t = next) {
        next = t->next;
        if (t != vigil__tc)
            fork_drop(t);
    }
    pthread_mutex_unlock(&lock);
}
