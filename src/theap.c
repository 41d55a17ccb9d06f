/*
 * theap.c - thread heaps: owned pools, their owner's lock-free use of
 * them, and the message queues of blocks freed by other threads (see
 * theap.h; the shared state they come from and go back to is heap.c's).
 *
 * Never used while annotating (no thread has a cache then), so no header
 * is opened or closed here, and block links are plain words.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "heap.h"
#include "theap.h"

/* Queued counts of pushes made for no heap (a thread without a cache
 * freeing a block of an owned pool): atomic adds, as such threads may
 * push at once. */
static _Atomic size_t shared_queued[VIGIL_NB_CLASSES];

static inline void count(_Atomic size_t *c, size_t delta)
{
    /* Written by one thread only: no read-modify-write needed. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + delta,
                          memory_order_relaxed);
}

static inline struct vigil_theap *owner_of(const struct vigil_pool *pool)
{
    return __atomic_load_n(&pool->owner, __ATOMIC_RELAXED);
}

/* ---- the queues ---- */

/* A queue is a list of runs: blocks of one pool, linked through their
 * first words, the last one's link the next run's first block.  A run's
 * first block says in its second word (every block has one: the smallest
 * class is 16 bytes) where the run ends and how long it is, so the owner
 * gives a run back to its pool in one splice, without walking it: a walk
 * of the blocks another thread freed is a cache miss a block, one after
 * another (mimalloc-bench's xmalloc-test, whose consumers free each
 * producer's blocks in runs, spent a quarter of its time there).  Walked
 * block by block, a queue is still a plain list (the checks, the lock
 * holder's drain). */
static inline void run_mark(struct vigil_block *head, struct vigil_block *tail, uint32_t len)
{
    ((uintptr_t *)head)[1] = ((uintptr_t)tail & VIGIL_POOL_MASK) | (uintptr_t)len << 12;
}

static inline struct vigil_block *run_tail(const struct vigil_block *head, uint32_t *len)
{
    uintptr_t meta = ((const uintptr_t *)head)[1];
    *len = (uint32_t)(meta >> 12);
    return (struct vigil_block *)(vigil__pool_base(head) + (meta & VIGIL_POOL_MASK));
}

/* head..tail (linked), blocks of to's pools, onto to's queue. */
static void queue_push(struct vigil_theap *to, struct vigil_block *head, struct vigil_block *tail)
{
    struct vigil_block *old = atomic_load_explicit(&to->queue, memory_order_relaxed);
    do
        tail->next = old;
    while (!atomic_compare_exchange_weak_explicit(&to->queue, &old, head, memory_order_release,
                                                  memory_order_relaxed));
}

static struct vigil_block *queue_take(struct vigil_theap *h)
{
    if (!atomic_load_explicit(&h->queue, memory_order_relaxed))
        return NULL;
    return atomic_exchange_explicit(&h->queue, NULL, memory_order_acquire);
}

/* ---- the owner's lists ---- */

/* A pool of h's, full or with room, on the list that says so. */
static void to_full(struct vigil_theap_class *k, struct vigil_pool *pool)
{
    vigil__pool_list_remove(&k->avail, pool);
    pool->full = 1;
    vigil__pool_list_push(&k->full, pool);
}

/* head..tail (count blocks of pool, linked, tail's link free) back into
 * pool, which h owns: one splice and one look at the pool's lists for the
 * whole run.  A pool that empties leaves its class: into the stash while
 * there is room, else onto *empties, for the caller to give back under the
 * lock. */
static void local_free_run(struct vigil_theap *h, struct vigil_pool *pool,
                           struct vigil_block *head, struct vigil_block *tail, uint32_t n,
                           struct vigil_pool **empties)
{
    struct vigil_theap_class *k = &h->cls[pool->cls];
    tail->next = pool->freeblock;
    pool->freeblock = head;
    pool->nused -= n;
    count(&k->blocks, -(size_t)n);
    if (pool->full) {
        vigil__pool_list_remove(&k->full, pool);
        pool->full = 0;
        vigil__pool_list_push(&k->avail, pool);
    }
    if (pool->nused)
        return;
    vigil__pool_list_remove(&k->avail, pool);
    if (h->nstash < VIGIL_THEAP_STASH) {
        pool->next = h->stash;
        h->stash = pool;
        h->nstash++;
    } else {
        count(&k->npools, (size_t)-1);
        pool->next = *empties;
        *empties = pool;
    }
}

static void local_free(struct vigil_theap *h, struct vigil_pool *pool, struct vigil_block *b,
                       struct vigil_pool **empties)
{
    local_free_run(h, pool, b, b, 1, empties);
}

/* The stash, emptied onto *empties. */
static void unstash(struct vigil_theap *h, struct vigil_pool **empties)
{
    for (struct vigil_pool *p = h->stash, *next; p; p = next) {
        next = p->next;
        count(&h->cls[p->cls].npools, (size_t)-1);
        p->next = *empties;
        *empties = p;
    }
    h->stash = NULL;
    h->nstash = 0;
}

/* Lock held. */
static void give_all(struct vigil_pool *empties)
{
    for (struct vigil_pool *p = empties, *next; p; p = next) {
        next = p->next;
        vigil__heap_pool_give_locked(p);
    }
}

/* Batches of blocks bound for other heaps' queues: consecutive blocks of
 * one owner (a consumer's frees are mostly one producer's) go in one
 * push. */
struct outbox {
    struct vigil_theap *to;
    struct vigil_block *head, *tail;
};

static void outbox_flush(struct outbox *o)
{
    if (o->head)
        queue_push(o->to, o->head, o->tail);
    o->head = o->tail = NULL;
}

/* The run head..tail (len blocks of one pool, linked) for to's queue. */
static void outbox_add(struct outbox *o, struct vigil_theap *to, struct vigil_block *head,
                       struct vigil_block *tail, uint32_t len)
{
    if (o->head && o->to != to)
        outbox_flush(o);
    o->to = to;
    run_mark(head, tail, len);
    tail->next = o->head;
    o->head = head;
    if (!o->tail)
        o->tail = tail;
}

/* The work of vigil__theap_free and vigil__theap_free_first: the first n
 * blocks of list back to their pools; returns the rest of list.  queued: the
 * blocks come off h's queue.  Blocks of one of h's pools that lie next to
 * each other on the list (a cache freed in the order it was filled, a
 * consumer's frees of one producer's pool) stay linked and go back as one
 * run; the header of the pool after the run is prefetched while the run's
 * blocks are walked. */
static struct vigil_block *free_list(struct vigil_theap *h, struct vigil_block *list, size_t n,
                                     bool queued)
{
    struct vigil_pool *empties = NULL;
    struct vigil_block *shared = NULL;
    struct outbox out = { NULL, NULL, NULL };
    struct vigil_block *b = list;
    while (n && b) {
        struct vigil_pool *pool = vigil__pool_of(b);
        struct vigil_theap *owner = owner_of(pool);
        struct vigil_block *tail = b, *next = b->next;
        uint32_t len = 1;
        if (owner) {
            while (len < n && next && vigil__pool_of(next) == pool) {
                tail = next;
                next = next->next;
                len++;
            }
            if (next)
                __builtin_prefetch(vigil__pool_of(next));
        }
        if (queued)
            count(&h->cls[pool->cls].queued, -(size_t)len);
        if (owner == h) {
            local_free_run(h, pool, b, tail, len, &empties);
        } else if (owner) {
            count(&h->cls[pool->cls].queued, len);
            outbox_add(&out, owner, b, tail, len);
        } else {
            b->next = shared;
            shared = b;
        }
        n -= len;
        b = next;
    }
    outbox_flush(&out);
    if (!empties && !shared)
        return b;
    vigil__heap_lock();
    give_all(empties);
    for (struct vigil_block *s = shared, *next; s; s = next) {
        next = s->next;
        vigil__theap_release_locked(h, s);      /* looked at again, under the lock */
    }
    vigil__heap_unlock();
    return b;
}

void vigil__theap_free(struct vigil_theap *h, struct vigil_block *list)
{
    free_list(h, list, SIZE_MAX, false);
}

struct vigil_block *vigil__theap_free_first(struct vigil_theap *h, struct vigil_block *list,
                                            size_t n)
{
    return free_list(h, list, n, false);
}

/* h's queue taken and freed, run by run: a run of one of h's pools in one
 * splice; one of a pool h gave away since it was pushed block by block
 * (free_list). */
static void drain(struct vigil_theap *h)
{
    struct vigil_block *q = queue_take(h);
    struct vigil_pool *empties = NULL;
    while (q) {
        struct vigil_pool *pool = vigil__pool_of(q);
        uint32_t len;
        struct vigil_block *tail = run_tail(q, &len), *next = tail->next;
        VIGIL_ASSERT(len >= 1 && vigil__pool_of(tail) == pool);
        if (next)
            __builtin_prefetch((const char *)next + sizeof(struct vigil_block));
        if (owner_of(pool) == h) {
            count(&h->cls[pool->cls].queued, -(size_t)len);
            local_free_run(h, pool, q, tail, len, &empties);
        } else {
            tail->next = NULL;
            free_list(h, q, len, true);
        }
        q = next;
    }
    if (empties) {
        vigil__heap_lock();
        give_all(empties);
        vigil__heap_unlock();
    }
}

/* Blocks of pool on its free list: those carved less those handed out. */
static uint32_t pool_listed(const struct vigil_pool *pool)
{
    uintptr_t first = vigil__pool_first_block(vigil__pool_base(pool));
    return (uint32_t)((pool->nextoffset - first) / vigil__block_stride(pool->cls)) - pool->nused;
}

/* Blocks of pool (not full) onto *head until *n reaches want: the free
 * list whole when it can end the list being made (*head still NULL) and
 * fits in max, else block by block; then never-used ones, carved. */
static void take_from(struct vigil_pool *pool, struct vigil_block **head, uint32_t *n,
                      uint32_t want, uint32_t max)
{
    uint32_t got = 0;
    if (pool->freeblock && !*head) {
        uint32_t listed = pool_listed(pool);
        if (listed <= max - *n) {
            *head = pool->freeblock;
            pool->freeblock = NULL;
            got = listed;
        }
    }
    while (*n + got < want && pool->freeblock) {
        struct vigil_block *b = pool->freeblock;
        pool->freeblock = b->next;
        b->next = *head;
        *head = b;
        got++;
    }
    uintptr_t base = vigil__pool_base(pool), stride = vigil__block_stride(pool->cls);
    uint32_t off = pool->nextoffset;
    while (*n + got < want && off <= pool->maxnextoffset) {
        struct vigil_block *b = (struct vigil_block *)(base + off);
        off += (uint32_t)stride;
        b->next = *head;
        *head = b;
        got++;
    }
    pool->nextoffset = off;
    pool->nused += got;
    *n += got;
}

/* A class still cold in h (theap.h): up to VIGIL_THEAP_COLD_BYTES of
 * blocks (one at least) of the shared pools, under the lock, in front of
 * head. */
static struct vigil_block *cold_alloc(struct vigil_theap *h, unsigned cls, uint32_t want,
                                      struct vigil_block *head, uint32_t *got, bool *grew)
{
    size_t size = vigil__class_size(cls);
    uint32_t n = 0, most = (uint32_t)(VIGIL_THEAP_COLD_BYTES / size);
    if (want > most)
        want = most ? most : 1;
    h->cold_refills[cls]++;
    vigil__heap_lock();
    while (n < want) {
        struct vigil_block *b = vigil__heap_alloc_locked(size, grew);
        if (!b)
            break;
        b->next = head;
        head = b;
        n++;
    }
    vigil__heap_unlock();
    *got = n;
    return n ? head : NULL;
}

struct vigil_block *vigil__theap_alloc(struct vigil_theap *h, unsigned cls, uint32_t want,
                                       uint32_t max, struct vigil_block *onto, uint32_t *got,
                                       bool *grew)
{
    struct vigil_theap_class *k = &h->cls[cls];
    struct vigil_block *head = onto;
    uint32_t n = 0;
    size_t taken = 0;
    /* Blocks other threads gave back first: a producer whose blocks a
     * consumer frees lives on them, and needs no new pool. */
    drain(h);
    if (!k->avail && !k->full && h->cold_refills[cls] < VIGIL_THEAP_COLD_REFILLS)
        return cold_alloc(h, cls, want, onto, got, grew);
    while (n < want) {
        struct vigil_pool *pool = k->avail;
        if (!pool) {
            if (n)
                break;                  /* enough for now: no new pool */
            if (atomic_load_explicit(&h->queue, memory_order_relaxed)) {
                drain(h);
                continue;
            }
            if ((pool = h->stash) != NULL) {
                h->stash = pool->next;
                h->nstash--;
                count(&h->cls[pool->cls].npools, (size_t)-1);
                vigil__pool_init(pool, cls);
            } else {
                vigil__heap_lock();
                pool = vigil__heap_pool_take_locked(cls, h, grew);
                vigil__heap_unlock();
                if (!pool)
                    break;
            }
            vigil__pool_list_push(&k->avail, pool);
            count(&k->npools, 1);
            count(&k->blocks, pool->nused);
        }
        uint32_t before = n;
        take_from(pool, &head, &n, want, max);
        taken += n - before;
        if (vigil__pool_is_full(pool))
            to_full(k, pool);
    }
    count(&k->blocks, taken);
    *got = n;
    return n ? head : NULL;
}

void vigil__theap_settle(struct vigil_theap *h)
{
    drain(h);
    struct vigil_pool *empties = NULL;
    unstash(h, &empties);
    if (!empties)
        return;
    vigil__heap_lock();
    give_all(empties);
    vigil__heap_unlock();
}

/* ---- under the lock ---- */

void vigil__theap_release_locked(struct vigil_theap *h, struct vigil_block *b)
{
    struct vigil_pool *pool = vigil__pool_of(b);
    struct vigil_theap *owner = owner_of(pool);
    if (!owner) {
        vigil__heap_free_locked(b);
    } else if (owner == h) {
        struct vigil_pool *empties = NULL;
        local_free(h, pool, b, &empties);
        give_all(empties);
    } else {
        if (h)
            count(&h->cls[pool->cls].queued, 1);
        else
            atomic_fetch_add_explicit(&shared_queued[pool->cls], 1, memory_order_relaxed);
        run_mark(b, b, 1);
        queue_push(owner, b, b);
    }
}

void vigil__theap_free_uncached(struct vigil_block *b)
{
    struct vigil_pool *pool = vigil__pool_of(b);
    struct vigil_theap *owner = owner_of(pool);
    if (owner) {
        atomic_fetch_add_explicit(&shared_queued[pool->cls], 1, memory_order_relaxed);
        run_mark(b, b, 1);
        queue_push(owner, b, b);
        return;
    }
    vigil__heap_lock();
    vigil__theap_release_locked(NULL, b);      /* looked at again, under the lock */
    vigil__heap_unlock();
}

void vigil__theap_drain_locked(struct vigil_theap *h)
{
    for (struct vigil_block *b = queue_take(h), *next; b; b = next) {
        next = b->next;
        count(&h->cls[vigil__pool_of(b)->cls].queued, (size_t)-1);
        vigil__theap_release_locked(h, b);
    }
}

void vigil__theap_abandon_locked(struct vigil_theap *h)
{
    vigil__theap_drain_locked(h);
    struct vigil_pool *empties = NULL;
    unstash(h, &empties);
    give_all(empties);
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        struct vigil_theap_class *k = &h->cls[c];
        struct vigil_pool *lists[2] = { k->avail, k->full };
        for (int l = 0; l < 2; l++)
            for (struct vigil_pool *p = lists[l], *next; p; p = next) {
                next = p->next;
                vigil__heap_pool_give_locked(p);
            }
        k->avail = k->full = NULL;
        atomic_store_explicit(&k->npools, 0, memory_order_relaxed);
        atomic_store_explicit(&k->blocks, 0, memory_order_relaxed);
    }
    memset(h->cold_refills, 0, sizeof h->cold_refills);
    /* A thread that read an owner of h's before give_locked cleared it may
     * have pushed since the drain above, or may push still: those blocks
     * are freed now, or by whoever drains h next (theap.h). */
    vigil__theap_drain_locked(h);
}

