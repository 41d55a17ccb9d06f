/* test_stacks.c - the stacks helper: captures of a known chain of calls
 * (a -> b -> c) by the frame walk and by libunwind, symbolized with
 * function, file and line; the fallbacks when less is known; the depot's
 * ids, from one thread and from eight; a capture in a signal handler. */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stacks.h"
#include "stacks_shapes.h"
#include "vigil/annotate.h"
#include "suites.h"

/* noinline, noclone, no sibling calls: each function keeps a frame of its
 * own under its own name, as a program built with -g -O0 would. */
#ifdef __clang__
#define CHAIN __attribute__((noinline))
#else
#define CHAIN __attribute__((noinline, noclone))
#endif

static volatile int sink;
static int line_a, line_b, line_c;       /* the line of each function's call */

int stacks_test_c(void **f, int max, int skip, int unwind);
int stacks_test_b(void **f, int max, int skip, int unwind);
int stacks_test_a(void **f, int max, int skip, int unwind);

CHAIN int stacks_test_c(void **f, int max, int skip, int unwind)
{
    int n;
    line_c = __LINE__ + 2;      /* the frame walk's and libunwind's call */
    n = unwind == 2 ? vigil__stack_capture_here(f, max)
        : unwind ? vigil__stack_capture_unwind(f, max, skip) : vigil__stack_capture(f, max, skip);
    sink++;
    return n;
}

CHAIN int stacks_test_b(void **f, int max, int skip, int unwind)
{
    int n;
    line_b = __LINE__ + 1;
    n = stacks_test_c(f, max, skip, unwind);
    sink++;
    return n;
}

CHAIN int stacks_test_a(void **f, int max, int skip, int unwind)
{
    int n;
    line_a = __LINE__ + 1;
    n = stacks_test_b(f, max, skip, unwind);
    sink++;
    return n;
}

/* The report's text, NUL-terminated; r is emptied so nothing reaches stderr. */
static void take_text(struct vigil_report *r, char *out, size_t size)
{
    CU_ASSERT_FATAL(r->len < size);
    memcpy(out, r->buf, r->len);
    out[r->len] = 0;
    r->len = 0;
}

/* Line k of text (0-based), copied into line; 0 when there is none. */
static int nth_line(const char *text, int k, char *line, size_t size)
{
    for (; k > 0; k--) {
        text = strchr(text, '\n');
        if (!text)
            return 0;
        text++;
    }
    const char *end = strchr(text, '\n');
    if (!end || (size_t)(end - text) >= size)
        return 0;
    memcpy(line, text, (size_t)(end - text));
    line[end - text] = 0;
    return 1;
}

/* Line k says "#k 0x... in FUNC .../test_stacks.c:LINE". */
static void assert_frame_line(const char *text, int k, const char *func, int lineno)
{
    char line[512], want[64];
    CU_ASSERT_FATAL(nth_line(text, k, line, sizeof line));
    snprintf(want, sizeof want, "    #%d 0x", k);
    CU_ASSERT(strncmp(line, want, strlen(want)) == 0);
    snprintf(want, sizeof want, " in %s ", func);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, want));
    snprintf(want, sizeof want, "test_stacks.c:%d", lineno);
    size_t ll = strlen(line), wl = strlen(want);
    CU_ASSERT(ll >= wl && strcmp(line + ll - wl, want) == 0);
    if (!strstr(line, func) || ll < wl || strcmp(line + ll - wl, want) != 0)
        fprintf(stderr, "\n  expected %s at %s, got: %s\n", func, want, line);
}

static void check_chain_symbolized(int unwind)
{
    void *f[8];
    int n = stacks_test_a(f, 8, 0, unwind);
    CU_ASSERT_FATAL(n >= 4);              /* c, b, a, this test (and more) */
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__stack_print(&r, f, 3);
    char text[VIGIL_REPORT_BUFSIZE + 1];
    take_text(&r, text, sizeof text);
#ifdef VIGIL_HAVE_LIBDW
    assert_frame_line(text, 0, "stacks_test_c", line_c);
    assert_frame_line(text, 1, "stacks_test_b", line_b);
    assert_frame_line(text, 2, "stacks_test_a", line_a);
#else
    /* dladdr knows only exported names: the tests' are not; modules only. */
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "    #2 0x"));
#endif
}

static void test_capture_chain(void)
{
    vigil__stack_learn_bounds();
    check_chain_symbolized(0);
}

