/* debugprobe.c - buggy little programs for the debug suite, for the cases
 * that depend on the environment (VIGIL_QUARANTINE, VIGIL_ABORT,
 * VIGIL_BREAK_SERIAL), which vigil reads once per process.  Each command
 * installs the debug hooks itself, so it does not depend on VIGIL_MALLOC.
 *   debugprobe uaf-exit     free a block, write to it, exit normally
 *   debugprobe double-free  free a block twice
 *   debugprobe reuse        free a block, allocate the same size, say whether
 *                           the address came back ("same" / "different")
 *   debugprobe continue     five different errors, then print the count
 *   debugprobe break        allocate ten blocks, saying "alloc N" before each
 *   debugprobe demo         the README's example: one byte too many */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigil.h"

static void say(const char *fmt, const void *p)
{
    printf(fmt, p);
    fflush(stdout);
}

static int uaf_exit(void)
{
    char *p = vigil_mem_malloc(32);
    say("%p\n", p);
    vigil_mem_free(p);
    p[5] = 'y';
    return 0;
}

static int double_free(void)
{
    char *p = vigil_mem_malloc(24);
    say("%p\n", p);
    vigil_mem_free(p);
    vigil_mem_free(p);
    return 0;
}

/* A block big enough to get a mapping of its own from glibc, or one of 4
 * KiB, freed twice: with the quarantine off, the first free gives it back
 * to libc (the mapping goes away), the second must be diagnosed, safely. */
static int double_free_sized(size_t n)
{
    char *p = vigil_mem_malloc(n);
    say("%p\n", p);
    vigil_mem_free(p);
    vigil_mem_free(p);
    return 0;
}

static int double_free_large(void) { return double_free_sized(200000); }
static int double_free_4k(void) { return double_free_sized(4096); }

/* An 8-byte block written both before its start and past its end, its size
 * field intact. */
static int both_sides(void)
{
    char *p = vigil_mem_malloc(8);
    say("%p\n", p);
    memset(p - 8, 0, 8);                        /* the API id and the pad */
    p[8] = 0;
    vigil_mem_free(p);
    return 0;
}

static int reuse(void)
{
    char *p = vigil_mem_malloc(40);
    vigil_mem_free(p);
    char *q = vigil_mem_malloc(40);
    puts(p == q ? "same" : "different");
    vigil_mem_free(q);
    return 0;
}

static int keep_going(void)
{
    char stack[64] __attribute__((aligned(16)));
    char *a = vigil_mem_malloc(16);
    a[16] = 'x';
    vigil_mem_free(a);                          /* buffer overflow */
    char *b = vigil_mem_malloc(16);
    b[-1] = 'x';
    vigil_mem_free(b);                          /* buffer underflow */
    char *c = vigil_mem_malloc(16);
    vigil_obj_free(c);                          /* API mismatch */
    vigil_mem_free(c);                          /* fine: it was not freed */
    char *d = vigil_raw_malloc(16);
    vigil_raw_free(d);
    vigil_raw_free(d);                          /* double free */
    memset(stack, 0, sizeof stack);
    vigil_mem_free(stack + 16);                 /* invalid free */
    /* The heap still works after all that. */
    char *e = vigil_obj_malloc(100);
    e = vigil_obj_realloc(e, 200);
    vigil_obj_free(e);
    printf("errors=%zu\n", vigil_error_count());
    return 0;
}

static int break_at_serial(void)
{
    for (int i = 1; i <= 10; i++) {
        printf("alloc %d\n", i);
        fflush(stdout);
        vigil_mem_free(vigil_mem_malloc(10));
    }
    return 0;
}

static int demo(void)
{
    char *name = vigil_mem_malloc(5);
    strcpy(name, "vigil");                      /* 6 bytes with the NUL */
    vigil_mem_free(name);
    return 0;
}

int main(int argc, char **argv)
{
    /* A hang must not stall the suite. */
    alarm(60);
    const char *cmd = argc > 1 ? argv[1] : "";
    static const struct {
        const char *name;
        int (*fn)(void);
    } cmds[] = {
        { "uaf-exit", uaf_exit }, { "double-free", double_free }, { "reuse", reuse },
        { "continue", keep_going }, { "break", break_at_serial }, { "demo", demo },
        { "double-free-large", double_free_large }, { "double-free-4k", double_free_4k },
        { "both-sides", both_sides },
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(cmd, cmds[i].name) == 0) {
            vigil_setup_debug_hooks();
            return cmds[i].fn();
        }
    fprintf(stderr, "debugprobe: unknown command '%s'\n", cmd);
    return 2;
}
