/*
 * bench.c - vigil's allocators against glibc, mimalloc and jemalloc, side by
 * side in one process.
 *
 *   bench [--quick] [--no-pin] [--csv FILE]
 *
 * Allocators (columns):
 *   glibc        libc's malloc/realloc/free, called directly;
 *   vigil        vigil_mem_malloc/realloc/free with vigil's default tables
 *                (the arena);
 *   vigil-debug  the same calls with the tables vigil_setup_debug_hooks()
 *                installed (the arena wrapped by the debug hooks);
 *   mimalloc     mi_malloc/mi_realloc/mi_free from libmimalloc.so.2;
 *   jemalloc     malloc/realloc/free from libjemalloc.so.2.
 * mimalloc and jemalloc are dlopen'ed at run time; when a library is missing
 * its column is left out.
 *
 * Workloads (rows) are one function each, taking an allocator table.  Every
 * allocator sees the same sequence of sizes and frees (fixed seeds).  Each
 * block gets a tag written into its first bytes, which is checked before the
 * block is freed (and after every realloc), so the memory is really touched
 * and a broken allocator is caught rather than timed.  One workload, xthread,
 * runs on two threads: a producer mallocs, a consumer frees, through a
 * lock-free ring (see "Cross-thread" below); the vigil-debug tables are installed
 * before its threads start and taken down after they end.
 *
 * Timing: rounds.  A round runs every workload through every allocator, the
 * allocator order rotating from round to round, so a noisy stretch of machine
 * time is shared out rather than landing on one allocator.  Round 0 is a
 * warm-up and is not counted.  Reported: the median over the counted rounds
 * of nanoseconds per op, an op being one call to malloc, realloc or free
 * (the loop, the random numbers and the tag checks are included and are the
 * same for every allocator); for xthread, wall-clock nanoseconds per block
 * (one malloc and one free, on two threads), and its inverse, blocks/s.
 * How much CPU other processes took meanwhile is reported too (/proc/stat).
 *
 * Memory: for each allocator a forked child allocates N blocks (and writes
 * every byte of them) and reports the growth of its resident set divided by
 * N: the bytes of memory each live block really costs, metadata included.
 * And for each allocator and the random, lifo, fifo and xthread workloads, a
 * forked child runs the workload once and reports its peak RSS above where it
 * started (VmHWM, see measure_peaks).  Measured before any timing, so each
 * child starts from a fresh heap.
 *
 * Last come the targets of the speed/memory issue, met or not in this run.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "vigil.h"

#ifndef MIMALLOC_SO
#define MIMALLOC_SO "libmimalloc.so.2"
#endif
#ifndef JEMALLOC_SO
#define JEMALLOC_SO "libjemalloc.so.2"
#endif

/* ---- small helpers ---- */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

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

#define SEED UINT64_C(20240601)

/* ---- allocators ---- */

struct allocator {
    const char *name;
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void  (*free)(void *ptr);
    void  (*activate)(void);        /* before each run, or NULL */
    int own_process;                /* timed in a process of its own */
};

#define MAX_ALLOCATORS 5
static struct allocator allocators[MAX_ALLOCATORS];
static int nallocators;

/* vigil: the tables of the three domains, plain and with the debug hooks.
 * All three are switched together, and a run frees every block it made
 * before the tables change: the arena hands blocks over 512 bytes to the raw
 * domain's current table, so a block made under one set of tables must be
 * freed under the same set (the debug quarantine frees its blocks late, but
 * only from a debug free or at exit, hence the debug tables at exit). */
static vigil_allocator vigil_plain[3], vigil_debug[3];
static const char *vigil_plain_name, *vigil_debug_name;
static int vigil_debug_differs;

static void install_tables(const vigil_allocator *tables)
{
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
        vigil_set_allocator((vigil_domain)d, &tables[d]);
}

static void use_vigil(void) { install_tables(vigil_plain); }
static void use_vigil_debug(void) { install_tables(vigil_debug); }

static int same_table(const vigil_allocator *a, const vigil_allocator *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

static void setup_vigil(void)
{
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
        vigil_get_allocator((vigil_domain)d, &vigil_plain[d]);
    vigil_plain_name = vigil_allocator_name();
    vigil_setup_debug_hooks();
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        vigil_get_allocator((vigil_domain)d, &vigil_debug[d]);
        if (!same_table(&vigil_plain[d], &vigil_debug[d]))
            vigil_debug_differs = 1;
    }
    vigil_debug_name = vigil_allocator_name();
    use_vigil();
}

/* dlsym into a function pointer without the object/function pointer cast. */
static int lookup(void *handle, const char *symbol, void *fnptr, size_t size)
{
    void *sym = dlsym(handle, symbol);
    if (!sym)
        return 0;
    memcpy(fnptr, &sym, size);
    return 1;
}
#define LOOKUP(h, name, fn) lookup((h), (name), &(fn), sizeof(fn))

static char mimalloc_note[160] = "not found";
static char jemalloc_note[200] = "not found";

static void load_mimalloc(struct allocator *a)
{
    void *h = dlopen(MIMALLOC_SO, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(mimalloc_note, sizeof mimalloc_note, "not loaded: %s", dlerror());
        return;
    }
    struct allocator m = { .name = "mimalloc" };
    if (!LOOKUP(h, "mi_malloc", m.malloc) || !LOOKUP(h, "mi_realloc", m.realloc) ||
        !LOOKUP(h, "mi_free", m.free)) {
        snprintf(mimalloc_note, sizeof mimalloc_note, "not used: %s lacks mi_malloc", MIMALLOC_SO);
        return;
    }
    int (*version)(void) = NULL;
    if (LOOKUP(h, "mi_version", version) && version) {
        int v = version();
        snprintf(mimalloc_note, sizeof mimalloc_note, "%s, version %d.%d.%d", MIMALLOC_SO,
                 v / 100, v / 10 % 10, v % 10);
    } else {
        snprintf(mimalloc_note, sizeof mimalloc_note, "%s", MIMALLOC_SO);
    }
    *a = m;
    nallocators++;
}

/*
 * jemalloc uses initial-exec TLS, more of it than glibc keeps spare for
 * dlopen ("cannot allocate memory in static TLS block").  The spare is a
 * glibc tunable read at start-up, so when that is the failure, run this
 * program again with a bigger one.
 */
