/* test_arena.c - the arena allocator, called through its own table so the
 * tests hold whatever VIGIL_MALLOC the suite runs under. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "child.h"
#include "vigil/annotate.h"
#include "arena_map.h"
#include "heap.h"
#include "settings.h"
#include "tcache.h"
#include "suites.h"

static const vigil_allocator *A = &vigil__arena_allocator;

static void *amalloc(size_t n) { return A->malloc(A->ctx, n); }
static void *acalloc(size_t n, size_t m) { return A->calloc(A->ctx, n, m); }
static void *arealloc(void *p, size_t n) { return A->realloc(A->ctx, p, n); }
static void afree(void *p) { A->free(A->ctx, p); }

static struct vigil_pool info(const void *p)
{
    struct vigil_pool h;
    vigil__pool_info(p, &h);
    return h;
}

static void test_size_classes(void)
{
    CU_ASSERT_EQUAL(vigil__size_class(0), 0);
    CU_ASSERT_EQUAL(vigil__size_class(1), 0);
    CU_ASSERT_EQUAL(vigil__size_class(16), 0);
    CU_ASSERT_EQUAL(vigil__size_class(17), 1);
    CU_ASSERT_EQUAL(vigil__size_class(32), 1);
    CU_ASSERT_EQUAL(vigil__size_class(33), 2);
    CU_ASSERT_EQUAL(vigil__size_class(511), 31);
    CU_ASSERT_EQUAL(vigil__size_class(512), 31);
    CU_ASSERT_EQUAL(VIGIL_NB_CLASSES, 32);
    for (size_t n = 1; n <= VIGIL_SMALL_MAX; n++) {
        size_t sz = vigil__class_size(vigil__size_class(n));
        CU_ASSERT_FATAL(sz >= n && sz - n < VIGIL_ALIGNMENT);
    }
}

/* Every small size: owned, 16-aligned, usable to its class size, and the
 * pool header says the same class. */
static void test_blocks_owned_aligned(void)
{
    void *p[VIGIL_SMALL_MAX + 1];
    for (size_t n = 0; n <= VIGIL_SMALL_MAX; n++) {
        p[n] = amalloc(n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p[n]);
        CU_ASSERT_EQUAL((uintptr_t)p[n] % 16, 0);
        CU_ASSERT(vigil__arena_owns(p[n]));
        CU_ASSERT_EQUAL(info(p[n]).cls, vigil__size_class(n));
        memset(p[n], (int)(n & 0xff), n);
    }
    for (size_t n = 0; n <= VIGIL_SMALL_MAX; n++) {
        for (size_t i = 0; i < n; i++)
            if (((unsigned char *)p[n])[i] != (n & 0xff)) {
                CU_FAIL("blocks overlap");
                break;
            }
        afree(p[n]);
    }
}

static void test_zero_size_unique(void)
{
    void *a = amalloc(0), *b = amalloc(0);
    CU_ASSERT_PTR_NOT_NULL(a);
    CU_ASSERT_PTR_NOT_NULL(b);
    CU_ASSERT_PTR_NOT_EQUAL(a, b);
    afree(a);
    afree(b);
}

/* Resident memory in KiB (the second field of statm). */
static size_t resident_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

/* A round of malloc and free through the public entry points, many times,
 * must leave nothing behind: no live block, no new arena, no resident
 * memory.  Size 0 once lost a block's worth of cache room per call (its
 * request missed the cache, whose class-0 list its free then filled). */
