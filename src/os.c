/*
 * os.c - where arena memory and vigil's bookkeeping memory come from: mmap
 * and munmap, unless the program installs its own arena source with
 * vigil_set_arena_allocator().  See os.h.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os.h"

/* ---- the registry of vigil's own mappings ----
 *
 * Every mapping made here is remembered until it is unmapped, so that a
 * leak scan can leave vigil's memory out of the program's roots: the
 * arenas (scanned block by block, only where live blocks are reached) and
 * the bookkeeping tables, some of which hold the address of every live
 * block (tracing's table) and would make every block look reachable.  The
 * registry's own array is mapped (and grown by doubling) here too, and is
 * a registered region itself.
 *
 * The bounds are kept complemented: an arena's start is the address of
 * its first block whenever the first pool's header lies at the end of its
 * page, and memcheck, which scans vigil's mappings for pointers, would
 * take the word for a pointer to that block and call a leak of it still
 * reachable (no word vigil keeps may equal a block's address). */
struct region {
    uintptr_t start, end;       /* hidden(): complemented */
};

static inline uintptr_t hidden(uintptr_t a)
{
    return ~a;
}

static inline struct region region_of(uintptr_t start, uintptr_t end)
{
    return (struct region){ hidden(start), hidden(end) };
}

static pthread_mutex_t regions_lock = PTHREAD_MUTEX_INITIALIZER;
static struct region *regions;
static size_t nregions, regions_cap;
static atomic_size_t regions_lost;

/* ---- the tests' failures (os.h: vigil__os_fail) ---- */

static atomic_uint fail_kinds;
static pthread_mutex_t fail_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned long fail_skip, fail_left, fail_count;

void vigil__os_fail(unsigned kinds, unsigned long after, unsigned long times)
{
    pthread_mutex_lock(&fail_lock);
    fail_skip = after;
    fail_left = times ? times : ~0UL;
    fail_count = 0;
    atomic_store(&fail_kinds, kinds);
    pthread_mutex_unlock(&fail_lock);
}

unsigned long vigil__os_failed(void)
{
    pthread_mutex_lock(&fail_lock);
    unsigned long n = fail_count;
    pthread_mutex_unlock(&fail_lock);
    return n;
}

__attribute__((noinline, cold))
static int armed_fails(void)
{
    int fails = 0;
    pthread_mutex_lock(&fail_lock);
    if (fail_skip)
        fail_skip--;
    else if (fail_left) {
        if (fail_left != ~0UL)
            fail_left--;
        fail_count++;
        fails = 1;
    }
    pthread_mutex_unlock(&fail_lock);
    return fails;
}

/* One predictable branch where no test armed the hook. */
static inline int test_fails(unsigned kind)
{
    return __builtin_expect((atomic_load_explicit(&fail_kinds, memory_order_relaxed) & kind) != 0,
                            0) && armed_fails();
}

