/* trace_api.c - allocation tracing through the vigil.h API, for
 * tests/cunit/test_trace.c, which runs each mode in a fresh process and
 * asserts what it prints.  Built with -g and frame pointers, no inlining:
 * every allocation site is a function of its own, and prints the line of
 * its call ("expect NAME trace_api.c:LINE"), which the symbolized stacks
 * must name.
 *
 *   trace_api top        three sites in three domains, printed most bytes first
 *   trace_api semantics  vigil_trace_start's EINVAL, frames, get, stop
 *   trace_api before     blocks allocated before start: freed and
 *                        reallocated without a record of their own
 *   trace_api realloc    a record moves with realloc, stays when it fails
 *   trace_api custom     tracing over a custom allocator of the program's
 *   trace_api debug      tracing over the debug hooks (VIGIL_MALLOC=debug)
 *   trace_api threads    8 threads at once from four sites; serial: the same
 *                        threads one after the other
 *   trace_api snapshot FILE  snapshots compared; the last written to FILE
 *   trace_api lost       the table and the depot kept small: blocks and
 *                        stacks lost, counted, and the program goes on
 *   trace_api env        only what VIGIL_TRACE started (VIGIL_TRACE=2)
 *   trace_api exit       allocate and exit (VIGIL_TRACE_TOP, VIGIL_TRACE_FILE)
 *   trace_api exit-closed  the same, closing stderr in an exit handler that
 *                        runs before vigil's (as coreutils' close_stdout does) */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stacks_depot.h"
#include "trace_table.h"
#include "vigil.h"

/* The line of the allocation that follows, printed by its first call (a
 * site's first call is made before any thread runs it). */
#define EXPECT(name)                                                          \
    do {                                                                      \
        static int said_;                                                     \
        if (!said_) {                                                         \
            said_ = 1;                                                        \
            printf("expect %s trace_api.c:%d\n", name, __LINE__ + 1);         \
        }                                                                     \
    } while (0)

static _Atomic int sink;             /* threads call the sites too */
/* Loop counts the compiler cannot see: a loop unrolled would call a site
 * from several addresses, each a stack of its own. */
static volatile int vary = 1;
#define N(n) ((n) * vary)

/* ---- allocation sites ---- */

