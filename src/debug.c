/*
 * debug.c - the debug hooks: a wrapper around any allocator that brackets
 * every block with guard bytes, fills new and freed memory with known
 * patterns, tags each block with the API that made it, and checks all of
 * that on free, on realloc and on demand.  Freed blocks wait in a quarantine
 * before they are really freed, so a write after free and a second free of
 * the same block are caught for certain rather than by luck.
 *
 * A debug block inside the block the wrapped allocator returns (S is
 * sizeof(size_t); p is what the application gets):
 *
 *   p-2S         p-S  p-S+1        p               p+n          p+n+S
 *   +------------+----+------------+---------------+------------+--------+
 *   | size n     | id | S-1 x 0xFD | n data bytes  | S x 0xFD   | serial |
 *   | big-endian |    |            | 0xCD when new |            | option |
 *   +------------+----+------------+---------------+------------+--------+
 *
 * The size is stored big-endian and the serial too, so both read as numbers
 * in a hex dump.  id is 'r', 'm' or 'o', the domain whose wrapper made the
 * block.  Freeing fills the whole block, header included, with 0xDD: that is
 * how a second free is told from a first, and how the quarantine tells that
 * nobody wrote to the block while it waited.  The data stays 16-byte aligned
 * because 2S is 16 on the 64-bit targets vigil supports.
 *
 * The common path (a healthy block) costs two memsets, a few compares and,
 * on free, one short critical section in the quarantine.  Everything that
 * finds a problem is on a slow path that reads memory only through
 * vigil__peek(), so a wild pointer cannot crash the check that diagnoses it.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"
#include "report.h"
#include "vigil/annotate.h"

#define WORD           sizeof(size_t)
#define HEAD           (2 * WORD)
#ifdef VIGIL_SERIALNO
#define TRAILER        (2 * WORD)
#else
#define TRAILER        WORD
#endif
#define OVERHEAD       (HEAD + TRAILER)

#define CLEANBYTE      0xCD
#define DEADBYTE       0xDD
#define FORBIDDENBYTE  0xFD
#define GUARD_WORD     ((size_t)-1 / 0xFF * FORBIDDENBYTE)
#define DEAD_WORD      ((size_t)-1 / 0xFF * DEADBYTE)
#define DEAD64         (UINT64_MAX / 0xFF * DEADBYTE)

/* The whole block must stay below PTRDIFF_MAX, like any other block. */
#define MAX_REQUEST    ((size_t)PTRDIFF_MAX - OVERHEAD)

/* The smallest page any target has: two addresses in one 4 KiB frame are in
 * one page whatever the real page size is. */
#define MIN_PAGE       ((uintptr_t)4096)

#if SIZE_MAX > 0xFFFFFFFFu
_Static_assert(HEAD % VIGIL_ALIGNMENT == 0, "the header must keep the data aligned");
#endif

/* ---- wrappers ---- */

struct debug_ctx {
    vigil_allocator inner;
    size_t head;                /* API id then S-1 guard bytes, in memory order */
    vigil_domain domain;
    unsigned char api;
    int over_arena;             /* inner is the arena allocator */
};

/* Wrapper contexts are never freed: a block may outlive the wrapper that made
 * it (the application restores another table), and the quarantine still
 * frees it through that wrapper's inner allocator.  Identical wrappers are
 * shared, so only distinct inner tables use up slots. */
#define MAX_WRAPPERS 64
static struct debug_ctx wrappers[MAX_WRAPPERS];
static unsigned nwrappers;
static pthread_mutex_t wrap_lock = PTHREAD_MUTEX_INITIALIZER;

static const unsigned char api_ids[3] = { 'r', 'm', 'o' };
static const char *const api_names[3] = { "raw", "mem", "obj" };

/* Configuration, copied when the first wrapper is made, before any wrapper
 * can run: the hot paths then need no call into config.c. */
static size_t quarantine_limit;
static int on_valgrind;
#ifdef VIGIL_SERIALNO
static unsigned long long break_serial;
static _Atomic unsigned long long serialno;
#endif

static int domain_of(unsigned char id)
{
    for (int d = 0; d < 3; d++)
        if (api_ids[d] == id)
            return d;
    return -1;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && SIZE_MAX == UINT64_MAX
#define to_be(v) __builtin_bswap64(v)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && SIZE_MAX == UINT32_MAX
#define to_be(v) __builtin_bswap32(v)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define to_be(v) (v)
#else
#error "unknown byte order"
#endif

static inline void put_be(unsigned char *d, size_t v)
{
    v = to_be(v);
    memcpy(d, &v, WORD);
}

static inline size_t get_be(const unsigned char *s)
{
    size_t v;
    memcpy(&v, s, WORD);
    return to_be(v);
}

/* Write everything around the n data bytes at p but the data itself. */
static inline void seal(const struct debug_ctx *c, unsigned char *p, size_t n)
{
    size_t guard = GUARD_WORD;
    put_be(p - HEAD, n);
    memcpy(p - WORD, &c->head, WORD);
    memcpy(p + n, &guard, WORD);
#ifdef VIGIL_SERIALNO
    unsigned long long s = atomic_fetch_add_explicit(&serialno, 1, memory_order_relaxed) + 1;
    put_be(p + n + WORD, (size_t)s);
    if (s == break_serial)
        raise(SIGTRAP);
#endif
    /* Under memcheck the header and the tail guard are no-access to the
     * program: a read or write of them is reported where it happens. */
    if (on_valgrind) {
        VIGIL_MEM_NOACCESS(p - HEAD, HEAD);
        VIGIL_MEM_NOACCESS(p + n, TRAILER);
    }
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
        size_t n = get_be(head);
        if (n <= MAX_REQUEST)
            VIGIL_MEM_DEFINED(p + n, TRAILER);
    }
}

/* Valgrind would take the 0xCD fill for initialised data; the bytes keep the
 * pattern for the debugger but stay undefined for memcheck. */
static inline void fresh(unsigned char *p, size_t n)
{
    memset(p, CLEANBYTE, n);
    if (on_valgrind)
        VIGIL_MEM_UNDEFINED(p, n);
}

/* ---- calling the wrapped allocator ---- */

/* Set while a wrapper whose inner allocator is the arena calls it.  The
 * arena hands requests above VIGIL_SMALL_MAX (and their frees) to the raw
 * domain, whose own debug wrapper must pass that one call straight through:
 * the block is already guarded by the outer wrapper, and guarding it twice
 * would fill and check it twice and hold it in the quarantine twice.  The
 * call is recognised by its exact size or pointer, so anything else the
 * arena may call meanwhile (stdio, under LD_PRELOAD) is guarded as usual. */
static __attribute__((tls_model("initial-exec"))) _Thread_local size_t arena_size;
static __attribute__((tls_model("initial-exec"))) _Thread_local const void *arena_ptr;

