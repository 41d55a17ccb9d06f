/* test_debug.c - the debug hooks: block layout and fills, every detection
 * with its report, realloc, the quarantine, modes and names, threads.
 *
 * Installing the hooks in this process would change the allocators of every
 * suite that runs after this one, so each case runs in a forked child that
 * calls vigil_setup_debug_hooks() first, or execs a probe with the
 * environment it needs.  Children print the block's address before the bug,
 * so the first line of the report can be asserted exactly. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bump.h"
#include "child.h"
#include "debug.h"
#include "debug_block.h"
#include "settings.h"
#include "suites.h"
#include "vigil/annotate.h"

struct api {
    const char *name;
    char id;
    vigil_domain d;
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
};

static const struct api apis[3] = {
    { "raw", 'r', VIGIL_DOMAIN_RAW, vigil_raw_malloc, vigil_raw_calloc, vigil_raw_realloc, vigil_raw_free },
    { "mem", 'm', VIGIL_DOMAIN_MEM, vigil_mem_malloc, vigil_mem_calloc, vigil_mem_realloc, vigil_mem_free },
    { "obj", 'o', VIGIL_DOMAIN_OBJ, vigil_obj_malloc, vigil_obj_calloc, vigil_obj_realloc, vigil_obj_free },
};

/* ---- helpers ---- */

/* Tell the parent which block the report will be about. */
static void announce(const void *p)
{
    printf("%p\n", p);
    fflush(stdout);
}

/* Memcheck keeps fresh data undefined and quarantined blocks inaccessible;
 * the tests look at the fill patterns on purpose. */
static void may_read(const void *p, size_t n)
{
    VIGIL_MEM_DEFINED(p, n);
}

/* The first stderr line that starts with "vigil:" (memcheck's lines, when
 * the suite runs under Valgrind, come with their own prefix). */
static void vigil_line(const char *err, char *out, size_t size)
{
    const char *s = err;
    out[0] = '\0';
    while (s && *s) {
        if (strncmp(s, "vigil:", 6) == 0) {
            size_t n = strcspn(s, "\n");
            if (n >= size)
                n = size - 1;
            memcpy(out, s, n);
            out[n] = '\0';
            return;
        }
        s = strchr(s, '\n');
        if (s)
            s++;
    }
}

static size_t count_reports(const char *err)
{
    size_t n = 0;
    for (const char *s = err; s && *s;) {
        if (strncmp(s, "vigil: ", 7) == 0 && strncmp(s, "vigil: aborting", 15) != 0)
            n++;
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    return n;
}

/* The address the child announced on its first stdout line. */
static void announced(const struct child_result *r, char *out, size_t size)
{
    size_t n = strcspn(r->out, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, r->out, n);
    out[n] = '\0';
}

static void show(const char *what, const struct child_result *r)
{
    fprintf(stderr, "\n--- %s: exited=%d status=%d signaled=%d signo=%d\n--- stdout:\n%s"
            "--- stderr:\n%s---\n", what, r->exited, r->status, r->signaled, r->signo,
            r->out, r->err);
}

/* The child was aborted by a report whose first line is exactly
 * "vigil: <error> on block <announced address> <rest>". */
static void expect_report(const struct child_result *r, const char *error, const char *rest)
{
    char addr[64], want[256], got[512];
    announced(r, addr, sizeof addr);
    snprintf(want, sizeof want, "vigil: %s on block %s %s", error, addr, rest);
    vigil_line(r->err, got, sizeof got);
    int ok = r->signaled && r->signo == SIGABRT && strcmp(got, want) == 0;
    CU_ASSERT_TRUE(r->signaled);
    CU_ASSERT_EQUAL(r->signo, SIGABRT);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (!ok) {
        fprintf(stderr, "\nwant first line: %s\n", want);
        show(error, r);
    }
}

static void expect_words(const struct child_result *r, const char *words)
{
    int ok = strstr(r->err, words) != NULL;
    CU_ASSERT_TRUE(ok);
    if (!ok) {
        fprintf(stderr, "\nmissing in the report: %s\n", words);
        show(words, r);
    }
}

/* The line of this file that ends in the comment holding marker, so the
 * expected lines of the stacks follow the source. */
static int source_line(const char *marker)
{
    char want[64], line[512];
    snprintf(want, sizeof want, "/* %s */\n", marker);
    FILE *f = fopen(__FILE__, "r");
    int n = 0, found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        n++;
        size_t ll = strlen(line), wl = strlen(want);
        found = ll >= wl && strcmp(line + ll - wl, want) == 0;
    }
    if (f)
        fclose(f);
    CU_ASSERT_TRUE_FATAL(found);
    return n;
}

/* The report has a stack headed by the line heading, whose first frame
 * is "#0 0x... in func .../test_debug.c:LINE", LINE the one of marker
 * (func NULL: any frame). */
