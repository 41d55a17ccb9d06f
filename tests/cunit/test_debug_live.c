/* test_debug_live.c - the record of live debug blocks (debug_live.h) and
 * vigil_check_heap over it: what it counts while threads allocate and
 * free, realloc in place and moving, a fork while the record is busy, and
 * the check at exit (the exit status and the words; every frame of the
 * reports is asserted by tests/tools/heapcheck.sh).
 *
 * Each case runs in a forked child: the hooks, once installed, would stay
 * for the suites after this one. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "debug_live.h"
#include "report.h"
#include "suites.h"
#include "vigil.h"
#include "vigil/annotate.h"

/* Under memcheck the children's deliberate writes past their blocks are
 * memcheck's errors too, and set their exit status: the cases run
 * natively only (tests/tools/heapcheck.sh runs the reports' programs). */
static int skipped(void)
{
    return VIGIL_RUNNING_ON_VALGRIND();
}

static size_t live_now(void)
{
    struct vigil_debug_live_stats st;
    vigil__debug_live_stats(&st);
    return st.live;
}

/* Reports and goes on, as VIGIL_ABORT=0. */
static void hooks_reporting(void)
{
    vigil_setup_debug_hooks();
    vigil__report_configure(0, 0);
}

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *s = text; (s = strstr(s, what)) != NULL; s += strlen(what))
        n++;
    return n;
}

/* ---- counting under threads ---- */

#define PER_THREAD 5000
#define THREADS 4

static void *churner(void *arg)
{
    char **mine = arg;
    for (int i = 0; i < PER_THREAD; i++)
        mine[i] = vigil_mem_malloc((size_t)(i % 700) + 1);
    for (int i = 0; i < PER_THREAD; i += 2) {
        vigil_mem_free(mine[i]);
        mine[i] = NULL;
    }
    return NULL;
}

static char *blocks[THREADS][PER_THREAD];

static void threads_child(void *arg)
{
    (void)arg;
    hooks_reporting();
    size_t before = live_now();
    pthread_t t[THREADS];
    for (int k = 0; k < THREADS; k++)
        if (pthread_create(&t[k], NULL, churner, blocks[k]))
            _exit(70);
    for (int k = 0; k < THREADS; k++)
        pthread_join(t[k], NULL);
    printf("live=%zu\n", live_now() - before);
    /* Three damaged among the 10,000 live: a pool block's tail, a large
     * block's tail, a block's pad before its data. */
    blocks[0][1][2] = 'x';                  /* 2 bytes */
    blocks[1][601][602] = 'x';              /* 602 bytes: the system's */
    blocks[2][3][-1] = 'x';
    printf("damaged=%zu\n", vigil_check_heap());
    blocks[0][1][2] = (char)0xfd;
    blocks[1][601][602] = (char)0xfd;
    blocks[2][3][-1] = (char)0xfd;
    printf("mended=%zu\n", vigil_check_heap());
    for (int k = 0; k < THREADS; k++)
        for (int i = 1; i < PER_THREAD; i += 2)
            vigil_mem_free(blocks[k][i]);
    printf("after=%zu\n", live_now() - before);
    fflush(stdout);
}

static void test_threads(void)
{
    if (skipped())
        return;
    struct child_result r;
    run_child(threads_child, NULL, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_STRING_EQUAL(r.out, "live=10000\ndamaged=3\nmended=0\nafter=0\n");
    CU_ASSERT_EQUAL(count_of(r.err, "vigil: buffer overflow on block "), 2);
    CU_ASSERT_EQUAL(count_of(r.err, "vigil: buffer underflow on block "), 1);
    CU_ASSERT_EQUAL(count_of(r.err, "    found by vigil_check_heap, which checks every live "
                                    "block: this is what freeing the block now would report\n"
                                    "vigil_check_heap called by thread T0 here:\n"), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "(602 bytes, API 'm')\n"));
}

/* ---- realloc ---- */

static void realloc_child(void *arg)
{
    (void)arg;
    hooks_reporting();
    size_t before = live_now();
    char *p = vigil_obj_malloc(100);
    char *q = vigil_obj_realloc(p, 60);     /* in place */
    char *s = vigil_obj_realloc(q, 4000);   /* moves */
    printf("in place=%d moved=%d live=%zu\n", q == p, s != q, live_now() - before);
    /* The record has the block with its new size: its new end is checked. */
    s[4000] = 'x';
    printf("damaged=%zu\n", vigil_check_heap());
    s[4000] = (char)0xfd;
    vigil_obj_free(s);
    printf("after=%zu\n", live_now() - before);
    fflush(stdout);
}

static void test_realloc(void)
{
    if (skipped())
        return;
    struct child_result r;
    run_child(realloc_child, NULL, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_STRING_EQUAL(r.out, "in place=1 moved=1 live=1\ndamaged=1\nafter=0\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: buffer overflow on block "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, " (4000 bytes, API 'o')\n"));
}

/* ---- blocks the map does not hold ---- */

/* An allocator of the program's, one table per ctx; shift 8 gives blocks
 * aligned to 8 only (so debug blocks whose data is too). */
struct cust {
    size_t shift;
};

static void *cust_malloc(void *ctx, size_t n)
{
    const struct cust *c = ctx;
    char *p = malloc(n + 16);
    return p ? p + c->shift : NULL;
}

static void *cust_calloc(void *ctx, size_t a, size_t b)
{
    const struct cust *c = ctx;
    char *p = calloc(1, a * b + 16);
    return p ? p + c->shift : NULL;
}