#define TLS_TUNABLE "glibc.rtld.optional_static_tls=16384"
#define REEXEC_MARK "VIGIL_BENCH_REEXEC"

static void load_jemalloc(struct allocator *a, char **argv)
{
    void *h = dlopen(JEMALLOC_SO, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        if (err && strstr(err, "static TLS") && !getenv(REEXEC_MARK)) {
            const char *old = getenv("GLIBC_TUNABLES");
            size_t len = (old ? strlen(old) + 1 : 0) + sizeof TLS_TUNABLE;
            char *tunables = malloc(len);
            if (tunables) {
                snprintf(tunables, len, "%s%s%s", old ? old : "", old ? ":" : "", TLS_TUNABLE);
                setenv("GLIBC_TUNABLES", tunables, 1);
                setenv(REEXEC_MARK, "1", 1);
                fflush(NULL);
                execv("/proc/self/exe", argv);
                unsetenv(REEXEC_MARK);   /* exec failed: carry on without */
            }
        }
        snprintf(jemalloc_note, sizeof jemalloc_note, "not loaded: %s", err ? err : "?");
        return;
    }
    struct allocator j = { .name = "jemalloc" };
    if (!LOOKUP(h, "malloc", j.malloc) || !LOOKUP(h, "realloc", j.realloc) ||
        !LOOKUP(h, "free", j.free)) {
        snprintf(jemalloc_note, sizeof jemalloc_note, "not used: %s lacks malloc", JEMALLOC_SO);
        return;
    }
    int (*mallctl)(const char *, void *, size_t *, void *, size_t) = NULL;
    const char *version = NULL;
    size_t vlen = sizeof version;
    if (LOOKUP(h, "mallctl", mallctl) && mallctl &&
        mallctl("version", &version, &vlen, NULL, 0) == 0 && version) {
        char v[32];
        snprintf(v, sizeof v, "%s", version);
        v[strcspn(v, "-")] = '\0';       /* "5.3.0-0-g54eaed1..." -> "5.3.0" */
        snprintf(jemalloc_note, sizeof jemalloc_note, "%s, version %s", JEMALLOC_SO, v);
    } else {
        snprintf(jemalloc_note, sizeof jemalloc_note, "%s", JEMALLOC_SO);
    }
    if (getenv(REEXEC_MARK))
        strncat(jemalloc_note, " (run with GLIBC_TUNABLES=" TLS_TUNABLE ")",
                sizeof jemalloc_note - strlen(jemalloc_note) - 1);
    *a = j;
    nallocators++;
}

static void setup_allocators(char **argv)
{
    allocators[nallocators++] = (struct allocator){
        "glibc", malloc, realloc, free, NULL, 0 };
    allocators[nallocators++] = (struct allocator){
        "vigil", vigil_mem_malloc, vigil_mem_realloc, vigil_mem_free, use_vigil, 0 };
    allocators[nallocators++] = (struct allocator){
        "vigil-debug", vigil_mem_malloc, vigil_mem_realloc, vigil_mem_free, use_vigil_debug, 1 };
    load_mimalloc(&allocators[nallocators]);
    load_jemalloc(&allocators[nallocators], argv);
}

