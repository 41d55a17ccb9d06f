/*
 * debug.c - the debug hooks as a wrapper factory (see debug.h): from an
 * inner allocator, a table whose blocks carry guards, fills and an API tag
 * (the layout is drawn in debug_block.h), checked on free, on realloc and
 * on demand.  Freed blocks go to the quarantine (debug_quarantine.c); a
 * block that fails the fast check goes to the diagnosis
 * (debug_diagnose.c), which says what is wrong.
 *
 * The common path (a healthy block) costs two memsets and a few compares,
 * a stack capture on malloc and on free (the block's origin, for the
 * reports: debug_stacks.h), and on free an append to the thread's own
 * batch of the quarantine, which takes a lock once a batch, not once a
 * free.  It reads a header directly
 * only within the 4 KiB frame of the pointer itself, and a tail only where
 * it cannot fault; anything else is left to the diagnosis, which reads
 * through vigil__peek().
 *
 * A wrapper knows only its inner table and that table's block query, when
 * the domains handed one: enough to tell whether a header's size fits the
 * inner block, without knowing what the inner allocator is.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "debug.h"
#include "debug_block.h"
#include "debug_diagnose.h"
#include "debug_live.h"
#include "debug_quarantine.h"
#include "debug_stacks.h"
#include "lock.h"
#include "os.h"
#include "report.h"
#include "request.h"
#include "vigil/annotate.h"

#define WORD        VIGIL_DEBUG_WORD
#define HEAD        VIGIL_DEBUG_HEAD
#define TRAILER     VIGIL_DEBUG_TRAILER
#define OVERHEAD    VIGIL_DEBUG_OVERHEAD
#define MAX_REQUEST VIGIL_DEBUG_MAX_REQUEST

/* ---- wrappers ---- */

struct debug_ctx {
    struct vigil_quarantine_owner owner;    /* inner, its query, the API id */
    size_t head;                /* API id then S-1 guard bytes, in memory order */
    vigil_domain domain;
    unsigned index;             /* in wrappers[]: the live map's owner (a division, else) */
};

/* Wrapper contexts are never freed: a block may outlive the wrapper that made
 * it (the application restores another table), and the quarantine still
 * frees it through that wrapper's inner allocator.  Identical wrappers are
 * shared, so only distinct inner tables use up slots. */
#define MAX_WRAPPERS 64
static struct debug_ctx wrappers[MAX_WRAPPERS];
static atomic_uint nwrappers;           /* written under wrap_lock */
VIGIL_LOCK_DEFINE(wrap_lock, NULL);

/* Configuration, set before the first wrapper is made: the hot paths then
 * need no call into anybody. */
static int on_valgrind;
#ifdef VIGIL_SERIALNO
static unsigned long long break_serial;
static _Atomic unsigned long long serialno;
#endif

static int check_live(unsigned owner, const unsigned char *p, enum vigil_debug_op op);

/* The program break when the hooks were configured: from there to the
 * break now, the C library's main heap, one mapping that only grows or
 * shrinks at its top.  0: not known (sbrk failed). */
static uintptr_t brk_base;

/* The C library gives the top of its heap back to the kernel once that much
 * of it is free (128 KiB by default), and the quarantine makes it so in
 * bursts: its big blocks go back to the C library a quarantine after their
 * free, the top is trimmed, and the next big allocations fault the same
 * pages in again (a quarter of git log -p's page faults in debug mode).
 * The top kept free may hold what the quarantine holds: that memory was in
 * use a moment ago, and will be again.  Setting it stops glibc raising its
 * mmap threshold as it does when a mapped block is freed, so the threshold
 * is set where that would take it at most (32 MiB on 64-bit): the blocks
 * between 128 KiB and that, which would have their own mappings, faulted
 * in at each allocation, come from the heap, as they would once glibc had
 * seen one freed.  Not under memcheck, whose malloc is its own, nor when
 * the user set either threshold in GLIBC_TUNABLES: theirs stand. */
