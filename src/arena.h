/*
 * arena.h - the layout of the arena allocator: size classes, pools, arenas.
 *
 * Small requests (at most VIGIL_SMALL_MAX bytes) are served from blocks of one
 * size class, carved out of pools, carved out of arenas:
 *
 *   arena (VIGIL_ARENA_SIZE = 1 MiB, from the arena source: mmap by default)
 *   +--------+--------+--------+-- ... --+--------+
 *   | pool 0 | pool 1 | pool 2 |         | pool N |   N = 255, or 254 when the
 *   +--------+--------+--------+-- ... --+--------+   source gave memory that is
 *       |                                             not page-aligned
 *       v
 *   pool (VIGIL_POOL_SIZE = 4 KiB, page-aligned, one size class)
 *   +-------------+-------+-------+-------+-- ... --+-------+-----+
 *   | pool_header | block | block | block |         | block | pad |   even
 *   +-------------+-------+-------+-------+-- ... --+-------+-----+
 *     64 bytes      size class bytes each, 16-aligned          quantization
 *   +-------+-------+-------+-- ... --+-------+-----+-------------+
 *   | block | block | block |         | block | pad | pool_header |   odd
 *   +-------+-------+-------+-- ... --+-------+-----+-------------+
 *
 * Size classes step by 16 bytes (the alignment every block must have):
 *
 *   request   0..16   17..32   33..48   ...   497..512
 *   class     0       1        2              31
 *   block     16      32       48             512
 *
 * Larger requests go to the system allocator.  When the tools are told
 * about blocks (an ASan build, or a run under Valgrind), every block is
 * followed by a 16-byte gap that stays poisoned / no-access, so an overflow
 * of a block that fills its whole class, or an underflow of its neighbour,
 * still lands on memory the tool watches:
 *
 *   stride = block + vigil__block_gap  (16 under ASan, 32 under memcheck,
 *                                       else 0: decided once, before the
 *                                       first pool)
 *
 * vigil__block_stride() and vigil__pool_capacity() are the only places that
 * arithmetic is done.
 *
 * Header colour: a pool at an even address (counting in pools) has its
 * header at its start, one at an odd address at its end.  Headers all at
 * 4 KiB boundaries would compete for the few cache sets those addresses map
 * to (an L2 of 2 MiB, 16 ways, holds only 512 lines at 4 KiB strides), and
 * every free reads one; two positions double the headers that stay cached,
 * and cost no memory, as both layouts hold the same blocks.  (Measured: a
 * chase through 650 headers took 31 ns a read with one position, 15 ns with
 * two.)
 *
 * "Is this pointer ours?" is O(1): first a table of the 1 MiB regions of
 * the address space that hold an arena (arena_map.h) turns away most other
 * allocators' pointers without reading their memory; then round the
 * pointer down to its pool (VIGIL_POOL_SIZE alignment), read the arena index
 * in the pool header there (at the start or the end of that page), then
 * check that the arena table entry of that index holds the pointer
 * (arena_map.h).  For a pointer that is not ours the "header" is whatever
 * bytes happen to lie at the start of its page: possibly
 * uninitialised, possibly another allocator's data.  That read is safe
 * because the pool size is not larger than the system page size, so the
 * rounded-down address is in the same page as the pointer, which the caller
 * owns and which is therefore mapped.  Any value read is harmless: an index
 * out of range fails the first test, and an index in range fails the second
 * unless the pointer really lies inside that arena (arena memory is only ever
 * ours).  Valgrind and ASan see this as a read of undefined or foreign
 * memory; it is exempted from ASan and named in supp/vigil.supp.
 *
 * Pools with free blocks of a class sit on that class's "used" list, full
 * pools on its "full" list (the shared lists, or those of the thread heap
 * owning the pool, below).  A pool whose last block is freed goes back to
 * its arena, not to a per-class empty list, so that an arena whose pools are
 * all empty can be returned to the system (a thread heap keeps a few, see
 * theap.h); re-initialising a pool for another class costs a few stores, as
 * blocks are carved lazily.
 *
 * Arenas with free pools are kept in buckets by their count of free pools,
 * and a new pool is always taken from the arena with the fewest free pools.
 * That packs live blocks into the fullest arenas and lets the emptiest ones
 * drain and be returned to the system.  One wholly empty arena is kept as a
 * spare so a program that frees and allocates around an arena boundary does
 * not map and unmap repeatedly.
 *
 * Threads (neither the common path nor a cache's miss takes a lock):
 *
 *   thread 1                    thread 2              shared, under one mutex
 *   +--------------------+      +-----------+        +----------------------+
 *   | tcache  class 0:   |      | tcache    |        | heap: per class used/|
 *   |   b->b->b  ...     |      |   ...     |  whole |   full shared pools  |
 *   |    | refill ^ flush|      |           |  pools | arena buckets,       |
 *   |    v        |      |      |           | <----> |   arenas, reclaim    |
 *   | theap: per class   |      | theap     |        | tcache registry      |
 *   |   owned pools:     | <----+ frees of  |        +----------------------+
 *   |   avail, full;     | CAS  | thread 1's|
 *   |   stash of empties;| push | blocks    |
 *   |   queue <-- ...    |      |           |
 *   +--------------------+      +-----------+
 *
 * Per thread: a cache of free blocks per size class (struct vigil_tcache in
 * tcache.h), at first at most 16 KiB or 256 blocks a class; a class whose
 * working set keeps overflowing it (it refilled, then filled again) grows
 * to 64 KiB or 2048 blocks, within 256 KiB of growth a thread (tcache.c).
 * malloc pops from it and
 * free pushes onto it with no lock and no atomic read-modify-write, inline
 * in the public entry points (and in the preload library's), whichever
 * thread allocated the block: a block freed by another thread joins the
 * freeing thread's cache first, which keeps the common path the same for
 * every pattern.  An empty cache is filled halfway at once, a full one gives
 * half back: to and from the thread's own heap (theap.h), the pools it owns,
 * with no lock either, a pool's free list taken whole and a run of one
 * pool's blocks given back in one splice.  A block given back goes straight into its pool when
 * the thread owns that pool, and onto the owning thread's message queue
 * (one compare-and-swap a batch) when another does; the owner takes its
 * queue with one exchange when it next refills.  The mutex is taken only to
 * move whole pools between a thread and the shared state (a new or a half
 * used shared pool for a class with none, an empty pool given back when the
 * thread keeps enough), for blocks of shared pools (among them the first
 * refills of a class the thread uses little, which take a few blocks of
 * shared pools rather than a pool of its own: theap.h), and at thread exit.
 *
 * A thread that exits gives its cache back, and its heap's pools to the
 * shared state (a pthread_key destructor): empty ones to their arenas, the
 * others onto the shared lists, where any thread's allocations find them
 * first, and blocks freed into them later are freed there under the mutex.
 * So nothing is lost, and arenas still empty and go back to the system.  In
 * a forked child, the caches and heaps of the threads that did not survive
 * are given back likewise (the fork policy of lock.h; tcache.c says what
 * happens to one stopped half-way through changing its heap).
 *
 * Counting: a block in a cache or on a queue is handed out as far as its
 * pool knows, and free as far as the program knows, so
 * vigil_allocated_blocks() and the statistics subtract every cache's and
 * every queue's per-class count (each written only by its owner, read
 * relaxed by others) and count those blocks as available.  The counts are
 * exact whenever no other thread is half-way through a malloc or free
 * (after joining them, say); vigil__arena_settle also empties the calling
 * thread's cache and queue into the pools, for tests counting pools.
 *
 * Under Valgrind or ASan (annotating) no thread gets a cache: every block
 * takes the locked path, where the annotations, the tools' quarantine and the
 * poisoning of freed blocks are.  The debug hooks sit above all of this.
 *
 * The files, each calling only those below it:
 *
 *   tcache.c      the arena allocator's table: thread caches over the
 *                 thread heaps, large requests handed to the allocator it
 *                 was given
 *   theap.c       thread heaps: owned pools, the message queues
 *   heap.c        the shared arenas and pools under the heap lock;
 *                 statistics, the block query, the consistency walk
 *   arena_tools.c what the tools are told about pool blocks; the ASan
 *                 quarantine and address descriptions
 *   arena_map.c   the arena address table and the ownership check
 *   arena.h       this layout, shared by all five
 */
