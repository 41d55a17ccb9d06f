/*
 * heap.c - arenas and pools under the heap lock (see heap.h; the layout and
 * why it is so are in arena.h).
 *
 * Locking: one mutex guards the pool lists, the pools and the arena buckets.
 * The ownership check reads only the pool header's arena index (constant
 * while the pool's arena lives) and the arena table (atomics), so it needs no
 * lock.  Under the tools, pool headers are no-access except while this file
 * reads or writes them (vigil__hdr_open / vigil__hdr_close, arena_tools.h).
 */
#include "config.h"

#include <stdatomic.h>
#include <string.h>

#include "arena_map.h"
#include "arena_tools.h"
#include "check.h"
#include "heap.h"
#include "lock.h"
#include "os.h"
#include "report.h"

_Static_assert(VIGIL_STATS_CLASSES == VIGIL_NB_CLASSES, "stats.h has one row per class");

/* Offsets from the arena's address, not addresses: a pool whose header is
 * at its end starts with a block (arena_map.h says why that matters). */
struct vigil_arena {
    uint32_t first_pool;           /* the address rounded up to a pool */
    uint32_t next_pool;            /* the next never-used pool */
    struct vigil_pool *freepools;  /* pools emptied and given back */
    uint32_t nfreepools;           /* free pools, given back or never used */
    uint32_t ntotalpools;
    struct vigil_arena *next;      /* bucket list, or the unused-slot list */
    struct vigil_arena *prev;
    /* Returned to the source that gave it, whatever the source is by then. */
    void *src_ctx;
    void (*src_free)(void *ctx, void *ptr, size_t size);
};

static struct vigil_arena slots[VIGIL_MAX_ARENAS];
static uint32_t slots_used;            /* slots ever used */
static struct vigil_arena *unused_slots;

/* Arenas with at least one free pool, by their count of free pools. */
#define NB_BUCKETS (VIGIL_POOLS_PER_ARENA + 1)
#define BUCKET_WORDS ((NB_BUCKETS + 63) / 64)
static struct vigil_arena *buckets[NB_BUCKETS];
static uint64_t bucket_bits[BUCKET_WORDS];

/* Per size class: pools with free blocks, pools with none. */
static struct {
    struct vigil_pool *used;
    struct vigil_pool *full;
} classes[VIGIL_NB_CLASSES];

static size_t heap_blocks;
static size_t empty_arenas;
static size_t arenas_allocated, arenas_reclaimed, arenas_current, arenas_highwater;

static void (*fork_child_work)(void);
static void on_fork_child(void)
{
    if (fork_child_work)
        fork_child_work();
}
VIGIL_LOCK_DEFINE(heap_lock, on_fork_child);

void vigil__heap_lock(void)
{
    vigil__lock(&heap_lock);
}

void vigil__heap_unlock(void)
{
    vigil__unlock(&heap_lock);
}

void vigil__heap_on_fork_child(void (*fn)(void))
{
    fork_child_work = fn;
}

static inline uint32_t arena_index(const struct vigil_arena *a)
{
    return (uint32_t)(a - slots);
}

