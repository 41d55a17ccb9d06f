/*
 * os.h - the only place vigil maps or unmaps memory: the arena source (the
 * default one, and the replaceable table of vigil_set_arena_allocator), and
 * bookkeeping memory for vigil's own tables.
 *
 * Bookkeeping memory comes from mmap, never from a domain: the domains are
 * what the debug hooks and the tools are looking at, and one of them may be
 * the caller; and an mmap'd page is not a heap block, so no leak checker
 * counts it.
 */
#ifndef VIGIL_OS_H
#define VIGIL_OS_H

#include <stddef.h>
#include <stdint.h>

#include "vigil.h"

/* The smallest page any target has: two addresses in one 4 KiB frame are in
 * one page whatever the real page size is. */
#define VIGIL_MIN_PAGE ((uintptr_t)4096)

/* The arena source now installed (mmap and munmap by default). */
void vigil__arena_source(vigil_arena_allocator *out);

/* Zeroed, page-aligned memory for vigil's own use; NULL on failure. */
void *vigil__os_map(size_t size);
void vigil__os_unmap(void *p, size_t size);

/* vigil's own mappings (those made here and not unmapped since): up to
 * max of them into starts/ends; the number there are.  For a leak scan,
 * which leaves them out of the program's roots.  A mapping the registry
 * could not record (no memory for it) is counted in vigil__os_regions_lost. */
size_t vigil__os_regions(uintptr_t *starts, uintptr_t *ends, size_t max);
size_t vigil__os_regions_lost(void);

/* A mapping the registry does not list, and no lock taken: for a leak
 * scan's own buffers while the other threads are stopped (one of them may
 * hold the registry's lock).  The scan leaves them out of its roots itself. */
void *vigil__os_map_unlisted(size_t size);
void vigil__os_unmap_unlisted(void *p, size_t size);

/* The system page size (sysconf), read once. */
size_t vigil__os_page_size(void);

#endif /* VIGIL_OS_H */
