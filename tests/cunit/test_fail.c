/* test_fail.c - fault injection (VIGIL_FAIL): its syntax, every item
 * through the API in a process of its own (tests/failprobe, since the
 * environment is read once a process), the records of VIGIL_FAIL_LOG and
 * VIGIL_FAIL_FILE, the wrapper's counters under threads and over custom
 * allocators; and vigil's own allocations made to fail, one site a run
 * (tests/fail_sites, tests/fail_preload). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "child.h"
#include "domain.h"
#include "fail.h"
#include "suites.h"
#include "tcache.h"

/* ---- the syntax ---- */

static struct vigil_fail_spec parsed(const char *s)
{
    struct vigil_fail_spec sp;
    char why[160];
    memset(&sp, 0x5a, sizeof sp);
    int ok = vigil__fail_parse(s, &sp, why, sizeof why);
    CU_ASSERT_TRUE(ok);
    if (!ok)
        fprintf(stderr, "\n    %s refused: %s\n", s, why);
    return sp;
}

static void test_parse_items(void)
{
    struct vigil_fail_spec s = parsed("nth=3");
    CU_ASSERT_EQUAL(s.nth, 3);
    CU_ASSERT_EQUAL(s.every, 0);
    CU_ASSERT_FALSE(s.has_after);
    CU_ASSERT_FALSE(s.has_prob);
    CU_ASSERT_FALSE(s.has_times);
    CU_ASSERT_EQUAL(s.seed, 1);                 /* the default */
    CU_ASSERT_EQUAL(s.size, 0);
    CU_ASSERT_EQUAL(s.domains, 7);              /* all three */

    s = parsed("every=5,after=10,times=2,size=4K,domain=obj,seed=42,prob=0.25");
    CU_ASSERT_EQUAL(s.every, 5);
    CU_ASSERT_TRUE(s.has_after);
    CU_ASSERT_EQUAL(s.after, 10);
    CU_ASSERT_TRUE(s.has_times);
    CU_ASSERT_EQUAL(s.times, 2);
    CU_ASSERT_EQUAL(s.size, 4096);
    CU_ASSERT_EQUAL(s.domains, 1u << VIGIL_DOMAIN_OBJ);
    CU_ASSERT_EQUAL(s.seed, 42);
    CU_ASSERT_TRUE(s.has_prob);
    CU_ASSERT_FALSE(s.prob_all);
    CU_ASSERT_EQUAL(s.prob_below, UINT64_C(1) << 62);

    CU_ASSERT_EQUAL(parsed("domain=raw").domains, 1u << VIGIL_DOMAIN_RAW);
    CU_ASSERT_EQUAL(parsed("domain=mem").domains, 1u << VIGIL_DOMAIN_MEM);
    CU_ASSERT_TRUE(parsed("prob=1").prob_all);
    CU_ASSERT_TRUE(parsed("prob=1.000").prob_all);
    CU_ASSERT_EQUAL(parsed("prob=.5").prob_below, UINT64_C(1) << 63);
    s = parsed("prob=0");
    CU_ASSERT_TRUE(s.has_prob && !s.prob_all && s.prob_below == 0);
    s = parsed("after=0,times=0");
    CU_ASSERT_TRUE(s.has_after && s.after == 0 && s.has_times && s.times == 0);
    CU_ASSERT_EQUAL(parsed("size=1M").size, 1u << 20);
    CU_ASSERT_EQUAL(parsed("nth=18446744073709551615").nth, 18446744073709551615ULL);
}

