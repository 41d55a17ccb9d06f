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
#include <stdatomic.h>
#include <stdlib.h>

#include "sysalloc.h"

/* The live-block count, in stripes on cache lines of their own, each
 * thread adding to one: a single counter, bumped by every thread's every
 * large malloc and free, made its line travel between the cores on each
 * (larson through the preload spent more there than in libc's malloc).
 * Still atomic adds, so the sum is exact. */
#define STRIPES 16
static struct {
    _Alignas(64) _Atomic size_t n;
} sys_blocks[STRIPES];
static _Atomic unsigned next_stripe;
/* The calling thread's stripe: 1 + its index, 0 until its first count. */
static __attribute__((tls_model("initial-exec"))) _Thread_local unsigned my_stripe;

/* Written once, before the first allocation, by the preload's start-up;
 * read without a lock after that. */
static struct vigil_libc_malloc libc = { malloc, calloc, realloc, free, NULL };

void vigil__sys_use(const struct vigil_libc_malloc *fns)
{
    libc = *fns;
}

static void count(long delta)
{
    unsigned i = my_stripe;
    if (__builtin_expect(i == 0, 0))
        my_stripe = i = 1 + atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) %
                            STRIPES;
    atomic_fetch_add_explicit(&sys_blocks[i - 1].n, (size_t)delta, memory_order_relaxed);
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
    for (unsigned i = 0; i < STRIPES; i++)
        n += atomic_load_explicit(&sys_blocks[i].n, memory_order_relaxed);
    return n;
}
