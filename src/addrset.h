/*
 * addrset.h - a set of addresses, each with one word of its own, for the
 * records kept beside a heap: under ASan, the live chunks of ASan's
 * allocator (leak_asan.h), the arena's blocks for the tools
 * (arena_tools.c), and the debug hooks' live blocks that their map cannot
 * hold (debug_live.c).
 *
 * Sharded by a hash of the address's 64 KiB region, 128 shards, each an
 * open-addressing table under a lock of its own; memory from vigil__os_map only (the callers are allocators'
 * paths, malloc may be the caller), never inside a block, so a damaged
 * heap cannot damage the set.  Addresses are kept complemented, so that
 * memcheck, which scans vigil's mappings for pointers as a leak checker
 * does, does not call every recorded block reachable through the set.
 * An address that cannot be recorded (no memory) is counted as lost.
 *
 * Fork: the owner of a set registers handlers that hold it before the fork
 * and release it after, in the parent and the child (lock.h's policy).
 * The thread that holds it may still record and forget (an allocation
 * inside another fork handler must not wait on itself); it does so without
 * growing the set.  No other lock is taken with a shard's held (a shard
 * grows into memory mapped with its lock let go), so the order in which
 * the fork handlers take the locks cannot matter.
 */
#ifndef VIGIL_ADDRSET_H
#define VIGIL_ADDRSET_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define VIGIL_ADDRSET_SHARD_BITS 7

struct vigil_addrset_entry {
    uintptr_t key;              /* ~address; 0: free */
    uintptr_t value;
};

struct vigil_addrset_shard {
    /* 1 while a thread holds the shard: a spin lock that yields (addrset.c) */
    int lock;
    struct vigil_addrset_entry *e;
    size_t cap;                 /* 0 or a power of two */
    size_t n;
} __attribute__((aligned(64)));

struct vigil_addrset {
    struct vigil_addrset_shard shard[1u << VIGIL_ADDRSET_SHARD_BITS];
    _Atomic size_t lost;
    /* The thread holding every shard (hold), or NULL: it records and
     * forgets without the locks it has (a malloc inside a fork handler). */
    _Atomic(const void *) holder;
};

/* Once, before any other call. */
void vigil__addrset_init(struct vigil_addrset *s);
/* Record p with value (replacing what p had); 0 when it cannot be kept. */
int vigil__addrset_put(struct vigil_addrset *s, const void *p, uintptr_t value);
/* Forget p; 1, with *value set when value is not NULL, when it was there. */
int vigil__addrset_take(struct vigil_addrset *s, const void *p, uintptr_t *value);
/* p's value, without forgetting it; 1 when p is there. */
int vigil__addrset_get(struct vigil_addrset *s, const void *p, uintptr_t *value);
/* fn(arg, p, value) for every address, one shard at a time with its lock
 * held (nothing recorded there comes or goes meanwhile); the sum of what
 * fn returned. */
size_t vigil__addrset_each(struct vigil_addrset *s,
                           int (*fn)(void *arg, const void *p, uintptr_t value), void *arg);
/* Hold every shard until release (fork, a leak check); meanwhile count
 * and list (up to max, the number listed) without taking a lock. */
void vigil__addrset_hold(struct vigil_addrset *s);
void vigil__addrset_release(struct vigil_addrset *s);
size_t vigil__addrset_held_count(const struct vigil_addrset *s);
size_t vigil__addrset_held_each(const struct vigil_addrset *s,
                                void (*fn)(void *arg, const void *p, uintptr_t value), void *arg,
                                size_t max);
/* In a forked child, for a set whose owner does not hold it across fork
 * (one whose shards are taken inside other locks' critical sections, so a
 * prepare handler could not take them in a safe order): every lock made
 * new.  A shard another thread was changing at the fork may miss that
 * address in the child. */
void vigil__addrset_child_reset(struct vigil_addrset *s);
/* Addresses now (taking each shard's lock), and lost since the start. */
size_t vigil__addrset_count(struct vigil_addrset *s);
size_t vigil__addrset_lost(const struct vigil_addrset *s);

#endif /* VIGIL_ADDRSET_H */