static inline uintptr_t arena_address(uint32_t idx)
{
    return vigil__arena_address(idx, memory_order_relaxed);
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
        a = &slots[slots_used++];
    } else {
        return NULL;
    }

    /* No block exists before the first arena, so this is the moment to
     * decide, once, whether blocks are described to the tools. */
    vigil__tools_decide();
    vigil_arena_allocator src;
    vigil__arena_source(&src);
    void *mem = src.alloc(src.ctx, VIGIL_ARENA_SIZE);
    if (mem && !vigil__tools_arena_new(arena_index(a), mem, VIGIL_ARENA_SIZE)) {
        src.free(src.ctx, mem, VIGIL_ARENA_SIZE);
        mem = NULL;
    }
    if (!mem) {
        a->next = unused_slots;
        unused_slots = a;
        return NULL;
    }
    a->src_ctx = src.ctx;
    a->src_free = src.free;

    uintptr_t base = (uintptr_t)mem;
    a->first_pool = (uint32_t)(((base + VIGIL_POOL_MASK) & ~VIGIL_POOL_MASK) - base);
    a->next_pool = a->first_pool;
    a->ntotalpools = (uint32_t)((VIGIL_ARENA_SIZE - a->first_pool) / VIGIL_POOL_SIZE);
    a->nfreepools = a->ntotalpools;
    a->freepools = NULL;
    vigil__arena_map_set(arena_index(a), base);

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
    uint32_t idx = arena_index(a);
    void *mem = (void *)arena_address(idx);
    /* Forget the address before the memory can be reused by anybody else, so
     * the unlocked ownership check never claims foreign memory. */
    vigil__arena_map_set(idx, 0);
    vigil__tools_arena_gone(mem, VIGIL_ARENA_SIZE);
    a->src_free(a->src_ctx, mem, VIGIL_ARENA_SIZE);
    a->next = unused_slots;
    unused_slots = a;
    arenas_reclaimed++;
    arenas_current--;
}

/* ---- pools ---- */

/* p's header is open; its neighbours' are opened for the one store. */
void vigil__pool_list_push(struct vigil_pool **head, struct vigil_pool *p)
{
    p->prev = NULL;
    p->next = *head;
    if (p->next) {
        vigil__hdr_open(p->next);
        p->next->prev = p;
        vigil__hdr_close(p->next);
    }
    *head = p;
}

void vigil__pool_list_remove(struct vigil_pool **head, struct vigil_pool *p)
{
    if (p->prev) {
        vigil__hdr_open(p->prev);
        p->prev->next = p->next;
        vigil__hdr_close(p->prev);
    } else {
        *head = p->next;
    }
    if (p->next) {
        vigil__hdr_open(p->next);
        p->next->prev = p->prev;
        vigil__hdr_close(p->next);
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
        vigil__hdr_open(pool);
        a->freepools = pool->next;
    } else {
        pool = vigil__pool_of((void *)(arena_address(arena_index(a)) + a->next_pool));
        a->next_pool += VIGIL_POOL_SIZE;
        vigil__hdr_open(pool);
        pool->arenaindex = arena_index(a);
    }
    VIGIL_ASSERT(pool->arenaindex == arena_index(a));
    vigil__pool_init(pool, cls);
    __atomic_store_n(&pool->owner, NULL, __ATOMIC_RELAXED);
    return pool;
}

/* pool's header is open; this closes it. */
static void pool_to_arena(struct vigil_pool *pool)
{
    struct vigil_arena *a = &slots[pool->arenaindex];
    pool->next = a->freepools;
    vigil__hdr_close(pool);
    a->freepools = pool;
    bucket_remove(a);
    a->nfreepools++;
    VIGIL_ASSERT(a->nfreepools <= a->ntotalpools);
    if (a->nfreepools == a->ntotalpools) {
        if (empty_arenas >= 1) {       /* one spare is enough */
            release_arena(a);
            return;
        }
        empty_arenas++;
    }
    bucket_insert(a);
}

/* ---- blocks ---- */

void *vigil__heap_alloc_locked(size_t size, bool *grew)
{
    unsigned cls = vigil__size_class(size);
    VIGIL_ASSERT(size <= VIGIL_SMALL_MAX);
    struct vigil_pool *pool = classes[cls].used;
    if (pool) {
        vigil__hdr_open(pool);
    } else {
        pool = new_pool(cls, grew);
        if (!pool)
            return NULL;
        vigil__pool_list_push(&classes[cls].used, pool);
    }
    VIGIL_ASSERT(pool->cls == cls && !pool->full);
    struct vigil_block *b = vigil__pool_take_block(pool);
    heap_blocks++;
    /* A reused block still holds its free-list link: a pointer to another
     * block, which memcheck's leak check would follow out of this one. */
    if (vigil__annotating())
        vigil__link_write(b, NULL);
    if (vigil__pool_is_full(pool)) {
        vigil__pool_list_remove(&classes[cls].used, pool);
        vigil__pool_list_push(&classes[cls].full, pool);
        pool->full = 1;
    }
    if (vigil__annotating())
        *vigil__requested_slot(pool->arenaindex, b) = (uint16_t)size;
    vigil__hdr_close(pool);
    return b;
}

