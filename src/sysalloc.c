/*
 * sysalloc.c - the system allocator as a vigil allocator: the raw domain's
 * default, and the mem/obj domains' under VIGIL_MALLOC=malloc.  It adds what
 * the contract asks beyond libc: size 0 gives a unique block (glibc's
 * realloc(p, 0) would free p and return NULL), and a live-block count.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "internal.h"

static _Atomic size_t sys_blocks;

static void count(long delta)
{
    atomic_fetch_add_explicit(&sys_blocks, (size_t)delta, memory_order_relaxed);
}

static void *sys_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = malloc(size ? size : 1);
    if (p)
        count(1);
    return p;
}

static void *sys_calloc(void *ctx, size_t nelem, size_t elsize)
{
    (void)ctx;
    if (nelem == 0 || elsize == 0)
        nelem = elsize = 1;
    void *p = calloc(nelem, elsize);
    if (p)
        count(1);
    return p;
}

static void *sys_realloc(void *ctx, void *ptr, size_t size)
{
    if (!ptr)
        return sys_malloc(ctx, size);
    return realloc(ptr, size ? size : 1);
}

static void sys_free(void *ctx, void *ptr)
{
    (void)ctx;
    if (ptr) {
        free(ptr);
        count(-1);
    }
}

const vigil_allocator vigil__sys_allocator = {
    NULL, sys_malloc, sys_calloc, sys_realloc, sys_free,
};

size_t vigil__sys_blocks(void)
{
    return atomic_load_explicit(&sys_blocks, memory_order_relaxed);
}
