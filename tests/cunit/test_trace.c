/* test_trace.c - allocation tracing: tests/programs/trace_api.c run in a
 * fresh process per mode, its output held to exact words: the sites in
 * order with their bytes and blocks, and the function and file:line of
 * their frames (the program prints the line of each of its calls). */
#include "config.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "settings.h"
#include "suites.h"

#define MS_PRINT "/usr/bin/ms_print"

static void show(const char *what, const struct child_result *r)
{
    fprintf(stderr, "\n--- %s: exited=%d status=%d signaled=%d signo=%d\n--- stdout:\n%s\n"
                    "--- stderr:\n%s\n",
            what, r->exited, r->status, r->signaled, r->signo, r->out, r->err);
}

static void trace_api(const char *mode, const char *arg, const char *const env[],
                      struct child_result *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", sibling_program("trace_api"));
    const char *timed[] = { "/usr/bin/timeout", "120", path, mode, arg, NULL };
    const char *plain[] = { path, mode, arg, NULL };
    run_program(access(timed[0], X_OK) == 0 ? timed : plain, env, r);
}

/* "trace_api.c:N", the line the program says FUNC's allocation is on. */
static const char *expected(const char *out, const char *func, char *buf, size_t size)
{
    char key[128];
    snprintf(key, sizeof key, "expect %s ", func);
    const char *at = strstr(out, key);
    buf[0] = '\0';
    if (at) {
        at += strlen(key);
        size_t n = strcspn(at, "\n");
        if (n >= size)
            n = size - 1;
        memcpy(buf, at, n);
        buf[n] = '\0';
    }
    return buf;
}

/* The n-th (from 1) block of text starting with a line "Site K:" after the
 * first occurrence of after (NULL: the start), up to the blank line that
 * ends it. */
static int site_block(const char *text, const char *after, int k, char *buf, size_t size)
{
    if (after) {
        text = strstr(text, after);
        if (!text)
            return 0;
    }
    char head[32];
    snprintf(head, sizeof head, "\nSite %d: ", k);
    const char *at = strstr(text, head);
    if (!at)
        return 0;
    at++;
    const char *end = strstr(at, "\n\n");
    size_t n = end ? (size_t)(end - at) + 1 : strlen(at);
    if (n >= size)
        n = size - 1;
    memcpy(buf, at, n);
    buf[n] = '\0';
    return 1;
}

/* Frame idx of a site block: "    #idx 0x... in FUNC .../FILE:LINE". */
static int frame_is(const char *block, int idx, const char *func, const char *loc)
{
    char head[16];
    snprintf(head, sizeof head, "    #%d 0x", idx);
    const char *at = strstr(block, head);
    if (!at)
        return 0;
    size_t n = strcspn(at, "\n");
    char line[1024];
    if (n >= sizeof line)
        return 0;
    memcpy(line, at, n);
    line[n] = '\0';
    char in[160];
    snprintf(in, sizeof in, " in %s ", func);
    if (!strstr(line, in))
        return 0;
    if (!loc)
        return 1;
    size_t l = strlen(loc);
    return n > l && strcmp(line + n - l, loc) == 0 && (line[n - l - 1] == '/' || line[n - l - 1] == ' ');
}

/* Site k (after `after`) says "HEAD allocated from:" and its frame #0 is
 * func at the line the program named. */
static int site_is(const struct child_result *r, const char *after, int k, const char *head,
                   const char *func)
{
    char block[8192], loc[64], first[256];
    snprintf(first, sizeof first, "Site %d: %s allocated from:\n", k, head);
    int ok = site_block(r->out, after, k, block, sizeof block) &&
             strncmp(block, first, strlen(first)) == 0 &&
             frame_is(block, 0, func, expected(r->out, func, loc, sizeof loc));
    if (!ok)
        fprintf(stderr, "\nwanted \"%s\" from %s at %s\n", first, func, loc);
    return ok;
}

