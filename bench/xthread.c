/*
 * xthread.c - the two-thread workload, xthread: blocks malloc'ed on one
 * thread and freed on another, passed between them through a lock-free
 * ring.  Its own file for the ring, the waiting and the CPU pinning it
 * needs, which the single-thread workloads (workloads.c) do not.
 *
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
 *
 * RING_SIZE and RING_BATCH are in bench.h: the header's description and the
 * peak-RSS warm-up use them too.
 */
#include "config.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "bench.h"

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

int bench_xthread_cpu[2] = { -1, -1 };

void bench_choose_xthread_cpus(void)
{
#ifdef CPU_SET
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return;
    int n = 0;
    for (int c = 0; c < CPU_SETSIZE && n < 2; c++)
        if (CPU_ISSET(c, &set))
            bench_xthread_cpu[n++] = c;
    if (n < 2)
        bench_xthread_cpu[0] = bench_xthread_cpu[1] = -1;
#endif
}

/* Pin the calling thread to cpu (-1: leave it be). */
void bench_pin_to(int cpu)
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
            since = bench_now_ns();
        } else if (bench_now_ns() - since > WAIT_SLEEP_NS) {
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

    bench_pin_to(bench_xthread_cpu[0]);
    start_line(x);
    x->t0 = bench_now_ns();
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

    bench_pin_to(bench_xthread_cpu[1]);
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
    x->t1 = bench_now_ns();
    return NULL;
}

double bench_xthread_wall_ns;

/* Write every slot of the ring, faulting its pages in. */
void bench_clear_ring(void)
{
    memset(ring.slot, 0, sizeof ring.slot);
}

size_t bench_run_xthread(const struct allocator *a, const struct params *p)
{
    struct xthread x = { .a = a, .blocks = p->xthread_blocks };
    atomic_init(&x.at_start, 0);
    atomic_store_explicit(&ring.tail.value, 0, memory_order_relaxed);
    atomic_store_explicit(&ring.head.value, 0, memory_order_relaxed);
    bench_clear_ring();

    pthread_t producer, consumer;
    int err = pthread_create(&consumer, NULL, xthread_consumer, &x);
    if (err == 0 && (err = pthread_create(&producer, NULL, xthread_producer, &x)) != 0)
        bench_die("xthread: cannot start the producer thread: %s", strerror(err));
    if (err != 0)
        bench_die("xthread: cannot start the consumer thread: %s", strerror(err));
    pthread_join(producer, NULL);
    pthread_join(consumer, NULL);
    bench_xthread_wall_ns = x.t1 - x.t0;
    return x.blocks;
}
