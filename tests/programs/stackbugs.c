/* stackbugs.c - seeded heap bugs whose debug reports show three stacks,
 * for tests/tools/stacks.sh, which asserts every frame of every stack:
 * its function and its line.  The lines are the ones ending in a comment
 * "@NAME"; the script finds them with grep, so they cannot drift.
 *
 * Built four ways: on vigil_mem_* (linked with vigil: VIGIL_MALLOC=debug
 * and friends) or on plain malloc (-DSTACKBUGS_LIBC: an unmodified
 * program, for the preload), each with frame pointers and without.  Every
 * function keeps a frame of its own (noinline, no sibling calls), so the
 * stacks are the same in the four.
 *   stackbugs overflow | underflow | double-free | invalid-free |
 *             use-after-free | thread | smash | long | repeat | clean | masks
 *             (and without STACKBUGS_LIBC: mismatch | check) */
#include "config.h"

#include <alloca.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef STACKBUGS_LIBC
#define ALLOC malloc
#define FREE free
#else
#include "vigil.h"
#define ALLOC vigil_mem_malloc
#define FREE vigil_mem_free
#endif

#ifdef __clang__
#define FRAME __attribute__((noinline))
#else
#define FRAME __attribute__((noinline, noclone))
#endif

/* Offsets the compiler cannot see, and stores it must make. */
static volatile size_t at_24 = 24, back = 1;
static volatile int sink;
#define POKE(p, i, c) (((volatile char *)(p))[i] = (c))

FRAME static char *make_block(size_t n)
{
    char *p = ALLOC(n);                                 /* @make */
    sink++;
    printf("%p\n", (void *)p);
    fflush(stdout);
    return p;
}

FRAME static void drop_block(char *p)
{
    FREE(p);                                            /* @drop */
    sink++;
}

FRAME static void bug_overflow(void)
{
    char *p = make_block(24);                           /* @overflow-make */
    POKE(p, at_24, 'x');
    drop_block(p);                                      /* @overflow-drop */
}

FRAME static void bug_underflow(void)
{
    char *p = make_block(24);                           /* @underflow-make */
    POKE(p, -(ptrdiff_t)back, 'x');
    drop_block(p);                                      /* @underflow-drop */
}

FRAME static void bug_double_free(void)
{
    char *p = make_block(32);                           /* @df-make */
    drop_block(p);                                      /* @df-first */
    drop_block(p);                                      /* @df-second */
}

FRAME static void bug_invalid_free(void)
{
    char buf[64] __attribute__((aligned(16)));
    memset(buf, 0, sizeof buf);
    printf("%p\n", (void *)(buf + 16));
    fflush(stdout);
    drop_block(buf + 16);                               /* @invalid-drop */
    sink += buf[0];
}

/* Frees that push the written block out of the quarantine (the test runs
 * with a small one); one of them finds it. */
FRAME static void churn(void)
{
    for (int i = 0; i < 100000; i++)
        FREE(ALLOC(512));                               /* @churn */
}

FRAME static void bug_use_after_free(void)
{
    char *p = make_block(32);                           /* @uaf-make */
    drop_block(p);                                      /* @uaf-drop */
    POKE(p, 5, 'y');
    churn();                                            /* @uaf-churn */
}

/* Allocated in a second thread (T1), freed twice in the main one (T0). */
static char *from_thread;

FRAME static void *thread_main(void *arg)
{
    (void)arg;
    from_thread = make_block(40);                       /* @thread-make */
    sink++;
    return NULL;
}

FRAME static void bug_thread(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) || pthread_join(t, NULL))
        exit(70);
    drop_block(from_thread);                            /* @thread-first */
    drop_block(from_thread);                            /* @thread-second */
}

/* A write over the tail guard and the origin after it (and the serial
 * between them, when there is one), so the report cannot know where the
 * block was allocated; not beyond, where the allocator's own headers are. */
#ifdef VIGIL_SERIALNO
#define TRAILER 24
#else
#define TRAILER 16
#endif

FRAME static void bug_smash(void)
{
    char *p = make_block(24);
    memset(p + at_24, 'x', TRAILER);
    drop_block(p);                                      /* @smash-drop */
}

/* Deeper than the 16 frames kept: two stacks of 16 lines, a report longer
 * than the writer's buffer. */
FRAME static void descend(int depth)
{
    if (depth > 0) {
        descend(depth - 1);                             /* @descend */
        sink++;
        return;
    }
    char *p = make_block(24);                           /* @long-make */
    POKE(p, at_24, 'x');
    drop_block(p);                                      /* @long-drop */
}

