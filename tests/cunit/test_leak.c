/* test_leak.c - the leak scan and its report over a source of known
 * blocks: what globals, other blocks, interior pointers, and the stacks,
 * TLS and registers of threads blocked in a system call keep alive; direct
 * and indirect leaks and cycles counted as memcheck counts them; the
 * report's words; suppressions. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vigil/annotate.h"
#include "child.h"
#include "leak.h"
#include "leak_report.h"
#include "os.h"
#include "stacks.h"
#include "suites.h"

/* The source: blocks carved from memory mapped by os.c, as the arena's
 * are (vigil's own mappings are not roots: a block there is scanned only
 * when it is reached), listed in such memory too. */
#define MAX_BLOCKS 64
#define POOL_BYTES (1 << 20)
struct listed {
    void *p[MAX_BLOCKS];
    size_t size[MAX_BLOCKS];
    uint32_t stack[MAX_BLOCKS];
    size_t n;
    size_t used;
    _Alignas(16) unsigned char pool[POOL_BYTES];
};
static struct listed *list;

static void src_lock(void *ctx) { (void)ctx; }
static void src_unlock(void *ctx) { (void)ctx; }
static size_t src_count(void *ctx) { (void)ctx; return list->n; }
static size_t src_each(void *ctx, struct vigil_leak_block *out, size_t max)
{
    (void)ctx;
    size_t k = 0;
    for (size_t i = 0; i < list->n && k < max; i++)
        if (list->p[i])
            out[k++] = (struct vigil_leak_block){ (uintptr_t)list->p[i], list->size[i],
                                                  list->stack[i], 0 };
    return k;
}
static const struct vigil_leak_source source = { NULL, src_lock, src_unlock, src_count, src_each };

/* Where the tests keep their pointers: globals are roots. */
static void *volatile keep[8];

/* The blocks' addresses are handed back masked, so no copy of a real
 * address lingers in a register or on the test's own stack. */
#define MASK ((uintptr_t)0x5a5a5a5a5a5a5a5aULL)

__attribute__((noinline)) static uintptr_t new_block(size_t size, uint32_t stack)
{
    if (list->used + size + 32 > POOL_BYTES)
        abort();
    void *p = list->pool + list->used;
    list->used += (size + 15) / 16 * 16 + 16;
    list->p[list->n] = p;
    list->size[list->n] = size;
    list->stack[list->n] = stack;
    list->n++;
    return (uintptr_t)p ^ MASK;
}

static void *unmask(uintptr_t m) { return (void *)(m ^ MASK); }

/* Overwrite the dead stack below the caller, where copies of addresses
 * from the calls before may still be. */
__attribute__((noinline)) static void clobber_stack(void)
{
    volatile char junk[16384];
    memset((char *)junk, 0, sizeof junk);
}

/* Run fn on another thread, which then waits in read(2) until the check
 * is over: the copies of addresses fn's calls leave on a stack are then
 * below that thread's stack pointer, where no scan looks, and the checking
 * thread never had them. */
struct maker {
    void (*fn)(void);
    int done_pipe[2], go_pipe[2];
    pthread_t thread;
};

static void *maker_thread(void *arg)
{
    struct maker *m = arg;
    m->fn();
    char c = 'x';
    ssize_t io = write(m->done_pipe[1], &c, 1);
    /* A stopped thread's registers are roots, all of them, and the
     * argument registers keep what fn's calls left there: six zero
     * arguments clear them before the wait (read sets three again). */
    syscall(SYS_getpid, 0L, 0L, 0L, 0L, 0L, 0L);
    io = read(m->go_pipe[0], &c, 1);
    (void)io;
    return NULL;
}

static void make_elsewhere(struct maker *m, void (*fn)(void))
{
    m->fn = fn;
    if (pipe(m->done_pipe) || pipe(m->go_pipe) ||
        pthread_create(&m->thread, NULL, maker_thread, m))
        abort();
    char c;
    ssize_t io = read(m->done_pipe[0], &c, 1);
    (void)io;
}

static void maker_done(struct maker *m)
{
    ssize_t io = write(m->go_pipe[1], "x", 1);
    (void)io;
    pthread_join(m->thread, NULL);
    for (int i = 0; i < 2; i++) {
        close(m->done_pipe[i]);
        close(m->go_pipe[i]);
    }
}

/* Mapped by os.c: listed, so not a root.  Before any test runs: memory
 * that earlier tests' arenas had used would be at addresses that stale
 * words of theirs, in freed memory of the C library's heap (a root, as
 * every private writable mapping is), still point to. */
__attribute__((constructor)) static void map_list(void)
{
    list = vigil__os_map(sizeof *list);
}

static void reset(void)
{
    if (!list)
        map_list();
    /* New blocks at new addresses: a dead thread's stack, which glibc
     * keeps for reuse, still holds the addresses of an earlier test's. */
    size_t used = list->used;
    memset(list, 0, sizeof *list);
    list->used = used;
    memset((void *)keep, 0, sizeof keep);
}