static void expect_stack(const struct child_result *r, const char *heading, const char *func,
                         const char *marker)
{
    int line = func ? source_line(marker) : 0;
    char want[256], frame[512] = "";
    snprintf(want, sizeof want, "\n%s\n    #0 0x", heading);
    const char *s = strstr(r->err, want);
    int ok = s != NULL;
    if (s) {
        s += strlen(want) - strlen("    #0 0x");
        size_t n = strcspn(s, "\n");
        if (n >= sizeof frame)
            n = sizeof frame - 1;
        memcpy(frame, s, n);
        frame[n] = '\0';
    }
    if (ok && func) {
        char in[128], at[64];
        snprintf(in, sizeof in, " in %s ", func);
        snprintf(at, sizeof at, "/test_debug.c:%d", line);
        size_t fl = strlen(frame), al = strlen(at);
        ok = strstr(frame, in) && fl > al && strcmp(frame + fl - al, at) == 0;
    }
    CU_ASSERT_TRUE(ok);
    if (!ok) {
        fprintf(stderr, "\nwant after \"%s\": #0 in %s at test_debug.c:%d; got: %s\n",
                heading, func ? func : "(any)", line, frame);
        show(heading, r);
    }
}

/* The child ran to the end with nothing to report. */
static void expect_clean(const struct child_result *r, const char *what)
{
    int ok = r->exited && r->status == 0 && strstr(r->err, "vigil:") == NULL;
    CU_ASSERT_TRUE(r->exited);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_PTR_NULL(strstr(r->err, "vigil:"));
    if (!ok)
        show(what, r);
}

static void run_debug(void (*fn)(void *), void *arg, struct child_result *r)
{
    run_child(fn, arg, r);
}

static size_t quarantine(void)
{
    return vigil__settings()->quarantine;
}

/* The debugprobe in a fresh process, with env added. */
static void probe(const char *cmd, const char *const env[], struct child_result *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", sibling_program("debugprobe"));
    const char *argv[] = { path, cmd, NULL };
    run_program(argv, env, r);
}

#define CHILD_CHECK(cond, code) do { if (!(cond)) { fprintf(stderr, "child check failed: %s\n", #cond); exit(code); } } while (0)

/* ---- layout and fills ---- */

static size_t be_size(const unsigned char *b)
{
    size_t v = 0;
    for (size_t i = 0; i < VIGIL_DEBUG_WORD; i++)
        v = v << 8 | b[i];
    return v;
}

static void check_layout(const unsigned char *p, size_t n, char id)
{
    may_read(p - VIGIL_DEBUG_HEAD, n + VIGIL_DEBUG_OVERHEAD);
    CHILD_CHECK(be_size(p - VIGIL_DEBUG_HEAD) == n, 10);
    CHILD_CHECK(p[-(long)VIGIL_DEBUG_WORD] == (unsigned char)id, 11);
    for (size_t i = 1; i < VIGIL_DEBUG_WORD; i++)
        CHILD_CHECK(p[-(long)VIGIL_DEBUG_WORD + (long)i] == 0xFD, 12);
    for (size_t i = 0; i < VIGIL_DEBUG_WORD; i++)
        CHILD_CHECK(p[n + i] == 0xFD, 13);
    CHILD_CHECK((uintptr_t)p % 16 == 0, 14);
}

static void fills_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    for (int a = 0; a < 3; a++) {
        unsigned char *p = apis[a].malloc(64);
        check_layout(p, 64, apis[a].id);
        for (size_t i = 0; i < 64; i++)
            CHILD_CHECK(p[i] == 0xCD, 20);
        unsigned char *z = apis[a].calloc(10, 7);
        check_layout(z, 70, apis[a].id);
        for (size_t i = 0; i < 70; i++)
            CHILD_CHECK(z[i] == 0, 21);
        unsigned char *e = apis[a].malloc(0);
        check_layout(e, 0, apis[a].id);
        CHILD_CHECK(vigil_check_block(p) == 0 && vigil_check_block(z) == 0 &&
                    vigil_check_block(e) == 0, 22);
        apis[a].free(p);
        apis[a].free(z);
        apis[a].free(e);
        if (quarantine() >= 1024) {
            /* Held in the quarantine: the whole block, header too, is 0xDD. */
            may_read(p - VIGIL_DEBUG_HEAD, 64 + VIGIL_DEBUG_OVERHEAD);
            for (size_t i = 0; i < 64 + VIGIL_DEBUG_OVERHEAD; i++)
                CHILD_CHECK(p[(long)i - (long)VIGIL_DEBUG_HEAD] == 0xDD, 23);
        }
    }
}

static void test_fills(void)
{
    struct child_result r;
    run_debug(fills_child, NULL, &r);
    expect_clean(&r, "fills");
}

/* ---- detections ---- */


static void overflow_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(16);  /* @overflow-alloc */
    announce(p);
    p[16] = 'x';
    vigil_mem_free(p);
}


static void overflow_realloc_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_obj_malloc(30);  /* @overflow-realloc-alloc */
    announce(p);
    memset(p, 'a', 32);
    p = vigil_obj_realloc(p, 100);
}