static void test_parse_refused(void)
{
    static const struct {
        const char *value, *why;
    } bad[] = {
        { "", "no item" },
        { "nth=0", "nth=0: N counts allocations from 1" },
        { "nth=x", "nth=x: N counts allocations from 1" },
        { "nth=18446744073709551616", "nth=18446744073709551616: N counts allocations from 1" },
        { "every=0", "every=0: N counts allocations from 1" },
        { "after=-1", "after=-1: not a whole number" },
        { "after=", "after=: not a whole number" },
        { "seed=1e3", "seed=1e3: not a whole number" },
        { "times=two", "times=two: not a whole number" },
        { "prob=1.5", "prob=1.5: not a probability from 0 to 1" },
        { "prob=2", "prob=2: not a probability from 0 to 1" },
        { "prob=-0.1", "prob=-0.1: not a probability from 0 to 1" },
        { "prob=.", "prob=.: not a probability from 0 to 1" },
        { "prob=0.5x", "prob=0.5x: not a probability from 0 to 1" },
        { "size=12Q", "size=12Q: not a byte count such as 100, 4K, 1M" },
        { "domain=heap", "domain=heap: not raw, mem or obj" },
        { "bogus=1", "bogus=1: unknown item" },
        { "NTH=1", "NTH=1: unknown item" },
        { " nth=1", " nth=1: unknown item" },
        { "nth=1 ", "nth=1 : N counts allocations from 1" },
        { "nth=1,nth=2", "nth given twice" },
        { "nth=1,", "an empty item" },
        { ",nth=1", "an empty item" },
        { "nth=1,,every=2", "an empty item" },
        { "nth", "nth: not NAME=VALUE" },
        { "size=1111111111111111111111111111111111111111111111111111111111111111111",
          "size=111111111111111...: too long for an item" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vigil_fail_spec s, before;
        memset(&s, 0x5a, sizeof s);
        before = s;
        char why[160];
        CU_ASSERT_FALSE(vigil__fail_parse(bad[i].value, &s, why, sizeof why));
        CU_ASSERT_STRING_EQUAL(why, bad[i].why);
        CU_ASSERT_EQUAL(memcmp(&s, &before, sizeof s), 0);      /* left as it was */
    }
}

/* ---- every item, through the API, from the environment ---- */

/* tests/failprobe with VIGIL_FAIL=fail (NULL: unset), env after it. */
static void probe(const char *fail, const char *const env[], const char *const args[],
                  struct child_result *r)
{
    const char *argv[16] = { sibling_program("failprobe") };
    size_t n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    char failvar[256];
    snprintf(failvar, sizeof failvar, "VIGIL_FAIL=%s", fail ? fail : "");
    const char *all[16] = { fail ? failvar : "VIGIL_FAIL", "VIGIL_FAIL_LOG", "VIGIL_FAIL_FILE",
                            "VIGIL_MALLOC" };
    size_t k = 4;
    for (; env && *env && k < 15; env++)
        all[k++] = *env;
    all[k] = NULL;
    run_program(argv, all, r);
}

/* The probe's output for fail over args; stderr must be empty. */
static void expect(const char *fail, const char *const env[], const char *const args[],
                   const char *out)
{
    struct child_result r;
    probe(fail, env, args, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_STRING_EQUAL(r.out, out);
    CU_ASSERT_STRING_EQUAL(r.err, "");
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void test_nth(void)
{
    expect("nth=2", NULL, ARGS("mem.malloc=10", "mem.malloc=10", "mem.malloc=10"),
           "1 mem.malloc 10: ok\n2 mem.malloc 10: ENOMEM\n3 mem.malloc 10: ok\n");
    expect("nth=1", NULL, ARGS("mem.calloc=40", "obj.calloc=40"),
           "1 mem.calloc 40: ENOMEM\n2 obj.calloc 40: ok\n");
    /* A large block (the system allocator's, below the arena) too. */
    expect("nth=3", NULL, ARGS("raw.malloc=16*4", "mem.malloc=5000*2"),
           "1 raw.malloc 16*4: ..X.\n5 mem.malloc 5000*2: ..\n");
    expect(NULL, NULL, ARGS("mem.malloc=16*8"), "1 mem.malloc 16*8: ........\n");
}

static void test_realloc_keeps_the_block(void)
{
    static const char *const modes[] = { "VIGIL_MALLOC=arena", "VIGIL_MALLOC=debug",
                                         "VIGIL_MALLOC=malloc" };
    for (size_t i = 0; i < 3; i++) {
        const char *env[] = { modes[i], NULL };
        expect("nth=2", env, ARGS("mem.malloc=16", "mem.realloc=64", "mem.realloc=64"),
               "1 mem.malloc 16: ok\n2 mem.realloc 64: ENOMEM, old block kept\n"
               "3 mem.realloc 64: ok\n");
        expect("nth=2", env, ARGS("obj.malloc=600", "obj.realloc=5000"),
               "1 obj.malloc 600: ok\n2 obj.realloc 5000: ENOMEM, old block kept\n");
    }
}

static void test_every_after_times(void)
{
    expect("every=3", NULL, ARGS("mem.malloc=16*12"), "1 mem.malloc 16*12: ..X..X..X..X\n");
    expect("after=4", NULL, ARGS("mem.malloc=16*10"), "1 mem.malloc 16*10: ....XXXXXX\n");
    expect("after=0,times=2", NULL, ARGS("mem.malloc=16*10"),
           "1 mem.malloc 16*10: XX........\n");
    expect("every=2,times=3", NULL, ARGS("obj.malloc=16*10"),
           "1 obj.malloc 16*10: .X.X.X....\n");
    expect("times=0", NULL, ARGS("mem.malloc=16*4"), "1 mem.malloc 16*4: ....\n");
    /* No trigger: every candidate fails. */
    expect("times=1", NULL, ARGS("mem.malloc=16*3"), "1 mem.malloc 16*3: X..\n");
}

static void test_size_and_domain(void)
{
    expect("size=100,nth=2", NULL,
           ARGS("mem.malloc=50", "mem.malloc=100", "mem.malloc=10", "mem.calloc=200",
                "mem.malloc=300"),
           "1 mem.malloc 50: ok\n2 mem.malloc 100: ok\n3 mem.malloc 10: ok\n"
           "4 mem.calloc 200: ENOMEM\n5 mem.malloc 300: ok\n");
    expect("size=1K", NULL, ARGS("mem.malloc=1023*2", "mem.malloc=1024*2"),
           "1 mem.malloc 1023*2: ..\n3 mem.malloc 1024*2: XX\n");
    expect("domain=obj,nth=2", NULL,
           ARGS("mem.malloc=16*3", "obj.malloc=16*3", "raw.malloc=16*2"),
           "1 mem.malloc 16*3: ...\n4 obj.malloc 16*3: .X.\n7 raw.malloc 16*2: ..\n");
    expect("domain=raw,after=0", NULL, ARGS("mem.malloc=16*2", "raw.malloc=16*2", "raw.calloc=8"),
           "1 mem.malloc 16*2: ..\n3 raw.malloc 16*2: XX\n5 raw.calloc 8: ENOMEM\n");
    /* Combined: candidates (of obj, 64 bytes or more) after the 2nd that
     * are even, twice. */
    expect("domain=obj,size=64,after=2,every=2,times=2", NULL,
           ARGS("obj.malloc=64*10", "mem.malloc=64*4", "obj.malloc=16*4"),
           "1 obj.malloc 64*10: ...X.X....\n11 mem.malloc 64*4: ....\n"
           "15 obj.malloc 16*4: ....\n");
}

static void test_prob_seed(void)
{
    struct child_result a, b, c, all, none;
    probe("prob=0.5,seed=7", NULL, ARGS("mem.malloc=16*64"), &a);
    probe("prob=0.5,seed=7", NULL, ARGS("mem.malloc=16*64"), &b);
    probe("prob=0.5,seed=8", NULL, ARGS("mem.malloc=16*64"), &c);
    CU_ASSERT_STRING_EQUAL(a.out, b.out);       /* same seed, same failures */
    CU_ASSERT_STRING_NOT_EQUAL(a.out, c.out);
    size_t x = 0;
    for (const char *p = strchr(a.out, ':'); p && *p; p++)
        x += *p == 'X';
    CU_ASSERT_TRUE(x > 16 && x < 48);           /* 32 expected, 4 the deviation */
    /* The default seed is 1; the draw is the candidate's, whatever the
     * domain or the call. */
    probe("prob=0.5", NULL, ARGS("mem.malloc=16*32", "obj.calloc=16*32"), &b);
    probe("prob=0.5,seed=1", NULL, ARGS("raw.malloc=16*64"), &c);
    char joined[256];
    const char *c1 = strchr(b.out, ':') + 2, *c2 = strchr(strchr(b.out, '\n') + 1, ':') + 2;
    snprintf(joined, sizeof joined, "1 raw.malloc 16*64: %.32s%.32s\n", c1, c2);
    CU_ASSERT_STRING_EQUAL(c.out, joined);
    probe("prob=1", NULL, ARGS("mem.malloc=16*8"), &all);
    CU_ASSERT_STRING_EQUAL(all.out, "1 mem.malloc 16*8: XXXXXXXX\n");
    probe("prob=0", NULL, ARGS("mem.malloc=16*8"), &none);
    CU_ASSERT_STRING_EQUAL(none.out, "1 mem.malloc 16*8: ........\n");
}

static void test_malformed_refused(void)
{
    static const struct {
        const char *value, *why;
    } bad[] = {
        { "nth=0", "nth=0: N counts allocations from 1" },
        { "every=3,nth", "nth: not NAME=VALUE" },
        { "prob=0.5,seed=x", "seed=x: not a whole number" },
        { "domain=all", "domain=all: not raw, mem or obj" },
        { "nth=1;every=2", "nth=1;every=2: N counts allocations from 1" },
        { "fail=1", "fail=1: unknown item" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct child_result r;
        probe(bad[i].value, NULL, ARGS("mem.malloc=16*4"), &r);
        char want[1024];
        snprintf(want, sizeof want,
                 "vigil: VIGIL_FAIL=%s is not valid (%s); syntax: VIGIL_FAIL=ITEM[,ITEM...] "
                 "with items nth=N, every=N, after=N, prob=P (0 to 1), seed=S, "
                 "size=N[K|M|G], times=K, domain=raw|mem|obj; nothing is injected\n",
                 bad[i].value, bad[i].why);
        CU_ASSERT_TRUE(r.exited && r.status == 0);
        CU_ASSERT_STRING_EQUAL(r.err, want);
        CU_ASSERT_STRING_EQUAL(r.out, "1 mem.malloc 16*4: ....\n");
    }
    /* VIGIL_FAIL_LOG has two values. */
    struct child_result r;
    const char *env[] = { "VIGIL_FAIL_LOG=yes", NULL };
    probe("nth=1", env, ARGS("mem.malloc=16*2"), &r);
    CU_ASSERT_STRING_EQUAL(r.err, "vigil: VIGIL_FAIL_LOG=yes is not valid; accepted: 0, 1; "
                                  "using the default\n");
    CU_ASSERT_STRING_EQUAL(r.out, "1 mem.malloc 16*2: X.\n");
}

/* The probe's call, where failprobe.c's do_op calls the domain. */
static void test_log(void)
{
    struct child_result r;
    const char *env[] = { "VIGIL_FAIL_LOG=1", NULL };
    probe("every=2,times=2", env, ARGS("mem.malloc=10", "obj.malloc=20", "mem.calloc=30",
                                       "raw.realloc=40", "mem.malloc=50"), &r);
    CU_ASSERT_STRING_EQUAL(r.out, "1 mem.malloc 10: ok\n2 obj.malloc 20: ENOMEM\n"
                                  "3 mem.calloc 30: ok\n4 raw.realloc 40: ENOMEM\n"
                                  "5 mem.malloc 50: ok\n");
    const char *first = strstr(r.err, "vigil: injected failure #1 (allocation #2, 20 bytes)\n"
                                      "    #0 0x");
    const char *second = strstr(r.err, "vigil: injected failure #2 (allocation #4, 40 bytes)\n"
                                       "    #0 0x");
    CU_ASSERT_PTR_EQUAL(first, r.err);
    CU_ASSERT_PTR_NOT_NULL(second);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, " in do_op "));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "failprobe.c:"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "    #1 0x"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r.err, " in main "));
    CU_ASSERT_PTR_NULL(strstr(r.err, "fail.c:"));       /* vigil's frames left out */

    /* Into a file, appended: the same words, nothing on stderr. */
    char path[] = "/tmp/vigil-fail-XXXXXX";
    int fd = mkstemp(path);
    CU_ASSERT_TRUE_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(write(fd, "before\n", 7), 7);
    close(fd);
    char var[64];
    snprintf(var, sizeof var, "VIGIL_FAIL_FILE=%s", path);
    const char *fenv[] = { var, NULL };
    probe("nth=3", fenv, ARGS("mem.malloc=16*4"), &r);
    CU_ASSERT_STRING_EQUAL(r.out, "1 mem.malloc 16*4: ..X.\n");
    CU_ASSERT_STRING_EQUAL(r.err, "");
    char text[8192] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(text, 1, sizeof text - 1, f);
        text[n] = '\0';
        fclose(f);
    }
    unlink(path);
    const char *want = "before\nvigil: injected failure #1 (allocation #3, 16 bytes)\n    #0 0x";
    CU_ASSERT_EQUAL(strncmp(text, want, strlen(want)), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, " in do_op "));
}