static void test_capture_unwind_chain(void)
{
#ifdef VIGIL_HAVE_LIBUNWIND
    /* libunwind hands memcheck uninitialised stack bytes as it validates
     * addresses: not vigil's to suppress, and vigil does not load it there,
     * nor under ThreadSanitizer (stacks_capture.c). */
    if (VIGIL_RUNNING_ON_VALGRIND() || VIGIL_TSAN_ENABLED) {
        CU_ASSERT_EQUAL(vigil__stack_unwinder_load(), 0);
        return;
    }
    CU_ASSERT_FATAL(vigil__stack_unwinder_load() == 1);
    CU_ASSERT_EQUAL(vigil__stack_unwinder_load(), 1);
    check_chain_symbolized(1);
    /* Both captures agree on the return addresses in b and a (c's, and
     * this test's, are at two different calls). */
    void *fp[8], *uw[8];
    int n1 = stacks_test_a(fp, 8, 0, 0), n2 = stacks_test_a(uw, 8, 0, 1);
    CU_ASSERT_FATAL(n1 >= 4 && n2 >= 4);
    CU_ASSERT_PTR_EQUAL(fp[1], uw[1]);
    CU_ASSERT_PTR_EQUAL(fp[2], uw[2]);
#else
    void *f[4];
    CU_ASSERT_EQUAL(vigil__stack_capture_unwind(f, 4, 0), 0);
#endif
}

static void test_capture_skip(void)
{
    void *all[8], *skipped[8];
    int n = stacks_test_a(all, 8, 0, 0);
    int m = stacks_test_a(skipped, 8, 2, 0);
    CU_ASSERT_FATAL(n >= 4 && m >= 2);
    CU_ASSERT_PTR_EQUAL(skipped[0], all[2]);      /* a's return into this test */
    CU_ASSERT_PTR_NOT_NULL(skipped[1]);            /* this test: another call than all[3]'s */
    CU_ASSERT_EQUAL(stacks_test_a(all, 0, 0, 0), 0);
    CU_ASSERT_EQUAL(stacks_test_a(all, 2, 0, 0), 2);
}

/* The capture the reports take starts at the program's call into vigil
 * (vigil__caller), whichever way it is made. */
static void test_capture_here(void)
{
    void *all[8], *here[8];
    vigil__stack_unwinder_load();
    int n = stacks_test_a(all, 8, 0, 0);
    CU_ASSERT_FATAL(n >= 4);
    void *saved = vigil__caller;
    vigil__caller = all[1];                       /* b's call of c */
    for (int round = 0; round < 3; round++) {     /* learning, then learnt */
        int m = stacks_test_a(here, 8, 0, 2);
        CU_ASSERT_FATAL(m >= 3);
        CU_ASSERT_PTR_EQUAL(here[0], all[1]);
        CU_ASSERT_PTR_EQUAL(here[1], all[2]);
        CU_ASSERT_PTR_NOT_NULL(here[2]);          /* this test: another call than all[3]'s */
    }
    CU_ASSERT_EQUAL(stacks_test_a(here, 1, 0, 2), 1);
    CU_ASSERT_PTR_EQUAL(here[0], all[1]);
    /* A caller that is not on the stack drops nothing. */
    vigil__caller = (void *)(uintptr_t)1;
    CU_ASSERT(stacks_test_a(here, 8, 0, 2) >= 4);
    vigil__caller = saved;
}

/* A thread that never learns its bounds: every frame is read with
 * vigil__peek, and the walk still finds the chain. */
static void *unbounded_thread(void *arg)
{
    void **f = arg;
    return (void *)(intptr_t)stacks_test_a(f, 8, 0, 0);
}

static void test_capture_unbounded(void)
{
    void *mine[8], *theirs[8];
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, unbounded_thread, theirs) == 0);
    void *ret;
    pthread_join(t, &ret);
    int n = (int)(intptr_t)ret;
    CU_ASSERT_FATAL(n >= 4);                      /* c, b, a, the thread function */
    CU_ASSERT_FATAL(stacks_test_a(mine, 8, 0, 0) >= 3);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_PTR_EQUAL(theirs[i], mine[i]);  /* same calls, same returns */
}

/* In a signal handler, on the thread's stack and on a signal stack. */
static void *handler_frames[16];
static volatile int handler_n = -1;

static void on_signal(int sig)
{
    (void)sig;
    handler_n = vigil__stack_capture(handler_frames, 16, 0);
}

