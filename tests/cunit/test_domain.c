/* test_domain.c - the public vigil_{raw,mem,obj}_* API, allocator tables,
 * hooks and names. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bump.h"
#include "child.h"
#include "domain.h"
#include "report.h"
#include "sysalloc.h"
#include "suites.h"

struct domain_api {
    const char *name;
    vigil_domain d;
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
};

static const struct domain_api apis[] = {
    { "raw", VIGIL_DOMAIN_RAW, vigil_raw_malloc, vigil_raw_calloc, vigil_raw_realloc, vigil_raw_free },
    { "mem", VIGIL_DOMAIN_MEM, vigil_mem_malloc, vigil_mem_calloc, vigil_mem_realloc, vigil_mem_free },
    { "obj", VIGIL_DOMAIN_OBJ, vigil_obj_malloc, vigil_obj_calloc, vigil_obj_realloc, vigil_obj_free },
};
#define NAPIS 3

static void test_zero_size(void)
{
    for (int i = 0; i < NAPIS; i++) {
        void *a = apis[i].malloc(0), *b = apis[i].malloc(0);
        void *c = apis[i].calloc(0, 0), *d = apis[i].realloc(NULL, 0);
        CU_ASSERT_PTR_NOT_NULL(a);
        CU_ASSERT_PTR_NOT_NULL(b);
        CU_ASSERT_PTR_NOT_NULL(c);
        CU_ASSERT_PTR_NOT_NULL(d);
        CU_ASSERT_PTR_NOT_EQUAL(a, b);
        CU_ASSERT_PTR_NOT_EQUAL(c, d);
        /* realloc to 0 keeps a live block (glibc alone would free it). */
        a = apis[i].realloc(a, 0);
        CU_ASSERT_PTR_NOT_NULL(a);
        apis[i].free(a);
        apis[i].free(b);
        apis[i].free(c);
        apis[i].free(d);
    }
}

static void test_impossible_sizes(void)
{
    const size_t huge[] = { SIZE_MAX, SIZE_MAX - 15, (size_t)PTRDIFF_MAX + 1 };
    for (int i = 0; i < NAPIS; i++) {
        for (size_t k = 0; k < sizeof huge / sizeof huge[0]; k++) {
            errno = 0;
            CU_ASSERT_PTR_NULL(apis[i].malloc(huge[k]));
            CU_ASSERT_EQUAL(errno, ENOMEM);
        }
        errno = 0;
        CU_ASSERT_PTR_NULL(apis[i].calloc(SIZE_MAX / 2 + 1, 2));  /* overflows */
        CU_ASSERT_EQUAL(errno, ENOMEM);
        errno = 0;
        CU_ASSERT_PTR_NULL(apis[i].calloc(1, SIZE_MAX));
        CU_ASSERT_EQUAL(errno, ENOMEM);

        /* A failed realloc leaves the block as it was. */
        char *p = apis[i].malloc(32);
        strcpy(p, "still here");
        errno = 0;
        CU_ASSERT_PTR_NULL(apis[i].realloc(p, SIZE_MAX));
        CU_ASSERT_EQUAL(errno, ENOMEM);
        CU_ASSERT_STRING_EQUAL(p, "still here");
        apis[i].free(p);
    }
}

static void test_free_null(void)
{
    size_t before = vigil_allocated_blocks();
    for (int i = 0; i < NAPIS; i++)
        apis[i].free(NULL);
    CU_ASSERT_EQUAL(vigil_allocated_blocks(), before);
}

static void test_alignment(void)
{
    for (int i = 0; i < NAPIS; i++)
        for (size_t n = 0; n <= 2048; n += (n < 600 ? 1 : 97)) {
            void *p = apis[i].malloc(n);
            void *q = apis[i].calloc(1, n);
            CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
            CU_ASSERT_EQUAL((uintptr_t)q % 16, 0);
            p = apis[i].realloc(p, n + 13);
            CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
            apis[i].free(p);
            apis[i].free(q);
        }
}

static void test_calloc_zero_filled(void)
{
    for (int i = 0; i < NAPIS; i++)
        for (size_t n = 1; n <= 4096; n *= 2) {
            unsigned char *p = apis[i].malloc(n);
            memset(p, 0x5a, n);
            apis[i].free(p);
            p = apis[i].calloc(n, 1);
            size_t nz = 0;
            for (size_t k = 0; k < n; k++)
                nz += p[k] != 0;
            CU_ASSERT_EQUAL(nz, 0);
            apis[i].free(p);
        }
}

static void test_allocated_blocks(void)
{
    for (int i = 0; i < NAPIS; i++) {
        size_t before = vigil_allocated_blocks();
        void *a = apis[i].malloc(10);
        void *b = apis[i].calloc(3, 1000);
        void *c = apis[i].realloc(NULL, 100);
        CU_ASSERT_EQUAL(vigil_allocated_blocks(), before + 3);
        c = apis[i].realloc(c, 3000);        /* moves out of the arena */
        a = apis[i].realloc(a, 20);
        CU_ASSERT_EQUAL(vigil_allocated_blocks(), before + 3);
        apis[i].free(a);
        apis[i].free(b);
        apis[i].free(c);
        CU_ASSERT_EQUAL(vigil_allocated_blocks(), before);
    }
}

