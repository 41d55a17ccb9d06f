/* test_os.c - the arena source: the default, a replacement that records
 * what it gives, one that gives memory not aligned to pages. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "child.h"
#include "tcache.h"
#include "suites.h"

static const vigil_allocator *A = &vigil__arena_allocator;

static void test_default_source(void)
{
    vigil_arena_allocator src;
    vigil_get_arena_allocator(&src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src.alloc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src.free);
    void *p = src.alloc(src.ctx, VIGIL_ARENA_SIZE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL((uintptr_t)p % VIGIL_POOL_SIZE, 0);
    memset(p, 1, VIGIL_ARENA_SIZE);
    src.free(src.ctx, p, VIGIL_ARENA_SIZE);
}

/* A source that records each mapping and may offset it by 16 bytes. */
#define MAXMAP 64
struct recorder {
    size_t offset;
    int allocs, frees, bad_frees;
    void *given[MAXMAP];
    void *raw[MAXMAP];
};

static void *rec_alloc(void *ctx, size_t size)
{
    struct recorder *r = ctx;
    if (r->allocs >= MAXMAP || size != VIGIL_ARENA_SIZE)
        return NULL;
    void *m = mmap(NULL, size + VIGIL_POOL_SIZE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    r->raw[r->allocs] = m;
    r->given[r->allocs] = (char *)m + r->offset;
    return r->given[r->allocs++];
}

static void rec_free(void *ctx, void *p, size_t size)
{
    struct recorder *r = ctx;
    for (int i = 0; i < r->allocs; i++)
        if (r->given[i] == p && size == VIGIL_ARENA_SIZE) {
            munmap(r->raw[i], size + VIGIL_POOL_SIZE);
            r->given[i] = NULL;
            r->frees++;
            return;
        }
    r->bad_frees++;
}

static struct recorder rec;

static void custom_source(void *arg)
{
    rec.offset = *(size_t *)arg;
    vigil_arena_allocator mine = { &rec, rec_alloc, rec_free }, back;
    vigil_set_arena_allocator(&mine);
    vigil_get_arena_allocator(&back);
    if (back.ctx != &rec || back.alloc != rec_alloc || back.free != rec_free) exit(1);

    struct vigil_arena_stats st0, st1, st2;
    vigil__arena_stats(&st0);
    size_t n = 4 * (VIGIL_ARENA_SIZE / 64);       /* 4 MiB of 64-byte blocks */
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i] = A->malloc(A->ctx, 64);
        if ((uintptr_t)v[i] % 16) exit(2);
        memset(v[i], 0x77, 64);
    }
    vigil__arena_stats(&st1);
    if (rec.allocs < 3) exit(3);
    /* Arenas from an unaligned source lose one pool to alignment. */
    if (rec.offset && st1.alignment_bytes - st0.alignment_bytes !=
                      (size_t)rec.allocs * VIGIL_ARENA_SIZE - (size_t)rec.allocs * (VIGIL_POOLS_PER_ARENA - 1) * VIGIL_POOL_SIZE)
        exit(4);
    if (!rec.offset && st1.alignment_bytes != st0.alignment_bytes) exit(5);
    for (size_t i = 0; i < n; i++)
        A->free(A->ctx, v[i]);
    free(v);
    vigil__arena_settle();
    vigil__arena_stats(&st2);
    /* Given back to the source that gave them, with their own address and
     * size; one spare may stay. */
    if (rec.bad_frees) exit(6);
    if (rec.frees < rec.allocs - 1) exit(7);
}

static void test_custom_source_aligned(void)
{
    size_t offset = 0;
    struct child_result r;
    run_child(custom_source, &offset, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
}

static void test_custom_source_unaligned(void)
{
    size_t offset = 16;
    struct child_result r;
    run_child(custom_source, &offset, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
}

void register_os_suite(void)
{
    static const struct test_case tests[] = {
        { "default source maps page-aligned memory", test_default_source },
        { "custom source, page-aligned", test_custom_source_aligned },
        { "custom source, unaligned", test_custom_source_unaligned },
        { NULL, NULL },
    };
    add_suite("os", tests);
}
