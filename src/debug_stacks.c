/*
 * debug_stacks.c - the debug hooks' stacks (see debug_stacks.h): recorded
 * on every allocation and free, written only in a report.
 */
#include "config.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "debug_stacks.h"
#include "lock.h"
#include "report.h"
#include "stacks.h"
#include "threads.h"
#include "treg.h"
#include "vigil/annotate.h"

/* Set while this thread captures: libunwind allocates its thread-local
 * state at a thread's first unwind (the loader's __tls_get_addr calls
 * malloc), and through the preload that allocation comes back here; it is
 * vigil's own and gets no stack, rather than an endless recursion. */
static __attribute__((tls_model("initial-exec"))) _Thread_local unsigned char capturing;

/* ---- the ids of the stacks a thread met last ----
 *
 * A program allocates from a few hundred stacks, again and again, and the
 * depot's insertion (a strong hash of every frame, a probe, a compare)
 * costs more than the capture.  Each thread keeps the ids of the stacks it
 * met last in a direct-mapped table, indexed by a hash that needs one
 * multiply a frame, all independent, and checked by comparing the frames:
 * a stack seen before costs that hash and one compare.  The tables are
 * per-thread objects of a registry (treg.h), from vigil__os_map, reused by
 * later threads: an id is the whole process's, so what a table holds stays
 * true for any thread. */

#define IDS 4096                /* a power of two: 544 KiB a thread */

struct id_entry {
    uint32_t id, n;
    void *frames[VIGIL_DEBUG_FRAMES];
};

/* And the stacks of the calls it made last, by where the call was: a
 * repeated call from the same place in the same stack (the same caller
 * and stack pointer, the same return addresses where the capture read
 * them: vigil__stack_place_same) has the same stack, and its id is known
 * without a capture.  Only for the thread that recorded them: a table
 * claimed by another thread starts without them.  A place is often
 * reached by several paths (a program's xmalloc called from many callers
 * at the same depth): each set holds WAYS of its stacks, replaced in
 * turn, so those paths do not push each other out. */
#define POS_SETS 2048           /* a power of two: 3.2 MiB a thread, touched as used */
#define WAYS 4

struct pos_entry {
    struct vigil_stack_place pl;        /* pl.sp 0: empty */
    uint32_t id;
};

_Static_assert(VIGIL_DEBUG_FRAMES <= VIGIL_PLACE_FRAMES, "a place keeps a whole stack");

struct id_table {
    struct vigil_treg_node node;
    struct id_entry e[IDS];
    struct pos_entry pos[POS_SETS][WAYS];
    /* Each way's tag (pos_tag), a set's in half a line: a lookup reads that and only the entry that
     * matches (an entry is some 400 bytes, and comparing in them read a
     * line a way). */
    uint64_t tag[POS_SETS][WAYS];
    unsigned char victim[POS_SETS];     /* the way a miss replaces next */
};

_Static_assert(sizeof(uint64_t) * WAYS <= 64, "a set's tags fit a line");

/* A way's tag: its caller ^ sp shifted left (caller ^ sp fits 63 bits:
 * user-space addresses lie below 2^63), so equal tags and equal stack
 * pointers mean equal callers, and a place's stack pointer compared
 * (vigil__stack_place_same) makes a match exact; or, odd, the key of a
 * stack kept in a set of its own (pos_second).  A table reused from
 * another thread has its tags set to NO_TAG, which neither is. */
#define NO_TAG ((uint64_t)1)

/* The stacks of one caller and stack pointer a set takes before the next
 * go to sets of their own (pos_second). */
#define SIBLINGS 2

static inline uint64_t pos_tag(const void *caller, uintptr_t sp)
{
    return (uint64_t)((uintptr_t)caller ^ sp) << 1;
}

static inline size_t pos_set(uint64_t key)
{
    return (size_t)((key * 0x9e3779b97f4a7c15u) >> 32) & (POS_SETS - 1);
}

/* The way of set whose tag is tag and whose place is the stack of the call
 * at sp with frame pointer bp, the caller being the tag's (or checked by
 * the place, for an odd tag); NULL when none is.  *sibling: a way of the
 * same tag and stack pointer that is not, when there is one and sibling
 * is not NULL (it says where a second set is, pos_second). */
__attribute__((always_inline))
static inline const struct pos_entry *pos_find(const struct id_table *t, size_t set, uint64_t tag,
                                               uintptr_t sp, uintptr_t bp,
                                               const struct pos_entry **sibling)
{
    const uint64_t *tags = t->tag[set];
    for (int w = 0; w < WAYS; w++) {
        if (tags[w] != tag)
            continue;
        const struct pos_entry *e = &t->pos[set][w];
        if (vigil__stack_place_same(sp, bp, &e->pl))
            return e;
        if (sibling && e->pl.sp == sp && e->pl.nwords)
            *sibling = e;
    }
    return NULL;
}

