/*
 * workloads.c - the single-thread workloads (random, lifo, fifo, realloc),
 * the table of all the workloads, xthread's included, and the array of live
 * blocks they share.
 *
 * Workloads (rows) are one function each, taking an allocator table.  Every
 * allocator sees the same sequence of sizes and frees (fixed seeds).  Each
 * block gets a tag written into its first bytes, which is checked before the
 * block is freed (and after every realloc), so the memory is really touched
 * and a broken allocator is caught rather than timed (stamp and check, in
 * bench.h).  One workload, xthread, runs on two threads: a producer mallocs,
 * a consumer frees, through a lock-free ring (see xthread.c); the
 * vigil-debug tables are installed before its threads start and taken down
 * after they end.  The other multi-thread workloads are in threaded.c, and in
 * the table here.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define ONE_SIZE    64      /* the LIFO and FIFO block size */
#define GROW_FROM   8
#define GROW_TO     2048
#define SIMPLE_SIZE 16      /* glibc's bench-malloc-simple's default */
#define SIMPLE_MAX  1600
static const size_t simple_batches[] = { 25, 100, 400, SIMPLE_MAX };

static void **slots;        /* the live blocks of a workload */
static size_t nslots;

/* Room for the live blocks of the largest workload. */
void bench_alloc_slots(const struct params *p)
{
    nslots = p->random_live;
    if (p->fifo_batch > nslots)
        nslots = p->fifo_batch;
    if (p->lifo_batch > nslots)
        nslots = p->lifo_batch;
    if (p->realloc_blocks > nslots)
        nslots = p->realloc_blocks;
    if (SIMPLE_MAX > nslots)
        nslots = SIMPLE_MAX;
    slots = calloc(nslots, sizeof *slots);
    if (!slots)
        bench_die("out of memory");
}

void bench_clear_slots(void)
{
    memset(slots, 0, nslots * sizeof *slots);
}

void bench_free_slots(void)
{
    free(slots);
}

void bench_corrupt(const struct allocator *a, const void *p, size_t slot)
{
    bench_die("%s: block %p (slot %zu) lost its contents", a->name, p, slot);
}

void bench_out_of_memory(const struct allocator *a, size_t size)
{
    bench_die("%s: allocating %zu bytes failed: %s", a->name, size, strerror(errno));
}

/* Random sizes 8..512, n blocks live in slots: each step frees a random live
 * block and allocates a new one in its place; the calls made. */
size_t bench_churn(const struct allocator *a, void **slots, size_t n, size_t steps,
                   uint64_t seed)
{
    uint64_t rng = seed;

    for (size_t i = 0; i < n; i++) {
        size_t size = random_size(&rng);
        slots[i] = need(a, a->malloc(size), size);
        stamp(slots[i], i);
    }
    for (size_t s = 0; s < steps; s++) {
        size_t k = random_below(&rng, n);
        check(a, slots[k], k);
        a->free(slots[k]);
        size_t size = random_size(&rng);
        slots[k] = need(a, a->malloc(size), size);
        stamp(slots[k], k);
    }
    for (size_t i = 0; i < n; i++) {
        check(a, slots[i], i);
        a->free(slots[i]);
    }
    return 2 * n + 2 * steps;
}

static size_t run_random(const struct allocator *a, const struct params *p)
{
    return bench_churn(a, slots, p->random_live, p->random_steps, SEED);
}

/* One size, batches: allocate n blocks, free them newest first (a stack) or
 * oldest first (a queue); reps times.  Inline, so that each caller gets a
 * loop of its own, with no test of the order inside. */
static inline size_t run_batches(const struct allocator *a, size_t n, size_t reps,
                                 int newest_first)
{
    for (size_t r = 0; r < reps; r++) {
        for (size_t i = 0; i < n; i++) {
            slots[i] = need(a, a->malloc(ONE_SIZE), ONE_SIZE);
            stamp(slots[i], i);
        }
        for (size_t k = 0; k < n; k++) {
            size_t i = newest_first ? n - 1 - k : k;
            check(a, slots[i], i);
            a->free(slots[i]);
        }
    }
    return 2 * n * reps;
}

/* One size, a stack: allocate a batch, free it newest first. */
static size_t run_lifo(const struct allocator *a, const struct params *p)
{
    return run_batches(a, p->lifo_batch, p->lifo_reps, 1);
}

/* One size, a queue: allocate a batch, free it oldest first. */
static size_t run_fifo(const struct allocator *a, const struct params *p)
{
    return run_batches(a, p->fifo_batch, p->fifo_reps, 0);
}

/* The growth steps of run_realloc: about 1.25x each, as a growing buffer
 * would, 8 -> 18 -> 30 -> 45 -> 64 -> ... -> 1690 -> 2048. */
static size_t grow(size_t size)
{
    size_t next = size + size / 4 + 8;
    return next < GROW_TO ? next : GROW_TO;
}

/* Many blocks growing side by side from 8 bytes to 2 KiB: each step
 * reallocs every block once, so a block's neighbours are live and growing
 * in place is not a given. */
