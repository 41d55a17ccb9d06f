/*
 * fail.c - the fault-injection wrapper (see fail.h): which candidate
 * fails, the counters, and the record of each injected failure.
 *
 * A candidate is an allocation (malloc, calloc, realloc, an aligned one)
 * of a wrapped domain asking for at least `size` bytes.  Candidates are
 * numbered in the order they reach the wrapper, from 1, by one atomic
 * counter for the process; whether number k fails depends on k alone (and
 * on how many have failed, for times=), so a single-threaded program meets
 * the same failures on every run, and prob= draws from a hash of (seed, k)
 * rather than from a generator whose state the threads would share.
 *
 * Only the program's own calls are candidates.  What vigil allocates
 * while it serves one comes back here through the preload's malloc: the
 * debug hooks' stack capture (pthread_getattr_np, libunwind's first use in
 * a thread, whose TLS the dynamic loader allocates and aborts without),
 * a report's symbolizer, and this file's own record of a failure
 * (VIGIL_FAIL_LOG, VIGIL_FAIL_FILE: the stack captured and symbolized,
 * stdio for the file).  A thread-local depth, raised while the wrapper
 * calls down and while it records, makes all of that no candidate and
 * leaves it uncounted, so the numbering is the program's alone, the same
 * with the debug hooks as without.  The record is also written as a
 * report is (vigil__reporting raised: the preload sends what the
 * symbolizer allocates to the C library).
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>

#include "fail.h"
#include "lock.h"
#include "report.h"
#include "request.h"
#include "stacks_capture.h"
#include "stacks_symbolize.h"
#include "table.h"

/* ---- what to inject ---- */

/* Written before the wrappers are made (start-up, or a test before other
 * threads allocate); read on every candidate. */
static struct vigil_fail_spec spec;
static int injecting;
static atomic_ullong candidates, injected;

static int log_stderr;
/* VIGIL_FAIL_FILE, as the settings keep it. */
static const char *log_file;

/* This thread is inside the wrapper (below it, or recording). */
static __attribute__((tls_model("initial-exec"))) _Thread_local int nested;

/* The frames recorded with a failure: as many as a report shows. */
#define LOG_FRAMES 16

void vigil__fail_set(const struct vigil_fail_spec *s)
{
    injecting = s != NULL;
    if (s)
        spec = *s;
    log_stderr = 0;
    log_file = NULL;
    atomic_store(&candidates, 0);
    atomic_store(&injected, 0);
}

int vigil__fail_configure(const char *value, int log, const char *file)
{
    if (!value)
        return 0;
    struct vigil_fail_spec s;
    char why[160];
    if (!vigil__fail_parse(value, &s, why, sizeof why)) {
        struct vigil_report r;
        char cut[201];
        snprintf(cut, sizeof cut, "%s", value);
        vigil__report_init(&r);
        vigil__report_str(&r, "vigil: VIGIL_FAIL=");
        vigil__report_str(&r, cut);
        vigil__report_str(&r, " is not valid (");
        vigil__report_str(&r, why);
        vigil__report_str(&r, "); syntax: ");
        vigil__report_str(&r, vigil__fail_syntax());
        vigil__report_str(&r, "; nothing is injected\n");
        vigil__report_flush(&r);
        return 0;
    }
    vigil__fail_set(&s);
    log_stderr = log;
    log_file = file;
    /* The stacks of the records reach through code built without frame
     * pointers only with libunwind, loaded here, at start-up, where a
     * dlopen is safe (not inside the malloc that fails). */
    if (log || file)
        vigil__stack_unwinder_load();
    return 1;
}

int vigil__fail_on(vigil_domain d)
{
    return injecting && (spec.domains >> d & 1);
}

unsigned long long vigil__fail_candidates(void)
{
    return atomic_load_explicit(&candidates, memory_order_relaxed);
}

unsigned long long vigil__fail_injected(void)
{
    return atomic_load_explicit(&injected, memory_order_relaxed);
}

/* ---- deciding ---- */

