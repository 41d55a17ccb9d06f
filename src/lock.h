/*
 * lock.h - vigil's mutexes, and the one fork policy they all follow.
 *
 * Every lock vigil keeps (the heap's, the debug quarantine's, the preload's
 * registry of over-aligned blocks) is taken by the fork's prepare handler
 * and released by the parent's and by the child's, never re-initialised in
 * the child.  Holding it across fork() means no other thread is half-way
 * through the structure it guards when the child is made, so the child's
 * copy is whole; re-initialising it instead would give the child a lock
 * over a structure some vanished thread may have left half-updated, and
 * ThreadSanitizer would believe the old lock still held.  The child's
 * handler runs with the lock still held, and first drops what belonged to
 * the threads that did not survive the fork (their caches, their batches),
 * then unlocks.
 *
 * The handlers are registered at the lock's first use, so they are in place
 * before two threads can contend for it, whoever calls first (a program
 * holding an allocator table, a library constructor).  Not with
 * pthread_once: pthread_atfork may allocate, and under the preload library
 * that allocation comes back to vigil, possibly to this very lock.
 */
#ifndef VIGIL_LOCK_H
#define VIGIL_LOCK_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

struct vigil_lock {
    pthread_mutex_t mutex;
    atomic_int registered;
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
};

/* Defines a static struct vigil_lock called name, with its fork handlers.
 * child_work is a function run in the child with the lock held, or NULL. */
#define VIGIL_LOCK_DEFINE(name, child_work)                                   \
    static struct vigil_lock name;                                            \
    static void name##_prepare(void) { pthread_mutex_lock(&name.mutex); }     \
    static void name##_parent(void) { pthread_mutex_unlock(&name.mutex); }    \
    static void name##_child(void)                                            \
    {                                                                         \
        void (*work_)(void) = (child_work);                                   \
        if (work_)                                                            \
            work_();                                                          \
        pthread_mutex_unlock(&name.mutex);                                    \
    }                                                                         \
    static struct vigil_lock name = { PTHREAD_MUTEX_INITIALIZER, 0,           \
                                      name##_prepare, name##_parent,          \
                                      name##_child }

static inline void vigil__lock(struct vigil_lock *l)
{
    if (!atomic_load_explicit(&l->registered, memory_order_acquire) &&
        !atomic_exchange_explicit(&l->registered, 1, memory_order_acq_rel))
        pthread_atfork(l->prepare, l->parent, l->child);
    pthread_mutex_lock(&l->mutex);
}

static inline void vigil__unlock(struct vigil_lock *l)
{
    pthread_mutex_unlock(&l->mutex);
}

/* One wait of a spinning waiter, the spins-th (counted by the caller): a
 * pause for the first 64, then a yield, so a holder that lost its
 * processor gets it back.  The address set's shard locks and the debug
 * map's words wait so. */
static inline void vigil__spin_wait(unsigned spins)
{
    if (spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    } else {
        sched_yield();
    }
}

#endif /* VIGIL_LOCK_H */