/* A caller and stack pointer are often shared by many stacks (a program's
 * xmalloc, called from many places at the same depth: on gcc's cc1, 81%
 * of the misses were of a stack pushed out of its set's four ways by
 * others of the same caller and stack pointer).  Once they fill their
 * set, the next are kept in sets of their own, by a key that adds the
 * word a place of them in the first set (sibling) reads first: the
 * caller's return address, at the same offset for all of them but when a
 * frame pointer places it.  A key only points the way: the place is
 * compared whole, its caller too.  The set and key such a stack goes
 * under in *set and *key. */
VIGIL_NO_SANITIZE_ADDRESS
static const struct pos_entry *pos_second(const struct id_table *t, const struct pos_entry *sibling,
                                          const void *caller, uintptr_t sp, uintptr_t bp,
                                          size_t *set, uint64_t *key)
{
    /* Read as the sibling's own check reads it: inside the stack, at the
     * same stack pointer, by the thread that kept it. */
    uintptr_t word = *(const uintptr_t *)(sp + sibling->pl.off[0]);
    *key = ((uint64_t)word * 0xbf58476d1ce4e5b9u ^ pos_tag(caller, sp)) | 3;
    *set = pos_set(*key);
    for (int w = 0; w < WAYS; w++) {
        const struct pos_entry *e = &t->pos[*set][w];
        if (t->tag[*set][w] == *key && e->pl.caller == caller &&
            vigil__stack_place_same(sp, bp, &e->pl))
            return e;
    }
    return NULL;
}

static void ids_child(void);
VIGIL_LOCK_DEFINE(ids_lock, ids_child);
static void lock_ids(void) { vigil__lock(&ids_lock); }
static void unlock_ids(void) { vigil__unlock(&ids_lock); }
static struct vigil_treg ids_registry = {
    .lock = lock_ids, .unlock = unlock_ids, .size = sizeof(struct id_table),
};
static pthread_once_t ids_once = PTHREAD_ONCE_INIT;

/* The thread's table: &ids_off until it has claimed one, after its
 * destructor ran, or when it could get none (the depot is asked every
 * time then).  ids_off is never written: its tags are 0 and its places
 * empty, so it has no hit, and the hit needs no test of it. */
static struct id_table ids_off;
static __attribute__((tls_model("initial-exec"))) _Thread_local struct id_table *my_ids = &ids_off;
/* The thread has claimed its table, or tried. */
static __attribute__((tls_model("initial-exec"))) _Thread_local unsigned char ids_tried;

static void ids_destructor(void *arg)
{
    my_ids = &ids_off;
    lock_ids();
    vigil__treg_retire(&ids_registry, arg);
    unlock_ids();
}

static void ids_init(void)
{
    vigil__treg_init(&ids_registry, ids_destructor);
}

static void ids_child(void)
{
    vigil__treg_fork_child(&ids_registry, my_ids, NULL);
}

static __attribute__((noinline, cold)) struct id_table *ids_claim(void)
{
    ids_tried = 1;
    my_ids = &ids_off;          /* pthread_setspecific may allocate: see treg.h */
    pthread_once(&ids_once, ids_init);
    int fresh;
    struct id_table *t = vigil__treg_claim(&ids_registry, &fresh);
    if (t && !fresh) {
        /* A way is read only once its tag matches: the tags are
         * enough, and the places, 50 times their size, are not
         * touched. */
        for (int s = 0; s < POS_SETS; s++)
            for (int w = 0; w < WAYS; w++)
                t->tag[s][w] = NO_TAG;
        memset(t->victim, 0, sizeof t->victim);
    }
    my_ids = t ? t : &ids_off;
    return my_ids;
}

