/*
 * bench/stacks.c - what one stack capture of 16 frames costs: the
 * frame-pointer walk (with the thread's bounds learnt, and without, when it
 * reads each frame through vigil__peek) against libunwind's unw_backtrace.
 *
 *   ./bench/stacks                 every way, cycles (TSC) and ns a capture
 *   ./bench/stacks WAY [N]         only WAY (fp, fp-unbounded, unwind), N
 *                                  captures: for callgrind, e.g.
 *   valgrind --tool=callgrind --toggle-collect='vigil__stack_capture*' \
 *       ./bench/stacks unwind 10000
 * The captures start 24 calls deep, so all 16 frames are found.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#include "stacks_capture.h"

#define FRAMES 16
#define DEPTH 24

typedef int (*capture_fn)(void **, int, int);
static volatile int sink;

/* DEPTH frames of recursion with frame records, then n captures. */
__attribute__((noinline)) static int descend(int depth, capture_fn fn, long n)
{
    if (depth > 0) {
        int r = descend(depth - 1, fn, n);
        sink++;
        return r;
    }
    void *frames[FRAMES];
    int got = 0;
    for (long i = 0; i < n; i++)
        got = fn(frames, FRAMES, 0);
    return got;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

struct run {
    capture_fn fn;
    long n;
    int learn;
    int got;
    double ns, cycles;
};

static void *run_one(void *arg)
{
    struct run *r = arg;
    if (r->learn)
        vigil__stack_learn_bounds();
    descend(DEPTH, r->fn, r->n / 10 + 1);       /* warm up: caches, libunwind's too */
    double t0 = now_ns();
#ifdef HAVE_TSC
    unsigned long long c0 = __rdtsc();
#endif
    r->got = descend(DEPTH, r->fn, r->n);
#ifdef HAVE_TSC
    r->cycles = (double)(__rdtsc() - c0) / (double)r->n;
#else
    r->cycles = 0;
#endif
    r->ns = (now_ns() - t0) / (double)r->n;
    return NULL;
}

/* Each way in a thread of its own, so "not learnt" is true of its thread. */
static void measure(const char *name, capture_fn fn, int learn, long n)
{
    struct run r = { fn, n, learn, 0, 0, 0 };
    pthread_t t;
    if (pthread_create(&t, NULL, run_one, &r) != 0) {
        perror("pthread_create");
        exit(1);
    }
    pthread_join(t, NULL);
    printf("%-14s %2d frames  %8.1f cycles  %8.1f ns  per capture\n", name, r.got, r.cycles, r.ns);
}

int main(int argc, char **argv)
{
    if (!vigil__stack_unwinder_load())
        fprintf(stderr, "stacks: libunwind not loaded: its row counts nothing\n");
    struct { const char *name; capture_fn fn; int learn; long n; } ways[] = {
        { "fp", vigil__stack_capture, 1, 2000000 },
        { "fp-unbounded", vigil__stack_capture, 0, 200000 },
        { "unwind", vigil__stack_capture_unwind, 1, 200000 },
    };
    int nways = (int)(sizeof ways / sizeof ways[0]);
    for (int i = 0; i < nways; i++) {
        if (argc > 1 && strcmp(argv[1], ways[i].name) != 0)
            continue;
        long n = argc > 2 ? atol(argv[2]) : ways[i].n;
        measure(ways[i].name, ways[i].fn, ways[i].learn, n > 0 ? n : 1);
    }
    return 0;
}