static int allocator_index(const char *name)
{
    for (int i = 0; i < nallocators; i++)
        if (strcmp(allocators[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- workloads ---- */

struct params {
    size_t random_live, random_steps;
    size_t lifo_batch, lifo_reps;
    size_t fifo_batch, fifo_reps;
    size_t realloc_blocks, realloc_reps;
    size_t xthread_blocks;
};

#define ONE_SIZE    64      /* the LIFO and FIFO block size */
#define GROW_FROM   8
#define GROW_TO     2048

static void **slots;        /* the live blocks of a workload */

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

static void corrupt(const struct allocator *a, const void *p, size_t slot)
{
    die("%s: block %p (slot %zu) lost its contents", a->name, p, slot);
}

static inline void check(const struct allocator *a, const void *p, size_t slot)
{
    uint64_t t;
    memcpy(&t, p, sizeof t);
    if (__builtin_expect(t != tag_of(slot), 0))
        corrupt(a, p, slot);
}

static void out_of_memory(const struct allocator *a, size_t size)
{
    die("%s: allocating %zu bytes failed: %s", a->name, size, strerror(errno));
}

static inline void *need(const struct allocator *a, void *p, size_t size)
{
    if (__builtin_expect(p == NULL, 0))
        out_of_memory(a, size);
    return p;
}

/* Random sizes 8..512, random_live blocks live: each step frees a random
 * live block and allocates a new one in its place. */
static size_t run_random(const struct allocator *a, const struct params *p)
{
    uint64_t rng = SEED;
    size_t n = p->random_live;

    for (size_t i = 0; i < n; i++) {
        size_t size = random_size(&rng);
        slots[i] = need(a, a->malloc(size), size);
        stamp(slots[i], i);
    }
    for (size_t s = 0; s < p->random_steps; s++) {
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
    return 2 * n + 2 * p->random_steps;
}

/* One size, a stack: allocate a batch, free it newest first. */
static size_t run_lifo(const struct allocator *a, const struct params *p)
{
    size_t n = p->lifo_batch;

    for (size_t r = 0; r < p->lifo_reps; r++) {
        for (size_t i = 0; i < n; i++) {
            slots[i] = need(a, a->malloc(ONE_SIZE), ONE_SIZE);
            stamp(slots[i], i);
        }
        for (size_t i = n; i-- > 0;) {
            check(a, slots[i], i);
            a->free(slots[i]);
        }
    }
    return 2 * n * p->lifo_reps;
}

/* One size, a queue: allocate a batch, free it oldest first. */
static size_t run_fifo(const struct allocator *a, const struct params *p)
{
    size_t n = p->fifo_batch;

    for (size_t r = 0; r < p->fifo_reps; r++) {
        for (size_t i = 0; i < n; i++) {
            slots[i] = need(a, a->malloc(ONE_SIZE), ONE_SIZE);
            stamp(slots[i], i);
        }
        for (size_t i = 0; i < n; i++) {
            check(a, slots[i], i);
            a->free(slots[i]);
        }
    }
    return 2 * n * p->fifo_reps;
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

/*
 * Cross-thread: a producer thread mallocs blocks of random sizes 8..512,
 * tags them and hands them to a consumer thread through a bounded
 * single-producer/single-consumer ring; the consumer checks each tag and
 * frees the block.  So every block is freed by a thread other than the one
 * that made it, and both threads call the allocator at once.
 *
 * The ring: RING_SIZE pointer slots and two counters that only grow, tail
 * (written by the producer) and head (written by the consumer), on cache
 * lines of their own.  Each side keeps its own copy of the other's counter
 * and reads the shared one only when its copy says the ring is full (or
 * empty), and publishes its own counter once per RING_BATCH blocks, or before
 * it waits: so the two cores pass the counter lines back and forth about once
 * a batch, not once a block.  A side that has to wait spins a little (a bare
 * re-read, no pause instruction: under KVM a loop of pauses makes the virtual
 * CPU exit to the hypervisor, pause-loop exiting, which made this workload 5
 * to 10 times slower at random on a 2-vCPU machine), yields the core now and
 * then, and after WAIT_SLEEP_NS goes to sleep on a condition
 * variable until the other side publishes: on a busy machine the other
 * thread may have lost its core, and a sleeping waiter lets the kernel run it
 * here rather than let the two threads take turns by time slices.  (The
 * sleeper's flag is stored and the counter read, and the counter stored and
 * the flag read, in that order, seq_cst, so one side always sees the other;
 * the mutex makes the wake-up come after the sleeper waits.)  The slots are
 * plain pointers: a slot is written before the tail that covers it is stored
 * and read after that tail is loaded, and written again only after the
 * consumer's head has moved past it, likewise.
 *
 * Both threads are made fresh for each run and meet at a start line; the
 * clock runs from the producer leaving the start line to the consumer's last
 * free, so thread creation and joining are not timed.  Reported per block:
 * wall-clock time / blocks (a block is one malloc and one free, on two cores).
 *
 * The producer is pinned to one CPU and the consumer to another (the first
 * two this process may run on), when there are two.  Left to the scheduler,
 * the two threads sometimes share one CPU and take turns (each yield hands
 * a whole ring over: no block crosses a core) and sometimes run on two: on a
 * 2-vCPU KVM machine the medians jumped between 60 and 600 ns per block with
 * the placement, whereas the workload is meant to measure the second case.
 * --no-pin leaves the placement to the scheduler.
 */
#define RING_SIZE  1024         /* a power of two */
#define RING_BATCH 32
#define SPINS      64           /* busy waits before each sched_yield */
#define WAIT_SLEEP_NS 50000     /* then sleep, after this long */
#define CACHE_LINE 64

struct counter {
    atomic_size_t value;        /* tail or head: blocks put in, taken out */
    atomic_int sleeping;        /* the other side sleeps until value moves */
    pthread_cond_t moved;
};

static struct {
    _Alignas(CACHE_LINE) struct counter tail;
    _Alignas(CACHE_LINE) struct counter head;
    _Alignas(CACHE_LINE) void *slot[RING_SIZE];
} ring = {
    .tail.moved = PTHREAD_COND_INITIALIZER,
    .head.moved = PTHREAD_COND_INITIALIZER,
};
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

struct xthread {
    const struct allocator *a;
    size_t blocks;
    atomic_int at_start;        /* threads at the start line */
    double t0, t1;              /* producer's start, consumer's end */
};

/* The CPUs the producer and the consumer are pinned to; -1: not pinned. */
static int xthread_cpu[2] = { -1, -1 };

static void choose_xthread_cpus(void)
{
#ifdef CPU_SET
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &set))
            xthread_cpu[n++] = c;
    if (n < 2)
        xthread_cpu[0] = xthread_cpu[1] = -1;
#endif
}

/* Pin the calling thread to cpu (-1: leave it be). */
static void pin_to(int cpu)
{
#ifdef CPU_SET
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
#else
    (void)cpu;
#endif
}

/* One wait step: spin, and every SPINS steps give the core away, for the
 * other thread may be the one not running. */
static inline void wait_a_little(unsigned *spins)
{
    if (++*spins % SPINS == 0)
        sched_yield();
}

/* Publish our counter, and wake the other side if it sleeps. */
static inline void publish(struct counter *c, size_t value)
{
    atomic_store_explicit(&c->value, value, memory_order_seq_cst);
    if (__builtin_expect(atomic_load_explicit(&c->sleeping, memory_order_seq_cst), 0)) {
        pthread_mutex_lock(&ring_lock);
        pthread_cond_signal(&c->moved);
        pthread_mutex_unlock(&ring_lock);
    }
}

/* Wait until the other side's counter differs from stuck; return it. */
static size_t wait_for_move(struct counter *c, size_t stuck)
{
    unsigned spins = 0;
    double since = 0;
    size_t v;
    while ((v = atomic_load_explicit(&c->value, memory_order_acquire)) == stuck) {
        wait_a_little(&spins);
        if (spins % SPINS)
            continue;
        if (since == 0) {
            since = now_ns();
        } else if (now_ns() - since > WAIT_SLEEP_NS) {
            pthread_mutex_lock(&ring_lock);
            atomic_store_explicit(&c->sleeping, 1, memory_order_seq_cst);
            while ((v = atomic_load_explicit(&c->value, memory_order_seq_cst)) == stuck)
                pthread_cond_wait(&c->moved, &ring_lock);
            atomic_store_explicit(&c->sleeping, 0, memory_order_relaxed);
            pthread_mutex_unlock(&ring_lock);
            return v;
        }
    }
    return v;
}

static void start_line(struct xthread *x)
{
    unsigned spins = 0;
    atomic_fetch_add_explicit(&x->at_start, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&x->at_start, memory_order_acquire) < 2)
        wait_a_little(&spins);
}

static void *xthread_producer(void *arg)
{
    struct xthread *x = arg;
    const struct allocator *a = x->a;
    uint64_t rng = SEED;
    size_t tail = 0, published = 0, head = 0;   /* head: our copy */

    pin_to(xthread_cpu[0]);
    start_line(x);
    x->t0 = now_ns();
    for (size_t i = 0; i < x->blocks; i++) {
        size_t size = random_size(&rng);
        void *p = need(a, a->malloc(size), size);
        stamp(p, i);
        if (tail - head == RING_SIZE) {
            head = atomic_load_explicit(&ring.head.value, memory_order_acquire);
            if (tail - head == RING_SIZE) {
                if (published != tail)
                    publish(&ring.tail, published = tail);
                head = wait_for_move(&ring.head, tail - RING_SIZE);
            }
        }
        ring.slot[tail % RING_SIZE] = p;
        if (++tail - published == RING_BATCH)
            publish(&ring.tail, published = tail);
    }
    publish(&ring.tail, tail);
    return NULL;
}

static void *xthread_consumer(void *arg)
{
    struct xthread *x = arg;
    const struct allocator *a = x->a;
    size_t head = 0, published = 0, tail = 0;   /* tail: our copy */

    pin_to(xthread_cpu[1]);
    start_line(x);
    while (head < x->blocks) {
        if (head == tail) {
            tail = atomic_load_explicit(&ring.tail.value, memory_order_acquire);
            if (head == tail) {
                if (published != head)
                    publish(&ring.head, published = head);
                tail = wait_for_move(&ring.tail, head);
            }
        }
        void *p = ring.slot[head % RING_SIZE];
        check(a, p, head);      /* the blocks come in the order they were made */
        a->free(p);
        if (++head - published == RING_BATCH)
            publish(&ring.head, published = head);
    }
    x->t1 = now_ns();
    return NULL;
}

/* The wall-clock time of the last run_xthread, ns: the calls are on two
 * threads at once, so time_run takes this instead of its own clock. */
static double xthread_wall_ns;

static size_t run_xthread(const struct allocator *a, const struct params *p)
{
    struct xthread x = { .a = a, .blocks = p->xthread_blocks };
    atomic_init(&x.at_start, 0);
    atomic_store_explicit(&ring.tail.value, 0, memory_order_relaxed);
    atomic_store_explicit(&ring.head.value, 0, memory_order_relaxed);
    memset(ring.slot, 0, sizeof ring.slot);

    pthread_t producer, consumer;
    int err = pthread_create(&consumer, NULL, xthread_consumer, &x);
    if (err == 0 && (err = pthread_create(&producer, NULL, xthread_producer, &x)) != 0)
        die("xthread: cannot start the producer thread: %s", strerror(err));
    if (err != 0)
        die("xthread: cannot start the consumer thread: %s", strerror(err));
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
    xthread_wall_ns = x.t1 - x.t0;
    return x.blocks;
}

struct workload {
    const char *name;
    size_t (*run)(const struct allocator *a, const struct params *p);
    const char *unit;       /* what the count run() returns is of */
    int threaded;           /* timed by the wall clock of run_xthread */
    int peak;               /* in the peak RSS table */
};

static const struct workload workloads[] = {
    { "random", run_random, "op", 0, 1 },
    { "lifo", run_lifo, "op", 0, 1 },
    { "fifo", run_fifo, "op", 0, 1 },
    { "realloc", run_realloc, "op", 0, 0 },
    { "xthread", run_xthread, "block", 1, 1 },
};
#define NWORKLOADS ((int)(sizeof workloads / sizeof workloads[0]))

static int workload_index(const char *name)
{
    for (int w = 0; w < NWORKLOADS; w++)
        if (strcmp(workloads[w].name, name) == 0)
            return w;
    die("no workload %s", name);
}

static void describe_workloads(const struct params *p)
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
    printf("  xthread  2 threads: %zu blocks of sizes %d..%d malloc'ed by a producer, passed\n"
           "           through a %d-slot lock-free ring, freed by a consumer; ",
           p->xthread_blocks, RANDOM_MIN, RANDOM_MAX, RING_SIZE);
    if (xthread_cpu[0] >= 0)
        printf("pinned to CPUs %d and %d\n", xthread_cpu[0], xthread_cpu[1]);
    else
        printf("not pinned\n");
}

/* ---- timing ---- */

#define MAX_ROUNDS 15

/* ns/op (ns/block for xthread) of one workload through one allocator. */
static double time_run(const struct workload *w, const struct allocator *a,
                       const struct params *p)
{
    if (a->activate)
        a->activate();
    double t0 = now_ns();
    size_t calls = w->run(a, p);
    double t1 = now_ns();
    use_vigil();
    if (w->threaded)
        return xthread_wall_ns / (double)calls;
    return (t1 - t0) / (double)calls;
}

/* ---- vigil-debug in a process of its own ----
 * The debug quarantine keeps megabytes of freed blocks in the arena, and
 * within one process the plain arena shares those pools: timed side by side
 * in one process, vigil's own runs meet pools strewn with another mode's
 * blocks (random: 8.2 against 7.0 ns/op with VIGIL_QUARANTINE=0), which no
 * program running in one mode sees.  So vigil-debug is timed in a child
 * forked before the rounds and driven through pipes, one run at a time, in
 * its place in the rotation: the interleaving is kept. */
static struct {
    pid_t pid;
    int cmd, result;                /* our ends of the two pipes */
} helper = { -1, -1, -1 };

static void serve(int cmd, int result, const struct params *p)
{
    int job[2];
    while (read(cmd, job, sizeof job) == (ssize_t)sizeof job) {
        double ns = time_run(&workloads[job[0]], &allocators[job[1]], p);
        if (write(result, &ns, sizeof ns) != (ssize_t)sizeof ns)
            break;
    }
    use_vigil_debug();             /* the quarantine is released through it */
    exit(0);
}

static void start_helper(const struct params *p)
{
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0)
        die("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        serve(down[0], up[1], p);
    }
    close(down[0]);
    close(up[1]);
    helper.pid = pid;
    helper.cmd = down[1];
    helper.result = up[0];
}

static void stop_helper(void)
{
    int status;
    close(helper.cmd);
    close(helper.result);
    if (waitpid(helper.pid, &status, 0) != helper.pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        die("the vigil-debug process failed (status %#x)", status);
    helper.pid = -1;
}

static double timed_run(int w, int i, const struct params *p)
{
    if (!allocators[i].own_process)
        return time_run(&workloads[w], &allocators[i], p);
    int job[2] = { w, i };
    double ns;
    if (write(helper.cmd, job, sizeof job) != (ssize_t)sizeof job ||
        read(helper.result, &ns, sizeof ns) != (ssize_t)sizeof ns)
        die("the vigil-debug process stopped");
    return ns;
}

/* The start of a /proc file, as a string; 0 when it cannot be read. */
static int read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return 1;
}

/* CPU seconds used so far by process pid (/proc/PID/stat, fields 14, 15). */
static double process_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (!read_text(path, buf, sizeof buf))
        return 0;
    const char *f = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (!f || sscanf(f + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double samples[NWORKLOADS][MAX_ALLOCATORS][MAX_ROUNDS];

struct summary {
    double median, min, max;
};
static struct summary speed[NWORKLOADS][MAX_ALLOCATORS];

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct summary summarize(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, compare_doubles);
    struct summary r = { n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1] };
    return r;
}

/*
 * How busy the rest of the machine was while the rounds ran: the CPU time
 * /proc/stat counts as busy (steal included: time the hypervisor gave our
 * virtual CPUs to someone else) minus this process's own, as a share of all
 * the CPU time there was.  On a shared machine it tells a quiet run from one
 * whose figures, the two-thread ones first, are not to be trusted.
 */
struct cpu_sample {
    double busy, steal, total;  /* seconds, all CPUs */
    double self;                /* seconds, this process */
};
static double other_load = NAN, steal_share = NAN;

static int sample_cpu(struct cpu_sample *c)
{
    char buf[256];
    if (!read_text("/proc/stat", buf, sizeof buf))
        return 0;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
               &iowait, &irq, &softirq, &steal) < 7)
        return 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    c->busy = (double)(user + nice + sys + irq + softirq + steal) / hz;
    c->steal = (double)steal / hz;
    c->total = c->busy + (double)(idle + iowait) / hz;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    c->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (helper.pid > 0)            /* vigil-debug's runs are ours too */
        c->self += process_cpu(helper.pid);
    return 1;
}