__attribute__((noinline)) void *trace_site_small(void)
{
    EXPECT("trace_site_small");
    void *p = vigil_mem_malloc(100);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_calloc(void)
{
    EXPECT("trace_site_calloc");
    void *p = vigil_obj_calloc(10, 100);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_raw(void)
{
    EXPECT("trace_site_raw");
    void *p = vigil_raw_malloc(5000);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_realloc(void *old, size_t n)
{
    EXPECT("trace_site_realloc");
    void *p = vigil_mem_realloc(old, n);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_sized(size_t n)
{
    EXPECT("trace_site_sized");
    void *p = vigil_mem_malloc(n);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_other(size_t n)
{
    EXPECT("trace_site_other");
    void *p = vigil_mem_malloc(n);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_t1(void)
{
    EXPECT("trace_site_t1");
    void *p = vigil_mem_malloc(48);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_t2(void)
{
    EXPECT("trace_site_t2");
    void *p = vigil_obj_malloc(200);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_t3(void)
{
    EXPECT("trace_site_t3");
    void *p = vigil_mem_calloc(1, 16);
    sink++;
    return p;
}

__attribute__((noinline)) void *trace_site_t4(void *old)
{
    EXPECT("trace_site_t4");
    void *p = vigil_mem_realloc(old, 150);
    sink++;
    return p;
}

static void say_top(size_t limit)
{
    size_t shown = vigil_trace_print_top(stdout, limit);
    printf("shown=%zu\n", shown);
}

/* ---- modes ---- */

static void mode_top(void)
{
    if (vigil_trace_start(16) != 0)
        exit(3);
    void *small[10], *wide[3];
    for (int i = 0; i < N(10); i++)
        small[i] = trace_site_small();
    for (int i = 0; i < N(3); i++)
        wide[i] = trace_site_calloc();
    void *raw = trace_site_raw();
    for (int i = 0; i < N(5); i++)
        vigil_mem_free(trace_site_sized(64));           /* gone again */
    say_top(0);
    say_top(2);
    /* vigil_trace_get: the site, then the call of it. */
    void *f[16];
    int n = vigil_trace_get(small[3], f, 16);
    uintptr_t at = (uintptr_t)f[0], fn = (uintptr_t)trace_site_small;
    printf("get=%d in_site=%d\n", n, n > 1 && at > fn && at - fn < 256);
    printf("get_max1=%d\n", vigil_trace_get(small[3], f, 1));
    printf("get_max0=%d\n", vigil_trace_get(small[3], f, 0));
    printf("get_interior=%d\n", vigil_trace_get((char *)small[3] + 1, f, 16));
    printf("get_null=%d\n", vigil_trace_get(NULL, f, 16));
    for (int i = 0; i < N(10); i++)
        vigil_mem_free(small[i]);
    for (int i = 0; i < N(3); i++)
        vigil_obj_free(wide[i]);
    vigil_raw_free(raw);
    say_top(0);
}

static void mode_semantics(void)
{
    const int bad[] = { 0, 65, -3, 1000 };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0] * (size_t)vary; i++) {
        errno = 0;
        int r = vigil_trace_start(bad[i]);
        printf("start(%d)=%d%s frames=%d\n", bad[i], r, errno == EINVAL ? " EINVAL" : "",
               vigil_trace_frames());
    }
    errno = 0;
    vigil_trace_snapshot *s = vigil_trace_take_snapshot();
    printf("snapshot_off=%s%s\n", s ? "taken" : "NULL", errno == EINVAL ? " EINVAL" : "");
    say_top(5);
    int r = vigil_trace_start(64);
    printf("start(64)=%d frames=%d\n", r, vigil_trace_frames());
    void *p = trace_site_small();
    void *f[64];
    printf("get=%d\n", vigil_trace_get(p, f, 64) > 0);
    r = vigil_trace_start(1);
    printf("start(1)=%d frames=%d\n", r, vigil_trace_frames());
    printf("get_kept=%d\n", vigil_trace_get(p, f, 64));      /* recorded with 64 */
    void *q = trace_site_small();
    printf("get_one=%d\n", vigil_trace_get(q, f, 64));
    vigil_trace_stop();
    int frames = vigil_trace_frames();
    printf("stopped frames=%d get=%d\n", frames, vigil_trace_get(p, f, 64));
    vigil_trace_stop();                                       /* twice: harmless */
    printf("name=%s\n", vigil_allocator_name());
    vigil_mem_free(p);
    vigil_mem_free(q);
    printf("start(8)=%d\n", vigil_trace_start(8));
    say_top(0);                                               /* forgotten: nothing */
}

static void mode_before(void)
{
    void *m = vigil_mem_malloc(30), *o = vigil_obj_calloc(2, 40), *r = vigil_raw_malloc(3000);
    void *big = vigil_mem_malloc(100000), *grow = vigil_mem_malloc(20);
    vigil_trace_start(16);
    vigil_mem_free(m);
    vigil_obj_free(o);
    vigil_raw_free(r);
    vigil_mem_free(big);
    grow = trace_site_realloc(grow, 7000);                    /* now traced, here */
    void *keep = trace_site_sized(77);
    say_top(0);
    vigil_mem_free(grow);
    vigil_mem_free(keep);
}

/* The mem domain's allocator, whose realloc to NO_MEMORY bytes fails as
 * an exhausted allocator's does (a real request that large would be the
 * sanitizers' error, not a NULL). */
#define NO_MEMORY ((size_t)123456789)
static vigil_allocator below;

static void *failing_realloc(void *ctx, void *p, size_t n)
{
    if (n == NO_MEMORY) {
        errno = ENOMEM;
        return NULL;
    }
    return below.realloc(ctx, p, n);
}

static void mode_realloc(void)
{
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &below);
    vigil_allocator failing = below;
    failing.realloc = failing_realloc;
    vigil_set_allocator(VIGIL_DOMAIN_MEM, &failing);
    vigil_trace_start(16);
    void *p = trace_site_sized(10);
    void *q = trace_site_realloc(p, 5000);                    /* moves out of the arena */
    void *f[16];
    printf("moved=%d old_untraced=%d\n", p != q, p != q && vigil_trace_get(p, f, 16) == 0);
    errno = 0;
    void *fail = vigil_mem_realloc(q, NO_MEMORY);
    printf("failed=%d enomem=%d\n", fail == NULL, errno == ENOMEM);
    void *r = trace_site_other(300);
    r = trace_site_realloc(r, 200);
    say_top(0);
    vigil_mem_free(q);
    vigil_mem_free(r);
}

/* A custom allocator: libc's, counting, with a context it checks. */
struct counting {
    unsigned magic;
    int mallocs, frees, bad_ctx;
};

static struct counting counts = { 0xC0FFEEu, 0, 0, 0 };

static void check_ctx(void *ctx)
{
    if (ctx != &counts || counts.magic != 0xC0FFEEu)
        counts.bad_ctx++;
}

static void *c_malloc(void *ctx, size_t n)
{
    check_ctx(ctx);
    counts.mallocs++;
    return malloc(n ? n : 1);
}

static void *c_calloc(void *ctx, size_t a, size_t b)
{
    check_ctx(ctx);
    counts.mallocs++;
    return calloc(a ? a : 1, b ? b : 1);
}

static void *c_realloc(void *ctx, void *p, size_t n)
{
    check_ctx(ctx);
    return realloc(p, n ? n : 1);
}

static void c_free(void *ctx, void *p)
{
    check_ctx(ctx);
    if (p)
        counts.frees++;
    free(p);
}

static void mode_custom(void)
{
    const vigil_allocator custom = { &counts, c_malloc, c_calloc, c_realloc, c_free };
    vigil_set_allocator(VIGIL_DOMAIN_MEM, &custom);
    vigil_trace_start(8);
    void *p[4];
    for (int i = 0; i < N(4); i++)
        p[i] = trace_site_sized(200);
    vigil_mem_free(p[0]);
    vigil_mem_free(p[1]);
    printf("name=%s\n", vigil_allocator_name() ? vigil_allocator_name() : "(null)");
    say_top(0);
    vigil_allocator now;
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &now);
    printf("traced_table_ctx=%d\n", now.ctx == (void *)&counts);
    vigil_trace_stop();
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &now);
    printf("restored=%d\n", now.malloc == c_malloc && now.free == c_free && now.ctx == &counts);
    vigil_mem_free(p[2]);
    vigil_mem_free(p[3]);
    printf("custom mallocs=%d frees=%d bad_ctx=%d\n", counts.mallocs, counts.frees, counts.bad_ctx);
}

static void mode_debug(int overflow)
{
    vigil_trace_start(16);
    printf("name=%s\n", vigil_allocator_name());
    char *p[3];
    for (int i = 0; i < N(3); i++)
        p[i] = trace_site_sized(40);
    say_top(0);
    if (overflow) {
        fflush(stdout);
        p[1][40] = 'x';
    }
    for (int i = 0; i < N(3); i++)
        vigil_mem_free(p[i]);
    printf("freed\n");
}

/* ---- threads ---- */

#define THREADS 8

/* The blocks left live, reachable (a leak checker's run is clean). */
static void *volatile kept[16384];      /* volatile: only ever written */
static _Atomic unsigned nkept;

static void keep(void *p)
{
    unsigned i = atomic_fetch_add(&nkept, 1);
    if (i < sizeof kept / sizeof kept[0])
        kept[i] = p;
}

static void *worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < N(100 * (k + 1)); i++)
        keep(trace_site_t1());
    for (int i = 0; i < N(500); i++)
        keep(trace_site_t2());
    for (int i = 0; i < N(2000); i++)
        vigil_mem_free(trace_site_t3());                      /* gone */
    for (int i = 0; i < N(300); i++)
        keep(trace_site_t4(vigil_mem_malloc(100)));           /* moved */
    return NULL;
}

static void mode_threads(int serial)
{
    /* One pass of each site first, in this thread, untraced: their first
     * calls print the expectations, which the threads must not race for. */
    vigil_mem_free(trace_site_t1());
    vigil_obj_free(trace_site_t2());
    vigil_mem_free(trace_site_t3());
    vigil_mem_free(trace_site_t4(NULL));
    /* Two frames, the site and the thread function: beyond it lies the C
     * library's thread start, which only libunwind walks, and a build may
     * have none (ThreadSanitizer's: stacks_capture.c); the frame walk
     * would read each thread's own leftovers there, a site per thread. */
    vigil_trace_start(2);
    pthread_t t[THREADS];
    for (int k = 0; k < N(THREADS); k++) {
        if (pthread_create(&t[k], NULL, worker, (void *)(intptr_t)k) != 0)
            exit(4);
        if (serial)
            pthread_join(t[k], NULL);
    }
    if (!serial)
        for (int k = 0; k < N(THREADS); k++)
            pthread_join(t[k], NULL);
    say_top(0);
    vigil_trace_snapshot *s = vigil_trace_take_snapshot();
    vigil_trace_snapshot_compare(stdout, NULL, s, 0);
    vigil_trace_snapshot_free(s);
}

static void mode_snapshot(const char *file)
{
    vigil_trace_start(16);
    void *a[10], *b[20];
    for (int i = 0; i < N(10); i++)
        a[i] = trace_site_sized(100);
    vigil_trace_snapshot *s1 = vigil_trace_take_snapshot();
    for (int i = 0; i < N(20); i++)
        b[i] = trace_site_other(50);
    for (int i = 0; i < N(5); i++)
        vigil_mem_free(a[i]);
    vigil_trace_snapshot *s2 = vigil_trace_take_snapshot();
    printf("compared=%zu\n", vigil_trace_snapshot_compare(stdout, s1, s2, 0));
    printf("compared=%zu\n", vigil_trace_snapshot_compare(stdout, NULL, s2, 1));
    printf("compared=%zu\n", vigil_trace_snapshot_compare(stdout, s2, s1, 0));
    FILE *f = fopen(file, "w");
    int w = f ? vigil_trace_snapshot_write(s2, f) : -2;
    if (f)
        fclose(f);
    printf("written=%d\n", w);
    vigil_trace_stop();
    errno = 0;
    printf("after_stop=%s\n", vigil_trace_take_snapshot() ? "taken" : "NULL");
    printf("compared=%zu\n", vigil_trace_snapshot_compare(stdout, s1, s2, 1));
    vigil_trace_snapshot_free(s1);
    vigil_trace_snapshot_free(s2);
    vigil_trace_snapshot_free(NULL);
    for (int i = 5; i < N(10); i++)
        vigil_mem_free(a[i]);
    for (int i = 0; i < N(20); i++)
        vigil_mem_free(b[i]);
}

static void mode_lost(void)
{
    enum { N_LOST = 30000 };
    static void *v[N_LOST];
    vigil__trace_table_limit(256);
    vigil_trace_start(4);
    for (int i = 0; i < N_LOST * vary; i++)
        v[i] = trace_site_sized(32);
    say_top(1);
    for (int i = 0; i < N_LOST * vary; i++)
        vigil_mem_free(v[i]);
    vigil__stack_depot_limit(1);
    void *p = trace_site_other(24);                           /* a new stack: lost */
    void *f[4];
    printf("new_stack_traced=%d\n", vigil_trace_get(p, f, 4));
    say_top(0);
    vigil_mem_free(p);
}

static void mode_env(void)
{
    printf("frames=%d\n", vigil_trace_frames());
    void *p = trace_site_sized(1234);
    say_top(0);
    vigil_mem_free(p);
}

static void close_stderr(void)
{
    fclose(stderr);
}

static void mode_exit(int close_err)
{
    keep(trace_site_raw());             /* vigil starts: its exit handler first */
    if (close_err)
        atexit(close_stderr);
    keep(trace_site_small());
    keep(trace_site_small());
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    setvbuf(stdout, NULL, _IONBF, 0);     /* in order with what vigil writes */
    if (strcmp(mode, "top") == 0)
        mode_top();
    else if (strcmp(mode, "semantics") == 0)
        mode_semantics();
    else if (strcmp(mode, "before") == 0)
        mode_before();
    else if (strcmp(mode, "realloc") == 0)
        mode_realloc();
    else if (strcmp(mode, "custom") == 0)
        mode_custom();
    else if (strcmp(mode, "debug") == 0 || strcmp(mode, "debug-overflow") == 0)
        mode_debug(mode[5] != '\0');
    else if (strcmp(mode, "threads") == 0 || strcmp(mode, "serial") == 0)
        mode_threads(mode[0] == 's');
    else if (strcmp(mode, "snapshot") == 0 && argc > 2)
        mode_snapshot(argv[2]);
    else if (strcmp(mode, "lost") == 0)
        mode_lost();
    else if (strcmp(mode, "env") == 0)
        mode_env();
    else if (strcmp(mode, "exit") == 0 || strcmp(mode, "exit-closed") == 0)
        mode_exit(mode[4] != '\0');
    else {
        fprintf(stderr, "trace_api: unknown mode '%s'\n", mode);
        return 2;
    }
    return 0;
}
