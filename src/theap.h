/*
 * theap.h - thread heaps: the pools a thread owns, so that its cache's
 * misses (an empty cache refilling, a full one giving blocks back) take no
 * lock (the design is drawn in arena.h).
 *
 * A thread heap owns pools (pool->owner points at it).  Its owner alone
 * hands out their blocks and takes back the blocks it frees into them,
 * with plain loads and stores.  A block another thread frees into one of
 * them is pushed, with one compare-and-swap (a chain of them with one), on
 * the owner's message queue; the owner takes the whole queue with one
 * atomic exchange when it next needs blocks, and frees each block locally.
 * The heap lock (heap.h) is taken only to take a pool from the shared state
 * or give one back: when a class has no owned pool with room and the heap
 * keeps no empty one (VIGIL_THEAP_STASH), when a pool empties and the heap
 * keeps enough, when a block of a shared pool is freed, and when the
 * thread exits.
 *
 * Ownership changes only under the heap lock.  A thread reads the owner of
 * a live block's pool without the lock; what it finds is exact when it is
 * itself (only it gives its pools away), and otherwise only a hint: a pool
 * found shared is looked at again under the lock, and a block pushed to a
 * heap that gave its pools away meanwhile is freed by whoever takes that
 * heap's queue next: the heap's next owner, or a holder of the lock
 * (vigil__theap_drain_locked, run over the heaps of exited threads).
 *
 * Counting: a block on a queue is handed out as far as its pool knows, and
 * free as far as the program knows.  Each heap counts the blocks it pushed
 * to queues less those it took off them, per class (queued[], written only
 * by its owner, or under the lock once it has none); pushes made by threads
 * without a heap are counted in one shared row (atomic adds).  So the
 * blocks on all queues are the sum of the rows, exact whenever no thread is
 * between a free and its push (after joining the threads, or
 * vigil__arena_settle in the only running thread).
 *
 * Under the tools there are no thread heaps: no thread has a cache there.
 */
#ifndef VIGIL_THEAP_H
#define VIGIL_THEAP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* Empty pools a thread heap keeps: a producer whose consumer frees every
 * block of its pools, or a thread cycling through a few pools' worth,
 * reuses them without the lock; 128 KiB a thread at most. */
#define VIGIL_THEAP_STASH 8

/* A pool of its own for every class a thread touches is a page each:
 * mimalloc-bench's glibc-thread (2 threads, about 1,000 live blocks each,
 * sizes 4..32768 by an inverse square: 32 classes in use, most with a
 * block or two live) had 73 pools resident for 55 KiB of blocks.  So a
 * class is cold in a thread that owns no pool of it, until it has refilled
 * VIGIL_THEAP_COLD_REFILLS times: such a refill takes at most
 * VIGIL_THEAP_COLD_BYTES of blocks from the shared pools, under the lock,
 * and the cold threads' few blocks of a class share those pools.  A class
 * a thread uses much is soon past it and takes pools of its own, as
 * before; its earlier blocks stay in the shared pools (freed there, under
 * the lock, when its cache gives them back).  glibc-thread: 47 pools, 108
 * KiB less resident. */
#define VIGIL_THEAP_COLD_REFILLS 8
#define VIGIL_THEAP_COLD_BYTES 1024

struct vigil_theap_class {
    struct vigil_pool *avail;   /* owned pools with room; blocks come from the first */
    struct vigil_pool *full;    /* owned pools without */
    /* Written by the owner only (relaxed), read by the statistics. */
    _Atomic size_t npools;      /* pools owned */
    _Atomic size_t blocks;      /* their blocks handed out (the pools' nused) */
    _Atomic size_t queued;      /* pushed to queues less taken off them (wraps) */
};

