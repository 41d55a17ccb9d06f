/* test_stats.c - the statistics add up, and the table says so. */
#define _GNU_SOURCE 1
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "child.h"
#include "tcache.h"
#include "suites.h"

static const vigil_allocator *A = &vigil__arena_allocator;

static size_t sum_bytes(const struct vigil_arena_stats *st)
{
    size_t total = st->free_pools * VIGIL_POOL_SIZE + st->alignment_bytes;
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        size_t size = vigil__class_size(c);
        total += (st->class_blocks[c] + st->class_avail[c]) * size;
        total += st->class_pools[c] *
                 (VIGIL_POOL_OVERHEAD + (VIGIL_POOL_SIZE - VIGIL_POOL_OVERHEAD) % vigil__block_stride(c) +
                  vigil__pool_capacity(c) * vigil__block_gap);
    }
    return total;
}

static void test_snapshot_adds_up(void)
{
    struct vigil_arena_stats st0, st1;
    vigil__arena_settle();
    vigil__arena_stats(&st0);
    void *v[1000];
    for (int i = 0; i < 1000; i++)
        v[i] = A->malloc(A->ctx, 48);           /* class 2 */
    vigil__arena_stats(&st1);
    CU_ASSERT_EQUAL(st1.class_blocks[2], st0.class_blocks[2] + 1000);
    CU_ASSERT_EQUAL(st1.blocks, st0.blocks + 1000);
    CU_ASSERT_EQUAL(st1.blocks - st1.quarantined, vigil__arena_blocks());
    CU_ASSERT_EQUAL(sum_bytes(&st1), st1.arenas_current * VIGIL_ARENA_SIZE);
    CU_ASSERT_TRUE(st1.arenas_highwater >= st1.arenas_current);
    CU_ASSERT_EQUAL(st1.arenas_allocated - st1.arenas_reclaimed, st1.arenas_current);
    /* 4032 / 48 = 84 blocks a pool: pools holding 1000 blocks. */
    CU_ASSERT_TRUE(st1.class_pools[2] - st0.class_pools[2] >= 1000 / 84);
    for (int i = 0; i < 1000; i++)
        A->free(A->ctx, v[i]);
    vigil__arena_settle();
    vigil__arena_stats(&st1);
    CU_ASSERT_EQUAL(st1.class_blocks[2], st0.class_blocks[2]);
    CU_ASSERT_EQUAL(sum_bytes(&st1), st1.arenas_current * VIGIL_ARENA_SIZE);
}

/* The value printed after "label ... =" on its own line. */
static size_t value_of(const char *text, const char *label)
{
    const char *p = strstr(text, label);
    if (!p || !(p = strchr(p, '=')))
        return (size_t)-1;
    return strtoull(p + 1, NULL, 10);
}

static void test_printed_table(void)
{
    void *keep = A->malloc(A->ctx, 100);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    CU_ASSERT_EQUAL(vigil_print_stats(f), 1);
    fclose(f);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "vigil arena statistics\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "class   size   pools   blocks in use   available blocks"));
    size_t arenas = value_of(text, "# arenas allocated current");
    size_t total = value_of(text, "\nTotal");
    size_t parts = value_of(text, "# bytes in allocated blocks") +
                   value_of(text, "# bytes in available blocks") +
                   value_of(text, "# bytes in free pools") +
                   value_of(text, "# bytes lost to pool headers") +
                   value_of(text, "# bytes lost to quantization") +
                   value_of(text, "# bytes lost to arena alignment") +
                   (vigil__block_gap ? value_of(text, "# bytes lost to redzones") : 0);
    CU_ASSERT_TRUE(arenas >= 1 && arenas != (size_t)-1);
    CU_ASSERT_EQUAL(total, arenas * VIGIL_ARENA_SIZE);
    CU_ASSERT_EQUAL(parts, total);
    /* Class 6 (112-byte blocks) holds our block. */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    6    112 "));
    free(text);
    A->free(A->ctx, keep);
}

static void test_zero_without_arena(void)
{
    const char *env[] = { "VIGIL_MALLOC=malloc", NULL };
    const char *argv[] = { sibling_program("probe"), "stats", NULL };
    struct child_result r;
    run_program(argv, env, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "print_stats=0\n");

    const char *arena[] = { "VIGIL_MALLOC=arena", NULL };
    run_program(argv, arena, &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "print_stats=1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, "# arenas allocated current"));
}

void register_stats_suite(void)
{
    static const struct test_case tests[] = {
        { "snapshot adds up", test_snapshot_adds_up },
        { "printed table adds up", test_printed_table },
        { "0 when the arena is not in use", test_zero_without_arena },
        { NULL, NULL },
    };
    add_suite("stats", tests);
}
