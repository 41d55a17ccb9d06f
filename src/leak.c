/*
 * leak.c - a leak check from start to end (see leak.h for the steps).
 */
#define _GNU_SOURCE 1
#include "config.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "vigil/annotate.h"
#include "leak.h"
#include "leak_report.h"
#include "leak_scan.h"
#include "leak_world.h"
#include "os.h"
#include "report.h"

/* Room for blocks that appear between count and each (none should: the
 * source is held still; a source that cannot hold still gets cut short). */
#define SLACK 64

/* The ranges that are not roots: vigil's own mappings, copied before the
 * stop (the registry's lock may be held by a thread that is stopped), and
 * the scan's own buffers. */
struct excluded {
    struct vigil_leak_range *r;
    size_t n, cap;
};

static int copy_regions(struct excluded *ex, size_t extra)
{
    for (;;) {
        size_t have = vigil__os_regions(NULL, NULL, 0);
        size_t cap = have + 64 + extra;
        size_t bytes = cap * (sizeof *ex->r + 2 * sizeof(uintptr_t));
        void *mem = vigil__os_map_unlisted(bytes);
        if (!mem)
            return 0;
        uintptr_t *starts = (uintptr_t *)((struct vigil_leak_range *)mem + cap);
        uintptr_t *ends = starts + cap;
        size_t got = vigil__os_regions(starts, ends, cap - extra);
        if (got > cap - extra) {            /* grew meanwhile: again */
            vigil__os_unmap_unlisted(mem, bytes);
            continue;
        }
        ex->r = mem;
        ex->cap = cap;
        ex->n = 0;
        for (size_t i = 0; i < got; i++)
            ex->r[ex->n++] = (struct vigil_leak_range){ starts[i], ends[i] };
        ex->r[ex->n++] = (struct vigil_leak_range){ (uintptr_t)mem, (uintptr_t)mem + bytes };
        return 1;
    }
}

static size_t excluded_bytes(const struct excluded *ex)
{
    return ex->cap * (sizeof *ex->r + 2 * sizeof(uintptr_t));
}

/* The calling thread's registers that hold its callers' values across
 * this call: the callee-saved ones.  The others are dead at a call, and
 * often hold stale copies of addresses the program no longer has. */
static size_t callee_saved(const ucontext_t *u, uintptr_t *regs)
{
    size_t n = 0;
#if defined(__x86_64__)
    static const int saved[] = { REG_RBX, REG_RBP, REG_R12, REG_R13, REG_R14, REG_R15 };
    for (size_t i = 0; i < sizeof saved / sizeof saved[0]; i++)
        regs[n++] = (uintptr_t)u->uc_mcontext.gregs[saved[i]];
#elif defined(__aarch64__)
    for (int i = 19; i <= 29; i++)
        regs[n++] = (uintptr_t)u->uc_mcontext.regs[i];
#else
    (void)u;
    (void)regs;                 /* the context is on the stack, scanned */
#endif
    return n;
}

/* Where the scan cannot run: under memcheck, which reports leaks itself,
 * and would report the scan's reads of undefined bytes.  Said once. */
static int unavailable(void)
{
    static _Atomic int said;
    if (!VIGIL_RUNNING_ON_VALGRIND())
        return 0;
    static const char why[] =
        "vigil: no leak check under Valgrind: memcheck's --leak-check=full reports leaks\n";
    if (!atomic_exchange(&said, 1)) {
        ssize_t w = write(STDERR_FILENO, why, sizeof why - 1);
        (void)w;
    }
    return 1;
}

/* noinline: its frame is where the calling thread's roots begin, above
 * the scan's own frames (whose locals hold the blocks' addresses). */
__attribute__((noinline))
static size_t check(const struct vigil_leak_source *src, FILE *out, struct vigil_leak_totals *totals)
{
    struct vigil_leak_totals t;
    memset(&t, 0, sizeof t);
    if (totals)
        *totals = t;
    if (unavailable())
        return 0;
    /* The caller's registers, where the scan reads them: a pointer the
     * program holds only in a callee-saved register is not a leak. */
    ucontext_t here;
    getcontext(&here);
    uintptr_t regs[16];
    size_t nregs = callee_saved(&here, regs);

    src->lock(src->ctx);
    size_t cap = src->count(src->ctx) + SLACK;
    size_t bytes = cap * sizeof(struct vigil_leak_block);
    struct vigil_leak_block *blocks = vigil__os_map_unlisted(bytes);
    struct excluded ex = { 0 };
    if (!blocks || !copy_regions(&ex, 2)) {
        src->unlock(src->ctx);
        vigil__os_unmap_unlisted(blocks, bytes);
        return 0;
    }
    size_t n = src->each(src->ctx, blocks, cap);
    ex.r[ex.n++] = (struct vigil_leak_range){ (uintptr_t)blocks, (uintptr_t)blocks + bytes };
    /* ASan's shadow: terabytes of reserved mappings, no pointers in them. */
    uintptr_t shadow_lo, shadow_hi;
    VIGIL_ASAN_SHADOW_RANGE(shadow_lo, shadow_hi);
    if (shadow_hi > shadow_lo)
        ex.r[ex.n++] = (struct vigil_leak_range){ shadow_lo, shadow_hi };
    vigil__leak_sort(blocks, n, vigil__leak_by_start);

    struct vigil_leak_world w;
    int stopped = vigil__leak_world_stop(&w) == 0;
    struct vigil_leak_roots roots = {
        .world = stopped ? &w : NULL,
        .self_sp = (uintptr_t)&here,
        .self_regs = regs,
        .nself_regs = nregs,
        .excluded = ex.r,
        .nexcluded = ex.n,
    };
    int scanned = stopped && vigil__leak_scan(blocks, n, &roots) == 0;
    if (stopped)
        vigil__leak_world_resume(&w);
    src->unlock(src->ctx);

    size_t reported = scanned ? vigil__leak_report(blocks, n, out, &t) : 0;
    if (totals)
        *totals = t;
    vigil__os_unmap_unlisted(ex.r, excluded_bytes(&ex));
    vigil__os_unmap_unlisted(blocks, bytes);
    return reported;
}

size_t vigil__leak_check(const struct vigil_leak_source *src, FILE *out,
                         struct vigil_leak_totals *totals)
{
    return check(src, out, totals);
}

/* ---- at exit ---- */

static struct vigil_leak_source exit_source;
static int exit_code;
static _Atomic int exit_armed;

void vigil__leak_at_exit(const struct vigil_leak_source *src, int exitcode)
{
    exit_source = *src;
    exit_code = exitcode;
    atomic_store(&exit_armed, 1);
}

/* A destructor rather than atexit: it runs after the program's own atexit
 * handlers and destructors of the objects loaded after vigil, when what the
 * program frees at exit has been freed. */
__attribute__((destructor))
static void check_at_exit(void)
{
    if (!atomic_exchange(&exit_armed, 0))
        return;
    vigil__report_at_exit();        /* the report goes to the stderr of start-up */
    if (check(&exit_source, NULL, NULL)) {
        fflush(NULL);
        _exit(exit_code);
    }
}
