/*
 * domain.c - the three domains: which allocator each uses, composed at first
 * use from the settings, and the public entry points that dispatch to it.
 *
 * The composition, innermost first: a base allocator (the arena or the
 * system allocator), then each wrapper that is on: the debug hooks, then
 * tracing, and fault injection outermost, as DESIGN.md draws: each a
 * factory in its own file, and one line in compose().  The base allocators
 * are handed what they need from here (the arena: where large requests go,
 * what to do on a new arena), so nothing below calls back up.
 *
 * The tables are read without a lock on every call, so vigil_set_allocator()
 * belongs before other threads allocate, as with PEP 445's
 * PyMem_SetAllocator().  Tracing is the exception: vigil_trace_start and
 * vigil_trace_stop put its wrapper on and take it off at any time, which
 * changes only the function words of a table (trace.h), and tracing off
 * leaves the arena's table itself installed, so the inline hits below cost
 * what they cost without tracing.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debug.h"
#include "debug_live.h"
#include "domain.h"
#include "fail.h"
#include "leak_asan.h"
#include "report.h"
#include "request.h"
#include "settings.h"
#include "stacks_capture.h"
#include "stats.h"
#include "sysalloc.h"
#include "syscache.h"
#include "table.h"
#include "tcache.h"
#include "trace.h"
#include "trace_leaks.h"
#include "trace_massif.h"
#include "trace_snapshot.h"
#include "vigil/annotate.h"

/* The tables, and the gates of the inline hits (domain.h): closed until
 * the tables are composed. */
vigil_allocator vigil__domains[3];
#define domains vigil__domains
_Atomic uint32_t vigil__domain_gate[3] = { 1, 1, 1 };

static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int ready;
/* init() runs what may allocate (atexit); under the preload library that
 * comes back here, and must not wait on the pthread_once it is inside. */
static __attribute__((tls_model("initial-exec"))) _Thread_local int initializing;

static void print_stats_to_stderr(void)
{
    vigil_print_stats(stderr);
}

/* ---- composing ---- */

static pthread_once_t debug_once = PTHREAD_ONCE_INIT;

static void configure_debug(void)
{
    const struct vigil_settings *s = vigil__settings();
    struct vigil_debug_settings ds = { s->quarantine, s->running_on_valgrind, s->glibc_heap_tuned,
                                       s->break_serial };
    vigil__debug_configure(&ds);
    vigil__report_keep_stderr();    /* the check of the live blocks at exit reports there */
    vigil__stack_unwinder_load();   /* the blocks' stacks, where frame pointers are missing */
}

/* The block query a wrapper made over t may use: the arena's, or none. */
static const struct vigil_block_query *query_for(const vigil_allocator *t)
{
    return vigil__same_table(t, &vigil__arena_allocator) ? &vigil__arena_query : NULL;
}

/* Domain d's table t gets the debug hooks, unless it has them already. */
static void wrap_debug(vigil_domain d, vigil_allocator *t)
{
    pthread_once(&debug_once, configure_debug);
    vigil_allocator w;
    if (!vigil__debug_unwrap(t, NULL) && vigil__debug_make(d, t, query_for(t), &w))
        *t = w;
}

/* Domain d's table t gets the tracing wrapper, unless it has it already. */
static void wrap_trace(vigil_domain d, vigil_allocator *t)
{
    vigil_allocator w;
    if (!vigil__trace_unwrap(t, NULL) && vigil__trace_make(d, t, &w))
        *t = w;
}

/* Fault injection is the outermost layer, and out of the API's sight:
 * vigil_get_allocator and vigil_set_allocator see the table below it, and
 * a table that is set gets it again, so a custom allocator's allocations
 * fail as the others do.  Where VIGIL_FAIL is unset it is not there. */
static void wrap_fail(vigil_domain d, vigil_allocator *t)
{
    vigil_allocator w;
    if (vigil__fail_on(d) && !vigil__fail_unwrap(t, NULL) && vigil__fail_make(d, t, &w))
        *t = w;
}

static vigil_allocator below_fail(vigil_domain d)
{
    vigil_allocator inner;
    return vigil__fail_unwrap(&domains[d], &inner) ? inner : domains[d];
}

/* A tracing wrapper goes on or off a live domain: its ctx is the inner
 * table's, so the words written are the functions, and a thread reading
 * the table meanwhile calls a working pair (trace.h). */