/* ---- counting and checking ---- */

void vigil__theap_counts(const struct vigil_theap *h, size_t pools[], size_t blocks[],
                         size_t queued[])
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        pools[c] += atomic_load_explicit(&h->cls[c].npools, memory_order_relaxed);
        blocks[c] += atomic_load_explicit(&h->cls[c].blocks, memory_order_relaxed);
        queued[c] += atomic_load_explicit(&h->cls[c].queued, memory_order_relaxed);
    }
}

void vigil__theap_shared_queued(size_t queued[])
{
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++)
        queued[c] += atomic_load_explicit(&shared_queued[c], memory_order_relaxed);
}

#define CHECK VIGIL_HEAP_CHECK

size_t vigil__theap_check(struct vigil_theap *h, size_t *pools)
{
    size_t bad = 0, stashed[VIGIL_NB_CLASSES] = { 0 }, nstash = 0;
    for (struct vigil_pool *p = h->stash; p && nstash <= VIGIL_THEAP_STASH; p = p->next) {
        nstash++;
        if (CHECK(owner_of(p) == h && p->nused == 0 && p->cls < VIGIL_NB_CLASSES,
                  "stashed pool not empty, or not the heap's", p, p->nused))
            return bad + 1;
        stashed[p->cls]++;
    }
    bad += CHECK(nstash == h->nstash, "thread heap's stash count disagrees with its list",
                 h, nstash);
    *pools += nstash;
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        struct vigil_theap_class *k = &h->cls[c];
        size_t npools = 0, blocks = 0;
        for (int full = 0; full < 2; full++) {
            struct vigil_pool *prev = NULL;
            for (struct vigil_pool *p = full ? k->full : k->avail; p; prev = p, p = p->next) {
                if (CHECK(npools <= atomic_load_explicit(&k->npools, memory_order_relaxed),
                          "thread heap's list longer than its pools (a cycle?)", h, c)) {
                    bad++;
                    break;
                }
                bad += CHECK(owner_of(p) == h, "pool on a thread heap's list it does not own",
                             p, c);
                bad += CHECK(p->prev == prev, "pool's back link is wrong", p, 0);
                bad += vigil__heap_check_pool(p, c, full);
                npools++;
                blocks += p->nused;
            }
        }
        bad += CHECK(npools + stashed[c] == atomic_load_explicit(&k->npools, memory_order_relaxed),
                     "thread heap's pool count disagrees with its lists", h, npools);
        bad += CHECK(blocks == atomic_load_explicit(&k->blocks, memory_order_relaxed),
                     "thread heap's block count disagrees with its pools", h, blocks);
        *pools += npools;
    }
    /* Every queued block lies in a carved part of a pool of its class. */
    size_t n = 0, limit = (size_t)VIGIL_MAX_ARENAS * VIGIL_ARENA_SIZE / VIGIL_ALIGNMENT;
    for (struct vigil_block *b = atomic_load(&h->queue); b && n < limit; b = b->next, n++) {
        struct vigil_pool *pool = vigil__pool_of(b);
        if (CHECK(vigil__arena_owns(b) && pool->cls < VIGIL_NB_CLASSES &&
                  (uintptr_t)b - vigil__pool_base(b) < pool->nextoffset,
                  "queued block outside every carved pool", b, n)) {
            bad++;
            break;
        }
    }
    return bad;
}