static void test_capture_in_signal_handler(void)
{
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    CU_ASSERT_FATAL(sigaction(SIGUSR1, &sa, &old) == 0);
    handler_n = -1;
    raise(SIGUSR1);
    CU_ASSERT(handler_n >= 1);                    /* at least the signal return */

    /* On a signal stack, outside the thread's bounds: read with peek. */
    stack_t ss = { 0 }, oldss;
    ss.ss_size = 64 * 1024;
    ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(ss.ss_sp != MAP_FAILED);
    CU_ASSERT_FATAL(sigaltstack(&ss, &oldss) == 0);
    sa.sa_flags = SA_ONSTACK;
    CU_ASSERT_FATAL(sigaction(SIGUSR1, &sa, NULL) == 0);
    handler_n = -1;
    raise(SIGUSR1);
    CU_ASSERT(handler_n >= 1);
    sigaltstack(&oldss, NULL);
    munmap(ss.ss_sp, ss.ss_size);
    sigaction(SIGUSR1, &old, NULL);
}

/* The fallbacks: a symbol without lines, a module without a symbol, no
 * module at all. */
static void test_print_fallbacks(void)
{
    struct vigil_report r;
    char text[VIGIL_REPORT_BUFSIZE + 1], line[512];
    vigil__report_init(&r);

    /* Inside a function of CUnit's library, which has symbols but (unless
     * its debug files are installed) no line table; the +2: a frame is a
     * return address, and the address shown is the one looked up. */
    void *f[1] = { (void *)((uintptr_t)(void *)CU_get_registry + 2) };
    vigil__stack_print(&r, f, 1);
    take_text(&r, text, sizeof text);
    CU_ASSERT_FATAL(nth_line(text, 0, line, sizeof line));
    CU_ASSERT_PTR_NOT_NULL(strstr(line, " in CU_get_registry "));
    if (strstr(line, "(/")) {
        CU_ASSERT_PTR_NOT_NULL(strstr(line, "libcunit"));
        CU_ASSERT_PTR_NOT_NULL(strstr(line, "+0x"));
        CU_ASSERT(line[strlen(line) - 1] == ')');
    } else {
        CU_ASSERT_PTR_NOT_NULL(strrchr(line, ':'));   /* its debug files are there */
    }
    char want[64];
    snprintf(want, sizeof want, "    #0 %p ", (void *)((uintptr_t)(void *)CU_get_registry + 1));
    CU_ASSERT(strncmp(line, want, strlen(want)) == 0);

    /* The ELF header of this program: in a module, in no function. */
    Dl_info self;
    CU_ASSERT_FATAL(dladdr((void *)test_print_fallbacks, &self) && self.dli_fbase);
    f[0] = (char *)self.dli_fbase + 0x11;
    vigil__stack_print(&r, f, 1);
    take_text(&r, text, sizeof text);
    CU_ASSERT_FATAL(nth_line(text, 0, line, sizeof line));
    CU_ASSERT_PTR_NULL(strstr(line, " in "));
    size_t ll = strlen(line);
    CU_ASSERT(ll > 6 && strcmp(line + ll - 6, "+0x10)") == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "unit"));

    /* Anonymous memory: in no module. */
    char *anon = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_FATAL(anon != MAP_FAILED);
    f[0] = anon + 0x100;
    vigil__stack_print(&r, f, 1);
    take_text(&r, text, sizeof text);
    CU_ASSERT_FATAL(nth_line(text, 0, line, sizeof line));
    /* No function is claimed for it.  Which module, if any, libdw takes an
     * anonymous mapping next to a loaded object for depends on where mmap
     * put it (and under valgrind, on valgrind's own mappings). */
    CU_ASSERT_PTR_NULL(strstr(line, " in "));
    CU_ASSERT(strncmp(line, "    #0 0x", 9) == 0);
    munmap(anon, 4096);
}

/* vigil's own frames are left out, and the numbering starts after them. */
static void test_print_leaves_out_vigil(void)
{
    void *f[3];
    CU_ASSERT_FATAL(stacks_test_a(f, 3, 0, 0) == 3);
    void *with_own[4] = { (void *)((uintptr_t)(void *)vigil__stack_put + 5), f[0], f[1], f[2] };
    struct vigil_report r;
    char text[VIGIL_REPORT_BUFSIZE + 1], line[512];
    vigil__report_init(&r);
    vigil__stack_print(&r, with_own, 4);
    take_text(&r, text, sizeof text);
    CU_ASSERT_PTR_NULL(strstr(text, "vigil__"));
    CU_ASSERT_FATAL(nth_line(text, 0, line, sizeof line));
    CU_ASSERT(strncmp(line, "    #0 0x", 9) == 0);
    CU_ASSERT(nth_line(text, 2, line, sizeof line));
    CU_ASSERT(!nth_line(text, 3, line, sizeof line));
#ifdef VIGIL_HAVE_LIBDW
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "#0 "));
    nth_line(text, 0, line, sizeof line);
    CU_ASSERT_PTR_NOT_NULL(strstr(line, "stacks_test_c"));
