/* test_sysalloc.c - the system allocator wrapper behind the raw domain. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sysalloc.h"
#include "suites.h"

static const vigil_allocator *S = &vigil__sys_allocator;

static void test_zero_sizes(void)
{
    void *a = S->malloc(S->ctx, 0), *b = S->calloc(S->ctx, 0, 5);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    a = S->realloc(S->ctx, a, 0);          /* glibc would free and give NULL */
    CU_ASSERT_PTR_NOT_NULL(a);
    S->free(S->ctx, a);
    S->free(S->ctx, b);
}

static void test_counts(void)
{
    size_t before = vigil__sys_blocks();
    void *a = S->malloc(S->ctx, 100);
    void *b = S->calloc(S->ctx, 10, 10);
    void *c = S->realloc(S->ctx, NULL, 10);
    CU_ASSERT_EQUAL(vigil__sys_blocks(), before + 3);
    c = S->realloc(S->ctx, c, 10000);
    CU_ASSERT_EQUAL(vigil__sys_blocks(), before + 3);
    S->free(S->ctx, a);
    S->free(S->ctx, b);
    S->free(S->ctx, c);
    S->free(S->ctx, NULL);
    CU_ASSERT_EQUAL(vigil__sys_blocks(), before);
}

static void test_alignment_and_content(void)
{
    char *p = S->malloc(S->ctx, 13);
    CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
    strcpy(p, "system block");
    p = S->realloc(S->ctx, p, 100000);
    CU_ASSERT_STRING_EQUAL(p, "system block");
    S->free(S->ctx, p);
}

static void test_memalign(void)
{
    size_t before = vigil__sys_blocks();
    for (size_t align = sizeof(void *); align <= 65536; align *= 2) {
        unsigned char *p = vigil__sys_memalign(align, align == 64 ? 0 : 3 * align + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        CU_ASSERT_EQUAL((uintptr_t)p % align, 0);
        CU_ASSERT_EQUAL(vigil__sys_blocks(), before + 1);
        S->free(S->ctx, p);                 /* freed like any of its blocks */
        CU_ASSERT_EQUAL(vigil__sys_blocks(), before);
    }
    /* vigil's own blocks are not the program's. */
    void *own = vigil__sys_keep(8);
    CU_ASSERT_PTR_NOT_NULL(own);
    CU_ASSERT_EQUAL(vigil__sys_blocks(), before);
    free(own);
}

void register_sysalloc_suite(void)
{
    static const struct test_case tests[] = {
        { "size 0 gives unique blocks", test_zero_sizes },
        { "live blocks counted", test_counts },
        { "alignment, realloc keeps content", test_alignment_and_content },
        { "aligned blocks, uncounted blocks", test_memalign },
        { NULL, NULL },
    };
    add_suite("sysalloc", tests);
}
