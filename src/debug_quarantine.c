/*
 * debug_quarantine.c - the debug hooks' quarantine (see
 * debug_quarantine.h): the freed blocks wait in a FIFO, and each is checked
 * for writes (is it still all 0xDD?) when it leaves, and at exit.
 *
 * Its own file because it is the hooks' one piece of shared state, with a
 * lock, per-thread batches and a fork policy; the wrapper around it is
 * stateless but for its contexts.  The blocks are freed through the inner
 * table of the wrapper that made them, whatever is installed by then.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

#include "debug_block.h"
#include "debug_diagnose.h"
#include "debug_quarantine.h"
#include "lock.h"
#include "os.h"
#include "report.h"
#include "ring.h"
#include "treg.h"
#include "vigil/annotate.h"

#define DEAD64 (UINT64_MAX / 0xFF * VIGIL_DEADBYTE)

struct qentry {
    unsigned char *base;
    size_t total;
    const struct vigil_quarantine_owner *owner;
    struct vigil_origin alloc, freed;   /* the block's own were filled over */
};

/* Configuration, set before the first block is put, and read by every
 * free: a cache line of its own, so that no other thread's write to a
 * neighbour (the lock, a counter) makes those reads miss. */
static struct {
    _Alignas(64) size_t limit;
    size_t batch_limit;
    size_t fast_limit;          /* batch_limit, or 0 under memcheck: see put */
    int on_valgrind;
} cfg;

/* A chunk of entries, oldest first: the unit the shared FIFO keeps.  A
 * thread fills one with its frees, and hands it to the FIFO whole; the
 * chunk that leaves the FIFO in exchange is checked block by block, and
 * then filled again.  So an entry is written once and read once, where a
 * ring of entries copied each of them in and out (and the copy in wrote a
 * line a whole quarantine cold). */
#define QBATCH 32

struct qchunk {
    unsigned n;                 /* e[0..n) */
    size_t bytes;               /* in e */
    struct qchunk *next;        /* on the spare list */
    struct qentry e[QBATCH];
};

/* The shared FIFO: a ring of chunks (memory from os.c, never from a
 * domain: the domains are what is being debugged, and one of them may be
 * the caller).  The lock also guards the batch registry below. */
static void quarantine_child(void);
VIGIL_LOCK_DEFINE(q_lock, quarantine_child);

static struct {
    struct vigil_ring ring;     /* of struct qchunk *, oldest first */
    struct qchunk *loose;       /* frees of threads with no batch, oldest first */
    struct qchunk *spare;       /* chunks not in use */
    size_t bytes;               /* in the ring and loose */
    int closed;                 /* drained at exit: free directly from now on */
} q = { .ring = { .esize = sizeof(struct qchunk *) } };

/* A free does not take that lock: it appends the block to its thread's
 * batch (its fill chunk), with no lock and no atomic (a locked instruction
 * would also wait for the 0xDD fill just written to reach the cache).  A
 * full batch - QBATCH blocks or batch_limit bytes - moves into the ring
 * under the lock, and the oldest chunks leave it in the same critical
 * section while the ring holds more than the limit.  So the lock is taken
 * once per QBATCH frees, the FIFO order is kept per thread, and the
 * quarantine holds at most batch_limit bytes per thread beyond its limit,
 * and a chunk (batch_limit bytes at most) less when one has just left.
 *
 * The blocks that left the ring are not checked and freed there and then,
 * in a burst, but one per free in the following frees (out), each
 * prefetched a few frees ahead: a block that left has not been touched for
 * a whole quarantine, and a burst would wait for memory at every start.
 *
 * A block in a batch is quarantined like one in the ring: it holds 0xDD,
 * the double-free lookup finds it, and it is checked when it leaves and at
 * exit.  Only the owner thread touches its batch.  The batches are the
 * objects of a per-thread registry (treg.h): a thread's destructor moves
 * its batch's blocks to the ring and the batch to the spares, for the next
 * new thread; a forked child puts the dead threads' batches there with
 * their blocks in them.  Other threads read only spare batches, under the
 * lock. */