/* ---- pools changing hands (theap.h) ---- */

struct vigil_pool *vigil__heap_pool_take_locked(unsigned cls, struct vigil_theap *owner,
                                                bool *grew)
{
    /* A shared pool with free blocks first, as a shared allocation would:
     * it fills what is half used before a new pool is carved. */
    struct vigil_pool *pool = classes[cls].used;
    if (pool) {
        vigil__hdr_open(pool);
        vigil__pool_list_remove(&classes[cls].used, pool);
        heap_blocks -= pool->nused;
    } else if ((pool = new_pool(cls, grew)) == NULL) {
        return NULL;
    }
    VIGIL_ASSERT(pool->cls == cls && !pool->full && !vigil__pool_is_full(pool));
    /* Relaxed, as every access to owner: what a reader does with it needs
     * no other memory of the owner's (theap.h), and ThreadSanitizer keeps
     * no clock for each of a million pool headers. */
    __atomic_store_n(&pool->owner, owner, __ATOMIC_RELAXED);
    vigil__hdr_close(pool);
    return pool;
}

void vigil__heap_pool_give_locked(struct vigil_pool *pool)
{
    vigil__hdr_open(pool);
    __atomic_store_n(&pool->owner, NULL, __ATOMIC_RELAXED);
    if (pool->nused == 0) {
        pool->full = 0;
        pool_to_arena(pool);
        return;
    }
    heap_blocks += pool->nused;
    pool->full = vigil__pool_is_full(pool);
    vigil__pool_list_push(pool->full ? &classes[pool->cls].full : &classes[pool->cls].used, pool);
    vigil__hdr_close(pool);
}

/* Under the tools, p is no-access already (vigil__tools_mark_freed). */
void vigil__heap_free_locked(void *p)
{
    struct vigil_pool *pool = vigil__pool_of(p);
    vigil__hdr_open(pool);
    VIGIL_ASSERT(pool->nused > 0 && pool->cls < VIGIL_NB_CLASSES);
    VIGIL_ASSERT(__atomic_load_n(&pool->owner, __ATOMIC_RELAXED) == NULL);
    vigil__pool_put_block(pool, p);
    heap_blocks--;
    if (pool->full) {
        vigil__pool_list_remove(&classes[pool->cls].full, pool);
        pool->full = 0;
        if (pool->nused == 0) {
            pool_to_arena(pool);
            return;
        }
        vigil__pool_list_push(&classes[pool->cls].used, pool);
    } else if (pool->nused == 0) {
        vigil__pool_list_remove(&classes[pool->cls].used, pool);
        pool_to_arena(pool);
        return;
    }
    vigil__hdr_close(pool);
}

/* Header open: the verdict on freeing p. */
static enum vigil_free_verdict verdict_open(const struct vigil_pool *pool, const void *p,
                                            struct vigil_block_info *info)
{
    memset(info, 0, sizeof *info);
    uint32_t cls = pool->cls, next = pool->nextoffset, idx = pool->arenaindex;
    enum vigil_free_verdict v = VIGIL_FREE_INTERIOR;
    uintptr_t base = vigil__pool_base(p), first = vigil__pool_first_block(base);
    uintptr_t off = (uintptr_t)p - base;
    if (cls < VIGIL_NB_CLASSES) {
        size_t stride = vigil__block_stride(cls), csize = vigil__class_size(cls);
        info->class_size = csize;
        uintptr_t start = base + first + (off - first) / stride * stride;
        /* In a carved block, not in the gap after it or in the header. */
        if (off >= first && off < next && (uintptr_t)p - start < csize) {
            uint16_t req = *vigil__requested_slot(idx, (void *)start);
            info->start = start;
            info->freed = req == VIGIL_FREED_MARK;
            info->requested = req;
            v = start != (uintptr_t)p ? VIGIL_FREE_INTERIOR
                : info->freed         ? VIGIL_FREE_DOUBLE
                                      : VIGIL_FREE_OK;
        }
    }
    return v;
}