/* The wrapper does not hide what is installed under it. */
static void test_names_kept(void)
{
    static const struct {
        const char *mode, *name;
    } modes[] = {
        { "VIGIL_MALLOC=default", "arena\n" }, { "VIGIL_MALLOC=debug", "arena_debug\n" },
        { "VIGIL_MALLOC=malloc", "malloc\n" }, { "VIGIL_MALLOC=malloc_debug", "malloc_debug\n" },
    };
    for (size_t i = 0; i < 4; i++) {
        const char *argv[] = { sibling_program("probe"), "name", NULL };
        const char *env[] = { "VIGIL_FAIL=nth=1000", modes[i].mode, NULL };
        struct child_result r;
        run_program(argv, env, &r);
        CU_ASSERT_STRING_EQUAL(r.out, modes[i].name);
    }
}

/* ---- the wrapper in this process ---- */

/* Unset here (the suite's environment): nothing is composed. */
static void test_not_composed_when_unset(void)
{
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
        CU_ASSERT_FALSE(vigil__fail_on((vigil_domain)d));
    vigil_mem_free(vigil_mem_malloc(10));
    CU_ASSERT_EQUAL(vigil__fail_candidates(), 0);
}

/* In a child: inject by s from now on, on every domain (set again: the
 * wrapper goes on what is installed). */