#ifndef VIGIL_ARENA_H
#define VIGIL_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include "vigil/annotate.h"

#define VIGIL_ALIGNMENT        16
#define VIGIL_ALIGNMENT_SHIFT  4
#define VIGIL_SMALL_MAX        512
#define VIGIL_NB_CLASSES       (VIGIL_SMALL_MAX / VIGIL_ALIGNMENT)

#define VIGIL_POOL_SIZE        4096
#define VIGIL_POOL_MASK        ((uintptr_t)VIGIL_POOL_SIZE - 1)
#define VIGIL_ARENA_SIZE       ((size_t)1 << 20)
#define VIGIL_POOLS_PER_ARENA  (VIGIL_ARENA_SIZE / VIGIL_POOL_SIZE)

/* The arena table never moves, so "is this pointer ours?" can read it without
 * a lock.  65536 arenas of 1 MiB: 64 GiB of small blocks; past that, small
 * requests fall back to the raw domain. */
#define VIGIL_MAX_ARENAS       65536

/* Request size (1..VIGIL_SMALL_MAX; 0 shares class 0) -> class index. */
static inline unsigned vigil__size_class(size_t size)
{
    return size ? (unsigned)((size - 1) >> VIGIL_ALIGNMENT_SHIFT) : 0;
}

/* Class index -> block size. */
static inline size_t vigil__class_size(unsigned cls)
{
    return ((size_t)cls + 1) << VIGIL_ALIGNMENT_SHIFT;
}