static void install(vigil_allocator *slot, const vigil_allocator *t)
{
    slot->calloc = t->calloc;
    slot->realloc = t->realloc;
    slot->free = t->free;
    slot->malloc = t->malloc;
    slot->ctx = t->ctx;
}

/* Every store of domain d's table, whole or (live) word by word, with its
 * gate: closed before a table other than the arena's goes in, opened after
 * the arena's is in.  A thread that read the gate open just before takes a
 * hit of the arena's cache, as it would have called the old table. */
static void set_table(vigil_domain d, const vigil_allocator *t, int live)
{
    int arena = vigil__same_table(t, &vigil__arena_allocator);
    if (!arena)
        atomic_store_explicit(&vigil__domain_gate[d], 1, memory_order_seq_cst);
    if (live)
        install(&domains[d], t);
    else
        domains[d] = *t;
    if (arena)
        atomic_store_explicit(&vigil__domain_gate[d], 0, memory_order_release);
}

static void compose(vigil_domain d, const vigil_allocator *base, int debug, int trace)
{
    vigil_allocator t = *base;
    if (debug)
        wrap_debug(d, &t);
    if (trace)
        wrap_trace(d, &t);
    wrap_fail(d, &t);
    set_table(d, &t, 0);
}

static void trace_at_exit(void);

static void init(void)
{
    initializing = 1;
    const struct vigil_settings *s = vigil__settings();
    vigil__report_configure(s->abort_on_error, s->error_exitcode);
    /* Large requests: the system allocator, behind a thread cache of its
     * medium blocks unless a tool must see every block (as the arena's own
     * caches are off under Valgrind and ASan). */
    struct vigil_syscache_env large = {
        .sys = &vigil__sys_allocator,
        .usable = vigil__sys_usable,
        .off = VIGIL_ASAN_ENABLED || s->running_on_valgrind,
    };
    struct vigil_arena_env env = {
        .large = vigil__syscache_setup(&large),
        .on_new_arena = s->mallocstats ? print_stats_to_stderr : NULL,
        .on_valgrind = s->running_on_valgrind,
        .quarantine = s->quarantine_set || !s->running_on_valgrind ? s->quarantine
                                                                   : VIGIL_MEMCHECK_QUARANTINE,
        .keep = vigil__sys_keep,
    };
    vigil__arena_setup(&env);

    enum vigil_mode mode = s->mode;
    /* Unset under Valgrind: plain malloc, so memcheck sees every block with
     * its own redzones; an explicit "arena" keeps the annotated arena. */
    if (s->running_on_valgrind && !s->mode_set)
        mode = VIGIL_MODE_MALLOC;
    if (s->running_on_valgrind && mode == VIGIL_MODE_DEBUG)
        mode = VIGIL_MODE_MALLOC_DEBUG;
    const vigil_allocator *base = &vigil__arena_allocator;
    if (mode == VIGIL_MODE_MALLOC || mode == VIGIL_MODE_MALLOC_DEBUG)
        base = &vigil__sys_allocator;
    int debug = mode == VIGIL_MODE_DEBUG || mode == VIGIL_MODE_ARENA_DEBUG ||
                mode == VIGIL_MODE_MALLOC_DEBUG;
    /* A leak check needs every live block and its stack: tracing's. */
    int trace = s->trace_frames > 0 || s->leaks;
    if (trace) {
        vigil__stack_unwinder_load();
        vigil__trace_set_frames(s->trace_frames ? s->trace_frames : VIGIL_LEAK_FRAMES);
    }
    if (s->leaks)
        vigil__trace_leaks_at_exit(s->leak_suppressions,
                                   s->error_exitcode ? s->error_exitcode : VIGIL_LEAK_EXITCODE);
    /* Under ASan, pool blocks are checked at exit when LeakSanitizer checks
     * its chunks (leak_asan.h; nothing in other builds), unless
     * VIGIL_LEAKS's own check does. */
    if (s->lsan_at_exit && !s->leaks)
        vigil__leak_asan_start(s->error_exitcode ? s->error_exitcode : s->asan_exitcode);
    vigil__fail_configure(s->fail, s->fail_log, s->fail_file);
    compose(VIGIL_DOMAIN_RAW, &vigil__sys_allocator, debug, trace);
    compose(VIGIL_DOMAIN_MEM, base, debug, trace);
    compose(VIGIL_DOMAIN_OBJ, base, debug, trace);

    atomic_store_explicit(&ready, 1, memory_order_release);
    initializing = 0;

    /* Last: atexit may allocate, and the tables must be usable by then. */
    if (s->mallocstats)
        atexit(print_stats_to_stderr);
    /* What is reported at exit goes to the stderr of now (the debug hooks'
     * check at exit keeps it in configure_debug). */
    if (s->trace_top || s->trace_file || s->leaks)
        vigil__report_keep_stderr();
    if (s->trace_top || s->trace_file)
        atexit(trace_at_exit);
}

