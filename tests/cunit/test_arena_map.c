/* test_arena_map.c - the table of the 1 MiB regions that hold arenas,
 * through which a free turns away another allocator's pointer without
 * reading its page: exact for one region a slot, "maybe" for every
 * address of a slot that several share, until the slot empties. */
#include "config.h"

#include <stdint.h>
#include <sys/mman.h>

#include "arena_map.h"
#include "arena_tools.h"
#include "heap.h"
#include "vigil.h"
#include "vigil/annotate.h"
#include "suites.h"

#define MiB ((uintptr_t)1 << 20)
#define SLOT_SPAN ((uintptr_t)VIGIL_REGION_SLOTS << VIGIL_REGION_SHIFT)   /* 4 GiB */

/* A fake arena address whose region's slot and the next one no arena
 * uses: the table is the process's. */
static uintptr_t unused_base(void)
{
    for (uintptr_t r = 0x7000000; ; r += 2) {
        uintptr_t a = atomic_load(&vigil__arena_regions[r % VIGIL_REGION_SLOTS]);
        uintptr_t b = atomic_load(&vigil__arena_regions[(r + 1) % VIGIL_REGION_SLOTS]);
        if (!a && !b)
            return r << VIGIL_REGION_SHIFT;
    }
}

static void test_regions(void)
{
    vigil__heap_lock();
    uintptr_t a = unused_base();
    const char *p = (const char *)a;
    CU_ASSERT_FALSE(vigil__arena_region_maybe(p));
    vigil__arena_regions_add(a);                       /* aligned: one region */
    CU_ASSERT_TRUE(vigil__arena_region_maybe(p));
    CU_ASSERT_TRUE(vigil__arena_region_maybe(p + MiB - 1));
    CU_ASSERT_FALSE(vigil__arena_region_maybe(p + MiB));
    CU_ASSERT_FALSE(vigil__arena_region_maybe(p + SLOT_SPAN));   /* same slot, other region */
    /* Unaligned, sharing the first region: two regions. */
    vigil__arena_regions_add(a + MiB / 2);
    CU_ASSERT_TRUE(vigil__arena_region_maybe(p + MiB + 4096));
    vigil__arena_regions_remove(a);
    CU_ASSERT_TRUE(vigil__arena_region_maybe(p));                /* still the other's */
    /* Another region on the same slot: every address there is a maybe. */
    vigil__arena_regions_add(a + SLOT_SPAN);
    CU_ASSERT_TRUE(vigil__arena_region_maybe(p + SLOT_SPAN));
    CU_ASSERT_TRUE(vigil__arena_region_maybe(p + 2 * SLOT_SPAN));
    vigil__arena_regions_remove(a + SLOT_SPAN);
    vigil__arena_regions_remove(a + MiB / 2);
    CU_ASSERT_FALSE(vigil__arena_region_maybe(p));               /* emptied */
    CU_ASSERT_FALSE(vigil__arena_region_maybe(p + MiB + 4096));
    vigil__heap_unlock();
}

/* The arena's own blocks are still its own, and a system block is not. */
static void test_owns(void)
{
    void *small = vigil_mem_malloc(64), *large = vigil_mem_malloc(4000);
    CU_ASSERT_TRUE(vigil__arena_owns(small) || VIGIL_RUNNING_ON_VALGRIND());
    CU_ASSERT_FALSE(vigil__arena_owns(large));
    vigil_mem_free(small);
    vigil_mem_free(large);
}

/* The inline check refuses a pointer outside the arenas' span without
 * reading its page: a page just past either end of the span, mapped with
 * no access, would fault at the header read.  (test_regions has widened
 * the span with its fake arenas, which only moves the ends.) */
static void test_span(void)
{
    /* The check of the thread caches only: a tool run has none (the
     * header is the tools' to guard; under memcheck unannotated, the mem
     * domain is malloc), and under TSan the inline check is the
     * out-of-line one, which reads any page in an arena's region. */
    if (vigil__annotating() || VIGIL_RUNNING_ON_VALGRIND() || VIGIL_TSAN_ENABLED)
        return;
    void *small = vigil_mem_malloc(64);
    CU_ASSERT_TRUE(vigil__owns_inline(small));
    CU_ASSERT_FALSE(vigil__owns_inline(NULL));
    uintptr_t lo = -atomic_load(&vigil__arena_span.minus_lo);
    uintptr_t ends[2] = { lo - 4096, lo + atomic_load(&vigil__arena_span.span) };
    int tried = 0;
    for (int i = 0; i < 2; i++) {
        void *m = mmap((void *)ends[i], 4096, PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (m == MAP_FAILED)
            continue;                  /* something else lives there */
        if ((uintptr_t)m == ends[i]) {
            tried++;
            CU_ASSERT_FALSE(vigil__owns_inline((char *)m + 16));
            CU_ASSERT_FALSE(vigil__owns_inline((char *)m + 4095));
        }
        munmap(m, 4096);
    }
    CU_ASSERT_TRUE(tried > 0);
    vigil_mem_free(small);
}

void register_arena_map_suite(void)
{
    static const struct test_case tests[] = {
        { "regions of arenas: exact, shared, emptied", test_regions },
        { "ownership: pool blocks yes, system blocks no", test_owns },
        { "inline ownership: outside the arenas' span, no read", test_span },
        { NULL, NULL },
    };
    add_suite("arena_map", tests);
}