static void flat_rounds(void *arg)
{
    (void)arg;
    const int tools = VIGIL_ASAN_ENABLED || VIGIL_RUNNING_ON_VALGRIND();
    const long zero_rounds = VIGIL_RUNNING_ON_VALGRIND() ? 20000 : 1000000;
    const long rounds = VIGIL_RUNNING_ON_VALGRIND() ? 200 : 20000;
    for (size_t size = 0; size <= VIGIL_SMALL_MAX + 16; size++) {
        long n = size ? rounds : zero_rounds;
        /* Warm: the first rounds may map an arena and fill a cache.  Under
         * the tools the quarantine keeps freed blocks on purpose: it is
         * emptied before each count (no thread has a cache there). */
        for (long i = 0; i < 1000; i++)
            vigil_mem_free(vigil_mem_malloc(size));
        if (tools)
            vigil__arena_settle();
        struct vigil_arena_stats st0, st1;
        vigil__arena_stats(&st0);
        size_t blocks0 = vigil_allocated_blocks(), rss0 = resident_kib();
        for (long i = 0; i < n; i++)
            vigil_mem_free(vigil_mem_malloc(size));
        if (tools)
            vigil__arena_settle();
        vigil__arena_stats(&st1);
        if (vigil_allocated_blocks() != blocks0) {
            fprintf(stderr, "size %zu: %zu live blocks after, %zu before\n", size,
                    vigil_allocated_blocks(), blocks0);
            exit(21);
        }
        if (st1.arenas_current != st0.arenas_current || st1.blocks != st0.blocks) {
            fprintf(stderr, "size %zu: arenas %zu -> %zu, blocks %zu -> %zu\n", size,
                    st0.arenas_current, st1.arenas_current, st0.blocks, st1.blocks);
            exit(22);
        }
        /* Under the tools the quarantine's pages and the tools' own
         * memory grow the resident set on purpose: the counts above say
         * that nothing is lost there. */
        if (!tools && resident_kib() > rss0 + 256) {
            fprintf(stderr, "size %zu: resident %zu KiB -> %zu KiB\n", size, rss0,
                    resident_kib());
            exit(23);
        }
    }
    if (vigil__arena_check() != 0)
        exit(24);
}

/* fn run in a child process exits 0; else what it wrote says why. */
static void child_exits_0(void (*fn)(void *), const char *what)
{
    struct child_result r;
    run_child(fn, NULL, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status)
        fprintf(stderr, "%s child: exit %d\n%s", what, r.status, r.err);
}

static void test_flat_rounds(void)
{
    child_exits_0(flat_rounds, "flat rounds");
}

/* A queue of blocks larger than a thread's cache, freed oldest first round
 * after round (the cache grows for it, tcache.c): every count stays exact
 * between rounds, the cache holds no more than its grown bound of 64 KiB a
 * class, and once the thread's cache is given back its pools and arenas
 * go back too. */
static void queue_rounds(void *arg)
{
    (void)arg;
    enum { N = 3000, SIZE = 64, ROUNDS = 20 };
    static void *q[N];
    struct vigil_arena_stats st0, st;
    vigil__arena_settle();
    vigil__arena_stats(&st0);
    size_t blocks0 = vigil_allocated_blocks();
    for (int r = 0; r < ROUNDS; r++) {
        for (size_t i = 0; i < N; i++) {
            if (!(q[i] = vigil_mem_malloc(SIZE)))
                exit(20);
            memset(q[i], (int)i, SIZE);
        }
        if (vigil_allocated_blocks() != blocks0 + N)
            exit(21);
        for (size_t i = 0; i < N; i++)
            vigil_mem_free(q[i]);
        if (vigil_allocated_blocks() != blocks0) {
            fprintf(stderr, "round %d: %zu live blocks, %zu before\n", r,
                    vigil_allocated_blocks(), blocks0);
            exit(22);
        }
        vigil__arena_stats(&st);
        if ((st.cached - st0.cached) * SIZE > 65536) {
            fprintf(stderr, "round %d: %zu blocks cached\n", r, st.cached - st0.cached);
            exit(23);
        }
    }
    if (vigil__arena_check() != 0)
        exit(24);
    vigil__arena_settle();
    vigil__arena_stats(&st);
    if (st.cached != st0.cached || st.arenas_current != st0.arenas_current ||
        st.class_pools[vigil__size_class(SIZE)] != st0.class_pools[vigil__size_class(SIZE)]) {
        fprintf(stderr, "cached %zu -> %zu, arenas %zu -> %zu\n", st0.cached, st.cached,
                st0.arenas_current, st.arenas_current);
        exit(25);
    }
}

static void test_queue_rounds(void)
{
    child_exits_0(queue_rounds, "queue rounds");
}

