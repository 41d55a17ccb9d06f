/* test_debug.c - the debug hooks: block layout and fills, every detection
 * with its report, realloc (the quarantine, modes and names, threads:
 * test_debug_quarantine.c).
 *
 * Installing the hooks in this process would change the allocators of every
 * suite that runs after this one, so each case runs in a forked child that
 * calls vigil_setup_debug_hooks() first, or execs a probe with the
 * environment it needs.  Children print the block's address before the bug,
 * so the first line of the report can be asserted exactly. */
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

/* ---- layout and fills ---- */

static void fills_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    for (int a = 0; a < 3; a++) {
        unsigned char *p = apis[a].malloc(64);
        check_layout(p, 64, apis[a].id);
        for (size_t i = 0; i < 64; i++)
            CHILD_CHECK(p[i] == 0xCD, 20);
        unsigned char *z = apis[a].calloc(10, 7);
        check_layout(z, 70, apis[a].id);
        for (size_t i = 0; i < 70; i++)
            CHILD_CHECK(z[i] == 0, 21);
        unsigned char *e = apis[a].malloc(0);
        check_layout(e, 0, apis[a].id);
        CHILD_CHECK(vigil_check_block(p) == 0 && vigil_check_block(z) == 0 &&
                    vigil_check_block(e) == 0, 22);
        apis[a].free(p);
        apis[a].free(z);
        apis[a].free(e);
        if (quarantine() >= 1024) {
            /* Held in the quarantine: the whole block, header too, is 0xDD. */
            may_read(p - VIGIL_DEBUG_HEAD, 64 + VIGIL_DEBUG_OVERHEAD);
            for (size_t i = 0; i < 64 + VIGIL_DEBUG_OVERHEAD; i++)
                CHILD_CHECK(p[(long)i - (long)VIGIL_DEBUG_HEAD] == 0xDD, 23);
        }
    }
}

static void test_fills(void)
{
    struct child_result r;
    run_debug(fills_child, NULL, &r);
    expect_clean(&r, "fills");
}

/* ---- detections ---- */


static void overflow_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(16);  /* @overflow-alloc */
    announce(p);
    p[16] = 'x';
    vigil_mem_free(p);
}


static void overflow_realloc_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_obj_malloc(30);  /* @overflow-realloc-alloc */
    announce(p);
    memset(p, 'a', 32);
    p = vigil_obj_realloc(p, 100);
}

static void test_overflow(void)
{
    struct child_result r;
    run_debug(overflow_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(16 bytes, API 'm')");
    expect_words(&r, "at p+16: 0x78 *** OUCH");
    expect_words(&r, "the 7 pad bytes before the data are 0xfd, as expected");
    expect_words(&r, "data at p: cd cd");
    /* The free is a tail call at -O2: the bad call's frame #0 is whoever
     * called overflow_child; the allocation's is overflow_child. */
    expect_stack(&r, "vigil_mem_free called by thread T0 here:", NULL, NULL);
    expect_stack(&r, "allocated by thread T0 here:", "overflow_child", "@overflow-alloc");

    run_debug(overflow_realloc_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(30 bytes, API 'o')");
    expect_words(&r, "at p+31: 0x61 *** OUCH");
    expect_stack(&r, "vigil_obj_realloc called by thread T0 here:", NULL, NULL);
    expect_stack(&r, "allocated by thread T0 here:", "overflow_realloc_child",
                 "@overflow-realloc-alloc");
}

static void underflow_child(void *arg)
{
    size_t reach = (size_t)(uintptr_t)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(16);
    announce(p);
    memset(p - reach, 'x', reach);
    vigil_mem_free(p);
}

static void test_underflow(void)
{
    struct child_result r;
    run_debug(underflow_child, (void *)(uintptr_t)1, &r);
    expect_report(&r, "buffer underflow", "(16 bytes, API 'm')");
    expect_words(&r, "at p-1: 0x78 *** OUCH");
    /* Far enough to wipe out the API id: still told from an invalid free. */
    run_debug(underflow_child, (void *)(uintptr_t)VIGIL_DEBUG_WORD, &r);
    expect_report(&r, "buffer underflow", "(16 bytes, API id damaged)");
    expect_words(&r, "*** OUCH (not 'r', 'm' or 'o')");
}

static void mismatch_child(void *arg)
{
    int pair = (int)(intptr_t)arg;
    int a = pair / 3, b = pair % 3;
    vigil_setup_debug_hooks();
    void *p = apis[a].malloc(16);
    announce(p);
    apis[b].free(p);
}

static void test_api_mismatch(void)
{
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            if (a == b)
                continue;
            struct child_result r;
            char rest[64], words[128];
            run_debug(mismatch_child, (void *)(intptr_t)(a * 3 + b), &r);
            snprintf(rest, sizeof rest, "(16 bytes, API '%c')", apis[a].id);
            expect_report(&r, "API mismatch", rest);
            snprintf(words, sizeof words, "allocated with vigil_%s_malloc, freed with vigil_%s_free",
                     apis[a].name, apis[b].name);
            expect_words(&r, words);
        }
}

static void mismatch_realloc_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    void *p = vigil_raw_malloc(16);
    announce(p);
    vigil_mem_realloc(p, 32);
}