static void inject_now(const char *s)
{
    struct vigil_fail_spec sp;
    char why[160];
    if (!vigil__fail_parse(s, &sp, why, sizeof why))
        exit(3);
    vigil__fail_set(&sp);
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        vigil_allocator a;
        vigil_get_allocator((vigil_domain)d, &a);
        vigil_set_allocator((vigil_domain)d, &a);
    }
}

#define THREADS 4
#define PER_THREAD 10000

static void *allocate_many(void *arg)
{
    size_t *failed = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        void *p = (i & 1) ? vigil_mem_malloc(24) : vigil_obj_calloc(3, 8);
        if (!p)
            ++*failed;
        if (i & 1)
            vigil_mem_free(p);
        else
            vigil_obj_free(p);
    }
    return NULL;
}

static void threads_child(void *arg)
{
    inject_now(arg);
    pthread_t t[THREADS];
    size_t failed[THREADS] = { 0 };
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, allocate_many, &failed[i]))
            exit(2);
    size_t sum = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        sum += failed[i];
    }
    printf("candidates %llu, injected %llu, seen %zu\n", vigil__fail_candidates(),
           vigil__fail_injected(), sum);
}

static void test_counters_under_threads(void)
{
    struct child_result r;
    run_child(threads_child, "every=10", &r);
    CU_ASSERT_STRING_EQUAL(r.out, "candidates 40000, injected 4000, seen 4000\n");
    run_child(threads_child, "after=100,times=123", &r);
    CU_ASSERT_STRING_EQUAL(r.out, "candidates 40000, injected 123, seen 123\n");
}