__attribute__((noinline, cold))
static void init_once(void)
{
    if (!initializing)
        pthread_once(&once, init);
}

void vigil__ensure_init(void)
{
    if (__builtin_expect(!atomic_load_explicit(&ready, memory_order_acquire), 0))
        init_once();
}

static int valid_domain(vigil_domain d)
{
    return d == VIGIL_DOMAIN_RAW || d == VIGIL_DOMAIN_MEM || d == VIGIL_DOMAIN_OBJ;
}

void vigil_get_allocator(vigil_domain d, vigil_allocator *out)
{
    vigil__ensure_init();
    if (valid_domain(d))
        *out = below_fail(d);
}

void vigil_set_allocator(vigil_domain d, const vigil_allocator *alloc)
{
    vigil__ensure_init();
    if (valid_domain(d)) {
        vigil_allocator t = *alloc;
        wrap_fail(d, &t);
        set_table(d, &t, 0);
    }
}

void vigil_setup_debug_hooks(void)
{
    vigil__ensure_init();
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        /* Under tracing and fault injection, as compose() orders them. */
        vigil_allocator t = below_fail((vigil_domain)d), inner;
        int traced = vigil__trace_unwrap(&t, &inner);
        if (traced)
            t = inner;
        wrap_debug((vigil_domain)d, &t);
        if (traced)
            wrap_trace((vigil_domain)d, &t);
        wrap_fail((vigil_domain)d, &t);
        set_table((vigil_domain)d, &t, 0);
    }
}

/* ---- dispatch ---- */

/* Everything but a thread-cache hit: the caller is recorded for the
 * reports, and the installed table is called.  Out of line, so the entry
 * points stay frame-less and a hit never touches vigil__caller. */
__attribute__((noinline))
static void *malloc_slow(vigil_domain d, size_t size, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    if (vigil__impossible(size))
        return NULL;
    return domains[d].malloc(domains[d].ctx, size);
}

__attribute__((noinline))
static void free_slow(vigil_domain d, void *ptr, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    domains[d].free(domains[d].ctx, ptr);
}

/* The hits, inline in every entry point (domain.h).  Macros, not
 * functions, so the caller's address is read only on the way to the slow
 * path (an argument would be loaded before the test). */
#define MALLOC_HIT(d, size)                                                   \
    do {                                                                      \
        void *hit_ = vigil__domain_malloc_hit(d, size);                       \
        if (__builtin_expect(hit_ != NULL, 1))                                \
            return hit_;                                                      \
    } while (0)

#define FREE_HIT(d, ptr)                                                      \
    do {                                                                      \
        if (__builtin_expect(vigil__domain_free_hit(d, ptr), 1))              \
            return;                                                           \
    } while (0)

static inline void *dispatch_calloc(vigil_domain d, size_t nelem, size_t elsize, void *caller)
{
    size_t total;
    if (!vigil__calloc_size(nelem, elsize, &total))
        return NULL;
    void *hit = vigil__domain_calloc_hit(d, total);
    if (__builtin_expect(hit != NULL, 1))
        return hit;
    vigil__ensure_init();
    vigil__caller = caller;
    return domains[d].calloc(domains[d].ctx, nelem, elsize);
}

static inline void *dispatch_realloc(vigil_domain d, void *ptr, size_t size, void *caller)
{
    void *hit = vigil__domain_realloc_hit(d, ptr, size);
    if (__builtin_expect(hit != NULL, 1))
        return hit;
    vigil__ensure_init();
    vigil__caller = caller;
    if (vigil__impossible(size))
        return NULL;
    return domains[d].realloc(domains[d].ctx, ptr, size);
}

#define CALLER __builtin_return_address(0)

void *vigil_raw_malloc(size_t size)
{
    MALLOC_HIT(VIGIL_DOMAIN_RAW, size);
    return malloc_slow(VIGIL_DOMAIN_RAW, size, CALLER);
}

void *vigil_mem_malloc(size_t size)
{
    MALLOC_HIT(VIGIL_DOMAIN_MEM, size);
    return malloc_slow(VIGIL_DOMAIN_MEM, size, CALLER);
}