static inline void *inner_malloc(const struct debug_ctx *c, size_t size)
{
    if (!c->over_arena)
        return c->inner.malloc(c->inner.ctx, size);
    arena_size = size;
    void *p = c->inner.malloc(c->inner.ctx, size);
    arena_size = 0;
    return p;
}

static inline void *inner_calloc(const struct debug_ctx *c, size_t size)
{
    if (!c->over_arena)
        return c->inner.calloc(c->inner.ctx, 1, size);
    arena_size = size;
    void *p = c->inner.calloc(c->inner.ctx, 1, size);
    arena_size = 0;
    return p;
}

static inline void inner_free(const struct debug_ctx *c, void *base)
{
    if (!c->over_arena) {
        c->inner.free(c->inner.ctx, base);
        return;
    }
    arena_ptr = base;
    c->inner.free(c->inner.ctx, base);
    arena_ptr = NULL;
}

/* ---- the fast check ---- */

/* The header is intact but the tail lies in another 4 KiB frame: may it be
 * read directly?  Only a damaged size field could make it unmapped. */
static __attribute__((noinline)) int tail_reachable(const struct debug_ctx *c,
                                                    const unsigned char *base, uintptr_t end)
{
    /* Arena blocks never straddle a pool, and pools are page-aligned.  Only
     * a wrapper over the arena asks: the ownership check's read of a foreign
     * page is one memcheck would flag. */
    if (c->over_arena && vigil__arena_owns(base))
        return 0;
    /* The next frame belongs to the same inner block unless the size is
     * damaged by less than a page, which leaves the tail guard to catch it;
     * farther than that, ask the kernel. */
    uintptr_t first = (uintptr_t)base & ~(MIN_PAGE - 1);
    uintptr_t last = (end - 1) & ~(MIN_PAGE - 1);
    return last - first <= MIN_PAGE || vigil__mapped((const void *)(end - WORD), WORD);
}

/* 1, with *np set, when p is a healthy block of c's API that can be checked
 * without a probe: the header in p's page, the tail in reach.  0 sends the
 * caller to diagnose().  Exempt from ASan: for a wild pointer the header is
 * somebody else's memory, by design. */
VIGIL_NO_SANITIZE_ADDRESS
static inline int intact(const struct debug_ctx *c, const unsigned char *p, size_t *np)
{
    uintptr_t a = (uintptr_t)p;
    if ((a & (MIN_PAGE - 1)) < HEAD)
        return 0;
    size_t head, tail;
    memcpy(&head, p - WORD, WORD);
    if (head != c->head)
        return 0;
    size_t n = get_be(p - HEAD);
    if (n > MAX_REQUEST)
        return 0;
    uintptr_t end = a + n + WORD;
    if (end < a)
        return 0;
    if (((a - HEAD) ^ (end - 1)) >= MIN_PAGE && !tail_reachable(c, p - HEAD, end))
        return 0;
    memcpy(&tail, p + n, WORD);
    if (tail != GUARD_WORD)
        return 0;
    *np = n;
    return 1;
}

/* ---- the slow check: look at a pointer without trusting it ---- */

struct view {
    const unsigned char *p;
    int head_ok;                /* the header could be read */
    unsigned char head[HEAD];
    int domain;                 /* of the API id byte; -1 when it is none */
    int pad_guard;              /* the S-1 pad bytes are all 0xFD */
    int head_dead;              /* id and pad bytes are all 0xDD */
    int data_dead;              /* the S bytes at p are all 0xDD */
    size_t n;                   /* the size field */
    int size_ok;                /* n is plausible, so the tail was looked at */
    int tail_ok;                /* ... and could be read */
    unsigned char tail[TRAILER];
    int tail_guard;             /* the tail's guard bytes are all 0xFD */
};

/* A size whose tail may be looked for: in range and, when the block is in
 * an arena, within its size class (a size field hit by the previous block's
 * overflow usually fails this). */
static int plausible(const unsigned char *p, size_t n)
{
    if (n > MAX_REQUEST || (uintptr_t)p + n + TRAILER < (uintptr_t)p)
        return 0;
    const unsigned char *base = p - HEAD;
    /* The ownership check reads base's page, which look() just read; it is
     * skipped when no arena is in use, where memcheck would flag that read. */
    if (vigil__arena_in_use() && vigil__arena_owns(base)) {
        uint32_t cls;
        if (!vigil__peek(&cls, &vigil__pool_of(base)->cls, sizeof cls) ||
            cls >= VIGIL_NB_CLASSES)
            return 0;
        return n + OVERHEAD <= vigil__class_size(cls);
    }
    return 1;
}

static void look(const unsigned char *p, struct view *v)
{
    memset(v, 0, sizeof *v);
    v->p = p;
    v->domain = -1;
    unsigned char first[WORD];
    v->data_dead = vigil__peek(first, p, WORD);
    for (size_t i = 0; v->data_dead && i < WORD; i++)
        v->data_dead = first[i] == DEADBYTE;
    if ((uintptr_t)p < HEAD || !vigil__peek(v->head, p - HEAD, HEAD))
        return;
    v->head_ok = 1;
    v->domain = domain_of(v->head[WORD]);
    v->pad_guard = 1;
    v->head_dead = v->head[WORD] == DEADBYTE;
    for (size_t i = WORD + 1; i < HEAD; i++) {
        v->pad_guard &= v->head[i] == FORBIDDENBYTE;
        v->head_dead &= v->head[i] == DEADBYTE;
    }
    v->n = get_be(v->head);
    v->size_ok = plausible(p, v->n);
    if (v->size_ok && vigil__peek(v->tail, p + v->n, TRAILER)) {
        v->tail_ok = 1;
        v->tail_guard = 1;
        for (size_t i = 0; i < WORD; i++)
            v->tail_guard &= v->tail[i] == FORBIDDENBYTE;
    }
}

enum verdict { HEALTHY, OVERFLOW, UNDERFLOW, MISMATCH, DOUBLE_FREE, INVALID };

static const char *const verdict_names[] = {
    "healthy", "buffer overflow", "buffer underflow", "API mismatch",
    "double free", "invalid free",
};

