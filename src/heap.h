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

/* Lock held: blocks the pools count as handed out (the tools' quarantine's
 * are not), and the snapshot of stats.h without the thread caches. */
size_t vigil__heap_blocks_locked(void);
void vigil__heap_stats_locked(struct vigil_arena_stats *st);
/* Every block waiting in the tools' quarantine back to its pool. */
void vigil__heap_drain_quarantine(void);

/* A copy of the header of the pool holding p (p must be ours), read the way
 * the allocator reads it, so tests can look under the tools too. */
void vigil__pool_info(const void *p, struct vigil_pool *out);

/* The consistency walk, in the spirit of PostgreSQL's AllocSetCheck: every
 * class list, pool header, free list, count and arena bucket is checked
 * against the others.  Each inconsistency found is written to stderr;
 * returns how many there were (0: the heap is whole). */
size_t vigil__heap_check(void);

#endif /* VIGIL_HEAP_H */