struct vigil_theap {
    /* Blocks other threads freed into our pools, linked by their first word.
     * A line of its own: other threads write it (a compare-and-swap a
     * push), and the owner's words after it (busy, written twice a refill;
     * the lists) would go back and forth between the cores with it. */
    _Alignas(64) _Atomic(struct vigil_block *) queue;
    /* Non-zero while the owner changes its lists (vigil__theap_busy): a
     * forked child cannot trust the heap of a thread stopped there. */
    _Alignas(64) volatile uint32_t busy;
    uint32_t orphaned;          /* such a heap, in a forked child: left alone */
    /* Empty pools kept for the next class that needs one (each counted in
     * the npools of the class it last served), at most VIGIL_THEAP_STASH. */
    struct vigil_pool *stash;
    uint32_t nstash;
    /* Per class, the refills served from the shared pools while the class
     * was cold here (VIGIL_THEAP_COLD_REFILLS); the owner's only. */
    uint8_t cold_refills[VIGIL_NB_CLASSES];
    struct vigil_theap_class cls[VIGIL_NB_CLASSES];
};

/* Around every change of the heap's lists by its owner.  Plain stores in
 * program order (x86 makes them visible in that order, and fork copies a
 * prefix of them), so a child forked meanwhile sees busy set before any
 * change, and clear only after all of them. */
static inline void vigil__theap_busy(struct vigil_theap *h, uint32_t on)
{
    atomic_signal_fence(memory_order_seq_cst);
    h->busy = on;
    atomic_signal_fence(memory_order_seq_cst);
}

/* Up to want blocks of class cls (at least one unless no arena can be had),
 * linked through their first word in front of the list onto; *got says how
 * many.  A pool's whole free list may be taken at once, up to max blocks
 * in all (max >= want), when onto is NULL.  *grew is set when a new arena
 * was mapped. */
struct vigil_block *vigil__theap_alloc(struct vigil_theap *h, unsigned cls, uint32_t want,
                                       uint32_t max, struct vigil_block *onto, uint32_t *got,
                                       bool *grew);
/* The list of blocks (from h's thread's cache) back to their pools: h's own
 * locally, other heaps' onto their queues, shared ones under the lock. */
void vigil__theap_free(struct vigil_theap *h, struct vigil_block *list);
/* The same for the first n blocks of list only; returns the rest, which
 * stays linked as it was (a full cache giving back part of a class). */
struct vigil_block *vigil__theap_free_first(struct vigil_theap *h, struct vigil_block *list,
                                            size_t n);
/* h's queue taken and freed; its empty pools back to their arenas. */
void vigil__theap_settle(struct vigil_theap *h);

/* Block b freed by a thread without a heap (no cache): onto its owner's
 * queue, or under the lock into its shared pool. */
void vigil__theap_free_uncached(struct vigil_block *b);

/* Lock held: block b back to its pool, for heap h (NULL: a thread without
 * one): locally when h owns the pool (h's owner is the caller, or gone),
 * onto the owner's queue when another heap does, into the shared pool
 * otherwise. */
void vigil__theap_release_locked(struct vigil_theap *h, struct vigil_block *b);
/* Lock held: take h's queue and free its blocks as h would (h's owner is
 * the caller, or gone: then h owns no pool, and none of them is its). */
void vigil__theap_drain_locked(struct vigil_theap *h);
/* Lock held, h's owner exiting (or gone, in a forked child): every pool of
 * h's back to the shared state, its queue taken.  h can be used again
 * afterwards, empty; its queued row stays (the counts sum every heap's,
 * exited ones' too). */
void vigil__theap_abandon_locked(struct vigil_theap *h);

/* Lock held: adds h's pools, blocks handed out and queued counts, per
 * class, to the arrays (relaxed reads: exact when h's owner is quiet). */
void vigil__theap_counts(const struct vigil_theap *h, size_t pools[], size_t blocks[],
                         size_t queued[]);
/* The shared row of queued counts, added to queued. */
void vigil__theap_shared_queued(size_t queued[]);
/* Lock held, h's owner quiet: h's lists and pools checked (stderr gets each
 * inconsistency); returns how many, and adds h's pools to *pools. */
size_t vigil__theap_check(struct vigil_theap *h, size_t *pools);

#endif /* VIGIL_THEAP_H */
