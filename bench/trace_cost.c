/*
 * bench/trace_cost.c - what tracing adds to one allocation: a plain
 * malloc/free program, timed under whatever preload runs it (none, vigil,
 * vigil with VIGIL_TRACE=16, heaptrack), so every tool sees the same calls
 * (make bench-trace, bench/trace.sh).
 *
 *   trace_cost churn [N]    N malloc/free pairs (default 2,000,000), 24
 *                           calls deep so a 16-frame stack is whole, from
 *                           8 call sites, 4,096 blocks live at a time of
 *                           16 to 256 bytes; prints "ns/pair: X"
 *   trace_cost live [N]     allocate N 64-byte blocks (default 1,000,000)
 *                           from 8 sites and keep them to the end (for the
 *                           bytes tracing keeps per live block)
 *
 * Built with frame pointers and without inlining, as the programs whose
 * stacks one wants are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPTH 24
#define LIVE 4096

static volatile int sink;

/* Eight distinct call sites, each its own stack. */
#define SITE(k)                                                               \
    __attribute__((noinline)) static void *site##k(size_t n)                  \
    {                                                                         \
        void *p = malloc(n);                                                  \
        sink++;                                                               \
        return p;                                                             \
    }
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7)
static void *(*const sites[8])(size_t) = { site0, site1, site2, site3, site4, site5, site6, site7 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void churn(long n)
{
    static void *live[LIVE];
    unsigned x = 12345;
    for (long i = 0; i < LIVE; i++)
        live[i] = sites[i & 7](16 + (i % 16) * 16);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        unsigned k = (x >> 8) % LIVE;
        free(live[k]);
        live[k] = sites[(x >> 4) & 7](16 + ((x >> 20) % 16) * 16);
    }
    double t1 = now_ns();
    for (long i = 0; i < LIVE; i++)
        free(live[i]);
    printf("ns/pair: %.1f\n", (t1 - t0) / (double)n);
}

static void keep(long n)
{
    void **v = calloc((size_t)n, sizeof *v);
    for (long i = 0; i < n; i++)
        v[i] = sites[i & 7](64);
    printf("live: %ld blocks of 64 bytes, %p\n", n, (void *)v[n - 1]);
}

__attribute__((noinline)) static void descend(int depth, const char *mode, long n)
{
    if (depth > 0) {
        descend(depth - 1, mode, n);
        sink++;
        return;
    }
    if (strcmp(mode, "live") == 0)
        keep(n > 0 ? n : 1000000);
    else
        churn(n > 0 ? n : 2000000);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "churn";
    long n = argc > 2 ? atol(argv[2]) : 0;
    if (strcmp(mode, "churn") != 0 && strcmp(mode, "live") != 0) {
        fprintf(stderr, "usage: trace_cost churn|live [N]\n");
        return 2;
    }
    descend(DEPTH, mode, n);
    return 0;
}