static void test_default_tables(void)
{
    vigil_allocator raw;
    vigil_get_allocator(VIGIL_DOMAIN_RAW, &raw);
    CU_ASSERT_PTR_EQUAL(raw.malloc, vigil__sys_allocator.malloc);
    CU_ASSERT_PTR_EQUAL(raw.free, vigil__sys_allocator.free);
}

/* ---- custom allocators and hooks ---- */

struct counting {
    vigil_allocator inner;
    size_t mallocs, callocs, reallocs, frees;
};

static void *c_malloc(void *ctx, size_t n)
{
    struct counting *c = ctx;
    c->mallocs++;
    return c->inner.malloc(c->inner.ctx, n);
}
static void *c_calloc(void *ctx, size_t n, size_t m)
{
    struct counting *c = ctx;
    c->callocs++;
    return c->inner.calloc(c->inner.ctx, n, m);
}
static void *c_realloc(void *ctx, void *p, size_t n)
{
    struct counting *c = ctx;
    c->reallocs++;
    return c->inner.realloc(c->inner.ctx, p, n);
}
static void c_free(void *ctx, void *p)
{
    struct counting *c = ctx;
    c->frees++;
    c->inner.free(c->inner.ctx, p);
}

static void test_hook_chaining(void)
{
    const char *name_before = vigil_allocator_name();
    for (int i = 0; i < NAPIS; i++) {
        struct counting hook = { .mallocs = 0 };
        vigil_get_allocator(apis[i].d, &hook.inner);
        vigil_allocator wrapper = { &hook, c_malloc, c_calloc, c_realloc, c_free };
        vigil_set_allocator(apis[i].d, &wrapper);
        CU_ASSERT_PTR_NULL(vigil_allocator_name());

        vigil_allocator now;
        vigil_get_allocator(apis[i].d, &now);
        CU_ASSERT_PTR_EQUAL(now.ctx, &hook);

        char *p = apis[i].malloc(20);
        strcpy(p, "hooked");
        char *q = apis[i].calloc(2, 8);
        p = apis[i].realloc(p, 700);
        CU_ASSERT_STRING_EQUAL(p, "hooked");
        apis[i].free(p);
        apis[i].free(q);
        apis[i].free(NULL);
        CU_ASSERT_EQUAL(hook.mallocs, 1);
        CU_ASSERT_EQUAL(hook.callocs, 1);
        CU_ASSERT_EQUAL(hook.reallocs, 1);
        CU_ASSERT_EQUAL(hook.frees, 3);

        vigil_set_allocator(apis[i].d, &hook.inner);
        const char *after = vigil_allocator_name();
        CU_ASSERT_TRUE((name_before == NULL && after == NULL) ||
                       (name_before && after && strcmp(name_before, after) == 0));
    }
}

/* The entry points' inline hits serve the thread's cached blocks only
 * while the arena's own table is installed: a table set over a warm cache
 * gets every call from the next one on. */
static void test_table_over_warm_cache(void)
{
    for (int i = 0; i < NAPIS; i++) {
        vigil_allocator before;
        vigil_get_allocator(apis[i].d, &before);
        void *p[8];
        for (int k = 0; k < 8; k++)
            p[k] = apis[i].malloc(48);
        for (int k = 0; k < 8; k++)
            apis[i].free(p[k]);         /* in the cache, where the arena is installed */
        struct counting hook = { .inner = before };
        vigil_allocator wrapper = { &hook, c_malloc, c_calloc, c_realloc, c_free };
        vigil_set_allocator(apis[i].d, &wrapper);
        for (int k = 0; k < 6; k++)
            p[k] = apis[i].malloc(48);
        p[6] = apis[i].calloc(1, 48);
        p[7] = apis[i].realloc(NULL, 48);
        for (int k = 0; k < 8; k++)
            apis[i].free(p[k]);
        CU_ASSERT_EQUAL(hook.mallocs, 6);
        CU_ASSERT_EQUAL(hook.callocs, 1);
        CU_ASSERT_EQUAL(hook.reallocs, 1);
        CU_ASSERT_EQUAL(hook.frees, 8);
        vigil_set_allocator(apis[i].d, &before);
        p[0] = apis[i].malloc(48);
        apis[i].free(p[0]);
        CU_ASSERT_EQUAL(hook.mallocs + hook.frees, 14);
    }
}

/* While a thread writes a report, no thread's hits are taken (the reporting
 * thread's allocations must leave vigil's heap; one global count is what
 * the hits test); a child forked meanwhile counts only its own thread. */
