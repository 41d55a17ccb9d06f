/*
 * ring.h - a FIFO of fixed-size entries in a ring that grows by doubling,
 * in memory from os.c.  The two quarantines (the debug hooks' and the ASan
 * build's) are both one.  Not thread-safe: the owner's lock guards it.
 */
#ifndef VIGIL_RING_H
#define VIGIL_RING_H

#include <stddef.h>

struct vigil_ring {
    unsigned char *slots;
    size_t esize;               /* bytes per entry; set before first use */
    size_t cap;                 /* entries; a power of two, or 0 */
    size_t head;                /* the oldest entry */
    size_t count;
};

/* Room for n more entries, growing the ring; 0 when no memory for that. */
int vigil__ring_reserve(struct vigil_ring *r, size_t n);
/* Append n entries (the room must be there), oldest first. */
void vigil__ring_push(struct vigil_ring *r, const void *entries, size_t n);
/* Take the oldest entry out into *out; the ring must not be empty. */
void vigil__ring_pop(struct vigil_ring *r, void *out);
/* The i-th oldest entry, in place. */
static inline void *vigil__ring_at(const struct vigil_ring *r, size_t i)
{
    return r->slots + ((r->head + i) & (r->cap - 1)) * r->esize;
}

#endif /* VIGIL_RING_H */