#endif
}

/* ---- the depot ---- */

/* A made-up stack, distinct for each (seed, i). */
static int fake_stack(void **f, uintptr_t seed, int i)
{
    int n = 1 + i % 20;
    for (int j = 0; j < n; j++)
        f[j] = (void *)(seed + (uintptr_t)i * 4096 + (uintptr_t)j * 8);
    return n;
}

static void test_depot_basic(void)
{
    void *f[32], *h[VIGIL_STACK_DEPOT_MAX_FRAMES + 8];
    int n = fake_stack(f, 0x10000000, 7);
    uint32_t id = vigil__stack_put(f, n);
    CU_ASSERT_FATAL(id != 0);
    CU_ASSERT_EQUAL(vigil__stack_put(f, n), id);
    CU_ASSERT_NOT_EQUAL(vigil__stack_put(f, n - 1), id);      /* a prefix is another stack */
    void *back[32];
    CU_ASSERT_EQUAL(vigil__stack_get(id, back, 32), n);
    CU_ASSERT(memcmp(back, f, (size_t)n * sizeof *f) == 0);
    CU_ASSERT_EQUAL(vigil__stack_get(id, back, 2), 2);
    CU_ASSERT_EQUAL(vigil__stack_get(0, back, 32), 0);
    CU_ASSERT_EQUAL(vigil__stack_get(0xfffffff0u, back, 32), 0);
    CU_ASSERT_EQUAL(vigil__stack_put(f, 0), 0);

    /* A stack longer than the depot keeps its innermost frames. */
    for (int j = 0; j < VIGIL_STACK_DEPOT_MAX_FRAMES + 8; j++)
        h[j] = (void *)(uintptr_t)(0x20000000 + j * 16);
    uint32_t long_id = vigil__stack_put(h, VIGIL_STACK_DEPOT_MAX_FRAMES + 8);
    CU_ASSERT_FATAL(long_id != 0);
    CU_ASSERT_EQUAL(vigil__stack_put(h, VIGIL_STACK_DEPOT_MAX_FRAMES), long_id);

    /* A real capture round-trips too. */
    int m = stacks_test_a(f, 16, 0, 0);
    uint32_t cid = vigil__stack_put(f, m);
    CU_ASSERT_EQUAL(vigil__stack_get(cid, back, 32), m);
    CU_ASSERT(memcmp(back, f, (size_t)m * sizeof *f) == 0);
}

static void test_depot_lost(void)
{
    void *f[32];
    int n = fake_stack(f, 0x30000000, 3);
    uint32_t known = vigil__stack_put(f, n);
    CU_ASSERT_FATAL(known != 0);
    size_t lost = vigil__stack_lost(), count = vigil__stack_count();
    vigil__stack_depot_limit(8);                  /* below what is in use: cannot grow */
    n = fake_stack(f, 0x30000000, 4);
    CU_ASSERT_EQUAL(vigil__stack_put(f, n), 0);
    CU_ASSERT_EQUAL(vigil__stack_lost(), lost + 1);
    CU_ASSERT_EQUAL(vigil__stack_count(), count);
    n = fake_stack(f, 0x30000000, 3);             /* a stack stored before is still found */
    CU_ASSERT_EQUAL(vigil__stack_put(f, n), known);
    vigil__stack_depot_limit(0);
    n = fake_stack(f, 0x30000000, 4);
    CU_ASSERT_NOT_EQUAL(vigil__stack_put(f, n), 0);
    CU_ASSERT_EQUAL(vigil__stack_lost(), lost + 1);
}

#define DEPOT_THREADS 8
#define DEPOT_STACKS 500
/* More stacks than the depot's small table takes (12288): the later ones
 * go to the big table, while other threads still race to the small one. */
#define DEPOT_MANY 16000
static uint32_t depot_ids[DEPOT_THREADS][DEPOT_MANY];
static int depot_n;
static uintptr_t depot_seed;

/* Every thread puts the same stacks, each starting at another one, so
 * most first insertions of a stack race with another thread's. */
