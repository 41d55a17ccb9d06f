/*
 * domain.h - the three domains: what the layers above them (the preload
 * library, the tests) may ask beyond the public API of vigil.h.
 */
#ifndef VIGIL_DOMAIN_H
#define VIGIL_DOMAIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "report.h"
#include "tcache.h"
#include "vigil.h"

/* The domains' tables (domain.c). */
extern vigil_allocator vigil__domains[3];

/* Per domain, 0 while its table is the arena's own (domain.c keeps it with
 * every store of a table; nonzero before the tables are composed).  One
 * word the hits test, where comparing the table's functions took a load
 * and a compare each. */
extern __attribute__((visibility("hidden"))) _Atomic uint32_t vigil__domain_gate[3];

/* The hits of the entry points, inline in them and in the preload's: when
 * domain d's table is the arena's own and no thread is writing a report
 * (report.h, vigil__reporters), what its functions would do first, a hit
 * in the calling thread's cache (tcache.h).  NULL / false: take the slow
 * path.  Two words or'ed, one test: the gate, and the count of reporting
 * threads, which keeps a reporting thread's allocations off vigil's heap
 * (its slow path sends them to the C library) at the price of every
 * thread's hits while a report is written, which is rare. */
static inline bool vigil__domain_hits_on(vigil_domain d)
{
    return (atomic_load_explicit(&vigil__domain_gate[d], memory_order_relaxed) |
            atomic_load_explicit(&vigil__reporters, memory_order_relaxed)) == 0;
}

static inline void *vigil__domain_malloc_hit(vigil_domain d, size_t size)
{
    if (__builtin_expect(vigil__domain_hits_on(d), 1))
        return vigil__tcache_pop(size);
    return NULL;
}

static inline bool vigil__domain_free_hit(vigil_domain d, void *ptr)
{
    return __builtin_expect(vigil__domain_hits_on(d), 1) && vigil__tcache_push(ptr);
}

/* calloc's: a small request whose total the caller has checked. */
static inline void *vigil__domain_calloc_hit(vigil_domain d, size_t total)
{
    void *p = vigil__domain_hits_on(d) ? vigil__tcache_pop(total) : NULL;
    if (p)
        memset(p, 0, total);
    return p;
}

/* realloc's: in place, or moved between two cache hits, when the arena's
 * realloc would do no more (tcache.h, vigil__tcache_realloc_hit). */
static inline void *vigil__domain_realloc_hit(vigil_domain d, void *ptr, size_t size)
{
    if (vigil__domain_hits_on(d))
        return vigil__tcache_realloc_hit(ptr, size);
    return NULL;
}

/* Compose the domains' allocators from the settings, once (any thread may
 * be first; nothing is allocated). */
void vigil__ensure_init(void);

/* The public entry points' work with the program's call site given, for
 * entry points of the C library's names (preload.c). */
void *vigil__domain_malloc(vigil_domain d, size_t size, void *caller);
void *vigil__domain_calloc(vigil_domain d, size_t nelem, size_t elsize, void *caller);
void *vigil__domain_realloc(vigil_domain d, void *ptr, size_t size, void *caller);
void vigil__domain_free(vigil_domain d, void *ptr, void *caller);
/* A block aligned to align (a power of two above 16) from domain d's
 * allocator when it can give one (the plain arena, for small sizes); NULL
 * otherwise, for the caller to ask the system. */
void *vigil__domain_aligned(vigil_domain d, size_t align, size_t size, void *caller);
/* Fault injection for an allocation of domain d served outside its table
 * (the preload's aligned ones, vigil__domain_aligned's or the system's):
 * 1, with errno ENOMEM, when it is to fail. */
int vigil__domain_fails(vigil_domain d, size_t size, void *caller);

/* Domain d traces p, a block of size bytes the preload made around the
 * domain's allocator (over-aligned, from the system), when tracing is on
 * there; and forgets it as the preload frees it around the domain. */
void vigil__domain_note_block(vigil_domain d, void *p, size_t size, void *caller);
void vigil__domain_note_free(vigil_domain d, const void *p);

/* What is installed on domain d (below tracing, which changes no block). */
int vigil__domain_debugged(vigil_domain d);     /* a debug wrapper on top */
int vigil__domain_plain_arena(vigil_domain d);  /* the arena, unwrapped */

/* 1 with *n set when p is a healthy block of d's top allocator that can
 * say its size: the size the program asked for under the debug hooks, the
 * class size in the plain arena.  0 otherwise. */
int vigil__domain_block_size(vigil_domain d, const void *p, size_t *n);
/* p lies in one of the arena's arenas. */
int vigil__domain_arena_owns(const void *p);

#endif /* VIGIL_DOMAIN_H */