/* A program's own allocator, set while injecting, gets injected too, and
 * reading the table back gives the program's own. */
static void *my_malloc(void *ctx, size_t n) { ++*(int *)ctx; return malloc(n); }
static void *my_calloc(void *ctx, size_t a, size_t b) { ++*(int *)ctx; return calloc(a, b); }
static void *my_realloc(void *ctx, void *p, size_t n) { ++*(int *)ctx; return realloc(p, n); }
static void my_free(void *ctx, void *p) { (void)ctx; free(p); }

static void custom_child(void *arg)
{
    (void)arg;
    inject_now("every=2");
    static int calls;
    vigil_allocator mine = { &calls, my_malloc, my_calloc, my_realloc, my_free }, back;
    vigil_set_allocator(VIGIL_DOMAIN_OBJ, &mine);
    vigil_get_allocator(VIGIL_DOMAIN_OBJ, &back);
    int same = back.ctx == &calls && back.malloc == my_malloc && back.free == my_free;
    char line[16] = "";
    for (int i = 0; i < 6; i++) {
        void *p = vigil_obj_malloc(32);
        line[i] = p ? '.' : 'X';
        vigil_obj_free(p);
    }
    printf("get gives the table set: %s; %s; reached it %d times\n", same ? "yes" : "no", line,
           calls);
}

