/* test_debug_quarantine.c - the debug hooks, continued (test_debug.c has
 * the layout, the detections and realloc): the quarantine, installing the
 * hooks over any allocator, names by VIGIL_MALLOC, VIGIL_ABORT=0,
 * vigil_check_block and vigil_dump_block, threads, serial numbers.  Each
 * case runs in a child, as there. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bump.h"
#include "child.h"
#include "debug.h"
#include "debug_block.h"
#include "settings.h"
#include "debug_support.h"
#include "suites.h"
#include "threads.h"
#include "vigil/annotate.h"

/* ---- the quarantine ---- */


static void eviction_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(32);  /* @eviction-alloc */
    announce(p);
    vigil_mem_free(p);  /* @eviction-free */
    p[3] = 'x';
    /* Other frees push it out. */
    size_t pushed = 0;
    while (pushed < 2 * quarantine() + 4096) {
        vigil_mem_free(vigil_mem_malloc(200));  /* @eviction-push */
        pushed += 200 + VIGIL_DEBUG_OVERHEAD;
    }
    /* Not reached: the report aborts. */
}

static void test_quarantine_eviction(void)
{
    if (quarantine() < 1024 || quarantine() > ((size_t)64 << 20))
        return;                         /* the environment chose otherwise */
    struct child_result r;
    run_debug(eviction_child, NULL, &r);
    expect_report(&r, "use after free", "(32 bytes, API 'm')");
    expect_words(&r, "byte 3 of the freed block was changed");
    expect_stack(&r, "found when the block left the quarantine, in a call by thread T0 here:",
                 "eviction_child", "@eviction-push");
    expect_stack(&r, "freed by thread T0 here:", "eviction_child", "@eviction-free");
    expect_stack(&r, "previously allocated by thread T0 here:", "eviction_child",
                 "@eviction-alloc");
}

/* A thread's frees wait in a batch of its own before they reach the shared
 * ring; when the thread ends, its batch must go to the ring, where later
 * frees from other threads push the block out and check it. */

static void *uaf_thread(void *arg)
{
    (void)arg;
    char *p = vigil_mem_malloc(40);  /* @uaf-thread-alloc */
    announce(p);
    printf("T%u\n", vigil__thread_number());
    fflush(stdout);
    vigil_mem_free(p);  /* @uaf-thread-free */
    p[7] = 'z';
    return NULL;
}

static void thread_exit_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    vigil_mem_free(vigil_mem_malloc(8));    /* this thread has its batch */
    pthread_t t;
    if (pthread_create(&t, NULL, uaf_thread, NULL) || pthread_join(t, NULL))
        exit(70);
    size_t pushed = 0;
    while (pushed < 2 * quarantine() + 4096) {
        vigil_mem_free(vigil_mem_malloc(200));  /* @thread-exit-push */
        pushed += 200 + VIGIL_DEBUG_OVERHEAD;
    }
    /* Not reached: the report aborts. */
}


static void test_quarantine_thread_exit(void)
{
    if (quarantine() < 1024 || quarantine() > ((size_t)64 << 20))
        return;
    struct child_result r;
    run_debug(thread_exit_child, NULL, &r);
    expect_report(&r, "use after free", "(40 bytes, API 'm')");
    expect_words(&r, "byte 7 of the freed block was changed");
    expect_stack(&r, "found when the block left the quarantine, in a call by thread T0 here:",
                 "thread_exit_child", "@thread-exit-push");
    /* Through the API a thread is numbered at its first call into vigil,
     * and the child goes on from the numbers this process gave (under ASan
     * the arena suite's threads have some): the thread says its own. */
    char freed[64], allocated[64];
    const char *t = strstr(r.out, "\nT");
    unsigned n = 0;
    CU_ASSERT_TRUE(t && sscanf(t + 2, "%u", &n) == 1 && n >= 1);
    snprintf(freed, sizeof freed, "freed by thread T%u here:", n);
    snprintf(allocated, sizeof allocated, "previously allocated by thread T%u here:", n);
    expect_stack(&r, freed, "uaf_thread", "@uaf-thread-free");
    expect_stack(&r, allocated, "uaf_thread", "@uaf-thread-alloc");
}

static void exit_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_obj_malloc(48);
    announce(p);
    vigil_obj_free(p);
    p[47] = 'q';
    p[5] = 'y';
    exit(0);                            /* runs the exit check */
}