static void run_rounds(const struct params *p, int rounds)
{
    struct cpu_sample before, after;
    int sampled = sample_cpu(&before);
    int progress = isatty(STDERR_FILENO);
    for (int round = 0; round <= rounds; round++) {   /* round 0: warm-up */
        if (progress)
            fprintf(stderr, "\r%s round %d/%d ", round ? "timed" : "warm-up", round, rounds);
        for (int w = 0; w < NWORKLOADS; w++)
            for (int k = 0; k < nallocators; k++) {
                int i = (k + round) % nallocators;
                double ns = timed_run(w, i, p);
                if (round)
                    samples[w][i][round - 1] = ns;
            }
    }
    if (progress)
        fprintf(stderr, "\r%30s\r", "");
    if (sampled && sample_cpu(&after) && after.total > before.total) {
        double total = after.total - before.total;
        double other = (after.busy - before.busy) - (after.self - before.self);
        other_load = other > 0 ? other / total : 0;
        steal_share = (after.steal - before.steal) / total;
    }
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < nallocators; i++)
            speed[w][i] = summarize(samples[w][i], rounds);
}

/* ---- memory ---- */

#define MEM_BLOCKS  100000
#define MEM_FIXED   40

/* Resident anonymous pages of this process (resident minus file-backed:
 * the first call of a function faults in code pages, which are not the
 * allocator's memory), read without allocating (so glibc's heap is not
 * disturbed by the measurement); -1 when unknown. */