static inline uint32_t stack_id(struct id_table *t, void *const *frames, int n)
{
    /* Odd constants, one a frame: the products are independent, so the
     * hash takes about a cycle a frame. */
    static const uint64_t k[VIGIL_DEBUG_FRAMES] = {
        0x9e3779b97f4a7c15u, 0xbf58476d1ce4e5b9u, 0x94d049bb133111ebu, 0xd6e8feb86659fd93u,
        0xa0761d6478bd642fu, 0xe7037ed1a0b428dbu, 0x8ebc6af09c88c6e3u, 0x589965cc75374cc3u,
        0x1d8e4e27c47d124fu, 0xc2b2ae3d27d4eb4fu, 0x165667b19e3779f9u, 0x85ebca77c2b2ae63u,
        0x27d4eb2f165667c5u, 0xff51afd7ed558ccdu, 0xc4ceb9fe1a85ec53u, 0x2545f4914f6cdd1du,
    };
    if (t == &ids_off)
        return vigil__stack_put(frames, n);
    uint64_t h = (uint64_t)n;
    for (int i = 0; i < n; i++)
        h += (uint64_t)(uintptr_t)frames[i] * k[i];
    struct id_entry *e = &t->e[(h >> 32) & (IDS - 1)];
    int same = e->id && e->n == (uint32_t)n;
    for (int i = 0; same && i < n; i++)
        same = e->frames[i] == frames[i];
    if (__builtin_expect(same, 1))
        return e->id;
    uint32_t id = vigil__stack_put(frames, n);
    if (id) {
        e->id = id;
        e->n = (uint32_t)n;
        for (int i = 0; i < n; i++)
            e->frames[i] = frames[i];
    }
    return id;
}

/* Everything but a hit of the position cache: the thread's table claimed,
 * its stack's bounds learnt, a capture, the caches filled.  capturing is
 * set and asked here only: nothing on the way to a hit allocates, and a
 * call made while this one captures never has a place of its own to hit
 * (places are kept here, with capturing clear). */
static __attribute__((noinline)) struct vigil_origin origin_slow(unsigned thread)
{
    if (__builtin_expect(capturing, 0))
        return (struct vigil_origin){ 0, thread };
    capturing = 1;
    struct id_table *t = my_ids;
    if (__builtin_expect(t == &ids_off && !ids_tried, 0))
        t = ids_claim();
    void *caller = vigil__caller;
    struct vigil_caller_regs r = { 0, 0 };
    if (t != &ids_off)
        r = vigil__stack_caller_regs();
    /* No stack pointer at the call without the thread's stack bounds:
     * learnt once a thread (the walk reads faster with them), here rather
     * than at every call.  What it allocates is vigil's own and gets no
     * stack (capturing is set). */
    if (__builtin_expect(!r.sp, 0) && vigil__stack_learn_bounds() && t != &ids_off)
        r = vigil__stack_caller_regs();
    uintptr_t sp = r.sp, bp = r.bp;
    struct pos_entry *pe = NULL;
    uint64_t *pt = NULL, key = 0;
    uint32_t id;
    if (sp) {
        key = pos_tag(caller, sp);
        size_t set = pos_set(key);
        const struct pos_entry *sibling = NULL;
        const struct pos_entry *hit = pos_find(t, set, key, sp, bp, &sibling);
        if (!hit && sibling) {
            /* Kept in a set of its own once the first holds
             * SIBLINGS of them, found there either way. */
            int same = 0;
            for (int w = 0; w < WAYS; w++)
                same += t->tag[set][w] == key;
            size_t set2;
            uint64_t key2;
            hit = pos_second(t, sibling, caller, sp, bp, &set2, &key2);
            if (same >= SIBLINGS) {
                set = set2;
                key = key2;
            }
        }
        if (hit) {
            id = hit->id;
            goto done;
        }
        pe = &t->pos[set][t->victim[set]];
        pt = &t->tag[set][t->victim[set]];
        t->victim[set] = (t->victim[set] + 1) & (WAYS - 1);
    }
    void *frames[VIGIL_DEBUG_FRAMES];
    struct vigil_stack_where where;
    int n = vigil__stack_capture_where(frames, VIGIL_DEBUG_FRAMES, &where);
    id = n > 0 ? stack_id(t, frames, n) : 0;
    if (pe && id && where.sp == sp && frames[0] == caller) {
        vigil__stack_place_set(&pe->pl, &where, frames, n);
        pe->id = id;
        *pt = key;
    }
done:
    capturing = 0;
    return (struct vigil_origin){ id, thread };
}

/* A stack the first set turned away: when a way there is a sibling (the
 * same tag and stack pointer: every way of the tag failed its compare),
 * looked for in its second set (pos_second) straight away, without the
 * slow path's second look at the first set's places (on perl's hash.pl,
 * 201,000 of 474,000 mallocs, Perl_safesysmalloc's, are found there: 287
 * instructions each through origin_slow).  The tags only are read again:
 * the hit stays as it was.  Nothing here allocates, as on the hit. */
