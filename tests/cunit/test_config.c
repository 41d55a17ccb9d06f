/* test_config.c - reading the environment: the parsers, and what a fresh
 * process does with each variable. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "child.h"
#include "settings.h"
#include "suites.h"

static void test_parse_mode(void)
{
    static const struct { const char *s; enum vigil_mode m; } good[] = {
        { "default", VIGIL_MODE_DEFAULT }, { "debug", VIGIL_MODE_DEBUG },
        { "arena", VIGIL_MODE_ARENA }, { "arena_debug", VIGIL_MODE_ARENA_DEBUG },
        { "malloc", VIGIL_MODE_MALLOC }, { "malloc_debug", VIGIL_MODE_MALLOC_DEBUG },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        enum vigil_mode m = (enum vigil_mode)-1;
        CU_ASSERT_TRUE(vigil__parse_mode(good[i].s, &m));
        CU_ASSERT_EQUAL(m, good[i].m);
    }
    const char *bad[] = { "", "Arena", "arena ", "pymalloc", "debug_arena", "mall" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum vigil_mode m = VIGIL_MODE_ARENA;
        CU_ASSERT_FALSE(vigil__parse_mode(bad[i], &m));
        CU_ASSERT_EQUAL(m, VIGIL_MODE_ARENA);      /* untouched */
    }
}

static void test_parse_size(void)
{
    static const struct { const char *s; size_t v; } good[] = {
        { "0", 0 }, { "65536", 65536 }, { "512K", 512 << 10 }, { "512k", 512 << 10 },
        { "4M", 4 << 20 }, { "4MiB", 4 << 20 }, { "4MB", 4 << 20 }, { "1G", (size_t)1 << 30 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t v = 1234;
        CU_ASSERT_TRUE(vigil__parse_size(good[i].s, &v));
        CU_ASSERT_EQUAL(v, good[i].v);
    }
    const char *bad[] = { "", "abc", "-1", "4X", "4 M", "99999999999999999999",
                          "17179869184G", " 4" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t v = 1234;
        CU_ASSERT_FALSE(vigil__parse_size(bad[i], &v));
        CU_ASSERT_EQUAL(v, 1234);
    }
}

static void probe(const char *const env[], const char *cmd, struct child_result *r)
{
    const char *argv[] = { sibling_program("probe"), cmd, NULL };
    run_program(argv, env, r);
}

static void test_unknown_mode_message(void)
{
    const char *env[] = { "VIGIL_MALLOC=pymalloc", NULL };
    struct child_result r;
    probe(env, "name", &r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.err,
        "vigil: VIGIL_MALLOC=pymalloc is not valid; accepted: default, debug, arena, "
        "arena_debug, malloc, malloc_debug; using the default\n");
    /* The default is used: the same name as with no variable at all. */
    const char *unset[] = { "VIGIL_MALLOC", NULL };
    struct child_result d;
    probe(unset, "name", &d);
    CU_ASSERT_STRING_EQUAL(r.out, d.out);
    CU_ASSERT_STRING_EQUAL(d.err, "");
}

static void test_default_and_empty(void)
{
    const char *unset[] = { "VIGIL_MALLOC", NULL };
    const char *empty[] = { "VIGIL_MALLOC=", NULL };
    const char *dflt[] = { "VIGIL_MALLOC=default", NULL };
    struct child_result a, b, c;
    probe(unset, "name", &a);
    probe(empty, "name", &b);
    probe(dflt, "name", &c);
    CU_ASSERT_STRING_EQUAL(b.out, a.out);
    CU_ASSERT_STRING_EQUAL(c.out, a.out);
    CU_ASSERT_STRING_EQUAL(b.err, "");
    /* Outside Valgrind the default is the arena. */
    if (!vigil__settings()->running_on_valgrind)
        CU_ASSERT_STRING_EQUAL(a.out, "arena\n");
}

static void test_read_once(void)
{
    const char *env[] = { "VIGIL_MALLOC=arena", NULL };
    struct child_result r;
    probe(env, "reread", &r);
    CU_ASSERT_STRING_EQUAL(r.out, "arena\n");
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void test_mallocstats(void)
{
    /* 3 MiB of small blocks: at least three new arenas, each printed, and
     * the table once more at exit. */
    const char *env[] = { "VIGIL_MALLOC=arena", "VIGIL_MALLOCSTATS=1", NULL };
    const char *argv[] = { sibling_program("probe"), "arenas", "3072", NULL };
    struct child_result r;
    run_program(argv, env, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_TRUE(count(r.err, "vigil arena statistics\n") >= 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "# arenas allocated total"));

    const char *off[] = { "VIGIL_MALLOC=arena", "VIGIL_MALLOCSTATS=", NULL };
    run_program(argv, off, &r);
    CU_ASSERT_STRING_EQUAL(r.err, "");
}

static void test_bad_numbers(void)
{
    const char *env[] = { "VIGIL_QUARANTINE=lots", "VIGIL_ABORT=maybe", NULL };
    struct child_result r;
    probe(env, "name", &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: VIGIL_QUARANTINE=lots is not valid; accepted: "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: VIGIL_ABORT=maybe is not valid; accepted: 0, 1"));
}

static void test_error_exitcode(void)
{
    const char *argv[] = { sibling_program("debugprobe"), "double-free", NULL };
    const char *env[] = { "VIGIL_ERROR_EXITCODE=86", "VIGIL_ABORT", NULL };
    struct child_result r;
    run_program(argv, env, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 86);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: double free on block "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "\nvigil: exiting with status 86 (VIGIL_ERROR_EXITCODE; "
                                         "VIGIL_ABORT=0 reports and continues)\n"));
    /* VIGIL_ABORT=0 still reports and goes on. */
    const char *go_on[] = { "VIGIL_ERROR_EXITCODE=86", "VIGIL_ABORT=0", NULL };
    run_program(argv, go_on, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_PTR_NULL(strstr(r.err, "exiting with status"));

    const char *bad[] = { "VIGIL_ERROR_EXITCODE=0", NULL };
    const char *worse[] = { "VIGIL_ERROR_EXITCODE=256", NULL };
    probe(bad, "name", &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: VIGIL_ERROR_EXITCODE=0 is not valid; accepted: "
                                         "an exit status from 1 to 255; using the default\n"));
    probe(worse, "name", &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: VIGIL_ERROR_EXITCODE=256 is not valid"));
}

void register_config_suite(void)
{
    static const struct test_case tests[] = {
        { "parse VIGIL_MALLOC values", test_parse_mode },
        { "parse byte counts", test_parse_size },
        { "unknown VIGIL_MALLOC named, default used", test_unknown_mode_message },
        { "unset, empty and default agree", test_default_and_empty },
        { "environment read once", test_read_once },
        { "VIGIL_MALLOCSTATS prints per arena and at exit", test_mallocstats },
        { "bad numbers named", test_bad_numbers },
        { "VIGIL_ERROR_EXITCODE: _exit with it after a report", test_error_exitcode },
        { NULL, NULL },
    };
    add_suite("config", tests);
}