enum vigil_free_verdict vigil__heap_release_checked_locked(void *p, struct vigil_block_info *info,
                                                           uint32_t freed_at)
{
    struct vigil_pool *pool = vigil__pool_of(p);
    vigil__hdr_open(pool);
    enum vigil_free_verdict v = verdict_open(pool, p, info);
    if (v != VIGIL_FREE_OK) {
        vigil__hdr_close(pool);
        return v;
    }
    size_t size = vigil__class_size(pool->cls);
    vigil__tools_mark_freed(pool, p, freed_at);
    vigil__hdr_close(pool);
    if (!vigil__toolq_put(p, size)) {
        vigil__heap_free_locked(p);
        return v;
    }
    for (void *old; (old = vigil__toolq_evict()) != NULL;)
        vigil__heap_free_locked(old);
    return v;
}

enum vigil_free_verdict vigil__heap_free_verdict(const void *p, struct vigil_block_info *info)
{
    struct vigil_pool *pool = vigil__pool_of(p);
    vigil__heap_lock();
    vigil__hdr_open(pool);
    enum vigil_free_verdict v = verdict_open(pool, p, info);
    vigil__hdr_close(pool);
    vigil__heap_unlock();
    return v;
}

void vigil__heap_set_requested(const void *p, size_t n)
{
    struct vigil_pool *pool = vigil__pool_of(p);
    vigil__heap_lock();
    vigil__hdr_open(pool);
    *vigil__requested_slot(pool->arenaindex, p) = (uint16_t)n;
    vigil__hdr_close(pool);
    vigil__heap_unlock();
}

/* ---- what the layers above may ask ---- */

int vigil__heap_block_size(const void *p, size_t *usable)
{
    if (!vigil__arena_owns(p))
        return 0;
    struct vigil_pool *pool = vigil__pool_of(p);
    /* Under the tools the header may be opened only under the lock; without
     * them it is read as the ownership check reads it, and a pool being
     * re-carved meanwhile can only make the answer "no". */
    int locked = vigil__annotating();
    if (locked) {
        vigil__heap_lock();
        vigil__hdr_open(pool);
    }
    uint32_t cls = pool->cls, next = pool->nextoffset;
    if (locked) {
        vigil__hdr_close(pool);
        vigil__heap_unlock();
    }
    if (cls >= VIGIL_NB_CLASSES)
        return 0;
    uintptr_t base = vigil__pool_base(p), first = vigil__pool_first_block(base);
    uintptr_t off = (uintptr_t)p - base;
    if (off < first || off >= next || (off - first) % vigil__block_stride(cls))
        return 0;
    *usable = vigil__class_size(cls);
    return 1;
}

void vigil__heap_prefetch(const void *p)
{
    __builtin_prefetch(vigil__pool_of(p));
}

void vigil__pool_info(const void *p, struct vigil_pool *out)
{
    struct vigil_pool *pool = vigil__pool_of(p);
    vigil__heap_lock();
    vigil__hdr_open(pool);
    *out = *pool;
    vigil__hdr_close(pool);
    vigil__heap_unlock();
}

size_t vigil__heap_blocks_locked(void)
{
    return heap_blocks - vigil__toolq_count();
}

