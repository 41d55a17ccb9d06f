/*
 * arena_tools.c - the tool annotations of pool blocks: the decision, the
 * side table of requested sizes, the tools' quarantine and the description of
 * an address ASan reports inside a pool (see arena_tools.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addrset.h"
#include "arena_tools.h"
#include "os.h"
#include "report.h"
#include "ring.h"
#include "stacks.h"
#include "threads.h"

atomic_int vigil__annotate_flag;
size_t vigil__block_gap;
uint16_t *vigil__requested_table[VIGIL_MAX_ARENAS];

static int on_valgrind;
static size_t quarantine_limit;
static void *(*keep_block)(size_t);
static pthread_once_t decide_once = PTHREAD_ONCE_INIT;

/* Memcheck (3.19) skips its leak check when no malloc'd block is live, and
 * so would never report a leaked pool chunk in a program that itself uses
 * no malloc.  One small reachable block keeps the check on. */
static void *volatile leak_check_keepalive;

#if VIGIL_ASAN_ENABLED
static void on_asan_report(const char *report);
/* Every live pool block and its requested size, for the leak check at
 * exit beside LeakSanitizer's (arena_tools.h). */
static struct vigil_addrset live;
static atomic_int live_ready;
static void live_child(void);
#endif

void vigil__tools_setup(int valgrind, size_t quarantine, void *(*keep)(size_t))
{
    on_valgrind = valgrind;
    quarantine_limit = quarantine;
    keep_block = keep;
}

static void decide(void)
{
    int on = VIGIL_ASAN_ENABLED || on_valgrind;
    if (on) {
        /* Blocks are carved with a gap after each (arena.h), no-access to
         * the tools.  Under memcheck the gap is two described redzones, so
         * an address in it is "after" one block or "before" the next, never
         * both, as between memcheck's own malloc'd blocks. */
        vigil__block_gap = VIGIL_ASAN_ENABLED ? VIGIL_TOOL_GAP : 2 * VIGIL_DESCRIBED_REDZONE;
        if (!VIGIL_ASAN_ENABLED && keep_block)
            leak_check_keepalive = keep_block(1);
#if VIGIL_ASAN_ENABLED
        VIGIL_ASAN_SET_REPORT_CALLBACK(on_asan_report);
        vigil__addrset_init(&live);
        /* Not held across fork: a free forgets its block with the heap
         * lock held, and no fork handler order is sure to take the two
         * in that order; the child makes the record's locks new. */
        pthread_atfork(NULL, NULL, live_child);
        atomic_store_explicit(&live_ready, 1, memory_order_release);
#endif
    }
    atomic_store_explicit(&vigil__annotate_flag, on, memory_order_relaxed);
}

void vigil__tools_decide(void)
{
    pthread_once(&decide_once, decide);
}

/* LeakSanitizer's root regions start this far before their arena: LSan
 * keeps the regions' starts in its own memory, which vigil's leak check
 * beside it reads as roots, and an arena's start is the address of the
 * block at its first byte (that block would never be a leak).  LSan scans
 * only the mapped, readable part of a region: the slack adds at most 16
 * bytes of what lies before the arena to its roots. */
#define ROOT_SLACK 16

int vigil__tools_arena_new(uint32_t idx, void *mem, size_t size)
{
    if (vigil__annotating()) {
        /* Kept when the arena goes: the slot's next arena reuses it. */
        if (!vigil__requested_table[idx])
            vigil__requested_table[idx] =
                vigil__os_map(VIGIL_ARENA_SIZE / VIGIL_ALIGNMENT * sizeof(uint16_t));
        if (!vigil__requested_table[idx])
            return 0;
        VIGIL_MEM_NOACCESS(mem, size);
    }
    VIGIL_LSAN_REGISTER_ROOT_REGION((char *)mem - ROOT_SLACK, size + ROOT_SLACK);
    return 1;
}

void vigil__tools_arena_gone(void *mem, size_t size)
{
    VIGIL_LSAN_UNREGISTER_ROOT_REGION((char *)mem - ROOT_SLACK, size + ROOT_SLACK);
    if (vigil__annotating())
        VIGIL_MEM_UNDEFINED(mem, size);
}

/* ---- where pool blocks were allocated and freed (ASan) ---- */