static long resident_pages(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    long size, resident, shared;
    if (sscanf(buf, "%ld %ld %ld", &size, &resident, &shared) != 3)
        return -1;
    return resident - shared;
}

/* Run fn(arg, out) in a forked child and copy the size bytes it leaves at
 * out back into the parent's out: whatever fn does to the heap is thrown
 * away with the child.  0 when the child could not run or said nothing
 * (out is then not to be trusted). */
static int run_in_child(void (*fn)(const void *arg, void *out), const void *arg,
                        void *out, size_t size)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        fn(arg, out);
        if (write(fd[1], out, size) != (ssize_t)size)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    int ok = read(fd[0], out, size) == (ssize_t)size;
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return ok;
}

struct bpb_args {
    const struct allocator *a;
    size_t fixed_size, n;
};

/* In a forked child: allocate n blocks of size fixed_size (0: random sizes
 * 8..512), write every byte, and leave the resident-set growth per block in
 * *out (a double; NAN when it cannot be measured). */
static void bpb_child(const void *arg, void *out)
{
    const struct bpb_args *args = arg;
    const struct allocator *a = args->a;
    size_t fixed_size = args->fixed_size, n = args->n;
    double result = NAN;
#ifdef PR_SET_THP_DISABLE
    /* Count in 4 KiB pages, not in 2 MiB huge ones. */
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#endif
    if (a->activate)
        a->activate();
    /* The pointer array is outside every allocator, and resident
     * before the first reading. */
    void **ptrs = mmap(NULL, n * sizeof *ptrs, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptrs != MAP_FAILED) {
        memset(ptrs, 0, n * sizeof *ptrs);
        /* Let the allocator do its lazy set-up before the first reading. */
        a->free(a->malloc(fixed_size ? fixed_size : RANDOM_MAX));
        uint64_t rng = SEED;
        resident_pages();          /* fault in its code before measuring */
        long before = resident_pages();
        size_t i;
        for (i = 0; i < n; i++) {
            size_t size = fixed_size ? fixed_size : random_size(&rng);
            if (!(ptrs[i] = a->malloc(size)))
                break;
            memset(ptrs[i], 0x5a, size);
        }
        long after = resident_pages();
        if (i == n && before >= 0 && after >= before)
            result = (double)(after - before) * (double)sysconf(_SC_PAGESIZE) / (double)n;
    }
    memcpy(out, &result, sizeof result);
}

static double bytes_per_block(const struct allocator *a, size_t fixed_size, size_t n)
{
    const struct bpb_args args = { a, fixed_size, n };
    double result;
    return run_in_child(bpb_child, &args, &result, sizeof result) ? result : NAN;
}

static double memory_fixed[MAX_ALLOCATORS], memory_random[MAX_ALLOCATORS];
static double random_mean_request;