static void *depot_thread(void *arg)
{
    int t = (int)(intptr_t)arg;
    void *f[32];
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < depot_n; k++) {
            int i = (k + t * (depot_n / DEPOT_THREADS)) % depot_n;
            int n = fake_stack(f, depot_seed, i);
            uint32_t id = vigil__stack_put(f, n);
            if (round > 0 && id != depot_ids[t][i])
                depot_ids[t][i] = 0;              /* an id changed: fails below */
            else
                depot_ids[t][i] = id;
        }
    return NULL;
}

static void depot_race(int stacks, uintptr_t seed)
{
    pthread_t th[DEPOT_THREADS];
    depot_n = stacks;
    depot_seed = seed;
    size_t count = vigil__stack_count();
    for (int t = 0; t < DEPOT_THREADS; t++)
        CU_ASSERT_FATAL(pthread_create(&th[t], NULL, depot_thread, (void *)(intptr_t)t) == 0);
    for (int t = 0; t < DEPOT_THREADS; t++)
        pthread_join(th[t], NULL);
    CU_ASSERT_EQUAL(vigil__stack_count(), count + (size_t)stacks);
    int same = 1, distinct = 1, whole = 1;
    for (int i = 0; i < stacks; i++) {
        for (int t = 0; t < DEPOT_THREADS; t++)
            same &= depot_ids[t][i] != 0 && depot_ids[t][i] == depot_ids[0][i];
        if (i > 0)
            distinct &= depot_ids[0][i] != depot_ids[0][i - 1];
        void *want[32], *got[32];
        int n = fake_stack(want, seed, i);
        whole &= vigil__stack_get(depot_ids[0][i], got, 32) == n &&
                 memcmp(want, got, (size_t)n * sizeof *got) == 0;
    }
    CU_ASSERT(same);
    CU_ASSERT(distinct);
    CU_ASSERT(whole);
}

static void test_depot_threads(void)
{
    depot_race(DEPOT_STACKS, 0x40000000);
}

static void test_depot_many(void)
{
    depot_race(DEPOT_MANY, 0x50000000);
}

/* ---- the frame rules (stacks_shapes.h), on a stack made up here ----
 * Four frames: A fixed (k 32), B fixed saving the caller's frame pointer
 * (k 24, slot 2), C built on the frame pointer, D the last.  The pcs are
 * made up, far below any code. */
#define PC_A ((uintptr_t)0x1000)
#define PC_B ((uintptr_t)0x1100)
#define PC_C ((uintptr_t)0x1200)
#define PC_D ((uintptr_t)0x1300)
#define PC_E ((uintptr_t)0x1400)

static uintptr_t rules_mem[16];

static void rules_stack(void)
{
    memset(rules_mem, 0, sizeof rules_mem);
    rules_mem[3] = PC_B;                             /* A's return address, at its CFA - 8 */
    rules_mem[5] = (uintptr_t)&rules_mem[10];             /* C's frame pointer, saved by B */
    rules_mem[6] = PC_C;
    rules_mem[10] = 0x1234;                          /* C's frame record: the caller's rbp */
    rules_mem[11] = PC_D;
    vigil__shape_put(PC_A, VIGIL_SHAPE_FIXED, 32, 0);
    vigil__shape_put(PC_B, VIGIL_SHAPE_FIXED, 24, 2);
    vigil__shape_put(PC_C, VIGIL_SHAPE_FP, 0, 0);
    vigil__shape_put(PC_D, VIGIL_SHAPE_LAST, 0, 0);
}

static int rules_walk(uintptr_t hi_index, void **f, int max, struct vigil_shape_trace *t,
                     struct vigil_shape_stop *stop)
{
    return vigil__shape_walk(PC_A, (uintptr_t)&rules_mem[0], 0x5555, (uintptr_t)&rules_mem[0],
                             (uintptr_t)&rules_mem[hi_index], f, max, t, stop);
}

