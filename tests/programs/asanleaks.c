/* asanleaks.c - pool-block leaks under AddressSanitizer, for
 * tests/tools/asan.sh: the check vigil runs at exit beside LeakSanitizer's.
 * The lines the script asserts end in a comment "@NAME".
 *   asanleaks pool     a 40-byte pool block nothing points to: vigil's report
 *   asanleaks chunk    a pool block kept only through a live block of ASan's
 *                      heap (the raw domain): no leak
 *   asanleaks both     a leaked raw block pointing to a pool block: LSan
 *                      reports the raw block, vigil the pool block (indirect)
 *   asanleaks clean    nothing leaked */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vigil.h"

#ifdef __clang__
#define FRAME __attribute__((noinline))
#else
#define FRAME __attribute__((noinline, noclone))
#endif

static void **volatile kept;
static volatile int sink;

/* Everything is made on a thread that then blocks in read(2) until the
 * process exits: its dead frames, with copies of every address, are below
 * its stack pointer, where no checker looks (a thread that ended would
 * leave them in a stack the C library keeps for the next thread). */
FRAME static void make_pool(void)
{
    char *p = vigil_mem_malloc(40);                     /* @pool-make */
    memset(p, 1, 40);
    sink += p[0];
}

FRAME static void make_chunk(void)
{
    void **raw = vigil_raw_malloc(64);                  /* @chunk-raw */
    raw[0] = vigil_mem_malloc(24);                      /* @chunk-pool */
    kept = raw;
}

FRAME static void make_both(void)
{
    void **raw = vigil_raw_malloc(64);                  /* @both-raw */
    raw[0] = vigil_mem_malloc(24);                      /* @both-pool */
    raw[1] = NULL;
    sink += raw[0] != NULL;
}

FRAME static void make_clean(void)
{
    void **raw = vigil_raw_malloc(64);
    vigil_mem_free(vigil_mem_malloc(40));
    vigil_raw_free(raw);
}

static int ready[2], never[2];

static void *run(void *arg)
{
    ((void (*)(void))arg)();
    char c = 0;
    if (write(ready[1], &c, 1) != 1 || read(never[0], &c, 1) < 0)
        sink++;
    return NULL;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } cases[] = {
        { "pool", make_pool }, { "chunk", make_chunk }, { "both", make_both }, { "clean", make_clean },
    };
    for (size_t i = 0; argc > 1 && i < sizeof cases / sizeof cases[0]; i++)
        if (strcmp(argv[1], cases[i].name) == 0) {
            pthread_t t;
            char c;
            if (pipe(ready) || pipe(never) || pthread_create(&t, NULL, run, (void *)cases[i].fn) ||
                read(ready[0], &c, 1) != 1)
                return 70;
            puts("done");
            return 0;
        }
    fprintf(stderr, "usage: asanleaks pool | chunk | both | clean\n");
    return 2;
}