static void test_custom_allocator(void)
{
    struct child_result r;
    run_child(custom_child, NULL, &r);
    CU_ASSERT_STRING_EQUAL(r.out, "get gives the table set: yes; .X.X.X; reached it 3 times\n");
}

/* vigil_setup_debug_hooks while injecting: the hooks go under the
 * wrapper, as compose() orders them. */
static void debug_under_child(void *arg)
{
    (void)arg;
    char want[32];
    snprintf(want, sizeof want, "%s_debug", vigil_allocator_name());  /* arena, or malloc */
    inject_now("nth=2");
    vigil_setup_debug_hooks();
    vigil_setup_debug_hooks();          /* idempotent */
    void *a = vigil_mem_malloc(10), *b = vigil_mem_malloc(10), *c = vigil_mem_malloc(10);
    size_t n = 0;
    int sized = vigil__domain_block_size(VIGIL_DOMAIN_MEM, a, &n);
    const char *name = vigil_allocator_name();
    printf("name %s, debugged %d, block of %zu (%d), %s %s %s\n",
           name && strcmp(name, want) == 0 ? "+_debug" : name,
           vigil__domain_debugged(VIGIL_DOMAIN_MEM), n, sized, a ? "ok" : "NULL",
           b ? "ok" : "NULL", c ? "ok" : "NULL");
    vigil_mem_free(a);
    vigil_mem_free(c);
}

static void test_debug_hooks_under_it(void)
{
    struct child_result r;
    run_child(debug_under_child, NULL, &r);
    CU_ASSERT_STRING_EQUAL(r.out, "name +_debug, debugged 1, block of 10 (1), ok NULL ok\n");
    CU_ASSERT_STRING_EQUAL(r.err, "");
}

/* ---- vigil's own allocations made to fail ---- */

static void site(const char *name, const char *mode, const char *want)
{
    const char *argv[] = { sibling_program("fail_sites"), name, NULL };
    const char *env[] = { "VIGIL_FAIL", mode, NULL };
    struct child_result r;
    run_program(argv, env, &r);
    CU_ASSERT_TRUE(r.exited && r.status == 0);
    CU_ASSERT_STRING_EQUAL(r.out, want);
    CU_ASSERT_STRING_EQUAL(r.err, "");
}

static void test_site_registry(void)
{
    site("registry", "VIGIL_MALLOC",
         "mapped and usable: 300 of 300; listed: 256 (the first array, full); the rest "
         "counted lost: yes; growths refused: yes; listed after unmapping: yes\n");
}

static void test_site_arena(void)
{
    site("arena", "VIGIL_MALLOC=arena",
         "no new arena: refused yes; every block served: yes; from the first arena: yes, the "
         "rest from the system allocator: yes; every block whole: yes; heap consistent: yes; "
         "a new arena once memory is back: yes; all freed: yes\n");
}

static void test_site_depot(void)
{
    site("depot", "VIGIL_MALLOC",
         "no table: id 0, lost 1; no chunk: id 0, lost 2, refused 1; then: stored yes, the "
         "same frames yes\n");
}

static void test_site_quarantine(void)
{
    site("quarantine", "VIGIL_MALLOC=debug",
         "debug hooks: yes; no memory for the quarantine: 0 blocks left after 100 freed "
         "(checked and freed at once), refused yes, blocks whole yes; memory back: 100 of 100 "
         "freed blocks wait in the quarantine\n");
}