static void *raw_map(size_t size, unsigned kind)
{
    if (test_fails(kind))
        return NULL;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* Room for one more region; under regions_lock.  The array is a region
 * of its own: growing moves that entry to the new array. */
static int regions_reserve(void)
{
    if (nregions < regions_cap)
        return 1;
    size_t cap = regions_cap ? 2 * regions_cap : 4096 / sizeof(struct region);
    struct region *grown = raw_map(cap * sizeof *grown, VIGIL_OS_REGISTRY);
    if (!grown)
        return 0;
    struct region self = region_of((uintptr_t)grown, (uintptr_t)grown + cap * sizeof *grown);
    if (regions) {
        memcpy(grown, regions, nregions * sizeof *grown);
        for (size_t i = 0; i < nregions; i++)
            if (hidden(grown[i].start) == (uintptr_t)regions)
                grown[i] = self;
        munmap(regions, regions_cap * sizeof *regions);
    } else {
        grown[nregions++] = self;
    }
    regions = grown;
    regions_cap = cap;
    return nregions < regions_cap;
}

static void register_region(void *p, size_t size)
{
    pthread_mutex_lock(&regions_lock);
    if (regions_reserve())
        regions[nregions++] = region_of((uintptr_t)p, (uintptr_t)p + size);
    else
        atomic_fetch_add_explicit(&regions_lost, 1, memory_order_relaxed);
    pthread_mutex_unlock(&regions_lock);
}

static void forget_region(void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p, b = a + size;
    pthread_mutex_lock(&regions_lock);
    for (size_t i = 0; i < nregions; i++) {
        uintptr_t start = hidden(regions[i].start), end = hidden(regions[i].end);
        if (end <= a || start >= b)
            continue;
        /* An unmap of part of a region (never done by vigil, kept exact
         * anyway): what is left of it stays. */
        if (start < a && end > b) {
            regions[i] = region_of(start, a);
            if (regions_reserve())
                regions[nregions++] = region_of(b, end);
        } else if (start < a) {
            regions[i] = region_of(start, a);
        } else if (end > b) {
            regions[i] = region_of(b, end);
        } else {
            regions[i--] = regions[--nregions];
        }
    }
    pthread_mutex_unlock(&regions_lock);
}

size_t vigil__os_regions(uintptr_t *starts, uintptr_t *ends, size_t max)
{
    pthread_mutex_lock(&regions_lock);
    size_t n = nregions;
    for (size_t i = 0; i < n && i < max; i++) {
        starts[i] = hidden(regions[i].start);
        ends[i] = hidden(regions[i].end);
    }
    pthread_mutex_unlock(&regions_lock);
    return n;
}

void *vigil__os_map_unlisted(size_t size)
{
    return raw_map(size, VIGIL_OS_UNLISTED);
}

void vigil__os_unmap_unlisted(void *p, size_t size)
{
    if (p)
        munmap(p, size);
}

size_t vigil__os_regions_lost(void)
{
    return atomic_load_explicit(&regions_lost, memory_order_relaxed);
}

static void *map_listed(size_t size, unsigned kind)
{
    void *p = raw_map(size, kind);
    if (p)
        register_region(p, size);
    return p;
}

static void *os_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return map_listed(size, VIGIL_OS_ARENA);
}

static void os_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    forget_region(ptr, size);
    munmap(ptr, size);
}

static vigil_arena_allocator source = { NULL, os_alloc, os_free };
static pthread_mutex_t source_lock = PTHREAD_MUTEX_INITIALIZER;

void vigil__arena_source(vigil_arena_allocator *out)
{
    pthread_mutex_lock(&source_lock);
    *out = source;
    pthread_mutex_unlock(&source_lock);
}

void vigil_get_arena_allocator(vigil_arena_allocator *out)
{
    vigil__arena_source(out);
}

void vigil_set_arena_allocator(const vigil_arena_allocator *alloc)
{
    pthread_mutex_lock(&source_lock);
    source = *alloc;
    pthread_mutex_unlock(&source_lock);
}

void *vigil__os_map(size_t size)
{
    return map_listed(size, VIGIL_OS_BOOKKEEPING);
}

void *vigil__os_map_once(void *_Atomic *slot, size_t size)
{
    void *p = atomic_load_explicit(slot, memory_order_acquire);
    if (p)
        return p;
    void *fresh = vigil__os_map(size);
    if (!fresh)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(slot, &p, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    vigil__os_unmap(fresh, size);       /* another thread's came first */
    return p;
}

void vigil__os_unmap(void *p, size_t size)
{
    if (p)
        os_free(NULL, p, size);
}

size_t vigil__os_page_size(void)
{
    static _Atomic size_t cached;
    size_t ps = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!ps) {
        long v = sysconf(_SC_PAGESIZE);
        ps = v > 0 ? (size_t)v : (size_t)VIGIL_MIN_PAGE;
        atomic_store_explicit(&cached, ps, memory_order_relaxed);
    }
    return ps;
}