/* want: the domain the block is freed through, -1 for any. */
static enum verdict classify(const struct view *v, int want)
{
    if (!v->head_ok)
        return INVALID;
    if (v->head_dead)
        return DOUBLE_FREE;
    int tail_intact = v->size_ok && v->tail_ok && v->tail_guard;
    if (v->domain >= 0 && v->pad_guard) {
        /* A damaged size field is damage in front of the data too. */
        if (!v->size_ok || !v->tail_ok)
            return UNDERFLOW;
        if (!v->tail_guard)
            return OVERFLOW;
        if (want >= 0 && v->domain != want)
            return MISMATCH;
        return HEALTHY;
    }
    /* The inner allocator may keep its free-list links where the header
     * was (glibc's tcache puts a random key where the API id was, which is
     * 'r', 'm' or 'o' one time in 85); the data of a freed block still says
     * 0xDD, and its tail no longer holds a guard. */
    if (v->data_dead && !tail_intact)
        return DOUBLE_FREE;
    /* Damage in front of the data: the pad bytes, or further, up to the id
     * byte, where the size must still lead to an intact tail, which a random
     * pointer's "size" would not.  A plausible id byte in front of an absurd
     * size is a foreign block (ASan's chunk header reads so), not damage: a
     * write running backwards from the data reaches the id before the size. */
    if (tail_intact || (v->domain >= 0 && v->size_ok))
        return UNDERFLOW;
    return INVALID;
}

/* ---- the quarantine ---- */

struct qentry {
    unsigned char *base;
    size_t total;
    const struct debug_ctx *ctx;
};

/* The shared FIFO: a ring of entries in memory from mmap, not from any
 * domain: the domains are what is being debugged, and one of them may be
 * the caller.  The lock also guards the batch registry below. */
static struct {
    pthread_mutex_t lock;
    struct qentry *ring;
    size_t cap;                 /* a power of two */
    size_t head;                /* the oldest entry */
    size_t count;
    size_t bytes;
    int closed;                 /* drained at exit: free directly from now on */
} q = { PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0, 0, 0 };

/* A free does not take that lock: it appends the block to its thread's
 * batch, with no lock and no atomic (a locked instruction would also wait
 * for the 0xDD fill just written to reach the cache).  A full batch -
 * QBATCH blocks or batch_limit bytes - moves into the ring under the lock,
 * and the oldest blocks of the ring leave it in the same critical section.
 * So the lock is taken once per QBATCH frees, the FIFO order is kept per
 * thread, and the quarantine holds at most batch_limit bytes per thread
 * beyond its limit.
 *
 * The blocks that left the ring are not checked and freed there and then,
 * in a burst, but one per free in the following frees (out[]), each
 * prefetched a few frees ahead: a block that left has not been touched for
 * a whole quarantine, and a burst would wait for memory at every start.
 *
 * A block in a batch is quarantined like one in the ring: it holds 0xDD,
 * the double-free lookup finds it, and it is checked when it leaves and at
 * exit.  Only the owner thread touches its batch.  Batches come from mmap
 * and are never unmapped: a thread's destructor moves its batch's blocks to
 * the ring and puts the batch on the spare list for the next new thread; a
 * forked child puts the dead threads' batches there with their blocks in
 * them.  Other threads read only spare batches, under the lock. */
#define QBATCH 32

struct qbatch {
    unsigned n;                 /* e[0..n): blocks freed, oldest first */
    unsigned out_next, out_end; /* out[out_next..out_end): leaving, oldest first */
    size_t bytes;               /* in e */
    struct qbatch *next, *prev; /* the registry (lock held) */
    struct qentry e[QBATCH];
    struct qentry out[2 * QBATCH];
};

static __attribute__((tls_model("initial-exec"))) _Thread_local struct qbatch *my_batch;
static struct qbatch *batches;          /* owned by live threads (lock held) */
static struct qbatch *spare_batches;    /* left by exited threads (lock held) */
/* A thread with no batch of its own gets this one: always full, so every
 * free takes the locked path.  Never written. */
static struct qbatch qbatch_off = { .n = QBATCH };
static pthread_key_t batch_key;
static int batch_key_ok;
static size_t batch_limit;

static atomic_int q_atexit;

#define EVICT_BATCH 16

/* The check of a block leaving the quarantine reads every byte, on every
 * free: it is the largest piece of the debug hooks' cost.  It XORs the
 * block with the pattern a word vector at a time and ORs the results into
 * one accumulator: one load of the block (memcmp against a buffer of 0xDD
 * loads two), no branch per vector, one test at the end.  Where the bad
 * byte is, the rare failing block is searched for byte by byte. */
#define DEFINE_ALL_DEAD(name, bytes, attr)                                    \
    typedef uint64_t name##_vec __attribute__((vector_size(bytes)));          \
    attr static int name(const unsigned char *p, size_t n)                    \
    {                                                                         \
        const name##_vec dead = (name##_vec){ 0 } + DEAD64;                   \
        name##_vec acc = { 0 }, a, b;                                         \
        if (n < bytes) {                                                      \
            uint64_t w, x = 0;                                                \
            size_t i = 0;                                                     \
            for (; i + 8 <= n; i += 8) {                                      \
                memcpy(&w, p + i, 8);                                         \
                x |= w ^ DEAD64;                                              \
            }                                                                 \
            for (; i < n; i++)                                                \
                x |= p[i] ^ DEADBYTE;                                         \
            return x == 0;                                                    \
        }                                                                     \
        /* Four vectors a turn, then whole vectors, then a last one that   \
         * overlaps the one before. */                                      \
        size_t i = 0;                                                         \
        for (; i + 4 * bytes <= n; i += 4 * bytes) {                          \
            name##_vec c, d;                                                  \
            memcpy(&a, p + i, bytes);                                         \
            memcpy(&b, p + i + bytes, bytes);                                 \
            memcpy(&c, p + i + 2 * bytes, bytes);                             \
            memcpy(&d, p + i + 3 * bytes, bytes);                             \
            acc |= ((a ^ dead) | (b ^ dead)) | ((c ^ dead) | (d ^ dead));     \
        }                                                                     \
        for (; i + bytes <= n; i += bytes) {                                  \
            memcpy(&a, p + i, bytes);                                         \
            acc |= a ^ dead;                                                  \
        }                                                                     \
        memcpy(&a, p + n - bytes, bytes);                                     \
        acc |= a ^ dead;                                                      \
        uint64_t x = 0;                                                       \
        for (size_t k = 0; k < bytes / 8; k++)                                \
            x |= acc[k];                                                      \
        return x == 0;                                                        \
    }

DEFINE_ALL_DEAD(all_dead_16, 16, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DEFINE_ALL_DEAD(all_dead_32, 32, __attribute__((target("avx2"))))
#endif

/* Chosen with the configuration: AVX2 where the processor has it. */
static int (*all_dead)(const unsigned char *p, size_t n) = all_dead_16;

static void choose_all_dead(void)
{
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2"))
        all_dead = all_dead_32;
#endif
}

/* Offset of the first byte of [p, p+n) that is not DEADBYTE, or n. */
static size_t first_not_dead(const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != DEADBYTE)
            return k;
    return n;
}

static void first_line(struct vigil_report *r, const char *error, const unsigned char *p)
{
    vigil__report_init(r);
    vigil__report_str(r, "vigil: ");
    vigil__report_str(r, error);
    vigil__report_str(r, " on block ");
    vigil__report_hex(r, (uintptr_t)p);
    vigil__report_str(r, " (");
}

