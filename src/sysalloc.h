/*
 * sysalloc.h - the system allocator as a vigil allocator: the raw domain's
 * default, the mem and obj domains' under VIGIL_MALLOC=malloc, and where the
 * arena sends large requests.
 */
#ifndef VIGIL_SYSALLOC_H
#define VIGIL_SYSALLOC_H

#include <stddef.h>

#include "vigil.h"

extern const vigil_allocator vigil__sys_allocator;
/* Its live blocks (a count, relaxed). */
size_t vigil__sys_blocks(void);

/* The functions the system allocator calls: malloc, calloc, realloc, free
 * by default; memalign NULL means posix_memalign; usable_size
 * malloc_usable_size.  Set before the first allocation or never (the preload library
 * points them at libc's own). */
struct vigil_libc_malloc {
    void *(*malloc)(size_t size);
    void *(*calloc)(size_t nelem, size_t elsize);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
    void *(*memalign)(size_t alignment, size_t size);
    size_t (*usable_size)(void *ptr);
};
void vigil__sys_use(const struct vigil_libc_malloc *fns);
/* The usable size of a block of the system allocator (malloc_usable_size). */
size_t vigil__sys_usable(void *ptr);
/* A block of the system allocator aligned to alignment (a power of two, at
 * least sizeof(void *)), counted and freed like its other blocks. */
void *vigil__sys_memalign(size_t alignment, size_t size);
/* A block for vigil's own use from the malloc the system allocator calls,
 * not counted among the program's blocks.  vigil's files call this, never
 * malloc: in the preload library malloc is vigil itself. */
void *vigil__sys_keep(size_t size);

#endif /* VIGIL_SYSALLOC_H */