void vigil__heap_stats_locked(struct vigil_arena_stats *st, const size_t owned_pools[],
                              const size_t owned_blocks[])
{
    memset(st, 0, sizeof *st);
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        size_t capacity = vigil__pool_capacity(c), stride = vigil__block_stride(c);
        st->class_size[c] = vigil__class_size(c);
        st->class_pools[c] = owned_pools[c];
        st->class_blocks[c] = owned_blocks[c];
        st->class_avail[c] = owned_pools[c] * capacity - owned_blocks[c];
        struct vigil_pool *lists[2] = { classes[c].used, classes[c].full };
        for (int l = 0; l < 2; l++)
            for (struct vigil_pool *p = lists[l], *next; p; p = next) {
                vigil__hdr_open(p);
                st->class_pools[c]++;
                st->class_blocks[c] += p->nused;
                st->class_avail[c] += capacity - p->nused;
                next = p->next;
                vigil__hdr_close(p);
            }
        st->blocks += st->class_blocks[c];
        st->header_bytes += st->class_pools[c] * VIGIL_POOL_OVERHEAD;
        st->quantization_bytes +=
            st->class_pools[c] * ((VIGIL_POOL_SIZE - VIGIL_POOL_OVERHEAD) % stride);
        st->redzone_bytes += st->class_pools[c] * capacity * vigil__block_gap;
    }
    for (uint32_t i = 0; i < slots_used; i++) {
        if (!arena_address(i))
            continue;
        st->free_pools += slots[i].nfreepools;
        st->alignment_bytes += VIGIL_ARENA_SIZE - (size_t)slots[i].ntotalpools * VIGIL_POOL_SIZE;
    }
    st->arena_size = VIGIL_ARENA_SIZE;
    st->pool_size = VIGIL_POOL_SIZE;
    st->has_redzones = vigil__block_gap != 0;
    st->arenas_allocated = arenas_allocated;
    st->arenas_reclaimed = arenas_reclaimed;
    st->arenas_highwater = arenas_highwater;
    st->arenas_current = arenas_current;
    st->quarantined = vigil__toolq_count();
}

void vigil__heap_drain_quarantine(void)
{
    vigil__heap_lock();
    for (void *p; (p = vigil__toolq_take()) != NULL;)
        vigil__heap_free_locked(p);
    vigil__heap_unlock();
}

/* ---- the consistency walk ---- */

size_t vigil__heap_check_fail(const char *what, uintptr_t where, size_t value)
{
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: heap check: ");
    vigil__report_str(&r, what);
    vigil__report_str(&r, " (at ");
    vigil__report_hex(&r, where);
    vigil__report_str(&r, ", value ");
    vigil__report_dec(&r, value);
    vigil__report_str(&r, ")\n");
    vigil__report_flush(&r);
    return 1;
}

#define CHECK VIGIL_HEAP_CHECK

size_t vigil__heap_check_pool(struct vigil_pool *pool, unsigned cls, int full)
{
    size_t bad = 0;
    uintptr_t base = vigil__pool_base(pool), first = vigil__pool_first_block(base);
    size_t stride = vigil__block_stride(cls), cap = vigil__pool_capacity(cls);
    bad += CHECK(vigil__arena_owns(pool), "pool outside every arena", pool, 0);
    bad += CHECK(pool->cls == cls, "pool on another class's list", pool, pool->cls);
    bad += CHECK(pool->full == (uint32_t)full, "pool's full flag disagrees with its list",
                 pool, pool->full);
    bad += CHECK(pool->nextoffset >= first && (pool->nextoffset - first) % stride == 0 &&
                 (pool->nextoffset - first) / stride <= cap,
                 "pool's carving offset is not at a block boundary", pool, pool->nextoffset);
    if (bad)
        return bad;
    size_t carved = (pool->nextoffset - first) / stride, nfree = 0;
    for (struct vigil_block *b = pool->freeblock; b && nfree <= carved;
         b = vigil__link_read(b), nfree++) {
        uintptr_t off = (uintptr_t)b - base;
        if (CHECK(vigil__pool_base(b) == base && off >= first && off < pool->nextoffset &&
                  (off - first) % stride == 0, "free-list link out of its pool", b, off))
            return bad + 1;
    }
    bad += CHECK(nfree <= carved, "free list longer than the pool (a cycle?)", pool, nfree);
    bad += CHECK(pool->nused + nfree == carved, "pool's use count disagrees with its free list",
                 pool, pool->nused);
    if (full)
        bad += CHECK(!pool->freeblock && pool->nextoffset > pool->maxnextoffset,
                     "pool on the full list has room", pool, nfree);
    else
        bad += CHECK(pool->nused > 0 && !vigil__pool_is_full(pool),
                     "pool on the used list is empty or full", pool, pool->nused);
    return bad;
}