static void size_and_api(struct vigil_report *r, size_t n, unsigned char api)
{
    vigil__report_dec(r, n);
    vigil__report_str(r, n == 1 ? " byte, API '" : " bytes, API '");
    vigil__report_char(r, (char)api);
    vigil__report_str(r, "')\n");
}

/* "p+12" / "p-3": where a byte lies relative to the data. */
static void offset(struct vigil_report *r, long long off)
{
    vigil__report_str(r, off < 0 ? "p-" : "p+");
    vigil__report_dec(r, off < 0 ? 0ULL - (unsigned long long)off : (unsigned long long)off);
}

static void hex_bytes(struct vigil_report *r, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vigil__report_char(r, ' ');
        vigil__report_byte(r, b[i]);
    }
}

static void caller_line(struct vigil_report *r, const char *api_fn, const void *caller)
{
    vigil__report_str(r, "    in ");
    vigil__report_str(r, api_fn);
    vigil__report_str(r, ", called from ");
    vigil__report_address(r, caller);
    vigil__report_char(r, '\n');
}

/* A block that left the quarantine was written to: say where.  The fast
 * check (all_dead) is the caller's; this is the rare slow path. */
static __attribute__((noinline, cold)) void report_freed(const struct qentry *e,
                                                          const void *caller, int at_exit)
{
    size_t bad = first_not_dead(e->base, e->total);
    if (bad == e->total)
        return;
    size_t changed = 0;
    for (size_t i = bad; i < e->total; i++)
        changed += e->base[i] != DEADBYTE;
    const unsigned char *p = e->base + HEAD;
    long long off = (long long)bad - (long long)HEAD;
    struct vigil_report r;
    first_line(&r, "use after free", p);
    size_and_api(&r, e->total - OVERHEAD, e->ctx->api);
    vigil__report_str(&r, "    byte ");
    vigil__report_sdec(&r, off);
    vigil__report_str(&r, " of the freed block was changed (at ");
    vigil__report_hex(&r, (uintptr_t)(e->base + bad));
    vigil__report_str(&r, ": 0x");
    vigil__report_byte(&r, e->base[bad]);
    vigil__report_str(&r, ", freed blocks hold 0xdd); ");
    vigil__report_dec(&r, changed);
    vigil__report_str(&r, changed == 1 ? " byte changed in all\n" : " bytes changed in all\n");
    /* Sixteen bytes from the word holding the first change. */
    size_t from = bad & ~(size_t)(WORD - 1);
    size_t len = e->total - from < 16 ? e->total - from : 16;
    vigil__report_str(&r, "    bytes at ");
    offset(&r, (long long)from - (long long)HEAD);
    vigil__report_char(&r, ':');
    hex_bytes(&r, e->base + from, len);
    vigil__report_char(&r, '\n');
    if (at_exit) {
        vigil__report_str(&r, "    found at exit, when the quarantine was checked\n");
    } else {
        vigil__report_str(&r, "    found when the block left the quarantine, in a call from ");
        vigil__report_address(&r, caller);
        vigil__report_char(&r, '\n');
    }
    vigil__report_error(&r);
}

/* The block is checked and really freed whatever the check found: it was
 * freed correctly; the write after free is the bug being reported. */
static inline void evict(const struct qentry *e, const void *caller, int at_exit)
{
    if (on_valgrind)
        VIGIL_MEM_DEFINED(e->base, e->total);
    if (__builtin_expect(!all_dead(e->base, e->total), 0))
        report_freed(e, caller, at_exit);
    inner_free(e->ctx, e->base);
}

/* A block about to leave has been out of the cache for a long while: load
 * it, and the pool header the arena's free will read, before its turn.  A
 * fixed cap, not the whole of a big block: the check streams through it. */
static inline void prefetch_block(const struct qentry *e)
{
    const unsigned char *p = e->base;
    size_t n = e->total < 512 ? e->total : 512;
    for (size_t off = 0; off < n; off += 64)
        __builtin_prefetch(p + off);
    __builtin_prefetch(p + n - 1);
    if (e->ctx->over_arena)
        __builtin_prefetch(vigil__pool_of(p));
}

/* How many blocks ahead of its check a block is prefetched: enough to
 * cover a miss to memory, few enough to stay within the fill buffers. */
#define PREFETCH_AHEAD 4

/* Check and free blocks that left the quarantine.  Outside the lock: the
 * inner free takes its own lock, and may come back here (the arena hands
 * large blocks to raw). */
static void evict_all(const struct qentry *out, size_t n, const void *caller, int at_exit)
{
    for (size_t i = 0; i < n && i < PREFETCH_AHEAD; i++)
        prefetch_block(&out[i]);
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n)
            prefetch_block(&out[i + PREFETCH_AHEAD]);
        evict(&out[i], caller, at_exit);
    }
}

/* Lock held. */
static int q_grow(void)
{
    size_t ncap = q.cap ? 2 * q.cap : 1024;
    struct qentry *ring = mmap(NULL, ncap * sizeof *ring, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ring == MAP_FAILED)
        return 0;
    for (size_t i = 0; i < q.count; i++)
        ring[i] = q.ring[(q.head + i) & (q.cap - 1)];
    if (q.ring)
        munmap(q.ring, q.cap * sizeof *q.ring);
    q.ring = ring;
    q.cap = ncap;
    q.head = 0;
    return 1;
}

/* Lock held. */
static inline struct qentry q_pop(void)
{
    struct qentry e = q.ring[q.head];
    q.head = (q.head + 1) & (q.cap - 1);
    q.count--;
    q.bytes -= e.total;
    return e;
}

/* Lock held: append in[0..nin) to the ring.  What cannot wait there (the
 * exit check is done, or no memory for a bigger ring) goes to out, to be
 * checked and freed at once; returns how many did. */
static size_t q_append(const struct qentry *in, size_t nin, struct qentry *out)
{
    size_t k = 0;
    if (!q.closed) {
        while (q.cap - q.count < nin && q_grow())
            ;
        k = q.cap - q.count < nin ? q.cap - q.count : nin;
    }
    if (k) {
        size_t tail = (q.head + q.count) & (q.cap - 1);
        size_t first = q.cap - tail < k ? q.cap - tail : k;
        memcpy(q.ring + tail, in, first * sizeof *in);
        memcpy(q.ring, in + first, (k - first) * sizeof *in);
        q.count += k;
        for (size_t i = 0; i < k; i++)
            q.bytes += in[i].total;
    }
    memcpy(out, in + k, (nin - k) * sizeof *in);
    return nin - k;
}

/* Check and free what is left of b's leaving blocks, now. */
static void batch_drain_out(struct qbatch *b, const void *caller, int at_exit)
{
    while (b->out_next < b->out_end) {
        /* Taken off the list before the inner free, which may come back. */
        struct qentry e = b->out[b->out_next++];
        evict(&e, caller, at_exit);
    }
}