static void test_quarantine_exit(void)
{
    if (quarantine() < 1024)
        return;
    struct child_result r;
    run_debug(exit_child, NULL, &r);
    expect_report(&r, "use after free", "(48 bytes, API 'o')");
    expect_words(&r, "byte 5 of the freed block was changed");
    expect_words(&r, "2 bytes changed in all");
    expect_words(&r, "found at exit");
}

static void test_quarantine_off(void)
{
    struct child_result r;
    const char *off[] = { "VIGIL_MALLOC=arena", "VIGIL_QUARANTINE=0", "VIGIL_ABORT=1", NULL };
    const char *on[] = { "VIGIL_MALLOC=arena", "VIGIL_QUARANTINE", "VIGIL_ABORT=1", NULL };
    probe("uaf-exit", off, &r);
#ifdef VIGIL_ASAN_BUILD
    /* The arena poisons the block it got back at once: ASan's catch, with
     * the arena's description of the block, and no debug-hook report. */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "AddressSanitizer"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "inside a freed block"));
    CU_ASSERT_PTR_NULL(strstr(r.err, "vigil: use after free"));
#else
    expect_clean(&r, "uaf-exit, quarantine off");
#endif
    probe("uaf-exit", on, &r);
    expect_report(&r, "use after free", "(32 bytes, API 'm')");
    /* Off, the freed block is reused at once; on, it is held. */
    probe("reuse", off, &r);
    CU_ASSERT_STRING_EQUAL(r.out, "same\n");
    probe("reuse", on, &r);
    CU_ASSERT_STRING_EQUAL(r.out, "different\n");
}

/* ---- installing: idempotence, custom allocators, names ---- */

static vigil_allocator rec_inner[3];
static size_t rec_last[3];
static void *rec_malloc(void *ctx, size_t n)
{
    intptr_t d = (intptr_t)ctx;
    rec_last[d] = n;
    return rec_inner[d].malloc(rec_inner[d].ctx, n);
}
static void *rec_calloc(void *ctx, size_t n, size_t m)
{
    intptr_t d = (intptr_t)ctx;
    rec_last[d] = n * m;
    return rec_inner[d].calloc(rec_inner[d].ctx, n, m);
}
static void *rec_realloc(void *ctx, void *p, size_t n)
{
    intptr_t d = (intptr_t)ctx;
    rec_last[d] = n;
    return rec_inner[d].realloc(rec_inner[d].ctx, p, n);
}
static void rec_free(void *ctx, void *p)
{
    intptr_t d = (intptr_t)ctx;
    rec_inner[d].free(rec_inner[d].ctx, p);
}

static void idempotent_child(void *arg)
{
    (void)arg;
    for (int d = 0; d < 3; d++) {
        vigil_get_allocator(apis[d].d, &rec_inner[d]);
        vigil_allocator rec = { (void *)(intptr_t)d, rec_malloc, rec_calloc, rec_realloc, rec_free };
        vigil_set_allocator(apis[d].d, &rec);
    }
    vigil_setup_debug_hooks();
    vigil_setup_debug_hooks();
    CHILD_CHECK(vigil_allocator_name() == NULL, 50);
    for (int d = 0; d < 3; d++) {
        void *p = apis[d].malloc(100);
        CHILD_CHECK(rec_last[d] == 100 + VIGIL_DEBUG_OVERHEAD, 51);
        void *z = apis[d].calloc(3, 7);
        CHILD_CHECK(rec_last[d] == 21 + VIGIL_DEBUG_OVERHEAD, 52);
        vigil_setup_debug_hooks();
        void *e = apis[d].malloc(0);
        CHILD_CHECK(rec_last[d] == VIGIL_DEBUG_OVERHEAD, 53);
        apis[d].free(p);
        apis[d].free(z);
        apis[d].free(e);
    }
    printf("overhead=%zu\n", (size_t)VIGIL_DEBUG_OVERHEAD);
}

static void names_child(void *arg)
{
    (void)arg;
    const char *before = vigil_allocator_name();
    vigil_setup_debug_hooks();
    vigil_setup_debug_hooks();
    const char *after = vigil_allocator_name();
    if (before && strstr(before, "_debug") == NULL) {
        char want[32];
        snprintf(want, sizeof want, "%s_debug", before);
        CHILD_CHECK(after && strcmp(after, want) == 0, 55);
    }
    /* Unwrapping gives back exactly what was wrapped: names survive a
     * restore of the inner table. */
    vigil_allocator cur, inner;
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &cur);
    CHILD_CHECK(vigil__debug_unwrap(&cur, &inner) == 1, 56);
    CHILD_CHECK(vigil__debug_unwrap(&inner, NULL) == 0, 57);
}

