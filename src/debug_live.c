/*
 * debug_live.c - the record of live debug blocks and the check of them all
 * (see debug_live.h).
 *
 * A map of the address space, three bits for each 16 bytes: 0 for no
 * block, else the number plus one of the wrapper that made the block whose
 * data starts there.  Sixteen of those a 64-bit word, whose top bit is the
 * lock a check takes: recording or forgetting a block is one
 * compare-and-swap on its word, which it shares with the blocks around it
 * (an address set cost a lock, a hash, a probe and a delete's back shift:
 * 16% of debug mode's time on random sizes).  The map is a directory of
 * 1 GiB regions, each 32 MiB of memory from vigil__os_map, mapped when a
 * block first lies there and backed by the kernel page by page as blocks
 * come (1/32 of the heap's span); a region also marks which of its pages
 * were ever written, so a check reads only those.
 *
 * What the map cannot hold goes to an address set (addrset.h) beside it,
 * with the wrapper's number: a block whose data is not 16-byte aligned
 * (an inner allocator of the program's may give such) or lies above the
 * 47-bit address space, and blocks of wrapper number 6 and beyond, whose
 * code in the map, 7 (CODE_ELSEWHERE), says only "look there".
 *
 * A check (vigil_check_heap, at exit) holds the checkers' mutex, and each
 * word while it checks that word's blocks: no thread records or forgets a
 * block there meanwhile, so no block is checked while it is being freed.
 * Fork: the mutex and the set are held by the prepare handler and released
 * in the parent and in the child (lock.h's policy); no word is locked then,
 * since only a check locks one.  The handlers and the check at exit are
 * registered at the first record: pthread_atfork and atexit may allocate,
 * and under the preload that comes back here.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "addrset.h"
#include "debug_live.h"
#include "lock.h"
#include "os.h"
#include "report.h"

#define ADDRESS_BITS  47
#define REGION_SHIFT  30
#define NREGIONS      ((size_t)1 << (ADDRESS_BITS - REGION_SHIFT))
#define GRANULE_SHIFT 4                 /* 16 bytes */
#define PER_WORD      16                /* codes a word */
#define CODE_BITS     3
#define CODE_MASK     ((uint64_t)7)
#define CODE_ELSEWHERE 7u               /* the wrapper's number is in the set */
#define LOCKED        ((uint64_t)1 << 63)
#define NWORDS        ((size_t)1 << (REGION_SHIFT - GRANULE_SHIFT - 4))
#define PAGE_WORDS    ((size_t)4096 / sizeof(uint64_t))
#define NPAGES        (NWORDS / PAGE_WORDS)

_Static_assert(PER_WORD * CODE_BITS < 63, "the codes leave the lock bit free");

struct vigil_live_region {
    _Atomic uint64_t touched[NPAGES / 64];      /* bit: that page of word[] written */
    _Atomic uint64_t word[NWORDS];
};

/* debug_live.h's prefetch knows the map's shape. */
_Static_assert(offsetof(struct vigil_live_region, word) == VIGIL_LIVE_WORDS_AT, "the words' place");
_Static_assert(ADDRESS_BITS == VIGIL_LIVE_ADDRESS_BITS && REGION_SHIFT == VIGIL_LIVE_REGION_SHIFT &&
               (1 << GRANULE_SHIFT) * PER_WORD == VIGIL_LIVE_WORD_SPAN &&
               (1 << GRANULE_SHIFT) == VIGIL_LIVE_GRANULE, "the map's shape");

/* NREGIONS slots; NULL until configured.  Known to debug_live.h's
 * prefetch, which is inline. */
struct vigil_live_region *_Atomic *vigil__debug_live_dir;
/* A bit for each slot of the directory that holds a region: the walk reads
 * these 16 KiB, not the directory's 1 MiB (256 page faults at every exit). */
static _Atomic uint64_t dir_used[NREGIONS / 64];
static struct vigil_addrset elsewhere;
static _Atomic size_t lost;             /* no region could be mapped */
static pthread_mutex_t checkers = PTHREAD_MUTEX_INITIALIZER;
static atomic_int ready;
static atomic_int registered;
static vigil_live_check_fn check_one;

