/*
 * domain.c - the three domains: which allocator each uses, and the public
 * entry points that dispatch to it.
 *
 * The tables are set up at first use from VIGIL_MALLOC.  They are read
 * without a lock on every call, so vigil_set_allocator() belongs before other
 * threads allocate, as with PEP 445's PyMem_SetAllocator().
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "tcache.h"

static vigil_allocator domains[3];

/* The application's call site of the current vigil_* call, for the debug
 * reports.  initial-exec: one store, no __tls_get_addr on the fast path. */
__attribute__((tls_model("initial-exec"))) _Thread_local void *vigil__caller;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int ready;
/* init() comes back through vigil_get/set_allocator when it installs the
 * debug hooks; that thread must not wait on the pthread_once it is inside. */
static __attribute__((tls_model("initial-exec"))) _Thread_local int initializing;

static void stats_at_exit(void)
{
    vigil_print_stats(stderr);
}

static void init(void)
{
    initializing = 1;
    const struct vigil_config *c = vigil__config();
    enum vigil_mode mode = c->mode;

    /* Unset under Valgrind: plain malloc, so memcheck sees every block with
     * its own redzones; an explicit "arena" keeps the annotated arena. */
    if (c->running_on_valgrind && !c->mode_set)
        mode = VIGIL_MODE_MALLOC;
    if (c->running_on_valgrind && mode == VIGIL_MODE_DEBUG)
        mode = VIGIL_MODE_MALLOC_DEBUG;

    const vigil_allocator *base = &vigil__arena_allocator;
    if (mode == VIGIL_MODE_MALLOC || mode == VIGIL_MODE_MALLOC_DEBUG)
        base = &vigil__sys_allocator;
    domains[VIGIL_DOMAIN_RAW] = vigil__sys_allocator;
    domains[VIGIL_DOMAIN_MEM] = *base;
    domains[VIGIL_DOMAIN_OBJ] = *base;

    if (mode == VIGIL_MODE_DEBUG || mode == VIGIL_MODE_ARENA_DEBUG ||
        mode == VIGIL_MODE_MALLOC_DEBUG)
        for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
            vigil__debug_wrap((vigil_domain)d);

    atomic_store_explicit(&ready, 1, memory_order_release);
    initializing = 0;

    /* Last: atexit may allocate, and the tables must be usable by then. */
    if (c->mallocstats)
        atexit(stats_at_exit);
}

__attribute__((noinline, cold))
static void init_once(void)
{
    if (!initializing)
        pthread_once(&once, init);
}

void vigil__ensure_init(void)
{
    if (__builtin_expect(!atomic_load_explicit(&ready, memory_order_acquire), 0))
        init_once();
}

const vigil_allocator *vigil__domain(vigil_domain d)
{
    vigil__ensure_init();
    return &domains[d];
}

static int valid_domain(vigil_domain d)
{
    return d == VIGIL_DOMAIN_RAW || d == VIGIL_DOMAIN_MEM || d == VIGIL_DOMAIN_OBJ;
}

void vigil_get_allocator(vigil_domain d, vigil_allocator *out)
{
    vigil__ensure_init();
    if (valid_domain(d))
        *out = domains[d];
}

void vigil_set_allocator(vigil_domain d, const vigil_allocator *alloc)
{
    vigil__ensure_init();
    if (valid_domain(d))
        domains[d] = *alloc;
}

/* ---- dispatch ---- */

/* Sizes above PTRDIFF_MAX cannot be served by anybody; refuse them before
 * any allocator sees them, so none tries a huge mapping. */
