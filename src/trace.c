/*
 * trace.c - the tracing wrapper (see trace.h): each block the wrapper
 * hands out gets its allocation stack captured (stacks_capture.h), stored
 * once in the depot (stacks_depot.h), and its id and size recorded in the
 * live-block table (trace_table.h) until the block is freed.
 *
 * A wrapper's context is its inner table's own, so the wrapper is told
 * apart by its functions: there is a fixed set of wrapper slots, each with
 * functions of its own that know their slot.  Installing or removing a
 * wrapper then changes only the function words of a domain's table, and a
 * thread that reads the table meanwhile calls either the wrapper or the
 * inner allocator with the right context, whichever words it sees (a block
 * allocated by one and freed by the other is harmless: see trace.h).
 *
 * Allocations made while this thread is already inside tracing (the
 * pthread call learning the thread's stack, a snapshot's symbolizer) are
 * passed through untraced: they are vigil's, not the program's.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <time.h>

#include "lock.h"
#include "report.h"
#include "stacks_capture.h"
#include "stacks_depot.h"
#include "table.h"
#include "trace.h"
#include "trace_table.h"

static _Atomic int frames;
static _Atomic uint64_t started_ns;

/* Inside tracing's own work, in this thread. */
static __attribute__((tls_model("initial-exec"))) _Thread_local int own;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vigil__trace_set_frames(int n)
{
    if (n > 0) {
        if (n > VIGIL_STACK_MAX_FRAMES)
            n = VIGIL_STACK_MAX_FRAMES;
        vigil__trace_table_open();
        uint64_t zero = 0;
        atomic_compare_exchange_strong(&started_ns, &zero, now_ns());
        atomic_store_explicit(&frames, n, memory_order_release);
    } else {
        atomic_store_explicit(&frames, 0, memory_order_release);
        atomic_store(&started_ns, 0);
        vigil__trace_table_close();
    }
}

int vigil__trace_frames(void)
{
    return atomic_load_explicit(&frames, memory_order_acquire);
}

uint64_t vigil__trace_elapsed_ns(void)
{
    uint64_t t0 = atomic_load(&started_ns);
    return t0 ? now_ns() - t0 : 0;
}

int vigil__trace_enter_own(void)
{
    return own++;
}

void vigil__trace_leave_own(int token)
{
    own = token;
}

/* ---- recording ---- */

void vigil__trace_record(void *p, size_t size)
{
    int n = atomic_load_explicit(&frames, memory_order_relaxed);
    if (!n || !p || own)
        return;
    int saved = errno;
    own = 1;
    /* Once a thread (the walk then reads its own stack directly); what it
     * allocates comes back here untraced. */
    vigil__stack_learn_bounds();
    void *f[VIGIL_STACK_MAX_FRAMES];
    int got = vigil__stack_capture_here(f, n);
    uint32_t id = vigil__stack_put(f, got);
    if (id)
        vigil__trace_table_put(p, size, id);
    else
        vigil__trace_table_take(p, NULL, NULL);     /* the stack is lost (counted) */
    own = 0;
    errno = saved;
}

void vigil__trace_forget(const void *p)
{
    if (p && atomic_load_explicit(&frames, memory_order_relaxed))
        vigil__trace_table_take(p, NULL, NULL);
}

int vigil__trace_stack_of(const void *p, void **out, int max)
{
    uint32_t id;
    if (max <= 0 || !vigil__trace_frames() || !vigil__trace_table_find(p, NULL, &id))
        return 0;
    return vigil__stack_get(id, out, max);
}

/* ---- the wrappers ---- */

struct trace_slot {
    vigil_allocator inner;
    vigil_domain domain;
};

/* Slots are never freed: a wrapper may stay inside a table the program
 * built around it after tracing stopped; it then passes every call
 * through.  Identical wrappers share a slot, so only distinct inner tables
 * use them up. */
#define MAX_WRAPPERS 16
static struct trace_slot slots[MAX_WRAPPERS];
static atomic_uint nslots;              /* written under wrap_lock */
VIGIL_LOCK_DEFINE(wrap_lock, NULL);

static inline void *slot_malloc(const struct trace_slot *s, size_t n)
{
    void *p = s->inner.malloc(s->inner.ctx, n);
    vigil__trace_record(p, n);
    return p;
}

static inline void *slot_calloc(const struct trace_slot *s, size_t nelem, size_t elsize)
{
    void *p = s->inner.calloc(s->inner.ctx, nelem, elsize);
    size_t n;
    if (p && !__builtin_mul_overflow(nelem, elsize, &n))
        vigil__trace_record(p, n);
    return p;
}

