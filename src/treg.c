/*
 * treg.c - the per-thread object registry (see treg.h).
 */
#include "config.h"

#include "os.h"
#include "treg.h"

void vigil__treg_init(struct vigil_treg *r, void (*destructor)(void *))
{
    r->key_ok = pthread_key_create(&r->key, destructor) == 0;
}

static void unlink_node(struct vigil_treg_node **list, struct vigil_treg_node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        *list = n->next;
    if (n->next)
        n->next->prev = n->prev;
}

static void push_node(struct vigil_treg_node **list, struct vigil_treg_node *n)
{
    n->prev = NULL;
    n->next = *list;
    if (*list)
        (*list)->prev = n;
    *list = n;
}

static struct vigil_treg_node *node_of(const struct vigil_treg *r, void *obj)
{
    return (struct vigil_treg_node *)((char *)obj + r->node_offset);
}

void *vigil__treg_claim(struct vigil_treg *r, int *fresh)
{
    if (!r->key_ok)
        return NULL;
    r->lock();
    struct vigil_treg_node *n = r->spare;
    void *obj = NULL;
    *fresh = n == NULL;
    if (n) {
        unlink_node(&r->spare, n);
        obj = vigil__treg_object(r, n);
    } else if ((obj = vigil__os_map(r->size)) != NULL) {
        n = node_of(r, obj);
    }
    if (n)
        push_node(&r->live, n);
    r->unlock();
    if (obj && pthread_setspecific(r->key, obj) != 0) {
        r->lock();
        vigil__treg_retire(r, obj);
        r->unlock();
        obj = NULL;
    }
    return obj;
}

void vigil__treg_retire(struct vigil_treg *r, void *obj)
{
    struct vigil_treg_node *n = node_of(r, obj);
    unlink_node(&r->live, n);
    push_node(&r->spare, n);
}

void vigil__treg_fork_child(struct vigil_treg *r, void *own, void (*drop)(void *obj))
{
    for (struct vigil_treg_node *n = r->live, *next; n; n = next) {
        next = n->next;
        void *obj = vigil__treg_object(r, n);
        if (obj == own)
            continue;
        if (drop)
            drop(obj);
        vigil__treg_retire(r, obj);
    }
}