/* The gap after every block: 0, or while annotating VIGIL_TOOL_GAP (ASan)
 * or twice memcheck's described redzone (arena_tools.c decides it before the
 * first pool is carved). */
#define VIGIL_TOOL_GAP         16
extern size_t vigil__block_gap;

/* Class index -> distance between the starts of two blocks in a pool. */
static inline size_t vigil__block_stride(unsigned cls)
{
    return vigil__class_size(cls) + vigil__block_gap;
}

struct vigil_block {
    struct vigil_block *next;      /* free-list link, in freed blocks only */
};

struct vigil_theap;


struct vigil_pool {
    uint32_t arenaindex;           /* read by the ownership check; set once */
    uint32_t cls;                  /* size class of every block here */
    uint32_t nused;                /* blocks handed out */
    uint32_t nextoffset;           /* next never-used block (lazy carving) */
    uint32_t maxnextoffset;        /* last offset where a block still fits */
    uint32_t full;                 /* on a full list (its owner's, or the shared one) */
    struct vigil_block *freeblock; /* freed blocks, a singly linked list */
    struct vigil_pool *next;       /* class list, or the arena's free pools */
    struct vigil_pool *prev;
    /* The thread heap that owns the pool (theap.h), or NULL for a shared
     * pool, which lives under the heap lock.  Read by any thread freeing one
     * of its blocks, written only under the heap lock: with the __atomic
     * builtins, so the plain copy of vigil__pool_info stays possible. */
    struct vigil_theap *owner;
};

#define VIGIL_POOL_OVERHEAD    64
_Static_assert(sizeof(struct vigil_pool) <= VIGIL_POOL_OVERHEAD, "pool header too big");
_Static_assert(VIGIL_POOL_OVERHEAD % VIGIL_ALIGNMENT == 0, "blocks must stay aligned");

/* Blocks of class cls that one pool holds. */
static inline size_t vigil__pool_capacity(unsigned cls)
{
    return (VIGIL_POOL_SIZE - VIGIL_POOL_OVERHEAD) / vigil__block_stride(cls);
}

/* The page a pool occupies. */
static inline uintptr_t vigil__pool_base(const void *p)
{
    return (uintptr_t)p & ~VIGIL_POOL_MASK;
}

/* Where the header lies in its pool: at the start of a pool at an even
 * address (in pool units), at the end of one at an odd address (see
 * "Header colour" above). */
static inline uintptr_t vigil__pool_header_offset(uintptr_t base)
{
    /* Arithmetic, not a choice: the free's inline check runs this on
     * blocks of random pools, where a branch on the pool's parity
     * mispredicts half the time, and once the check had grown (the span
     * test, arena_map.h) gcc made the choice a branch, not a cmov, even
     * when told the odds were even. */
    uintptr_t odd = base & VIGIL_POOL_SIZE;
    return odd - odd / VIGIL_POOL_SIZE * VIGIL_POOL_OVERHEAD;
}

/* Offset of the pool's first block: after a header at the start, or 0. */
static inline uintptr_t vigil__pool_first_block(uintptr_t base)
{
    return vigil__pool_header_offset(base) ? 0 : VIGIL_POOL_OVERHEAD;
}

/* The header of the pool holding p (or the bytes where it would be). */
static inline struct vigil_pool *vigil__pool_of(const void *p)
{
    uintptr_t base = vigil__pool_base(p);
    return (struct vigil_pool *)(base + vigil__pool_header_offset(base));
}

#endif /* VIGIL_ARENA_H */