static void keep_heap_top(size_t quarantine, int valgrind, int tuned)
{
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
    size_t keep = quarantine + ((size_t)128 << 10);
    if (!quarantine || valgrind || tuned || keep > INT_MAX)
        return;
    mallopt(M_TRIM_THRESHOLD, (int)keep);
    mallopt(M_MMAP_THRESHOLD, (int)(4 * 1024 * 1024 * sizeof(long)));
#else
    (void)quarantine;
    (void)valgrind;
    (void)tuned;
#endif
}

void vigil__debug_configure(const struct vigil_debug_settings *s)
{
    void *brk = sbrk(0);
    brk_base = brk == (void *)-1 ? 0 : (uintptr_t)brk;
    on_valgrind = s->on_valgrind;
#ifdef VIGIL_SERIALNO
    break_serial = s->break_serial;
#endif
    vigil__quarantine_configure(s->quarantine, s->on_valgrind);
    vigil__debug_live_configure(check_live);
    keep_heap_top(s->quarantine, s->on_valgrind, s->heap_tuned);
}

/* Under memcheck the header and the tail guard are no-access to the
 * program: a read or write of them is reported where it happens.  Sealing
 * closes them, and so does a check that opened them and found the block
 * healthy. */
static inline void guards_close(const unsigned char *p, size_t n)
{
    if (on_valgrind) {
        VIGIL_MEM_NOACCESS(p - HEAD, HEAD);
        VIGIL_MEM_NOACCESS(p + n, TRAILER);
    }
}

/* Write everything around the n data bytes at p but the data itself, and
 * record the block as live; o is where the block is being allocated, w its
 * word of the live map (vigil__debug_live_word). */
static inline void seal(const struct debug_ctx *c, unsigned char *p, size_t n,
                        struct vigil_origin o, _Atomic uint64_t *w)
{
    size_t guard = VIGIL_DEBUG_GUARD_WORD;
    vigil__debug_put_be(p - HEAD, n);
    memcpy(p - WORD, &c->head, WORD);
    memcpy(p + n, &guard, WORD);
#ifdef VIGIL_SERIALNO
    unsigned long long s = atomic_fetch_add_explicit(&serialno, 1, memory_order_relaxed) + 1;
    vigil__debug_put_be(p + n + WORD, (size_t)s);
    if (s == break_serial)
        raise(SIGTRAP);
#endif
    vigil__debug_put_origin(p + n + VIGIL_DEBUG_ORIGIN_AT, o);
    guards_close(p, n);
    vigil__debug_live_put_at(w, p, c->index);
}

/* Before this file reads a block's header and tail guard (free, realloc,
 * checks), memcheck must let it: open them, reading the size safely. */
static void guards_open(const unsigned char *p)
{
    if (!on_valgrind)
        return;
    VIGIL_MEM_DEFINED(p - HEAD, HEAD);
    unsigned char head[WORD];
    if (vigil__peek(head, p - HEAD, WORD)) {
        size_t n = vigil__debug_get_be(head);
        if (n <= MAX_REQUEST)
            VIGIL_MEM_DEFINED(p + n, TRAILER);
    }
}

/* memset, with the small sizes inline: both fills of a small block cost
 * more in the C library's call and its size tests than in the stores.
 * Overlapping 16-byte stores, from each end. */
static inline void fill(unsigned char *p, unsigned char byte, size_t n)
{
    typedef unsigned char v16 __attribute__((vector_size(16)));
    if (n < 16 || n > 128) {
        memset(p, byte, n);
        return;
    }
    const v16 v = (v16){ 0 } + byte;
    memcpy(p, &v, 16);
    memcpy(p + n - 16, &v, 16);
    if (n <= 32)
        return;
    memcpy(p + 16, &v, 16);
    memcpy(p + n - 32, &v, 16);
    if (n <= 64)
        return;
    memcpy(p + 32, &v, 16);
    memcpy(p + 48, &v, 16);
    memcpy(p + n - 48, &v, 16);
    memcpy(p + n - 64, &v, 16);
}

