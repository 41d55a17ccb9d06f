/* test_sysalloc.c - the system allocator wrapper behind the raw domain. */
#include "config.h"

#include <malloc.h>
#include <pthread.h>
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

/* The usable size read from the block's header agrees with the C
 * library's, for its heap's blocks, mapped ones, aligned ones, and those
 * of another thread's arena. */
static void *usable_sizes(void *arg)
{
    int *bad = arg;
    for (size_t n = 0; n < 300000; n += n < 40000 ? 1 : 4099) {
        void *p = S->malloc(S->ctx, n);
        if (vigil__sys_usable(p) != malloc_usable_size(p) || vigil__sys_usable(p) < n)
            ++*bad;
        S->free(S->ctx, p);
    }
    void *a = vigil__sys_memalign(4096, 5000);
    *bad += vigil__sys_usable(a) != malloc_usable_size(a);
    S->free(S->ctx, a);
    return NULL;
}

static void test_usable(void)
{
    int bad = 0, bad_thread = 0;
    usable_sizes(&bad);
    CU_ASSERT_EQUAL(bad, 0);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, usable_sizes, &bad_thread), 0);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(bad_thread, 0);
}

void register_sysalloc_suite(void)
{
    static const struct test_case tests[] = {
        { "size 0 gives unique blocks", test_zero_sizes },
        { "live blocks counted", test_counts },
        { "alignment, realloc keeps content", test_alignment_and_content },
        { "aligned blocks, uncounted blocks", test_memalign },
        { "usable size: the C library's", test_usable },
        { NULL, NULL },
    };
    add_suite("sysalloc", tests);
}
