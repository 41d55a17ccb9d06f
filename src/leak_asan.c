/*
 * leak_asan.c - the leak check of pool blocks beside LeakSanitizer's (see
 * leak_asan.h): ASan's live chunks as an address set, the source of
 * blocks the check scans (pool blocks to report, chunks to reach through),
 * and the exit handler.
 */
#include "config.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "leak_asan.h"
#include "vigil/annotate.h"

#if VIGIL_ASAN_ENABLED
#include "addrset.h"
#include "arena_tools.h"
#include "leak.h"
#include "report.h"

static struct vigil_addrset chunks;     /* ASan's live chunks, with their sizes */
static atomic_int chunks_ready;
static int exit_status;

static void on_malloc(const volatile void *p, size_t size)
{
    if (atomic_load_explicit(&chunks_ready, memory_order_acquire))
        vigil__addrset_put(&chunks, (const void *)p, size);
}

static void on_free(const volatile void *p)
{
    if (atomic_load_explicit(&chunks_ready, memory_order_acquire))
        vigil__addrset_take(&chunks, (const void *)p, NULL);
}

/* Not held across fork (ASan's allocator may call the hooks with locks of
 * its own held): the child makes the locks new. */
static void chunks_child(void)
{
    vigil__addrset_child_reset(&chunks);
}

/* ---- the source: pool blocks, then ASan's chunks ---- */

static void hold(void *ctx)
{
    (void)ctx;
    vigil__tools_live_hold();
    vigil__addrset_hold(&chunks);
}

static void release(void *ctx)
{
    (void)ctx;
    vigil__addrset_release(&chunks);
    vigil__tools_live_release();
}

static size_t count(void *ctx)
{
    (void)ctx;
    return vigil__tools_live_count() + vigil__addrset_held_count(&chunks);
}

struct fill {
    struct vigil_leak_block *out;
    size_t n;
};

static void put_pool(void *arg, uintptr_t start, size_t size, uint32_t stack)
{
    struct fill *f = arg;
    f->out[f->n++] = (struct vigil_leak_block){ start, size, stack, 0 };
}

static void put_chunk(void *arg, const void *p, uintptr_t size)
{
    struct fill *f = arg;
    f->out[f->n++] = (struct vigil_leak_block){ (uintptr_t)p, size, VIGIL_LEAK_FOREIGN, 0 };
}

static size_t each(void *ctx, struct vigil_leak_block *out, size_t max)
{
    (void)ctx;
    struct fill f = { out, 0 };
    vigil__tools_live_each(put_pool, &f, max);
    vigil__addrset_held_each(&chunks, put_chunk, &f, max - f.n);
    return f.n;
}

static const struct vigil_leak_source source = { NULL, hold, release, count, each };

/* Registered at start-up, after ASan registered its own: exit handlers
 * run last first, so this one runs before LSan's check, after those the
 * program registered later. */
static void check_at_exit(void)
{
    /* After a vigil report that went on (VIGIL_ABORT=0), a refused free
     * left its block allocated on purpose: not a leak to report again. */
    if (vigil__report_errors())
        return;
    vigil__report_at_exit();
    if (vigil__leak_check(&source, NULL, NULL) == 0)
        return;                         /* LSan's check at exit goes on */
    VIGIL_LSAN_CHECK_NOW();             /* its own chunks, in its words, now */
    fflush(NULL);
    _exit(exit_status);
}

void vigil__leak_asan_start(int exitcode)
{
    static atomic_int started;
    if (atomic_exchange(&started, 1))
        return;
    exit_status = exitcode;
    vigil__report_keep_stderr();
    vigil__addrset_init(&chunks);
    /* Both may allocate (from ASan, so back into on_malloc, not yet on). */
    pthread_atfork(NULL, NULL, chunks_child);
    atexit(check_at_exit);
    atomic_store_explicit(&chunks_ready, 1, memory_order_release);
    VIGIL_ASAN_INSTALL_MALLOC_HOOKS(on_malloc, on_free);
}

#else

void vigil__leak_asan_start(int exitcode)
{
    (void)exitcode;
}

#endif