__attribute__((noinline)) static size_t check(struct vigil_leak_totals *t)
{
    clobber_stack();
    FILE *devnull = fopen("/dev/null", "w");
    size_t n = vigil__leak_check(&source, devnull, t);
    fclose(devnull);
    return n;
}

/* Under memcheck the scan does not run (leak.c says why). */
static int skipped(void)
{
    return VIGIL_RUNNING_ON_VALGRIND();
}

static void test_unavailable(void)
{
    if (!skipped())
        return;
    reset();
    (void)new_block(8, 0);
    struct vigil_leak_totals t;
    CU_ASSERT_EQUAL(check(&t), 0);
}

static void test_globals_keep(void)
{
    if (skipped())
        return;
    reset();
    keep[0] = unmask(new_block(40, 0));
    keep[1] = (char *)unmask(new_block(100, 0)) + 37;       /* interior */
    keep[2] = unmask(new_block(0, 0));                      /* 0 bytes */
    struct vigil_leak_totals t;
    CU_ASSERT_EQUAL(check(&t), 0);
    CU_ASSERT_EQUAL(t.direct_blocks + t.indirect_blocks, 0);
}

static void make_direct_and_indirect(void)
{
    uintptr_t a = new_block(40, 0), b = new_block(16, 0), c = new_block(24, 0);
    *(void **)unmask(a) = unmask(b);        /* a -> b; nothing -> a */
    keep[0] = unmask(c);
    (void)new_block(8, 0);                  /* nothing -> it */
}

static void test_direct_and_indirect(void)
{
    if (skipped())
        return;
    reset();
    struct maker m;
    make_elsewhere(&m, make_direct_and_indirect);
    struct vigil_leak_totals t;
    CU_ASSERT_EQUAL(check(&t), 3);
    maker_done(&m);
    CU_ASSERT_EQUAL(t.direct_blocks, 2);
    CU_ASSERT_EQUAL(t.direct_bytes, 48);
    CU_ASSERT_EQUAL(t.indirect_blocks, 1);
    CU_ASSERT_EQUAL(t.indirect_bytes, 16);
}

/* Reached through other blocks, at any depth: not leaked. */
static void make_chain(void)
{
    uintptr_t prev = new_block(32, 0);
    keep[0] = unmask(prev);
    for (int i = 0; i < 20; i++) {
        uintptr_t next = new_block(32, 0);
        ((void **)unmask(prev))[1] = unmask(next);
        prev = next;
    }
}

static void test_chain_through_blocks(void)
{
    if (skipped())
        return;
    reset();
    struct maker m;
    make_elsewhere(&m, make_chain);
    struct vigil_leak_totals t;
    CU_ASSERT_EQUAL(check(&t), 0);
    ((void **)keep[0])[1] = NULL;           /* cut after the first */
    CU_ASSERT_EQUAL(check(&t), 20);
    maker_done(&m);
    CU_ASSERT_EQUAL(t.direct_blocks, 1);
    CU_ASSERT_EQUAL(t.indirect_blocks, 19);
}

/* A cycle nothing reaches: memcheck's count, one direct (the block at the
 * lower address) and the rest indirect. */
static void make_cycle(void)
{
    uintptr_t a = new_block(64, 0), b = new_block(64, 0);
    *(void **)unmask(a) = unmask(b);
    *(void **)unmask(b) = unmask(a);
}

static void test_cycle(void)
{
    if (skipped())
        return;
    reset();
    struct maker m;
    make_elsewhere(&m, make_cycle);
    struct vigil_leak_totals t;
    CU_ASSERT_EQUAL(check(&t), 2);
    maker_done(&m);
    CU_ASSERT_EQUAL(t.direct_blocks, 1);
    CU_ASSERT_EQUAL(t.indirect_blocks, 1);
}

/* A thread blocked in read(2), the only holder of a pointer on its stack,
 * another in its TLS: neither block is a leak. */
static __thread void *volatile tls_keep;   /* volatile: a store never read is not dropped */
static int pipefd[2];

struct holder {
    uintptr_t on_stack, in_tls;
    volatile int ready;
};

static void *holding_thread(void *arg)
{
    struct holder *h = arg;
    void *volatile mine = unmask(h->on_stack);
    tls_keep = unmask(h->in_tls);
    h->on_stack = h->in_tls = 0;
    h->ready = 1;
    char c;
    ssize_t got = read(pipefd[0], &c, 1);   /* blocked until the test is done */
    (void)got;
    (void)mine;
    tls_keep = NULL;        /* glibc keeps a dead thread's stack, TLS and all, for reuse */
    return NULL;
}

