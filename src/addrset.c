/*
 * addrset.c - the sharded address set (see addrset.h).
 *
 * A shard (picked by a hash of the 64 KiB region) puts an entry at the
 * home slot its address names (blocks near each other, near each other),
 * probes linearly, and deletes by moving back the entries of a
 * run that the hole would hide (no tombstones: blocks come and go all the
 * time).  It doubles into a fresh mapping when three quarters full.
 */
#include "config.h"

#include <string.h>

#include "addrset.h"
#include "lock.h"
#include "os.h"

#define NSHARDS (1u << VIGIL_ADDRSET_SHARD_BITS)
#define FIRST_CAP ((size_t)4096 / sizeof(struct vigil_addrset_entry))

typedef struct vigil_addrset_shard shard_t;
typedef struct vigil_addrset_entry entry_t;

/* The home slot: a hash of the address's 256-byte group picks a run of 16
 * slots, and the address's bits above its 16-byte alignment its slot in
 * the run, so that blocks near each other in memory share the lines of
 * the run (a random slot per block would cost a cache miss on every malloc
 * and free, and LIFO frees were 10% slower so).  Runs no longer than
 * that: with the region's slots in a row (a hash of the 64 KiB region,
 * then 4096 slots), a program that keeps its blocks (perl with 600,000 of
 * them) filled whole stretches of the table, the stretches of two regions
 * ran together, and a put probed 265 slots on average; now 5. */
static inline size_t hash_of(uintptr_t p)
{
    uint64_t group = (uint64_t)(p >> 8) * UINT64_C(0x9e3779b97f4a7c15);
    group ^= group >> 29;
    return (size_t)(group << 4 | (p >> 4 & 15));
}

/* The shard: a Fibonacci hash of the 64 KiB region, so a thread's blocks,
 * which its pools keep together, mostly share a shard and its lines,
 * while other threads' regions scatter over the others. */
static inline shard_t *shard_for(struct vigil_addrset *s, uintptr_t p)
{
    uint64_t h = (uint64_t)(p >> 16) * UINT64_C(0x9e3779b97f4a7c15);
    return &s->shard[h >> (64 - VIGIL_ADDRSET_SHARD_BITS)];
}

void vigil__addrset_init(struct vigil_addrset *s)
{
    memset(s, 0, sizeof *s);
}

/* A shard's lock.  Held for a probe or two, and seldom wanted by two
 * threads at once: a
 * pthread mutex cost two locked instructions and its calls on every malloc
 * and free, this costs one.  A waiter spins a little, then yields
 * (vigil__spin_wait).  Plain atomics, which
 * ThreadSanitizer understands as it does a mutex. */
static __attribute__((noinline)) void raw_lock_wait(shard_t *sh)
{
    for (unsigned spins = 0; __atomic_exchange_n(&sh->lock, 1, __ATOMIC_ACQUIRE);)
        while (__atomic_load_n(&sh->lock, __ATOMIC_RELAXED))
            vigil__spin_wait(spins++);
}

/* The uncontended case inline: one exchange, no call. */
static inline void raw_lock(shard_t *sh)
{
    if (__builtin_expect(__atomic_exchange_n(&sh->lock, 1, __ATOMIC_ACQUIRE), 0))
        raw_lock_wait(sh);
}

static inline void raw_unlock(shard_t *sh)
{
    __atomic_store_n(&sh->lock, 0, __ATOMIC_RELEASE);
}

/* Lock held: where key is, or the free slot it would take. */
static size_t slot_of(const shard_t *sh, uintptr_t key, size_t h)
{
    size_t mask = sh->cap - 1, i = h & mask;
    while (sh->e[i].key && sh->e[i].key != key)
        i = (i + 1) & mask;
    return i;
}

/* Each thread's mark, for holder. */
static __attribute__((tls_model("initial-exec"))) _Thread_local char me;

static inline int held_by_me(const struct vigil_addrset *s)
{
    return atomic_load_explicit(&s->holder, memory_order_relaxed) == &me;
}

/* Lock held: move the entries into fresh, of cap slots; the old table,
 * to be unmapped once the lock is let go, into *old. */
static void move_into(shard_t *sh, entry_t *fresh, size_t cap, entry_t **old, size_t *oldcap)
{
    *old = sh->e;
    *oldcap = sh->cap;
    sh->e = fresh;
    sh->cap = cap;
    for (size_t i = 0; i < *oldcap; i++)
        if ((*old)[i].key)
            sh->e[slot_of(sh, (*old)[i].key, hash_of(~(*old)[i].key))] = (*old)[i];
}

static inline int crowded(const shard_t *sh)
{
    return 4 * (sh->n + 1) > 3 * sh->cap;
}

