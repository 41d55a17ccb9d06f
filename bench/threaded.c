/*
 * threaded.c - the multi-thread workloads modelled on mimalloc-bench's
 * programs (larson, xmalloc-test, rptest), and the pair that measures how
 * throughput scales from one thread to two independent ones.  xthread, the
 * lock-free producer/consumer ring, is in xthread.c; this file shares its
 * CPU choice and pinning (bench_pin_to).
 *
 *   larson   a server: each thread owns a region of a shared array of live
 *            blocks, 8..1000 bytes, and replaces random blocks of it; every
 *            LARSON_HANDOVER steps the threads meet and the regions move on
 *            to the next thread, as larson hands a finished thread's blocks
 *            to the thread that replaces it: most frees are of blocks
 *            another thread allocated.
 *   xmalloc  one thread allocates 64-byte blocks in batches, another frees
 *            them, the batches passed through a mutex-guarded queue (the
 *            ring of xthread passes them one by one, lock-free).
 *   rptest   each thread keeps a working set of its own and replaces random
 *            blocks of it, sizes 16..16384 with as many in each power of two
 *            (most of them small); one replaced block in RPTEST_CROSS is not
 *            freed but dropped into a shared mailbox, from which the block it
 *            displaces is freed, often by the other thread.
 *   indep1   one thread, random sizes 8..512, a working set of its own: a
 *            block freed and another allocated each step;
 *   indep2   the same on two threads at once, each with its own working set.
 *            indep1/indep2 (ns per op) is how much more throughput a second
 *            thread gives: 2.0 is perfect scaling.
 *
 * Every thread is made fresh for each run, pinned as xthread's are, and the
 * clock runs from the moment all of them are at the start line to the last
 * one's end (bench_xthread_wall_ns, which time_run reads for a threaded
 * workload).  Each block is stamped and checked before its free (bench.h),
 * with the slot number it was made for; a block that travels (the mailbox)
 * carries its slot number in its second word.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_THREADS 4
#define LARSON_MIN 8
#define LARSON_MAX 1000
#define LARSON_HANDOVER 10000
#define XMALLOC_SIZE 64
#define XMALLOC_BATCH 64
#define XMALLOC_QUEUE 32        /* batches in flight, at most */
#define RPTEST_MIN_LOG 4        /* 16 bytes */
#define RPTEST_MAX_LOG 14       /* 16384 bytes */
#define RPTEST_CROSS 8
#define MAILBOX 64
#define INDEP_LIVE 1000

/* ---- the team: threads started together, timed together ---- */

struct team {
    int n;
    atomic_int at_start;
    pthread_barrier_t handover;
    double t0[MAX_THREADS], t1[MAX_THREADS];
};

struct member {
    struct team *team;
    int index;
    const struct allocator *a;
    const struct params *p;
    void *arg;                  /* the workload's own */
};

static void arrive(struct member *m)
{
    struct team *t = m->team;
    unsigned spins = 0;
    bench_pin_to(bench_xthread_cpu[0] < 0 ? -1 : bench_xthread_cpu[m->index % 2]);
    atomic_fetch_add_explicit(&t->at_start, 1, memory_order_acq_rel);
    while (atomic_load_explicit(&t->at_start, memory_order_acquire) < t->n)
        if (++spins % 64 == 0)
            sched_yield();
    t->t0[m->index] = bench_now_ns();
}

static void leave(struct member *m)
{
    m->team->t1[m->index] = bench_now_ns();
}

/* Run fn on n threads at once; set bench_xthread_wall_ns. */
static void run_team(int n, void *(*fn)(void *), const struct allocator *a,
                     const struct params *p, void *const *args)
{
    struct team t = { .n = n };
    struct member m[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    atomic_init(&t.at_start, 0);
    if (pthread_barrier_init(&t.handover, NULL, (unsigned)n) != 0)
        bench_die("pthread_barrier_init failed");
    for (int i = 0; i < n; i++) {
        m[i] = (struct member){ &t, i, a, p, args ? args[i] : NULL };
        int err = pthread_create(&th[i], NULL, fn, &m[i]);
        if (err != 0)
            bench_die("cannot start a thread: %s", strerror(err));
    }
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&t.handover);
    double t0 = t.t0[0], t1 = t.t1[0];
    for (int i = 1; i < n; i++) {
        if (t.t0[i] < t0)
            t0 = t.t0[i];
        if (t.t1[i] > t1)
            t1 = t.t1[i];
    }
    bench_xthread_wall_ns = t1 - t0;
}

/* Slot arrays outside every allocator's heap, made before the clock runs. */
static void **slot_array(size_t n)
{
    void **s = calloc(n, sizeof *s);
    if (!s)
        bench_die("out of memory");
    return s;
}

/* ---- larson ---- */

static void **larson_slots;

