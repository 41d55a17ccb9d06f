/*
 * request.h - the checks every allocation entry point makes before any
 * allocator sees a request: the sizes nobody can serve, and calloc's product.
 * One home, so the domains, the arena, the debug hooks and the preload
 * refuse exactly the same requests.
 */
#ifndef VIGIL_REQUEST_H
#define VIGIL_REQUEST_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

/* Sizes above PTRDIFF_MAX cannot be served by anybody (pointer differences
 * within the block would overflow); refusing them here keeps every allocator
 * from trying a huge mapping.  Sets errno = ENOMEM when it refuses. */
static inline int vigil__impossible(size_t size)
{
    if (size > (size_t)PTRDIFF_MAX) {
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

/* calloc's nelem * elsize into *total; 0 with errno = ENOMEM when the
 * product overflows or is impossible. */
static inline int vigil__calloc_size(size_t nelem, size_t elsize, size_t *total)
{
    if (__builtin_mul_overflow(nelem, elsize, total)) {
        errno = ENOMEM;
        return 0;
    }
    return !vigil__impossible(*total);
}

#endif /* VIGIL_REQUEST_H */
