/* fail_sites.c - vigil's own allocations made to fail, one site a run, in
 * a fresh process each (tests/cunit/test_fail.c asserts what it prints):
 * the os.c test hook (vigil__os_fail) refuses exactly the mappings the
 * site makes, and the run shows how vigil degrades and that the
 * program's blocks are all still there.
 *   registry        os.c's registry of vigil's mappings cannot grow
 *   arena           no new arena (heap.c)
 *   depot           the stack depot's table, then a chunk of it
 *   quarantine      the debug quarantine's ring (VIGIL_MALLOC=debug)
 *   thread          a new thread gets no cache and no quarantine batch
 *                   (treg), in debug mode or not
 *   leak            each buffer of a leak check, and the stop of the
 *                   other threads
 *   annotated       under ASan (or memcheck): an arena's table of
 *                   requested sizes, and the tools' quarantine ring
 *                   (arena_tools.c)
 * Each prints one line of results; the blocks are counted with
 * vigil_allocated_blocks and checked byte by byte. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arena_tools.h"
#include "domain.h"
#include "leak.h"
#include "os.h"
#include "stacks_depot.h"
#include "tcache.h"
#include "vigil.h"

#define NBLOCKS 100

static const char *yes(int ok)
{
    return ok ? "yes" : "NO";
}

/* n blocks of size bytes, each filled with its own byte; 1 if all served. */
static int fill(void **v, size_t n, size_t size)
{
    int all = 1;
    for (size_t i = 0; i < n; i++) {
        v[i] = vigil_mem_malloc(size);
        if (v[i])
            memset(v[i], (int)(i & 0xff), size);
        else
            all = 0;
    }
    return all;
}

static int whole(void *const *v, size_t n, size_t size)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; v[i] && j < size; j++)
            if (((const unsigned char *)v[i])[j] != (unsigned char)(i & 0xff))
                return 0;
    return 1;
}

static void drop(void **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        vigil_mem_free(v[i]);
}

/* ---- os.c's registry ---- */

static void registry(void)
{
    enum { N = 300 };
    static void *m[N];
    void *first = vigil__os_map(4096);         /* the registry's first array made */
    size_t before = vigil__os_regions(NULL, NULL, 0);
    vigil__os_fail(VIGIL_OS_REGISTRY, 0, 0);
    int usable = 0;
    for (int i = 0; i < N; i++)
        if ((m[i] = vigil__os_map(4096)) != NULL) {
            memset(m[i], 1, 4096);
            usable++;
        }
    size_t listed = vigil__os_regions(NULL, NULL, 0), lost = vigil__os_regions_lost();
    unsigned long refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    for (int i = 0; i < N; i++)
        vigil__os_unmap(m[i], 4096);
    printf("mapped and usable: %d of %d; listed: %zu (the first array, full); the rest "
           "counted lost: %s; growths refused: %s; listed after unmapping: %s\n",
           usable, N, listed, yes(lost == N - (listed - before)), yes(refused == lost),
           yes(vigil__os_regions(NULL, NULL, 0) == before));
    vigil__os_unmap(first, 4096);
}

/* ---- the arena's arenas ---- */

static void arena(void)
{
    enum { N = 40000 };                 /* more than an arena's 64-byte blocks */
    static void *v[N];
    size_t base = vigil_allocated_blocks();
    int first = fill(v, NBLOCKS, 64);   /* the first arena is made */
    vigil__os_fail(VIGIL_OS_ARENA, 0, 0);
    int rest = fill(v + NBLOCKS, N - NBLOCKS, 64);
    unsigned long refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    size_t pooled = 0;
    for (size_t i = 0; i < N; i++)
        pooled += vigil__domain_arena_owns(v[i]);
    void *again = vigil_mem_malloc(64);
    printf("no new arena: refused %s; every block served: %s; from the first arena: %s, "
           "the rest from the system allocator: %s; every block whole: %s; "
           "heap consistent: %s; a new arena once memory is back: %s; ",
           yes(refused >= 1), yes(first && rest), yes(pooled > NBLOCKS && pooled < N),
           yes(pooled < N), yes(whole(v, NBLOCKS, 64) && whole(v + NBLOCKS, N - NBLOCKS, 64)),
           yes(vigil__arena_check() == 0),
           yes(again && vigil__domain_arena_owns(again) && !vigil__domain_arena_owns(v[N - 1])));
    vigil_mem_free(again);
    drop(v, N);
    vigil__arena_settle();
    printf("all freed: %s\n", yes(vigil_allocated_blocks() == base));
}