static void test_idempotent(void)
{
    struct child_result r;
    run_debug(idempotent_child, NULL, &r);
    expect_clean(&r, "idempotent setup");
    run_debug(names_child, NULL, &r);
    expect_clean(&r, "names after setup");
}

static void custom_child(void *arg)
{
    int overflow = (int)(intptr_t)arg;
    vigil_set_allocator(VIGIL_DOMAIN_OBJ, &bump_allocator);
    vigil_setup_debug_hooks();
    unsigned char *p = vigil_obj_malloc(50);
    CHILD_CHECK(p == bump_buf + VIGIL_DEBUG_HEAD, 60);
    check_layout(p, 50, 'o');
    for (int i = 0; i < 50; i++)
        CHILD_CHECK(p[i] == 0xCD, 61);
    unsigned char *q = vigil_obj_realloc(p, 300);
    CHILD_CHECK(in_bump(q), 62);
    check_layout(q, 300, 'o');
    if (overflow) {
        announce(q);
        q[300] = 'x';
    }
    vigil_obj_free(q);
    /* With the quarantine off the blocks reach the custom free at once. */
    CHILD_CHECK(quarantine() >= 1024 || bump_frees == 2, 63);
}

static void test_custom_allocator(void)
{
    struct child_result r;
    run_debug(custom_child, (void *)0, &r);
    expect_clean(&r, "hooks over a custom allocator");
    run_debug(custom_child, (void *)1, &r);
    expect_report(&r, "buffer overflow", "(300 bytes, API 'o')");
}

static void expect_name(const char *mode, const char *want)
{
    char var[64], path[4096], line[64];
    snprintf(var, sizeof var, "VIGIL_MALLOC=%s", mode);
    snprintf(path, sizeof path, "%s", sibling_program("probe"));
    const char *env[] = { var, NULL };
    /* A hang would stall the whole suite; coreutils' timeout bounds it. */
    const char *timed[] = { "/usr/bin/timeout", "60", path, "name", NULL };
    const char *plain[] = { path, "name", NULL };
    struct child_result r;
    run_program(access(timed[0], X_OK) == 0 ? timed : plain, env, &r);
    snprintf(line, sizeof line, "%s\n", want);
    int ok = r.exited && r.status == 0 && strcmp(r.out, line) == 0;
    CU_ASSERT_TRUE(ok);
    if (!ok) {
        fprintf(stderr, "\nVIGIL_MALLOC=%s: want %s", mode, line);
        show(mode, &r);
    }
}

static void test_names(void)
{
    expect_name("debug", "arena_debug");
    expect_name("arena_debug", "arena_debug");
    expect_name("malloc_debug", "malloc_debug");
}

/* ---- VIGIL_ABORT=0 ---- */

static void test_continue(void)
{
    const char *env[] = { "VIGIL_MALLOC=arena", "VIGIL_ABORT=0", "VIGIL_QUARANTINE", NULL };
    struct child_result r;
    probe("continue", env, &r);
    int ok = r.exited && r.status == 0 && strcmp(r.out, "errors=5\n") == 0 &&
             count_reports(r.err) == 5;
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "errors=5\n");
    CU_ASSERT_EQUAL(count_reports(r.err), 5);
    CU_ASSERT_PTR_NULL(strstr(r.err, "vigil: aborting"));
    const char *names[] = { "buffer overflow", "buffer underflow", "API mismatch",
                            "double free", "invalid free" };
    for (int i = 0; i < 5; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "vigil: %s on block 0x", names[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, prefix));
        ok = ok && strstr(r.err, prefix);
    }
    if (!ok)
        show("VIGIL_ABORT=0", &r);
}


static void check_block_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(16);  /* @check-block-alloc */
    CHILD_CHECK(vigil_check_block(p) == 0, 70);
    CHILD_CHECK(vigil_check_block(NULL) == 0, 71);
    vigil_dump_block(p);
    announce(p);
    p[17] = '!';
    vigil_check_block(p);
}

static void test_check_block(void)
{
    struct child_result r;
    run_debug(check_block_child, NULL, &r);
    char addr[64], dump[128];
    announced(&r, addr, sizeof addr);
    snprintf(dump, sizeof dump, "vigil: block %s (16 bytes, API 'm')\n", addr);
    expect_words(&r, dump);
    /* The dump's own first line comes first: look past it. */
    const char *second = strstr(r.err, "vigil: buffer overflow");
    CU_ASSERT_PTR_NOT_NULL(second);
    if (second) {
        char line[256];
        snprintf(line, sizeof line, "vigil: buffer overflow on block %s (16 bytes, API 'm')\n", addr);
        CU_ASSERT_EQUAL(strncmp(second, line, strlen(line)), 0);
    }
    CU_ASSERT_TRUE(r.signaled && r.signo == SIGABRT);
    expect_words(&r, "at p+17: 0x21 *** OUCH");
    expect_stack(&r, "vigil_check_block called by thread T0 here:", NULL, NULL);
    expect_stack(&r, "allocated by thread T0 here:", "check_block_child", "@check-block-alloc");
}