static inline int impossible(size_t size)
{
    if (size > (size_t)PTRDIFF_MAX) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

static inline int calloc_impossible(size_t nelem, size_t elsize)
{
    size_t total;
    if (__builtin_mul_overflow(nelem, elsize, &total))
        total = SIZE_MAX;
    return impossible(total);
}

/* Everything but a thread-cache hit: the caller is recorded for the debug
 * reports, and the installed table is called.  Out of line, so the entry
 * points below stay frame-less and a hit never touches vigil__caller. */
__attribute__((noinline))
static void *domain_malloc(vigil_domain d, size_t size, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    if (impossible(size))
        return NULL;
    return domains[d].malloc(domains[d].ctx, size);
}

__attribute__((noinline))
static void domain_free(vigil_domain d, void *ptr, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    domains[d].free(domains[d].ctx, ptr);
}

/* The tables start zeroed, so "the arena is installed" also says that
 * init() has run: the hit needs no other test.  A hit is what the arena's
 * own table function would do first (tcache.h). */
#define DEFINE_DOMAIN(name, d)                                            \
    void *vigil_##name##_malloc(size_t size)                              \
    {                                                                     \
        if (__builtin_expect(domains[d].malloc == vigil__arena_malloc, 1)) { \
            void *p = vigil__tcache_pop(size);                            \
            if (__builtin_expect(p != NULL, 1))                           \
                return p;                                                 \
        }                                                                 \
        return domain_malloc(d, size, __builtin_return_address(0));       \
    }                                                                     \
    void *vigil_##name##_calloc(size_t nelem, size_t elsize)              \
    {                                                                     \
        vigil__ensure_init();                                             \
        vigil__caller = __builtin_return_address(0);                      \
        if (calloc_impossible(nelem, elsize))                             \
            return NULL;                                                  \
        return domains[d].calloc(domains[d].ctx, nelem, elsize);          \
    }                                                                     \
    void *vigil_##name##_realloc(void *ptr, size_t size)                  \
    {                                                                     \
        vigil__ensure_init();                                             \
        vigil__caller = __builtin_return_address(0);                      \
        if (impossible(size))                                             \
            return NULL;                                                  \
        return domains[d].realloc(domains[d].ctx, ptr, size);             \
    }                                                                     \
    void vigil_##name##_free(void *ptr)                                   \
    {                                                                     \
        if (__builtin_expect(domains[d].free == vigil__arena_free, 1) &&  \
            vigil__tcache_push(ptr))                                      \
            return;                                                       \
        domain_free(d, ptr, __builtin_return_address(0));                 \
    }

DEFINE_DOMAIN(raw, VIGIL_DOMAIN_RAW)
DEFINE_DOMAIN(mem, VIGIL_DOMAIN_MEM)
DEFINE_DOMAIN(obj, VIGIL_DOMAIN_OBJ)

/* ---- what is installed ---- */

static int same(const vigil_allocator *a, const vigil_allocator *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

/* The base under an optional debug wrapper; *debug says whether it had one. */
static vigil_allocator base_of(const vigil_allocator *a, int *debug)
{
    vigil_allocator inner;
    *debug = vigil__debug_unwrap(a, &inner);
    return *debug ? inner : *a;
}

const char *vigil_allocator_name(void)
{
    vigil__ensure_init();
    int dr, dm, dob;
    vigil_allocator raw = base_of(&domains[VIGIL_DOMAIN_RAW], &dr);
    vigil_allocator mem = base_of(&domains[VIGIL_DOMAIN_MEM], &dm);
    vigil_allocator obj = base_of(&domains[VIGIL_DOMAIN_OBJ], &dob);
    if (!same(&raw, &vigil__sys_allocator) || dr != dm || dm != dob)
        return NULL;
    if (same(&mem, &vigil__arena_allocator) && same(&obj, &vigil__arena_allocator))
        return dm ? "arena_debug" : "arena";
    if (same(&mem, &vigil__sys_allocator) && same(&obj, &vigil__sys_allocator))
        return dm ? "malloc_debug" : "malloc";
    return NULL;
}

int vigil__arena_in_use(void)
{
    vigil__ensure_init();
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        int dbg;
        vigil_allocator a = base_of(&domains[d], &dbg);
        if (same(&a, &vigil__arena_allocator))
            return 1;
    }
    return 0;
}

size_t vigil_allocated_blocks(void)
{
    vigil__ensure_init();
    return vigil__arena_blocks() + vigil__sys_blocks();
}