/* Valgrind would take the 0xCD fill for initialised data; the bytes keep the
 * pattern for the debugger but stay undefined for memcheck. */
static inline void fresh(unsigned char *p, size_t n)
{
    fill(p, VIGIL_CLEANBYTE, n);
    if (on_valgrind)
        VIGIL_MEM_UNDEFINED(p, n);
}

/* ---- the fast check ---- */

/* Whether [lo, hi) lies in the main heap's mapping (brk_base): mapped,
 * whatever the size field that led there says, with no system call
 * (sbrk(0) returns the break the C library keeps).  The blocks the
 * C library hands the inner allocators above 512 bytes lie there, most
 * of them, and so do their tails. */
static inline int in_main_heap(uintptr_t lo, uintptr_t hi)
{
    return brk_base && lo >= brk_base && hi >= lo && hi <= (uintptr_t)sbrk(0);
}

/* The header is intact but the tail lies in another 4 KiB frame: may it be
 * read directly?  Only a damaged size field could make it unmapped. */
static __attribute__((noinline)) int tail_reachable(const struct debug_ctx *c,
                                                    const unsigned char *base, uintptr_t end)
{
    /* When the inner allocator knows the block, the tail is in it, or the
     * size is damaged.  base lies in p's page, which intact() has read, so
     * the query's look at that page cannot fault. */
    const struct vigil_block_query *query = c->owner.query;
    size_t usable;
    if (query && query->block_size(base, &usable))
        return end - (uintptr_t)base <= usable;
    /* The next frame belongs to the same inner block unless the size is
     * damaged by less than a page, which leaves the tail guard to catch it;
     * farther than that, ask the kernel. */
    uintptr_t first = (uintptr_t)base & ~(VIGIL_MIN_PAGE - 1);
    uintptr_t last = (end - 1) & ~(VIGIL_MIN_PAGE - 1);
    return last - first <= VIGIL_MIN_PAGE || in_main_heap(first, end) ||
           vigil__mapped((const void *)(end - WORD), WORD);
}

/* 1, with *np set, when p is a healthy block of c's API that can be checked
 * without a probe: the header in p's page, the tail in reach.  0 sends the
 * caller to diagnose().  Exempt from ASan: for a wild pointer the header is
 * somebody else's memory, by design. */
VIGIL_NO_SANITIZE_ADDRESS
static inline int intact(const struct debug_ctx *c, const unsigned char *p, size_t *np)
{
    uintptr_t a = (uintptr_t)p;
    /* A header in the page before is read here when that page is the main
     * heap's: the C library's blocks above 512 bytes lie there, and those
     * whose data starts a page (git's, several hundred a run) paid a
     * dozen system calls each in the slow check, from free and again from
     * the preload's questions. */
    if ((a & (VIGIL_MIN_PAGE - 1)) < HEAD && !in_main_heap(a - HEAD, a))
        return 0;
    /* A block with a mapping of its own (glibc's above 128 KiB) starts 16
     * bytes into its first page, so its data 32 bytes in; once freed it is
     * unmapped, and freeing it again must not fault here.  No arena block's
     * data lies there (arena.h: blocks start at 0 or 64 and step by at
     * least 32), so only one in 256 of the system's small blocks pays the
     * system call. */
    if (__builtin_expect((a & (VIGIL_MIN_PAGE - 1)) == 2 * HEAD, 0) &&
        !in_main_heap(a - HEAD, a) && !vigil__mapped(p - HEAD, HEAD))
        return 0;
    size_t head, tail;
    memcpy(&head, p - WORD, WORD);
    if (head != c->head)
        return 0;
    size_t n = vigil__debug_get_be(p - HEAD);
    if (n > MAX_REQUEST)
        return 0;
    uintptr_t end = a + n + WORD;
    if (end < a)
        return 0;
    if (((a - HEAD) ^ (end - 1)) >= VIGIL_MIN_PAGE && !tail_reachable(c, p - HEAD, end))
        return 0;
    memcpy(&tail, p + n, WORD);
    if (tail != VIGIL_DEBUG_GUARD_WORD)
        return 0;
    *np = n;
    return 1;
}