#if VIGIL_ASAN_ENABLED
#define HISTORY_FRAMES 16

uint32_t vigil__tools_stack_here(void)
{
    /* Learnt once a thread; without the bounds every frame read is a system
     * call (30 times the cost of the ASan build's free). */
    vigil__stack_learn_bounds();
    void *frames[HISTORY_FRAMES];
    int n = vigil__stack_capture_here(frames, HISTORY_FRAMES);
    return vigil__stack_put(frames, n);
}

/* The redzone stays poisoned: it is read and written with ASan's checks
 * off, one field at a time (a struct copy could become a checked memcpy). */
static struct vigil_block_history *history_of(uintptr_t start, size_t class_size)
{
    return (struct vigil_block_history *)(start + class_size);
}

VIGIL_NO_SANITIZE_ADDRESS
void vigil__tools_note_alloc(void *p, size_t class_size)
{
    uint32_t stack = vigil__tools_stack_here(), thread = vigil__thread_number();
    struct vigil_block_history *h = history_of((uintptr_t)p, class_size);
    h->alloc_stack = stack;
    h->alloc_thread = thread;
    h->free_stack = 0;
    h->free_thread = 0;
}

VIGIL_NO_SANITIZE_ADDRESS
static void history_freed(uintptr_t start, size_t class_size, uint32_t freed_at)
{
    uint32_t thread = vigil__thread_number();
    struct vigil_block_history *h = history_of(start, class_size);
    h->free_stack = freed_at;
    h->free_thread = thread;
}

VIGIL_NO_SANITIZE_ADDRESS
static void history_read(uintptr_t start, size_t class_size, struct vigil_block_history *out)
{
    const struct vigil_block_history *h = history_of(start, class_size);
    out->alloc_stack = h->alloc_stack;
    out->alloc_thread = h->alloc_thread;
    out->free_stack = h->free_stack;
    out->free_thread = h->free_thread;
}

/* A stack of the depot and the blank line after it, as ASan prints its
 * own (and its words when it has none). */
static void print_stack(struct vigil_report *r, uint32_t id)
{
    void *frames[HISTORY_FRAMES];
    int n = vigil__stack_get(id, frames, HISTORY_FRAMES);
    if (n > 0)
        vigil__stack_print(r, frames, n);
    else
        vigil__report_str(r, "    <empty stack>\n");
    vigil__report_str(r, "\n");
}

static void print_thread(struct vigil_report *r, const char *what, uint32_t thread)
{
    vigil__report_str(r, what);
    vigil__report_str(r, " by thread T");
    vigil__report_dec(r, thread);
    vigil__report_str(r, " here:\n");
}

/* The block's stacks in the words ASan uses for its own chunks: for a freed
 * one, as under a heap-use-after-free. */
static void print_history(struct vigil_report *r, uintptr_t start, size_t class_size, int freed)
{
    struct vigil_block_history h;
    history_read(start, class_size, &h);
    if (freed) {
        print_thread(r, "freed", h.free_thread);
        print_stack(r, h.free_stack);
    }
    print_thread(r, freed ? "previously allocated" : "allocated", h.alloc_thread);
    print_stack(r, h.alloc_stack);
}
#endif

#if VIGIL_ASAN_ENABLED
static void live_child(void)
{
    vigil__addrset_child_reset(&live);
}

/* A block's word in the record: its class's size above, the bytes
 * requested below (both at most VIGIL_SMALL_MAX). */
#define LIVE_SHIFT 32

void vigil__tools_live_put(const void *p, size_t n, size_t class_size)
{
    if (!atomic_load_explicit(&live_ready, memory_order_acquire))
        return;
    vigil__addrset_put(&live, p, (uintptr_t)class_size << LIVE_SHIFT | n);
}

void vigil__tools_live_take(const void *p)
{
    if (atomic_load_explicit(&live_ready, memory_order_acquire))
        vigil__addrset_take(&live, p, NULL);
}

void vigil__tools_live_hold(void)
{
    if (atomic_load_explicit(&live_ready, memory_order_acquire))
        vigil__addrset_hold(&live);
}

void vigil__tools_live_release(void)
{
    if (atomic_load_explicit(&live_ready, memory_order_acquire))
        vigil__addrset_release(&live);
}

