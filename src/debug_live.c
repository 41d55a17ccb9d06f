/*
 * debug_live.c - the record of live debug blocks and the check of them all
 * (see debug_live.h): an address set (addrset.h), each block's word the
 * number of the wrapper that made it.  The debug path pays one
 * uncontended mutex and a probe or two per malloc and per free.
 *
 * Fork: the set is held by the prepare handler and released in the
 * parent and in the child (lock.h's policy).  It and the check at exit
 * are registered at the first record, before any shard is taken:
 * pthread_atfork and atexit may allocate, and under the preload that
 * comes back here.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "addrset.h"
#include "debug_live.h"
#include "report.h"

static struct vigil_addrset live;
static atomic_int ready;
static atomic_int registered;
static vigil_live_check_fn check_one;

static void hold(void) { vigil__addrset_hold(&live); }
static void check_at_exit(void);
static void release(void) { vigil__addrset_release(&live); }

void vigil__debug_live_configure(vigil_live_check_fn check)
{
    if (atomic_load_explicit(&ready, memory_order_acquire))
        return;
    vigil__addrset_init(&live);
    check_one = check;
    atomic_store_explicit(&ready, 1, memory_order_release);
}

static __attribute__((noinline)) void first_put(void)
{
    if (!atomic_exchange_explicit(&registered, 1, memory_order_acq_rel)) {
        pthread_atfork(hold, release, release);
        atexit(check_at_exit);
    }
}

void vigil__debug_live_put(const void *p, unsigned owner, uint32_t thread)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return;
    if (__builtin_expect(!atomic_load_explicit(&registered, memory_order_acquire), 0))
        first_put();
    vigil__addrset_put_in(&live, thread, p, owner);
}

void vigil__debug_live_take(const void *p, uint32_t thread)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return;
    /* A thread number the block's origin holds can be wrong only where the
     * block was damaged: then every shard is looked in. */
    if (!vigil__addrset_take_in(&live, thread, p, NULL) && thread != VIGIL_LIVE_ANY_THREAD)
        vigil__addrset_take_in(&live, VIGIL_ADDRSET_ANY, p, NULL);
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

/* An exit handler made at the first record: it runs after the handlers the
 * program made since, and before the leak checks at exit (the leak check's
 * destructor, LeakSanitizer's handler and vigil's beside it, made
 * earlier), which end the process when they find a leak.  Its report goes
 * where the others at exit go (report.h: the stderr the program started
 * with). */
/* The leak check at exit, which follows, scans the stack conservatively,
 * and frames made after this handler returns (the exit code's own) would
 * hold the block addresses this walk left below it: wiped. */
__attribute__((noinline))
static void scrub_stack(void)
{
    char pad[16384];
    memset(pad, 0, sizeof pad);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

static void check_at_exit(void)
{
    vigil__report_at_exit();
    vigil__debug_live_check(VIGIL_OP_EXIT);
    scrub_stack();
}
