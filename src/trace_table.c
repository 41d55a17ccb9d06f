/*
 * trace_table.c - the live-block table of tracing (see trace_table.h).
 *
 * Each shard is an open-addressing table of 16-byte slots, probed
 * linearly, deleted from by shifting the entries behind a hole back (no
 * tombstones: a table of blocks that come and go would fill with them).  A
 * slot holds the block's address and one word packing its size and its
 * stack id, so a traced block costs 16 bytes over a load of one half to
 * three quarters.  A shard grows by doubling into a fresh mapping when it
 * is three quarters full, under its own lock, the others going on.
 *
 * The locks follow lock.h's fork policy: every shard's is taken by the
 * prepare handler and released in the parent and the child, so a child
 * never inherits a shard half-way through an update.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "os.h"
#include "trace_table.h"

#define SHARD_BITS 6
#define SHARDS (1u << SHARD_BITS)
#define FIRST_SLOTS ((size_t)256)               /* one 4 KiB page */

/* The packed word: the stack id in the low bits, the size above.  The
 * depot's ids stay below 2^27 (1 GiB of records in 8-byte units); a block
 * of 64 GiB or more is counted lost rather than recorded wrong. */
#define STACK_BITS 28
#define SIZE_LIMIT ((uint64_t)1 << (64 - STACK_BITS))

/* A slot keeps its block's address complemented: memcheck, scanning all
 * of vigil's memory for pointers as a leak checker does, would otherwise
 * call every traced block reachable through this table. */
struct slot {
    uintptr_t key;                              /* ~the block; 0: empty */
    uint64_t meta;
};

static inline uintptr_t key_of(const void *p)
{
    return ~(uintptr_t)p;
}

struct shard {
    pthread_mutex_t lock;
    struct slot *slots;
    size_t cap;                                 /* a power of two, or 0 */
    size_t used;
    size_t recorded;
} __attribute__((aligned(64)));

static struct shard shards[SHARDS] = {
#define S_ { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0 }
#define S8_ S_, S_, S_, S_, S_, S_, S_, S_
    S8_, S8_, S8_, S8_, S8_, S8_, S8_, S8_,
#undef S8_
#undef S_
};
_Static_assert(SHARDS == 64, "the initialiser above has 64 shards");

static atomic_int open_;
static _Atomic size_t lost;
static _Atomic size_t max_slots = SIZE_MAX;

/* splitmix64's finaliser: the shard from the top bits, the home slot from
 * the low ones. */
static inline uint64_t mix(uintptr_t key)
{
    uint64_t h = (uint64_t)key;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9u;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebu;
    h ^= h >> 31;
    return h;
}

static inline struct shard *shard_of(uint64_t h)
{
    return &shards[h >> (64 - SHARD_BITS)];
}

/* The slot holding key, or the empty slot where it would go. */
static struct slot *probe(const struct shard *s, uintptr_t key, uint64_t h)
{
    size_t mask = s->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct slot *e = &s->slots[i];
        if (e->key == key || e->key == 0)
            return e;
    }
}

/* Lock held: a table of at least twice the slots, the entries moved in. */
static int grow(struct shard *s)
{
    size_t ncap = s->cap ? s->cap * 2 : FIRST_SLOTS;
    if (ncap > atomic_load_explicit(&max_slots, memory_order_relaxed) || ncap < s->cap)
        return 0;
    struct slot *fresh = vigil__os_map(ncap * sizeof *fresh);
    if (!fresh)
        return 0;
    struct slot *old = s->slots;
    size_t oldcap = s->cap;
    s->slots = fresh;
    s->cap = ncap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].key)
            *probe(s, old[i].key, mix(old[i].key)) = old[i];
    if (old)
        vigil__os_unmap(old, oldcap * sizeof *old);
    return 1;
}

/* Lock held: empty slot i, moving back the entries of its cluster that
 * would no longer be found past the hole. */
