/* suites.h - one CUnit suite per library module, registered by unit.c. */
#ifndef VIGIL_TEST_SUITES_H
#define VIGIL_TEST_SUITES_H

#include <CUnit/CUnit.h>

void register_arena_suite(void);
void register_domain_suite(void);
void register_config_suite(void);
void register_stats_suite(void);
void register_os_suite(void);
void register_sysalloc_suite(void);
void register_syscache_suite(void);
void register_arena_map_suite(void);
void register_debug_suite(void);
void register_debug_quarantine_suite(void);
void register_debug_stacks_suite(void);
void register_debug_live_suite(void);
void register_threads_suite(void);
void register_stacks_suite(void);
void register_trace_suite(void);
void register_leak_suite(void);
void register_fail_suite(void);

/* Add a suite with its tests; tests is a NULL-name-terminated array. */
struct test_case {
    const char *name;
    CU_TestFunc fn;
};
void add_suite(const char *name, const struct test_case *tests);

#endif