size_t vigil__heap_check(size_t owned_pools, int orphans)
{
    size_t bad = 0, blocks = 0, listed_pools = 0, limit = (size_t)slots_used * VIGIL_POOLS_PER_ARENA;
    vigil__heap_lock();
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        for (int full = 0; full < 2; full++) {
            struct vigil_pool *prev = NULL, *pool = full ? classes[c].full : classes[c].used;
            for (size_t n = 0; pool; n++) {
                if (CHECK(n <= limit, "class list longer than every pool (a cycle?)", prev, c)) {
                    bad++;
                    break;
                }
                vigil__hdr_open(pool);
                bad += CHECK(pool->prev == prev, "pool's back link is wrong", pool, 0);
                bad += CHECK(__atomic_load_n(&pool->owner, __ATOMIC_RELAXED) == NULL,
                             "shared pool with an owner", pool, c);
                bad += vigil__heap_check_pool(pool, c, full);
                blocks += pool->nused;
                listed_pools++;
                struct vigil_pool *next = pool->next;
                vigil__hdr_close(pool);
                prev = pool;
                pool = next;
            }
        }
    }
    bad += CHECK(blocks == heap_blocks, "blocks in the pools disagree with the count",
                 &heap_blocks, blocks);

    size_t live = 0, empty = 0, in_use_pools = 0, with_free = 0;
    for (uint32_t i = 0; i < slots_used; i++) {
        uintptr_t base = arena_address(i);
        if (!base)
            continue;
        struct vigil_arena *a = &slots[i];
        live++;
        empty += a->nfreepools == a->ntotalpools;
        with_free += a->nfreepools > 0;
        in_use_pools += a->ntotalpools - a->nfreepools;
        size_t given_back = 0;
        for (struct vigil_pool *p = a->freepools, *next; p && given_back <= a->ntotalpools;
             p = next, given_back++) {
            vigil__hdr_open(p);
            bad += CHECK(p->arenaindex == i && (uintptr_t)p - base < VIGIL_ARENA_SIZE,
                         "free pool of another arena", p, p->arenaindex);
            next = p->next;
            vigil__hdr_close(p);
        }
        size_t never_used = (a->first_pool + (size_t)a->ntotalpools * VIGIL_POOL_SIZE -
                             a->next_pool) / VIGIL_POOL_SIZE;
        bad += CHECK(given_back + never_used == a->nfreepools,
                     "arena's free pool count disagrees with its pools", base, a->nfreepools);
    }
    bad += CHECK(live == arenas_current, "live arenas disagree with the count", 0, live);
    bad += CHECK(empty == empty_arenas, "empty arenas disagree with the count", 0, empty);
    bad += CHECK(in_use_pools == listed_pools + owned_pools ||
                     (orphans && in_use_pools > listed_pools + owned_pools),
                 "pools in use disagree with the class lists", 0, in_use_pools);
    size_t bucketed = 0;
    for (unsigned n = 0; n < NB_BUCKETS; n++) {
        int bit = (bucket_bits[n / 64] >> (n % 64)) & 1;
        bad += CHECK(bit == (buckets[n] != NULL), "bucket bit disagrees with its list", 0, n);
        for (struct vigil_arena *a = buckets[n]; a && bucketed <= live; a = a->next, bucketed++)
            bad += CHECK(a->nfreepools == n && arena_address(arena_index(a)),
                         "arena in the wrong bucket", arena_address(arena_index(a)), n);
    }
    bad += CHECK(bucketed == with_free, "arenas with free pools missing from the buckets",
                 0, bucketed);
    vigil__heap_unlock();
    return bad;
}
