/* preload_bugs.c - seeded heap bugs in an ordinary program (plain malloc and
 * free; it does not link vigil), for tests/tools/preload.sh to find through
 * `vigil run --debug`.  Each command prints the address of the block it
 * damages, then commits its bug; "clean" does the same work correctly.
 *   preload_bugs overflow | underflow | double-free | stack-free |
 *                realloc-shrink | big-overflow | write-after-free |
 *                realloc-overflow | reallocarray-freed | main-overflow | clean
 * main-overflow allocates, overflows and frees in main itself, as the
 * README's demo does (main built without a frame record at -O2). */
#include "config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets and a free the compiler cannot see, and stores it must make (a
 * store just before a free is otherwise dead), so it neither warns nor
 * optimises the bugs away. */
static volatile size_t at_12 = 12, at_24 = 24, at_40 = 40, at_5000 = 5000, back = 1;
static void (*volatile free_)(void *) = free;
#define POKE(p, i, c) (((volatile char *)(p))[i] = (c))

static char *block(size_t n)
{
    char *p = malloc(n);
    memset(p, 'a', n);
    printf("%p\n", (void *)p);
    fflush(stdout);
    return p;
}

void bug_overflow(void);
void bug_underflow(void);
void bug_double_free(void);
void bug_stack_free(void);
void bug_realloc_shrink(void);
void bug_big_overflow(void);
void bug_write_after_free(void);
void bug_realloc_overflow(void);
void bug_reallocarray_freed(void);
void clean(void);

void bug_overflow(void)
{
    char *p = block(24);
    POKE(p, at_24, 'x');                    /* one past the end */
    free(p);
}

void bug_underflow(void)
{
    char *p = block(24);
    POKE(p, -(ptrdiff_t)back, 'x');         /* one before the start */
    free(p);
}

void bug_double_free(void)
{
    char *p = block(32);
    free_(p);
    free_(p);
}

void bug_stack_free(void)
{
    char buf[64];
    char *volatile p = buf + 16;
    memset(buf, 0, sizeof buf);
    printf("%p\n", (void *)p);
    fflush(stdout);
    free(p);
}

void bug_realloc_shrink(void)
{
    char *p = block(100);
    p = realloc(p, 40);                     /* shrinks in place */
    POKE(p, at_40, 'x');                    /* fine before the realloc */
    free(p);
}

void bug_big_overflow(void)
{
    char *p = block(5000);
    POKE(p, at_5000, 'x');
    free(p);
}

void bug_write_after_free(void)
{
    char *p = block(32);
    free_(p);
    POKE(p, 5, 'y');                        /* found when the block leaves
                                               the quarantine: here, at exit */
}

/* Found by the realloc, whose report names realloc, as the program
 * called it. */
void bug_realloc_overflow(void)
{
    char *p = block(24);
    POKE(p, at_24, 'x');
    p = realloc(p, 400);
    free(p);
}

void bug_reallocarray_freed(void)
{
    char *p = block(32);
    free_(p);
    p = reallocarray(p, 10, 40);
    free(p);
}

void clean(void)
{
    char *p = block(24);
    POKE(p, at_24 - 1, 'x');
    char *q = realloc(p, 40);
    POKE(q, at_40 - 1, 'x');
    free(q);
    char *big = malloc(5000);
    POKE(big, at_5000 - 1, 'x');
    free(big);
}

/* A block with a mapping of its own, freed twice: the first free gives the
 * mapping back (with the quarantine off), the second must be reported,
 * not crash the checker. */
static void bug_double_free_large(void)
{
    char *p = malloc(200000);
    free(p);
    free_(p);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*fn)(void);
    } bugs[] = {
        { "overflow", bug_overflow }, { "underflow", bug_underflow },
        { "double-free", bug_double_free }, { "stack-free", bug_stack_free },
        { "realloc-shrink", bug_realloc_shrink }, { "big-overflow", bug_big_overflow },
        { "write-after-free", bug_write_after_free }, { "clean", clean },
        { "realloc-overflow", bug_realloc_overflow },
        { "reallocarray-freed", bug_reallocarray_freed },
        { "double-free-large", bug_double_free_large },
    };
    if (argc > 1 && strcmp(argv[1], "main-overflow") == 0) {
        char *p = malloc(12);
        printf("%p\n", (void *)p);
        fflush(stdout);
        POKE(p, at_12, 0);
        free(p);
        puts("done");
        return 0;
    }
    for (size_t i = 0; argc > 1 && i < sizeof bugs / sizeof bugs[0]; i++)
        if (strcmp(argv[1], bugs[i].name) == 0) {
            bugs[i].fn();
            puts("done");
            return 0;
        }
    fprintf(stderr, "usage: preload_bugs overflow | underflow | double-free | stack-free |\n"
                    "       realloc-shrink | big-overflow | write-after-free |\n"
                    "       realloc-overflow | reallocarray-freed | main-overflow | clean\n");
    return 2;
}
