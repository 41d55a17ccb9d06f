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
    int error_exitcode;         /* VIGIL_ERROR_EXITCODE: _exit status instead
                                   of abort() after a report; 0 = abort() */
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
/* The functions the system allocator calls: malloc, calloc, realloc, free
 * by default; memalign NULL means posix_memalign.  Set before the first
 * allocation or never (the preload library points them at libc's own). */
struct vigil_libc_malloc {
    void *(*malloc)(size_t size);
    void *(*calloc)(size_t nelem, size_t elsize);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
    void *(*memalign)(size_t alignment, size_t size);
};
void vigil__sys_use(const struct vigil_libc_malloc *fns);
/* A block of the system allocator aligned to alignment (a power of two, at
 * least sizeof(void *)), counted and freed like its other blocks. */
void *vigil__sys_memalign(size_t alignment, size_t size);
/* A block for vigil's own use from the malloc the system allocator calls,
 * not counted among the program's blocks.  vigil's files call this, never
 * malloc: in the preload library malloc is vigil itself. */
void *vigil__sys_keep(size_t size);
int vigil__arena_owns(const void *p);
size_t vigil__arena_blocks(void);
/* A copy of the header of the pool holding p (p must be ours), read the way
 * the allocator reads it, so tests can look under the tools too. */
void vigil__pool_info(const void *p, struct vigil_pool *out);
/* Give the calling thread's cached blocks back to their pools now; or do
 * that and use no cache in this thread from now on. */
void vigil__thread_cache_flush(void);
void vigil__thread_cache_disable(void);
/* Settle every block this thread freed: its cache and the ASan quarantine
 * give them back to their pools (tests use it before counting pools). */
void vigil__arena_settle(void);
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
    size_t quarantined;                     /* of those, freed and waiting
                                               in the ASan quarantine */
    size_t cached;                          /* free blocks in thread caches,
                                               counted in class_avail */
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
/* The size the program asked for, of a healthy block made by the debug
 * wrapper a (for the preload's malloc_usable_size).  0 when a is not a
 * debug wrapper or the block is damaged: freeing it will say how. */
int vigil__debug_block_size(const vigil_allocator *a, const void *ptr, size_t *n);

#endif /* VIGIL_INTERNAL_H */
