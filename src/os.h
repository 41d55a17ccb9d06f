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

/* The mapping of size bytes installed at *slot, mapped by the first
 * caller that finds none (vigil__os_map); racing callers all get the one
 * that was installed, the losers' own unmapped.  NULL when none is
 * installed and none could be mapped. */
void *vigil__os_map_once(void *_Atomic *slot, size_t size);

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

/* For the tests of vigil's own failures (tests/cunit/test_fail.c): the
 * mappings of the kinds given fail as mmap does when memory runs out;
 * `after` more of them succeed first, then `times` fail (0: every one,
 * until the hook is set again; kinds 0 disarms it).  Hidden like all of
 * vigil but its API, so only what links vigil's objects reaches it; where
 * it is not armed a mapping pays one predictable branch. */
enum vigil_os_kind {
    VIGIL_OS_BOOKKEEPING = 1,   /* vigil__os_map */
    VIGIL_OS_ARENA = 2,         /* the default arena source */
    VIGIL_OS_REGISTRY = 4,      /* the registry's own array */
    VIGIL_OS_UNLISTED = 8,      /* vigil__os_map_unlisted */
};
void vigil__os_fail(unsigned kinds, unsigned long after, unsigned long times);
/* Mappings the hook made fail since it was last set. */
unsigned long vigil__os_failed(void);

/* The system page size (sysconf), read once. */
size_t vigil__os_page_size(void);

#endif /* VIGIL_OS_H */
