/*
 * os.c - where arena memory and vigil's bookkeeping memory come from: mmap
 * and munmap, unless the program installs its own arena source with
 * vigil_set_arena_allocator().  See os.h.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

#include "os.h"

static void *os_alloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static void os_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
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
    return os_alloc(NULL, size);
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