void *vigil_obj_malloc(size_t size)
{
    MALLOC_HIT(VIGIL_DOMAIN_OBJ, size);
    return malloc_slow(VIGIL_DOMAIN_OBJ, size, CALLER);
}

void vigil_raw_free(void *ptr)
{
    FREE_HIT(VIGIL_DOMAIN_RAW, ptr);
    free_slow(VIGIL_DOMAIN_RAW, ptr, CALLER);
}

void vigil_mem_free(void *ptr)
{
    FREE_HIT(VIGIL_DOMAIN_MEM, ptr);
    free_slow(VIGIL_DOMAIN_MEM, ptr, CALLER);
}

void vigil_obj_free(void *ptr)
{
    FREE_HIT(VIGIL_DOMAIN_OBJ, ptr);
    free_slow(VIGIL_DOMAIN_OBJ, ptr, CALLER);
}

void *vigil_raw_calloc(size_t nelem, size_t elsize)
{
    return dispatch_calloc(VIGIL_DOMAIN_RAW, nelem, elsize, CALLER);
}

void *vigil_mem_calloc(size_t nelem, size_t elsize)
{
    return dispatch_calloc(VIGIL_DOMAIN_MEM, nelem, elsize, CALLER);
}

void *vigil_obj_calloc(size_t nelem, size_t elsize)
{
    return dispatch_calloc(VIGIL_DOMAIN_OBJ, nelem, elsize, CALLER);
}

void *vigil_raw_realloc(void *ptr, size_t size)
{
    return dispatch_realloc(VIGIL_DOMAIN_RAW, ptr, size, CALLER);
}

void *vigil_mem_realloc(void *ptr, size_t size)
{
    return dispatch_realloc(VIGIL_DOMAIN_MEM, ptr, size, CALLER);
}

void *vigil_obj_realloc(void *ptr, size_t size)
{
    return dispatch_realloc(VIGIL_DOMAIN_OBJ, ptr, size, CALLER);
}

/* ---- for the preload library ---- */

void *vigil__domain_malloc(vigil_domain d, size_t size, void *caller)
{
    MALLOC_HIT(d, size);
    return malloc_slow(d, size, caller);
}

void *vigil__domain_calloc(vigil_domain d, size_t nelem, size_t elsize, void *caller)
{
    return dispatch_calloc(d, nelem, elsize, caller);
}

void *vigil__domain_realloc(vigil_domain d, void *ptr, size_t size, void *caller)
{
    return dispatch_realloc(d, ptr, size, caller);
}

void vigil__domain_free(vigil_domain d, void *ptr, void *caller)
{
    FREE_HIT(d, ptr);
    free_slow(d, ptr, caller);
}

/* Domain d's table below a tracing wrapper, which adds nothing to blocks;
 * *traced says whether there was one. */
/* Domain d's table below fault injection and tracing; *traced says
 * whether tracing was on it. */
static vigil_allocator untraced(vigil_domain d, int *traced)
{
    vigil_allocator t = below_fail(d), inner;
    int on = vigil__trace_unwrap(&t, &inner);
    if (traced)
        *traced = on;
    return on ? inner : t;
}

void *vigil__domain_aligned(vigil_domain d, size_t align, size_t size, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    int traced;
    vigil_allocator below = untraced(d, &traced);
    if (!vigil__same_table(&below, &vigil__arena_allocator))
        return NULL;
    void *p = vigil__arena_aligned(align, size);
    if (traced)
        vigil__trace_record(p, size);
    return p;
}

void vigil__domain_note_block(vigil_domain d, void *p, size_t size, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    int traced;
    untraced(d, &traced);
    if (traced)
        vigil__trace_record(p, size);
}

void vigil__domain_note_free(vigil_domain d, const void *p)
{
    (void)d;
    vigil__trace_forget(p);
}

int vigil__domain_fails(vigil_domain d, size_t size, void *caller)
{
    vigil__ensure_init();
    vigil__caller = caller;
    return vigil__fail_now(d, size);
}

int vigil__domain_debugged(vigil_domain d)
{
    vigil__ensure_init();
    vigil_allocator below = untraced(d, NULL);
    return vigil__debug_unwrap(&below, NULL);
}

int vigil__domain_plain_arena(vigil_domain d)
{
    vigil__ensure_init();
    vigil_allocator below = untraced(d, NULL);
    return vigil__same_table(&below, &vigil__arena_allocator);
}