static void test_site_thread(void)
{
#ifndef VIGIL_ASAN_BUILD
    /* (Under ASan no thread has a cache to claim.) */
    site("thread", "VIGIL_MALLOC=arena",
         "arena: no cache or batch for the thread: refused yes; 1000 blocks served and whole: "
         "yes; heap consistent: yes; all freed: yes\n");
#endif
    site("thread", "VIGIL_MALLOC=debug",
         "debug hooks: no cache or batch for the thread: refused yes; 1000 blocks served and "
         "whole: yes; heap consistent: yes; freed blocks still wait in the quarantine: yes\n");
}

static void test_site_leak(void)
{
    site("leak", "VIGIL_MALLOC",
         "unhindered: 1 leak; no memory for its list of blocks: 0 reported (refused 1); "
         "no memory for its copy of vigil's mappings: 0 reported (refused 1); no memory for "
         "the scan's mark stack: 0 reported (refused 1); no memory for the maps file: 0 "
         "reported (refused 1); no memory for the list of threads: 0 reported (refused 1); "
         "memory back: 1 leak\n");
}

static void test_site_annotated(void)
{
#ifdef VIGIL_ASAN_BUILD
    site("annotated", "VIGIL_MALLOC",
         "no table for the first arena: refused 1, the block from the system allocator yes; "
         "an arena once memory is back: yes; no ring for the tools' quarantine: 0 of 50 freed "
         "blocks held (freed at once); memory back: 50 held; heap consistent: yes\n");
#else
    site("annotated", "VIGIL_MALLOC", "not annotating\n");
#endif
}

static void test_site_preload_registry(void)
{
    /* (Not under ASan, which brings its own malloc.) */
#ifndef VIGIL_ASAN_BUILD
    static const char *const modes[] = { "first", "grow" };
    static const char *const want[] = {
        "mappings failed: 1; aligned: ENOMEM; kept whole: 0 of 0; afterwards: served\n",
        "mappings failed: 1; aligned: ENOMEM; kept whole: 192 of 192; afterwards: served\n",
    };
    for (int i = 0; i < 2; i++) {
        const char *argv[] = { sibling_program("fail_preload"), modes[i], NULL };
        const char *env[] = { "VIGIL_FAIL", "VIGIL_MALLOC=debug", NULL };
        struct child_result r;
        run_program(argv, env, &r);
        CU_ASSERT_TRUE(r.exited && r.status == 0);
        CU_ASSERT_STRING_EQUAL(r.out, want[i]);
        CU_ASSERT_STRING_EQUAL(r.err, "");
    }
#endif
}

void register_fail_suite(void)
{
    static const struct test_case tests[] = {
        { "syntax: every item, the defaults", test_parse_items },
        { "syntax: malformed values refused, naming the item", test_parse_refused },
        { "nth: the Nth allocation, any domain and call", test_nth },
        { "realloc: a failure keeps the old block, any base", test_realloc_keeps_the_block },
        { "every, after, times", test_every_after_times },
        { "size and domain: only candidates count", test_size_and_domain },
        { "prob: same seed, same failures", test_prob_seed },
        { "malformed: one line with the syntax, nothing injected", test_malformed_refused },
        { "VIGIL_FAIL_LOG and VIGIL_FAIL_FILE: the record and its stack", test_log },
        { "the allocator's name is what is under the wrapper", test_names_kept },
        { "unset: not composed", test_not_composed_when_unset },
        { "counters: exact under 4 threads", test_counters_under_threads },
        { "a custom allocator gets it, and get gives it back", test_custom_allocator },
        { "vigil_setup_debug_hooks goes under it", test_debug_hooks_under_it },
        { "own failures: os.c's registry", test_site_registry },
        { "own failures: a new arena", test_site_arena },
        { "own failures: the stack depot", test_site_depot },
        { "own failures: the debug quarantine's ring", test_site_quarantine },
        { "own failures: a thread's cache and batch", test_site_thread },
        { "own failures: a leak check's buffers", test_site_leak },
        { "own failures: the tools' tables (ASan)", test_site_annotated },
        { "own failures: the preload's registry", test_site_preload_registry },
        { NULL, NULL },
    };
    add_suite("fail", tests);
}