static void hold(void)
{
    pthread_mutex_lock(&checkers);
    vigil__addrset_hold(&elsewhere);
}

static void release(void)
{
    vigil__addrset_release(&elsewhere);
    pthread_mutex_unlock(&checkers);
}

static void check_at_exit(void);

void vigil__debug_live_configure(vigil_live_check_fn check)
{
    if (atomic_load_explicit(&ready, memory_order_acquire))
        return;
    vigil__addrset_init(&elsewhere);
    static void *_Atomic dir_slot;
    vigil__debug_live_dir = vigil__os_map_once(&dir_slot, NREGIONS * sizeof(void *));
    check_one = check;
    atomic_store_explicit(&ready, 1, memory_order_release);
}

/* Whether the map has a place for p. */
static inline int mappable(uintptr_t a)
{
    return vigil__debug_live_dir && !(a & (((uintptr_t)1 << GRANULE_SHIFT) - 1)) &&
           !((uint64_t)a >> ADDRESS_BITS);
}

/* The region of mappable a, or NULL. */
static inline struct vigil_live_region *region_of(uintptr_t a)
{
    return atomic_load_explicit(&vigil__debug_live_dir[a >> REGION_SHIFT], memory_order_acquire);
}

static __attribute__((noinline)) struct vigil_live_region *region_make(uintptr_t a)
{
    size_t ri = a >> REGION_SHIFT;
    struct vigil_live_region *r =
        vigil__os_map_once((void *_Atomic *)&vigil__debug_live_dir[ri], sizeof *r);
    if (r)
        atomic_fetch_or_explicit(&dir_used[ri / 64], (uint64_t)1 << (ri % 64), memory_order_release);
    return r;
}

static inline size_t granule_of(uintptr_t a)
{
    return (a & (((uintptr_t)1 << REGION_SHIFT) - 1)) >> GRANULE_SHIFT;
}

/* The word of the block at a, waiting while a check holds it; the value
 * seen, unlocked. */
static inline uint64_t word_load(_Atomic uint64_t *w)
{
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
    for (unsigned spins = 0; __builtin_expect(v & LOCKED, 0); spins++) {
        vigil__spin_wait(spins);
        v = atomic_load_explicit(w, memory_order_relaxed);
    }
    return v;
}

/* Set the code of granule g of region r (0: clear it); the code it had.
 * The swap expects the word unlocked, so it fails while a check holds it,
 * and waits. */
static inline unsigned word_swap(struct vigil_live_region *r, size_t g, unsigned code)
{
    _Atomic uint64_t *w = &r->word[g / PER_WORD];
    unsigned shift = (unsigned)(g % PER_WORD) * CODE_BITS;
    uint64_t v = word_load(w);
    for (;;) {
        uint64_t nv = (v & ~(CODE_MASK << shift)) | (uint64_t)code << shift;
        if (atomic_compare_exchange_weak_explicit(w, &v, nv, memory_order_acq_rel,
                                                  memory_order_relaxed))
            return (unsigned)(v >> shift & CODE_MASK);
        if (v & LOCKED)
            v = word_load(w);
    }
}

static __attribute__((noinline)) void first_put(void)
{
    if (!atomic_exchange_explicit(&registered, 1, memory_order_acq_rel)) {
        pthread_atfork(hold, release, release);
        atexit(check_at_exit);
    }
}

/* The put of every case the fast path below leaves: before the first
 * record, an address or a wrapper the map has no code for, a region not
 * mapped yet, a page of the map not marked yet, a word a check holds. */