/* Check and free the next leaving block of b; prefetch a later one. */
static inline void batch_evict_one(struct qbatch *b, const void *caller)
{
    unsigned i = b->out_next++;
    if (i + PREFETCH_AHEAD < b->out_end)
        prefetch_block(&b->out[i + PREFETCH_AHEAD]);
    struct qentry e = b->out[i];
    evict(&e, caller, 0);
}

/* Move nin entries into the ring; the blocks that leave it are checked
 * and freed.  b, when given, is the caller's batch the entries come from:
 * emptied, and given the leaving blocks, which its next frees check one by
 * one.  Without b, or after the exit check, they are checked at once. */
static void q_move(const struct qentry *in, size_t nin, struct qbatch *b, const void *caller)
{
    struct qentry local[2 * QBATCH];
    struct qentry *out = local;
    if (b) {
        batch_drain_out(b, caller, 0);  /* rare: more left than came in */
        out = b->out;
    }
    pthread_mutex_lock(&q.lock);
    size_t nout = q_append(in, nin, out);
    /* Bounded work per call; a shortfall is made up by the next ones. */
    while (q.bytes > quarantine_limit && nout < 2 * QBATCH)
        out[nout++] = q_pop();
    int closed = q.closed;
    if (b) {
        b->n = 0;
        b->bytes = 0;
        b->out_next = 0;
        b->out_end = (unsigned)nout;
    }
    pthread_mutex_unlock(&q.lock);
    if (!b || closed) {
        evict_all(out, nout, caller, 0);
        if (b)
            b->out_next = b->out_end;
        return;
    }
    for (size_t i = 0; i < nout && i < PREFETCH_AHEAD; i++)
        prefetch_block(&out[i]);
}

/* Lock held: b leaves the registry for the spares, blocks and all. */
static void batch_to_spares(struct qbatch *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        batches = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = NULL;
    b->next = spare_batches;
    spare_batches = b;
}

static void batch_destructor(void *arg)
{
    struct qbatch *b = arg;
    my_batch = &qbatch_off;             /* later frees: the locked path */
    q_move(b->e, b->n, b, vigil__caller);
    batch_drain_out(b, vigil__caller, 0);
    pthread_mutex_lock(&q.lock);
    batch_to_spares(b);
    pthread_mutex_unlock(&q.lock);
}

static void quarantine_at_exit(void);

/* The calling thread's first free: a batch for it (a spare one, which may
 * hold blocks from a thread that did not survive a fork: they stay). */
static __attribute__((noinline)) struct qbatch *batch_claim(void)
{
    /* Registered outside the lock: atexit may allocate, and so come back. */
    if (!atomic_load_explicit(&q_atexit, memory_order_relaxed) &&
        !atomic_exchange_explicit(&q_atexit, 1, memory_order_relaxed))
        atexit(quarantine_at_exit);
    /* pthread_setspecific allocates for a key past the first 32, and under
     * the preload library that allocation may come back here: it must take
     * the locked path, not make a second batch. */
    my_batch = &qbatch_off;
    if (!batch_key_ok)
        return my_batch;
    pthread_mutex_lock(&q.lock);
    struct qbatch *b = spare_batches;
    if (b)
        spare_batches = b->next;
    else
        b = vigil__os_map(sizeof *b);
    if (b) {
        b->prev = NULL;
        b->next = batches;
        if (batches)
            batches->prev = b;
        batches = b;
    }
    pthread_mutex_unlock(&q.lock);
    if (b && pthread_setspecific(batch_key, b) != 0) {
        batch_destructor(b);
        b = NULL;
    }
    my_batch = b ? b : &qbatch_off;
    return my_batch;
}

static __attribute__((noinline)) void quarantine_put_slow(const struct debug_ctx *c,
                                                          unsigned char *base, size_t total)
{
    struct qbatch *b = my_batch ? my_batch : batch_claim();
    if (b != &qbatch_off) {
        b->e[b->n++] = (struct qentry){ base, total, c };
        b->bytes += total;
        if (b->out_next < b->out_end)
            batch_evict_one(b, vigil__caller);
        if (b->n == QBATCH || b->bytes > batch_limit)
            q_move(b->e, b->n, b, vigil__caller);
        return;
    }
    struct qentry e = { base, total, c };
    q_move(&e, 1, NULL, vigil__caller);
}

static void quarantine_put(const struct debug_ctx *c, unsigned char *base, size_t total)
{
    if (on_valgrind)
        VIGIL_MEM_NOACCESS(base, total);
    struct qbatch *b = my_batch;
    if (__builtin_expect(!b || b->n == QBATCH, 0)) {
        quarantine_put_slow(c, base, total);
        return;
    }
    b->e[b->n] = (struct qentry){ base, total, c };
    /* A forked child may find this thread stopped anywhere here: the entry
     * is whole before it is counted (x86 stores become visible in order). */
    atomic_signal_fence(memory_order_release);
    b->n++;
    b->bytes += total;
    if (b->out_next < b->out_end)
        batch_evict_one(b, vigil__caller);
    if (__builtin_expect(b->n == QBATCH || b->bytes > batch_limit, 0))
        q_move(b->e, b->n, b, vigil__caller);
}

/* Lock held: move a batch's blocks to out, up to room entries, the
 * leaving ones first. */
static size_t batch_take(struct qbatch *b, struct qentry *out, size_t room)
{
    size_t k = b->out_end - b->out_next < room ? b->out_end - b->out_next : room;
    memcpy(out, b->out + b->out_next, k * sizeof *out);
    b->out_next += (unsigned)k;
    out += k;
    room -= k;
    size_t taken = k;
    k = b->n < room ? b->n : room;
    memcpy(out, b->e + (b->n - k), k * sizeof *out);
    b->n -= (unsigned)k;
    for (size_t i = 0; i < k; i++)
        b->bytes -= out[i].total;
    return taken + k;
}

static void quarantine_at_exit(void)
{
    struct qbatch *own = my_batch != &qbatch_off ? my_batch : NULL;
    my_batch = &qbatch_off;             /* frees from here on: the locked path */
    for (;;) {
        struct qentry out[EVICT_BATCH];
        size_t nout = 0;
        pthread_mutex_lock(&q.lock);
        /* The exiting thread's batch, the spare ones, then the ring.  The
         * batches of threads still running are theirs until they flush. */
        if (own)
            nout = batch_take(own, out, EVICT_BATCH);
        for (struct qbatch *b = spare_batches; b && nout < EVICT_BATCH; b = b->next)
            nout += batch_take(b, out + nout, EVICT_BATCH - nout);
        while (q.count && nout < EVICT_BATCH)
            out[nout++] = q_pop();
        /* Frees from later exit handlers cannot be checked any more. */
        if (nout == 0)
            q.closed = 1;
        pthread_mutex_unlock(&q.lock);
        if (nout == 0)
            return;
        evict_all(out, nout, NULL, 1);
    }
}