/* The old record goes before the inner realloc: once it has freed p,
 * another thread may be handed p and record it.  On failure p is still
 * the program's, so its record goes back. */
static inline void *slot_realloc(const struct trace_slot *s, void *p, size_t n)
{
    if (!p)
        return slot_malloc(s, n);
    size_t old_size = 0;
    uint32_t old_stack = 0;
    int had = atomic_load_explicit(&frames, memory_order_relaxed) &&
              vigil__trace_table_take(p, &old_size, &old_stack);
    void *q = s->inner.realloc(s->inner.ctx, p, n);
    if (!q) {
        if (had) {
            int saved = errno;
            vigil__trace_table_put(p, old_size, old_stack);
            errno = saved;
        }
        return NULL;
    }
    vigil__trace_record(q, n);
    return q;
}

/* The record goes first, for the same reason. */
static inline void slot_free(const struct trace_slot *s, void *p)
{
    vigil__trace_forget(p);
    s->inner.free(s->inner.ctx, p);
}

#define SLOT_FUNCTIONS(i)                                                          \
    static void *malloc_##i(void *ctx, size_t n)                                   \
    {                                                                              \
        (void)ctx;                                                                 \
        return slot_malloc(&slots[i], n);                                          \
    }                                                                              \
    static void *calloc_##i(void *ctx, size_t a, size_t b)                         \
    {                                                                              \
        (void)ctx;                                                                 \
        return slot_calloc(&slots[i], a, b);                                       \
    }                                                                              \
    static void *realloc_##i(void *ctx, void *p, size_t n)                         \
    {                                                                              \
        (void)ctx;                                                                 \
        return slot_realloc(&slots[i], p, n);                                      \
    }                                                                              \
    static void free_##i(void *ctx, void *p)                                       \
    {                                                                              \
        (void)ctx;                                                                 \
        slot_free(&slots[i], p);                                                   \
    }

SLOT_FUNCTIONS(0) SLOT_FUNCTIONS(1) SLOT_FUNCTIONS(2) SLOT_FUNCTIONS(3)
SLOT_FUNCTIONS(4) SLOT_FUNCTIONS(5) SLOT_FUNCTIONS(6) SLOT_FUNCTIONS(7)
SLOT_FUNCTIONS(8) SLOT_FUNCTIONS(9) SLOT_FUNCTIONS(10) SLOT_FUNCTIONS(11)
SLOT_FUNCTIONS(12) SLOT_FUNCTIONS(13) SLOT_FUNCTIONS(14) SLOT_FUNCTIONS(15)

#define FNS(i) { NULL, malloc_##i, calloc_##i, realloc_##i, free_##i }
static const vigil_allocator slot_fns[MAX_WRAPPERS] = {
    FNS(0), FNS(1), FNS(2), FNS(3), FNS(4), FNS(5), FNS(6), FNS(7),
    FNS(8), FNS(9), FNS(10), FNS(11), FNS(12), FNS(13), FNS(14), FNS(15),
};

static const char *domain_name(vigil_domain d)
{
    return d == VIGIL_DOMAIN_RAW ? "raw" : d == VIGIL_DOMAIN_MEM ? "mem" : "obj";
}

int vigil__trace_make(vigil_domain d, const vigil_allocator *inner, vigil_allocator *out)
{
    vigil__lock(&wrap_lock);
    unsigned n = atomic_load_explicit(&nslots, memory_order_relaxed);
    unsigned i = 0;
    while (i < n && !(slots[i].domain == d && vigil__same_table(&slots[i].inner, inner)))
        i++;
    if (i == n && n < MAX_WRAPPERS) {
        slots[n].inner = *inner;
        slots[n].domain = d;
        atomic_store_explicit(&nslots, n + 1, memory_order_release);
    }
    vigil__unlock(&wrap_lock);
    if (i == MAX_WRAPPERS) {
        struct vigil_report r;
        vigil__report_init(&r);
        vigil__report_str(&r, "vigil: too many distinct allocators to trace; the ");
        vigil__report_str(&r, domain_name(d));
        vigil__report_str(&r, " domain is left untraced\n");
        vigil__report_flush(&r);
        return 0;
    }
    *out = slot_fns[i];
    out->ctx = inner->ctx;
    return 1;
}

int vigil__trace_unwrap(const vigil_allocator *a, vigil_allocator *inner)
{
    unsigned n = atomic_load_explicit(&nslots, memory_order_acquire);
    for (unsigned i = 0; i < n; i++)
        if (a->malloc == slot_fns[i].malloc) {
            if (inner)
                *inner = slots[i].inner;
            return 1;
        }
    return 0;
}
