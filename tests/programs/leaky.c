/* leaky.c - seeded leaks, and blocks kept in every way a leak checker
 * must see, for tests/tools/leaks.sh: vigil's report (VIGIL_LEAKS=1)
 * against memcheck's (--leak-check=full, VIGIL_MALLOC=malloc) on the same
 * program.
 *
 *   leaky [api|libc]    allocate with vigil_mem_malloc (default) or with
 *                       malloc (run through the preload library)
 *   leaky check         allocate with vigil_mem_malloc, then call
 *                       vigil_leak_check(stdout) and print what it returns
 *
 * Leaked:  a 40-byte block -> a 16-byte one (direct, indirect);
 *          a 1000-byte block (large) -> a 100-byte one (direct, indirect);
 *          two 64-byte blocks pointing at each other (one direct, one
 *          indirect: memcheck's count of a cycle).
 * Kept:    through a global; through a pool block; through a large block;
 *          on the stack and in the TLS of a thread blocked in read(2) at
 *          exit.
 * Everything is allocated on that thread, which then blocks: its dead
 * frames, which hold copies of every address, are below its stack pointer
 * where no checker looks, and the main thread never saw an address. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vigil.h"

static void *(*alloc)(size_t) = vigil_mem_malloc;

static void *volatile keep_global;      /* -> 24 bytes -> 48 bytes */
static void *volatile keep_large;       /* 2000 bytes -> 32 bytes */
static __thread void *volatile keep_tls;    /* 88 bytes */

static int ready[2], never[2];

/* Allocation sites the tests find by these markers. */
__attribute__((noinline)) static void *block(size_t n)
{
    void *p = alloc(n);                         /* @block */
    memset(p, 0, n);
    return p;
}

__attribute__((noinline)) static void make_leaks(void)
{
    void **direct = block(40);                  /* @direct40 */
    direct[0] = block(16);                      /* @indirect16 */
    void **large = block(1000);                 /* @direct1000 */
    large[10] = block(100);                     /* @indirect100 */
    void **a = block(64), **b = block(64);      /* @cycle */
    a[0] = b;
    b[0] = a;
}

__attribute__((noinline)) static void make_kept(void)
{
    void **g = block(24);
    g[0] = block(48);
    keep_global = g;
    void **l = block(2000);
    l[100] = block(32);
    keep_large = l;
    keep_tls = block(88);
}

__attribute__((noinline)) static void *holder(void *arg)
{
    (void)arg;
    void *volatile on_stack;
    make_leaks();
    make_kept();
    on_stack = block(72);
    (void)on_stack;
    char c = 1;
    ssize_t io = write(ready[1], &c, 1);
    /* A stopped thread's registers are roots: clear the argument ones. */
    syscall(SYS_getpid, 0L, 0L, 0L, 0L, 0L, 0L);
    io = read(never[0], &c, 1);             /* blocked at exit */
    (void)io;
    return NULL;
}

int main(int argc, char **argv)
{
    int check = argc > 1 && strcmp(argv[1], "check") == 0;
    if (argc > 1 && strcmp(argv[1], "libc") == 0)
        alloc = malloc;
    if (pipe(ready) || pipe(never))
        return 2;
    pthread_t t;
    if (pthread_create(&t, NULL, holder, NULL))
        return 2;
    char c;
    if (read(ready[0], &c, 1) != 1)
        return 2;
    if (check)
        printf("vigil_leak_check: %zu\n", vigil_leak_check(stdout));
    return 0;                               /* the holder is blocked: exit with it */
}