/* Large requests go to the raw domain: not ours, but served and freed. */
static void test_large_goes_raw(void)
{
    void *p = amalloc(VIGIL_SMALL_MAX + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_FALSE(vigil__arena_owns(p));
    CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
    memset(p, 1, VIGIL_SMALL_MAX + 1);
    afree(p);
    void *q = acalloc(100, 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_FALSE(vigil__arena_owns(q));
    CU_ASSERT_EQUAL(((char *)q)[9999], 0);
    afree(q);
}

/* A pool is carved lazily, fills, goes full, and returns to its arena when
 * its last block is freed. */
static void pool_life_cycle(void *arg)
{
    (void)arg;
    const size_t size = 496;            /* class 30: 8 blocks per pool */
    unsigned cls = vigil__size_class(size);
    vigil__thread_cache_disable();      /* watch the pools themselves */
    size_t per_pool = vigil__pool_capacity(cls);
    struct vigil_arena_stats before, st;
    vigil__arena_stats(&before);

    /* Fill whatever partly used pool of this class exists first, so that
     * b[0] is the first block of a pool of its own. */
    void *b[64], *pre[64];
    size_t npre = 0;
    vigil__arena_settle();
    while ((b[0] = amalloc(size)) && info(b[0]).nused != 1)
        if ((pre[npre++] = b[0]), npre == 64) exit(9);
    vigil__arena_stats(&before);
    for (size_t i = 1; i < per_pool; i++)
        b[i] = amalloc(size);
    vigil__arena_stats(&st);
    if (st.class_pools[cls] != before.class_pools[cls]) exit(10);
    if (vigil__pool_of(b[0]) != vigil__pool_of(b[per_pool - 1])) exit(11);
    if (!info(b[0]).full) exit(12);
    /* Lazily carved: consecutive addresses in a fresh pool. */
    if ((char *)b[1] - (char *)b[0] != (ptrdiff_t)vigil__block_stride(cls)) exit(13);

    b[per_pool] = amalloc(size);        /* a second pool */
    if (vigil__pool_of(b[per_pool]) == vigil__pool_of(b[0])) exit(14);
    afree(b[3]);                        /* full -> used, and reused first */
    vigil__arena_settle();    /* (ASan builds hold it back) */
    if (info(b[0]).full) exit(15);
    void *again = amalloc(size);
    if (again != b[3]) exit(16);
    b[3] = again;

    for (size_t i = 0; i <= per_pool; i++)
        afree(b[i]);
    vigil__arena_settle();
    vigil__arena_stats(&st);
    if (st.class_pools[cls] != before.class_pools[cls] - 1) exit(17);
    if (st.blocks != before.blocks - 1) exit(18);
    while (npre)
        afree(pre[--npre]);
}

static void test_pool_life_cycle(void)
{
    child_exits_0(pool_life_cycle, "pool life cycle");
}

/* 200 MB of small blocks, all freed: the arenas go back to the system,
 * seen both in the statistics and in the process's mapped memory. */
static size_t mapped_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    return pages * (size_t)sysconf(_SC_PAGESIZE) / 1024;
}

static void reclaim(void *arg)
{
    (void)arg;
    const size_t total = (size_t)200 << 20, size = 64, n = total / size;
    void **v = malloc(n * sizeof *v);
    if (!v) exit(20);
    size_t base_kib = mapped_kib();
    struct vigil_arena_stats st0, st1, st2;
    vigil__arena_stats(&st0);
    for (size_t i = 0; i < n; i++) {
        v[i] = amalloc(size);
        if (!v[i]) exit(21);
        *(size_t *)v[i] = i;
    }
    vigil__arena_stats(&st1);
    size_t peak_kib = mapped_kib();
    /* Free in an order that empties pools across every arena at once. */
    for (size_t i = 0; i < n; i += 2)
        afree(v[i]);
    for (size_t i = 1; i < n; i += 2) {
        if (*(size_t *)v[i] != i) exit(22);
        afree(v[i]);
    }
    vigil__arena_settle();
    vigil__arena_stats(&st2);
    size_t end_kib = mapped_kib();
    printf("arenas %zu -> %zu -> %zu; mapped KiB %zu -> %zu -> %zu\n",
           st0.arenas_current, st1.arenas_current, st2.arenas_current,
           base_kib, peak_kib, end_kib);
    if (st1.arenas_current < st0.arenas_current + 200) exit(23);
    if (st2.arenas_current > st0.arenas_current + 1) exit(24);  /* one spare */
    if (st2.arenas_reclaimed < st1.arenas_current - st0.arenas_current - 1) exit(25);
    if (peak_kib < base_kib + 200 * 1024) exit(26);
    /* Valgrind and ASan keep their shadow of unmapped memory: there VmSize
     * is no gauge. */
    if (!vigil__settings()->running_on_valgrind && !VIGIL_ASAN_ENABLED &&
        end_kib > base_kib + 2 * 1024)
        exit(27);                                               /* back down */
    free(v);
}

static void test_reclaim_200mb(void)
{
    struct child_result r;
    run_child(reclaim, NULL, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    if (r.status)
        fprintf(stderr, "reclaim child: %s", r.out);
}

/* Packing: once some arenas are nearly full and one is nearly empty, new
 * pools come from the fullest arena, so the emptiest can drain. */
static void packing(void *arg)
{
    (void)arg;
    const size_t per_arena = VIGIL_ARENA_SIZE / VIGIL_POOL_SIZE;
    const size_t size = 512;            /* 7 blocks per pool */
    size_t n = 3 * per_arena * 7;
    void **v = malloc(n * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = amalloc(size);
    /* Free every block of the middle arena's pools but one pool. */
    struct vigil_pool *keep = vigil__pool_of(v[n / 2]);
    uint32_t keep_arena = info(keep).arenaindex;
    for (size_t i = 0; i < n; i++)
        if (vigil__arena_owns(v[i]) && vigil__pool_of(v[i]) != keep &&
            info(v[i]).arenaindex == keep_arena) {
            afree(v[i]);
            v[i] = NULL;
        }
    /* Free one pool's worth in the first arena: it has a free pool now. */
    struct vigil_pool *p0 = vigil__pool_of(v[0]);
    for (size_t i = 0; i < n; i++)
        if (v[i] && vigil__pool_of(v[i]) == p0) {
            afree(v[i]);
            v[i] = NULL;
        }
    /* A new pool must come from a fuller arena, not the drained one. */
    void *q = amalloc(size - 16);
    if (info(q).arenaindex == keep_arena) exit(30);
    afree(q);
    for (size_t i = 0; i < n; i++)
        afree(v[i]);
    free(v);
}

static void test_packing(void)
{
    struct child_result r;
    run_child(packing, NULL, &r);
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
}

/* Pointers that are not ours: libc blocks, the stack, a fresh mapping, and a
 * page whose first word looks like a valid arena index. */
static void test_foreign_pointers(void)
{
    void *mine = amalloc(32);
    CU_ASSERT_TRUE(vigil__arena_owns(mine));
    uint32_t idx = info(mine).arenaindex;

    void *libc = malloc(40);
    CU_ASSERT_FALSE(vigil__arena_owns(libc));
    int local = 0;
    CU_ASSERT_FALSE(vigil__arena_owns(&local));

    unsigned char *page = mmap(NULL, 2 * VIGIL_POOL_SIZE, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(page != MAP_FAILED);
    CU_ASSERT_FALSE(vigil__arena_owns(page + 16));           /* zeroes */
    memcpy(vigil__pool_of(page), &idx, sizeof idx);           /* a live index */
    CU_ASSERT_FALSE(vigil__arena_owns(page + 16));
    CU_ASSERT_FALSE(vigil__arena_owns(page));
    memset(vigil__pool_of(page + VIGIL_POOL_SIZE), 0xff, 64); /* out of range */
    CU_ASSERT_FALSE(vigil__arena_owns(page + VIGIL_POOL_SIZE + 32));
    munmap(page, 2 * VIGIL_POOL_SIZE);

    /* A libc block freed and reallocated through the arena goes to raw. */
    size_t before = vigil_allocated_blocks();
    void *raw = vigil_raw_malloc(24);
    CU_ASSERT_EQUAL(vigil_allocated_blocks(), before + 1);
    memcpy(raw, "through the raw domain", 23);
    raw = arealloc(raw, 48);
    CU_ASSERT_FALSE(vigil__arena_owns(raw));
    CU_ASSERT_STRING_EQUAL(raw, "through the raw domain");
    afree(raw);
    CU_ASSERT_EQUAL(vigil_allocated_blocks(), before);

    free(libc);
    afree(mine);
}

static void fill(void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)p)[i] = (unsigned char)(seed + i * 7);
}

static int same_fill(const void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (((const unsigned char *)p)[i] != (unsigned char)(seed + i * 7))
            return 0;
    return 1;
}

static void test_realloc(void)
{
    /* In place: same class, or shrinking by no more than a quarter. */
    void *p = amalloc(100);                 /* class 6, 112 bytes */
    fill(p, 100, 1);
    CU_ASSERT_PTR_EQUAL(arealloc(p, 112), p);
    CU_ASSERT_PTR_EQUAL(arealloc(p, 97), p);
    CU_ASSERT_PTR_EQUAL(arealloc(p, 84), p);   /* 4*84 >= 3*112 */
    CU_ASSERT_TRUE(same_fill(p, 84, 1));

    /* Shrinking more: moves to a smaller class, content kept. */
    void *q = arealloc(p, 40);
    CU_ASSERT_PTR_NOT_EQUAL(q, p);
    CU_ASSERT_EQUAL(info(q).cls, vigil__size_class(40));
    CU_ASSERT_TRUE(same_fill(q, 40, 1));

    /* Growing across classes, then out of the arena, then back. */
    fill(q, 40, 2);
    void *r = arealloc(q, 300);
    CU_ASSERT_TRUE(vigil__arena_owns(r));
    CU_ASSERT_TRUE(same_fill(r, 40, 2));
    fill(r, 300, 3);
    void *big = arealloc(r, 5000);
    CU_ASSERT_FALSE(vigil__arena_owns(big));
    CU_ASSERT_TRUE(same_fill(big, 300, 3));
    void *small = arealloc(big, 200);
    CU_ASSERT_TRUE(same_fill(small, 200, 3));

    /* realloc(NULL, n) allocates; realloc to 0 keeps a unique block. */
    void *n = arealloc(NULL, 10);
    CU_ASSERT_TRUE(vigil__arena_owns(n));
    void *z = arealloc(n, 0);
    CU_ASSERT_PTR_NOT_NULL(z);
    afree(z);
    afree(small);
}

static void test_calloc(void)
{
    for (size_t size = 16; size <= VIGIL_SMALL_MAX; size += 16) {
        void *dirty = amalloc(size);
        memset(dirty, 0xab, size);
        afree(dirty);
        unsigned char *p = acalloc(1, size);   /* likely the same block */
        CU_ASSERT_PTR_NOT_NULL_FATAL(p);
        for (size_t i = 0; i < size; i++)
            if (p[i]) {
                CU_FAIL("calloc block not zeroed");
                break;
            }
        afree(p);
    }
    errno = 0;
    CU_ASSERT_PTR_NULL(acalloc(SIZE_MAX / 2, 3));
    CU_ASSERT_EQUAL(errno, ENOMEM);
    void *z = acalloc(0, 8);
    CU_ASSERT_PTR_NOT_NULL(z);
    afree(z);
}

/* ---- threads: blocks allocated in one thread, checked and freed in the
 * next, around a ring of four ---- */

#define NTHREADS 4
#define PER_THREAD 20000
#define QCAP 256

struct queue {
    pthread_mutex_t m;
    pthread_cond_t c;
    void *items[QCAP];
    size_t head, tail;
};

static struct queue queues[NTHREADS];
static int thread_errors;

static void qput(struct queue *q, void *p)
{
    pthread_mutex_lock(&q->m);
    while (q->tail - q->head == QCAP)
        pthread_cond_wait(&q->c, &q->m);
    q->items[q->tail++ % QCAP] = p;
    pthread_cond_broadcast(&q->c);
    pthread_mutex_unlock(&q->m);
}

static void *qget(struct queue *q)
{
    pthread_mutex_lock(&q->m);
    while (q->tail == q->head)
        pthread_cond_wait(&q->c, &q->m);
    void *p = q->items[q->head++ % QCAP];
    pthread_cond_broadcast(&q->c);
    pthread_mutex_unlock(&q->m);
    return p;
}

/* Block: [size_t size][size_t tag] then a pattern from the tag. */
static void *ring_thread(void *arg)
{
    size_t id = (size_t)arg;
    struct queue *out = &queues[(id + 1) % NTHREADS], *in = &queues[id];
    unsigned seed = (unsigned)id * 7919u + 1;
    size_t got = 0;
    for (size_t i = 0; i < PER_THREAD; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t size = 2 * sizeof(size_t) + (seed >> 8) % (VIGIL_SMALL_MAX - 2 * sizeof(size_t));
        size_t *b = amalloc(size);
        if (!b) {
            __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
            continue;
        }
        b[0] = size;
        b[1] = id << 32 | i;
        fill(b + 2, size - 2 * sizeof(size_t), (unsigned)b[1]);
        qput(out, b);
        /* Take what the previous thread sent, check it, free it here. */
        size_t *g = qget(in);
        if (!same_fill(g + 2, g[0] - 2 * sizeof(size_t), (unsigned)g[1]))
            __atomic_add_fetch(&thread_errors, 1, __ATOMIC_RELAXED);
        afree(g);
        got++;
    }
    return (void *)got;
}

static void test_threads_cross_free(void)
{
    pthread_t t[NTHREADS];
    size_t before = vigil__arena_blocks();
    thread_errors = 0;
    for (size_t i = 0; i < NTHREADS; i++) {
        pthread_mutex_init(&queues[i].m, NULL);
        pthread_cond_init(&queues[i].c, NULL);
        queues[i].head = queues[i].tail = 0;
    }
    for (size_t i = 0; i < NTHREADS; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, ring_thread, (void *)i), 0);
    size_t total = 0;
    for (size_t i = 0; i < NTHREADS; i++) {
        void *got;
        pthread_join(t[i], &got);
        total += (size_t)got;
    }
    CU_ASSERT_EQUAL(total, NTHREADS * PER_THREAD);
    CU_ASSERT_EQUAL(thread_errors, 0);
    CU_ASSERT_EQUAL(vigil__arena_blocks(), before);
}

/* ---- an arena source that fails: small requests still succeed, from raw */

static void *failing_alloc(void *ctx, size_t size) { (void)ctx; (void)size; return NULL; }
static void failing_free(void *ctx, void *p, size_t size) { (void)ctx; (void)p; (void)size; }

static void no_arena(void *arg)
{
    (void)arg;
    vigil_arena_allocator failing = { NULL, failing_alloc, failing_free };
    vigil_set_arena_allocator(&failing);
    /* Use up whatever room the existing arenas still have, keeping the
     * blocks on a list threaded through them. */
    size_t n = 0;
    void **list = NULL, **p;
    while ((p = amalloc(512)) && vigil__arena_owns(p)) {
        *p = list;
        list = p;
        if (++n > (size_t)1 << 22) exit(40);
    }
    if (!p) exit(41);
    memset(p, 1, 512);
    afree(p);
    while (list) {
        void **next = *list;
        afree(list);
        list = next;
    }
}

static void test_no_arena_falls_back(void)
{
    child_exits_0(no_arena, "no-arena");
}

void register_arena_suite(void)
{
    static const struct test_case tests[] = {
        { "size classes", test_size_classes },
        { "blocks owned and aligned", test_blocks_owned_aligned },
        { "size 0 gives unique blocks", test_zero_size_unique },
        { "malloc+free rounds leave nothing, every size", test_flat_rounds },
        { "a queue larger than the cache: counts exact, memory back", test_queue_rounds },
        { "large requests go to raw", test_large_goes_raw },
        { "pool life cycle", test_pool_life_cycle },
        { "200 MB freed returns arenas", test_reclaim_200mb },
        { "new pools from the fullest arena", test_packing },
        { "foreign pointers", test_foreign_pointers },
        { "realloc in place and across classes", test_realloc },
        { "calloc zeroes", test_calloc },
        { "4 threads, cross-thread frees", test_threads_cross_free },
        { "no arena memory: raw fallback", test_no_arena_falls_back },
        { NULL, NULL },
    };
    add_suite("arena", tests);
}