static int put_in(struct vigil_addrset *s, shard_t *sh, const void *p, uintptr_t value)
{
    uintptr_t key = ~(uintptr_t)p;
    size_t h = hash_of((uintptr_t)p);
    entry_t *spare = NULL;          /* mapped, to be unmapped after */
    size_t sparecap = 0;
    int ok = 1;
    int mine = held_by_me(s);
    if (!mine)
        raw_lock(sh);
    while (__builtin_expect(crowded(sh), 0) && !mine) {
        /* Grown into memory mapped without the lock (vigil__os_map takes
         * the registry's). */
        size_t cap = sh->cap ? 2 * sh->cap : FIRST_CAP;
        raw_unlock(sh);
        if (spare)
            vigil__os_unmap(spare, sparecap * sizeof *spare);
        spare = vigil__os_map(cap * sizeof *spare);
        sparecap = cap;
        raw_lock(sh);
        if (!spare)
            break;
        if (sh->cap < cap && crowded(sh))
            move_into(sh, spare, cap, &spare, &sparecap);
    }
    if (sh->n + 1 >= sh->cap) {
        ok = 0;
    } else {
        size_t i = slot_of(sh, key, h);
        sh->n += sh->e[i].key == 0;
        sh->e[i] = (entry_t){ key, value };
    }
    if (!mine)
        raw_unlock(sh);
    if (__builtin_expect(spare != NULL, 0))
        vigil__os_unmap(spare, sparecap * sizeof *spare);
    if (!ok)
        atomic_fetch_add_explicit(&s->lost, 1, memory_order_relaxed);
    return ok;
}

static int take_in(struct vigil_addrset *s, shard_t *sh, const void *p, uintptr_t *value)
{
    uintptr_t key = ~(uintptr_t)p;
    size_t h = hash_of((uintptr_t)p);
    int found = 0;
    int mine = held_by_me(s);
    if (!mine)
        raw_lock(sh);
    size_t mask = sh->cap - 1, hole = sh->cap ? slot_of(sh, key, h) : 0;
    if (sh->cap && sh->e[hole].key == key) {
        found = 1;
        if (value)
            *value = sh->e[hole].value;
        /* An entry further on moves into the hole unless its home slot
         * lies cyclically after the hole, up to the entry. */
        for (size_t j = (hole + 1) & mask; sh->e[j].key; j = (j + 1) & mask) {
            size_t home = hash_of(~sh->e[j].key) & mask;
            if (((j - home) & mask) >= ((j - hole) & mask)) {
                sh->e[hole] = sh->e[j];
                hole = j;
            }
        }
        sh->e[hole].key = 0;
        sh->n--;
    }
    if (!mine)
        raw_unlock(sh);
    return found;
}

int vigil__addrset_put(struct vigil_addrset *s, const void *p, uintptr_t value)
{
    return put_in(s, shard_for(s, (uintptr_t)p), p, value);
}

int vigil__addrset_take(struct vigil_addrset *s, const void *p, uintptr_t *value)
{
    return take_in(s, shard_for(s, (uintptr_t)p), p, value);
}

int vigil__addrset_get(struct vigil_addrset *s, const void *p, uintptr_t *value)
{
    shard_t *sh = shard_for(s, (uintptr_t)p);
    uintptr_t key = ~(uintptr_t)p;
    int found = 0;
    int mine = held_by_me(s);
    if (!mine)
        raw_lock(sh);
    if (sh->cap) {
        size_t i = slot_of(sh, key, hash_of((uintptr_t)p));
        if (sh->e[i].key == key) {
            found = 1;
            *value = sh->e[i].value;
        }
    }
    if (!mine)
        raw_unlock(sh);
    return found;
}

size_t vigil__addrset_each(struct vigil_addrset *s,
                           int (*fn)(void *arg, const void *p, uintptr_t value), void *arg)
{
    size_t sum = 0;
    for (unsigned i = 0; i < NSHARDS; i++) {
        shard_t *sh = &s->shard[i];
        raw_lock(sh);
        for (size_t k = 0; k < sh->cap; k++)
            if (sh->e[k].key)
                sum += (size_t)fn(arg, (const void *)~sh->e[k].key, sh->e[k].value);
        raw_unlock(sh);
    }
    return sum;
}

void vigil__addrset_hold(struct vigil_addrset *s)
{
    for (unsigned i = 0; i < NSHARDS; i++)
        raw_lock(&s->shard[i]);
    atomic_store_explicit(&s->holder, &me, memory_order_relaxed);
}

void vigil__addrset_release(struct vigil_addrset *s)
{
    atomic_store_explicit(&s->holder, NULL, memory_order_relaxed);
    for (unsigned i = NSHARDS; i-- > 0;)
        raw_unlock(&s->shard[i]);
}

void vigil__addrset_child_reset(struct vigil_addrset *s)
{
    atomic_store_explicit(&s->holder, NULL, memory_order_relaxed);
    for (unsigned i = 0; i < NSHARDS; i++)
        raw_unlock(&s->shard[i]);
}

size_t vigil__addrset_held_count(const struct vigil_addrset *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < NSHARDS; i++)
        n += s->shard[i].n;
    return n;
}

size_t vigil__addrset_held_each(const struct vigil_addrset *s,
                                void (*fn)(void *arg, const void *p, uintptr_t value), void *arg,
                                size_t max)
{
    size_t n = 0;
    for (unsigned i = 0; i < NSHARDS; i++)
        for (size_t k = 0; k < s->shard[i].cap && n < max; k++)
            if (s->shard[i].e[k].key) {
                fn(arg, (const void *)~s->shard[i].e[k].key, s->shard[i].e[k].value);
                n++;
            }
    return n;
}

size_t vigil__addrset_count(struct vigil_addrset *s)
{
    size_t n = 0;
    for (unsigned i = 0; i < NSHARDS; i++) {
        raw_lock(&s->shard[i]);
        n += s->shard[i].n;
        raw_unlock(&s->shard[i]);
    }
    return n;
}

size_t vigil__addrset_lost(const struct vigil_addrset *s)
{
    return atomic_load_explicit(&s->lost, memory_order_relaxed);
}