static const struct qentry *batch_find(const struct qbatch *b, const unsigned char *base)
{
    for (unsigned i = 0; i < b->n; i++)
        if (b->e[i].base == base)
            return &b->e[i];
    for (unsigned i = b->out_next; i < b->out_end; i++)
        if (b->out[i].base == base)
            return &b->out[i];
    return NULL;
}

/* The entry of a block still in the quarantine, for a double free report:
 * in this thread's batch, a spare one, or the ring.  A block in another
 * running thread's batch is not looked for (that batch is its owner's
 * alone); the report then says less, but it is still a double free. */
static int quarantine_find(const unsigned char *base, struct qentry *found)
{
    const struct qentry *e = NULL;
    if (my_batch && my_batch != &qbatch_off && (e = batch_find(my_batch, base))) {
        *found = *e;
        return 1;
    }
    pthread_mutex_lock(&q.lock);
    for (struct qbatch *b = spare_batches; b && !e; b = b->next)
        e = batch_find(b, base);
    for (size_t i = 0; i < q.count && !e; i++)
        if (q.ring[(q.head + i) & (q.cap - 1)].base == base)
            e = &q.ring[(q.head + i) & (q.cap - 1)];
    if (e)
        *found = *e;
    pthread_mutex_unlock(&q.lock);
    return e != NULL;
}

static void quarantine_prepare(void) { pthread_mutex_lock(&q.lock); }
static void quarantine_parent(void) { pthread_mutex_unlock(&q.lock); }
/* Only the forking thread lives on in the child: the other threads'
 * batches become spare ones, their blocks still in them, checked at exit
 * or after the next new thread takes the batch over. */
static void quarantine_child(void)
{
    for (struct qbatch *b = batches, *next; b; b = next) {
        next = b->next;
        if (b == my_batch)
            continue;
        batch_to_spares(b);
    }
    pthread_mutex_unlock(&q.lock);
}

/* The block passed its checks: fill it and hand it on. */
static void release(const struct debug_ctx *c, unsigned char *base, size_t total)
{
    memset(base, DEADBYTE, total);
    if (total <= quarantine_limit) {
        quarantine_put(c, base, total);
        return;
    }
    inner_free(c, base);
}

/* ---- reports ---- */

enum op { OP_FREE, OP_REALLOC, OP_CHECK, OP_DUMP };

static void api_function(char *out, size_t size, int domain, enum op op)
{
    static const char *const ops[] = { "free", "realloc", "", "" };
    if (op == OP_CHECK || op == OP_DUMP || domain < 0) {
        const char *s = op == OP_DUMP ? "vigil_dump_block" : "vigil_check_block";
        strncpy(out, s, size - 1);
        out[size - 1] = '\0';
        return;
    }
    /* No snprintf: it may allocate, and the heap is suspect. */
    size_t len = 0;
    const char *parts[] = { "vigil_", api_names[domain], "_", ops[op] };
    for (size_t i = 0; i < 4; i++)
        for (const char *s = parts[i]; *s && len + 1 < size; s++)
            out[len++] = *s;
    out[len] = '\0';
}

static void bytes_line(struct vigil_report *r, const char *label, const unsigned char *at,
                       size_t n)
{
    unsigned char b[HEAD];
    if (n > sizeof b)
        n = sizeof b;
    vigil__report_str(r, label);
    if (vigil__peek(b, at, n))
        hex_bytes(r, b, n);
    else
        vigil__report_str(r, " (not readable)");
    vigil__report_char(r, '\n');
}

/* The pad bytes from p+from on, one line each when any is wrong. */
static void pad_lines(struct vigil_report *r, const unsigned char *pad, size_t n,
                      long long from, int good, const char *where)
{
    vigil__report_str(r, "    ");
    offset(r, from);
    vigil__report_str(r, ": the ");
    vigil__report_dec(r, n);
    vigil__report_str(r, " pad bytes ");
    vigil__report_str(r, where);
    if (good) {
        vigil__report_str(r, " are 0xfd, as expected\n");
        return;
    }
    vigil__report_str(r, " are not all 0xfd:\n");
    for (size_t i = 0; i < n; i++) {
        vigil__report_str(r, "        at ");
        offset(r, from + (long long)i);
        vigil__report_str(r, ": 0x");
        vigil__report_byte(r, pad[i]);
        if (pad[i] != FORBIDDENBYTE)
            vigil__report_str(r, " *** OUCH");
        vigil__report_char(r, '\n');
    }
}

static void data_line(struct vigil_report *r, const unsigned char *p, size_t n)
{
    unsigned char b[16];
    if (n == 0) {
        vigil__report_str(r, "    no data bytes\n");
        return;
    }
    vigil__report_str(r, "    data at p:");
    if (n <= 16) {
        if (vigil__peek(b, p, n))
            hex_bytes(r, b, n);
        else
            vigil__report_str(r, " (not readable)");
    } else {
        if (vigil__peek(b, p, 8) && vigil__peek(b + 8, p + n - 8, 8)) {
            hex_bytes(r, b, 8);
            vigil__report_str(r, " ...");
            hex_bytes(r, b + 8, 8);
        } else {
            vigil__report_str(r, " (not readable)");
        }
    }
    vigil__report_char(r, '\n');
}

/* In the spirit of CPython's _PyObject_DebugDumpAddress: everything about
 * the block that can be read, with the bad bytes pointed out. */