static __attribute__((noinline)) struct vigil_origin
origin_second(void)
{
    /* Worked out again rather than handed over: kept live through the
     * hit's compares, the table, registers, tag and set cost the hit
     * registers saved and restored (2.4M instructions more on 200,000
     * LIFO steps with all five). */
    const struct id_table *t = my_ids;
    struct vigil_caller_regs r = vigil__stack_caller_regs();
    uintptr_t sp = r.sp, bp = r.bp;
    if (!sp)
        return origin_slow(vigil__thread_number());
    uint64_t tag = pos_tag(vigil__caller, sp);
    size_t set = pos_set(tag);
    /* The first sibling, where origin_slow keys by the last: the same
     * word for all but siblings whose frame pointer places it, and a key
     * only points the way (a miss here is origin_slow's to settle).  Asking
     * for the last, every way read, cost 40 instructions more a call. */
    for (int w = 0; w < WAYS; w++) {
        const struct pos_entry *e = &t->pos[set][w];
        if (t->tag[set][w] != tag || e->pl.sp != sp || !e->pl.nwords)
            continue;
        size_t set2;
        uint64_t key2;
        const struct pos_entry *hit = pos_second(t, e, vigil__caller, sp, bp, &set2, &key2);
        if (hit)
            return (struct vigil_origin){ hit->id, vigil__thread_number() };
        break;
    }
    return origin_slow(vigil__thread_number());
}

/* The origin of a hit, built in one register: as a struct of two fields,
 * gcc packed it through two vector registers (four instructions where
 * this is two). */
static inline struct vigil_origin origin_of(uint32_t id, unsigned thread)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    _Static_assert(offsetof(struct vigil_origin, stack) == 0 &&
                       offsetof(struct vigil_origin, thread) == 4, "stack low, thread high");
    uint64_t v = (uint64_t)thread << 32 | id;
    struct vigil_origin o;
    memcpy(&o, &v, sizeof o);
    return o;
#else
    return (struct vigil_origin){ id, thread };
#endif
}

struct vigil_origin vigil__debug_origin_here(void)
{
    struct id_table *t = my_ids;
    struct vigil_caller_regs r = vigil__stack_caller_regs();
    if (__builtin_expect(r.sp != 0, 1)) {
        uint64_t tag = pos_tag(vigil__caller, r.sp);
        const struct pos_entry *hit = pos_find(t, pos_set(tag), tag, r.sp, r.bp, NULL);
        if (__builtin_expect(hit != NULL, 1))
            return origin_of(hit->id, vigil__thread_number());
        return origin_second();
    }
    return origin_slow(vigil__thread_number());
}

/* The symbolizer's libraries allocate: while they run, the preload sends
 * this thread's allocations to the C library, not to the heap being
 * reported on (report.h). */
static void print_frames(struct vigil_report *r, void *const *frames, int n)
{
    if (n <= 0) {
        vigil__report_str(r, "    (no stack could be captured)\n");
        return;
    }
    /* What is written so far goes out first: symbolizing reads files and
     * allocates, on a heap that may be damaged enough to crash it. */
    vigil__report_flush(r);
    vigil__report_begin();
    vigil__stack_print(r, frames, n);
    vigil__report_end();
}

static void by_thread(struct vigil_report *r, const char *what, const char *verb, unsigned t)
{
    vigil__report_str(r, what);
    vigil__report_str(r, verb);
    vigil__report_str(r, " by thread T");
    vigil__report_dec(r, t);
    vigil__report_str(r, " here:\n");
}

void vigil__debug_print_call(struct vigil_report *r, const char *what)
{
    void *frames[VIGIL_DEBUG_FRAMES];
    int n = vigil__stack_capture_here(frames, VIGIL_DEBUG_FRAMES);
    by_thread(r, what, "", vigil__thread_number());
    print_frames(r, frames, n);
}

void vigil__debug_print_origin(struct vigil_report *r, const char *what, struct vigil_origin o)
{
    void *frames[VIGIL_DEBUG_FRAMES];
    vigil__report_char(r, '\n');
    if (!o.stack) {
        by_thread(r, what, "", o.thread);
        vigil__report_str(r, "    (no stack was recorded: none could be captured, or the stack depot is full)\n");
        return;
    }
    /* The depot knows its ids: one that is none of them was written over
     * (an overflow that ran past the tail guard), and so was the thread. */
    int n = vigil__stack_get(o.stack, frames, VIGIL_DEBUG_FRAMES);
    if (n <= 0) {
        vigil__report_str(r, what);
        vigil__report_str(r, " by: not known: the record of it after the block was overwritten"
                             " (stack id ");
        vigil__report_hex(r, o.stack);
        vigil__report_str(r, ")\n");
        return;
    }
    by_thread(r, what, "", o.thread);
    print_frames(r, frames, n);
}
