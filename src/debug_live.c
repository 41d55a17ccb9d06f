/*
 * debug_live.c - the record of live debug blocks and the check of them all
 * (see debug_live.h): an address set (addrset.h), each block's word the
 * number of the wrapper that made it.  The debug path pays one
 * uncontended mutex and a probe or two per malloc and per free.
 *
 * Fork: the set is held by the prepare handler and released in the
 * parent and in the child (lock.h's policy), registered at the first
 * record, before any shard is taken: pthread_atfork may allocate, and
 * under the preload that comes back here.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "addrset.h"
#include "debug_live.h"
#include "report.h"

static struct vigil_addrset live;
static atomic_int ready;
static atomic_int fork_registered;
static vigil_live_check_fn check_one;

static void hold(void) { vigil__addrset_hold(&live); }
static void release(void) { vigil__addrset_release(&live); }

void vigil__debug_live_configure(vigil_live_check_fn check)
{
    if (atomic_load_explicit(&ready, memory_order_acquire))
        return;
    vigil__addrset_init(&live);
    check_one = check;
    atomic_store_explicit(&ready, 1, memory_order_release);
}

void vigil__debug_live_put(const void *p, unsigned owner)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return;
    if (!atomic_load_explicit(&fork_registered, memory_order_acquire) &&
        !atomic_exchange_explicit(&fork_registered, 1, memory_order_acq_rel))
        pthread_atfork(hold, release, release);
    vigil__addrset_put(&live, p, owner);
}

void vigil__debug_live_take(const void *p)
{
    if (atomic_load_explicit(&ready, memory_order_acquire))
        vigil__addrset_take(&live, p, NULL);
}

static int check_entry(void *arg, const void *p, uintptr_t owner)
{
    return check_one((unsigned)owner, p, *(const enum vigil_debug_op *)arg);
}

size_t vigil__debug_live_check(enum vigil_debug_op op)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return 0;
    return vigil__addrset_each(&live, check_entry, &op);
}

void vigil__debug_live_stats(struct vigil_debug_live_stats *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load_explicit(&ready, memory_order_acquire)) {
        out->live = vigil__addrset_count(&live);
        out->lost = vigil__addrset_lost(&live);
    }
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