static void test_overflow(void)
{
    struct child_result r;
    run_debug(overflow_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(16 bytes, API 'm')");
    expect_words(&r, "at p+16: 0x78 *** OUCH");
    expect_words(&r, "the 7 pad bytes before the data are 0xfd, as expected");
    expect_words(&r, "data at p: cd cd");
    /* The free is a tail call at -O2: the bad call's frame #0 is whoever
     * called overflow_child; the allocation's is overflow_child. */
    expect_stack(&r, "vigil_mem_free called by thread T0 here:", NULL, NULL);
    expect_stack(&r, "allocated by thread T0 here:", "overflow_child", "@overflow-alloc");

    run_debug(overflow_realloc_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(30 bytes, API 'o')");
    expect_words(&r, "at p+31: 0x61 *** OUCH");
    expect_stack(&r, "vigil_obj_realloc called by thread T0 here:", NULL, NULL);
    expect_stack(&r, "allocated by thread T0 here:", "overflow_realloc_child",
                 "@overflow-realloc-alloc");
}

static void underflow_child(void *arg)
{
    size_t reach = (size_t)(uintptr_t)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(16);
    announce(p);
    memset(p - reach, 'x', reach);
    vigil_mem_free(p);
}

static void test_underflow(void)
{
    struct child_result r;
    run_debug(underflow_child, (void *)(uintptr_t)1, &r);
    expect_report(&r, "buffer underflow", "(16 bytes, API 'm')");
    expect_words(&r, "at p-1: 0x78 *** OUCH");
    /* Far enough to wipe out the API id: still told from an invalid free. */
    run_debug(underflow_child, (void *)(uintptr_t)VIGIL_DEBUG_WORD, &r);
    expect_report(&r, "buffer underflow", "(16 bytes, API id damaged)");
    expect_words(&r, "*** OUCH (not 'r', 'm' or 'o')");
}

static void mismatch_child(void *arg)
{
    int pair = (int)(intptr_t)arg;
    int a = pair / 3, b = pair % 3;
    vigil_setup_debug_hooks();
    void *p = apis[a].malloc(16);
    announce(p);
    apis[b].free(p);
}

static void test_api_mismatch(void)
{
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            if (a == b)
                continue;
            struct child_result r;
            char rest[64], words[128];
            run_debug(mismatch_child, (void *)(intptr_t)(a * 3 + b), &r);
            snprintf(rest, sizeof rest, "(16 bytes, API '%c')", apis[a].id);
            expect_report(&r, "API mismatch", rest);
            snprintf(words, sizeof words, "allocated with vigil_%s_malloc, freed with vigil_%s_free",
                     apis[a].name, apis[b].name);
            expect_words(&r, words);
        }
}

static void mismatch_realloc_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    void *p = vigil_raw_malloc(16);
    announce(p);
    vigil_mem_realloc(p, 32);
}

static void test_api_mismatch_realloc(void)
{
    struct child_result r;
    run_debug(mismatch_realloc_child, NULL, &r);
    expect_report(&r, "API mismatch", "(16 bytes, API 'r')");
    expect_words(&r, "allocated with vigil_raw_malloc, reallocated with vigil_mem_realloc");
}

static void double_free_child(void *arg)
{
    const struct api *a = &apis[(intptr_t)arg];
    vigil_setup_debug_hooks();
    void *p = a->malloc(24);
    announce(p);
    a->free(p);
    a->free(p);
}

static void test_double_free(void)
{
    for (int a = 0; a < 3; a++) {
        struct child_result r;
        char rest[64];
        run_debug(double_free_child, (void *)(intptr_t)a, &r);
        if (quarantine() >= 1024)
            snprintf(rest, sizeof rest, "(24 bytes, API '%c')", apis[a].id);
        else
            snprintf(rest, sizeof rest, "(freed before: size and API no longer known)");
        expect_report(&r, "double free", rest);
    }
}

/* With no quarantine the block goes straight back to the allocator, which
 * writes its free-list link over the header. */
static void test_double_free_no_quarantine(void)
{
    const char *modes[] = { "VIGIL_MALLOC=arena", "VIGIL_MALLOC=malloc" };
    for (int m = 0; m < 2; m++) {
        const char *env[] = { modes[m], "VIGIL_QUARANTINE=0", "VIGIL_ABORT=1", NULL };
        struct child_result r;
        probe("double-free", env, &r);
        expect_report(&r, "double free", "(freed before: size and API no longer known)");
    }
}

/* The checker never crashes and names the error right (the most specific
 * true statement): a double free of a block whose mapping is gone, of a 4
 * KiB block libc has since written its links into, an 8-byte block damaged
 * on both sides with its size field intact. */
static void test_diagnosis_specific(void)
{
    const char *large[] = { "VIGIL_MALLOC=malloc_debug", "VIGIL_QUARANTINE=0",
                            "VIGIL_ABORT=1", NULL };
    struct child_result r;
    probe("double-free-large", large, &r);
    if (VIGIL_ASAN_ENABLED) {
        /* ASan's allocator keeps freed memory mapped (its quarantine): the
         * 0xdd fill is still there to say what happened. */
        expect_report(&r, "double free", "(freed before: size and API no longer known)");
    } else {
        expect_report(&r, "invalid free", "(not a vigil block)");
        expect_words(&r, "not readable (not mapped)");
    }
    const char *modes[] = { "VIGIL_MALLOC=malloc_debug", "VIGIL_MALLOC=arena_debug" };
    for (int m = 0; m < 2; m++) {
        const char *env[] = { modes[m], "VIGIL_QUARANTINE=0", "VIGIL_ABORT=1", NULL };
        probe("double-free-4k", env, &r);
        expect_report(&r, "double free", "(freed before: size and API no longer known)");
    }
    const char *arena[] = { "VIGIL_MALLOC=arena_debug", "VIGIL_ABORT=1", NULL };
    probe("both-sides", arena, &r);
    expect_report(&r, "buffer underflow", "(8 bytes, API id damaged)");
}