FRAME static void bug_long(void)
{
    descend(40);
}

/* A frame built on the frame pointer however the program is built: an
 * alloca needs it. */
FRAME static char *make_alloca_block(size_t n)
{
    volatile char *pad = alloca(n + at_24);
    pad[0] = 'a';
    char *p = make_block(n);                            /* @repeat-alloca */
    sink += pad[0];
    return p;
}

/* The same calls a hundred times, the last with an overflow: the report's
 * stacks are of calls met before, which the capture reads back by the
 * frame rules it learnt (through a frame built on the frame pointer and
 * frames without one) and the hooks find by place: the frames must be
 * those of the first time. */
FRAME static void bug_repeat(void)
{
    for (int i = 0; i < 100; i++) {
        char *p = make_alloca_block(24);                /* @repeat-make */
        if (i == 99)
            POKE(p, at_24, 'x');
        drop_block(p);                                  /* @repeat-drop */
    }
}

FRAME static void clean(void)
{
    char *p = make_block(24);
    POKE(p, at_24 - 1, 'x');
    drop_block(p);
    churn();
}

FRAME static void deep(int depth)
{
    if (depth > 0) {
        deep(depth - 1);
        sink++;
        return;
    }
    drop_block(make_block(24));
}

static volatile sig_atomic_t caught[NSIG];
static void catch(int sig) { caught[sig] = 1; }

/* Not a bug: the program's signal mask stays its own.  A capture that
 * learns frame rules (libunwind's, where frame pointers are missing)
 * blocks every signal while it learns, and libunwind's own calls to
 * sigprocmask are answered then without the system call: after it, a
 * signal the program blocked waits, one it did not is taken at once, and
 * sigprocmask says and does what the C library's does. */
FRAME static void masks(void)
{
    sigset_t usr1, now;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    signal(SIGUSR1, catch);
    signal(SIGUSR2, catch);
    int ok = sigprocmask(SIG_BLOCK, &usr1, NULL) == 0;
    /* A thread's first 64 captures (of stacks met for the first time) go
     * to libunwind whole; the frame rules are learnt after, for pcs never
     * met. */
    for (int i = 0; i < 40; i++)
        deep(i);
    drop_block(make_alloca_block(24));  /* pcs never met */
    raise(SIGUSR1);
    raise(SIGUSR2);
    ok = ok && !caught[SIGUSR1] && caught[SIGUSR2];
    ok = ok && sigprocmask(SIG_SETMASK, NULL, &now) == 0 && sigismember(&now, SIGUSR1) == 1 &&
         sigismember(&now, SIGUSR2) == 0;
    errno = 0;
    ok = ok && sigprocmask(-1, &usr1, NULL) == -1 && errno == EINVAL;
    ok = ok && sigprocmask(SIG_UNBLOCK, &usr1, NULL) == 0 && caught[SIGUSR1];
    puts(ok ? "masks kept" : "masks changed");
}

#ifndef STACKBUGS_LIBC
FRAME static void drop_obj(char *p)
{
    vigil_obj_free(p);                                  /* @drop-obj */
    sink++;
}

FRAME static void bug_mismatch(void)
{
    char *p = make_block(16);                           /* @mismatch-make */
    drop_obj(p);                                        /* @mismatch-drop */
}

FRAME static void check(char *p)
{
    vigil_check_block(p);                               /* @check */
    sink++;
}

FRAME static void bug_check(void)
{
    char *p = make_block(16);                           /* @check-make */
    POKE(p, 17, '!');
    check(p);                                           /* @check-call */
}
#endif

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } bugs[] = {
        { "overflow", bug_overflow }, { "underflow", bug_underflow },
        { "double-free", bug_double_free }, { "invalid-free", bug_invalid_free },
        { "use-after-free", bug_use_after_free }, { "thread", bug_thread },
        { "smash", bug_smash }, { "long", bug_long }, { "repeat", bug_repeat },
        { "clean", clean }, { "masks", masks },
#ifndef STACKBUGS_LIBC
        { "mismatch", bug_mismatch }, { "check", bug_check },
#endif
    };
    alarm(60);
    for (size_t i = 0; argc > 1 && i < sizeof bugs / sizeof bugs[0]; i++)
        if (strcmp(argv[1], bugs[i].name) == 0) {
            bugs[i].fn();                               /* @main */
            puts("done");
            return 0;
        }
    fprintf(stderr, "usage: stackbugs overflow | underflow | double-free | invalid-free |\n"
                    "       use-after-free | thread | smash | long | repeat | clean | masks | mismatch |\n"
                    "       check\n");
    return 2;
}