static void test_api_mismatch_realloc(void)
{
    struct child_result r;
    run_debug(mismatch_realloc_child, NULL, &r);
    expect_report(&r, "API mismatch", "(16 bytes, API 'r')");
    expect_words(&r, "allocated with vigil_raw_malloc, reallocated with vigil_mem_realloc");
}

static void double_free_child(void *arg)
{
    const struct api *a = &apis[(intptr_t)arg];
    vigil_setup_debug_hooks();
    void *p = a->malloc(24);
    announce(p);
    a->free(p);
    a->free(p);
}

static void test_double_free(void)
{
    for (int a = 0; a < 3; a++) {
        struct child_result r;
        char rest[64];
        run_debug(double_free_child, (void *)(intptr_t)a, &r);
        if (quarantine() >= 1024)
            snprintf(rest, sizeof rest, "(24 bytes, API '%c')", apis[a].id);
        else
            snprintf(rest, sizeof rest, "(freed before: size and API no longer known)");
        expect_report(&r, "double free", rest);
    }
}

/* With no quarantine the block goes straight back to the allocator, which
 * writes its free-list link over the header. */
static void test_double_free_no_quarantine(void)
{
    const char *modes[] = { "VIGIL_MALLOC=arena", "VIGIL_MALLOC=malloc" };
    for (int m = 0; m < 2; m++) {
        const char *env[] = { modes[m], "VIGIL_QUARANTINE=0", "VIGIL_ABORT=1", NULL };
        struct child_result r;
        probe("double-free", env, &r);
        expect_report(&r, "double free", "(freed before: size and API no longer known)");
    }
}

/* The checker never crashes and names the error right (the most specific
 * true statement): a double free of a block whose mapping is gone, of a 4
 * KiB block libc has since written its links into, an 8-byte block damaged
 * on both sides with its size field intact. */
static void test_diagnosis_specific(void)
{
    const char *large[] = { "VIGIL_MALLOC=malloc_debug", "VIGIL_QUARANTINE=0",
                            "VIGIL_ABORT=1", NULL };
    struct child_result r;
    probe("double-free-large", large, &r);
    if (VIGIL_ASAN_ENABLED) {
        /* ASan's allocator keeps freed memory mapped (its quarantine): the
         * 0xdd fill is still there to say what happened. */
        expect_report(&r, "double free", "(freed before: size and API no longer known)");
    } else {
        expect_report(&r, "invalid free", "(not a vigil block)");
        expect_words(&r, "not readable (not mapped)");
    }
    const char *modes[] = { "VIGIL_MALLOC=malloc_debug", "VIGIL_MALLOC=arena_debug" };
    for (int m = 0; m < 2; m++) {
        const char *env[] = { modes[m], "VIGIL_QUARANTINE=0", "VIGIL_ABORT=1", NULL };
        probe("double-free-4k", env, &r);
        expect_report(&r, "double free", "(freed before: size and API no longer known)");
    }
    const char *arena[] = { "VIGIL_MALLOC=arena_debug", "VIGIL_ABORT=1", NULL };
    probe("both-sides", arena, &r);
    expect_report(&r, "buffer underflow", "(8 bytes, API id damaged)");
}