enum wild { WILD_STACK, WILD_MIDDLE, WILD_MIDDLE8, WILD_LIBC, WILD_UNMAPPED, WILD_REALLOC };

static void invalid_child(void *arg)
{
    enum wild w = (enum wild)(intptr_t)arg;
    char stack[64] __attribute__((aligned(16)));
    vigil_setup_debug_hooks();
    char *p = NULL;
    switch (w) {
    case WILD_STACK:
        memset(stack, 0, sizeof stack);
        p = stack + 32;
        break;
    case WILD_MIDDLE:
        p = (char *)vigil_mem_malloc(64) + 16;
        break;
    case WILD_MIDDLE8:
        p = (char *)vigil_mem_malloc(64) + 8;
        break;
    case WILD_LIBC:
        p = malloc(64);
        memset(p, 0x11, 64);
        break;
    case WILD_UNMAPPED:
    case WILD_REALLOC: {
        /* The header would be on a page that is not there. */
        long ps = sysconf(_SC_PAGESIZE);
        char *m = mmap(NULL, 2 * (size_t)ps, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        munmap(m, (size_t)ps);
        p = m + ps;
        break;
    }
    }
    announce(p);
    if (w == WILD_REALLOC)
        vigil_mem_realloc(p, 10);
    else
        vigil_mem_free(p);
}

static void test_invalid_free(void)
{
    const char *names[] = { "stack", "middle", "middle+8", "libc", "unmapped", "realloc" };
    for (int w = WILD_STACK; w <= WILD_REALLOC; w++) {
        struct child_result r;
        run_debug(invalid_child, (void *)(intptr_t)w, &r);
        expect_report(&r, "invalid free", "(not a vigil block)");
        if (w == WILD_UNMAPPED || w == WILD_REALLOC)
            expect_words(&r, "not readable (not mapped)");
        if (w == WILD_MIDDLE8)
            expect_words(&r, "not 16-byte aligned");
        if (w == WILD_REALLOC)
            expect_words(&r, "\nvigil_mem_realloc called by thread T0 here:\n    #0 0x");
        if (r.signo != SIGABRT)
            fprintf(stderr, "invalid free (%s) did not abort\n", names[w]);
    }
}

/* ---- realloc ---- */

static void realloc_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    unsigned char *p = vigil_mem_malloc(20);
    memset(p, 'a', 20);
    unsigned char *q = vigil_mem_realloc(p, 100);
    check_layout(q, 100, 'm');
    for (size_t i = 0; i < 100; i++)
        CHILD_CHECK(q[i] == (i < 20 ? 'a' : 0xCD), 30);
    /* Shrinking stays in place, drops the tail to 0xDD, moves the guard. */
    unsigned char *r = vigil_mem_realloc(q, 10);
    CHILD_CHECK(r == q, 31);
    check_layout(r, 10, 'm');
    for (size_t i = 0; i < 10; i++)
        CHILD_CHECK(r[i] == 'a', 32);
    may_read(r + 10, 100 - 10 + VIGIL_DEBUG_TRAILER);
    for (size_t i = 10 + VIGIL_DEBUG_TRAILER; i < 100 + VIGIL_DEBUG_TRAILER; i++)
        CHILD_CHECK(r[i] == 0xDD, 33);
    CHILD_CHECK(vigil_check_block(r) == 0, 34);
    /* Growing a big block moves it; a huge shrink moves it too. */
    unsigned char *big = vigil_raw_malloc(100000);
    memset(big, 'b', 100000);
    unsigned char *small = vigil_raw_realloc(big, 100);
    check_layout(small, 100, 'r');
    for (size_t i = 0; i < 100; i++)
        CHILD_CHECK(small[i] == 'b', 35);
    /* NULL and 0 behave as the contract says. */
    unsigned char *n = vigil_obj_realloc(NULL, 5);
    check_layout(n, 5, 'o');
    n = vigil_obj_realloc(n, 0);
    CHILD_CHECK(n != NULL, 36);
    check_layout(n, 0, 'o');
    vigil_obj_free(n);
    vigil_raw_free(small);
    vigil_mem_free(r);
}

static void shrink_overflow_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(40);
    p = vigil_mem_realloc(p, 10);
    announce(p);
    p[10] = 'z';
    vigil_mem_free(p);
}

