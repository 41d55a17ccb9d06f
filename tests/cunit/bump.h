/* bump.h - a wholly custom allocator for the tests that install one: a bump
 * allocator on a static buffer.  Its free only counts. */
#ifndef VIGIL_TEST_BUMP_H
#define VIGIL_TEST_BUMP_H

#include <stddef.h>
#include "vigil.h"

extern unsigned char bump_buf[1 << 16];
extern size_t bump_frees;              /* frees of non-NULL pointers */
extern const vigil_allocator bump_allocator;

static inline int in_bump(const void *p)
{
    const unsigned char *c = p;
    return c >= bump_buf && c < bump_buf + sizeof bump_buf;
}

#endif