#define CHECK(cond, what, r)                                                  \
    do {                                                                      \
        int ok_ = (cond);                                                     \
        CU_ASSERT_TRUE(ok_);                                                  \
        if (!ok_) {                                                           \
            fprintf(stderr, "\nfailed: %s\n", #cond);                         \
            show(what, r);                                                    \
        }                                                                     \
    } while (0)

#define HAS(r, text) CHECK(strstr((r)->out, text) != NULL, text, r)

static void expect_clean(const struct child_result *r, const char *what)
{
    CHECK(r->exited && r->status == 0 && r->err[0] == '\0', what, r);
}

/* ---- the API ---- */

static void test_top(void)
{
    struct child_result r;
    trace_api("top", NULL, NULL, &r);
    expect_clean(&r, "top");
    CHECK(site_is(&r, NULL, 1, "5000 byte(s) in 1 block(s)", "trace_site_raw"), "raw first", &r);
    CHECK(site_is(&r, NULL, 2, "3000 byte(s) in 3 block(s)", "trace_site_calloc"), "calloc", &r);
    CHECK(site_is(&r, NULL, 3, "1000 byte(s) in 10 block(s)", "trace_site_small"), "small", &r);
    char block[8192];
    CHECK(site_block(r.out, NULL, 1, block, sizeof block) && frame_is(block, 1, "mode_top", NULL),
          "the site's caller", &r);
    CHECK(!site_block(r.out, NULL, 4, block, sizeof block) ||
              strstr(r.out, "shown=3") < strstr(r.out, "\nSite 4: "),
          "three sites only", &r);
    HAS(&r, "vigil: live blocks by allocation site, most bytes first (16 frame(s) traced)\n");
    HAS(&r, "\nvigil: SUMMARY: 9000 byte(s) in 14 live block(s) from 3 allocation site(s), 3 shown\n"
            "vigil: trace memory: block table ");
    HAS(&r, " for 14 block(s), depot ");
    HAS(&r, "; 19 allocation(s) traced; lost: 0 trace(s), 0 stack(s)\nshown=3\n");
    HAS(&r, "from 3 allocation site(s), 2 shown\n");
    HAS(&r, "shown=2\n");
    HAS(&r, " in_site=1\n");
    HAS(&r, "get_max1=1\nget_max0=0\nget_interior=0\nget_null=0\n");
    HAS(&r, "SUMMARY: 0 byte(s) in 0 live block(s) from 0 allocation site(s), 0 shown\n");
}

static void test_semantics(void)
{
    struct child_result r;
    trace_api("semantics", NULL, NULL, &r);
    expect_clean(&r, "semantics");
    HAS(&r, "start(0)=-1 EINVAL frames=0\nstart(65)=-1 EINVAL frames=0\n"
            "start(-3)=-1 EINVAL frames=0\nstart(1000)=-1 EINVAL frames=0\n");
    HAS(&r, "snapshot_off=NULL EINVAL\n"
            "vigil: allocation tracing is off (VIGIL_TRACE=N or vigil_trace_start)\nshown=0\n");
    HAS(&r, "start(64)=0 frames=64\n");
    HAS(&r, "get=1\nstart(1)=0 frames=1\n");
    CHECK(strstr(r.out, "get_kept=1\n") == NULL && strstr(r.out, "get_kept=0\n") == NULL,
          "records made with 64 frames keep them", &r);
    HAS(&r, "get_one=1\n");
    HAS(&r, "stopped frames=0 get=0\nname=arena\nstart(8)=0\n");
    HAS(&r, "(8 frame(s) traced)\n\nvigil: SUMMARY: 0 byte(s) in 0 live block(s)");
}

static void test_before(void)
{
    struct child_result r;
    trace_api("before", NULL, NULL, &r);
    expect_clean(&r, "blocks from before the start");
    CHECK(site_is(&r, NULL, 1, "7000 byte(s) in 1 block(s)", "trace_site_realloc"),
          "an untraced block reallocated is traced where it was", &r);
    CHECK(site_is(&r, NULL, 2, "77 byte(s) in 1 block(s)", "trace_site_sized"), "new", &r);
    HAS(&r, "SUMMARY: 7077 byte(s) in 2 live block(s) from 2 allocation site(s), 2 shown\n");
}

static void test_realloc(void)
{
    struct child_result r;
    trace_api("realloc", NULL, NULL, &r);
    expect_clean(&r, "realloc");
    HAS(&r, "moved=1 old_untraced=1\nfailed=1 enomem=1\n");
    CHECK(site_is(&r, NULL, 1, "5000 byte(s) in 1 block(s)", "trace_site_realloc"),
          "the record moved, and stayed when realloc failed", &r);
    CHECK(site_is(&r, NULL, 2, "200 byte(s) in 1 block(s)", "trace_site_realloc"), "shrunk", &r);
    HAS(&r, "SUMMARY: 5200 byte(s) in 2 live block(s) from 2 allocation site(s), 2 shown\n");
}

static void test_custom(void)
{
    struct child_result r;
    trace_api("custom", NULL, NULL, &r);
    expect_clean(&r, "over a custom allocator");
    HAS(&r, "name=(null)\n");
    CHECK(site_is(&r, NULL, 1, "400 byte(s) in 2 block(s)", "trace_site_sized"), "custom", &r);
    HAS(&r, "SUMMARY: 400 byte(s) in 2 live block(s) from 1 allocation site(s), 1 shown\n");
    HAS(&r, "traced_table_ctx=1\nrestored=1\ncustom mallocs=4 frees=4 bad_ctx=0\n");
}

static void test_debug(void)
{
    const char *env[] = { "VIGIL_MALLOC=debug", "VIGIL_ABORT", "VIGIL_ERROR_EXITCODE", NULL };
    struct child_result r;
    trace_api("debug", NULL, env, &r);
    expect_clean(&r, "over the debug hooks");
    HAS(&r, "name=arena_debug\n");
    CHECK(site_is(&r, NULL, 1, "120 byte(s) in 3 block(s)", "trace_site_sized"),
          "the sizes the program asked for", &r);
    HAS(&r, "freed\n");
    trace_api("debug-overflow", NULL, env, &r);
    CHECK(r.signaled && strstr(r.err, "vigil: buffer overflow on block ") &&
              strstr(r.out, "freed\n") == NULL,
          "the hooks still catch an overflow under tracing", &r);
}

/* ---- threads ---- */

static void expect_thread_sites(const struct child_result *r, const char *what)
{
    expect_clean(r, what);
    CHECK(site_is(r, NULL, 1, "800000 byte(s) in 4000 block(s)", "trace_site_t2"), what, r);
    CHECK(site_is(r, NULL, 2, "360000 byte(s) in 2400 block(s)", "trace_site_t4"), what, r);
    CHECK(site_is(r, NULL, 3, "172800 byte(s) in 3600 block(s)", "trace_site_t1"), what, r);
    char block[8192];
    CHECK(site_block(r->out, NULL, 3, block, sizeof block) && frame_is(block, 1, "worker", NULL),
          what, r);
    HAS(r, "SUMMARY: 1332800 byte(s) in 10000 live block(s) from 3 allocation site(s), 3 shown\n");
    HAS(r, "for 10000 block(s)");
    HAS(r, "; lost: 0 trace(s), 0 stack(s)\nshown=3\n");
    const char *cmp = "allocation sites that grew most";
    CHECK(site_is(r, cmp, 1, "+800000 byte(s) in +4000 block(s), now 800000 byte(s) in 4000 "
                             "block(s),", "trace_site_t2"), what, r);
    CHECK(site_is(r, cmp, 3, "+172800 byte(s) in +3600 block(s), now 172800 byte(s) in 3600 "
                             "block(s),", "trace_site_t1"), what, r);
    HAS(r, "SUMMARY: +1332800 byte(s) in +10000 block(s), from 0 byte(s) in 0 block(s) to "
           "1332800 byte(s) in 10000 block(s); 3 site(s) grew, 0 shrank, 3 shown\n");
}

/* The lines that say what each site holds, in order. */
static void site_heads(const char *out, char *buf, size_t size)
{
    size_t n = 0;
    for (const char *at = strstr(out, "\nSite "); at && n + 256 < size;
         at = strstr(at + 1, "\nSite ")) {
        size_t len = strcspn(at + 1, "\n") + 1;
        memcpy(buf + n, at + 1, len);
        n += len;
    }
    buf[n] = '\0';
}

static void test_threads(void)
{
    static struct child_result at_once, serial;
    trace_api("threads", NULL, NULL, &at_once);
    expect_thread_sites(&at_once, "8 threads at once");
    trace_api("serial", NULL, NULL, &serial);
    expect_thread_sites(&serial, "8 threads one after the other");
    static char a[16384], b[16384];
    site_heads(at_once.out, a, sizeof a);
    site_heads(serial.out, b, sizeof b);
    CU_ASSERT_STRING_EQUAL(a, b);
}

/* ---- snapshots and massif ---- */

static void tmp_name(char *buf, size_t size, const char *what)
{
    snprintf(buf, size, "/tmp/vigil-trace-%ld-%s", (long)getpid(), what);
}

static void test_snapshot(void)
{
    char file[256];
    tmp_name(file, sizeof file, "massif");
    struct child_result r;
    trace_api("snapshot", file, NULL, &r);
    expect_clean(&r, "snapshots");
    const char *first = "grew most";
    CHECK(site_is(&r, first, 1, "+1000 byte(s) in +20 block(s), now 1000 byte(s) in 20 block(s),",
                  "trace_site_other"), "grown", &r);
    HAS(&r, "SUMMARY: +500 byte(s) in +15 block(s), from 1000 byte(s) in 10 block(s) to 1500 "
            "byte(s) in 25 block(s); 1 site(s) grew, 1 shrank, 1 shown\ncompared=1\n");
    HAS(&r, "SUMMARY: +1500 byte(s) in +25 block(s), from 0 byte(s) in 0 block(s) to 1500 "
            "byte(s) in 25 block(s); 2 site(s) grew, 0 shrank, 1 shown\ncompared=1\n");
    const char *third = "2 site(s) grew, 0 shrank, 1 shown\ncompared=1\n";
    CHECK(site_is(&r, third, 1, "+500 byte(s) in +5 block(s), now 1000 byte(s) in 10 block(s),",
                  "trace_site_sized"), "shrunk the other way", &r);
    HAS(&r, "SUMMARY: -500 byte(s) in -15 block(s), from 1500 byte(s) in 25 block(s) to 1000 "
            "byte(s) in 10 block(s); 1 site(s) grew, 1 shrank, 1 shown\ncompared=1\n");
    HAS(&r, "written=0\nafter_stop=NULL\n");
    HAS(&r, "1 shown\ncompared=1\n");

    if (access(MS_PRINT, X_OK) != 0) {
        fprintf(stderr, "\n(ms_print not installed: the massif file not checked)\n");
        unlink(file);
        return;
    }
    char loc_other[64], loc_sized[64], want[256];
    expected(r.out, "trace_site_other", loc_other, sizeof loc_other);
    expected(r.out, "trace_site_sized", loc_sized, sizeof loc_sized);
    struct child_result m;
    const char *argv[] = { MS_PRINT, file, NULL };
    run_program(argv, NULL, &m);
    unlink(file);
    CHECK(m.exited && m.status == 0, "ms_print reads the file", &m);
    CHECK(strstr(m.out, "100.00% (1,500B) (heap allocation functions)") != NULL, "the total", &m);
    snprintf(want, sizeof want, "->66.67%% (1,000B) 0x");
    const char *top = strstr(m.out, want);
    CHECK(top && strstr(top, ": trace_site_other (") &&
              strstr(top, ": trace_site_other (") < strstr(top, "\n"),
          "the top site first, with its bytes", &m);
    snprintf(want, sizeof want, "%s)\n", loc_other);
    CHECK(top && strstr(top, want) && strstr(top, want) < strchr(top, '\n') + 1, "its line", &m);
    snprintf(want, sizeof want, ": trace_site_sized (");
    const char *second = strstr(m.out, "->33.33% (500B) 0x");
    CHECK(second && second > top && strstr(second, want) && strstr(second, loc_sized),
          "the second site", &m);
    CHECK(strstr(m.out, "mode_snapshot (") != NULL, "callers as children", &m);
}

static void test_lost(void)
{
    struct child_result r;
    trace_api("lost", NULL, NULL, &r);
    expect_clean(&r, "table and depot full");
    unsigned long bytes = 0, live = 0, lost = 0, stacks_lost = 0;
    const char *sum = strstr(r.out, "vigil: SUMMARY: ");
    const char *mem = strstr(r.out, "; lost: ");
    CHECK(sum && sscanf(sum, "vigil: SUMMARY: %lu byte(s) in %lu live block(s)", &bytes, &live) == 2,
          "a summary", &r);
    CHECK(mem && sscanf(mem, "; lost: %lu trace(s)", &lost) == 1, "a count of the lost", &r);
    CU_ASSERT_TRUE(lost > 0);
    CU_ASSERT_EQUAL(live + lost, 30000);
    CU_ASSERT_EQUAL(bytes, 32 * live);
    HAS(&r, "new_stack_traced=0\n");
    const char *last = mem ? strstr(mem + 1, "; lost: ") : NULL;
    CHECK(last && sscanf(last, "; lost: %lu trace(s), %lu stack(s)", &lost, &stacks_lost) == 2 &&
              stacks_lost >= 1,
          "the stack lost", &r);
    HAS(&r, "SUMMARY: 0 byte(s) in 0 live block(s) from 0 allocation site(s), 0 shown\n");
}

/* ---- the environment ---- */

static void test_parse_count(void)
{
    static const struct { const char *s; unsigned long v; } good[] = {
        { "0", 0 }, { "1", 1 }, { "16", 16 }, { "64", 64 }, { "007", 7 },
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        unsigned long v = 1234;
        CU_ASSERT_TRUE(vigil__parse_count(good[i].s, 64, &v));
        CU_ASSERT_EQUAL(v, good[i].v);
    }
    const char *bad[] = { "", "65", "-1", "+3", " 8", "8 ", "1x", "0x10", "99999999999999999999999" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned long v = 1234;
        CU_ASSERT_FALSE(vigil__parse_count(bad[i], 64, &v));
        CU_ASSERT_EQUAL(v, 1234);
    }
}

static void test_env(void)
{
    const char *two[] = { "VIGIL_TRACE=2", NULL };
    struct child_result r;
    trace_api("env", NULL, two, &r);
    expect_clean(&r, "VIGIL_TRACE=2");
    HAS(&r, "frames=2\n");
    HAS(&r, "(2 frame(s) traced)\n");
    char block[8192];
    CHECK(site_is(&r, NULL, 1, "1234 byte(s) in 1 block(s)", "trace_site_sized") &&
              site_block(r.out, NULL, 1, block, sizeof block) &&
              frame_is(block, 1, "mode_env", NULL) && !strstr(block, "    #2 "),
          "two frames: the site and its caller", &r);

    const char *bad[] = { "65", "abc", "-1", "16x", " 8" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char var[64], msg[256];
        snprintf(var, sizeof var, "VIGIL_TRACE=%s", bad[i]);
        const char *env[] = { var, NULL };
        trace_api("env", NULL, env, &r);
        snprintf(msg, sizeof msg,
                 "vigil: VIGIL_TRACE=%s is not valid; accepted: 0 (off) or the frames to record, "
                 "1 to 64 (16 is usual); using the default\n", bad[i]);
        CHECK(r.exited && r.status == 0 && strcmp(r.err, msg) == 0, var, &r);
        HAS(&r, "frames=0\nexpect ");
        HAS(&r, "vigil: allocation tracing is off (VIGIL_TRACE=N or vigil_trace_start)\n");
    }
    const char *off[] = { "VIGIL_TRACE=0", NULL };
    trace_api("env", NULL, off, &r);
    expect_clean(&r, "VIGIL_TRACE=0");
    HAS(&r, "frames=0\n");
}

/* The one file in /tmp whose name starts with prefix, into path. */
static int find_file(const char *prefix, char *path, size_t size)
{
    DIR *d = opendir("/tmp");
    int found = 0;
    const char *base = strrchr(prefix, '/') + 1;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (strncmp(e->d_name, base, strlen(base)) == 0) {
            snprintf(path, size, "/tmp/%s", e->d_name);
            found++;
        }
    if (d)
        closedir(d);
    return found == 1;
}

static void test_at_exit(void)
{
    char prefix[256], pattern[300], var[320], path[512];
    tmp_name(prefix, sizeof prefix, "exit-");
    snprintf(pattern, sizeof pattern, "%s%%p.massif", prefix);
    snprintf(var, sizeof var, "VIGIL_TRACE_FILE=%s", pattern);
    const char *env[] = { "VIGIL_TRACE=16", "VIGIL_TRACE_TOP=1", var, NULL };
    struct child_result r;
    trace_api("exit", NULL, env, &r);
    CHECK(r.exited && r.status == 0, "at exit", &r);
    CHECK(strstr(r.err, "\nSite 1: 5000 byte(s) in 1 block(s) allocated from:\n    #0 0x") &&
              strstr(r.err, " in trace_site_raw ") &&
              strstr(r.err, "SUMMARY: 5200 byte(s) in 3 live block(s) from 3 allocation site(s), "
                            "1 shown\n"),
          "VIGIL_TRACE_TOP: the top site on stderr", &r);
    int one = find_file(prefix, path, sizeof path);
    CHECK(one, "VIGIL_TRACE_FILE: one file, %p made the process id", &r);
    if (one && access(MS_PRINT, X_OK) == 0) {
        struct child_result m;
        const char *argv[] = { MS_PRINT, path, NULL };
        run_program(argv, NULL, &m);
        CHECK(m.exited && m.status == 0 && strstr(m.out, "100.00% (5,200B) (heap allocation") &&
                  strstr(m.out, "->96.15% (5,000B) 0x") && strstr(m.out, ": trace_site_raw ("),
              "ms_print reads the file written at exit", &m);
    }
    if (one)
        unlink(path);

    const char *closed[] = { "VIGIL_TRACE=16", "VIGIL_TRACE_TOP=1", NULL };
    trace_api("exit-closed", NULL, closed, &r);
    CHECK(r.exited && r.status == 0 &&
              strstr(r.err, "\nSite 1: 5000 byte(s) in 1 block(s) allocated from:\n    #0 0x") &&
              strstr(r.err, "vigil: SUMMARY: 5200 byte(s) in 3 live block(s)"),
          "stderr closed by the program's exit handler: the sites still printed", &r);

    const char *nowhere[] = { "VIGIL_TRACE=4", "VIGIL_TRACE_FILE=/nonexistent/dir/f", NULL };
    trace_api("exit", NULL, nowhere, &r);
    CHECK(r.exited && r.status == 0 &&
              strcmp(r.err, "vigil: VIGIL_TRACE_FILE: cannot write /nonexistent/dir/f: "
                            "No such file or directory\n") == 0,
          "an unwritable file: said, and the program's status kept", &r);
    const char *off[] = { "VIGIL_TRACE_FILE=/tmp/vigil-never-written", "VIGIL_TRACE_TOP=3", NULL };
    trace_api("exit", NULL, off, &r);
    CHECK(r.exited && r.status == 0 &&
              strcmp(r.err, "vigil: VIGIL_TRACE_FILE: tracing is off at exit, "
                            "/tmp/vigil-never-written not written\n"
                            "vigil: allocation tracing is off (VIGIL_TRACE=N or vigil_trace_start)\n") == 0 &&
              access("/tmp/vigil-never-written", F_OK) != 0,
          "tracing off: nothing written, and said", &r);
    const char *badtop[] = { "VIGIL_TRACE_TOP=many", NULL };
    trace_api("exit", NULL, badtop, &r);
    CHECK(r.exited && r.status == 0 &&
              strcmp(r.err, "vigil: VIGIL_TRACE_TOP=many is not valid; accepted: 0 (off) or the "
                            "allocation sites to print at exit (10); using the default\n") == 0,
          "VIGIL_TRACE_TOP malformed", &r);
}

void register_trace_suite(void)
{
    static const struct test_case tests[] = {
        { "print_top: sites most bytes first, each frame's function and line", test_top },
        { "start/stop/frames/get: EINVAL, frames kept, everything forgotten", test_semantics },
        { "blocks from before the start: freed, reallocated", test_before },
        { "realloc moves the record; a failed one keeps it", test_realloc },
        { "tracing over a custom allocator", test_custom },
        { "tracing over the debug hooks", test_debug },
        { "8 threads at once agree with the serial count", test_threads },
        { "snapshots compared; massif file read by ms_print", test_snapshot },
        { "a full table and depot: counted, the program goes on", test_lost },
        { "VIGIL_TRACE's parser", test_parse_count },
        { "VIGIL_TRACE", test_env },
        { "VIGIL_TRACE_TOP and VIGIL_TRACE_FILE at exit", test_at_exit },
        { NULL, NULL },
    };
    add_suite("trace", tests);
}