static void measure_memory(void)
{
    uint64_t rng = SEED;
    double total = 0;
    for (size_t i = 0; i < MEM_BLOCKS; i++)
        total += (double)random_size(&rng);
    random_mean_request = total / MEM_BLOCKS;
    for (int i = 0; i < nallocators; i++) {
        memory_fixed[i] = bytes_per_block(&allocators[i], MEM_FIXED, MEM_BLOCKS);
        memory_random[i] = bytes_per_block(&allocators[i], 0, MEM_BLOCKS);
    }
}

/*
 * Peak RSS per workload.  In a forked child (so each starts from the same
 * fresh heap, with transparent huge pages off, counting in 4 KiB pages):
 *   1. switch to the allocator and run the workload once scaled down (the
 *      warm-up: it faults in the code, the thread stacks and the allocator's
 *      start-up state, which are not what the workload costs), and touch the
 *      slot array and the ring;
 *   2. reset the peak: writing "5" to /proc/self/clear_refs sets VmHWM to the
 *      current VmRSS (Linux 4.0 and later), and read VmRSS: the baseline;
 *   3. run the workload once, at full size, and read VmHWM.
 * Reported: VmHWM - baseline, KiB: how far above its starting point the
 * process's resident set rose while the workload ran, the allocator's
 * metadata, caches and fragmentation included, whatever it gave back after.
 * Without clear_refs (not Linux, or not allowed), the same with getrusage's
 * ru_maxrss before and after instead; that counts only a rise above the
 * highest point so far, so it can only be lower.
 */
enum { PEAK_HWM = 1, PEAK_MAXRSS = 2 };
static double peak_kib[NWORKLOADS][MAX_ALLOCATORS];
static int peak_method;        /* PEAK_HWM or PEAK_MAXRSS, the first one seen */
static size_t nslots;

/* VmRSS and VmHWM of this process in KiB, read without allocating; 0 when
 * unknown. */
static int read_vm_kib(long *rss, long *hwm)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *r = strstr(buf, "\nVmRSS:"), *h = strstr(buf, "\nVmHWM:");
    return r && h && sscanf(r + 7, "%ld", rss) == 1 && sscanf(h + 7, "%ld", hwm) == 1;
}

static int reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0)
        return 0;
    int ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

static long maxrss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;   /* KiB on Linux */
}

struct peak_result {
    double kib;
    int method;
};

struct peak_args {
    const struct workload *w;
    const struct allocator *a;
    const struct params *p, *warm;
};

/* In a forked child: run the workload once after a scaled-down warm-up and
 * leave how far the resident set rose in *out (a struct peak_result). */
static void peak_child(const void *arg, void *out)
{
    const struct peak_args *args = arg;
    const struct workload *w = args->w;
    const struct allocator *a = args->a;
    const struct params *p = args->p, *warm = args->warm;
    struct peak_result r = { NAN, 0 };
#ifdef PR_SET_THP_DISABLE
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#endif
    if (a->activate)
        a->activate();
    w->run(a, warm);
    memset(slots, 0, nslots * sizeof *slots);
    memset(ring.slot, 0, sizeof ring.slot);
    long rss, hwm;
    read_vm_kib(&rss, &hwm);    /* fault in sscanf & co. before the baseline */
    if (reset_hwm() && read_vm_kib(&rss, &hwm)) {
        long before = rss;
        w->run(a, p);
        if (read_vm_kib(&rss, &hwm) && hwm >= before) {
            r.kib = (double)(hwm - before);
            r.method = PEAK_HWM;
        }
    } else {
        maxrss_kib();
        long before = maxrss_kib();
        w->run(a, p);
        long after = maxrss_kib();
        if (before >= 0 && after >= before) {
            r.kib = (double)(after - before);
            r.method = PEAK_MAXRSS;
        }
    }
    memcpy(out, &r, sizeof r);
}

static struct peak_result peak_rss(const struct workload *w, const struct allocator *a,
                                   const struct params *p, const struct params *warm)
{
    const struct peak_args args = { w, a, p, warm };
    struct peak_result r;
    if (!run_in_child(peak_child, &args, &r, sizeof r))
        r = (struct peak_result){ NAN, 0 };
    return r;
}

static void measure_peaks(const struct params *p)
{
    const struct params warm = {
        .random_live = 100, .random_steps = 1000,
        .lifo_batch = 10, .lifo_reps = 10,
        .fifo_batch = 10, .fifo_reps = 10,
        .realloc_blocks = 10, .realloc_reps = 1,
        .xthread_blocks = RING_BATCH * 2,
    };
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < nallocators; i++) {
            peak_kib[w][i] = NAN;
            if (!workloads[w].peak)
                continue;
            struct peak_result r = peak_rss(&workloads[w], &allocators[i], p, &warm);
            peak_kib[w][i] = r.kib;
            if (!peak_method)
                peak_method = r.method;
        }
}

/* ---- report ---- */