static void *cust_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return NULL;                        /* the hooks' realloc never calls it */
}

static void cust_free(void *ctx, void *p)
{
    const struct cust *c = ctx;
    if (p)
        free((char *)p - c->shift);
}

#define NCUST 6

/* Wrappers 3 to 8 (raw, mem and obj's are 0 to 2): the map's codes name
 * wrappers 0 to 5, the later ones are kept beside it, and so are the
 * blocks of 8-byte alignment: they are counted, checked and forgotten
 * all the same. */
static void elsewhere_child(void *arg)
{
    (void)arg;
    hooks_reporting();
    size_t before = live_now();
    static struct cust cs[NCUST];
    vigil_allocator tab[NCUST];
    char *blk[NCUST];
    for (int i = 0; i < NCUST; i++) {
        cs[i].shift = i == NCUST - 1 ? 8 : 0;
        vigil_allocator a = { &cs[i], cust_malloc, cust_calloc, cust_realloc, cust_free };
        vigil_set_allocator(VIGIL_DOMAIN_MEM, &a);
        vigil_setup_debug_hooks();
        vigil_get_allocator(VIGIL_DOMAIN_MEM, &tab[i]);
        blk[i] = tab[i].malloc(tab[i].ctx, 40);
    }
    printf("live=%zu aligned8=%d\n", live_now() - before, (int)((uintptr_t)blk[NCUST - 1] % 16));
    for (int i = 3; i < NCUST; i++)
        blk[i][40] = 'x';
    printf("damaged=%zu\n", vigil_check_heap());
    for (int i = 3; i < NCUST; i++)
        blk[i][40] = (char)0xfd;
    printf("mended=%zu\n", vigil_check_heap());
    for (int i = 0; i < NCUST; i++)
        tab[i].free(tab[i].ctx, blk[i]);
    printf("after=%zu\n", live_now() - before);
    fflush(stdout);
}

static void test_elsewhere(void)
{
    if (skipped())
        return;
    struct child_result r;
    run_child(elsewhere_child, NULL, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_STRING_EQUAL(r.out, "live=6 aligned8=8\ndamaged=3\nmended=0\nafter=0\n");
    CU_ASSERT_EQUAL(count_of(r.err, "vigil: buffer overflow on block "), 3);
    CU_ASSERT_EQUAL(count_of(r.err, "(40 bytes, API 'm')\n"), 3);
}

/* ---- fork ---- */

static volatile int stop;

static void *busy(void *arg)
{
    (void)arg;
    while (!stop)
        vigil_mem_free(vigil_mem_malloc(48));
    return NULL;
}

static void fork_child(void *arg)
{
    (void)arg;
    hooks_reporting();
    pthread_t t;
    if (pthread_create(&t, NULL, busy, NULL))
        _exit(70);
    int forks_ok = 1;
    for (int i = 0; i < 50; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* A shard the busy thread held would deadlock this. */
            for (int k = 0; k < 100; k++)
                vigil_mem_free(vigil_mem_malloc(48));
            _exit(vigil_check_heap() == 0 ? 0 : 1);
        }
        int st;
        alarm(20);
        forks_ok &= pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("forks=%d\n", forks_ok);
    fflush(stdout);
}

static void test_fork(void)
{
    if (skipped())
        return;
    struct child_result r;
    run_child(fork_child, NULL, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_STRING_EQUAL(r.out, "forks=1\n");
    CU_ASSERT_STRING_EQUAL(r.err, "");
}

/* ---- at exit ---- */

static void *volatile kept;

static void exit_child(void *arg)
{
    const char *how = arg;
    vigil_setup_debug_hooks();
    if (strcmp(how, "continue") == 0)
        vigil__report_configure(0, 0);
    else
        vigil__report_configure(1, 86);
    char *p = vigil_mem_malloc(30);
    kept = p;
    p[30] = 'x';
    if (strcmp(how, "freed") == 0) {
        vigil__report_configure(0, 0);
        vigil_mem_free(p);                  /* reported here, not again */
    }
    exit(0);                                /* run_child's _exit skips the destructors */
}

static void test_at_exit(void)
{
    if (skipped())
        return;
    struct child_result r;
    run_child(exit_child, "exitcode", &r);
    CU_ASSERT_TRUE(r.exited && r.status == 86);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: buffer overflow on block "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "    found at exit, when every live block was checked: "
                                         "the block was never freed\n\nallocated by thread T0 here:\n"));
    CU_ASSERT_PTR_NULL(strstr(r.err, "called by thread"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "vigil: exiting with status 86 (VIGIL_ERROR_EXITCODE"));

    run_child(exit_child, "continue", &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_EQUAL(count_of(r.err, "vigil: buffer overflow on block "), 1);

    run_child(exit_child, "freed", &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_EQUAL(count_of(r.err, "vigil: buffer overflow on block "), 1);
    CU_ASSERT_PTR_NULL(strstr(r.err, "found at exit"));
}

void register_debug_live_suite(void)
{
    static const struct test_case tests[] = {
        { "four threads: counted, three damaged found, mended", test_threads },
        { "realloc in place and moving: recorded with the new size", test_realloc },
        { "wrappers past the map's codes, 8-byte aligned blocks: kept beside it", test_elsewhere },
        { "fork while another thread allocates: the child goes on", test_fork },
        { "at exit: status, words; once for a block a free reported", test_at_exit },
        { NULL, NULL },
    };
    add_suite("debug live blocks", tests);
}
