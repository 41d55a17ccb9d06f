/*
 * preload.c - libvigil-preload.so: the C library's allocation functions,
 * served by vigil's mem domain, for programs that were not written for vigil
 * (LD_PRELOAD=libvigil-preload.so, or `vigil run`).
 *
 * Four kinds of block pass through free() here, and each must go back where
 * it came from:
 *
 *   mem domain blocks    the arena (or, with VIGIL_MALLOC=malloc, libc), and
 *                        the debug hooks around it when they are on;
 *   bootstrap blocks     handed out while vigil itself starts up (its start-up
 *                        calls pthread_atfork and atexit, which may allocate,
 *                        and so come back here before the domains exist): a
 *                        static buffer, recognised by its address, never
 *                        reused;
 *   over-aligned blocks  alignment above 16 that the arena cannot give: from
 *                        libc's memalign, through the system allocator;
 *   libc's own blocks    anything libc handed out without asking us.
 *
 * Without the debug hooks the arena already sends every pointer it does not
 * own to the raw domain, which is libc: the last two kinds need nothing.
 * With them, a block without a debug header would be reported as an invalid
 * free, so in debug mode the over-aligned blocks are remembered in a small
 * table, libc's own are recognised by glibc's block header, and both are
 * freed around the hooks.
 *
 * The raw domain is libc's allocator reached by its internal names
 * (__libc_malloc and friends): calling malloc would come back here.  That
 * switch is made before vigil allocates anything (vigil__sys_use).
 *
 * While this thread writes a report's stacks (vigil__reporting), the
 * symbolizer's libraries allocate: their blocks come from the C library,
 * not from the heap the report is about, and go back there when freed (then
 * or later, as libc's own blocks do).
 *
 * The application's call site is passed down from here (the domains'
 * vigil__domain_* functions take it), so the debug reports name the
 * program's code rather than this file.  Everything else is the domains':
 * dispatch, the thread-cache hits, the checks of impossible sizes.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domain.h"
#include "lock.h"
#include "os.h"
#include "report.h"
#include "request.h"
#include "settings.h"
#include "stacks_capture.h"
#include "sysalloc.h"
#include "threads.h"

/* glibc's own allocator, under the names that do not come back here. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nelem, size_t elsize);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);

static size_t libc_usable_size(void *ptr);

static const struct vigil_libc_malloc libc_fns = {
    __libc_malloc, __libc_calloc, __libc_realloc, __libc_free, __libc_memalign,
    libc_usable_size,
};

/* ---- state ---- */

/* Set once vigil is up. */
static atomic_int up;
static pthread_once_t once = PTHREAD_ONCE_INIT;
/* This thread is starting vigil up: its allocations come from the
 * bootstrap buffer, and it must not wait on the pthread_once it is in. */
static __attribute__((tls_model("initial-exec"))) _Thread_local int booting;

#define MEM VIGIL_DOMAIN_MEM
/* Blocks the preload aligns itself are 16-byte aligned at least, as every
 * vigil block is. */
#define ALIGNMENT ((size_t)16)

static int debug_mode;          /* the debug hooks wrap the mem domain */
static vigil_allocator debug_top;       /* the mem domain's table then */
static int plain_arena;         /* the mem domain is the arena itself */
static int on_valgrind;

/* ---- the bootstrap buffer ---- */

#define BOOT_SIZE   ((size_t)64 << 10)
#define BOOT_HEADER ((size_t)ALIGNMENT)   /* keeps the data aligned */

static _Alignas(ALIGNMENT) unsigned char boot_heap[BOOT_SIZE];
static _Atomic size_t boot_top;

static inline int in_boot(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_heap < BOOT_SIZE;
}