int vigil__domain_block_size(vigil_domain d, const void *p, size_t *n)
{
    vigil__ensure_init();
    vigil_allocator below = untraced(d, NULL);
    if (vigil__debug_unwrap(&below, NULL))
        return vigil__debug_block_size(&below, p, n);
    if (vigil__same_table(&below, &vigil__arena_allocator))
        return vigil__arena_query.block_size(p, n);
    return 0;
}

int vigil__domain_arena_owns(const void *p)
{
    return vigil__arena_owns(p);
}

/* ---- what is installed ---- */

/* The base under optional fault injection, tracing and debug wrappers;
 * *debug says whether it had the debug hooks. */
static vigil_allocator base_of(const vigil_allocator *a, int *debug)
{
    vigil_allocator below, inner, outer;
    if (!vigil__fail_unwrap(a, &outer))
        outer = *a;
    if (!vigil__trace_unwrap(&outer, &below))
        below = outer;
    *debug = vigil__debug_unwrap(&below, &inner);
    return *debug ? inner : below;
}

const char *vigil_allocator_name(void)
{
    vigil__ensure_init();
    int dr, dm, dob;
    vigil_allocator raw = base_of(&domains[VIGIL_DOMAIN_RAW], &dr);
    vigil_allocator mem = base_of(&domains[VIGIL_DOMAIN_MEM], &dm);
    vigil_allocator obj = base_of(&domains[VIGIL_DOMAIN_OBJ], &dob);
    if (!vigil__same_table(&raw, &vigil__sys_allocator) || dr != dm || dm != dob)
        return NULL;
    if (vigil__same_table(&mem, &vigil__arena_allocator) &&
        vigil__same_table(&obj, &vigil__arena_allocator))
        return dm ? "arena_debug" : "arena";
    if (vigil__same_table(&mem, &vigil__sys_allocator) &&
        vigil__same_table(&obj, &vigil__sys_allocator))
        return dm ? "malloc_debug" : "malloc";
    return NULL;
}

static int arena_in_use(void)
{
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        int dbg;
        vigil_allocator a = base_of(&domains[d], &dbg);
        if (vigil__same_table(&a, &vigil__arena_allocator))
            return 1;
    }
    return 0;
}

size_t vigil_allocated_blocks(void)
{
    vigil__ensure_init();
    /* A block in a thread's cache of system blocks is the system's, and
     * free. */
    return vigil__arena_blocks() + vigil__sys_blocks() - vigil__syscache_blocks();
}

int vigil_print_stats(FILE *out)
{
    vigil__ensure_init();
    struct vigil_arena_stats st;
    vigil__arena_stats(&st);
    if (!arena_in_use() && st.arenas_allocated == 0)
        return 0;
    vigil__stats_print(out, &st);
    return 1;
}

/* ---- the debug hooks' public API ---- */

/* These work whether or not a debug wrapper was ever made (a block is
 * looked at without trusting it); so they do not configure the hooks. */
int vigil_check_block(const void *ptr)
{
    vigil__ensure_init();
    return vigil__debug_check_block(ptr, CALLER);
}

void vigil_dump_block(const void *ptr)
{
    vigil__ensure_init();
    vigil__debug_dump_block(ptr);
}

size_t vigil_check_heap(void)
{
    vigil__ensure_init();
    vigil__caller = CALLER;             /* the report's bad call */
    return vigil__debug_live_check(VIGIL_OP_CHECK_HEAP);
}

size_t vigil_error_count(void)
{
    return vigil__report_errors();
}

/* ---- tracing's public API ---- */

int vigil_trace_start(int nframes)
{
    if (nframes < 1 || nframes > VIGIL_STACK_MAX_FRAMES) {
        errno = EINVAL;
        return -1;
    }
    vigil__ensure_init();
    vigil__stack_unwinder_load();
    vigil__trace_set_frames(nframes);
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        /* Under fault injection, which stays outermost. */
        vigil_allocator t = below_fail((vigil_domain)d);
        wrap_trace((vigil_domain)d, &t);
        wrap_fail((vigil_domain)d, &t);
        set_table((vigil_domain)d, &t, 1);
    }
    return 0;
}

void vigil_trace_stop(void)
{
    vigil__ensure_init();
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        vigil_allocator t = below_fail((vigil_domain)d), inner;
        if (vigil__trace_unwrap(&t, &inner)) {
            wrap_fail((vigil_domain)d, &inner);
            set_table((vigil_domain)d, &inner, 1);
        }
    }
    /* A wrapper the program kept inside a table of its own stays, and
     * passes every call through from now on. */
    vigil__trace_set_frames(0);
}