/* ---- the stack depot ---- */

static void depot(void)
{
    void *f[3] = { (void *)0x1001, (void *)0x2002, (void *)0x3003 };
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 0, 1);         /* its table */
    uint32_t a = vigil__stack_put(f, 3);
    size_t lost_a = vigil__stack_lost();
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 1, 1);         /* the table, not the chunk */
    uint32_t b = vigil__stack_put(f, 3);
    size_t lost_b = vigil__stack_lost();
    unsigned long refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    uint32_t c = vigil__stack_put(f, 3);
    void *g[3] = { 0 };
    int n = vigil__stack_get(c, g, 3);
    printf("no table: id %u, lost %zu; no chunk: id %u, lost %zu, refused %lu; "
           "then: stored %s, the same frames %s\n",
           a, lost_a, b, lost_b, refused, yes(c != 0),
           yes(n == 3 && memcmp(f, g, sizeof f) == 0));
}

/* ---- the debug quarantine's ring ---- */

static void quarantine(void)
{
    static void *v[NBLOCKS];
    size_t base = vigil_allocated_blocks();
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 0, 0);
    fill(v, NBLOCKS, 48);
    int ok = whole(v, NBLOCKS, 48);
    drop(v, NBLOCKS);
    size_t armed = vigil_allocated_blocks() - base;
    unsigned long refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    fill(v, NBLOCKS, 48);
    drop(v, NBLOCKS);
    size_t waiting = vigil_allocated_blocks() - base;
    printf("debug hooks: %s; no memory for the quarantine: %zu blocks left after %d freed "
           "(checked and freed at once), refused %s, blocks whole %s; "
           "memory back: %zu of %d freed blocks wait in the quarantine\n",
           yes(vigil_allocator_name() && strcmp(vigil_allocator_name(), "arena_debug") == 0),
           armed, NBLOCKS, yes(refused >= 1), yes(ok), waiting, NBLOCKS);
}

/* ---- a thread's cache and quarantine batch ---- */

struct work {
    size_t live_after;          /* blocks live after the thread freed its own */
    int ok;
};

static void *thread_work(void *arg)
{
    struct work *w = arg;
    static void *v[1000];
    w->ok = fill(v, 1000, 40) && whole(v, 1000, 40);
    drop(v, 1000);
    w->live_after = vigil_allocated_blocks();
    return NULL;
}

static void thread(void)
{
    static void *v[64];
    /* The main thread's batch and the ring exist first (debug mode): a
     * batch of 32 moves into the ring. */
    fill(v, 64, 40);
    drop(v, 64);
    vigil__arena_settle();
    size_t base = vigil_allocated_blocks();
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 0, 0);
    struct work w = { 0, 0 };
    pthread_t t;
    if (pthread_create(&t, NULL, thread_work, &w) || pthread_join(t, NULL))
        abort();
    unsigned long refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    const char *name = vigil_allocator_name();
    int debug = name && strcmp(name, "arena_debug") == 0;
    printf("%s: no cache or batch for the thread: refused %s; 1000 blocks served and whole: %s; "
           "heap consistent: %s; ", debug ? "debug hooks" : "arena", yes(refused >= 1),
           yes(w.ok), yes(vigil__arena_check() == 0));
    if (debug)
        printf("freed blocks still wait in the quarantine: %s\n",
               yes(w.live_after > base));
    else
        printf("all freed: %s\n", yes(w.live_after == base));
}

/* ---- a leak check ---- */

/* One block nobody points to, in memory of vigil's own (so not a root);
 * its address is kept masked, and unmasked only inside the check. */
#define MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aULL)
static uintptr_t masked;