static pthread_mutex_t rep_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rep_cv = PTHREAD_COND_INITIALIZER;
static int rep_state;               /* 1: reporting; 2: told to end; 3: ended */

static void *reporter(void *arg)
{
    (void)arg;
    vigil__report_begin();
    vigil__report_begin();          /* nested: still one thread */
    pthread_mutex_lock(&rep_mu);
    rep_state = 1;
    pthread_cond_broadcast(&rep_cv);
    while (rep_state != 2)
        pthread_cond_wait(&rep_cv, &rep_mu);
    pthread_mutex_unlock(&rep_mu);
    vigil__report_end();
    vigil__report_end();
    return NULL;
}

static void forked_during_report(void *arg)
{
    (void)arg;
    if (atomic_load(&vigil__reporters) != 0)
        exit(1);
    if (!vigil__domain_hits_on(VIGIL_DOMAIN_MEM))
        exit(2);
}

static void test_hits_off_while_reporting(void)
{
    vigil_allocator before, arena;
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &before);
    arena = vigil__arena_allocator;
    vigil_set_allocator(VIGIL_DOMAIN_MEM, &arena);
    CU_ASSERT_TRUE(vigil__domain_hits_on(VIGIL_DOMAIN_MEM));
    pthread_t t;
    rep_state = 0;
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, reporter, NULL), 0);
    pthread_mutex_lock(&rep_mu);
    while (rep_state != 1)
        pthread_cond_wait(&rep_cv, &rep_mu);
    pthread_mutex_unlock(&rep_mu);
    CU_ASSERT_EQUAL(atomic_load(&vigil__reporters), 1);
    CU_ASSERT_FALSE(vigil__domain_hits_on(VIGIL_DOMAIN_MEM));
    void *p = vigil_mem_malloc(48);     /* served all the same, by the slow path */
    CU_ASSERT_PTR_NOT_NULL(p);
    vigil_mem_free(p);
    struct child_result r;
    run_child(forked_during_report, NULL, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    pthread_mutex_lock(&rep_mu);
    rep_state = 2;
    pthread_cond_broadcast(&rep_cv);
    pthread_mutex_unlock(&rep_mu);
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(atomic_load(&vigil__reporters), 0);
    CU_ASSERT_TRUE(vigil__domain_hits_on(VIGIL_DOMAIN_MEM));
    vigil_set_allocator(VIGIL_DOMAIN_MEM, &before);
}

static void custom_allocator(void *arg)
{
    (void)arg;
    vigil_set_allocator(VIGIL_DOMAIN_OBJ, &bump_allocator);
    if (vigil_allocator_name() != NULL) exit(1);
    unsigned char *p = vigil_obj_malloc(100);
    if (!in_bump(p)) exit(2);
    vigil_obj_free(p);
    /* The other domains are untouched. */
    unsigned char *m = vigil_mem_malloc(100);
    if (in_bump(m)) exit(3);
    vigil_mem_free(m);
}

static void test_custom_allocator(void)
{
    struct child_result r;
    run_child(custom_allocator, NULL, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status)
        fprintf(stderr, "custom allocator child: exit %d\n%s", r.status, r.err);
}

/* Names as each VIGIL_MALLOC value sets them up, in a fresh process. */
static void expect_name(const char *value, const char *name)
{
    char var[64];
    snprintf(var, sizeof var, "VIGIL_MALLOC=%s", value);
    const char *env[] = { var, NULL };
    const char *argv[] = { sibling_program("probe"), "name", NULL };
    struct child_result r;
    run_program(argv, env, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    char want[64];
    snprintf(want, sizeof want, "%s\n", name);
    CU_ASSERT_STRING_EQUAL(r.out, want);
    if (strcmp(r.out, want) != 0)
        fprintf(stderr, "VIGIL_MALLOC=%s: got '%s', want '%s'\n", value, r.out, name);
}

static void test_names_by_environment(void)
{
    /* Under Valgrind the default becomes "malloc"; these run in children
     * that are not under Valgrind unless the whole suite is, in which case
     * the explicit values still hold. */
    expect_name("arena", "arena");
    expect_name("malloc", "malloc");
}

void register_domain_suite(void)
{
    static const struct test_case tests[] = {
        { "size 0 gives unique blocks", test_zero_size },
        { "impossible sizes: NULL, ENOMEM", test_impossible_sizes },
        { "free(NULL) does nothing", test_free_null },
        { "16-byte alignment", test_alignment },
        { "calloc zero-fills", test_calloc_zero_filled },
        { "allocated blocks counted", test_allocated_blocks },
        { "raw is the system allocator", test_default_tables },
        { "hook chaining", test_hook_chaining },
        { "custom allocator", test_custom_allocator },
        { "a table set over a warm cache gets every call", test_table_over_warm_cache },
        { "no hits while a thread reports; a forked child counts its own", test_hits_off_while_reporting },
        { "names by VIGIL_MALLOC", test_names_by_environment },
        { NULL, NULL },
    };
    add_suite("domain", tests);
}