static void test_shapes_walk(void)
{
    void *f[8];
    struct vigil_shape_trace t;
    struct vigil_shape_stop stop;
    rules_stack();
    CU_ASSERT_EQUAL_FATAL(rules_walk(16, f, 8, &t, &stop), 4);
    CU_ASSERT(f[0] == (void *)PC_A && f[1] == (void *)PC_B && f[2] == (void *)PC_C &&
              f[3] == (void *)PC_D);
    /* Where it read: each return address, and the saved frame pointers. */
    CU_ASSERT(t.cfa[0] == 32 && t.cfa[1] == 56 && t.cfa[2] == 96);
    CU_ASSERT(t.fp_at[0] == 0 && t.fp_at[1] == 40 + 1 && t.fp_at[2] == 80 + 1);
    CU_ASSERT(t.fp[1] == (uintptr_t)&rules_mem[10] && t.fp[2] == 0x1234);
    CU_ASSERT_EQUAL(t.bp_used, 0);              /* B reloaded it before C used it */
    CU_ASSERT_EQUAL(t.fp_needed, (uint64_t)1 << 1);     /* C used B's; D, the last, not C's */
    /* max frames, then nothing read past them. */
    CU_ASSERT_EQUAL(rules_walk(16, f, 2, NULL, &stop), 2);
    CU_ASSERT(f[0] == (void *)PC_A && f[1] == (void *)PC_B);
}

static void test_shapes_refuse(void)
{
    void *f[8];
    struct vigil_shape_stop stop;
    rules_stack();
    /* C's frame record lies above the stack's end: not read. */
    CU_ASSERT_EQUAL(rules_walk(11, f, 8, NULL, &stop), VIGIL_SHAPE_NONE);
    /* A pc never learnt stops the walk at it, with its registers. */
    rules_mem[6] = PC_E;
    CU_ASSERT_EQUAL(rules_walk(16, f, 8, NULL, &stop), VIGIL_SHAPE_UNKNOWN);
    CU_ASSERT(stop.pc == PC_E && stop.sp == (uintptr_t)&rules_mem[7] &&
              stop.bp == (uintptr_t)&rules_mem[10]);
    CU_ASSERT(!vigil__shape_known(PC_E) && vigil__shape_known(PC_A));
    rules_mem[6] = PC_C;
    /* An opaque frame, and rules no entry can hold, go to libunwind. */
    vigil__shape_put(PC_C, VIGIL_SHAPE_OPAQUE, 0, 0);
    CU_ASSERT_EQUAL(rules_walk(16, f, 8, NULL, &stop), VIGIL_SHAPE_NONE);
    vigil__shape_put(PC_B, VIGIL_SHAPE_FIXED, 24, 1);   /* slot 1 is the return address */
    vigil__shape_put(PC_C, VIGIL_SHAPE_FP, 0, 0);
    CU_ASSERT_EQUAL(rules_walk(16, f, 8, NULL, &stop), VIGIL_SHAPE_NONE);
    vigil__shape_put(PC_B, VIGIL_SHAPE_FIXED, VIGIL_SHAPE_MAX_K + 8, 0);
    CU_ASSERT_EQUAL(rules_walk(16, f, 8, NULL, &stop), VIGIL_SHAPE_NONE);
    /* A frame pointer below the frame's stack pointer is nobody's record. */
    rules_stack();
    rules_mem[5] = (uintptr_t)&rules_mem[2];
    CU_ASSERT_EQUAL(rules_walk(16, f, 8, NULL, &stop), VIGIL_SHAPE_NONE);
}

/* Last: the libdw session's memory goes back, so leak checkers see none. */
static void test_symbolize_end(void)
{
    vigil__stack_symbolize_end();
    check_chain_symbolized(0);                    /* a new session works as well */
    vigil__stack_symbolize_end();
}

void register_stacks_suite(void)
{
    static const struct test_case tests[] = {
        { "capture: a -> b -> c, symbolized with file and line", test_capture_chain },
        { "capture with libunwind: the same chain", test_capture_unwind_chain },
        { "capture: skip and max", test_capture_skip },
        { "capture: from the program's call into vigil", test_capture_here },
        { "capture: a thread that never learnt its bounds", test_capture_unbounded },
        { "capture: in a signal handler, and on a signal stack", test_capture_in_signal_handler },
        { "print: symbol only, module only, no module", test_print_fallbacks },
        { "print: vigil's own frames left out", test_print_leaves_out_vigil },
        { "depot: equal stacks, equal ids; get", test_depot_basic },
        { "depot: cannot grow: lost, counted", test_depot_lost },
        { "depot: 8 threads, overlapping stacks", test_depot_threads },
        { "depot: 8 threads, more stacks than its small table holds", test_depot_many },
        { "frame rules: a walk through fixed and frame-pointer frames", test_shapes_walk },
        { "frame rules: unknown, opaque, out of the stack", test_shapes_refuse },
        { "print: the session ends, and starts again", test_symbolize_end },
        { NULL, NULL },
    };
    add_suite("stacks", tests);
}
