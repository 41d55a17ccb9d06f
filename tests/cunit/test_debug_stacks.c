/* test_debug_stacks.c - what the debug reports' stacks rest on: the origin
 * a block carries after its tail guard (its allocation's stack and
 * thread), the depot's refusal of an id that names no stack (a garbage
 * origin), and the writer of a report longer than its buffer.  The
 * reports themselves, every frame of them, are tests/tools/stacks.sh's. */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "child.h"
#include "debug_block.h"
#include "report.h"
#include "stacks.h"
#include "suites.h"
#include "threads.h"
#include "vigil.h"
#include "vigil/annotate.h"

#define CHILD_CHECK(cond, code) do { if (!(cond)) { fprintf(stderr, "child check failed: %s\n", #cond); exit(code); } } while (0)

static void show(const char *what, const struct child_result *r)
{
    fprintf(stderr, "\n--- %s: exited=%d status=%d signaled=%d signo=%d\n--- stdout:\n%s"
            "--- stderr:\n%s---\n", what, r->exited, r->status, r->signaled, r->signo,
            r->out, r->err);
}

static void expect_clean(const struct child_result *r, const char *what)
{
    int ok = r->exited && r->status == 0;
    CU_ASSERT_TRUE(ok);
    if (!ok)
        show(what, r);
}

/* ---- the origin ---- */

static struct vigil_origin origin_of(const unsigned char *p, size_t n)
{
    VIGIL_MEM_DEFINED(p + n, VIGIL_DEBUG_TRAILER);
    return vigil__debug_get_origin(p + n + VIGIL_DEBUG_ORIGIN_AT);
}

/* The origin's stack, symbolized: its first frame is "in func
 * .../test_debug_stacks.c:LINE"? */
static int first_frame_is(struct vigil_origin o, const char *func, int line)
{
    void *frames[16];
    int n = vigil__stack_get(o.stack, frames, 16);
    if (n <= 0)
        return 0;
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__stack_print(&r, frames, 1);
    char text[VIGIL_REPORT_BUFSIZE + 1], in[64], at[64];
    memcpy(text, r.buf, r.len);
    text[r.len] = '\0';
    r.len = 0;
    snprintf(in, sizeof in, " in %s ", func);
    snprintf(at, sizeof at, "/test_debug_stacks.c:%d\n", line);
    size_t tl = strlen(text), al = strlen(at);
    int ok = strstr(text, in) && tl > al && strcmp(text + tl - al, at) == 0;
    if (!ok)
        fprintf(stderr, "\n  wanted %s at test_debug_stacks.c:%d, got: %s", func, line, text);
    return ok;
}

static int thread_alloc_line;
static unsigned thread_number;
static unsigned char *thread_block;

static void *alloc_thread(void *arg)
{
    (void)arg;
    thread_alloc_line = __LINE__ + 1;
    thread_block = vigil_mem_malloc(40);
    thread_number = vigil__thread_number();
    return NULL;
}

static void origin_child(void *arg)
{
    (void)arg;
    vigil_setup_debug_hooks();
    int line = __LINE__ + 1;
    unsigned char *p = vigil_mem_malloc(24);
    struct vigil_origin o = origin_of(p, 24);
    CHILD_CHECK(o.stack != 0, 10);
    CHILD_CHECK(o.thread == 0 && vigil__thread_number() == 0, 11);
    CHILD_CHECK(first_frame_is(o, "origin_child", line), 12);
    /* A realloc is where the block it returns was allocated. */
    line = __LINE__ + 1;
    p = vigil_mem_realloc(p, 200);
    CHILD_CHECK(first_frame_is(origin_of(p, 200), "origin_child", line), 13);
    line = __LINE__ + 1;
    p = vigil_mem_realloc(p, 190);                      /* shrinks in place */
    CHILD_CHECK(first_frame_is(origin_of(p, 190), "origin_child", line), 14);
    line = __LINE__ + 1;
    unsigned char *z = vigil_obj_calloc(3, 5);
    CHILD_CHECK(first_frame_is(origin_of(z, 15), "origin_child", line), 15);
    /* Another thread: its own number (the suites before numbered others). */
    pthread_t t;
    CHILD_CHECK(pthread_create(&t, NULL, alloc_thread, NULL) == 0 && pthread_join(t, NULL) == 0, 16);
    o = origin_of(thread_block, 40);
    CHILD_CHECK(o.thread == thread_number && thread_number != 0, 17);
    CHILD_CHECK(first_frame_is(o, "alloc_thread", thread_alloc_line), 18);
    vigil_mem_free(p);
    vigil_obj_free(z);
    vigil_mem_free(thread_block);
}