static void dump_view(struct vigil_report *r, const struct view *v)
{
    if (!v->head_ok) {
        vigil__report_str(r, "    p-");
        vigil__report_dec(r, HEAD);
        vigil__report_str(r, ": the header is not readable (not mapped)\n");
        bytes_line(r, "    bytes at p:", v->p, WORD);
        return;
    }
    vigil__report_str(r, "    p-");
    vigil__report_dec(r, HEAD);
    vigil__report_str(r, ": size field");
    hex_bytes(r, v->head, WORD);
    vigil__report_str(r, " = ");
    vigil__report_dec(r, v->n);
    vigil__report_str(r, v->size_ok ? " bytes requested\n" : " *** OUCH (not a plausible size)\n");

    unsigned char id = v->head[WORD];
    vigil__report_str(r, "    p-");
    vigil__report_dec(r, WORD);
    vigil__report_str(r, ": API id 0x");
    vigil__report_byte(r, id);
    if (v->domain >= 0) {
        vigil__report_str(r, " '");
        vigil__report_char(r, (char)id);
        vigil__report_str(r, "' (vigil_");
        vigil__report_str(r, api_names[v->domain]);
        vigil__report_str(r, "_*)\n");
    } else {
        vigil__report_str(r, " *** OUCH (not 'r', 'm' or 'o')\n");
    }
    pad_lines(r, v->head + WORD + 1, WORD - 1, -(long long)(WORD - 1), v->pad_guard,
              "before the data");

    if (!v->size_ok) {
        vigil__report_str(r, "    the tail was not read: the size field is not plausible\n");
        bytes_line(r, "    bytes at p:", v->p, WORD);
        return;
    }
    if (!v->tail_ok) {
        vigil__report_str(r, "    ");
        offset(r, (long long)v->n);
        vigil__report_str(r, ": the tail is not readable (not mapped)\n");
    } else {
        pad_lines(r, v->tail, WORD, (long long)v->n, v->tail_guard, "after the data");
    }
    data_line(r, v->p, v->n);
#ifdef VIGIL_SERIALNO
    if (v->tail_ok) {
        size_t s = get_be(v->tail + WORD);
        vigil__report_str(r, "    serial number ");
        vigil__report_dec(r, s);
        vigil__report_str(r, " (VIGIL_BREAK_SERIAL=");
        vigil__report_dec(r, s);
        vigil__report_str(r, " raises SIGTRAP when it is handed out)\n");
    }
#endif
}

/* Report what classify() found; returns only when VIGIL_ABORT=0. */
static void report(enum verdict vd, const struct view *v, const struct debug_ctx *c,
                   enum op op, const void *caller)
{
    struct vigil_report r;
    const unsigned char *p = v->p;
    char fn[32];
    api_function(fn, sizeof fn, c ? (int)c->domain : -1, op);
    first_line(&r, verdict_names[vd], p);

    struct qentry e;
    switch (vd) {
    case DOUBLE_FREE:
        if (quarantine_find(p - HEAD, &e)) {
            size_and_api(&r, e.total - OVERHEAD, e.ctx->api);
            vigil__report_str(&r, "    the block was freed before and is still in the quarantine, "
                                  "filled with 0xdd\n");
        } else {
            vigil__report_str(&r, "freed before: size and API no longer known)\n");
            vigil__report_str(&r, "    the block was freed before: it holds 0xdd, "
                                  "the fill of freed blocks\n");
        }
        bytes_line(&r, "    header at p-16:", p - HEAD, HEAD);
        bytes_line(&r, "    bytes at p:", p, WORD);
        break;
    case INVALID:
        vigil__report_str(&r, "not a vigil block)\n");
        if (!v->head_ok) {
            vigil__report_str(&r, "    the header before it is not readable (not mapped)\n");
        } else {
            vigil__report_str(&r, "    the bytes before it are not a debug block header "
                                  "(size, API id, 0xfd pad):\n");
            vigil__report_str(&r, "    header at p-16:");
            hex_bytes(&r, v->head, HEAD);
            vigil__report_char(&r, '\n');
        }
        if ((uintptr_t)p % VIGIL_ALIGNMENT)
            vigil__report_str(&r, "    the address is not 16-byte aligned: not the start of a block\n");
        break;
    default:
        if (v->domain >= 0 && v->size_ok) {
            size_and_api(&r, v->n, api_ids[v->domain]);
        } else if (v->domain >= 0) {
            vigil__report_str(&r, "size field damaged, API '");
            vigil__report_char(&r, (char)api_ids[v->domain]);
            vigil__report_str(&r, "')\n");
        } else {
            vigil__report_dec(&r, v->n);
            vigil__report_str(&r, " bytes, API id damaged)\n");
        }
        if (vd == MISMATCH) {
            char freed[32];
            api_function(freed, sizeof freed, c->domain, op);
            vigil__report_str(&r, "    allocated with vigil_");
            vigil__report_str(&r, api_names[v->domain]);
            vigil__report_str(&r, "_malloc, ");
            vigil__report_str(&r, op == OP_REALLOC ? "reallocated" : "freed");
            vigil__report_str(&r, " with ");
            vigil__report_str(&r, freed);
            vigil__report_char(&r, '\n');
        } else if (vd == OVERFLOW) {
            vigil__report_str(&r, "    the bytes after the data were changed: "
                                  "a write past the end of the block\n");
        } else if (vd == UNDERFLOW) {
            vigil__report_str(&r, "    the bytes before the data were changed: a write "
                                  "before the start of the block (or past the end of the one before)\n");
        }
        dump_view(&r, v);
        break;
    }
    if (op == OP_CHECK)
        vigil__report_str(&r, "    found by vigil_check_block: this is what freeing the "
                              "block now would report\n");
    caller_line(&r, fn, caller);
    vigil__report_error(&r);
}

/* The slow path of free, realloc and vigil_check_block: 1, with *np set,
 * when the block is healthy after all; 0 after a report (VIGIL_ABORT=0). */
static int diagnose(const struct debug_ctx *c, const unsigned char *p, enum op op,
                    const void *caller, size_t *np)
{
    int saved = errno;
    struct view v;
    look(p, &v);
    enum verdict vd = classify(&v, c ? (int)c->domain : -1);
    if (vd == HEALTHY) {
        *np = v.n;
        errno = saved;
        return 1;
    }
    report(vd, &v, c, op, caller);
    errno = saved;
    return 0;
}

/* ---- the wrapper's functions ---- */

