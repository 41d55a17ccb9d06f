/*
 * treg.h - a registry of per-thread objects: the arena's thread caches and
 * the debug quarantine's batches are both one of these.
 *
 * Each thread that needs one claims an object; a pthread key's destructor
 * gives it back when the thread exits, and it waits on a spare list for the
 * next new thread (objects are mapped once and never unmapped, so a thread
 * of another module reading a spare one under the lock never reads freed
 * memory).  Both lists are guarded by the owner's lock, which the owner
 * holds around every call here but claim.
 *
 * The owner keeps the thread's pointer in a thread-local of its own, with
 * an "off" sentinel object that makes every fast path fall through to the
 * locked one; it points it at the sentinel while claiming and after its
 * destructor ran (a thread past its destructor may still allocate).
 */
#ifndef VIGIL_TREG_H
#define VIGIL_TREG_H

#include <pthread.h>
#include <stddef.h>

/* A member of every registered object, at node_offset in it. */
struct vigil_treg_node {
    struct vigil_treg_node *next, *prev;
};

struct vigil_treg {
    void (*lock)(void);                 /* the owner's lock, guarding both */
    void (*unlock)(void);               /* lists */
    size_t size;                        /* of one object */
    size_t node_offset;                 /* of its vigil_treg_node */
    struct vigil_treg_node *live;       /* owned by running threads */
    struct vigil_treg_node *spare;      /* left by exited threads */
    pthread_key_t key;
    int key_ok;
};

/* The object holding node n. */
static inline void *vigil__treg_object(const struct vigil_treg *r, struct vigil_treg_node *n)
{
    return (char *)n - r->node_offset;
}

/* Once, before the first claim: destructor(obj) runs at thread exit. */
void vigil__treg_init(struct vigil_treg *r, void (*destructor)(void *));

/* A new object for the calling thread, or NULL: a spare one (*fresh = 0, as
 * its last owner left it) or zeroed memory (*fresh = 1).  The caller's
 * thread-local must point at its sentinel while this runs:
 * pthread_setspecific may allocate, and under the preload library that
 * allocation comes back to vigil, which must not claim a second object. */
void *vigil__treg_claim(struct vigil_treg *r, int *fresh);

/* Lock held: obj leaves the live list for the spare list. */
void vigil__treg_retire(struct vigil_treg *r, void *obj);

/* Lock held, in a forked child: every live object but own belonged to a
 * thread that did not survive; drop(obj) (when given) empties it, and it
 * joins the spares. */
void vigil__treg_fork_child(struct vigil_treg *r, void *own, void (*drop)(void *obj));

#endif /* VIGIL_TREG_H */