size_t vigil__tools_live_count(void)
{
    return atomic_load_explicit(&live_ready, memory_order_acquire) ? vigil__addrset_held_count(&live) : 0;
}

struct live_each {
    void (*fn)(void *arg, uintptr_t start, size_t size, uint32_t stack);
    void *arg;
};

/* The allocation stack is in the block's history, in its redzone. */
static void live_entry(void *arg, const void *p, uintptr_t word)
{
    const struct live_each *e = arg;
    struct vigil_block_history h;
    history_read((uintptr_t)p, (size_t)(word >> LIVE_SHIFT), &h);
    e->fn(e->arg, (uintptr_t)p, (size_t)(word & (((uintptr_t)1 << LIVE_SHIFT) - 1)), h.alloc_stack);
}

size_t vigil__tools_live_each(void (*fn)(void *arg, uintptr_t start, size_t size, uint32_t stack),
                              void *arg, size_t max)
{
    struct live_each e = { fn, arg };
    if (!atomic_load_explicit(&live_ready, memory_order_acquire))
        return 0;
    return vigil__addrset_held_each(&live, live_entry, &e, max);
}
#endif

void vigil__tools_mark_freed(const struct vigil_pool *pool, void *p, uint32_t freed_at)
{
    size_t csize = vigil__class_size(pool->cls);
    VIGIL_MEM_NOACCESS(p, csize);
    *vigil__requested_slot(pool->arenaindex, p) = VIGIL_FREED_MARK;
#if VIGIL_ASAN_ENABLED
    history_freed((uintptr_t)p, csize, freed_at);
#else
    (void)freed_at;
#endif
}

/* ---- the tools' quarantine ---- */

struct qentry {
    void *p;
    size_t size;
};

static struct vigil_ring q = { .esize = sizeof(struct qentry), .clear = 1 };
static size_t q_bytes;

int vigil__toolq_put(void *p, size_t size)
{
    if (!quarantine_limit || !vigil__ring_reserve(&q, 1))
        return 0;
    struct qentry e = { p, size };
    vigil__ring_push(&q, &e, 1, sizeof e);
    q_bytes += size;
    return 1;
}

void *vigil__toolq_take(void)
{
    if (!q.count)
        return NULL;
    struct qentry e;
    vigil__ring_pop(&q, &e, sizeof e);
    q_bytes -= e.size;
    return e.p;
}

void *vigil__toolq_evict(void)
{
    /* The block just put stays even when it alone is over the limit. */
    return q.count > 1 && q_bytes > quarantine_limit ? vigil__toolq_take() : NULL;
}

size_t vigil__toolq_count(void)
{
    return q.count;
}

#if VIGIL_ASAN_ENABLED
/* When ASan reports an address inside a pool, say which block it is.  The
 * header and the side table are read directly: the header is poisoned. */
VIGIL_NO_SANITIZE_ADDRESS
static void describe_address(uintptr_t addr)
{
    struct vigil_pool *pool = vigil__pool_of((void *)addr);
    uintptr_t base = vigil__pool_base(pool), first = vigil__pool_first_block(base);
    size_t off_in_pool = addr - base;
    size_t header = vigil__pool_header_offset(base);
    unsigned cls = pool->cls;
    size_t stride = vigil__block_stride(cls), csize = vigil__class_size(cls);
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: ");
    vigil__report_hex(&r, addr);
    if (off_in_pool - header < VIGIL_POOL_OVERHEAD) {
        vigil__report_str(&r, " is in the header of a vigil pool (size class ");
        vigil__report_dec(&r, csize);
        vigil__report_str(&r, ")\n");
        vigil__report_flush(&r);
        return;
    }
    size_t idx = (off_in_pool - first) / stride;
    uintptr_t start = base + first + idx * stride;
    size_t off = addr - start;
    if (idx >= vigil__pool_capacity(cls) || start - base >= pool->nextoffset) {
        vigil__report_str(&r, " is in a part of a vigil pool that holds no block (size class ");
        vigil__report_dec(&r, csize);
        vigil__report_str(&r, ")\n");
        vigil__report_flush(&r);
        return;
    }
    unsigned req = *vigil__requested_slot(pool->arenaindex, (void *)start);
    if (req == VIGIL_FREED_MARK) {
        vigil__report_str(&r, " is ");
        vigil__report_dec(&r, off);
        vigil__report_str(&r, " bytes inside a freed block at ");
        vigil__report_hex(&r, start);
        vigil__report_str(&r, " (vigil pool, size class ");
        vigil__report_dec(&r, csize);
        vigil__report_str(&r, ")\n");
    } else {
        vigil__report_str(&r, " is ");
        vigil__report_dec(&r, off - req);
        vigil__report_str(&r, " bytes after the end of the live ");
        vigil__report_dec(&r, req);
        vigil__report_str(&r, "-byte block at ");
        vigil__report_hex(&r, start);
        vigil__report_str(&r, " (vigil pool, size class ");
        vigil__report_dec(&r, csize);
        vigil__report_str(&r, off >= csize ? ", in its redzone)\n" : ")\n");
    }
    print_history(&r, start, csize, req == VIGIL_FREED_MARK);
    vigil__report_flush(&r);
}