static void test_realloc(void)
{
    struct child_result r;
    run_debug(realloc_child, NULL, &r);
    expect_clean(&r, "realloc");
    run_debug(shrink_overflow_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(10 bytes, API 'm')");
    expect_words(&r, "at p+10: 0x7a *** OUCH");
}

/* An allocator that refuses anything above 4 KiB, to make realloc fail. */
static vigil_allocator refused_inner;
static void *small_malloc(void *ctx, size_t n)
{
    (void)ctx;
    if (n > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return refused_inner.malloc(refused_inner.ctx, n);
}
static void *small_calloc(void *ctx, size_t n, size_t m)
{
    (void)ctx;
    if (n * m > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return refused_inner.calloc(refused_inner.ctx, n, m);
}
static void *small_realloc(void *ctx, void *p, size_t n)
{
    (void)ctx;
    if (n > 4096) {
        errno = ENOMEM;
        return NULL;
    }
    return refused_inner.realloc(refused_inner.ctx, p, n);
}
static void small_free(void *ctx, void *p)
{
    (void)ctx;
    refused_inner.free(refused_inner.ctx, p);
}

static void realloc_fail_child(void *arg)
{
    (void)arg;
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &refused_inner);
    vigil_allocator small = { NULL, small_malloc, small_calloc, small_realloc, small_free };
    vigil_set_allocator(VIGIL_DOMAIN_MEM, &small);
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(100);
    memset(p, 'k', 100);
    errno = 0;
    CHILD_CHECK(vigil_mem_realloc(p, 10000) == NULL, 40);
    CHILD_CHECK(errno == ENOMEM, 41);
    errno = 0;
    CHILD_CHECK(vigil_mem_realloc(p, (size_t)PTRDIFF_MAX - 1) == NULL, 42);
    CHILD_CHECK(errno == ENOMEM, 43);
    for (int i = 0; i < 100; i++)
        CHILD_CHECK(p[i] == 'k', 44);
    CHILD_CHECK(vigil_check_block(p) == 0, 45);
    check_layout((unsigned char *)p, 100, 'm');
    p = vigil_mem_realloc(p, 200);
    CHILD_CHECK(p && p[99] == 'k', 46);
    vigil_mem_free(p);
}

static void test_realloc_failure(void)
{
    struct child_result r;
    run_debug(realloc_fail_child, NULL, &r);
    expect_clean(&r, "failing realloc");
}

/* ---- the quarantine ---- */


static void eviction_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(32);  /* @eviction-alloc */
    announce(p);
    vigil_mem_free(p);  /* @eviction-free */
    p[3] = 'x';
    /* Other frees push it out. */
    size_t pushed = 0;
    while (pushed < 2 * quarantine() + 4096) {
        vigil_mem_free(vigil_mem_malloc(200));  /* @eviction-push */
        pushed += 200 + VIGIL_DEBUG_OVERHEAD;
    }
    /* Not reached: the report aborts. */
}

static void test_quarantine_eviction(void)
{
    if (quarantine() < 1024 || quarantine() > ((size_t)64 << 20))
        return;                         /* the environment chose otherwise */
    struct child_result r;
    run_debug(eviction_child, NULL, &r);
    expect_report(&r, "use after free", "(32 bytes, API 'm')");
    expect_words(&r, "byte 3 of the freed block was changed");
    expect_stack(&r, "found when the block left the quarantine, in a call by thread T0 here:",
                 "eviction_child", "@eviction-push");
    expect_stack(&r, "freed by thread T0 here:", "eviction_child", "@eviction-free");
    expect_stack(&r, "previously allocated by thread T0 here:", "eviction_child",
                 "@eviction-alloc");
}

/* A thread's frees wait in a batch of its own before they reach the shared
 * ring; when the thread ends, its batch must go to the ring, where later
 * frees from other threads push the block out and check it. */

static void *uaf_thread(void *arg)
{
    (void)arg;
    char *p = vigil_mem_malloc(40);  /* @uaf-thread-alloc */
    announce(p);
    vigil_mem_free(p);  /* @uaf-thread-free */
    p[7] = 'z';
    return NULL;
}

static void thread_exit_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    vigil_mem_free(vigil_mem_malloc(8));    /* this thread has its batch */
    pthread_t t;
    if (pthread_create(&t, NULL, uaf_thread, NULL) || pthread_join(t, NULL))
        exit(70);
    size_t pushed = 0;
    while (pushed < 2 * quarantine() + 4096) {
        vigil_mem_free(vigil_mem_malloc(200));  /* @thread-exit-push */
        pushed += 200 + VIGIL_DEBUG_OVERHEAD;
    }
    /* Not reached: the report aborts. */
}


static void test_quarantine_thread_exit(void)
{
    if (quarantine() < 1024 || quarantine() > ((size_t)64 << 20))
        return;
    struct child_result r;
    run_debug(thread_exit_child, NULL, &r);
    expect_report(&r, "use after free", "(40 bytes, API 'm')");
    expect_words(&r, "byte 7 of the freed block was changed");
    expect_stack(&r, "found when the block left the quarantine, in a call by thread T0 here:",
                 "thread_exit_child", "@thread-exit-push");
    /* Through the API a thread is numbered at its first call into vigil:
     * the thread is T1, and the pushing main thread T0. */
    expect_stack(&r, "freed by thread T1 here:", "uaf_thread", "@uaf-thread-free");
    expect_stack(&r, "previously allocated by thread T1 here:", "uaf_thread",
                 "@uaf-thread-alloc");
}