/* ---- the slow check ---- */

/* The bytes the inner block under p really has, when one of the block
 * queries the wrappers were made with knows it; 0 when none does.  Any
 * wrapper's: the block may have been made by another wrapper than the one
 * it is freed through, or by none (vigil_check_block). */
static size_t known_usable(const unsigned char *p)
{
    /* A query may read the page the block starts in (the arena reads its
     * pool header there), which for a wild pointer may not be mapped. */
    unsigned char byte;
    if ((uintptr_t)p < HEAD || !vigil__peek(&byte, p - HEAD, 1))
        return 0;
    unsigned n = atomic_load_explicit(&nwrappers, memory_order_acquire);
    for (unsigned i = 0; i < n; i++) {
        const struct vigil_block_query *query = wrappers[i].owner.query;
        size_t usable;
        if (query && query->block_size(p - HEAD, &usable))
            return usable;
    }
    return 0;
}

/* The slow path of free, realloc and vigil_check_block (c NULL): 1, with
 * *np set, when the block is healthy after all; 0 after a report
 * (VIGIL_ABORT=0). */
static int diagnose(const struct debug_ctx *c, const unsigned char *p, enum vigil_debug_op op,
                    size_t *np)
{
    int saved = errno;
    int domain = c ? (int)c->domain : -1;
    struct vigil_view v;
    enum vigil_verdict vd = vigil__diagnose(p, domain, known_usable(p), &v);
    if (vd == VIGIL_HEALTHY) {
        *np = v.n;
        errno = saved;
        return 1;
    }
    /* A double free's report says what the block was, while the quarantine
     * still has it. */
    struct vigil_freed freed;
    int known = vd == VIGIL_DOUBLE_FREE && vigil__quarantine_find(p - HEAD, &freed);
    vigil__diagnose_report(vd, &v, domain, op, known ? &freed : NULL);
    errno = saved;
    return 0;
}

/* ---- the wrapper's functions ---- */

/* The block of n bytes at p passed its checks: fill it and hand it to the
 * quarantine, with its origin, which the fill overwrites, and the free's. */
static void release(const struct debug_ctx *c, unsigned char *p, size_t n,
                    struct vigil_origin freed, _Atomic uint64_t *w)
{
    struct vigil_origin alloc = vigil__debug_get_origin(p + n + VIGIL_DEBUG_ORIGIN_AT);
    vigil__debug_live_take_at(w, p);
    fill(p - HEAD, VIGIL_DEADBYTE, n + OVERHEAD);
    vigil__quarantine_put(&c->owner, p - HEAD, n + OVERHEAD, alloc, freed);
}