static __attribute__((noinline)) void put_slow(const void *p, unsigned owner)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return;
    if (__builtin_expect(!atomic_load_explicit(&registered, memory_order_acquire), 0))
        first_put();
    uintptr_t a = (uintptr_t)p;
    if (!mappable(a)) {
        vigil__addrset_put(&elsewhere, p, owner);
        return;
    }
    struct vigil_live_region *r = region_of(a);
    if (!r && !(r = region_make(a))) {
        atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
        return;
    }
    unsigned code = owner + 1;
    if (owner >= CODE_ELSEWHERE - 1) {
        if (!vigil__addrset_put(&elsewhere, p, owner))
            return;
        code = CODE_ELSEWHERE;
    }
    size_t g = granule_of(a);
    size_t page = g / PER_WORD / PAGE_WORDS;
    uint64_t bit = (uint64_t)1 << (page % 64);
    if (!(atomic_load_explicit(&r->touched[page / 64], memory_order_relaxed) & bit))
        atomic_fetch_or_explicit(&r->touched[page / 64], bit, memory_order_relaxed);
    word_swap(r, g, code);
}

/* One compare-and-swap and the tests before it, with no call but the tail
 * call to put_slow: a call on the way would make the common case save and
 * restore registers (a third of its instructions).  w is the word
 * vigil__debug_live_word() found, so the checks of the address and the
 * directory are made once for the prefetch and the put.  registered is
 * set only once the map is configured. */
void vigil__debug_live_put_at(_Atomic uint64_t *w, const void *p, unsigned owner)
{
    uintptr_t a = (uintptr_t)p;
    if (__builtin_expect(!w || !atomic_load_explicit(&registered, memory_order_acquire) ||
                         owner >= CODE_ELSEWHERE - 1, 0)) {
        put_slow(p, owner);
        return;
    }
    size_t g = granule_of(a);
    unsigned shift = (unsigned)(g % PER_WORD) * CODE_BITS;
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
    uint64_t nv = (v & ~(CODE_MASK << shift)) | (uint64_t)(owner + 1) << shift;
    /* A word that holds a code lies in a page marked touched already (the
     * put that wrote the code marked it first, and no mark is cleared), so
     * the mark and the directory that leads to it are read only for an
     * empty word. */
    if (!v) {
        size_t page = g / PER_WORD / PAGE_WORDS;
        struct vigil_live_region *r = region_of(a);
        if (!(atomic_load_explicit(&r->touched[page / 64], memory_order_relaxed) >> (page % 64) &
              1)) {
            put_slow(p, owner);
            return;
        }
    }
    if (__builtin_expect((v & LOCKED) ||
                         !atomic_compare_exchange_strong_explicit(w, &v, nv, memory_order_acq_rel,
                                                                  memory_order_relaxed), 0))
        put_slow(p, owner);
}

/* The take of every case the fast path below leaves. */
static __attribute__((noinline)) void take_slow(const void *p)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return;
    uintptr_t a = (uintptr_t)p;
    if (!mappable(a)) {
        vigil__addrset_take(&elsewhere, p, NULL);
        return;
    }
    struct vigil_live_region *r = region_of(a);
    if (!r)
        return;
    if (word_swap(r, granule_of(a), 0) == CODE_ELSEWHERE)
        vigil__addrset_take(&elsewhere, p, NULL);
}

void vigil__debug_live_take_at(_Atomic uint64_t *w, const void *p)
{
    if (__builtin_expect(!w, 0)) {
        take_slow(p);
        return;
    }
    unsigned shift = (unsigned)(granule_of((uintptr_t)p) % PER_WORD) * CODE_BITS;
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
    uint64_t nv = v & ~(CODE_MASK << shift);
    if (__builtin_expect((v & LOCKED) || (v >> shift & CODE_MASK) == CODE_ELSEWHERE ||
                         !atomic_compare_exchange_strong_explicit(w, &v, nv, memory_order_acq_rel,
                                                                  memory_order_relaxed), 0))
        take_slow(p);
}

void vigil__debug_live_take(const void *p)
{
    vigil__debug_live_take_at(vigil__debug_live_word(p), p);
}

/* ---- walking the map ---- */

/* fn(arg, p, owner) for every block of the map, each word locked while
 * its blocks are; checkers held.  The sum of what fn returned. */
