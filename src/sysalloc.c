/*
 * sysalloc.c - the system allocator as a vigil allocator: the raw domain's
 * default, and the mem/obj domains' under VIGIL_MALLOC=malloc.  It adds what
 * the contract asks beyond libc: size 0 gives a unique block (glibc's
 * realloc(p, 0) would free p and return NULL), and a live-block count.
 *
 * "The system allocator" is whatever malloc the program links to, called by
 * its public name, so that ASan's and memcheck's replacements see every raw
 * block.  The one exception is the preload library, which *is* the
 * program's malloc: calling malloc from there would come back to vigil, so
 * it points these functions at libc's own entry points before anything is
 * allocated (vigil__sys_use).
 */
#include "config.h"

#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "sysalloc.h"
#include "vigil/annotate.h"

/* The live-block count in shards, a cache line each: one shared counter
 * that every thread's malloc and free write would bounce between the
 * cores (VIGIL_MALLOC=malloc_debug sends every block here).  A thread
 * keeps to the shard it was given at its first count. */
#define SHARDS 64
static struct {
    _Alignas(64) _Atomic size_t n;
} sys_blocks[SHARDS];
static atomic_uint next_shard;
static __attribute__((tls_model("initial-exec"))) _Thread_local unsigned my_shard;  /* +1; 0: none yet */

/* Written once, before the first allocation, by the preload's start-up;
 * read without a lock after that. */
static struct vigil_libc_malloc libc = { malloc, calloc, realloc, free, NULL,
                                           malloc_usable_size };

void vigil__sys_use(const struct vigil_libc_malloc *fns)
{
    libc = *fns;
}

static void count(long delta)
{
    unsigned k = my_shard;
    if (__builtin_expect(!k, 0))
        my_shard = k = atomic_fetch_add_explicit(&next_shard, 1, memory_order_relaxed) % SHARDS + 1;
    atomic_fetch_add_explicit(&sys_blocks[k - 1].n, (size_t)delta, memory_order_relaxed);
}

static void *sys_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = libc.malloc(size ? size : 1);
    if (p)
        count(1);
    return p;
}

static void *sys_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    if (nelem == 0 || elsize == 0)
        nelem = elsize = 1;
    void *p = libc.calloc(nelem, elsize);
    if (p)
        count(1);
    return p;
}

static void *sys_realloc(void *ctx, void *ptr, size_t size)
{
    if (!ptr)
        return sys_malloc(ctx, size);
    return libc.realloc(ptr, size ? size : 1);
}

static void sys_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr) {
        libc.free(ptr);
        count(-1);
    }
}

void *vigil__sys_memalign(size_t alignment, size_t size)
{
    void *p = NULL;
    if (libc.memalign) {
        p = libc.memalign(alignment, size ? size : 1);
    } else {
        int err = posix_memalign(&p, alignment, size ? size : 1);
        if (err) {
            errno = err;
            p = NULL;
        }
    }
    if (p)
        count(1);
    return p;
}

/* glibc's malloc under its internal name: weak, so a C library without
 * it leaves it NULL. */
extern void *__libc_malloc(size_t size) __attribute__((weak));

/* When the malloc called is glibc's own, its size word is read where
 * glibc keeps it, before the block: malloc_usable_size reads the next
 * block's header too (to tell a freed block), another cache line, and a
 * caller here holds a live block.  The low bits are flags; a block with a
 * mapping of its own has no next block's first word to use. */
size_t vigil__sys_usable(void *ptr)
{
    /* Under Valgrind the same address is its replacement's, whose blocks
     * have no such word. */
    static atomic_int layout;              /* 0: not known yet, 1: glibc's, 2: other */
    int l = atomic_load_explicit(&layout, memory_order_relaxed);
    if (__builtin_expect(!l, 0)) {
        l = __libc_malloc && libc.malloc == __libc_malloc && !VIGIL_RUNNING_ON_VALGRIND() ? 1 : 2;
        atomic_store_explicit(&layout, l, memory_order_relaxed);
    }
    if (l == 1) {
        size_t head = ((const size_t *)ptr)[-1];
        return (head & ~(size_t)7) - (head & 2 ? 2 : 1) * sizeof(size_t);
    }
    return libc.usable_size(ptr);
}

void *vigil__sys_keep(size_t size)
{
    return libc.malloc(size);
}

const vigil_allocator vigil__sys_allocator = {
    NULL, sys_malloc, sys_calloc, sys_realloc, sys_free,
};

size_t vigil__sys_blocks(void)
{
    size_t n = 0;
    for (unsigned i = 0; i < SHARDS; i++)
        n += atomic_load_explicit(&sys_blocks[i].n, memory_order_relaxed);
    return n;
}