static void delete_at(struct shard *s, size_t i)
{
    size_t mask = s->cap - 1;
    for (size_t j = (i + 1) & mask; s->slots[j].key; j = (j + 1) & mask) {
        size_t home = mix(s->slots[j].key) & mask;
        /* The entry at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            s->slots[i] = s->slots[j];
            i = j;
        }
    }
    s->slots[i].key = 0;
    s->used--;
}

/* Lock held: key's slot, or NULL. */
static struct slot *find(const struct shard *s, uintptr_t key, uint64_t h)
{
    struct slot *e = s->cap ? probe(s, key, h) : NULL;
    return e && e->key == key ? e : NULL;
}

static void lose(void)
{
    atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
}

int vigil__trace_table_put(const void *p, size_t size, uint32_t stack)
{
    uintptr_t key = key_of(p);
    if (!p || !key)
        return 0;
    uint64_t h = mix(key);
    struct shard *s = shard_of(h);
    int ok = 0;
    pthread_mutex_lock(&s->lock);
    if (!atomic_load_explicit(&open_, memory_order_relaxed))
        goto out;
    struct slot *stale = find(s, key, h);
    if (stale)
        delete_at(s, (size_t)(stale - s->slots));   /* a block freed untraced */
    if ((uint64_t)size >= SIZE_LIMIT || stack >= (1u << STACK_BITS)) {
        lose();
        goto out;
    }
    if (4 * (s->used + 1) > 3 * s->cap && !grow(s) && s->used + 1 >= s->cap) {
        lose();
        goto out;
    }
    struct slot *e = probe(s, key, h);
    e->key = key;
    e->meta = (uint64_t)size << STACK_BITS | stack;
    s->used++;
    s->recorded++;
    ok = 1;
out:
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static int lookup(const void *p, size_t *size, uint32_t *stack, int take)
{
    uintptr_t key = key_of(p);
    if (!p || !key)
        return 0;
    uint64_t h = mix(key);
    struct shard *s = shard_of(h);
    pthread_mutex_lock(&s->lock);
    struct slot *e = find(s, key, h);
    if (e) {
        if (size)
            *size = (size_t)(e->meta >> STACK_BITS);
        if (stack)
            *stack = (uint32_t)(e->meta & ((1u << STACK_BITS) - 1));
        if (take)
            delete_at(s, (size_t)(e - s->slots));
    }
    pthread_mutex_unlock(&s->lock);
    return e != NULL;
}

int vigil__trace_table_take(const void *p, size_t *size, uint32_t *stack)
{
    return lookup(p, size, stack, 1);
}

int vigil__trace_table_find(const void *p, size_t *size, uint32_t *stack)
{
    return lookup(p, size, stack, 0);
}

/* ---- opening, closing, fork ---- */

static void lock_all(void)
{
    for (unsigned i = 0; i < SHARDS; i++)
        pthread_mutex_lock(&shards[i].lock);
}

static void unlock_all(void)
{
    for (unsigned i = SHARDS; i-- > 0;)
        pthread_mutex_unlock(&shards[i].lock);
}

void vigil__trace_table_open(void)
{
    static atomic_int registered;
    if (!atomic_exchange_explicit(&registered, 1, memory_order_acq_rel))
        pthread_atfork(lock_all, unlock_all, unlock_all);
    atomic_store_explicit(&open_, 1, memory_order_relaxed);
}

void vigil__trace_table_close(void)
{
    atomic_store_explicit(&open_, 0, memory_order_relaxed);
    for (unsigned i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        struct slot *old = s->slots;
        size_t oldcap = s->cap;
        s->slots = NULL;
        s->cap = 0;
        s->used = 0;
        pthread_mutex_unlock(&s->lock);
        if (old)
            vigil__os_unmap(old, oldcap * sizeof *old);
    }
}

/* ---- reading it all ---- */

void vigil__trace_table_each(void (*fn)(void *arg, size_t size, uint32_t stack), void *arg)
{
    for (unsigned i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < s->cap; k++)
            if (s->slots[k].key)
                fn(arg, (size_t)(s->slots[k].meta >> STACK_BITS),
                   (uint32_t)(s->slots[k].meta & ((1u << STACK_BITS) - 1)));
        pthread_mutex_unlock(&s->lock);
    }
}

void vigil__trace_table_hold(void)
{
    lock_all();
}

void vigil__trace_table_release(void)
{
    unlock_all();
}

size_t vigil__trace_table_held_count(void)
{
    size_t n = 0;
    for (unsigned i = 0; i < SHARDS; i++)
        n += shards[i].used;
    return n;
}

size_t vigil__trace_table_held_each(void (*fn)(void *arg, const void *p, size_t size, uint32_t stack),
                                    void *arg, size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < SHARDS; i++) {
        const struct shard *s = &shards[i];
        for (size_t k = 0; k < s->cap && n < max; k++)
            if (s->slots[k].key) {
                fn(arg, (const void *)~s->slots[k].key, (size_t)(s->slots[k].meta >> STACK_BITS),
                   (uint32_t)(s->slots[k].meta & ((1u << STACK_BITS) - 1)));
                n++;
            }
    }
    return n;
}

void vigil__trace_table_stats(struct vigil_trace_table_stats *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < SHARDS; i++) {
        struct shard *s = &shards[i];
        pthread_mutex_lock(&s->lock);
        out->live += s->used;
        out->mapped += s->cap * sizeof(struct slot);
        out->recorded += s->recorded;
        pthread_mutex_unlock(&s->lock);
    }
    out->lost = atomic_load_explicit(&lost, memory_order_relaxed);
}

size_t vigil__trace_table_limit(size_t slots)
{
    return atomic_exchange_explicit(&max_slots, slots ? slots : SIZE_MAX, memory_order_relaxed);
}