static void *larson_thread(void *arg)
{
    struct member *m = arg;
    const struct allocator *a = m->a;
    size_t per = m->p->larson_live, steps = m->p->larson_steps;
    int n = m->team->n, region = m->index;
    uint64_t rng = SEED + (uint64_t)m->index;

    arrive(m);
    for (size_t i = region * per; i < (region + 1) * per; i++) {
        size_t size = LARSON_MIN + random_below(&rng, LARSON_MAX - LARSON_MIN + 1);
        larson_slots[i] = need(a, a->malloc(size), size);
        stamp(larson_slots[i], i);
    }
    for (size_t s = 0; s < steps; s++) {
        if (s % LARSON_HANDOVER == LARSON_HANDOVER - 1) {
            pthread_barrier_wait(&m->team->handover);     /* all done with theirs */
            region = (region + 1) % n;
        }
        size_t k = region * per + random_below(&rng, per);
        check(a, larson_slots[k], k);
        a->free(larson_slots[k]);
        size_t size = LARSON_MIN + random_below(&rng, LARSON_MAX - LARSON_MIN + 1);
        larson_slots[k] = need(a, a->malloc(size), size);
        stamp(larson_slots[k], k);
    }
    pthread_barrier_wait(&m->team->handover);
    for (size_t i = region * per; i < (region + 1) * per; i++) {
        check(a, larson_slots[i], i);
        a->free(larson_slots[i]);
    }
    leave(m);
    return NULL;
}

size_t bench_run_larson(const struct allocator *a, const struct params *p)
{
    size_t n = (size_t)p->threads;
    larson_slots = slot_array(n * p->larson_live);
    run_team(p->threads, larson_thread, a, p, NULL);
    free(larson_slots);
    return n * 2 * (p->larson_live + p->larson_steps);
}

/* ---- xmalloc ---- */

struct batch {
    struct batch *next;
    void *block[XMALLOC_BATCH];
};

static struct {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct batch *head, *tail, *spare;  /* spare: emptied batches, for reuse */
    size_t queued;
    int done;
} queue = { .lock = PTHREAD_MUTEX_INITIALIZER, .changed = PTHREAD_COND_INITIALIZER };

static void *xmalloc_producer(struct member *m)
{
    const struct allocator *a = m->a;
    size_t batches = m->p->xmalloc_blocks / XMALLOC_BATCH;
    for (size_t b = 0; b < batches; b++) {
        pthread_mutex_lock(&queue.lock);
        while (queue.queued == XMALLOC_QUEUE)
            pthread_cond_wait(&queue.changed, &queue.lock);
        struct batch *q = queue.spare;
        queue.spare = q->next;
        pthread_mutex_unlock(&queue.lock);
        for (size_t i = 0; i < XMALLOC_BATCH; i++) {
            q->block[i] = need(a, a->malloc(XMALLOC_SIZE), XMALLOC_SIZE);
            stamp(q->block[i], i);
        }
        q->next = NULL;
        pthread_mutex_lock(&queue.lock);
        if (queue.tail)
            queue.tail->next = q;
        else
            queue.head = q;
        queue.tail = q;
        queue.queued++;
        pthread_cond_broadcast(&queue.changed);
        pthread_mutex_unlock(&queue.lock);
    }
    pthread_mutex_lock(&queue.lock);
    queue.done = 1;
    pthread_cond_broadcast(&queue.changed);
    pthread_mutex_unlock(&queue.lock);
    return NULL;
}

static void *xmalloc_consumer(struct member *m)
{
    const struct allocator *a = m->a;
    for (;;) {
        pthread_mutex_lock(&queue.lock);
        while (!queue.head && !queue.done)
            pthread_cond_wait(&queue.changed, &queue.lock);
        struct batch *q = queue.head;
        if (!q) {
            pthread_mutex_unlock(&queue.lock);
            return NULL;
        }
        if (!(queue.head = q->next))
            queue.tail = NULL;
        queue.queued--;
        pthread_mutex_unlock(&queue.lock);
        for (size_t i = 0; i < XMALLOC_BATCH; i++) {
            check(a, q->block[i], i);
            a->free(q->block[i]);
        }
        pthread_mutex_lock(&queue.lock);
        q->next = queue.spare;
        queue.spare = q;
        pthread_cond_broadcast(&queue.changed);
        pthread_mutex_unlock(&queue.lock);
    }
}

static void *xmalloc_thread(void *arg)
{
    struct member *m = arg;
    arrive(m);
    if (m->index == 0)
        xmalloc_producer(m);
    else
        xmalloc_consumer(m);
    leave(m);
    return NULL;
}

size_t bench_run_xmalloc(const struct allocator *a, const struct params *p)
{
    /* The batches themselves are glibc's, made before the clock runs. */
    struct batch *pool = calloc(XMALLOC_QUEUE + 1, sizeof *pool);
    if (!pool)
        bench_die("out of memory");
    for (int i = 0; i < XMALLOC_QUEUE; i++)
        pool[i].next = &pool[i + 1];
    queue.spare = pool;
    queue.head = queue.tail = NULL;
    queue.queued = 0;
    queue.done = 0;
    run_team(2, xmalloc_thread, a, p, NULL);
    free(pool);
    return p->xmalloc_blocks / XMALLOC_BATCH * XMALLOC_BATCH;
}

/* ---- rptest ---- */

static _Atomic(void *) mailbox[MAILBOX];