static int count_cores(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
#endif
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + strspn(v + 1, " \t");
                v[strcspn(v, "\n")] = '\0';
                snprintf(out, size, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

#define COL 12

static void print_header(const struct params *p, int rounds, int quick)
{
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    printf("vigil bench%s\n", quick ? " (--quick: short run, rough figures)" : "");
    printf("machine: %d cores usable, %ld online, %s\n", count_cores(),
           sysconf(_SC_NPROCESSORS_ONLN), cpu);
    printf("rounds: %d timed, after 1 warm-up round; allocators interleaved round-robin\n",
           rounds);
#ifdef __GLIBC__
    printf("glibc:       malloc/realloc/free, glibc %s\n", gnu_get_libc_version());
#else
    printf("glibc:       the C library's malloc/realloc/free\n");
#endif
    if (getenv("LD_PRELOAD") && *getenv("LD_PRELOAD"))
        printf("             NOTE: LD_PRELOAD=%s: the glibc column may not be glibc's malloc\n",
               getenv("LD_PRELOAD"));
    printf("vigil:       vigil_mem_*, tables \"%s\"\n",
           vigil_plain_name ? vigil_plain_name : "(custom)");
    printf("vigil-debug: vigil_mem_*, tables \"%s\" (after vigil_setup_debug_hooks)\n",
           vigil_debug_name ? vigil_debug_name : "(custom)");
    if (!vigil_debug_differs)
        printf("             NOTE: vigil_setup_debug_hooks() changed no table, so this "
               "column measures the same as \"vigil\"\n");
    printf("mimalloc:    %s\n", mimalloc_note);
    printf("jemalloc:    %s\n", jemalloc_note);
    printf("workloads:\n");
    describe_workloads(p);
    putchar('\n');
}

static void print_cell(double v, const char *fmt)
{
    if (isnan(v))
        printf("%*s", COL, "-");
    else
        printf(fmt, COL, v);
}

static void print_speed(int rounds)
{
    printf("ns/op (median of %d rounds; an op is one malloc, realloc or free call;\n"
           "xthread: ns/block, wall clock / blocks, a block being one malloc and one free"
           " on 2 threads)\n", rounds);
    printf("%-9s", "workload");
    for (int i = 0; i < nallocators; i++)
        printf("%*s", COL, allocators[i].name);
    putchar('\n');
    for (int w = 0; w < NWORKLOADS; w++) {
        printf("%-9s", workloads[w].name);
        for (int i = 0; i < nallocators; i++)
            print_cell(speed[w][i].median, "%*.1f");
        putchar('\n');
    }

    /* Ratios: everybody to glibc, and what the debug hooks cost. */
    int g = allocator_index("glibc"), v = allocator_index("vigil"),
        d = allocator_index("vigil-debug");
    printf("\nratios of the medians: each allocator / glibc (below 1: faster than glibc),"
           " and vigil-debug / vigil\n");
    printf("%-9s", "workload");
    for (int i = 0; i < nallocators; i++)
        if (i != g)
            printf("%*s", COL, allocators[i].name);
    printf("%*s\n", COL + 2, "debug/vigil");
    for (int w = 0; w < NWORKLOADS; w++) {
        printf("%-9s", workloads[w].name);
        for (int i = 0; i < nallocators; i++)
            if (i != g)
                printf("%*.2f", COL, speed[w][i].median / speed[w][g].median);
        printf("%*.2f\n", COL + 2, speed[w][d].median / speed[w][v].median);
    }

    int x = workload_index("xthread");
    printf("\nxthread throughput, million blocks/s (1000 / median ns per block; higher is"
           " better)\n");
    printf("%-9s", "");
    for (int i = 0; i < nallocators; i++)
        printf("%*s", COL, allocators[i].name);
    printf("\n%-9s", "Mblocks/s");
    for (int i = 0; i < nallocators; i++)
        printf("%*.2f", COL, 1000 / speed[x][i].median);
    printf("\n%-9s", "/ glibc");
    for (int i = 0; i < nallocators; i++)
        printf("%*.2f", COL, speed[x][g].median / speed[x][i].median);
    putchar('\n');

    printf("\nspread over the rounds, (max - min) / median, %%\n");
    printf("%-9s", "workload");
    for (int i = 0; i < nallocators; i++)
        printf("%*s", COL, allocators[i].name);
    putchar('\n');
    for (int w = 0; w < NWORKLOADS; w++) {
        printf("%-9s", workloads[w].name);
        for (int i = 0; i < nallocators; i++) {
            const struct summary *s = &speed[w][i];
            printf("%*.0f", COL, 100 * (s->max - s->min) / s->median);
        }
        putchar('\n');
    }
}

static void print_load(void)
{
    if (isnan(other_load))
        return;
    printf("\nmachine: while the rounds ran, other processes and the hypervisor (steal) took"
           " %.0f%% of the CPU time of the %d cores (steal alone: %.0f%%)\n",
           100 * other_load, count_cores(), 100 * steal_share);
    if (other_load > 0.10)
        printf("NOTE: the machine was not quiet; the figures, the xthread ones first, are"
               " noisier than on an idle machine\n");
}

static void print_memory(void)
{
    printf("\nmemory: bytes of RSS per live block (%d blocks allocated and written in a "
           "forked child, RSS growth / blocks; in brackets: minus the bytes requested)\n",
           MEM_BLOCKS);
    printf("%-16s", "requested");
    for (int i = 0; i < nallocators; i++)
        printf("%*s", COL + 2, allocators[i].name);
    putchar('\n');
    char label[32];
    snprintf(label, sizeof label, "%d", MEM_FIXED);
    printf("%-16s", label);
    for (int i = 0; i < nallocators; i++) {
        if (isnan(memory_fixed[i]))
            printf("%*s", COL + 2, "-");
        else
            printf("%*.1f (%+5.1f)", COL + 2 - 8, memory_fixed[i], memory_fixed[i] - MEM_FIXED);
    }
    putchar('\n');
    snprintf(label, sizeof label, "%d..%d (%.0f)", RANDOM_MIN, RANDOM_MAX, random_mean_request);
    printf("%-16s", label);
    for (int i = 0; i < nallocators; i++) {
        if (isnan(memory_random[i]))
            printf("%*s", COL + 2, "-");
        else
            printf("%*.1f (%+5.1f)", COL + 2 - 8, memory_random[i],
                   memory_random[i] - random_mean_request);
    }
    putchar('\n');
}

static void print_peaks(void)
{
    printf("\npeak RSS (KiB): how far the resident set rose while the workload ran once,"
           " in a forked child\n(after a scaled-down warm-up run; %s; THP off)\n",
           peak_method == PEAK_HWM ? "VmHWM after the run - VmRSS before it, the peak reset "
                                     "through /proc/self/clear_refs"
           : peak_method == PEAK_MAXRSS ? "getrusage ru_maxrss after the run - before it"
                                        : "not measured");
    printf("%-9s", "workload");
    for (int i = 0; i < nallocators; i++)
        printf("%*s", COL, allocators[i].name);
    putchar('\n');
    for (int w = 0; w < NWORKLOADS; w++) {
        if (!workloads[w].peak)
            continue;
        printf("%-9s", workloads[w].name);
        for (int i = 0; i < nallocators; i++)
            print_cell(peak_kib[w][i], "%*.0f");
        putchar('\n');
    }
}

/* The targets of the speed and memory issue, met or not, from this run. */
static void print_targets(void)
{
    int g = allocator_index("glibc"), v = allocator_index("vigil"),
        m = allocator_index("mimalloc");
    static const char *const timed[] = { "random", "lifo" };

    printf("\ntargets (vigil against the others in this run)\n");
    for (size_t k = 0; k < sizeof timed / sizeof timed[0]; k++) {
        int w = workload_index(timed[k]);
        double r = speed[w][v].median / speed[w][g].median;
        printf("  %-8s vigil/glibc    %5.2f  (<= 0.70: %s)\n", timed[k], r,
               r <= 0.70 ? "met" : "NOT met");
        if (m >= 0) {
            r = speed[w][v].median / speed[w][m].median;
            printf("  %-8s vigil/mimalloc %5.2f  (<= 1.00: %s)\n", timed[k], r,
                   r <= 1.00 ? "met" : "NOT met");
        } else {
            printf("  %-8s vigil/mimalloc     -  (mimalloc not loaded)\n", timed[k]);
        }
    }
    int x = workload_index("xthread");
    double r = speed[x][g].median / speed[x][v].median;
    printf("  %-8s vigil/glibc    %5.2f  (throughput, >= 1.00: %s)\n", "xthread", r,
           r >= 1.00 ? "met" : "NOT met");
    int w = workload_index("random");
    if (isnan(peak_kib[w][v]) || isnan(peak_kib[w][g]))
        printf("  %-8s peak RSS vigil  -  (not measured)\n", "random");
    else
        printf("  %-8s peak RSS vigil %.0f KiB, glibc %.0f KiB  (vigil <= glibc: %s)\n",
               "random", peak_kib[w][v], peak_kib[w][g],
               peak_kib[w][v] <= peak_kib[w][g] ? "met" : "NOT met");
}

/* Long ("tidy") CSV: one value per line, so a plot script can pick. */
static int write_csv(FILE *f, const char *path, int rounds, int quick)
{
    fprintf(f, "section,workload,allocator,value,min,max,unit\n");
    fprintf(f, "info,cores,,%d,,,count\n", count_cores());
    fprintf(f, "info,rounds,,%d,,,count\n", rounds);
    fprintf(f, "info,quick,,%d,,,flag\n", quick);
    fprintf(f, "info,xthread_pinned,,%d,,,flag\n", xthread_cpu[0] >= 0);
    if (!isnan(other_load))
        fprintf(f, "info,other_load,,%.3f,,,fraction\ninfo,steal,,%.3f,,,fraction\n",
                other_load, steal_share);
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < nallocators; i++) {
            const struct summary *s = &speed[w][i];
            fprintf(f, "speed,%s,%s,%.3f,%.3f,%.3f,ns/%s\n", workloads[w].name,
                    allocators[i].name, s->median, s->min, s->max, workloads[w].unit);
        }
    int x = workload_index("xthread");
    for (int i = 0; i < nallocators; i++) {
        const struct summary *s = &speed[x][i];  /* min: from the slowest round */
        fprintf(f, "throughput,xthread,%s,%.4f,%.4f,%.4f,Mblocks/s\n", allocators[i].name,
                1000 / s->median, 1000 / s->max, 1000 / s->min);
    }
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < nallocators; i++)
            if (workloads[w].peak && !isnan(peak_kib[w][i]))
                fprintf(f, "peakrss,%s,%s,%.0f,,,KiB\n", workloads[w].name,
                        allocators[i].name, peak_kib[w][i]);
    for (int i = 0; i < nallocators; i++) {
        if (!isnan(memory_fixed[i]))
            fprintf(f, "memory,size%d,%s,%.2f,,,bytes/block\n", MEM_FIXED,
                    allocators[i].name, memory_fixed[i]);
        if (!isnan(memory_random[i]))
            fprintf(f, "memory,random%d-%d,%s,%.2f,,,bytes/block\n", RANDOM_MIN, RANDOM_MAX,
                    allocators[i].name, memory_random[i]);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench: writing %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: bench [--quick] [--no-pin] [--csv FILE]\n"
                 "  --quick      a short run (a few seconds), for smoke tests\n"
                 "  --no-pin     leave the xthread threads' CPUs to the scheduler\n"
                 "  --csv FILE   also write the results to FILE as CSV (see bench/plot.sh)\n");
}