static void src_lock(void *ctx) { (void)ctx; }
static void src_unlock(void *ctx) { (void)ctx; }
static size_t src_count(void *ctx) { (void)ctx; return 1; }
static size_t src_each(void *ctx, struct vigil_leak_block *out, size_t max)
{
    (void)ctx;
    if (!max)
        return 0;
    out[0] = (struct vigil_leak_block){ masked ^ MASK, 40, 0, 0 };
    return 1;
}
static const struct vigil_leak_source source = { NULL, src_lock, src_unlock, src_count,
                                                 src_each };

static int pipe_fds[2];

static void *waiter(void *arg)
{
    char c;
    ssize_t r = read(pipe_fds[0], &c, 1);
    (void)r;
    return arg;
}

static size_t check_with(unsigned kinds, unsigned long after, unsigned long *refused)
{
    FILE *out = fopen("/dev/null", "w");
    vigil__os_fail(kinds, after, 1);
    size_t n = vigil__leak_check(&source, out, NULL);
    *refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    fclose(out);
    return n;
}

static void leak(void)
{
    masked = (uintptr_t)vigil__os_map(4096) ^ MASK;
    unsigned long r;
    size_t found = check_with(0, 0, &r);
    printf("unhindered: %zu leak; ", found);
    static const char *const what[] = { "its list of blocks", "its copy of vigil's mappings",
                                        "the scan's mark stack", "the maps file" };
    for (unsigned long k = 0; k < 4; k++) {
        size_t n = check_with(VIGIL_OS_UNLISTED, k, &r);
        printf("no memory for %s: %zu reported (refused %lu); ", what[k], n, r);
    }
    pthread_t t;
    if (pipe(pipe_fds) || pthread_create(&t, NULL, waiter, NULL))
        abort();
    size_t n = check_with(VIGIL_OS_BOOKKEEPING, 0, &r);
    printf("no memory for the list of threads: %zu reported (refused %lu); ", n, r);
    found = check_with(0, 0, &r);
    char c = 'x';
    if (write(pipe_fds[1], &c, 1) != 1 || pthread_join(t, NULL))
        abort();
    printf("memory back: %zu leak\n", found);
}

/* ---- the tools' own tables (annotating: ASan, memcheck) ---- */

static void annotated(void)
{
    static void *v[NBLOCKS];
    vigil__ensure_init();
    vigil__tools_decide();
    if (!vigil__annotating()) {
        printf("not annotating\n");
        return;
    }
    /* The first arena needs its table of requested sizes: without it,
     * no arena, and the block comes from the system allocator. */
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 0, 1);
    void *p = vigil_mem_malloc(32);
    unsigned long refused = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    int from_system = p && !vigil__domain_arena_owns(p);
    vigil_mem_free(p);
    int served = fill(v, NBLOCKS, 32);
    int pooled = served && vigil__domain_arena_owns(v[0]);
    /* The tools' quarantine, empty so far, cannot grow its ring. */
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 0, 0);
    drop(v, NBLOCKS / 2);
    size_t held = vigil__toolq_count();
    vigil__os_fail(0, 0, 0);
    drop(v + NBLOCKS / 2, NBLOCKS / 2);
    printf("no table for the first arena: refused %lu, the block from the system allocator %s; "
           "an arena once memory is back: %s; no ring for the tools' quarantine: %zu of %d "
           "freed blocks held (freed at once); memory back: %zu held; heap consistent: %s\n",
           refused, yes(from_system), yes(pooled), held, NBLOCKS / 2, vigil__toolq_count(),
           yes(vigil__arena_check() == 0));
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } sites[] = {
        { "registry", registry }, { "arena", arena }, { "depot", depot },
        { "quarantine", quarantine }, { "thread", thread }, { "leak", leak },
        { "annotated", annotated },
    };
    for (size_t i = 0; argc > 1 && i < sizeof sites / sizeof sites[0]; i++)
        if (strcmp(argv[1], sites[i].name) == 0) {
            sites[i].fn();
            return 0;
        }
    fprintf(stderr, "fail_sites: which site? (registry, arena, depot, quarantine, thread, "
                    "leak, annotated)\n");
    return 2;
}