static void test_blocked_thread_keeps(void)
{
    if (skipped())
        return;
    reset();
    CU_ASSERT_FATAL(pipe(pipefd) == 0);
    struct holder *h = calloc(1, sizeof *h);
    h->on_stack = new_block(48, 0);
    h->in_tls = new_block(56, 0);
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, holding_thread, h) == 0);
    while (!h->ready)
        usleep(1000);
    usleep(20000);                          /* in read(2) by now */
    struct vigil_leak_totals t;
    CU_ASSERT_EQUAL(check(&t), 0);
    CU_ASSERT_EQUAL(write(pipefd[1], "x", 1), 1);
    pthread_join(th, NULL);
    close(pipefd[0]);
    close(pipefd[1]);
    free(h);
}

/* The report's words, with the allocation stack symbolized. */
static int alloc_line;
__attribute__((noinline)) static uint32_t this_stack(void)
{
    void *f[8];
    alloc_line = __LINE__ + 1;
    int n = vigil__stack_capture(f, 8, 0);
    return vigil__stack_put(f, n);
}

/* Apart from the check, so no register of the check's caller holds them. */
__attribute__((noinline)) static void make_leaks(void)
{
    uint32_t s = this_stack();
    uintptr_t a = new_block(40, s);
    *(void **)unmask(a) = unmask(new_block(16, s));
    new_block(100, 0);
}

static void report_child(void *arg)
{
    (void)arg;
    reset();
    struct maker m;
    make_elsewhere(&m, make_leaks);
    size_t n = vigil__leak_check(&source, NULL, NULL);
    maker_done(&m);
    fprintf(stdout, "%zu\n", n);
}

static void test_report_words(void)
{
    if (skipped())
        return;
    struct child_result r;
    this_stack();                           /* alloc_line, in this process */
    run_child(report_child, NULL, &r);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "3\n");
    CU_ASSERT(strncmp(r.err, "vigil: detected memory leaks\n\n", 30) == 0);
    const char *direct100 = strstr(r.err, "Direct leak of 100 byte(s) in 1 object(s) allocated from:\n"
                                          "    (no stack");
    const char *direct40 = strstr(r.err, "Direct leak of 40 byte(s) in 1 object(s) allocated from:\n    #0 0x");
    const char *indirect = strstr(r.err, "Indirect leak of 16 byte(s) in 1 object(s) allocated from:\n    #0 0x");
    CU_ASSERT_PTR_NOT_NULL(direct100);
    CU_ASSERT_PTR_NOT_NULL(direct40);
    CU_ASSERT_PTR_NOT_NULL(indirect);
    CU_ASSERT(direct100 && direct40 && indirect && direct100 < direct40 && direct40 < indirect);
#ifdef VIGIL_HAVE_LIBDW
    char want[96];
    /* The file as the debug information names it: its tail is this one's
     * (the build may give the compiler a relative or an absolute path). */
    snprintf(want, sizeof want, "test_leak.c:%d\n", alloc_line);
    const char *frame = strstr(r.err, " in this_stack ");
    const char *eol = frame ? strchr(frame, '\n') : NULL;
    size_t wl = strlen(want);
    int at = eol && (size_t)(eol + 1 - frame) >= wl && strncmp(eol + 1 - wl, want, wl) == 0;
    CU_ASSERT(at);
    if (!at)
        fprintf(stderr, "\nwanted this_stack at %s in:\n%s", want, r.err);
#endif
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "\nvigil: SUMMARY: 156 byte(s) leaked in 3 allocation(s).\n"));
}

static void suppressed_child(void *arg)
{
    vigil__leak_suppressions(arg);
    report_child(NULL);
}

static void test_suppressions(void)
{
    if (skipped())
        return;
    char path[] = "/tmp/vigil-supp-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    const char *text = "# the test's own\n\nleak:this_st*ck\nnonsense here\n";
    CU_ASSERT(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    struct child_result r;
    run_child(suppressed_child, path, &r);
    unlink(path);
    CU_ASSERT_STRING_EQUAL(r.out, "1\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, ":4: not a suppression (expected leak:PATTERN), skipped: nonsense here\n"));
    CU_ASSERT_PTR_NULL(strstr(r.err, "Direct leak of 40"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "SUMMARY: 100 byte(s) leaked in 1 allocation(s)."));
}

static void test_last_cleanup(void)
{
    reset();
}

void register_leak_suite(void)
{
    static const struct test_case tests[] = {
        { "under memcheck: no scan, said why", test_unavailable },
        { "globals, interior pointers, empty blocks: kept", test_globals_keep },
        { "direct and indirect leaks", test_direct_and_indirect },
        { "a chain through 20 blocks; then cut", test_chain_through_blocks },
        { "a cycle: one direct, one indirect (memcheck's count)", test_cycle },
        { "a thread blocked in read: its stack and TLS keep blocks", test_blocked_thread_keeps },
        { "report: the words, grouped, largest first, with stacks", test_report_words },
        { "suppressions: leak:PATTERN, a bad line named", test_suppressions },
        { "(the test's blocks freed)", test_last_cleanup },
        { NULL, NULL },
    };
    add_suite("leak", tests);
}
