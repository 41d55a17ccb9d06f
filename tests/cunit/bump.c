#include "config.h"

#include <string.h>

#include "bump.h"

_Alignas(16) unsigned char bump_buf[1 << 16];
size_t bump_frees;
static size_t bump_used;

static void *bump_malloc(void *ctx, size_t n)
{
    (void)ctx;
    n = (n + 15) & ~(size_t)15;
    if (bump_used + n > sizeof bump_buf)
        return NULL;
    void *p = bump_buf + bump_used;
    bump_used += n ? n : 16;
    return p;
}

static void *bump_calloc(void *ctx, size_t n, size_t m)
{
    void *p = bump_malloc(ctx, n * m);
    if (p)
        memset(p, 0, n * m);
    return p;
}

static void *bump_realloc(void *ctx, void *p, size_t n)
{
    void *q = bump_malloc(ctx, n);
    if (q && p)
        memcpy(q, p, n);             /* the buffer is big enough to over-read */
    return q;
}

static void bump_free(void *ctx, void *p)
{
    (void)ctx;
    if (p)
        bump_frees++;
}

const vigil_allocator bump_allocator = { NULL, bump_malloc, bump_calloc, bump_realloc, bump_free };