enum wild { WILD_STACK, WILD_MIDDLE, WILD_MIDDLE8, WILD_LIBC, WILD_UNMAPPED, WILD_REALLOC };

static void invalid_child(void *arg)
{
    enum wild w = (enum wild)(intptr_t)arg;
    char stack[64] __attribute__((aligned(16)));
    vigil_setup_debug_hooks();
    char *p = NULL;
    switch (w) {
    case WILD_STACK:
        memset(stack, 0, sizeof stack);
        p = stack + 32;
        break;
    case WILD_MIDDLE:
        p = (char *)vigil_mem_malloc(64) + 16;
        break;
    case WILD_MIDDLE8:
        p = (char *)vigil_mem_malloc(64) + 8;
        break;
    case WILD_LIBC:
        p = malloc(64);
        memset(p, 0x11, 64);
        break;
    case WILD_UNMAPPED:
    case WILD_REALLOC: {
        /* The header would be on a page that is not there. */
        long ps = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * (size_t)ps, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(m, (size_t)ps);
        p = m + ps;
        break;
    }
    }
    announce(p);
    if (w == WILD_REALLOC)
        vigil_mem_realloc(p, 10);
    else
        vigil_mem_free(p);
}

static void test_invalid_free(void)
{
    const char *names[] = { "stack", "middle", "middle+8", "libc", "unmapped", "realloc" };
    for (int w = WILD_STACK; w <= WILD_REALLOC; w++) {
        struct child_result r;
        run_debug(invalid_child, (void *)(intptr_t)w, &r);
        expect_report(&r, "invalid free", "(not a vigil block)");
        if (w == WILD_UNMAPPED || w == WILD_REALLOC)
            expect_words(&r, "not readable (not mapped)");
        if (w == WILD_MIDDLE8)
            expect_words(&r, "not 16-byte aligned");
        if (w == WILD_REALLOC)
            expect_words(&r, "\nvigil_mem_realloc called by thread T0 here:\n    #0 0x");
        if (r.signo != SIGABRT)
            fprintf(stderr, "invalid free (%s) did not abort\n", names[w]);
    }
}

/* ---- realloc ---- */

static void realloc_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    unsigned char *p = vigil_mem_malloc(20);
    memset(p, 'a', 20);
    unsigned char *q = vigil_mem_realloc(p, 100);
    check_layout(q, 100, 'm');
    for (size_t i = 0; i < 100; i++)
        CHILD_CHECK(q[i] == (i < 20 ? 'a' : 0xCD), 30);
    /* Shrinking stays in place, drops the tail to 0xDD, moves the guard. */
    unsigned char *r = vigil_mem_realloc(q, 10);
    CHILD_CHECK(r == q, 31);
    check_layout(r, 10, 'm');
    for (size_t i = 0; i < 10; i++)
        CHILD_CHECK(r[i] == 'a', 32);
    may_read(r + 10, 100 - 10 + VIGIL_DEBUG_TRAILER);
    for (size_t i = 10 + VIGIL_DEBUG_TRAILER; i < 100 + VIGIL_DEBUG_TRAILER; i++)
        CHILD_CHECK(r[i] == 0xDD, 33);
    CHILD_CHECK(vigil_check_block(r) == 0, 34);
    /* Growing a big block moves it; a huge shrink moves it too. */
    unsigned char *big = vigil_raw_malloc(100000);
    memset(big, 'b', 100000);
    unsigned char *small = vigil_raw_realloc(big, 100);
    check_layout(small, 100, 'r');
    for (size_t i = 0; i < 100; i++)
        CHILD_CHECK(small[i] == 'b', 35);
    /* NULL and 0 behave as the contract says. */
    unsigned char *n = vigil_obj_realloc(NULL, 5);
    check_layout(n, 5, 'o');
    n = vigil_obj_realloc(n, 0);
    CHILD_CHECK(n != NULL, 36);
    check_layout(n, 0, 'o');
    vigil_obj_free(n);
    vigil_raw_free(small);
    vigil_mem_free(r);
}

