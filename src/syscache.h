/*
 * syscache.h - the arena's large allocator: the system allocator's table
 * with a per-thread cache of its freed medium blocks in front of it.
 *
 * Requests of 513 bytes to 32 KiB are rounded up to one of 4 classes per
 * power of two and asked of the system allocator at that size, so any
 * freed block of a class serves any request of it; a thread keeps the
 * blocks it frees, per class, up to a bound in bytes, and a thread that
 * exits (and, in a forked child, every thread that did not survive) gives
 * them back.  A block freed by another thread joins the freeing thread's
 * cache: the system allocator's blocks have no owner.  Everything else
 * (other sizes, a full cache) goes to the system allocator as before.
 */
#ifndef VIGIL_SYSCACHE_H
#define VIGIL_SYSCACHE_H

#include <stddef.h>

#include "vigil.h"

/* What the cache is made over, handed to it once by the domains. */
struct vigil_syscache_env {
    /* The system allocator, where blocks come from and go back. */
    const vigil_allocator *sys;
    /* Its malloc_usable_size: how a freed block's class is known. */
    size_t (*usable)(void *p);
    /* No cache (Valgrind, ASan): the tools must see every free. */
    int off;
};

/* The table the arena is to hand large requests to: the cache's, or
 * env->sys itself when the cache is off. */
const vigil_allocator *vigil__syscache_setup(const struct vigil_syscache_env *env);

/* Blocks the caches hold now, every thread's: counted live by the system
 * allocator, free as far as the program knows.  Exact whenever no other
 * thread is between a malloc or free and its count. */
size_t vigil__syscache_blocks(void);

/* The calling thread's cached blocks back to the system allocator. */
void vigil__syscache_flush(void);

#endif /* VIGIL_SYSCACHE_H */
