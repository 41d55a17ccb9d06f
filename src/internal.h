/*
 * internal.h - what the library's files share and the world does not see.
 * Everything declared here has hidden visibility (-fvisibility=hidden).
 */
#ifndef VIGIL_INTERNAL_H
#define VIGIL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "vigil.h"
#include "arena.h"

/* ---- configuration (config.c: the only reader of the environment) ---- */

enum vigil_mode {
    VIGIL_MODE_DEFAULT,
    VIGIL_MODE_DEBUG,
    VIGIL_MODE_ARENA,
    VIGIL_MODE_ARENA_DEBUG,
    VIGIL_MODE_MALLOC,
    VIGIL_MODE_MALLOC_DEBUG,
};

struct vigil_config {
    enum vigil_mode mode;
    int mode_set;               /* VIGIL_MALLOC named a valid mode */
    int mallocstats;            /* VIGIL_MALLOCSTATS non-empty */
    int running_on_valgrind;
    int abort_on_error;         /* VIGIL_ABORT, default 1 */
    size_t quarantine;          /* VIGIL_QUARANTINE, bytes */
    unsigned long long break_serial; /* VIGIL_BREAK_SERIAL, 0 = none */
};

#define VIGIL_ACCEPTED_MODES "default, debug, arena, arena_debug, malloc, malloc_debug"
#define VIGIL_DEFAULT_QUARANTINE ((size_t)4 << 20)

const struct vigil_config *vigil__config(void);
/* Pure parsers, so the tests can reach every branch in one process. */
int vigil__parse_mode(const char *s, enum vigil_mode *out);
int vigil__parse_size(const char *s, size_t *out);

/* ---- domains (domain.c) ---- */

void vigil__ensure_init(void);
/* Return address of the vigil_* entry point now running in this thread. */
extern __attribute__((tls_model("initial-exec"))) _Thread_local void *vigil__caller;
/* The current table of a domain, for allocators that delegate (the arena
 * hands large requests to raw). */
const vigil_allocator *vigil__domain(vigil_domain d);

/* ---- base allocators ---- */

extern const vigil_allocator vigil__arena_allocator;   /* arena.c */
extern const vigil_allocator vigil__sys_allocator;     /* sysalloc.c */
size_t vigil__sys_blocks(void);
int vigil__arena_owns(const void *p);
size_t vigil__arena_blocks(void);
/* A copy of the header of the pool holding p (p must be ours), read the way
 * the allocator reads it, so tests can look under the tools too. */
void vigil__pool_info(const void *p, struct vigil_pool *out);
int vigil__arena_in_use(void);          /* domain.c: some domain uses it */

struct vigil_arena_stats {
    size_t class_pools[VIGIL_NB_CLASSES];
    size_t class_blocks[VIGIL_NB_CLASSES];  /* handed out */
    size_t class_avail[VIGIL_NB_CLASSES];   /* free or not yet carved */
    size_t arenas_allocated;                /* since start */
    size_t arenas_reclaimed;                /* given back to the source */
    size_t arenas_highwater;
    size_t arenas_current;
    size_t free_pools;                      /* pools holding no block */
    size_t alignment_bytes;                 /* lost rounding arenas to pools */
    size_t blocks;                          /* sum of class_blocks */
};
void vigil__arena_stats(struct vigil_arena_stats *out);

/* ---- arena source (os.c) ---- */

void vigil__arena_source(vigil_arena_allocator *out);
void *vigil__os_map(size_t size);        /* NULL on failure */

/* ---- debug hooks (debug.c) ---- */

/* Wrap domain d's current allocator, unless it is already wrapped. */
void vigil__debug_wrap(vigil_domain d);
/* When a is a debug wrapper, store what it wraps in inner and return 1. */
int vigil__debug_unwrap(const vigil_allocator *a, vigil_allocator *inner);

/* ---- fork safety (arena.c) ---- */

void vigil__arena_atfork_prepare(void);
void vigil__arena_atfork_parent(void);
void vigil__arena_atfork_child(void);

#endif /* VIGIL_INTERNAL_H */