typedef int (*visit_fn)(void *arg, const void *p, unsigned owner);

static size_t visit_word(struct vigil_live_region *r, uintptr_t base, size_t wi, visit_fn fn,
                         void *arg)
{
    _Atomic uint64_t *w = &r->word[wi];
    uint64_t v = atomic_load_explicit(w, memory_order_relaxed);
    if (!v)
        return 0;
    while (!atomic_compare_exchange_weak_explicit(w, &v, v | LOCKED, memory_order_acquire,
                                                  memory_order_relaxed))
        ;
    size_t sum = 0;
    for (unsigned k = 0; k < PER_WORD; k++) {
        unsigned code = (unsigned)(v >> (k * CODE_BITS) & CODE_MASK);
        if (!code)
            continue;
        const void *p = (const void *)(base + ((wi * PER_WORD + k) << GRANULE_SHIFT));
        uintptr_t owner = code - 1;
        if (code == CODE_ELSEWHERE && !vigil__addrset_get(&elsewhere, p, &owner))
            continue;
        sum += (size_t)fn(arg, p, (unsigned)owner);
    }
    atomic_store_explicit(w, v, memory_order_release);
    return sum;
}

static size_t visit_map(visit_fn fn, void *arg)
{
    size_t sum = 0;
    for (size_t ri = 0; vigil__debug_live_dir && ri < NREGIONS; ri++) {
        uint64_t used = atomic_load_explicit(&dir_used[ri / 64], memory_order_acquire);
        if (!(used >> (ri % 64) & 1)) {
            if (!used)
                ri |= 63;               /* none of this word's slots */
            continue;
        }
        struct vigil_live_region *r =
            atomic_load_explicit(&vigil__debug_live_dir[ri], memory_order_acquire);
        if (!r)
            continue;
        uintptr_t base = (uintptr_t)ri << REGION_SHIFT;
        for (size_t page = 0; page < NPAGES; page++) {
            if (!(atomic_load_explicit(&r->touched[page / 64], memory_order_relaxed) >> (page % 64) & 1))
                continue;
            for (size_t wi = page * PAGE_WORDS; wi < (page + 1) * PAGE_WORDS; wi++)
                sum += visit_word(r, base, wi, fn, arg);
        }
    }
    return sum;
}

struct visit {
    visit_fn fn;
    void *arg;
};

/* The set's blocks that the map has no code for (those it has are
 * visited with their word). */
static int visit_elsewhere(void *arg, const void *p, uintptr_t owner)
{
    const struct visit *v = arg;
    return mappable((uintptr_t)p) ? 0 : v->fn(v->arg, p, (unsigned)owner);
}

static size_t visit_all(visit_fn fn, void *arg)
{
    if (!atomic_load_explicit(&registered, memory_order_acquire))
        return 0;                       /* nothing recorded yet */
    pthread_mutex_lock(&checkers);
    struct visit v = { fn, arg };
    size_t sum = visit_map(fn, arg) + vigil__addrset_each(&elsewhere, visit_elsewhere, &v);
    pthread_mutex_unlock(&checkers);
    return sum;
}

static int check_entry(void *arg, const void *p, unsigned owner)
{
    return check_one(owner, p, *(const enum vigil_debug_op *)arg);
}

size_t vigil__debug_live_check(enum vigil_debug_op op)
{
    if (!atomic_load_explicit(&ready, memory_order_acquire))
        return 0;
    return visit_all(check_entry, &op);
}

static int count_entry(void *arg, const void *p, unsigned owner)
{
    (void)arg;
    (void)p;
    (void)owner;
    return 1;
}

void vigil__debug_live_stats(struct vigil_debug_live_stats *out)
{
    memset(out, 0, sizeof *out);
    if (atomic_load_explicit(&ready, memory_order_acquire)) {
        out->live = visit_all(count_entry, NULL);
        out->lost = atomic_load_explicit(&lost, memory_order_relaxed) +
                    vigil__addrset_lost(&elsewhere);
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
