/*
 * ring.c - the growable FIFO ring (see ring.h).
 */
#include "config.h"

#include <string.h>

#include "os.h"
#include "ring.h"

/* Unwrap into a ring twice as big (1024 entries at first). */
static int grow(struct vigil_ring *r)
{
    size_t ncap = r->cap ? 2 * r->cap : 1024;
    unsigned char *slots = vigil__os_map(ncap * r->esize);
    if (!slots)
        return 0;
    for (size_t i = 0; i < r->count; i++)
        memcpy(slots + i * r->esize, vigil__ring_at(r, i), r->esize);
    vigil__os_unmap(r->slots, r->cap * r->esize);
    r->slots = slots;
    r->cap = ncap;
    r->head = 0;
    return 1;
}

int vigil__ring_reserve(struct vigil_ring *r, size_t n)
{
    while (r->cap - r->count < n)
        if (!grow(r))
            return 0;
    return 1;
}