static void *debug_malloc(void *ctx, size_t n)
{
    const struct debug_ctx *c = ctx;
    if (n > MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *base = c->owner.inner.malloc(c->owner.inner.ctx, n + OVERHEAD);
    if (!base) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *p = base + HEAD;
    /* The live map's word loads while the fill and the capture run. */
    _Atomic uint64_t *w = vigil__debug_live_word(p);
    fresh(p, n);
    seal(c, p, n, vigil__debug_origin_here(), w);
    return p;
}

static void *debug_calloc(void *ctx, size_t nelem, size_t elsize)
{
    const struct debug_ctx *c = ctx;
    size_t n;
    if (!vigil__calloc_size(nelem, elsize, &n))
        return NULL;
    if (n > MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    /* The inner calloc may get zeroed pages for free; the guards are
     * written over its zeros. */
    unsigned char *base = c->owner.inner.calloc(c->owner.inner.ctx, 1, n + OVERHEAD);
    if (!base) {
        errno = ENOMEM;
        return NULL;
    }
    seal(c, base + HEAD, n, vigil__debug_origin_here(), vigil__debug_live_word(base + HEAD));
    return base + HEAD;
}

/* The free of a block the fast check turned away: its size when it is
 * healthy after all, else SIZE_MAX (not ours, when only trying; or
 * reported). */
static __attribute__((noinline)) size_t free_refused(const struct debug_ctx *c,
                                                     const unsigned char *p, int try_only)
{
    size_t n;
    if (__builtin_expect(try_only, 0)) {
        vigil__call.free_try = 2;       /* not ours, or damaged: report.h */
        return SIZE_MAX;
    }
    if (!diagnose(c, p, VIGIL_OP_FREE, &n)) {
        vigil__debug_live_take(p);  /* reported: not again at exit */
        return SIZE_MAX;                /* a bad free does not free */
    }
    return n;
}

static void debug_free(void *ctx, void *ptr)
{
    const struct debug_ctx *c = ctx;
    unsigned char *p = ptr;
    size_t n;
    if (!p)
        return;
    _Atomic uint64_t *w = vigil__debug_live_word(p);  /* loaded while the header is */
    int try_only = vigil__call.free_try;
    if (try_only)
        vigil__call.free_try = 0;
    guards_open(p);
    /* n's address goes no further than the inline check: n stays in a
     * register. */
    if (!intact(c, p, &n) && (n = free_refused(c, p, try_only)) == SIZE_MAX)
        return;
    release(c, p, n, vigil__debug_origin_here(), w);
}

/* Shrinking keeps the block where it is, filling what it drops with 0xDD,
 * unless most of a big block would be wasted.  Growing always moves, as
 * under memcheck, so a pointer kept across realloc meets the quarantine. */
static int shrink_in_place(size_t old, size_t n)
{
    return n <= old && (old - n <= 4096 || n >= old / 2);
}

static void *debug_realloc(void *ctx, void *ptr, size_t n)
{
    const struct debug_ctx *c = ctx;
    unsigned char *p = ptr;
    size_t old;
    if (!p)
        return debug_malloc(ctx, n);
    guards_open(p);
    if (!intact(c, p, &old) && !diagnose(c, p, VIGIL_OP_REALLOC, &old)) {
        vigil__debug_live_take(p);
        errno = EINVAL;
        return NULL;                    /* the block is left as it was */
    }
    if (n > MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    /* The realloc is where the block it returns is allocated, and where
     * the one it moves from is freed. */
    struct vigil_origin here = vigil__debug_origin_here();
    if (shrink_in_place(old, n)) {
        /* Not checked while it is resealed; the one word for both. */
        _Atomic uint64_t *w = vigil__debug_live_word(p);
        vigil__debug_live_take_at(w, p);
        memset(p + n, VIGIL_DEADBYTE, old - n + TRAILER);
        seal(c, p, n, here, w);
        if (on_valgrind)                /* the dropped tail, past the guard */
            VIGIL_MEM_NOACCESS(p + n + TRAILER, old - n);
        return p;
    }
    unsigned char *base = c->owner.inner.malloc(c->owner.inner.ctx, n + OVERHEAD);
    if (!base) {
        errno = ENOMEM;
        return NULL;                    /* p is untouched and still valid */
    }
    unsigned char *q = base + HEAD;
    size_t keep = n < old ? n : old;
    memcpy(q, p, keep);
    fresh(q + keep, n - keep);
    seal(c, q, n, here, vigil__debug_live_word(q));
    release(c, p, old, here, vigil__debug_live_word(p));
    return q;
}

/* ---- making and taking apart ---- */

/* wrap_lock held: the context for (d, inner, query), shared when made
 * before; NULL when every slot is taken. */
static struct debug_ctx *wrapper_for(vigil_domain d, const vigil_allocator *inner,
                                     const struct vigil_block_query *query)
{
    unsigned n = atomic_load_explicit(&nwrappers, memory_order_relaxed);
    for (unsigned i = 0; i < n; i++)
        if (wrappers[i].domain == d && wrappers[i].owner.query == query &&
            vigil__same_table(&wrappers[i].owner.inner, inner))
            return &wrappers[i];
    if (n == MAX_WRAPPERS)
        return NULL;
    struct debug_ctx *c = &wrappers[n];
    unsigned char head[WORD];
    head[0] = vigil__debug_api_id(d);
    memset(head + 1, VIGIL_FORBIDDENBYTE, WORD - 1);
    memcpy(&c->head, head, WORD);
    c->owner.inner = *inner;
    c->owner.query = query;
    c->owner.prefetch = query ? query->prefetch : NULL;
    c->owner.api = head[0];
    c->domain = d;
    c->index = n;
    /* Published whole: known_usable() reads the slots without the lock. */
    atomic_store_explicit(&nwrappers, n + 1, memory_order_release);
    return c;
}

int vigil__debug_make(vigil_domain d, const vigil_allocator *inner,
                      const struct vigil_block_query *query, vigil_allocator *out)
{
    VIGIL_ASSERT(d == VIGIL_DOMAIN_RAW || d == VIGIL_DOMAIN_MEM || d == VIGIL_DOMAIN_OBJ);
    vigil__lock(&wrap_lock);
    struct debug_ctx *c = wrapper_for(d, inner, query);
    vigil__unlock(&wrap_lock);
    if (!c) {
        struct vigil_report r;
        vigil__report_init(&r);
        vigil__report_str(&r, "vigil: too many distinct allocators to wrap; the ");
        vigil__report_str(&r, vigil__diagnose_domain_name(d));
        vigil__report_str(&r, " domain is left without debug hooks\n");
        vigil__report_flush(&r);
        return 0;
    }
    *out = (vigil_allocator){ c, debug_malloc, debug_calloc, debug_realloc, debug_free };
    return 1;
}

int vigil__debug_unwrap(const vigil_allocator *a, vigil_allocator *inner)
{
    if (a->malloc != debug_malloc)
        return 0;
    uintptr_t c = (uintptr_t)a->ctx;
    if (c < (uintptr_t)wrappers || c >= (uintptr_t)(wrappers + MAX_WRAPPERS))
        return 0;
    if (inner)
        *inner = ((const struct debug_ctx *)a->ctx)->owner.inner;
    return 1;
}

int vigil__debug_block_size(const vigil_allocator *a, const void *ptr, size_t *n)
{
    if (!vigil__debug_unwrap(a, NULL))
        return 0;
    const struct debug_ctx *c = a->ctx;
    guards_open(ptr);
    int ok = intact(c, ptr, n);
    if (!ok) {
        /* The fast check turns away healthy blocks it cannot read cheaply
         * (a header in the page before); the slow one reads them safely. */
        struct vigil_view v;
        ok = vigil__diagnose(ptr, (int)c->domain, known_usable(ptr), &v) == VIGIL_HEALTHY;
        if (ok)
            *n = v.n;
    }
    if (ok)
        guards_close(ptr, *n);
    return ok;
}

int vigil__debug_check_block(const void *ptr, const void *caller)
{
    size_t n;
    if (!ptr)
        return 0;
    guards_open(ptr);
    vigil__caller = (void *)caller;     /* where the report's stack starts */
    int healthy = diagnose(NULL, ptr, VIGIL_OP_CHECK, &n);
    if (healthy)
        guards_close(ptr, n);
    return healthy ? 0 : 1;
}

void vigil__debug_dump_block(const void *ptr)
{
    guards_open(ptr);
    vigil__diagnose_dump(ptr, known_usable(ptr));
}

/* The check of every live block (debug_live.h), block by block: the one
 * free makes. */
static int check_live(unsigned owner, const unsigned char *p, enum vigil_debug_op op)
{
    const struct debug_ctx *c = &wrappers[owner];
    size_t n;
    guards_open(p);
    if (!intact(c, p, &n) && !diagnose(c, p, op, &n))
        return 1;
    guards_close(p, n);
    return 0;
}