/* ---- threads ---- */

#define NTHREADS 4
#define SLOTS 256
static _Atomic(void *) slots[3][SLOTS];

static void *thread_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        int d = (int)((seed >> 8) % 3);
        size_t slot = (seed >> 12) % SLOTS;
        size_t n = (seed >> 20) % 700;
        unsigned char *p = i % 7 ? apis[d].malloc(n) : apis[d].calloc(1, n);
        if (!p)
            exit(80);
        memset(p, (int)(n & 0xff), n);
        unsigned char *old = atomic_exchange(&slots[d][slot], (void *)p);
        if (old) {
            if (vigil_check_block(old) != 0)
                exit(81);
            if (i % 5 == 0)
                old = apis[d].realloc(old, n / 2);
            apis[d].free(old);
        }
    }
    return NULL;
}

static void threads_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i))
            exit(82);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < SLOTS; s++)
            apis[d].free(atomic_load(&slots[d][s]));
    CHILD_CHECK(vigil_error_count() == 0, 83);
    exit(0);                            /* with the exit check */
}

static void test_threads(void)
{
    struct child_result r;
    run_debug(threads_child, NULL, &r);
    expect_clean(&r, "threads");
}

/* ---- serial numbers ---- */

#ifdef VIGIL_SERIALNO
static void serial_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    for (int i = 0; i < 4; i++)
        vigil_mem_free(vigil_mem_malloc(8));
    char *p = vigil_mem_malloc(8);
    unsigned char *tail = (unsigned char *)p + 8 + VIGIL_DEBUG_WORD;
    size_t serial = be_size(tail);
    announce(p);
    printf("serial=%zu\n", serial);
    fflush(stdout);
    p[8] = 0;
    vigil_mem_free(p);
}

static void test_serial_in_dump(void)
{
    struct child_result r;
    run_debug(serial_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(8 bytes, API 'm')");
    const char *s = strstr(r.out, "serial=");
    CU_ASSERT_PTR_NOT_NULL(s);
    if (s) {
        char words[64];
        size_t n = strtoul(s + 7, NULL, 10);
        CU_ASSERT_TRUE(n >= 5);
        snprintf(words, sizeof words, "serial number %zu ", n);
        expect_words(&r, words);
    }
}

static void test_break_serial(void)
{
    const char *env[] = { "VIGIL_MALLOC=arena", "VIGIL_BREAK_SERIAL=3", NULL };
    struct child_result r;
    probe("break", env, &r);
    CU_ASSERT_TRUE(r.signaled);
    CU_ASSERT_EQUAL(r.signo, SIGTRAP);
    CU_ASSERT_STRING_EQUAL(r.out, "alloc 1\nalloc 2\nalloc 3\n");
    if (!r.signaled || r.signo != SIGTRAP)
        show("VIGIL_BREAK_SERIAL=3", &r);
    const char *none[] = { "VIGIL_MALLOC=arena", "VIGIL_BREAK_SERIAL", NULL };
    probe("break", none, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
}
#endif


void register_debug_quarantine_suite(void)
{
    static const struct test_case tests[] = {
        { "quarantine eviction: use after free", test_quarantine_eviction },
        { "quarantine exit check", test_quarantine_exit },
        { "quarantine: a thread's frees reach the ring at its exit", test_quarantine_thread_exit },
        { "VIGIL_QUARANTINE=0", test_quarantine_off },
        { "setup is idempotent (overhead 3S + the origin)", test_idempotent },
        { "hooks over a custom allocator", test_custom_allocator },
        { "names by VIGIL_MALLOC", test_names },
        { "VIGIL_ABORT=0 continues and counts", test_continue },
        { "vigil_check_block and vigil_dump_block", test_check_block },
        { "threads", test_threads },
#ifdef VIGIL_SERIALNO
        { "serial number in the dump", test_serial_in_dump },
        { "VIGIL_BREAK_SERIAL raises SIGTRAP", test_break_serial },
#endif
        { NULL, NULL },
    };
    add_suite("debug (quarantine, installing, threads)", tests);
}