struct qbatch {
    struct vigil_treg_node node;        /* the registry's links */
    unsigned n;                 /* fill->e[0..n): blocks freed, oldest first */
    unsigned out_next, out_end; /* out->e[out_next..out_end): leaving, oldest first */
    size_t bytes;               /* in fill */
    struct qchunk *fill;        /* NULL only in qbatch_off */
    struct qchunk *out;         /* NULL: none leaving */
};

static void lock_q(void) { vigil__lock(&q_lock); }
static void unlock_q(void) { vigil__unlock(&q_lock); }

static struct vigil_treg registry = {
    .lock = lock_q, .unlock = unlock_q, .size = sizeof(struct qbatch),
};

static __attribute__((tls_model("initial-exec"))) _Thread_local struct qbatch *my_batch;
/* A thread with no batch of its own gets this one: always full, so every
 * free takes the locked path.  Never written. */
static struct qbatch qbatch_off = { .n = QBATCH };

static atomic_int q_atexit;

/* The check of a block leaving the quarantine reads every byte, on every
 * free: it is the largest piece of the debug hooks' cost.  It XORs the
 * block with the pattern a word vector at a time and ORs the results into
 * one accumulator: one load of the block (memcmp against a buffer of 0xDD
 * loads two), no branch per vector, one test at the end.  Where the bad
 * byte is, the rare failing block is searched for byte by byte. */
#define DEFINE_ALL_DEAD(name, bytes, attr)                                    \
    typedef uint64_t name##_vec __attribute__((vector_size(bytes)));          \
    attr static int name(const unsigned char *p, size_t n)                    \
    {                                                                         \
        const name##_vec dead = (name##_vec){ 0 } + DEAD64;                   \
        name##_vec acc = { 0 }, a, b;                                         \
        if (n < bytes) {                                                      \
            uint64_t w, x = 0;                                                \
            size_t i = 0;                                                     \
            for (; i + 8 <= n; i += 8) {                                      \
                memcpy(&w, p + i, 8);                                         \
                x |= w ^ DEAD64;                                              \
            }                                                                 \
            for (; i < n; i++)                                                \
                x |= p[i] ^ VIGIL_DEADBYTE;                                   \
            return x == 0;                                                    \
        }                                                                     \
        /* Four vectors a turn, then whole vectors, then a last one that   \
         * overlaps the one before. */                                      \
        size_t i = 0;                                                         \
        for (; i + 4 * bytes <= n; i += 4 * bytes) {                          \
            name##_vec c, d;                                                  \
            memcpy(&a, p + i, bytes);                                         \
            memcpy(&b, p + i + bytes, bytes);                                 \
            memcpy(&c, p + i + 2 * bytes, bytes);                             \
            memcpy(&d, p + i + 3 * bytes, bytes);                             \
            acc |= ((a ^ dead) | (b ^ dead)) | ((c ^ dead) | (d ^ dead));     \
        }                                                                     \
        for (; i + bytes <= n; i += bytes) {                                  \
            memcpy(&a, p + i, bytes);                                         \
            acc |= a ^ dead;                                                  \
        }                                                                     \
        memcpy(&a, p + n - bytes, bytes);                                     \
        acc |= a ^ dead;                                                      \
        uint64_t x = 0;                                                       \
        for (size_t k = 0; k < bytes / 8; k++)                                \
            x |= acc[k];                                                      \
        return x == 0;                                                        \
    }

DEFINE_ALL_DEAD(all_dead_16, 16, )

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_ALL_DEAD_32 1
/* The same with AVX2, written with the intrinsics: the one test at the end
 * is a vptest, where the vector extension's reduction took ten
 * instructions, and the pattern is made once. */
__attribute__((target("avx2"))) static int all_dead_32(const unsigned char *p, size_t n)
{
    if (n < 32)
        return all_dead_16(p, n);
    const __m256i dead = _mm256_set1_epi8((char)VIGIL_DEADBYTE);
    /* The last vector first: it overlaps the ones before. */
    __m256i acc = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + n - 32)), dead);
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i)), dead);
        __m256i b = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i + 32)), dead);
        __m256i c = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i + 64)), dead);
        __m256i d = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i + 96)), dead);
        acc = _mm256_or_si256(acc, _mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d)));
    }
    for (; i + 32 <= n; i += 32)
        acc = _mm256_or_si256(acc,
                              _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(p + i)), dead));
    return _mm256_testz_si256(acc, acc);
}
#endif

