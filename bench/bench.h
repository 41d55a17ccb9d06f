/*
 * bench.h - what the files of the bench program share: the allocator and
 * workload tables, the workloads' parameters, the random sizes and block tags
 * every workload uses (inline: they are in the timed loops), and the results
 * the measuring files leave for output.c.  Everything else is static in its
 * file.  Names shared across files start with bench_, so that they cannot
 * clash with vigil's, which is linked in.
 *
 * The files: main.c (options, the order of the run), allocators.c,
 * workloads.c, xthread.c (the two-thread ring), threaded.c (the other
 * multi-thread workloads), rounds.c (timing),
 * memory.c (bytes per block, peak RSS), output.c (tables and CSV).
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- main.c ---- */

void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- random sizes ---- */

#define SEED UINT64_C(20240601)

/* splitmix64: small, fast, and the same sequence everywhere. */
static inline uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n < 2^32, without a division. */
static inline size_t random_below(uint64_t *state, size_t n)
{
    return (size_t)(((next_random(state) >> 32) * (uint64_t)n) >> 32);
}

#define RANDOM_MIN 8
#define RANDOM_MAX 512
static inline size_t random_size(uint64_t *state)
{
    return RANDOM_MIN + random_below(state, RANDOM_MAX - RANDOM_MIN + 1);
}

/* ---- allocators.c ---- */

struct allocator {
    const char *name;
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void  (*free)(void *ptr);
    void  (*activate)(void);        /* before each run, or NULL */
    int own_process;                /* timed in a process of its own */
};

#define MAX_ALLOCATORS 6
extern struct allocator bench_allocators[MAX_ALLOCATORS];
extern int bench_nallocators;

void bench_setup_allocators(char **argv);
void bench_setup_vigil(void);
void bench_use_vigil(void);
void bench_use_vigil_debug(void);
int bench_allocator_index(const char *name);
void bench_describe_allocators(void);

/* ---- workloads.c ---- */

struct params {
    size_t random_live, random_steps;
    size_t lifo_batch, lifo_reps;
    size_t fifo_batch, fifo_reps;
    size_t realloc_blocks, realloc_reps;
    size_t simple_iters;
    size_t xthread_blocks;
    int threads;                /* of larson and rptest */
    size_t larson_live, larson_steps;     /* each thread's */
    size_t xmalloc_blocks;
    size_t rptest_live, rptest_steps;     /* each thread's */
    size_t indep_steps;                   /* each thread's */
};

struct workload {
    const char *name;
    size_t (*run)(const struct allocator *a, const struct params *p);
    const char *unit;       /* what the count run() returns is of */
    int threaded;           /* timed by bench_xthread_wall_ns */
    int peak;               /* in the peak RSS table */
};

#define NWORKLOADS 11       /* the entries of bench_workloads */
extern const struct workload bench_workloads[NWORKLOADS];

int bench_workload_index(const char *name);
void bench_describe_workloads(const struct params *p);

/* random's loop, on the caller's slots (indep1 and indep2 run it too). */
size_t bench_churn(const struct allocator *a, void **slots, size_t n, size_t steps,
                   uint64_t seed);

/* The array of live blocks the single-thread workloads share: made for the
 * largest of them, written over (so that its pages are resident before a
 * measurement), freed. */
void bench_alloc_slots(const struct params *p);
void bench_clear_slots(void);
void bench_free_slots(void);

/* ---- block tags ----
 * Every workload stamps each block it allocates and checks it before the
 * free; a lost tag or a failed allocation ends the program, out of line. */

/* The tag of the block in slot i: written at allocation, checked at free. */
static inline uint64_t tag_of(size_t slot)
{
    return ((uint64_t)slot + 1) * UINT64_C(0x9E3779B97F4A7C15);
}

static inline void stamp(void *p, size_t slot)
{
    uint64_t t = tag_of(slot);
    memcpy(p, &t, sizeof t);
}

void bench_corrupt(const struct allocator *a, const void *p, size_t slot)
    __attribute__((noreturn));
void bench_out_of_memory(const struct allocator *a, size_t size) __attribute__((noreturn));

static inline void check(const struct allocator *a, const void *p, size_t slot)
{
    uint64_t t;
    memcpy(&t, p, sizeof t);
    if (__builtin_expect(t != tag_of(slot), 0))
        bench_corrupt(a, p, slot);
}

static inline void *need(const struct allocator *a, void *p, size_t size)
{
    if (__builtin_expect(p == NULL, 0))
        bench_out_of_memory(a, size);
    return p;
}

/* ---- xthread.c ---- */

#define RING_SIZE  1024         /* a power of two */
#define RING_BATCH 32

size_t bench_run_xthread(const struct allocator *a, const struct params *p);
void bench_choose_xthread_cpus(void);
void bench_clear_ring(void);

/* The CPUs the producer and the consumer are pinned to; -1: not pinned.
 * threaded.c pins its threads to them in turn (bench_pin_to). */
extern int bench_xthread_cpu[2];
void bench_pin_to(int cpu);

/* The wall-clock time of the last run of a threaded workload, ns: the calls
 * are on several threads at once, so time_run (rounds.c) takes this instead
 * of its own clock. */
extern double bench_xthread_wall_ns;

/* ---- threaded.c ---- */

size_t bench_run_larson(const struct allocator *a, const struct params *p);
size_t bench_run_xmalloc(const struct allocator *a, const struct params *p);
size_t bench_run_rptest(const struct allocator *a, const struct params *p);
size_t bench_run_indep1(const struct allocator *a, const struct params *p);
size_t bench_run_indep2(const struct allocator *a, const struct params *p);
void bench_describe_threaded(const struct params *p);

/* ---- rounds.c ---- */

double bench_now_ns(void);
void bench_start_helper(const struct params *p);
void bench_stop_helper(void);
void bench_run_rounds(const struct params *p, int rounds);

struct summary {
    double median, min, max;
};
extern struct summary bench_speed[NWORKLOADS][MAX_ALLOCATORS];
extern double bench_other_load, bench_steal_share;   /* NAN: not measured */

/* ---- memory.c ---- */

#define MEM_BLOCKS  100000
#define MEM_FIXED   40

void bench_measure_memory(void);
void bench_measure_peaks(const struct params *p);

extern double bench_memory_fixed[MAX_ALLOCATORS], bench_memory_random[MAX_ALLOCATORS];
extern double bench_random_mean_request;

enum { PEAK_HWM = 1, PEAK_MAXRSS = 2 };
extern double bench_peak_kib[NWORKLOADS][MAX_ALLOCATORS];
extern int bench_peak_method;  /* PEAK_HWM or PEAK_MAXRSS, the first one seen */

/* ---- output.c ---- */

void bench_print_header(const struct params *p, int rounds, int quick);
void bench_print_speed(int rounds);
void bench_print_load(void);
void bench_print_memory(void);
void bench_print_peaks(void);
void bench_print_targets(void);
int bench_write_csv(FILE *f, const char *path, int rounds, int quick);

#endif