static inline size_t round_up(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

/* Static memory starts zeroed and is never reused: calloc needs nothing
 * more. */
static void *boot_alloc(size_t size, size_t align)
{
    uintptr_t base = (uintptr_t)boot_heap;
    size_t top = atomic_load_explicit(&boot_top, memory_order_relaxed), start, end;
    if (align < ALIGNMENT)
        align = ALIGNMENT;
    size_t need = size > BOOT_SIZE ? BOOT_SIZE + 1 : round_up(size ? size : 1, ALIGNMENT);
    do {
        start = round_up(base + top + BOOT_HEADER, align) - base;
        if (start > BOOT_SIZE || need > BOOT_SIZE - start) {
            errno = ENOMEM;
            return NULL;
        }
        end = start + need;
    } while (!atomic_compare_exchange_weak_explicit(&boot_top, &top, end,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    unsigned char *p = boot_heap + start;
    memcpy(p - sizeof size, &size, sizeof size);
    return p;
}

static size_t boot_size(const void *p)
{
    size_t n;
    memcpy(&n, (const unsigned char *)p - sizeof n, sizeof n);
    return n;
}

/* ---- over-aligned blocks in debug mode ---- */

/* An open-addressing table of pointer -> requested size, in memory from
 * mmap (the domains are what is being debugged).  Only free and realloc in
 * debug mode look at it, and only when it holds something. */
struct foreign {
    uintptr_t ptr;              /* 0: empty; 1: deleted */
    size_t size;
};

#define DELETED ((uintptr_t)1)

static struct {
    struct foreign *slots;
    size_t cap;                 /* a power of two, or 0 */
    size_t used;                /* live and deleted slots */
} reg;
VIGIL_LOCK_DEFINE(reg_lock, NULL);
static _Atomic size_t reg_live;

static inline size_t reg_hash(uintptr_t p)
{
    return (size_t)(((uint64_t)p >> 4) * UINT64_C(0x9E3779B97F4A7C15) >> 20);
}

/* Lock held: the slot of p, or of the empty slot where it would go. */
static struct foreign *reg_find(uintptr_t p)
{
    size_t mask = reg.cap - 1;
    struct foreign *tomb = NULL;
    for (size_t i = reg_hash(p) & mask;; i = (i + 1) & mask) {
        struct foreign *s = &reg.slots[i];
        if (s->ptr == p)
            return s;
        if (s->ptr == 0)
            return tomb ? tomb : s;
        if (s->ptr == DELETED && !tomb)
            tomb = s;
    }
}

/* Lock held. */
static int reg_grow(void)
{
    size_t live = atomic_load_explicit(&reg_live, memory_order_relaxed);
    size_t ncap = 256;
    while (ncap < 4 * (live + 1))
        ncap *= 2;
    struct foreign *slots = vigil__os_map(ncap * sizeof *slots);
    if (!slots)
        return 0;
    struct foreign *old = reg.slots;
    size_t oldcap = reg.cap;
    reg.slots = slots;
    reg.cap = ncap;
    reg.used = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].ptr > DELETED) {
            *reg_find(old[i].ptr) = old[i];
            reg.used++;
        }
    vigil__os_unmap(old, oldcap * sizeof *old);
    return 1;
}

static int reg_put(void *p, size_t size)
{
    int ok = 1;
    vigil__lock(&reg_lock);
    if (4 * (reg.used + 1) > 3 * reg.cap)
        ok = reg_grow();
    if (ok) {
        struct foreign *s = reg_find((uintptr_t)p);
        if (s->ptr == 0)
            reg.used++;
        *s = (struct foreign){ (uintptr_t)p, size };
        atomic_fetch_add_explicit(&reg_live, 1, memory_order_relaxed);
    }
    vigil__unlock(&reg_lock);
    return ok;
}

static __attribute__((noinline)) int reg_lookup_locked(const void *p, size_t *size, int take)
{
    int hit = 0;
    vigil__lock(&reg_lock);
    if (reg.cap) {
        struct foreign *s = reg_find((uintptr_t)p);
        if (s->ptr == (uintptr_t)p) {
            hit = 1;
            *size = s->size;
            if (take) {
                s->ptr = DELETED;
                atomic_fetch_sub_explicit(&reg_live, 1, memory_order_relaxed);
            }
        }
    }
    vigil__unlock(&reg_lock);
    return hit;
}

/* 1, with *size set, when p is in the table; take removes it.  The test
 * of an empty table inline: debug mode asks at every free. */
static inline int reg_lookup(const void *p, size_t *size, int take)
{
    if (!atomic_load_explicit(&reg_live, memory_order_relaxed))
        return 0;
    return reg_lookup_locked(p, size, take);
}

/* ---- start-up ---- */

static void start(void)
{
    booting = 1;
    vigil__sys_use(&libc_fns);
    vigil__ensure_init();
    debug_mode = vigil__domain_debugged(MEM);
    debug_top = vigil__domains[MEM];
    plain_arena = vigil__domain_plain_arena(MEM);
    on_valgrind = vigil__settings()->running_on_valgrind;
    atomic_store_explicit(&up, 1, memory_order_release);
    booting = 0;
}

/* 1 once vigil is up; 0 while this thread is starting it up (its blocks
 * come from the bootstrap buffer meanwhile). */
static inline int ready(void)
{
    if (__builtin_expect(atomic_load_explicit(&up, memory_order_acquire), 1))
        return 1;
    if (booting)
        return 0;
    pthread_once(&once, start);
    return atomic_load_explicit(&up, memory_order_acquire);
}

/* ---- the work, shared by the entry points ---- */

/* libc exports no internal name for it: RTLD_NEXT finds the next
 * malloc_usable_size after this library's, normally libc's.  Looked up when
 * first needed rather than at start-up, where dlsym could wait for the
 * loader's lock held by a thread that waits for start-up to finish. */
static size_t libc_usable_size(void *ptr)
{
    static size_t (*_Atomic fn)(void *);
    size_t (*f)(void *) = atomic_load_explicit(&fn, memory_order_relaxed);
    if (!f) {
        f = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
        if (!f)
            return 0;
        atomic_store_explicit(&fn, f, memory_order_relaxed);
    }
    return f(ptr);
}

/* Debug mode with the mem domain's table still the one start-up composed
 * (a program may install another): the preload then does what the
 * domain's dispatch would, the call site recorded and that table called
 * (vigil_mem_malloc's path, less its thread-cache hit, which a debug table
 * never has), two calls fewer on every malloc and free. */
#define DEBUG_TOP_IN_PLACE(fn)                                                \
    (vigil__domains[MEM].fn == debug_top.fn && vigil__domains[MEM].ctx == debug_top.ctx)

static inline void *do_malloc(size_t size, void *caller)
{
    if (__builtin_expect(vigil__reporting, 0))
        return __libc_malloc(size);
    if (__builtin_expect(!ready(), 0))
        return boot_alloc(size, 0);
    if (debug_mode && DEBUG_TOP_IN_PLACE(malloc)) {
        if (vigil__impossible(size))
            return NULL;
        vigil__caller = caller;
        return debug_top.malloc(debug_top.ctx, size);
    }
    return vigil__domain_malloc(MEM, size, caller);
}

/* glibc keeps a size word before each block, its three low bits flags; the
 * block after an in-use one has its "previous in use" bit set, and a block
 * with a mapping of its own starts at a page offset that, with its size,
 * spans whole pages.  A wild pointer rarely passes all of that, and the
 * words are read with vigil__peek, so one into unmapped memory is refused
 * rather than followed. */
static int libc_block(const void *p)
{
    enum { PREV_INUSE = 1, IS_MMAPPED = 2, FLAGS = 7 };
    const unsigned char *b = p;
    size_t head[2];                         /* previous size, size | flags */
    if ((uintptr_t)p % ALIGNMENT || (uintptr_t)p < sizeof head ||
        !vigil__peek(head, b - sizeof head, sizeof head))
        return 0;
    size_t size = head[1] & ~(size_t)FLAGS;
    if (size < sizeof head || size % ALIGNMENT || size > (size_t)PTRDIFF_MAX)
        return 0;
    if (head[1] & IS_MMAPPED) {
        size_t ps = vigil__os_page_size();
        return ((uintptr_t)(b - sizeof head) - head[0]) % ps == 0 &&
               (head[0] + size) % ps == 0;
    }
    size_t next;
    if (!vigil__peek(&next, b - sizeof next + size, sizeof next))
        return 0;
    return (next & PREV_INUSE) && (next & ~(size_t)FLAGS) >= sizeof head;
}

/* A block of libc's, not one of the arena's that looks like one. */
static int libc_own_block(const void *p)
{
    return libc_block(p) && !vigil__domain_arena_owns(p);
}

enum outside { INSIDE, ALIGNED, LIBC };

/* Debug mode: whether ptr is a block the debug hooks did not make and must
 * not see, with its size (also set for a healthy debug block, to the size
 * asked for).  Over-aligned blocks are in the table; libc's own (made
 * before the preload took over, or by code calling libc's allocator by its
 * internal name) are recognised by their header.  Anything else, a wild
 * pointer included, is the hooks' to check and report.  take: ptr is being
 * freed. */
static enum outside outside_hooks(const void *ptr, size_t *size, int take)
{
    if (vigil__domain_block_size(MEM, ptr, size))
        return INSIDE;
    if (reg_lookup(ptr, size, take))
        return ALIGNED;
    if (libc_own_block(ptr)) {
        *size = libc_usable_size((void *)ptr);
        return LIBC;
    }
    return INSIDE;
}

/* Writing a report: ptr is the symbolizer's, from the C library (made
 * while reporting), unless it is a vigil block it was handed. */
static int reporting_libc_block(const void *ptr)
{
    return __builtin_expect(vigil__reporting, 0) && libc_own_block(ptr);
}

/* Inline in both its callers: free's slow path is debug mode's every
 * free. */
__attribute__((always_inline))
static inline void do_free(void *ptr, void *caller)
{
    if (!ptr || in_boot(ptr))
        return;
    if (reporting_libc_block(ptr)) {
        __libc_free(ptr);
        return;
    }
    if (__builtin_expect(!ready(), 0)) {
        /* Starting up, with a block that is not a bootstrap block: nobody
         * has had a vigil block yet, so it is libc's. */
        __libc_free(ptr);
        return;
    }
    size_t size;
    if (debug_mode) {
        if (reg_lookup(ptr, &size, 1)) {
            vigil__domain_note_free(MEM, ptr);
            vigil__sys_allocator.free(NULL, ptr);
            return;
        }
        /* Most blocks are healthy debug blocks: the hooks' free is tried
         * first (report.h, free_try), so their header is read once (it
         * was read twice, 7% of the instructions of a random workload),
         * and the questions below are asked only of the blocks it turns
         * away.  Not when the mem domain has been given another table
         * since start-up, whose free may not reach the hooks, nor under
         * memcheck, whose view of the guards is left as it was. */
        if (!on_valgrind && DEBUG_TOP_IN_PLACE(free)) {
            /* free_try is this code's alone (ENTER leaves it): what
             * was there goes back, for a free nested in this one (from
             * a signal handler) that came before the hooks read it. */
            const int outer_try = vigil__call.free_try;
            vigil__call.free_try = 1;
            vigil__caller = caller;
            debug_top.free(debug_top.ctx, ptr);
            int turned_away = vigil__call.free_try == 2;
            vigil__call.free_try = outer_try;
            if (!turned_away)
                return;
        }
        switch (outside_hooks(ptr, &size, 1)) {
        case ALIGNED:
            vigil__domain_note_free(MEM, ptr);
            vigil__sys_allocator.free(NULL, ptr);
            return;
        case LIBC:
            __libc_free(ptr);
            return;
        case INSIDE:
            break;
        }
    }
    vigil__domain_free(MEM, ptr, caller);
}

/* A copy in a new mem block; old stays to be freed by the caller. */
static void *move(const void *old, size_t old_size, size_t size, void *caller)
{
    void *p = do_malloc(size, caller);
    if (p)
        memcpy(p, old, old_size < size ? old_size : size);
    return p;
}

static void *do_realloc(void *ptr, size_t size, void *caller)
{
    if (!ptr)
        return do_malloc(size, caller);
    if (vigil__impossible(size))
        return NULL;
    if (reporting_libc_block(ptr))
        return __libc_realloc(ptr, size);
    if (in_boot(ptr))
        return move(ptr, boot_size(ptr), size, caller);
    if (__builtin_expect(!ready(), 0))
        return __libc_realloc(ptr, size);          /* as in do_free */
    size_t old;
    if (debug_mode && outside_hooks(ptr, &old, 0) != INSIDE) {
        void *p = move(ptr, old, size, caller);
        if (p)
            do_free(ptr, caller);
        return p;
    }
    return vigil__domain_realloc(MEM, ptr, size, caller);
}

static void *do_aligned(size_t align, size_t size, void *caller)
{
    if (align <= ALIGNMENT)
        return do_malloc(size, caller);
    if (size > (size_t)PTRDIFF_MAX - align) {
        errno = ENOMEM;
        return NULL;
    }
    if (__builtin_expect(vigil__reporting, 0))
        return __libc_memalign(align, size);
    if (__builtin_expect(!ready(), 0))
        return boot_alloc(size, align);
    if (vigil__domain_fails(MEM, size, caller))
        return NULL;                        /* fault injection (VIGIL_FAIL) */
    void *p = vigil__domain_aligned(MEM, align, size, caller);
    if (p)
        return p;
    p = vigil__sys_memalign(align, size);
    if (p && debug_mode) {
        /* Filled like the debug hooks' new blocks, so an uninitialised
         * read shows the same pattern. */
        memset(p, 0xCD, size);
        if (!reg_put(p, size)) {
            vigil__sys_allocator.free(NULL, p);
            errno = ENOMEM;
            return NULL;
        }
    }
    if (p)
        vigil__domain_note_block(MEM, p, size, caller);   /* traced as the domain's */
    return p;
}

/* glibc's memalign: an alignment that is not a power of two is rounded up
 * to one; one that cannot be is refused. */
static void *do_memalign(size_t align, size_t size, void *caller)
{
    if (align > (size_t)PTRDIFF_MAX / 2 + 1) {
        errno = EINVAL;
        return NULL;
    }
    if (align & (align - 1)) {
        size_t a = 1;
        while (a < align)
            a <<= 1;
        align = a;
    }
    return do_aligned(align, size, caller);
}

/* ---- the entry points ---- */

#define CALLER __builtin_return_address(0)

/* The program's call, for the work an entry point hands on (report.h):
 * the function's name, and the program's stack pointer and frame pointer,
 * read from the frame record of the function that ENTER is in (the
 * preload is built with frame pointers), so the capture of the call's
 * stack need not look for them.  That function is the entry point, or the
 * slow path an entry point jumps to (a tail call: its record then holds
 * the program's return address); were it called instead, the capture
 * sees that the return address below that stack pointer is not the
 * program's, and looks for it as it did without.  The outer call's
 * record is put back on the way out, field by field (a copy of the whole
 * struct, free_try with it, cost five instructions more a call); free_try
 * is do_free's to keep. */
#define ENTER(fn)                                                             \
    const char *const outer_name_ = vigil__call.name;                         \
    const uintptr_t outer_sp_ = vigil__call.sp, outer_bp_ = vigil__call.bp;   \
    do {                                                                      \
        const uintptr_t *rec_ = __builtin_frame_address(0);                   \
        vigil__call.name = fn;                                                \
        vigil__call.sp = (uintptr_t)(rec_ + 2);                               \
        vigil__call.bp = rec_[0];                                             \
    } while (0)
#define LEAVE()                                                               \
    (vigil__call.name = outer_name_, vigil__call.sp = outer_sp_, vigil__call.bp = outer_bp_)

/* The slow paths of the four entry points below, out of line so that the
 * entry points' common path, the domains' inline hit (domain.h), needs no
 * stack frame: when the mem domain is the arena itself, a block from, or
 * into, the thread's cache, with no call.  Not while this thread writes a
 * report, whose allocations are libc's. */
static __attribute__((noinline)) void *malloc_slow(size_t size, void *caller)
{
    ENTER("malloc");
    void *p = do_malloc(size, caller);
    LEAVE();
    return p;
}

static __attribute__((noinline)) void *calloc_slow(size_t nelem, size_t elsize, size_t total,
                                                   void *caller)
{
    if (__builtin_expect(vigil__reporting, 0))
        return __libc_calloc(nelem, elsize);
    if (__builtin_expect(!ready(), 0))
        return boot_alloc(total, 0);
    ENTER("calloc");
    void *p = vigil__domain_calloc(MEM, nelem, elsize, caller);
    LEAVE();
    return p;
}

static __attribute__((noinline)) void *realloc_slow(const char *fn, void *ptr, size_t size,
                                                    void *caller)
{
    ENTER(fn);
    void *p = do_realloc(ptr, size, caller);
    LEAVE();
    return p;
}

static __attribute__((noinline)) void free_slow(void *ptr, void *caller)
{
    ENTER("free");
    do_free(ptr, caller);
    LEAVE();
}

void *malloc(size_t size)
{
    void *p = vigil__domain_malloc_hit(MEM, size);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return malloc_slow(size, CALLER);
}

void *calloc(size_t nelem, size_t elsize)
{
    size_t total;
    if (!vigil__calloc_size(nelem, elsize, &total))
        return NULL;
    void *p = vigil__domain_calloc_hit(MEM, total);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return calloc_slow(nelem, elsize, total, CALLER);
}

void *realloc(void *ptr, size_t size)
{
    void *p = vigil__domain_realloc_hit(MEM, ptr, size);
    if (__builtin_expect(p != NULL, 1))
        return p;
    return realloc_slow("realloc", ptr, size, CALLER);
}

void *reallocarray(void *ptr, size_t nelem, size_t elsize)
{
    size_t total;
    if (__builtin_mul_overflow(nelem, elsize, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return realloc_slow("reallocarray", ptr, total, CALLER);
}

void free(void *ptr)
{
    if (__builtin_expect(vigil__domain_free_hit(MEM, ptr), 1))
        return;
    free_slow(ptr, CALLER);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    if (align < sizeof(void *) || (align & (align - 1)))
        return EINVAL;
    int saved = errno;
    ENTER("posix_memalign");
    void *p = do_aligned(align, size, CALLER);
    LEAVE();
    int err = p ? 0 : errno;
    errno = saved;
    if (p)
        *out = p;
    return err;
}

void *aligned_alloc(size_t align, size_t size)
{
    ENTER("aligned_alloc");
    void *p = do_memalign(align, size, CALLER);
    LEAVE();
    return p;
}

void *memalign(size_t align, size_t size)
{
    ENTER("memalign");
    void *p = do_memalign(align, size, CALLER);
    LEAVE();
    return p;
}

void *valloc(size_t size)
{
    ENTER("valloc");
    void *p = do_aligned(vigil__os_page_size(), size, CALLER);
    LEAVE();
    return p;
}

void *pvalloc(size_t size)
{
    size_t ps = vigil__os_page_size();
    if (size > (size_t)PTRDIFF_MAX - ps) {
        errno = ENOMEM;
        return NULL;
    }
    ENTER("pvalloc");
    void *p = do_aligned(ps, round_up(size ? size : 1, ps), CALLER);
    LEAVE();
    return p;
}

size_t malloc_usable_size(void *ptr)
{
    if (!ptr)
        return 0;
    if (in_boot(ptr))
        return boot_size(ptr);
    if (!ready())
        return 0;                           /* no block but the bootstrap's yet */
    size_t n = 0;
    if (debug_mode) {
        /* What the program asked for: the bytes after it are guards.  A
         * damaged block gets 0; freeing it will say what is wrong. */
        outside_hooks(ptr, &n, 0);
        return n;
    }
    if (vigil__domain_arena_owns(ptr)) {
        if (!vigil__domain_block_size(MEM, ptr, &n))
            return 0;                       /* not the start of a block */
        /* Under memcheck the arena describes a block as the bytes asked
         * for; the program may now use the whole class, so the block is
         * made that big.  The arena reallocates within a class in place. */
        if (plain_arena && on_valgrind)
            vigil__domain_realloc(MEM, ptr, n, CALLER);
        return n;
    }
    return libc_usable_size(ptr);
}

/* ---- thread creation ----
 *
 * Interposed only to number threads in order of creation, as ASan's
 * reports do (threads.h): the number is taken here, in the creating thread,
 * and adopted by the new thread before its start routine runs.  The start
 * record comes from libc's allocator so that no vigil heap is involved. */

struct thread_start {
    void *(*fn)(void *);
    void *arg;
    unsigned number;
};

typedef int (*pthread_create_fn)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static void *thread_start(void *p)
{
    struct thread_start s = *(struct thread_start *)p;
    __libc_free(p);
    vigil__thread_adopt(s.number);
    return s.fn(s.arg);
}

int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                   void *(*fn)(void *), void *arg)
{
    static _Atomic(pthread_create_fn) next;
    pthread_create_fn real = atomic_load_explicit(&next, memory_order_acquire);
    if (!real) {
        real = (pthread_create_fn)dlsym(RTLD_NEXT, "pthread_create");
        if (!real)
            return EAGAIN;
        atomic_store_explicit(&next, real, memory_order_release);
    }
    struct thread_start *s = __libc_malloc(sizeof *s);
    if (!s)
        return EAGAIN;                      /* what pthread_create says without memory */
    s->fn = fn;
    s->arg = arg;
    s->number = vigil__thread_reserve();
    int rc = real(thread, attr, thread_start, s);
    if (rc)
        __libc_free(s);
    return rc;
}

/* libunwind's, while a capture learns frame rules with every signal held
 * blocked, answered with no system call (stacks_capture.h); any other, as
 * the C library makes it (its sigprocmask is pthread_sigmask's, the error
 * in errno). */
int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
    if (vigil__stack_sigmask(how, set, old))
        return 0;
    int err = pthread_sigmask(how, set, old);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