/* all_dead for a small block (16 <= n <= 128, the debug overhead is 32),
 * inline: the call through the pointer and the big loop's tests cost as
 * much as the loads.  Whole 16-byte vectors, the last overlapping. */
static inline int all_dead_small(const unsigned char *p, size_t n)
{
    typedef uint64_t v16 __attribute__((vector_size(16)));
    const v16 dead = (v16){ 0 } + DEAD64;
    v16 a, acc;
    memcpy(&acc, p + n - 16, 16);
    acc ^= dead;
    for (size_t i = 0; i + 16 < n; i += 16) {
        memcpy(&a, p + i, 16);
        acc |= a ^ dead;
    }
    return (acc[0] | acc[1]) == 0;
}

/* Chosen with the configuration: AVX2 where the processor has it. */
static int (*all_dead)(const unsigned char *p, size_t n) = all_dead_16;

static void choose_all_dead(void)
{
#ifdef HAVE_ALL_DEAD_32
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        all_dead = all_dead_32;
#endif
}

static void batch_destructor(void *arg);

void vigil__quarantine_configure(size_t bytes, int valgrind)
{
    cfg.limit = bytes;
    cfg.on_valgrind = valgrind;
    q.ring.clear = valgrind;
    /* A batch holds a sixteenth of the quarantine at most, so a few
     * threads do not hold much beyond the limit; 64 KiB is far more
     * than QBATCH small blocks need. */
    cfg.batch_limit = cfg.limit / 16 < 65536 ? cfg.limit / 16 : 65536;
    cfg.fast_limit = valgrind ? 0 : cfg.batch_limit;
    choose_all_dead();
    vigil__treg_init(&registry, batch_destructor);
}

/* ---- leaving ---- */

static inline void inner_free(const struct qentry *e)
{
    e->owner->inner.free(e->owner->inner.ctx, e->base);
}

/* What the quarantine knew of the block, for a report. */
static struct vigil_freed freed_of(const struct qentry *e)
{
    return (struct vigil_freed){ e->total - VIGIL_DEBUG_OVERHEAD, e->owner->api,
                                 e->alloc, e->freed };
}

/* The block is checked and really freed whatever the check found: it was
 * freed correctly; the write after free is the bug being reported.  e may
 * lie in a chunk that a free coming back from the report (its
 * symbolizer may allocate) fills again: the report's path works on a
 * copy. */
static __attribute__((noinline)) void evict_bad(struct qentry e, int at_exit)
{
    struct vigil_freed f = freed_of(&e);
    vigil__diagnose_report_freed(e.base, &f, at_exit);
    inner_free(&e);
}

static inline void evict(const struct qentry *e, int at_exit)
{
    if (cfg.on_valgrind)
        VIGIL_MEM_DEFINED(e->base, e->total);
    _Static_assert(VIGIL_DEBUG_OVERHEAD >= 16, "a block is one vector at least");
    int dead = e->total <= 128 ? all_dead_small(e->base, e->total) : all_dead(e->base, e->total);
    if (__builtin_expect(!dead, 0))
        evict_bad(*e, at_exit);
    else
        inner_free(e);
}

/* A block about to leave has been out of the cache for a long while: load
 * it, and what the inner free will read (the arena's pool header), before
 * its turn.  A fixed cap, not the whole of a big block: the check streams
 * through it. */
static inline void prefetch_block(const struct qentry *e)
{
    const unsigned char *p = e->base;
    size_t n = e->total;
    /* Every line of the first 512 bytes, with no loop: the first and the
     * last, and those between by the size (the loop's tests cost more than
     * the prefetches). */
    __builtin_prefetch(p);
    __builtin_prefetch(p + (n < 512 ? n : 512) - 1);
    if (n > 128) {
        __builtin_prefetch(p + 64);
        __builtin_prefetch(p + 128);
        __builtin_prefetch(p + 192);
        if (n > 256) {
            __builtin_prefetch(p + 256);
            __builtin_prefetch(p + 320);
            __builtin_prefetch(p + 384);
            __builtin_prefetch(p + 448);
        }
    } else if (n > 64) {
        __builtin_prefetch(p + 64);
    }
    if (e->owner->prefetch)
        e->owner->prefetch(p);
}