static void on_asan_report(const char *report)
{
    const char *at = strstr(report, " on address 0x");
    if (!at)
        return;
    uintptr_t addr = (uintptr_t)strtoull(at + 12, NULL, 16);
    if (addr && vigil__arena_owns((void *)addr))
        describe_address(addr);
}
#endif

/* ---- frees that must not go through ---- */

void vigil__tools_bad_free(const void *p, enum vigil_free_verdict v,
                           const struct vigil_block_info *info, const char *op)
{
#if VIGIL_ASAN_ENABLED
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__report_str(&r, "=================================================================\n==");
    vigil__report_dec(&r, (unsigned long long)getpid());
    vigil__report_str(&r, "==ERROR: AddressSanitizer: ");
    vigil__report_str(&r, v == VIGIL_FREE_DOUBLE ? "attempting double-free on "
                                                 : "attempting free on address which was "
                                                   "not malloc()-ed: ");
    vigil__report_hex(&r, (uintptr_t)p);
    vigil__report_str(&r, " in thread T");
    vigil__report_dec(&r, vigil__thread_number());
    /* ASan's punctuation: a colon after a double free only. */
    vigil__report_str(&r, v == VIGIL_FREE_DOUBLE ? ":\n" : "\n");
    vigil__report_flush(&r);
    VIGIL_ASAN_PRINT_STACK();
    vigil__report_str(&r, "vigil: ");
    vigil__report_hex(&r, (uintptr_t)p);
    if (!info->start) {
        vigil__report_str(&r, " is in a vigil pool, in no block");
    } else if (v == VIGIL_FREE_DOUBLE) {
        vigil__report_str(&r, " is a freed block of a vigil pool");
    } else {
        vigil__report_str(&r, " is ");
        vigil__report_dec(&r, (uintptr_t)p - info->start);
        vigil__report_str(&r, info->freed ? " bytes inside the freed block at "
                                          : " bytes inside the live block at ");
        vigil__report_hex(&r, info->start);
    }
    vigil__report_str(&r, " (size class ");
    vigil__report_dec(&r, info->class_size);
    if (info->start && !info->freed) {
        vigil__report_str(&r, ", ");
        vigil__report_dec(&r, info->requested);
        vigil__report_str(&r, " bytes requested");
    }
    vigil__report_str(&r, "), passed to ");
    vigil__report_str(&r, op);
    vigil__report_str(&r, "\n");
    if (info->start)
        print_history(&r, info->start, info->class_size, info->freed);
    else
        vigil__report_str(&r, "\n");
    vigil__report_str(&r, "SUMMARY: AddressSanitizer: ");
    vigil__report_str(&r, v == VIGIL_FREE_DOUBLE ? "double-free" : "bad-free");
    vigil__report_str(&r, " (a vigil pool block)\n==");
    vigil__report_dec(&r, (unsigned long long)getpid());
    vigil__report_str(&r, "==ABORTING\n");
    vigil__report_flush(&r);
    /* ASan's own ending: exit status 1 (ASAN_OPTIONS=exitcode), or abort()
     * with abort_on_error=1; the status is what scripts look at. */
    _exit(1);
#else
    (void)p;
    (void)v;
    (void)info;
    (void)op;
#endif
}
