/*
 * debug_live.c - the record of live debug blocks and the check of them all
 * (see debug_live.h).
 *
 * 128 shards, picked by the high bits of a multiplicative hash of the
 * address, each an open-addressing set probed linearly, from which a block
 * is deleted by moving back the entries of its run that the hole would
 * hide (no tombstones: blocks come and go all the time).  The debug path
 * pays one uncontended mutex and a probe or two per malloc and per free;
 * threads meet on a shard one time in 128.  A slot keeps the address
 * complemented, so that memcheck, which scans vigil's mappings for
 * pointers as a leak checker does, does not call every live block reachable
 * through this record.
 *
 * Fork: every shard is held by the prepare handler and released in the
 * parent and in the child (lock.h's policy), registered at the first
 * record, before any shard is taken: pthread_atfork may allocate, and
 * under the preload that comes back here.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "debug_live.h"
#include "os.h"
#include "report.h"

#define SHARD_BITS 7
#define NSHARDS (1u << SHARD_BITS)
#define FIRST_CAP ((size_t)4096 / sizeof(struct entry))

struct entry {
    uintptr_t key;              /* ~p; 0: free */
    uintptr_t owner;            /* the wrapper's number */
};

struct shard {
    pthread_mutex_t mutex;
    struct entry *e;
    size_t cap;                 /* 0 or a power of two */
    size_t n;
} __attribute__((aligned(64)));

static struct shard shards[NSHARDS];
static atomic_int shards_ready;
static atomic_int fork_registered;
static _Atomic size_t lost;
static vigil_live_check_fn check_one;

static inline size_t hash_of(uintptr_t p)
{
    /* Fibonacci hashing of the address without its 16-byte alignment. */
    return (size_t)(((uint64_t)(p >> 4)) * UINT64_C(0x9e3779b97f4a7c15));
}

static inline struct shard *shard_for(size_t h)
{
    return &shards[h >> (sizeof(size_t) * 8 - SHARD_BITS)];
}

static void hold_all(void)
{
    for (unsigned i = 0; i < NSHARDS; i++)
        pthread_mutex_lock(&shards[i].mutex);
}

static void release_all(void)
{
    for (unsigned i = NSHARDS; i-- > 0;)
        pthread_mutex_unlock(&shards[i].mutex);
}

void vigil__debug_live_configure(vigil_live_check_fn check)
{
    if (atomic_load_explicit(&shards_ready, memory_order_acquire))
        return;
    for (unsigned i = 0; i < NSHARDS; i++)
        pthread_mutex_init(&shards[i].mutex, NULL);
    check_one = check;
    atomic_store_explicit(&shards_ready, 1, memory_order_release);
}

/* Mutex held: where key is, or the free slot it would take. */
static size_t slot_of(const struct shard *s, uintptr_t key, size_t h)
{
    size_t mask = s->cap - 1, i = h & mask;
    while (s->e[i].key && s->e[i].key != key)
        i = (i + 1) & mask;
    return i;
}

/* Mutex held: twice the room (the first page when there was none). */
static int enlarge(struct shard *s)
{
    size_t cap = s->cap ? 2 * s->cap : FIRST_CAP;
    struct entry *e = vigil__os_map(cap * sizeof *e);
    if (!e)
        return 0;
    struct entry *was = s->e;
    size_t wascap = s->cap;
    s->e = e;
    s->cap = cap;
    for (size_t i = 0; i < wascap; i++)
        if (was[i].key)
            s->e[slot_of(s, was[i].key, hash_of(~was[i].key))] = was[i];
    if (was)
        vigil__os_unmap(was, wascap * sizeof *was);
    return 1;
}

void vigil__debug_live_put(const void *p, unsigned owner)
{
    if (!atomic_load_explicit(&shards_ready, memory_order_acquire))
        return;
    if (!atomic_load_explicit(&fork_registered, memory_order_acquire) &&
        !atomic_exchange_explicit(&fork_registered, 1, memory_order_acq_rel))
        pthread_atfork(hold_all, release_all, release_all);
    uintptr_t key = ~(uintptr_t)p;
    size_t h = hash_of((uintptr_t)p);
    struct shard *s = shard_for(h);
    pthread_mutex_lock(&s->mutex);
    if (4 * (s->n + 1) > 3 * s->cap && !enlarge(s) && s->n + 1 >= s->cap) {
        pthread_mutex_unlock(&s->mutex);
        atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
        return;
    }
    size_t i = slot_of(s, key, h);
    s->n += s->e[i].key == 0;
    s->e[i] = (struct entry){ key, owner };
    pthread_mutex_unlock(&s->mutex);
}

void vigil__debug_live_take(const void *p)
{
    if (!atomic_load_explicit(&shards_ready, memory_order_acquire))
        return;
    uintptr_t key = ~(uintptr_t)p;
    size_t h = hash_of((uintptr_t)p);
    struct shard *s = shard_for(h);
    pthread_mutex_lock(&s->mutex);
    if (s->cap) {
        size_t mask = s->cap - 1, hole = slot_of(s, key, h);
        if (s->e[hole].key == key) {
            /* Close the hole: an entry further on moves into it unless
             * its home slot lies cyclically after the hole, up to it. */
            for (size_t j = (hole + 1) & mask; s->e[j].key; j = (j + 1) & mask) {
                size_t home = hash_of(~s->e[j].key) & mask;
                if (((j - home) & mask) >= ((j - hole) & mask)) {
                    s->e[hole] = s->e[j];
                    hole = j;
                }
            }
            s->e[hole].key = 0;
            s->n--;
        }
    }
    pthread_mutex_unlock(&s->mutex);
}

size_t vigil__debug_live_check(enum vigil_debug_op op)
{
    if (!atomic_load_explicit(&shards_ready, memory_order_acquire) || !check_one)
        return 0;
    size_t damaged = 0;
    for (unsigned i = 0; i < NSHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->mutex);
        for (size_t k = 0; k < s->cap; k++)
            if (s->e[k].key)
                damaged += (size_t)check_one((unsigned)s->e[k].owner,
                                             (const unsigned char *)~s->e[k].key, op);
        pthread_mutex_unlock(&s->mutex);
    }
    return damaged;
}

void vigil__debug_live_stats(struct vigil_debug_live_stats *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load_explicit(&shards_ready, memory_order_acquire))
        for (unsigned i = 0; i < NSHARDS; i++) {
            pthread_mutex_lock(&shards[i].mutex);
            out->live += shards[i].n;
            pthread_mutex_unlock(&shards[i].mutex);
        }
    out->lost = atomic_load_explicit(&lost, memory_order_relaxed);
}

/* A destructor, as the leak check's: it runs after the program's atexit
 * handlers and the destructors of what was loaded after vigil, when what
 * the program frees at exit is freed.  Its report goes where the others
 * at exit go (report.h: the stderr the program started with). */
__attribute__((destructor))
static void check_at_exit(void)
{
    vigil__report_at_exit();
    vigil__debug_live_check(VIGIL_OP_EXIT);
}