/* 16..16384 bytes, as likely in each power of two: most blocks are small. */
static inline size_t rptest_size(uint64_t *rng)
{
    unsigned lg = RPTEST_MIN_LOG + (unsigned)random_below(rng, RPTEST_MAX_LOG - RPTEST_MIN_LOG);
    size_t lo = (size_t)1 << lg;
    return lo + random_below(rng, lo + 1);
}

/* A travelling block carries its slot number after the tag. */
static inline void stamp_travel(void *p, size_t slot)
{
    stamp(p, slot);
    memcpy((char *)p + sizeof(uint64_t), &slot, sizeof slot);
}

static inline void check_travel(const struct allocator *a, const void *p)
{
    size_t slot;
    memcpy(&slot, (const char *)p + sizeof(uint64_t), sizeof slot);
    check(a, p, slot);
}

static void *rptest_thread(void *arg)
{
    struct member *m = arg;
    const struct allocator *a = m->a;
    size_t live = m->p->rptest_live, steps = m->p->rptest_steps;
    size_t base = (size_t)m->index * live;
    void **slots = m->arg;
    uint64_t rng = SEED + 17 * (uint64_t)m->index;

    arrive(m);
    for (size_t i = 0; i < live; i++) {
        size_t size = rptest_size(&rng);
        slots[i] = need(a, a->malloc(size), size);
        stamp_travel(slots[i], base + i);
    }
    for (size_t s = 0; s < steps; s++) {
        size_t k = random_below(&rng, live);
        void *old = slots[k];
        check_travel(a, old);
        if (random_below(&rng, RPTEST_CROSS) == 0)
            old = atomic_exchange_explicit(&mailbox[random_below(&rng, MAILBOX)], old,
                                           memory_order_acq_rel);
        if (old) {
            check_travel(a, old);
            a->free(old);
        }
        size_t size = rptest_size(&rng);
        slots[k] = need(a, a->malloc(size), size);
        stamp_travel(slots[k], base + k);
    }
    for (size_t i = 0; i < live; i++) {
        check_travel(a, slots[i]);
        a->free(slots[i]);
    }
    leave(m);
    return NULL;
}

size_t bench_run_rptest(const struct allocator *a, const struct params *p)
{
    void *args[MAX_THREADS];
    for (int i = 0; i < p->threads; i++)
        args[i] = slot_array(p->rptest_live);
    run_team(p->threads, rptest_thread, a, p, args);
    for (int i = 0; i < MAILBOX; i++) {     /* what the mailbox still holds */
        void *q = atomic_exchange_explicit(&mailbox[i], NULL, memory_order_relaxed);
        if (q) {
            check_travel(a, q);
            a->free(q);
        }
    }
    for (int i = 0; i < p->threads; i++)
        free(args[i]);
    return (size_t)p->threads * 2 * (p->rptest_live + p->rptest_steps);
}

/* ---- indep1, indep2 ---- */

static void *indep_thread(void *arg)
{
    struct member *m = arg;
    arrive(m);
    bench_churn(m->a, m->arg, INDEP_LIVE, m->p->indep_steps, SEED + 101 * (uint64_t)m->index);
    leave(m);
    return NULL;
}

static size_t run_indep(const struct allocator *a, const struct params *p, int n)
{
    void *args[MAX_THREADS];
    for (int i = 0; i < n; i++)
        args[i] = slot_array(INDEP_LIVE);
    run_team(n, indep_thread, a, p, args);
    for (int i = 0; i < n; i++)
        free(args[i]);
    return (size_t)n * 2 * (INDEP_LIVE + p->indep_steps);
}

size_t bench_run_indep1(const struct allocator *a, const struct params *p)
{
    return run_indep(a, p, 1);
}

size_t bench_run_indep2(const struct allocator *a, const struct params *p)
{
    return run_indep(a, p, 2);
}

void bench_describe_threaded(const struct params *p)
{
    printf("  larson   %d threads, %zu live blocks each of %d..%d bytes, %zu steps each of\n"
           "           free(random block) + malloc; the regions change threads every %d steps\n",
           p->threads, p->larson_live, LARSON_MIN, LARSON_MAX, p->larson_steps, LARSON_HANDOVER);
    printf("  xmalloc  2 threads: %zu blocks of %d bytes malloc'ed by one, in batches of %d\n"
           "           through a mutex-guarded queue, freed by the other\n",
           p->xmalloc_blocks, XMALLOC_SIZE, XMALLOC_BATCH);
    printf("  rptest   %d threads, %zu live blocks each of %d..%d bytes (as many in each power\n"
           "           of two), %zu steps each; 1 in %d freed blocks through a shared mailbox\n",
           p->threads, p->rptest_live, 1 << RPTEST_MIN_LOG, 1 << RPTEST_MAX_LOG, p->rptest_steps,
           RPTEST_CROSS);
    printf("  indep1   1 thread, %d live blocks of %d..%d bytes, %zu steps; indep2: the same on 2\n"
           "           threads at once, each with its own blocks (indep1/indep2: the scaling)\n",
           INDEP_LIVE, RANDOM_MIN, RANDOM_MAX, p->indep_steps);
}