/* splitmix64's finaliser over (seed, k): a draw per candidate. */
static uint64_t draw(unsigned long long seed, unsigned long long k)
{
    uint64_t z = (uint64_t)seed + (uint64_t)k * 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static int triggers_agree(unsigned long long k)
{
    if (spec.nth && k != spec.nth)
        return 0;
    if (spec.every && k % spec.every)
        return 0;
    if (spec.has_after && k <= spec.after)
        return 0;
    if (spec.has_prob && !spec.prob_all && draw(spec.seed, k) >= spec.prob_below)
        return 0;
    return 1;
}

/* One more failure, unless times= has run out: its number, or 0. */
static unsigned long long take_failure(void)
{
    unsigned long long done = atomic_load_explicit(&injected, memory_order_relaxed);
    do {
        if (spec.has_times && done >= spec.times)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&injected, &done, done + 1,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    return done + 1;
}

/* ---- recording ---- */

static void write_record(struct vigil_report *r, unsigned long long nfail,
                         unsigned long long k, size_t size, void *const *frames, int n)
{
    vigil__report_str(r, "vigil: injected failure #");
    vigil__report_dec(r, nfail);
    vigil__report_str(r, " (allocation #");
    vigil__report_dec(r, k);
    vigil__report_str(r, ", ");
    vigil__report_dec(r, size);
    vigil__report_str(r, " bytes)\n");
    vigil__stack_print(r, frames, n);
    vigil__report_flush(r);
}

/* Appended whole, in one write (O_APPEND, the buffer big enough for
 * every line), so that the records of several processes sharing the file
 * do not interleave. */
static void record_to_file(unsigned long long nfail, unsigned long long k, size_t size,
                           void *const *frames, int n)
{
    FILE *f = fopen(log_file, "a");
    if (!f)
        return;
    char buf[16384];
    setvbuf(f, buf, _IOFBF, sizeof buf);
    struct vigil_report r;
    vigil__report_init_file(&r, f);
    write_record(&r, nfail, k, size, frames, n);
    fclose(f);
}

__attribute__((noinline, cold))
static void record(unsigned long long nfail, unsigned long long k, size_t size)
{
    nested++;
    vigil__report_begin();
    void *frames[LOG_FRAMES];
    int n = vigil__stack_capture_here(frames, LOG_FRAMES);
    if (log_stderr) {
        struct vigil_report r;
        vigil__report_init(&r);
        write_record(&r, nfail, k, size, frames, n);
    }
    if (log_file)
        record_to_file(nfail, k, size, frames, n);
    vigil__report_end();
    nested--;
}

/* Whether this allocation of size bytes fails: counted when a candidate;
 * 1 with errno ENOMEM when it is to fail. */
static int inject(size_t size)
{
    if (!injecting || nested || size < spec.size)
        return 0;
    unsigned long long k = atomic_fetch_add_explicit(&candidates, 1, memory_order_relaxed) + 1;
    if (!triggers_agree(k))
        return 0;
    unsigned long long nfail = take_failure();
    if (!nfail)
        return 0;
    if (log_stderr || log_file)
        record(nfail, k, size);
    errno = ENOMEM;
    return 1;
}

int vigil__fail_now(vigil_domain d, size_t size)
{
    return vigil__fail_on(d) && inject(size);
}

/* ---- the wrapper's functions ---- */

struct fail_ctx {
    vigil_allocator inner;
    vigil_domain domain;
};

static void *fail_malloc(void *ctx, size_t n)
{
    const struct fail_ctx *c = ctx;
    if (inject(n))
        return NULL;
    nested++;
    void *p = c->inner.malloc(c->inner.ctx, n);
    nested--;
    return p;
}

static void *fail_calloc(void *ctx, size_t nelem, size_t elsize)
{
    const struct fail_ctx *c = ctx;
    size_t n;
    /* A product that overflows is the inner allocator's to refuse. */
    if (vigil__calloc_size(nelem, elsize, &n) && inject(n))
        return NULL;
    nested++;
    void *p = c->inner.calloc(c->inner.ctx, nelem, elsize);
    nested--;
    return p;
}

/* Failing before the inner realloc is called leaves the old block as it
 * was, which is what a real realloc does when memory runs out. */
static void *fail_realloc(void *ctx, void *ptr, size_t n)
{
    const struct fail_ctx *c = ctx;
    if (inject(n))
        return NULL;
    nested++;
    void *p = c->inner.realloc(c->inner.ctx, ptr, n);
    nested--;
    return p;
}

/* Not a candidate, but what it does below (a report's symbolizer, say)
 * is vigil's. */
static void fail_free(void *ctx, void *ptr)
{
    const struct fail_ctx *c = ctx;
    nested++;
    c->inner.free(c->inner.ctx, ptr);
    nested--;
}

/* ---- making and taking apart ---- */

/* As the debug hooks' contexts: never freed, since a block may outlive
 * the table it was made through, and shared when identical. */
#define MAX_WRAPPERS 64
static struct fail_ctx wrappers[MAX_WRAPPERS];
static unsigned nwrappers;
VIGIL_LOCK_DEFINE(wrap_lock, NULL);

int vigil__fail_make(vigil_domain d, const vigil_allocator *inner, vigil_allocator *out)
{
    struct fail_ctx *c = NULL;
    vigil__lock(&wrap_lock);
    for (unsigned i = 0; i < nwrappers && !c; i++)
        if (wrappers[i].domain == d && vigil__same_table(&wrappers[i].inner, inner))
            c = &wrappers[i];
    if (!c && nwrappers < MAX_WRAPPERS) {
        c = &wrappers[nwrappers++];
        c->inner = *inner;
        c->domain = d;
    }
    vigil__unlock(&wrap_lock);
    if (!c) {
        static const char msg[] =
            "vigil: too many distinct allocators to wrap; a domain is left without "
            "fault injection\n";
        struct vigil_report r;
        vigil__report_init(&r);
        vigil__report_str(&r, msg);
        vigil__report_flush(&r);
        return 0;
    }
    *out = (vigil_allocator){ c, fail_malloc, fail_calloc, fail_realloc, fail_free };
    return 1;
}

int vigil__fail_unwrap(const vigil_allocator *a, vigil_allocator *inner)
{
    if (a->malloc != fail_malloc)
        return 0;
    if (inner)
        *inner = ((const struct fail_ctx *)a->ctx)->inner;
    return 1;
}