static void test_origin(void)
{
    struct child_result r;
    run_child(origin_child, NULL, &r);
    expect_clean(&r, "origin");
}

/* ---- ids that name no stack ---- */

static void test_depot_garbage_ids(void)
{
    void *a[3] = { (void *)0x1000, (void *)0x2000, (void *)0x3000 };
    void *b[9] = { (void *)0x4000, (void *)0x5000, (void *)0x6000, (void *)0x7000,
                   (void *)0x8000, (void *)0x9000, (void *)0xa000, (void *)0xb000,
                   (void *)0xc000 };
    uint32_t ia = vigil__stack_put(a, 3), ib = vigil__stack_put(b, 9);
    CU_ASSERT_FATAL(ia != 0 && ib > ia);
    void *got[16];
    CU_ASSERT_EQUAL(vigil__stack_get(ia, got, 16), 3);
    CU_ASSERT_EQUAL(vigil__stack_get(ib, got, 16), 9);
    /* Inside a record and past the last one: no stack, however the bytes
     * there read as a record. */
    for (uint32_t id = ia + 1; id < ia + 40; id++)
        if (id != ib)
            CU_ASSERT_EQUAL(vigil__stack_get(id, got, 16), 0);
    CU_ASSERT_EQUAL(vigil__stack_get(0, got, 16), 0);
    CU_ASSERT_EQUAL(vigil__stack_get(0x78787878u, got, 16), 0);
    CU_ASSERT_EQUAL(vigil__stack_get(UINT32_MAX, got, 16), 0);
    /* Any value whatever: a stack or none, never a fault. */
    uint32_t x = 12345;
    int sane = 1;
    for (int i = 0; i < 100000; i++) {
        x = x * 1103515245u + 12345u;
        int n = vigil__stack_get(x, got, 16);
        sane &= n >= 0 && n <= 16;
    }
    CU_ASSERT_TRUE(sane);
}

/* ---- a report longer than the buffer ---- */

/* Each write of the writer is one message of a SOCK_SEQPACKET socket, so
 * the child can see where the writes were cut. */
static void long_report_child(void *arg)
{
    (void)arg;
    int sv[2];
    CHILD_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, 20);
    CHILD_CHECK(dup2(sv[0], STDERR_FILENO) == STDERR_FILENO, 21);
    static char want[4 * VIGIL_REPORT_BUFSIZE];
    size_t len = 0;
    struct vigil_report r;
    vigil__report_init(&r);
    for (int i = 0; len < 3 * VIGIL_REPORT_BUFSIZE; i++) {
        char line[128];
        int k = snprintf(line, sizeof line, "    #%d 0x%x in some_function_name /a/long/path/file.c:%d\n",
                         i, 0x1000 + i, 100 + i);
        vigil__report_str(&r, line);
        memcpy(want + len, line, (size_t)k);
        len += (size_t)k;
    }
    vigil__report_flush(&r);
    shutdown(sv[0], SHUT_WR);
    close(sv[0]);
    close(STDERR_FILENO);
    static char got[4 * VIGIL_REPORT_BUFSIZE];
    size_t have = 0;
    int writes = 0;
    for (;;) {
        ssize_t n = recv(sv[1], got + have, sizeof got - have, 0);
        if (n <= 0)
            break;
        writes++;
        CHILD_CHECK(got[have + (size_t)n - 1] == '\n', 22);     /* whole lines */
        have += (size_t)n;
    }
    CHILD_CHECK(have == len && memcmp(got, want, len) == 0, 23); /* nothing lost */
    CHILD_CHECK(writes >= 3, 24);
}

static void test_long_report(void)
{
    struct child_result r;
    run_child(long_report_child, NULL, &r);
    expect_clean(&r, "a long report");
}

void register_debug_stacks_suite(void)
{
    static const struct test_case tests[] = {
        { "origin: the allocation's stack and thread, after the tail", test_origin },
        { "depot: an id that names no stack gives none", test_depot_garbage_ids },
        { "report: longer than the buffer, written whole, line by line", test_long_report },
        { NULL, NULL },
    };
    add_suite("debug stacks", tests);
}
