/*
 * arena_tools.h - what Valgrind memcheck and AddressSanitizer are told about
 * pool blocks, through vigil/annotate.h.
 *
 * Decided once, before the first arena or thread cache: under ASan always,
 * under Valgrind when the program runs on it (the domains pass that on at
 * start-up).  Outside both, vigil__annotating() is a constant 0 and every
 * helper here compiles to nothing.
 *
 * While annotating: arena memory is no-access when it arrives; a pool header
 * is opened (defined) only while the heap reads or writes it, under the heap
 * lock, and closed again; a free-list link in a freed block is made readable
 * or writable for the one access; a block handed out is described to
 * memcheck as a malloc'd block of exactly the requested size (MALLOCLIKE,
 * FREELIKE and RESIZEINPLACE requests), issued by the allocator's table
 * function so memcheck's stack shows the caller's call just below it, and so
 * memcheck says of it what it says of malloc's blocks: "N bytes after a
 * block of size S alloc'd", "free'd", "definitely lost".  Between blocks lie
 * no-access gaps (arena.h), so an overflow into a neighbour lands on one.
 * Caveats from the Valgrind manual that shape this: memcheck does not check
 * such blocks for overlap, so the bookkeeping must be right; and arena
 * memory is mmap'd, never a malloc block, so a block is not counted twice by
 * the leak checker.  To resize exactly, the requested size of each block is
 * kept in a side table (one uint16_t per 16 bytes of arena), only while
 * annotating.  And no word vigil keeps where memcheck's leak check looks
 * may equal the address of a live block (arena_map.h), or a leaked block
 * would be "still reachable" through vigil's own tables.
 */
#ifndef VIGIL_ARENA_TOOLS_H
#define VIGIL_ARENA_TOOLS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "arena_map.h"
#include "check.h"
#include "vigil/annotate.h"

#define VIGIL_CAN_ANNOTATE (VIGIL_VALGRIND_ENABLED || VIGIL_ASAN_ENABLED)

/* Requested size of a freed block, in the side table. */
#define VIGIL_FREED_MARK 0xffffu

extern atomic_int vigil__annotate_flag;
extern uint16_t *vigil__requested_table[VIGIL_MAX_ARENAS];

/* What the decision depends on, from the settings; before the first arena.
 * keep allocates one small block of the system allocator (see decide). */
void vigil__tools_setup(int on_valgrind, size_t quarantine, void *(*keep)(size_t));
/* Decide, once (any thread may be first). */
void vigil__tools_decide(void);

static inline int vigil__annotating(void)
{
    return VIGIL_CAN_ANNOTATE &&
           atomic_load_explicit(&vigil__annotate_flag, memory_order_relaxed);
}

static inline void vigil__hdr_open(struct vigil_pool *pool)
{
    if (vigil__annotating())
        VIGIL_MEM_DEFINED(pool, VIGIL_POOL_OVERHEAD);
}

static inline void vigil__hdr_close(struct vigil_pool *pool)
{
    if (vigil__annotating())
        VIGIL_MEM_NOACCESS(pool, VIGIL_POOL_OVERHEAD);
}

static inline struct vigil_block *vigil__link_read(struct vigil_block *b)
{
    if (!vigil__annotating())
        return b->next;
    VIGIL_MEM_DEFINED(b, sizeof *b);
    struct vigil_block *next = b->next;
    VIGIL_MEM_NOACCESS(b, sizeof *b);
    return next;
}

static inline void vigil__link_write(struct vigil_block *b, struct vigil_block *next)
{
    if (!vigil__annotating()) {
        b->next = next;
        return;
    }
    VIGIL_MEM_UNDEFINED(b, sizeof *b);
    b->next = next;
    VIGIL_MEM_NOACCESS(b, sizeof *b);
}

/* A new arena at index idx: fresh memory is no-access, and gets its side
 * table.  0 when the side table cannot be had (the arena is not used). */
int vigil__tools_arena_new(uint32_t idx, void *mem, size_t size);
/* The arena's memory goes back to its source: usable by whoever maps it. */
void vigil__tools_arena_gone(void *mem, size_t size);

/* Annotating, heap lock held: the requested size of the block at p in arena
 * idx. */
static inline uint16_t *vigil__requested_slot(uint32_t idx, const void *p)
{
    uintptr_t base = vigil__arena_address(idx, memory_order_relaxed);
    VIGIL_ASSERT(base && (uintptr_t)p - base < VIGIL_ARENA_SIZE && vigil__requested_table[idx]);
    return &vigil__requested_table[idx][((uintptr_t)p - base) / VIGIL_ALIGNMENT];
}

/* Under ASan, where each pool block was allocated and freed, for vigil's
 * notes in ASan's reports: ASan keeps stacks only of its own chunks, and
 * says nothing of who allocated or freed memory poisoned by hand.  The
 * record (stack ids of the depot and thread numbers) lives in the block's
 * redzone, the gap after it (arena.h), which ASan keeps poisoned and the
 * program cannot reach without a report: no memory of its own, and next to
 * the block.  Written at the allocation (the free half cleared), completed
 * at the free; it lasts while the block waits in the quarantine and on its
 * pool's free list, until the slot is handed out again.  Outside ASan none
 * of this exists. */
#if VIGIL_ASAN_ENABLED
struct vigil_block_history {
    uint32_t alloc_stack, alloc_thread;
    uint32_t free_stack, free_thread;   /* 0, 0 while the block is live */
};
_Static_assert(sizeof(struct vigil_block_history) <= VIGIL_TOOL_GAP,
               "a block's history fits in its redzone");
/* The depot id of the program's stack now (16 frames, as ASan's
 * malloc_context_size keeps 30: enough to name the caller's callers). */