static void exit_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_obj_malloc(48);
    announce(p);
    vigil_obj_free(p);
    p[47] = 'q';
    p[5] = 'y';
    exit(0);                            /* runs the exit check */
}

static void test_quarantine_exit(void)
{
    if (quarantine() < 1024)
        return;
    struct child_result r;
    run_debug(exit_child, NULL, &r);
    expect_report(&r, "use after free", "(48 bytes, API 'o')");
    expect_words(&r, "byte 5 of the freed block was changed");
    expect_words(&r, "2 bytes changed in all");
    expect_words(&r, "found at exit");
}

static void test_quarantine_off(void)
{
    struct child_result r;
    const char *off[] = { "VIGIL_MALLOC=arena", "VIGIL_QUARANTINE=0", "VIGIL_ABORT=1", NULL };
    const char *on[] = { "VIGIL_MALLOC=arena", "VIGIL_QUARANTINE", "VIGIL_ABORT=1", NULL };
    probe("uaf-exit", off, &r);
#ifdef VIGIL_ASAN_BUILD
    /* The arena poisons the block it got back at once: ASan's catch, with
     * the arena's description of the block, and no debug-hook report. */
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "AddressSanitizer"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "inside a freed block"));
    CU_ASSERT_PTR_NULL(strstr(r.err, "vigil: use after free"));
#else
    expect_clean(&r, "uaf-exit, quarantine off");
#endif
    probe("uaf-exit", on, &r);
    expect_report(&r, "use after free", "(32 bytes, API 'm')");
    /* Off, the freed block is reused at once; on, it is held. */
    probe("reuse", off, &r);
    CU_ASSERT_STRING_EQUAL(r.out, "same\n");
    probe("reuse", on, &r);
    CU_ASSERT_STRING_EQUAL(r.out, "different\n");
}

/* ---- installing: idempotence, custom allocators, names ---- */

static vigil_allocator rec_inner[3];
static size_t rec_last[3];
static void *rec_malloc(void *ctx, size_t n)
{
    intptr_t d = (intptr_t)ctx;
    rec_last[d] = n;
    return rec_inner[d].malloc(rec_inner[d].ctx, n);
}
static void *rec_calloc(void *ctx, size_t n, size_t m)
{
    intptr_t d = (intptr_t)ctx;
    rec_last[d] = n * m;
    return rec_inner[d].calloc(rec_inner[d].ctx, n, m);
}
static void *rec_realloc(void *ctx, void *p, size_t n)
{
    intptr_t d = (intptr_t)ctx;
    rec_last[d] = n;
    return rec_inner[d].realloc(rec_inner[d].ctx, p, n);
}
static void rec_free(void *ctx, void *p)
{
    intptr_t d = (intptr_t)ctx;
    rec_inner[d].free(rec_inner[d].ctx, p);
}

static void idempotent_child(void *arg)
{
    (void)arg;
    for (int d = 0; d < 3; d++) {
        vigil_get_allocator(apis[d].d, &rec_inner[d]);
        vigil_allocator rec = { (void *)(intptr_t)d, rec_malloc, rec_calloc, rec_realloc, rec_free };
        vigil_set_allocator(apis[d].d, &rec);
    }
    vigil_setup_debug_hooks();
    vigil_setup_debug_hooks();
    CHILD_CHECK(vigil_allocator_name() == NULL, 50);
    for (int d = 0; d < 3; d++) {
        void *p = apis[d].malloc(100);
        CHILD_CHECK(rec_last[d] == 100 + VIGIL_DEBUG_OVERHEAD, 51);
        void *z = apis[d].calloc(3, 7);
        CHILD_CHECK(rec_last[d] == 21 + VIGIL_DEBUG_OVERHEAD, 52);
        vigil_setup_debug_hooks();
        void *e = apis[d].malloc(0);
        CHILD_CHECK(rec_last[d] == VIGIL_DEBUG_OVERHEAD, 53);
        apis[d].free(p);
        apis[d].free(z);
        apis[d].free(e);
    }
    printf("overhead=%zu\n", (size_t)VIGIL_DEBUG_OVERHEAD);
}

static void names_child(void *arg)
{
    (void)arg;
    const char *before = vigil_allocator_name();
    vigil_setup_debug_hooks();
    vigil_setup_debug_hooks();
    const char *after = vigil_allocator_name();
    if (before && strstr(before, "_debug") == NULL) {
        char want[32];
        snprintf(want, sizeof want, "%s_debug", before);
        CHILD_CHECK(after && strcmp(after, want) == 0, 55);
    }
    /* Unwrapping gives back exactly what was wrapped: names survive a
     * restore of the inner table. */
    vigil_allocator cur, inner;
    vigil_get_allocator(VIGIL_DOMAIN_MEM, &cur);
    CHILD_CHECK(vigil__debug_unwrap(&cur, &inner) == 1, 56);
    CHILD_CHECK(vigil__debug_unwrap(&inner, NULL) == 0, 57);
}

