/* heapcheck.c - blocks damaged and never freed, for the check of every
 * live debug block (tests/tools/heapcheck.sh): at exit, and on demand with
 * vigil_check_heap.  The lines the script asserts end in a comment
 * "@NAME"; it finds them with grep.
 *
 * Built on vigil_mem_* (linked with vigil) and on plain malloc
 * (-DHEAPCHECK_LIBC, run through the preload); every function keeps a
 * frame of its own, so the stacks are the same in both.
 *   heapcheck exit-small | exit-large | memcpy | thread | closed-stderr |
 *             clean | leak-closed-stderr (for tests/tools/leaks.sh)
 *             (and without HEAPCHECK_LIBC: check | check-clean) */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HEAPCHECK_LIBC
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

static volatile int sink;
/* Kept, so that the blocks are live, not leaked, at exit. */
static char *volatile kept[8];
#define POKE(p, i, c) (((volatile char *)(p))[i] = (c))

FRAME static char *make_block(size_t n)
{
    char *p = ALLOC(n);                                 /* @make */
    sink++;
    printf("%p\n", (void *)p);
    fflush(stdout);
    return p;
}

/* A pool block's size (the arena serves it), written one byte past. */
FRAME static void exit_small(void)
{
    kept[0] = make_block(24);                           /* @small-make */
    POKE(kept[0], 24, 'x');
}

/* Above the arena's 512 bytes: the system allocator's block. */
FRAME static void exit_large(void)
{
    kept[0] = make_block(5000);                         /* @large-make */
    POKE(kept[0], 5000, 'x');
}

/* As mimalloc-bench's overflow programs do: a string copied with its NUL
 * into a buffer sized by strlen. */
static const char *volatile words = "the quick brown fox";

FRAME static void copy_string(void)
{
    size_t n = strlen(words);
    char *p = make_block(n);                            /* @memcpy-make */
    memcpy(p, words, n + 1);
    kept[0] = p;
}

static void *thread_main(void *arg)
{
    (void)arg;
    kept[0] = make_block(40);                           /* @thread-make */
    POKE(kept[0], 40, 'x');
    return NULL;
}

FRAME static void in_thread(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) || pthread_join(t, NULL))
        exit(70);
}

/* The program closes its stderr in an exit handler (coreutils do): the
 * report at exit still reaches the stderr it started with. */
static void close_stderr(void)
{
    close(STDERR_FILENO);
}

FRAME static void closed_stderr(void)
{
    atexit(close_stderr);
    exit_small();                                       /* @closed-small */
}

/* The same for the leak report at exit (VIGIL_LEAKS=1): a block nothing
 * points to, allocated on a thread that is gone by then, so no stale copy
 * of its address is left on a stack that is scanned. */
static void *leak_main(void *arg)
{
    (void)arg;
    sink += make_block(100)[0];                         /* @leak-make */
    return NULL;
}

FRAME static void leak_closed(void)
{
    atexit(close_stderr);
    pthread_t t;
    if (pthread_create(&t, NULL, leak_main, NULL) || pthread_join(t, NULL))
        exit(70);
}

/* Live blocks, healthy, and freed ones: nothing to report. */
FRAME static void clean(void)
{
    for (int i = 0; i < 8; i++)
        kept[i] = make_block((size_t)(i * 700 + 1));
    POKE(kept[3], 2100, 'x');                           /* the last byte of 2101 */
    for (int i = 0; i < 1000; i++)
        FREE(ALLOC(64));
    FREE(kept[7]);
    kept[7] = NULL;
}

#ifndef HEAPCHECK_LIBC
FRAME static size_t check(void)
{
    size_t n = vigil_check_heap();                      /* @check */
    sink++;
    return n;
}

/* Two damaged blocks among healthy ones; VIGIL_ABORT=0 reports both. */
FRAME static void check_damaged(void)
{
    kept[0] = make_block(16);                           /* @check-make1 */
    kept[1] = make_block(100);
    kept[2] = make_block(3000);                         /* @check-make2 */
    POKE(kept[0], 16, '!');
    POKE(kept[2], -1, '!');
    printf("vigil_check_heap: %zu\n", check());         /* @check-call */
    /* Mended: nothing left for the check at exit. */
    POKE(kept[0], 16, (char)0xfd);
    POKE(kept[2], -1, (char)0xfd);
}

FRAME static void check_clean(void)
{
    clean();
    printf("vigil_check_heap: %zu\n", check());
}
#endif

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        { "exit-small", exit_small }, { "exit-large", exit_large }, { "memcpy", copy_string },
        { "thread", in_thread }, { "closed-stderr", closed_stderr }, { "clean", clean },
        { "leak-closed-stderr", leak_closed },
#ifndef HEAPCHECK_LIBC
        { "check", check_damaged }, { "check-clean", check_clean },
#endif
    };
    alarm(60);
    for (size_t i = 0; argc > 1 && i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            cases[i].fn();                              /* @main */
            puts("done");
            return 0;
        }
    fprintf(stderr, "usage: heapcheck exit-small | exit-large | memcpy | thread | "
                    "closed-stderr | clean | leak-closed-stderr | check | check-clean\n");
    return 2;
}