uint32_t vigil__tools_stack_here(void);
/* The live block at p, in a class of class_size bytes, was allocated here. */
void vigil__tools_note_alloc(void *p, size_t class_size);
/* Every live pool block, for the leak check that runs beside
 * LeakSanitizer's at exit (leak_asan.h): recorded with its requested size
 * and its class's in an address set of vigil's own memory (addrset.h) as it is handed out
 * or resized, forgotten as it is freed.  The check holds the record still
 * (hold, release), counts it and lists it with each block's allocation
 * stack (its history), without a lock. */
void vigil__tools_live_put(const void *p, size_t n, size_t class_size);
void vigil__tools_live_take(const void *p);
void vigil__tools_live_hold(void);
void vigil__tools_live_release(void);
size_t vigil__tools_live_count(void);
size_t vigil__tools_live_each(void (*fn)(void *arg, uintptr_t start, size_t size, uint32_t stack),
                              void *arg, size_t max);
#else
static inline uint32_t vigil__tools_stack_here(void)
{
    return 0;
}
#endif

/* Annotating, heap lock held, header open: p is no-access over its whole
 * class and remembered as freed, for the ASan report callback; under ASan,
 * freed_at (vigil__tools_stack_here of the free) and the thread are
 * written down. */
void vigil__tools_mark_freed(const struct vigil_pool *pool, void *p, uint32_t freed_at);

/* The program now owns n bytes at p / gives p back / resizes p in place.
 * Described to memcheck as malloc'd blocks, so its reports about them are
 * in the words it uses for malloc's (see VIGIL_BLOCK_ALLOC).  memcheck
 * describes an address near such a block by its own --redzone-size (16 by
 * default), so the gap after each block (arena.h) is twice that: an address
 * in it is "after" one block or "before" the next, never both.  The
 * redzone passed is 0: memcheck would make that many bytes around the block
 * no-access on every alloc and free, and before the first block of an arena
 * they lie outside it, in somebody else's memory; the gaps are no-access
 * already. */
#define VIGIL_DESCRIBED_REDZONE 16
static inline void vigil__tools_block_alloc(void *p, size_t n)
{
    (void)p;
    (void)n;
    if (vigil__annotating()) {
        VIGIL_BLOCK_ALLOC(p, n, 0);
#if VIGIL_ASAN_ENABLED
        size_t class_size = vigil__class_size(vigil__size_class(n));
        vigil__tools_note_alloc(p, class_size);
        vigil__tools_live_put(p, n, class_size);
#endif
    }
}

static inline void vigil__tools_block_free(void *p)
{
    (void)p;
    if (vigil__annotating()) {
        VIGIL_BLOCK_FREE(p, 0);
#if VIGIL_ASAN_ENABLED
        vigil__tools_live_take(p);
#endif
    }
}

/* In place, in a block of class_size bytes.  Under ASan the block's
 * allocation stack becomes this call's: ASan's realloc always gives a new
 * chunk, allocated by the realloc. */
static inline void vigil__tools_block_resize(void *p, size_t class_size, size_t old_n,
                                             size_t new_n)
{
    (void)p;
    (void)class_size;
    (void)old_n;
    (void)new_n;
    if (!vigil__annotating())
        return;
#if VIGIL_ASAN_ENABLED
    vigil__tools_note_alloc(p, class_size);
    vigil__tools_live_put(p, new_n, class_size);
#endif
    /* memcheck refuses to resize a block to or from 0 bytes ("Invalid
     * free"): the block is given back and taken again, in place. */
    if (old_n && new_n) {
        VIGIL_BLOCK_RESIZE(p, old_n, new_n, 0);
    } else if (old_n != new_n) {
        char *q = p;
        VIGIL_MEM_DEFINED(q, old_n < new_n ? old_n : new_n);
        VIGIL_BLOCK_FREE(p, 0);
        VIGIL_BLOCK_ALLOC(p, new_n, 0);
    }
}

/* What a free of p finds, while annotating (vigil__heap_free_verdict). */
enum vigil_free_verdict {
    VIGIL_FREE_OK,              /* a live block's start */
    VIGIL_FREE_DOUBLE,          /* a block already freed */
    VIGIL_FREE_INTERIOR,        /* not the start of any block */
};

struct vigil_block_info {
    uintptr_t start;            /* the block p lies in, or 0 */
    size_t class_size;
    size_t requested;           /* when live */
    int freed;
};

/* A free or realloc (op) of p that must not go through: under ASan, a
 * report in ASan's words ("attempting double-free", "attempting free on
 * address which was not malloc()-ed") with ASan's stack and what vigil knows
 * of the block, then the process ends as ASan ends it.  Under memcheck the
 * caller's VIGIL_BLOCK_FREE has made memcheck report it; this returns. */
void vigil__tools_bad_free(const void *p, enum vigil_free_verdict v,
                           const struct vigil_block_info *info, const char *op);

/* The tools' quarantine (heap lock held).  Without it the block just freed is
 * the first one handed out again, so a use after free reads a live block
 * and ASan sees nothing, and memcheck describes the next block's bugs with
 * the freed one's history.  Freed blocks wait, poisoned / no-access, until
 * VIGIL_QUARANTINE bytes of younger frees push them out (FIFO), as
 * memcheck's own freed blocks wait in its --freelist-vol queue.  put()
 * returns 0 when p cannot wait (quarantine off or full of bookkeeping) and
 * must be freed now; evict() returns a block that must leave now, or NULL;
 * take() the oldest block whatever the limit, or NULL when empty. */
int vigil__toolq_put(void *p, size_t size);
void *vigil__toolq_evict(void);
void *vigil__toolq_take(void);
size_t vigil__toolq_count(void);

#endif /* VIGIL_ARENA_TOOLS_H */