static size_t run_realloc(const struct allocator *a, const struct params *p)
{
    size_t n = p->realloc_blocks, calls = 0;

    for (size_t r = 0; r < p->realloc_reps; r++) {
        for (size_t i = 0; i < n; i++) {
            slots[i] = need(a, a->malloc(GROW_FROM), GROW_FROM);
            stamp(slots[i], i);
        }
        calls += n;
        for (size_t size = GROW_FROM; size < GROW_TO;) {
            size = grow(size);
            for (size_t i = 0; i < n; i++) {
                unsigned char *q = need(a, a->realloc(slots[i], size), size);
                check(a, q, i);         /* the contents moved with the block */
                q[size - 1] = (unsigned char)i;
                slots[i] = q;
            }
            calls += n;
        }
        for (size_t i = 0; i < n; i++) {
            check(a, slots[i], i);
            a->free(slots[i]);
        }
        calls += n;
    }
    return calls;
}

/* glibc's bench-malloc-simple: for batches of 25, 100, 400 and 1600 blocks
 * of 16 bytes, simple_iters blocks each, allocate a batch and write every
 * byte, free the first half oldest first and the other half newest first. */
static size_t run_simple(const struct allocator *a, const struct params *p)
{
    size_t calls = 0;
    for (size_t b = 0; b < sizeof simple_batches / sizeof simple_batches[0]; b++) {
        size_t n = simple_batches[b];
        for (size_t r = 0; r < p->simple_iters / n; r++) {
            for (size_t i = 0; i < n; i++) {
                slots[i] = need(a, a->malloc(SIMPLE_SIZE), SIMPLE_SIZE);
                memset(slots[i], (int)i, SIMPLE_SIZE);
                stamp(slots[i], i);
            }
            for (size_t i = 0; i < n / 2; i++) {
                check(a, slots[i], i);
                a->free(slots[i]);
            }
            for (size_t i = n; i-- > n / 2;) {
                check(a, slots[i], i);
                a->free(slots[i]);
            }
            calls += 2 * n;
        }
    }
    return calls;
}

/* Sized by its entries: the declaration in bench.h makes a count other than
 * NWORKLOADS an error. */
const struct workload bench_workloads[] = {
    { "random", run_random, "op", 0, 1 },
    { "lifo", run_lifo, "op", 0, 1 },
    { "fifo", run_fifo, "op", 0, 1 },
    { "realloc", run_realloc, "op", 0, 0 },
    { "simple", run_simple, "op", 0, 0 },
    { "xthread", bench_run_xthread, "block", 1, 1 },
    { "xmalloc", bench_run_xmalloc, "block", 1, 0 },
    { "larson", bench_run_larson, "op", 1, 0 },
    { "rptest", bench_run_rptest, "op", 1, 0 },
    { "indep1", bench_run_indep1, "op", 1, 0 },
    { "indep2", bench_run_indep2, "op", 1, 0 },
};

int bench_workload_index(const char *name)
{
    for (int w = 0; w < NWORKLOADS; w++)
        if (strcmp(bench_workloads[w].name, name) == 0)
            return w;
    bench_die("no workload %s", name);
}

/* The header's lines on the workloads, with their sizes in this run. */
void bench_describe_workloads(const struct params *p)
{
    printf("  random   sizes %d..%d, %zu live blocks, %zu steps of free(random block) + malloc\n",
           RANDOM_MIN, RANDOM_MAX, p->random_live, p->random_steps);
    printf("  lifo     %d bytes: malloc %zu, free them newest first; x %zu\n",
           ONE_SIZE, p->lifo_batch, p->lifo_reps);
    printf("  fifo     %d bytes: malloc %zu, free them oldest first; x %zu\n",
           ONE_SIZE, p->fifo_batch, p->fifo_reps);
    int steps = 0;
    for (size_t s = GROW_FROM; s < GROW_TO; s = grow(s))
        steps++;
    printf("  realloc  %zu blocks grown side by side %d -> %d bytes in %d steps of ~1.25x; x %zu\n",
           p->realloc_blocks, GROW_FROM, GROW_TO, steps, p->realloc_reps);
    printf("  simple   glibc's bench-malloc-simple: batches of 25, 100, 400, %d blocks of %d bytes,\n"
           "           %zu blocks each: malloc and write them, free half oldest first, half\n"
           "           newest first\n", SIMPLE_MAX, SIMPLE_SIZE, p->simple_iters);
    printf("  xthread  2 threads: %zu blocks of sizes %d..%d malloc'ed by a producer, passed\n"
           "           through a %d-slot lock-free ring, freed by a consumer; ",
           p->xthread_blocks, RANDOM_MIN, RANDOM_MAX, RING_SIZE);
    if (bench_xthread_cpu[0] >= 0)
        printf("pinned to CPUs %d and %d\n", bench_xthread_cpu[0], bench_xthread_cpu[1]);
    else
        printf("not pinned\n");
    bench_describe_threaded(p);
}