int main(int argc, char **argv)
{
    int quick = 0, pin = 1;
    const char *csv = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--no-pin") == 0) {
            pin = 0;
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            csv = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* Full run: 1 to 4 million calls per run, 10 to 100 ms. */
    struct params p = {
        .random_live = 10000, .random_steps = 1000000,
        .lifo_batch = 100, .lifo_reps = 20000,
        .fifo_batch = 1000, .fifo_reps = 2000,
        .realloc_blocks = 1000, .realloc_reps = 50,
        .xthread_blocks = 200000,
    };
    int rounds = 11;
    if (quick) {
        p.random_steps /= 20;
        p.lifo_reps /= 40;
        p.fifo_reps /= 40;
        p.realloc_reps /= 25;
        p.xthread_blocks /= 10;
        rounds = 3;
    }

    setup_allocators(argv);    /* may run the program again, for jemalloc */
    setup_vigil();
    if (pin)
        choose_xthread_cpus();

    FILE *csv_file = NULL;     /* opened now, not after the run, if it fails */
    if (csv && !(csv_file = fopen(csv, "w")))
        die("cannot write %s: %s", csv, strerror(errno));

    nslots = p.random_live;
    if (p.fifo_batch > nslots)
        nslots = p.fifo_batch;
    if (p.lifo_batch > nslots)
        nslots = p.lifo_batch;
    if (p.realloc_blocks > nslots)
        nslots = p.realloc_blocks;
    slots = calloc(nslots, sizeof *slots);
    if (!slots)
        die("out of memory");

    print_header(&p, rounds, quick);
    fflush(stdout);

    measure_memory();          /* first: every child forks from a fresh heap */
    measure_peaks(&p);
    start_helper(&p);
    run_rounds(&p, rounds);
    stop_helper();

    print_speed(rounds);
    print_load();
    print_memory();
    print_peaks();
    print_targets();
    int status = 0;
    if (csv_file) {
        if (write_csv(csv_file, csv, rounds, quick))
            printf("\nwrote %s\n", csv);
        else
            status = 1;
    }

    free(slots);
    return status;
}
