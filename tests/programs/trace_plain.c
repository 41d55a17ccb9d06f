/* trace_plain.c - an unmodified program (plain malloc, no vigil.h) for
 * tracing through the preload (tests/tools/trace.sh).  Each allocation
 * site is a function of its own, whose first call prints the line of its
 * allocation ("expect NAME trace_plain.c:LINE") with write(2), so stdio
 * allocates no buffer: the traced heap is this program's blocks alone.
 * Everything is left allocated at exit, where the preload prints it.
 *
 *   trace_plain sites     malloc, calloc, realloc, posix_memalign,
 *                         aligned_alloc, in five sites of known sizes
 *   trace_plain threads   8 threads at once from two sites, known counts
 *   trace_plain leak      one block of 40 bytes leaked (tracing must not make
 *                         it reachable to a leak checker) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int sink;             /* threads call the sites too */
static volatile int vary = 1;           /* loop counts the compiler cannot see */

static void say(const char *name, int line)
{
    char buf[128];
    int n = snprintf(buf, sizeof buf, "expect %s trace_plain.c:%d\n", name, line);
    if (write(STDOUT_FILENO, buf, (size_t)n) != n)
        exit(3);
}

#define EXPECT(name)                                                          \
    do {                                                                      \
        static int said_;                                                     \
        if (!said_) {                                                         \
            said_ = 1;                                                        \
            say(name, __LINE__ + 1);                                          \
        }                                                                     \
    } while (0)

__attribute__((noinline)) void *plain_big(void)
{
    EXPECT("plain_big");
    void *p = calloc(1, 100000);
    sink++;
    return p;
}

__attribute__((noinline)) void *plain_name(int i)
{
    EXPECT("plain_name");
    char *p = malloc(40);
    sink++;
    if (p)
        memset(p, 'a' + i % 26, 40);
    return p;
}

__attribute__((noinline)) void *plain_page_aligned(void)
{
    void *p = NULL;
    EXPECT("plain_page_aligned");
    int r = posix_memalign(&p, 4096, 5000);
    sink++;
    return r == 0 ? p : NULL;
}

__attribute__((noinline)) void *plain_line_aligned(void)
{
    EXPECT("plain_line_aligned");
    void *p = aligned_alloc(64, 128);
    sink++;
    return p;
}

__attribute__((noinline)) void *plain_grow(void *old)
{
    EXPECT("plain_grow");
    void *p = realloc(old, 3000);
    sink++;
    return p;
}

__attribute__((noinline)) void *plain_gone(void)
{
    void *p = malloc(777);
    sink++;
    return p;
}

static void sites(void)
{
    static void *keep[16];
    keep[0] = plain_big();
    for (int i = 0; i < 10 * vary; i++)
        keep[1 + i] = plain_name(i);
    keep[11] = plain_page_aligned();
    keep[12] = plain_line_aligned();
    keep[13] = plain_grow(malloc(10));
    for (int i = 0; i < 5 * vary; i++)
        free(plain_gone());
    sink = keep[13] != NULL;
}

/* ---- threads ---- */

__attribute__((noinline)) void *plain_t1(void)
{
    EXPECT("plain_t1");
    void *p = malloc(24);
    sink++;
    return p;
}

__attribute__((noinline)) void *plain_t2(void)
{
    EXPECT("plain_t2");
    void *p = calloc(3, 100);
    sink++;
    return p;
}

static void *worker(void *arg)
{
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < 50 * (k + 1) * vary; i++)
        plain_t1();
    for (int i = 0; i < 1000 * vary; i++) {
        void *p = plain_t2();
        if (i % 2)
            free(p);
    }
    return NULL;
}

static void threads(void)
{
    free(plain_t1());                   /* the expectations, from this thread */
    free(plain_t2());
    pthread_t t[8];
    for (int k = 0; k < 8 * vary; k++)
        if (pthread_create(&t[k], NULL, worker, (void *)(intptr_t)k) != 0)
            exit(4);
    for (int k = 0; k < 8 * vary; k++)
        pthread_join(t[k], NULL);
}

__attribute__((noinline)) void plain_leak(void)
{
    char *p = malloc(40);
    sink++;
    if (p)
        memset(p, 'x', 40);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "sites") == 0)
        sites();
    else if (strcmp(mode, "threads") == 0)
        threads();
    else if (strcmp(mode, "leak") == 0)
        plain_leak();
    else
        return 2;
    return 0;
}
