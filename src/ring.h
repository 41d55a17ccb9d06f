/*
 * ring.h - a FIFO of fixed-size entries in a ring that grows by doubling,
 * in memory from os.c.  The two quarantines (the debug hooks' and the
 * tools') are both one.  Not thread-safe: the owner's lock guards it.
 *
 * Push and pop are inline and take the entry size from the caller, a
 * constant there, so each is a few moves: they run on every free of the
 * debug hooks.
 */
#ifndef VIGIL_RING_H
#define VIGIL_RING_H

#include <stddef.h>
#include <string.h>

#include "check.h"

struct vigil_ring {
    unsigned char *slots;
    size_t esize;               /* bytes per entry; set before first use */
    size_t cap;                 /* entries; a power of two, or 0 */
    size_t head;                /* the oldest entry */
    size_t count;
    int clear;                  /* clear entries as they leave (see pop) */
};

/* Room for n more entries, growing the ring; 0 when no memory for that
 * (then there may be room for fewer). */
int vigil__ring_reserve(struct vigil_ring *r, size_t n);

/* The i-th oldest entry, in place. */
static inline void *vigil__ring_at(const struct vigil_ring *r, size_t i)
{
    return r->slots + ((r->head + i) & (r->cap - 1)) * r->esize;
}

/* Append n entries of esize bytes (the room must be there), oldest first. */
static inline void vigil__ring_push(struct vigil_ring *r, const void *entries, size_t n,
                                    size_t esize)
{
    VIGIL_ASSERT(esize == r->esize && r->cap - r->count >= n);
    const unsigned char *in = entries;
    size_t tail = (r->head + r->count) & (r->cap - 1);
    if (n == 1) {                       /* every caller's: one move, not two memcpy calls */
        memcpy(r->slots + tail * esize, in, esize);
        r->count++;
        return;
    }
    size_t first = r->cap - tail < n ? r->cap - tail : n;
    memcpy(r->slots + tail * esize, in, first * esize);
    memcpy(r->slots, in + first * esize, (n - first) * esize);
    r->count += n;
}

/* The oldest entry, in place, to copy out as its own type before
 * vigil__ring_drop(): the copy is then a typed move, which the compiler
 * keeps in registers (a memcpy into the caller's array could alias the
 * ring's own fields, and reload them every time). */
static inline void *vigil__ring_front(const struct vigil_ring *r, size_t esize)
{
    VIGIL_ASSERT(esize == r->esize && r->count > 0);
    return r->slots + r->head * esize;
}

/* Forget the oldest entry (see vigil__ring_pop on clear). */
static inline void vigil__ring_drop(struct vigil_ring *r, size_t esize)
{
    VIGIL_ASSERT(esize == r->esize && r->count > 0);
    if (r->clear)
        memset(r->slots + r->head * esize, 0, esize);
    r->head = (r->head + 1) & (r->cap - 1);
    r->count--;
}

/* Take the oldest entry out into *out; the ring must not be empty.  With
 * clear set (the owner sets it under memcheck) the slot is zeroed: an entry
 * that left must hold no address any more, which memcheck's leak check
 * would take for a pointer to whatever block is there next. */
static inline void vigil__ring_pop(struct vigil_ring *r, void *out, size_t esize)
{
    memcpy(out, vigil__ring_front(r, esize), esize);
    vigil__ring_drop(r, esize);
}

#endif /* VIGIL_RING_H */
