/*
 * debug_live.h - every live debug block, so that all of them can be
 * checked at once: on demand (vigil_check_heap) and at exit, where a block
 * overwritten past its end and never freed would otherwise go unchecked.
 *
 * The wrapper (debug.c) records a block once it is sealed and removes it
 * before it fills it as freed; the check walks the record, handing each
 * block to the per-block check the wrapper gave at start-up (a check made
 * exactly as free makes it), so this module knows no layer above it.
 *
 * The record is a map of the address space, a few bits for each 16 bytes
 * (debug_live.c), in memory of vigil__os_map, never inside a block, so a
 * damaged heap cannot damage it.  A block is checked with its part of the
 * map locked, so no thread frees it meanwhile.
 */
#ifndef VIGIL_DEBUG_LIVE_H
#define VIGIL_DEBUG_LIVE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "debug_diagnose.h"

/* The check of one live block p, made by the wrapper number owner (which
 * the wrapper gave with the block): 0 when healthy, 1 after a report
 * (VIGIL_ABORT=0; otherwise the report does not return).  op is
 * VIGIL_OP_CHECK_HEAP or VIGIL_OP_EXIT. */
typedef int (*vigil_live_check_fn)(unsigned owner, const unsigned char *p, enum vigil_debug_op op);

/* Once, before the first block is recorded. */
void vigil__debug_live_configure(vigil_live_check_fn check);

/* Forget live block p (a block's place in the map is its address; a
 * damaged block's header is not read).  The record is made and forgotten
 * by vigil__debug_live_put_at and _take_at below; none of them allocates
 * through vigil.  A block that cannot be recorded (no memory) goes
 * unchecked, and is counted. */
void vigil__debug_live_take(const void *p);

/* The map's word for p, its load started; NULL when p's record takes the
 * slow path (the map not configured, an address it cannot hold, no region
 * for it yet).  The word is a miss more often than not (the quarantine's
 * stream of freed blocks pushes it out of the caches between a block's
 * malloc and its free), and its load held up the put and the take: the
 * wrapper asks for it first, and hands it to them.  Inline, so it knows
 * the map's shape (debug_live.c asserts it): a call would cost more than
 * the rest of it. */
#define VIGIL_LIVE_ADDRESS_BITS 47
#define VIGIL_LIVE_REGION_SHIFT 30
#define VIGIL_LIVE_GRANULE      16      /* the alignment of a block the map holds */
#define VIGIL_LIVE_WORD_SPAN    256     /* bytes of address a word of the map covers */
#define VIGIL_LIVE_WORDS_AT     1024    /* where a region's words start */
struct vigil_live_region;
extern struct vigil_live_region *_Atomic *vigil__debug_live_dir;

static inline _Atomic uint64_t *vigil__debug_live_word(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    struct vigil_live_region *_Atomic *d = vigil__debug_live_dir;
    char *r;
    if (!d || (a & (VIGIL_LIVE_GRANULE - 1)) || (a >> VIGIL_LIVE_ADDRESS_BITS) ||
        !(r = (char *)atomic_load_explicit(&d[a >> VIGIL_LIVE_REGION_SHIFT],
                                           memory_order_acquire)))
        return NULL;
    _Atomic uint64_t *w =
        (_Atomic uint64_t *)(r + VIGIL_LIVE_WORDS_AT +
                             ((a & (((uintptr_t)1 << VIGIL_LIVE_REGION_SHIFT) - 1)) /
                              VIGIL_LIVE_WORD_SPAN) * sizeof(uint64_t));
    __builtin_prefetch((const void *)w, 1);
    return w;
}

/* Record live block p of wrapper number owner, and forget it, given the
 * word vigil__debug_live_word gave for p (NULL too). */
void vigil__debug_live_put_at(_Atomic uint64_t *w, const void *p, unsigned owner);
void vigil__debug_live_take_at(_Atomic uint64_t *w, const void *p);

/* Check every live block now (op: as above); the damaged ones found. */
size_t vigil__debug_live_check(enum vigil_debug_op op);

struct vigil_debug_live_stats {
    size_t live;                /* blocks recorded now */
    size_t lost;                /* blocks that could not be, since start-up */
};
void vigil__debug_live_stats(struct vigil_debug_live_stats *out);

#endif /* VIGIL_DEBUG_LIVE_H */