/* How many blocks ahead of its check a block is prefetched: enough to
 * cover a miss to memory, few enough to stay within the fill buffers. */
#define PREFETCH_AHEAD 4

/* Check and free blocks that left the quarantine.  Outside the lock: the
 * inner free takes its own lock. */
static void evict_all(const struct qentry *out, size_t n, int at_exit)
{
    for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
        prefetch_block(&out[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            prefetch_block(&out[i + PREFETCH_AHEAD]);
        evict(&out[i], at_exit);
    }
}

/* ---- the chunks ---- */

#define CHUNK_SLAB 32

/* Lock held: a chunk, empty; NULL when no memory for one. */
static struct qchunk *chunk_get(void)
{
    if (!q.spare) {
        struct qchunk *slab = vigil__os_map(CHUNK_SLAB * sizeof *slab);
        if (!slab)
            return NULL;
        for (size_t i = 0; i < CHUNK_SLAB; i++) {
            slab[i].next = q.spare;
            q.spare = &slab[i];
        }
    }
    struct qchunk *c = q.spare;
    q.spare = c->next;
    c->n = 0;
    c->bytes = 0;
    return c;
}

/* Lock held: c is done with. */
static void chunk_put(struct qchunk *c)
{
    c->next = q.spare;
    q.spare = c;
}

/* Under memcheck, entries that are done with are zeroed: a stale address
 * in a chunk (mapped memory, which memcheck's leak check scans) would make
 * a block that later lies there and leaks "still reachable". */
static inline void forget(struct qentry *e, size_t n)
{
    if (__builtin_expect(cfg.on_valgrind, 0))
        memset(e, 0, n * sizeof *e);
}

/* Check and free a chunk's blocks now, and give the chunk back (the lock
 * not held). */
static void chunk_evict(struct qchunk *c, int at_exit)
{
    evict_all(c->e, c->n, at_exit);
    forget(c->e, c->n);
    vigil__lock(&q_lock);
    chunk_put(c);
    vigil__unlock(&q_lock);
}

/* ---- the ring ---- */

/* Lock held: the entries of the chunk the next move will take, a whole
 * quarantine after they were written, are loaded now, for its turn: read
 * there, each line of them was a miss. */
static inline void ring_prefetch_front(void)
{
    if (!q.ring.count)
        return;
    const struct qchunk *c = *(struct qchunk *const *)vigil__ring_at(&q.ring, 0);
    const char *p = (const char *)c, *end = (const char *)&c->e[c->n];
    for (; p < end; p += 64)
        __builtin_prefetch(p, 0, 2);
}

/* Lock held: add c to the ring; 0 when it cannot wait there (the exit
 * check is done, or no memory for a bigger ring). */
static int q_push(struct qchunk *c)
{
    if (q.closed || !vigil__ring_reserve(&q.ring, 1))
        return 0;
    vigil__ring_push(&q.ring, &c, 1, sizeof c);
    q.bytes += c->bytes;
    return 1;
}

/* Lock held: the oldest chunk, out of the ring. */
static struct qchunk *q_pop(void)
{
    struct qchunk *c = *(struct qchunk **)vigil__ring_front(&q.ring, sizeof c);
    vigil__ring_drop(&q.ring, sizeof c);
    q.bytes -= c->bytes;
    return c;
}

/* Lock held: while the quarantine holds more than its limit, up to max
 * chunks leave it, into out; how many did.  Bounded work per call; a
 * shortfall is made up by the next ones. */
static size_t q_trim(struct qchunk **out, size_t max)
{
    size_t k = 0;
    while (k < max && q.bytes > cfg.limit && q.ring.count)
        out[k++] = q_pop();
    return k;
}

/* ---- the batches ---- */

/* Check and free what is left of b's leaving blocks, now. */
static void batch_drain_out(struct qbatch *b, int at_exit)
{
    while (b->out_next < b->out_end) {
        /* Taken off the list before the inner free, which may come back. */
        struct qentry e = b->out->e[b->out_next];
        forget(&b->out->e[b->out_next++], 1);
        evict(&e, at_exit);
    }
}

/* Under memcheck the entry is zeroed before the block is checked, so it is
 * checked from a copy: out of line, where its stack frame costs the common
 * case nothing. */
static __attribute__((noinline)) void evict_copied(struct qentry *e)
{
    struct qentry copy = *e;
    forget(e, 1);
    evict(&copy, 0);
}

/* Check and free the next leaving block of b; prefetch a later one.  Out
 * of line: the free that calls it then needs no stack frame of its own. */
static __attribute__((noinline)) void batch_evict_one(struct qbatch *b)
{
    unsigned i = b->out_next++;
    struct qentry *out = b->out->e;
    if (i + PREFETCH_AHEAD < b->out_end)
        prefetch_block(&out[i + PREFETCH_AHEAD]);
    if (__builtin_expect(cfg.on_valgrind, 0))
        evict_copied(&out[i]);
    else
        evict(&out[i], 0);              /* read before the inner free, and not after */
}

/* b's fill chunk, full, moves into the ring, and the chunk that leaves it
 * becomes b's out, its blocks checked and freed one by one by b's next
 * frees; the out chunk before it, emptied, is b's next fill.  What cannot
 * wait (the exit check is done, no memory) is checked at once. */
static void q_move(struct qbatch *b)
{
    batch_drain_out(b, 0);              /* rare: more left than came in */
    struct qchunk *leave[2], *now = NULL;
    struct qentry local[QBATCH];
    size_t nlocal = 0;
    vigil__lock(&q_lock);
    struct qchunk *c = b->fill, *next = b->out ? b->out : chunk_get();
    c->n = b->n;
    c->bytes = b->bytes;
    b->out = NULL;
    b->out_next = b->out_end = 0;
    b->n = 0;
    b->bytes = 0;
    if (next && q_push(c)) {
        b->fill = next;
        size_t k = q_trim(leave, 2);
        if (k) {
            b->out = leave[0];
            b->out_end = leave[0]->n;
        }
        if (k == 2)
            now = leave[1];             /* rare: more left than came in */
    } else {
        /* The fill chunk stays b's; its blocks are checked below, from a
         * copy: the inner free may come back and fill it again. */
        if (next)
            chunk_put(next);
        nlocal = c->n;
        memcpy(local, c->e, nlocal * sizeof *local);
        forget(c->e, c->n);
    }
    ring_prefetch_front();
    vigil__unlock(&q_lock);
    evict_all(local, nlocal, 0);
    if (now)
        chunk_evict(now, 0);
    for (unsigned i = 0; i < b->out_end && i < PREFETCH_AHEAD; i++)
        prefetch_block(&b->out->e[i]);
}

static void batch_destructor(void *arg)
{
    struct qbatch *b = arg;
    my_batch = &qbatch_off;             /* later frees: the locked path */
    if (b->fill)                        /* else claimed with no memory for a chunk */
        q_move(b);
    batch_drain_out(b, 0);
    vigil__lock(&q_lock);
    vigil__treg_retire(&registry, b);
    vigil__unlock(&q_lock);
}

static void quarantine_at_exit(void);

/* The calling thread's first free: a batch for it (a spare one may hold
 * blocks from a thread that did not survive a fork: they stay). */
static __attribute__((noinline)) struct qbatch *batch_claim(void)
{
    /* Registered outside the lock: atexit may allocate, and so come back. */
    if (!atomic_load_explicit(&q_atexit, memory_order_relaxed) &&
        !atomic_exchange_explicit(&q_atexit, 1, memory_order_relaxed))
        atexit(quarantine_at_exit);
    my_batch = &qbatch_off;             /* while claiming: see treg.h */
    int fresh;
    struct qbatch *b = vigil__treg_claim(&registry, &fresh);
    if (b && !b->fill) {
        vigil__lock(&q_lock);
        b->fill = chunk_get();
        vigil__unlock(&q_lock);
    }
    if (b && !b->fill)
        return my_batch;                /* no memory: the locked path; b waits */
    /* A fork may have caught the batch's last owner between filling it and
     * moving it to the ring: move it now, before it is added to. */
    if (b && b->n == QBATCH)
        q_move(b);
    my_batch = b ? b : &qbatch_off;
    return my_batch;
}

/* The locked path, for a thread with no batch: the block joins the loose
 * chunk, which joins the ring when full. */
static void q_put_one(const struct qentry *e)
{
    struct qchunk *leave[3];
    size_t k = 0;
    int now = 1;
    vigil__lock(&q_lock);
    if (!q.closed && (q.loose || (q.loose = chunk_get()))) {
        struct qchunk *c = q.loose;
        c->e[c->n++] = *e;
        c->bytes += e->total;
        q.bytes += e->total;
        now = 0;
        if (c->n == QBATCH) {
            q.loose = NULL;
            q.bytes -= c->bytes;        /* counted again by the push */
            if (!q_push(c))
                leave[k++] = c;
        }
        k += q_trim(leave + k, 2);
    }
    vigil__unlock(&q_lock);
    if (now)
        evict_all(e, 1, 0);
    for (size_t i = 0; i < k; i++)
        chunk_evict(leave[i], 0);
}

static inline void batch_add(struct qbatch *b, const struct qentry *e)
{
    b->fill->e[b->n] = *e;
    /* A forked child may find this thread stopped anywhere here: the entry
     * is whole before it is counted (x86 stores become visible in order). */
    atomic_signal_fence(memory_order_release);
    b->n++;
    b->bytes += e->total;
    if (b->out_next < b->out_end)
        batch_evict_one(b);
    if (__builtin_expect(b->n == QBATCH || b->bytes > cfg.batch_limit, 0))
        q_move(b);
}

static __attribute__((noinline)) void put_slow(const struct qentry *in)
{
    struct qentry e = *in;
    size_t total = e.total;
    if (total > cfg.limit) {
        inner_free(&e);
        return;
    }
    if (cfg.on_valgrind)
        VIGIL_MEM_NOACCESS(e.base, total);
    struct qbatch *b = my_batch ? my_batch : batch_claim();
    if (b != &qbatch_off)
        batch_add(b, &e);
    else
        q_put_one(&e);
}

/* The common case, a block that leaves the batch short of full, is
 * batch_add() with nothing to move: a few stores, then at most a tail call
 * that checks one leaving block.  One test of the bytes stands for three:
 * a block bigger than the quarantine (batch_limit is less than its limit)
 * and every block under memcheck (fast_limit 0; a block is never empty)
 * fail it too. */
void vigil__quarantine_put(const struct vigil_quarantine_owner *owner, unsigned char *base,
                           size_t total, struct vigil_origin alloc, struct vigil_origin freed)
{
    _Static_assert(VIGIL_DEBUG_OVERHEAD > 0, "a block is never empty");
    struct qbatch *b = my_batch;
    if (__builtin_expect(!b || b->n + 1 >= QBATCH || b->bytes + total > cfg.fast_limit, 0)) {
        struct qentry e = { base, total, owner, alloc, freed };
        put_slow(&e);
        return;
    }
    struct qentry *e = &b->fill->e[b->n];
    e->base = base;
    e->total = total;
    e->owner = owner;
    e->alloc = alloc;
    e->freed = freed;
    atomic_signal_fence(memory_order_release);     /* as in batch_add */
    b->n++;
    b->bytes += total;
    if (b->out_next < b->out_end)
        batch_evict_one(b);
}

/* ---- exit, lookup, fork ---- */

/* Lock held: move a batch's blocks to out, up to room entries, the
 * leaving ones first. */
static size_t batch_take(struct qbatch *b, struct qentry *out, size_t room)
{
    size_t k = b->out_end - b->out_next < room ? b->out_end - b->out_next : room;
    if (k)
        memcpy(out, b->out->e + b->out_next, k * sizeof *out);
    b->out_next += (unsigned)k;
    out += k;
    room -= k;
    size_t taken = k;
    k = b->n < room ? b->n : room;
    if (k)
        memcpy(out, b->fill->e + (b->n - k), k * sizeof *out);
    b->n -= (unsigned)k;
    for (size_t i = 0; i < k; i++)
        b->bytes -= out[i].total;
    return taken + k;
}

/* Lock held: move the blocks of chunk c (which the caller has taken out
 * of the quarantine) to out, and give c back. */
static size_t chunk_take(struct qchunk *c, struct qentry *out)
{
    size_t k = c->n;
    memcpy(out, c->e, k * sizeof *out);
    forget(c->e, k);
    chunk_put(c);
    return k;
}

static void quarantine_at_exit(void)
{
    struct qbatch *own = my_batch != &qbatch_off ? my_batch : NULL;
    my_batch = &qbatch_off;             /* frees from here on: the locked path */
    for (;;) {
        struct qentry out[2 * QBATCH];
        size_t nout = 0;
        vigil__lock(&q_lock);
        /* The exiting thread's batch, the spare ones, the loose chunk, then
         * the ring.  The batches of threads still running are theirs until
         * they flush. */
        if (own)
            nout = batch_take(own, out, QBATCH);
        for (struct vigil_treg_node *n = registry.spare; n && nout < QBATCH; n = n->next)
            nout += batch_take(vigil__treg_object(&registry, n), out + nout, QBATCH - nout);
        if (nout < QBATCH && q.loose) {
            q.bytes -= q.loose->bytes;
            nout += chunk_take(q.loose, out + nout);
            q.loose = NULL;
        }
        if (nout < QBATCH && q.ring.count)
            nout += chunk_take(q_pop(), out + nout);
        /* Frees from later exit handlers cannot be checked any more. */
        if (nout == 0)
            q.closed = 1;
        vigil__unlock(&q_lock);
        if (nout == 0)
            return;
        evict_all(out, nout, 1);
    }
}

static const struct qentry *entries_find(const struct qentry *e, unsigned from, unsigned to,
                                         const unsigned char *base)
{
    for (unsigned i = from; i < to; i++)
        if (e[i].base == base)
            return &e[i];
    return NULL;
}

static const struct qentry *batch_find(const struct qbatch *b, const unsigned char *base)
{
    const struct qentry *e = b->fill ? entries_find(b->fill->e, 0, b->n, base) : NULL;
    if (!e && b->out)
        e = entries_find(b->out->e, b->out_next, b->out_end, base);
    return e;
}

/* In this thread's batch, a spare one, the loose chunk or the ring.  A
 * block in another running thread's batch is not looked for (that batch
 * is its owner's alone); the report then says less, but it is still a
 * double free. */
int vigil__quarantine_find(const unsigned char *base, struct vigil_freed *f)
{
    const struct qentry *e = NULL;
    struct qentry found;
    if (my_batch && my_batch != &qbatch_off && (e = batch_find(my_batch, base))) {
        found = *e;
    } else {
        vigil__lock(&q_lock);
        for (struct vigil_treg_node *n = registry.spare; n && !e; n = n->next)
            e = batch_find(vigil__treg_object(&registry, n), base);
        if (!e && q.loose)
            e = entries_find(q.loose->e, 0, q.loose->n, base);
        for (size_t i = 0; i < q.ring.count && !e; i++) {
            const struct qchunk *c = *(struct qchunk *const *)vigil__ring_at(&q.ring, i);
            e = entries_find(c->e, 0, c->n, base);
        }
        if (e)
            found = *e;
        vigil__unlock(&q_lock);
    }
    if (!e)
        return 0;
    *f = freed_of(&found);
    return 1;
}

/* In the forked child, lock held: only the forking thread lives on, and
 * the other threads' batches become spare ones, their blocks still in
 * them, checked at exit or after the next new thread takes the batch
 * over. */
static void quarantine_child(void)
{
    vigil__treg_fork_child(&registry, my_batch, NULL);
}