static void test_idempotent(void)
{
    struct child_result r;
    run_debug(idempotent_child, NULL, &r);
    expect_clean(&r, "idempotent setup");
    run_debug(names_child, NULL, &r);
    expect_clean(&r, "names after setup");
}

static void custom_child(void *arg)
{
    int overflow = (int)(intptr_t)arg;
    vigil_set_allocator(VIGIL_DOMAIN_OBJ, &bump_allocator);
    vigil_setup_debug_hooks();
    unsigned char *p = vigil_obj_malloc(50);
    CHILD_CHECK(p == bump_buf + VIGIL_DEBUG_HEAD, 60);
    check_layout(p, 50, 'o');
    for (int i = 0; i < 50; i++)
        CHILD_CHECK(p[i] == 0xCD, 61);
    unsigned char *q = vigil_obj_realloc(p, 300);
    CHILD_CHECK(in_bump(q), 62);
    check_layout(q, 300, 'o');
    if (overflow) {
        announce(q);
        q[300] = 'x';
    }
    vigil_obj_free(q);
    /* With the quarantine off the blocks reach the custom free at once. */
    CHILD_CHECK(quarantine() >= 1024 || bump_frees == 2, 63);
}

static void test_custom_allocator(void)
{
    struct child_result r;
    run_debug(custom_child, (void *)0, &r);
    expect_clean(&r, "hooks over a custom allocator");
    run_debug(custom_child, (void *)1, &r);
    expect_report(&r, "buffer overflow", "(300 bytes, API 'o')");
}

static void expect_name(const char *mode, const char *want)
{
    char var[64], path[4096], line[64];
    snprintf(var, sizeof var, "VIGIL_MALLOC=%s", mode);
    snprintf(path, sizeof path, "%s", sibling_program("probe"));
    const char *env[] = { var, NULL };
    /* A hang would stall the whole suite; coreutils' timeout bounds it. */
    const char *timed[] = { "/usr/bin/timeout", "60", path, "name", NULL };
    const char *plain[] = { path, "name", NULL };
    struct child_result r;
    run_program(access(timed[0], X_OK) == 0 ? timed : plain, env, &r);
    snprintf(line, sizeof line, "%s\n", want);
    int ok = r.exited && r.status == 0 && strcmp(r.out, line) == 0;
    CU_ASSERT_TRUE(ok);
    if (!ok) {
        fprintf(stderr, "\nVIGIL_MALLOC=%s: want %s", mode, line);
        show(mode, &r);
    }
}

static void test_names(void)
{
    expect_name("debug", "arena_debug");
    expect_name("arena_debug", "arena_debug");
    expect_name("malloc_debug", "malloc_debug");
}

/* ---- VIGIL_ABORT=0 ---- */

static void test_continue(void)
{
    const char *env[] = { "VIGIL_MALLOC=arena", "VIGIL_ABORT=0", "VIGIL_QUARANTINE", NULL };
    struct child_result r;
    probe("continue", env, &r);
    int ok = r.exited && r.status == 0 && strcmp(r.out, "errors=5\n") == 0 &&
             count_reports(r.err) == 5;
    CU_ASSERT_TRUE(r.exited);
    CU_ASSERT_EQUAL(r.status, 0);
    CU_ASSERT_STRING_EQUAL(r.out, "errors=5\n");
    CU_ASSERT_EQUAL(count_reports(r.err), 5);
    CU_ASSERT_PTR_NULL(strstr(r.err, "vigil: aborting"));
    const char *names[] = { "buffer overflow", "buffer underflow", "API mismatch",
                            "double free", "invalid free" };
    for (int i = 0; i < 5; i++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "vigil: %s on block 0x", names[i]);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, prefix));
        ok = ok && strstr(r.err, prefix);
    }
    if (!ok)
        show("VIGIL_ABORT=0", &r);
}


static void check_block_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    char *p = vigil_mem_malloc(16);  /* @check-block-alloc */
    CHILD_CHECK(vigil_check_block(p) == 0, 70);
    CHILD_CHECK(vigil_check_block(NULL) == 0, 71);
    vigil_dump_block(p);
    announce(p);
    p[17] = '!';
    vigil_check_block(p);
}

static void test_check_block(void)
{
    struct child_result r;
    run_debug(check_block_child, NULL, &r);
    char addr[64], dump[128];
    announced(&r, addr, sizeof addr);
    snprintf(dump, sizeof dump, "vigil: block %s (16 bytes, API 'm')\n", addr);
    expect_words(&r, dump);
    /* The dump's own first line comes first: look past it. */
    const char *second = strstr(r.err, "vigil: buffer overflow");
    CU_ASSERT_PTR_NOT_NULL(second);
    if (second) {
        char line[256];
        snprintf(line, sizeof line, "vigil: buffer overflow on block %s (16 bytes, API 'm')\n", addr);
        CU_ASSERT_EQUAL(strncmp(second, line, strlen(line)), 0);
    }
    CU_ASSERT_TRUE(r.signaled && r.signo == SIGABRT);
    expect_words(&r, "at p+17: 0x21 *** OUCH");
    expect_stack(&r, "vigil_check_block called by thread T0 here:", NULL, NULL);
    expect_stack(&r, "allocated by thread T0 here:", "check_block_child", "@check-block-alloc");
}

