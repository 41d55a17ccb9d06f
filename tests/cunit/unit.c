/* unit.c - the CUnit runner: every suite, basic mode, CUnit's summary.
 * `unit SUITE...` runs only the named suites. */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "domain.h"
#include "suites.h"
#include "tcache.h"

static int argc_;
static char **argv_;

static int wanted(const char *name)
{
    if (argc_ < 2)
        return 1;
    for (int i = 1; i < argc_; i++)
        if (strcmp(argv_[i], name) == 0)
            return 1;
    return 0;
}

/* Tests that call the arena's table directly do so, as any program would,
 * after the domains composed it (and handed it where large requests go). */
static int compose_first(void)
{
    vigil__ensure_init();
    return 0;
}

/* After every suite, the consistency walk over the heap and every thread
 * cache: whatever a suite did, the heap it leaves must be whole. */
static void test_heap_whole(void)
{
    CU_ASSERT_EQUAL(vigil__arena_check(), 0);
}

void add_suite(const char *name, const struct test_case *tests)
{
    if (!wanted(name))
        return;
    CU_pSuite s = CU_add_suite(name, compose_first, NULL);
    if (!s) {
        fprintf(stderr, "CU_add_suite: %s\n", CU_get_error_msg());
        exit(2);
    }
    for (; tests->name; tests++)
        if (!CU_add_test(s, tests->name, tests->fn)) {
            fprintf(stderr, "CU_add_test: %s\n", CU_get_error_msg());
            exit(2);
        }
    if (!CU_add_test(s, "heap walk: consistent after the suite", test_heap_whole)) {
        fprintf(stderr, "CU_add_test: %s\n", CU_get_error_msg());
        exit(2);
    }
}

int main(int argc, char **argv)
{
    argc_ = argc;
    argv_ = argv;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    register_config_suite();
    register_os_suite();
    register_sysalloc_suite();
    register_syscache_suite();
    register_arena_map_suite();
    register_arena_suite();
    register_domain_suite();
    register_stats_suite();
    register_debug_suite();
    register_debug_quarantine_suite();
    register_debug_stacks_suite();
    register_debug_live_suite();
    register_threads_suite();
    register_stacks_suite();
    register_trace_suite();
    register_leak_suite();
    register_fail_suite();
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return failed || ran == 0 ? 1 : 0;
}