static void *debug_malloc(void *ctx, size_t n)
{
    const struct debug_ctx *c = ctx;
    if (__builtin_expect(arena_size == n, 0) && n) {
        arena_size = 0;
        return c->inner.malloc(c->inner.ctx, n);
    }
    if (n > MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *base = inner_malloc(c, n + OVERHEAD);
    if (!base) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned char *p = base + HEAD;
    fresh(p, n);
    seal(c, p, n);
    return p;
}

static void *debug_calloc(void *ctx, size_t nelem, size_t elsize)
{
    const struct debug_ctx *c = ctx;
    size_t n;
    if (__builtin_mul_overflow(nelem, elsize, &n) || n > MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (__builtin_expect(arena_size == n, 0) && n) {
        arena_size = 0;
        return c->inner.calloc(c->inner.ctx, nelem, elsize);
    }
    /* The inner calloc may get zeroed pages for free; the guards are
     * written over its zeros. */
    unsigned char *base = inner_calloc(c, n + OVERHEAD);
    if (!base) {
        errno = ENOMEM;
        return NULL;
    }
    seal(c, base + HEAD, n);
    return base + HEAD;
}

static void debug_free(void *ctx, void *ptr)
{
    const struct debug_ctx *c = ctx;
    unsigned char *p = ptr;
    size_t n;
    if (!p)
        return;
    if (__builtin_expect(arena_ptr == p, 0)) {
        arena_ptr = NULL;
        c->inner.free(c->inner.ctx, ptr);
        return;
    }
    guards_open(p);
    if (!intact(c, p, &n) && !diagnose(c, p, OP_FREE, vigil__caller, &n))
        return;                         /* a bad free does not free */
    release(c, p - HEAD, n + OVERHEAD);
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
    if (!intact(c, p, &old) && !diagnose(c, p, OP_REALLOC, vigil__caller, &old)) {
        errno = EINVAL;
        return NULL;                    /* the block is left as it was */
    }
    if (n > MAX_REQUEST) {
        errno = ENOMEM;
        return NULL;
    }
    if (shrink_in_place(old, n)) {
        memset(p + n, DEADBYTE, old - n + TRAILER);
        seal(c, p, n);
        if (on_valgrind)                /* the dropped tail, past the guard */
            VIGIL_MEM_NOACCESS(p + n + TRAILER, old - n);
        return p;
    }
    unsigned char *base = inner_malloc(c, n + OVERHEAD);
    if (!base) {
        errno = ENOMEM;
        return NULL;                    /* p is untouched and still valid */
    }
    unsigned char *q = base + HEAD;
    size_t keep = n < old ? n : old;
    memcpy(q, p, keep);
    fresh(q + keep, n - keep);
    seal(c, q, n);
    release(c, p - HEAD, old + OVERHEAD);
    return q;
}

/* ---- installing ---- */

int vigil__debug_unwrap(const vigil_allocator *a, vigil_allocator *inner)
{
    if (a->malloc != debug_malloc)
        return 0;
    uintptr_t c = (uintptr_t)a->ctx;
    if (c < (uintptr_t)wrappers || c >= (uintptr_t)(wrappers + MAX_WRAPPERS))
        return 0;
    if (inner)
        *inner = ((const struct debug_ctx *)a->ctx)->inner;
    return 1;
}

int vigil__debug_block_size(const vigil_allocator *a, const void *ptr, size_t *n)
{
    if (!vigil__debug_unwrap(a, NULL))
        return 0;
    guards_open(ptr);
    int ok = intact(a->ctx, ptr, n);
    if (ok && on_valgrind) {
        VIGIL_MEM_NOACCESS((const unsigned char *)ptr - HEAD, HEAD);
        VIGIL_MEM_NOACCESS((const unsigned char *)ptr + *n, TRAILER);
    }
    return ok;
}

static int same_table(const vigil_allocator *a, const vigil_allocator *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

/* wrap_lock held. */
static struct debug_ctx *wrapper_for(vigil_domain d, const vigil_allocator *inner)
{
    for (unsigned i = 0; i < nwrappers; i++)
        if (wrappers[i].domain == d && same_table(&wrappers[i].inner, inner))
            return &wrappers[i];
    if (nwrappers == MAX_WRAPPERS)
        return NULL;
    struct debug_ctx *c = &wrappers[nwrappers++];
    unsigned char head[WORD];
    head[0] = api_ids[d];
    memset(head + 1, FORBIDDENBYTE, WORD - 1);
    memcpy(&c->head, head, WORD);
    c->inner = *inner;
    c->domain = d;
    c->api = api_ids[d];
    c->over_arena = same_table(inner, &vigil__arena_allocator);
    return c;
}

void vigil__debug_wrap(vigil_domain d)
{
    if (d != VIGIL_DOMAIN_RAW && d != VIGIL_DOMAIN_MEM && d != VIGIL_DOMAIN_OBJ)
        return;
    static int configured;
    pthread_mutex_lock(&wrap_lock);
    if (!configured) {
        const struct vigil_config *cfg = vigil__config();
        quarantine_limit = cfg->quarantine;
        on_valgrind = cfg->running_on_valgrind;
#ifdef VIGIL_SERIALNO
        break_serial = cfg->break_serial;
#endif
        choose_all_dead();
        /* A batch holds a sixteenth of the quarantine at most, so a few
         * threads do not hold much beyond the limit; 64 KiB is far more
         * than QBATCH small blocks need. */
        batch_limit = quarantine_limit / 16 < 65536 ? quarantine_limit / 16 : 65536;
        batch_key_ok = pthread_key_create(&batch_key, batch_destructor) == 0;
        pthread_atfork(quarantine_prepare, quarantine_parent, quarantine_child);
        configured = 1;
    }
    vigil_allocator cur;
    vigil_get_allocator(d, &cur);
    struct debug_ctx *c = NULL;
    if (!vigil__debug_unwrap(&cur, NULL)) {
        c = wrapper_for(d, &cur);
        if (c) {
            vigil_allocator w = { c, debug_malloc, debug_calloc, debug_realloc, debug_free };
            vigil_set_allocator(d, &w);
        }
    } else {
        c = cur.ctx;
    }
    pthread_mutex_unlock(&wrap_lock);
    if (!c) {
        struct vigil_report r;
        vigil__report_init(&r);
        vigil__report_str(&r, "vigil: too many distinct allocators to wrap; the ");
        vigil__report_str(&r, api_names[d]);
        vigil__report_str(&r, " domain is left without debug hooks\n");
        vigil__report_flush(&r);
    }
}

/* ---- the public debug API ---- */

void vigil_setup_debug_hooks(void)
{
    vigil__ensure_init();
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
        vigil__debug_wrap((vigil_domain)d);
}

int vigil_check_block(const void *ptr)
{
    size_t n;
    if (!ptr)
        return 0;
    guards_open(ptr);
    int healthy = diagnose(NULL, ptr, OP_CHECK, __builtin_return_address(0), &n);
    if (healthy && on_valgrind) {
        VIGIL_MEM_NOACCESS((const unsigned char *)ptr - HEAD, HEAD);
        VIGIL_MEM_NOACCESS((const unsigned char *)ptr + n, TRAILER);
    }
    return healthy ? 0 : 1;
}

void vigil_dump_block(const void *ptr)
{
    struct view v;
    struct vigil_report r;
    const unsigned char *p = ptr;
    guards_open(p);
    look(p, &v);
    enum verdict vd = classify(&v, -1);
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: block ");
    vigil__report_hex(&r, (uintptr_t)p);
    vigil__report_str(&r, " (");
    if (vd == HEALTHY || (v.domain >= 0 && v.size_ok)) {
        size_and_api(&r, v.n, api_ids[v.domain]);
    } else if (vd == DOUBLE_FREE) {
        vigil__report_str(&r, "freed: it holds 0xdd)\n");
    } else if (vd == INVALID) {
        vigil__report_str(&r, "not a vigil block)\n");
    } else {
        vigil__report_str(&r, "damaged)\n");
    }
    if (vd != HEALTHY) {
        vigil__report_str(&r, "    a free now would report: ");
        vigil__report_str(&r, verdict_names[vd]);
        vigil__report_char(&r, '\n');
    }
    dump_view(&r, &v);
    vigil__report_flush(&r);
}

size_t vigil_error_count(void)
{
    return vigil__report_errors();
}
