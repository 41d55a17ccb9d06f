/*
 * heap.h - arenas and pools: the arena allocator's shared state, under one
 * lock (the layout and its reasoning are in arena.h).
 *
 * Everything named _locked, and everything said to need the lock, runs with
 * vigil__heap_lock() held; the rest takes it itself.
 */
#ifndef VIGIL_HEAP_H
#define VIGIL_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "arena_tools.h"
#include "stats.h"

void vigil__heap_lock(void);
void vigil__heap_unlock(void);
/* Run fn in a forked child, lock held, before the lock is released (the
 * thread caches drop the dead threads' blocks there). */
void vigil__heap_on_fork_child(void (*fn)(void));

/* Lock held: a block of size bytes (at most VIGIL_SMALL_MAX); NULL only when
 * no arena can be had.  *grew is set when a new arena was mapped.  Under the
 * tools, its requested size is recorded (not yet announced: the caller does
 * that, close to the program's call). */
void *vigil__heap_alloc_locked(size_t size, bool *grew);
/* Lock held: p back to its pool, as is (a cached block, or one evicted from
 * the tools' quarantine). */
void vigil__heap_free_locked(void *p);
/* Annotating, lock held: the program frees p: it is marked freed (freed_at:
 * the free's stack, arena_tools.h) and may wait in the tools' quarantine
 * before it goes back to its pool; unless p may not be freed (the verdict
 * says why; p is left as it was). */
enum vigil_free_verdict vigil__heap_release_checked_locked(void *p, struct vigil_block_info *info,
                                                           uint32_t freed_at);

/* Annotating: may p (one of the arena's addresses) be freed?  info says
 * which block p lies in, for the report when it may not. */
enum vigil_free_verdict vigil__heap_free_verdict(const void *p, struct vigil_block_info *info);

/* Annotating: the size the program asked for of live block p is now n. */
void vigil__heap_set_requested(const void *p, size_t n);

/* The block query of table.h: 1 with *usable set to the class size when p
 * is the start of a block of a carved part of one of the arena's pools. */
int vigil__heap_block_size(const void *p, size_t *usable);
/* Load the pool header freeing p will read. */
void vigil__heap_prefetch(const void *p);

/* The pools a thread heap owns (theap.h) change hands here, lock held.
 * take: a pool of class cls with room, now owner's (a shared one with free
 * blocks first, else a new one from the fullest arena); NULL when no arena
 * can be had.  give: an owned pool back to the shared state (its arena when
 * empty, else the shared class lists), owner cleared; its header need not
 * be on any list of its former owner's. */
struct vigil_pool *vigil__heap_pool_take_locked(unsigned cls, struct vigil_theap *owner,
                                                bool *grew);
void vigil__heap_pool_give_locked(struct vigil_pool *pool);

/* The class lists of pools, for the thread heaps' lists too (the header of
 * p open while annotating). */
void vigil__pool_list_push(struct vigil_pool **head, struct vigil_pool *p);
void vigil__pool_list_remove(struct vigil_pool **head, struct vigil_pool *p);

/* An empty pool (header open) made ready for blocks of class cls, none
 * carved yet (they are carved as they are handed out). */
static inline void vigil__pool_init(struct vigil_pool *pool, unsigned cls)
{
    uintptr_t first = vigil__pool_first_block(vigil__pool_base(pool));
    pool->cls = cls;
    pool->nused = 0;
    pool->full = 0;
    pool->freeblock = NULL;
    pool->nextoffset = (uint32_t)first;
    pool->maxnextoffset = (uint32_t)(first + VIGIL_POOL_SIZE - VIGIL_POOL_OVERHEAD -
                                     vigil__block_stride(cls));
}

/* A pool's blocks, header open: one handed out (pool not full), one back. */
static inline struct vigil_block *vigil__pool_take_block(struct vigil_pool *pool)
{
    struct vigil_block *b = pool->freeblock;
    if (b) {
        pool->freeblock = vigil__link_read(b);
    } else {
        b = (struct vigil_block *)(vigil__pool_base(pool) + pool->nextoffset);
        pool->nextoffset += (uint32_t)vigil__block_stride(pool->cls);
    }
    pool->nused++;
    return b;
}

static inline void vigil__pool_put_block(struct vigil_pool *pool, void *p)
{
    struct vigil_block *b = p;
    vigil__link_write(b, pool->freeblock);
    pool->freeblock = b;
    pool->nused--;
}

/* No block left to hand out: none freed, none left to carve. */
static inline bool vigil__pool_is_full(const struct vigil_pool *pool)
{
    return !pool->freeblock && pool->nextoffset > pool->maxnextoffset;
}

/* Lock held: blocks the shared pools count as handed out (the tools'
 * quarantine's are not), and the snapshot of stats.h with the thread
 * heaps' pools and blocks per class added (owned_*), without the caches. */
size_t vigil__heap_blocks_locked(void);
void vigil__heap_stats_locked(struct vigil_arena_stats *st, const size_t owned_pools[],
                              const size_t owned_blocks[]);
/* Every block waiting in the tools' quarantine back to its pool. */
void vigil__heap_drain_quarantine(void);

/* A copy of the header of the pool holding p (p must be ours), read the way
 * the allocator reads it, so tests can look under the tools too. */
void vigil__pool_info(const void *p, struct vigil_pool *out);

/* The consistency walk, in the spirit of PostgreSQL's AllocSetCheck: every
 * class list, pool header, free list, count and arena bucket is checked
 * against the others.  Each inconsistency found is written to stderr;
 * returns how many there were (0: the heap is whole).  owned_pools: how
 * many pools the thread heaps own (they are in use, on no shared list);
 * orphans: a forked child left some heap alone (tcache.c), whose pools are
 * in use and counted nowhere it can trust, so only a lower bound holds. */
size_t vigil__heap_check(size_t owned_pools, int orphans);
/* Header open: pool's carving, free list and counts agree, and it belongs
 * on a full (or, full 0, a used) list of class cls. */
size_t vigil__heap_check_pool(struct vigil_pool *pool, unsigned cls, int full);
/* One inconsistency written to stderr; returns 1. */
size_t vigil__heap_check_fail(const char *what, uintptr_t where, size_t value);
#define VIGIL_HEAP_CHECK(cond, what, where, value) \
    ((cond) ? 0 : vigil__heap_check_fail((what), (uintptr_t)(where), (size_t)(value)))

#endif /* VIGIL_HEAP_H */