/* These start vigil like any call: VIGIL_TRACE may be what starts tracing. */
size_t vigil_leak_check(FILE *out)
{
    vigil__ensure_init();
    return vigil__trace_leak_check(out);
}

int vigil_trace_frames(void)
{
    vigil__ensure_init();
    return vigil__trace_frames();
}

int vigil_trace_get(const void *ptr, void **frames, int max)
{
    vigil__ensure_init();
    return vigil__trace_stack_of(ptr, frames, max);
}

vigil_trace_snapshot *vigil_trace_take_snapshot(void)
{
    vigil__ensure_init();
    int frames = vigil__trace_frames();
    if (!frames) {
        errno = EINVAL;
        return NULL;
    }
    return vigil__trace_snapshot_take(frames, vigil__trace_elapsed_ns());
}

void vigil_trace_snapshot_free(vigil_trace_snapshot *snap)
{
    vigil__trace_snapshot_free(snap);
}

/* What follows symbolizes, and libdw allocates: through the preload that
 * is the traced heap, and its blocks are vigil's, not the program's. */

size_t vigil_trace_print_top(FILE *out, size_t limit)
{
    int own = vigil__trace_enter_own();
    size_t shown = 0;
    vigil_trace_snapshot *snap = vigil_trace_take_snapshot();
    if (snap)
        shown = vigil__trace_snapshot_print(out, snap, limit);
    else if (errno == EINVAL)
        fprintf(out, "vigil: allocation tracing is off (VIGIL_TRACE=N or vigil_trace_start)\n");
    else
        fprintf(out, "vigil: no memory for a snapshot of the traced blocks\n");
    vigil__trace_snapshot_free(snap);
    vigil__trace_leave_own(own);
    return shown;
}

size_t vigil_trace_snapshot_compare(FILE *out, const vigil_trace_snapshot *old,
                                    const vigil_trace_snapshot *now, size_t limit)
{
    int own = vigil__trace_enter_own();
    size_t shown = now ? vigil__trace_snapshot_compare(out, old, now, limit) : 0;
    vigil__trace_leave_own(own);
    return shown;
}

int vigil_trace_snapshot_write(const vigil_trace_snapshot *snap, FILE *out)
{
    if (!snap || !out) {
        errno = EINVAL;
        return -1;
    }
    int own = vigil__trace_enter_own();
    int r = vigil__trace_massif_write(snap, out);
    vigil__trace_leave_own(own);
    return r;
}

/* VIGIL_TRACE_FILE's name with "%p" made the process id. */
static void trace_file_name(const char *pattern, char *out, size_t size)
{
    size_t n = 0;
    for (const char *c = pattern; *c && n + 1 < size; c++) {
        if (c[0] == '%' && c[1] == 'p') {
            n += (size_t)snprintf(out + n, size - n, "%ld", (long)getpid());
            if (n >= size)
                n = size - 1;
            c++;
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
}

static void write_trace_file(const char *pattern, FILE *err)
{
    char path[4096 + 32];
    trace_file_name(pattern, path, sizeof path);
    vigil_trace_snapshot *snap = vigil_trace_take_snapshot();
    if (!snap) {
        fprintf(err, "vigil: VIGIL_TRACE_FILE: %s, %s not written\n",
                errno == EINVAL ? "tracing is off at exit" : "no memory for a snapshot", path);
        return;
    }
    FILE *f = fopen(path, "w");
    int ok = f && vigil_trace_snapshot_write(snap, f) == 0;
    int e = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok)
        fprintf(err, "vigil: VIGIL_TRACE_FILE: cannot write %s: %s\n", path, strerror(e));
    vigil_trace_snapshot_free(snap);
}

/* A stream on it, to be closed; NULL when it is gone. */
static FILE *kept_stderr(void)
{
    int kept = vigil__report_kept_fd();
    int fd = kept >= 0 ? dup(kept) : -1;
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0)
        close(fd);
    return f;
}

static void trace_at_exit(void)
{
    const struct vigil_settings *s = vigil__settings();
    int own = vigil__trace_enter_own();
    FILE *kept = kept_stderr(), *err = kept ? kept : stderr;
    if (s->trace_file)
        write_trace_file(s->trace_file, err);
    if (s->trace_top)
        vigil_trace_print_top(err, s->trace_top);
    if (kept)
        fclose(kept);
    vigil__trace_leave_own(own);
}