/* ---- threads ---- */

#define NTHREADS 4
#define SLOTS 256
static _Atomic(void *) slots[3][SLOTS];

static void *thread_main(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        int d = (int)((seed >> 8) % 3);
        size_t slot = (seed >> 12) % SLOTS;
        size_t n = (seed >> 20) % 700;
        unsigned char *p = i % 7 ? apis[d].malloc(n) : apis[d].calloc(1, n);
        if (!p)
            exit(80);
        memset(p, (int)(n & 0xff), n);
        unsigned char *old = atomic_exchange(&slots[d][slot], (void *)p);
        if (old) {
            if (vigil_check_block(old) != 0)
                exit(81);
            if (i % 5 == 0)
                old = apis[d].realloc(old, n / 2);
            apis[d].free(old);
        }
    }
    return NULL;
}

static void threads_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    pthread_t t[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        if (pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i))
            exit(82);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    for (int d = 0; d < 3; d++)
        for (int s = 0; s < SLOTS; s++)
            apis[d].free(atomic_load(&slots[d][s]));
    CHILD_CHECK(vigil_error_count() == 0, 83);
    exit(0);                            /* with the exit check */
}

static void test_threads(void)
{
    struct child_result r;
    run_debug(threads_child, NULL, &r);
    expect_clean(&r, "threads");
}

/* ---- serial numbers ---- */

#ifdef VIGIL_SERIALNO
static void serial_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    for (int i = 0; i < 4; i++)
        vigil_mem_free(vigil_mem_malloc(8));
    char *p = vigil_mem_malloc(8);
    unsigned char *tail = (unsigned char *)p + 8 + VIGIL_DEBUG_WORD;
    size_t serial = be_size(tail);
    announce(p);
    printf("serial=%zu\n", serial);
    fflush(stdout);
    p[8] = 0;
    vigil_mem_free(p);
}

static void test_serial_in_dump(void)
{
    struct child_result r;
    run_debug(serial_child, NULL, &r);
    expect_report(&r, "buffer overflow", "(8 bytes, API 'm')");
    const char *s = strstr(r.out, "serial=");
    CU_ASSERT_PTR_NOT_NULL(s);
    if (s) {
        char words[64];
        size_t n = strtoul(s + 7, NULL, 10);
        CU_ASSERT_TRUE(n >= 5);
        snprintf(words, sizeof words, "serial number %zu ", n);
        expect_words(&r, words);
    }
}

static void test_break_serial(void)
{
    const char *env[] = { "VIGIL_MALLOC=arena", "VIGIL_BREAK_SERIAL=3", NULL };
    struct child_result r;
    probe("break", env, &r);
    CU_ASSERT_TRUE(r.signaled);
    CU_ASSERT_EQUAL(r.signo, SIGTRAP);
    CU_ASSERT_STRING_EQUAL(r.out, "alloc 1\nalloc 2\nalloc 3\n");
    if (!r.signaled || r.signo != SIGTRAP)
        show("VIGIL_BREAK_SERIAL=3", &r);
    const char *none[] = { "VIGIL_MALLOC=arena", "VIGIL_BREAK_SERIAL", NULL };
    probe("break", none, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
}
#endif

void register_debug_suite(void)
{
    static const struct test_case tests[] = {
        { "layout and fills (0xCD, calloc 0, 0xDD)", test_fills },
        { "buffer overflow", test_overflow },
        { "buffer underflow", test_underflow },
        { "API mismatch, all 6 pairs", test_api_mismatch },
        { "API mismatch on realloc", test_api_mismatch_realloc },
        { "double free (quarantined)", test_double_free },
        { "double free, quarantine off", test_double_free_no_quarantine },
        { "invalid free, no crash", test_invalid_free },
        { "the most specific diagnosis, never a crash", test_diagnosis_specific },
        { "realloc both ways", test_realloc },
        { "failing realloc keeps the block", test_realloc_failure },
        { "quarantine eviction: use after free", test_quarantine_eviction },
        { "quarantine exit check", test_quarantine_exit },
        { "quarantine: a thread's frees reach the ring at its exit", test_quarantine_thread_exit },
        { "VIGIL_QUARANTINE=0", test_quarantine_off },
        { "setup is idempotent (overhead 3S + the origin)", test_idempotent },
        { "hooks over a custom allocator", test_custom_allocator },
        { "names by VIGIL_MALLOC", test_names },
        { "VIGIL_ABORT=0 continues and counts", test_continue },
        { "vigil_check_block and vigil_dump_block", test_check_block },
        { "threads", test_threads },
#ifdef VIGIL_SERIALNO
        { "serial number in the dump", test_serial_in_dump },
        { "VIGIL_BREAK_SERIAL raises SIGTRAP", test_break_serial },
#endif
        { NULL, NULL },
    };
    add_suite("debug", tests);
}