static void shrink_overflow_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(40);
    p = vigil_mem_realloc(p, 10);
    announce(p);
    p[10] = 'z';
    vigil_mem_free(p);
}

static void test_realloc(void)
{
    struct child_result r;
    run_debug(realloc_child, NULL, &r);
    expect_clean(&r, "realloc");
    run_debug(shrink_overflow_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(10 bytes, API 'm')");
    expect_words(&r, "at p+10: 0x7a *** OUCH");
}

/* An allocator that refuses anything above 4 KiB, to make realloc fail. */
static vigil_allocator refused_inner;
static void *small_malloc(void *ctx, size_t n)
{
    (void)ctx;
    if (n > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return refused_inner.malloc(refused_inner.ctx, n);
}
static void *small_calloc(void *ctx, size_t n, size_t m)
{
    (void)ctx;
    if (n * m > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return refused_inner.calloc(refused_inner.ctx, n, m);
}
static void *small_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    if (n > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return refused_inner.realloc(refused_inner.ctx, p, n);
}
static void small_free(void *ctx, void *p)
{
    (void)ctx;
    refused_inner.free(refused_inner.ctx, p);
}

static void realloc_fail_child(void *arg)
{
    (void)arg;
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &refused_inner);
    vigil_allocator small = { NULL, small_malloc, small_calloc, small_realloc, small_free };
    vigil_set_allocator(VIGIL_DOMAIN_MEM, &small);
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(100);
    memset(p, 'k', 100);
    errno = 0;
    CHILD_CHECK(vigil_mem_realloc(p, 10000) == NULL, 40);
    CHILD_CHECK(errno == ENOMEM, 41);
    errno = 0;
    CHILD_CHECK(vigil_mem_realloc(p, (size_t)PTRDIFF_MAX - 1) == NULL, 42);
    CHILD_CHECK(errno == ENOMEM, 43);
    for (int i = 0; i < 100; i++)
        CHILD_CHECK(p[i] == 'k', 44);
    CHILD_CHECK(vigil_check_block(p) == 0, 45);
    check_layout((unsigned char *)p, 100, 'm');
    p = vigil_mem_realloc(p, 200);
    CHILD_CHECK(p && p[99] == 'k', 46);
    vigil_mem_free(p);
}

static void test_realloc_failure(void)
{
    struct child_result r;
    run_debug(realloc_fail_child, NULL, &r);
    expect_clean(&r, "failing realloc");
}


void register_debug_suite(void)
{
    static const struct test_case tests[] = {
        { "layout and fills (0xCD, calloc 0, 0xDD)", test_fills },
        { "buffer overflow", test_overflow },
        { "buffer underflow", test_underflow },
        { "API mismatch, all 6 pairs", test_api_mismatch },
        { "API mismatch on realloc", test_api_mismatch_realloc },
        { "double free (quarantined)", test_double_free },
        { "double free, quarantine off", test_double_free_no_quarantine },
        { "invalid free, no crash", test_invalid_free },
        { "the most specific diagnosis, never a crash", test_diagnosis_specific },
        { "realloc both ways", test_realloc },
        { "failing realloc keeps the block", test_realloc_failure },
        { NULL, NULL },
    };
    add_suite("debug", tests);
}
