/* fidelity.c - one seeded heap bug per run, for tests/tools/fidelity.sh, which
 * runs each bug under vigil's debug hooks, memcheck and ASan, with the arena
 * and with plain malloc, and asserts each tool's own words: a bug in a pool
 * block must be reported as surely as the same bug in a malloc'd block.
 *
 *   fidelity BUG      (fidelity --list prints the bugs)
 *
 * Every bug is a function of its own, so the reports' stacks can be checked,
 * and every bad line is tagged "BUG: name" (the test finds the line number
 * there).  The program exits 0 when the bug went unnoticed.
 *
 * Built twice from this file: tests/fidelity allocates with vigil_mem_* (the
 * mem domain: the arena by default, malloc under Valgrind unless
 * VIGIL_MALLOC=arena); tests/fidelity_libc (-DFIDELITY_LIBC) is the same code
 * on malloc and free, an unmodified program for libvigil-preload.so.  Both are
 * built with -fno-inline -fno-builtin -fno-optimize-sibling-calls: each bug
 * keeps its own frame and the compiler cannot drop a store or a free.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FIDELITY_LIBC
#include <sys/mman.h>

#include "vigil.h"
#endif

/* The allocator, through pointers the compiler cannot see through: it may
 * neither prove a bug away nor warn about it (-Werror builds). */
#ifdef FIDELITY_LIBC
static void *(*volatile alloc_)(size_t) = malloc;
static void *(*volatile realloc_)(void *, size_t) = realloc;
static void *(*volatile calloc_)(size_t, size_t) = calloc;
static void (*volatile free_)(void *) = free;
#else
static void *(*volatile alloc_)(size_t) = vigil_mem_malloc;
static void *(*volatile realloc_)(void *, size_t) = vigil_mem_realloc;
static void *(*volatile calloc_)(size_t, size_t) = vigil_mem_calloc;
static void (*volatile free_)(void *) = vigil_mem_free;
#endif

/* Sizes and offsets the compiler cannot know, and accesses it must make. */
static volatile size_t n20 = 20, n24 = 24, n32 = 32, n1000 = 1000, back = 1;
static volatile unsigned char sink;
#define BYTES(p) ((volatile unsigned char *)(p))

/* The only pointer to a block the leak bugs drop: set, then cleared. */
static void *volatile leaked;

/* Each bug keeps a frame of its own, under its own name: GCC's -O2 would
 * otherwise fold functions with the same code into one (reuse_alloc_a and
 * reuse_alloc_b), or clone them (foo.isra.0).  noipa stops both; clang does
 * neither, and knows no noipa.  Not static, so the names stay in every
 * symbol table. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 8
#define BUGFN __attribute__((noipa))
#else
#define BUGFN __attribute__((noinline))
#endif
BUGFN void overflow_exact(void);
BUGFN void overflow_read(void);
BUGFN void overflow_slot(void);
BUGFN void overflow_large(void);
BUGFN void underflow_slot(void);
BUGFN void uaf_read(void);
BUGFN void uaf_write(void);
BUGFN void uaf_reuse(void);
BUGFN unsigned char *reuse_alloc_a(void);
BUGFN void reuse_free_a(unsigned char *a);
BUGFN unsigned char *reuse_alloc_b(void);
BUGFN void reuse_free_b(unsigned char *b);
BUGFN void double_free(void);
BUGFN void free_stack(void);
BUGFN void free_interior(void);
BUGFN void api_mismatch(void);
BUGFN void uninitialised(void);
BUGFN void leak_small(void);
BUGFN void leak_large(void);
BUGFN void leak_first(void);
BUGFN void clean(void);

BUGFN static unsigned char *filled(size_t n)
{
    unsigned char *p = alloc_(n);
    memset(p, 'a', n);
    return p;
}

/* 20 bytes: not a size class multiple, so the slot has spare bytes after. */
void overflow_exact(void)
{
    unsigned char *p = filled(n20);
    BYTES(p)[n20] = 1;                          /* BUG: overflow-exact */
    free_(p);
}

void overflow_read(void)
{
    unsigned char *p = filled(n20);
    sink = BYTES(p)[n20];                       /* BUG: overflow-read */
    free_(p);
}

/* Eight blocks that fill their class (32 bytes) sit back to back in one
 * pool: p[3][32] is the first byte of the live p[4] unless a redzone
 * separates them. */
void overflow_slot(void)
{
    unsigned char *p[8];
    for (int i = 0; i < 8; i++)
        p[i] = filled(n32);
    BYTES(p[3])[n32] = 1;                       /* BUG: overflow-slot */
    for (int i = 0; i < 8; i++)
        free_(p[i]);
}

/* Above the arena's 512-byte limit: the arena hands it to the system
 * allocator. */
void overflow_large(void)
{
    unsigned char *p = filled(n1000);
    BYTES(p)[n1000] = 1;                        /* BUG: overflow-large */
    free_(p);
}

/* p[4][-1] is the last byte of the live p[3]'s slot, or of a redzone. */
void underflow_slot(void)
{
    unsigned char *p[8];
    for (int i = 0; i < 8; i++)
        p[i] = filled(n32);
    BYTES(p[4])[-(ptrdiff_t)back] = 1;          /* BUG: underflow-slot */
    for (int i = 0; i < 8; i++)
        free_(p[i]);
}

void uaf_read(void)
{
    unsigned char *p = filled(n24);
    free_(p);
    sink = BYTES(p)[4];                         /* BUG: uaf-read */
}

void uaf_write(void)
{
    unsigned char *p = filled(n24);
    free_(p);
    BYTES(p)[8] = 1;                            /* BUG: uaf-write */
}

/* A freed slot handed out again at once: a report about b must give b's
 * history, not that of a, which had the same address before. */
static volatile int reuse_step;
unsigned char *reuse_alloc_a(void) { reuse_step = 1; return filled(n24); }
void reuse_free_a(unsigned char *a) { reuse_step = 2; free_(a); }
unsigned char *reuse_alloc_b(void) { reuse_step = 3; return filled(n24); }
void reuse_free_b(unsigned char *b) { reuse_step = 4; free_(b); }

void uaf_reuse(void)
{
    unsigned char *a = reuse_alloc_a();
    uintptr_t a_at = (uintptr_t)a;
    reuse_free_a(a);
    unsigned char *b = reuse_alloc_b();
    printf("uaf-reuse: b %s a's address\n", (uintptr_t)b == a_at ? "has" : "does not have");
    fflush(stdout);
    BYTES(b)[n24] = 7;                          /* BUG: uaf-reuse */
    reuse_free_b(b);
    BYTES(b)[0] = 7;                            /* BUG: uaf-reuse-freed */
}

void double_free(void)
{
    unsigned char *p = filled(n32);
    free_(p);
    free_(p);                                   /* BUG: double-free */
}

void free_stack(void)
{
    unsigned char buf[64];
    unsigned char *volatile p = buf + 16;
    memset(buf, 0, sizeof buf);
    free_(p);                                   /* BUG: free-stack */
}

void free_interior(void)
{
    unsigned char *p = filled(n32);
    free_(p + 8);                               /* BUG: free-interior */
    free_(p);
}

#ifndef FIDELITY_LIBC
/* Only vigil's domains know the difference: mem and obj are both the arena
 * (or both malloc), so no tool but the debug hooks can see this. */
static void (*volatile obj_free_)(void *) = vigil_obj_free;
void api_mismatch(void)
{
    unsigned char *p = filled(n32);
    obj_free_(p);                               /* BUG: api-mismatch */
}
#endif

void uninitialised(void)
{
    unsigned char *p = alloc_(16);
    if (BYTES(p)[3] == 7)                       /* BUG: uninitialised */
        puts("seven");
    free_(p);
}

/* A reachable block first, so the leaked one is not the first of its pool
 * (leak-first is that case). */
static void *volatile kept;
void leak_small(void)
{
    kept = filled(40);
    leaked = filled(40);                        /* BUG: leak-small */
    leaked = NULL;
}

void leak_large(void)
{
    leaked = filled(4000);                      /* BUG: leak-large */
    leaked = NULL;
}

#ifndef FIDELITY_LIBC
/* An arena source (vigil_set_arena_allocator, the public way to give the
 * arena its memory) whose arenas start at an odd pool address, counting in
 * 4 KiB pools: the arena's first pool then has its header at its end (see
 * src/arena.h, "Header colour") and its first block is the arena's first
 * byte, the very address vigil's arena table holds.  mmap alone gives such
 * an arena about one time in two.  The base is kept complemented: a pointer
 * to the block kept here would make the leak reachable. */
static uintptr_t first_arena_not;
static void *odd_arena_alloc(void *ctx, size_t size)
{
    const size_t pool = 4096;
    (void)ctx;
    unsigned char *m = mmap(NULL, size + pool, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    unsigned char *p = ((uintptr_t)m / pool) % 2 ? m : m + pool;
    munmap(p == m ? m + size : m, pool);
    if (!first_arena_not)
        first_arena_not = ~(uintptr_t)p;
    return p;
}
static void odd_arena_free(void *ctx, void *p, size_t size)
{
    (void)ctx;
    munmap(p, size);
}
#endif

/* Run before anything else allocates: the first block of a fresh arena, at
 * the arena's first byte. */
void leak_first(void)
{
#ifndef FIDELITY_LIBC
    vigil_arena_allocator odd = { NULL, odd_arena_alloc, odd_arena_free };
    vigil_set_arena_allocator(&odd);
#endif
    leaked = filled(40);                        /* BUG: leak-first */
#ifndef FIDELITY_LIBC
    if (first_arena_not)
        printf("leak-first: the block %s the first byte of its arena\n",
               ~(uintptr_t)leaked == first_arena_not ? "is" : "is not");
#endif
    leaked = NULL;
}

/* What a correct program does: blocks of every size class and above,
 * calloc, growing and shrinking reallocs across classes and to large sizes,
 * every byte written and read, everything freed. */
void clean(void)
{
    enum { N = 600 };
    unsigned char *v[N];
    unsigned sum = 0;
    for (int i = 0; i < N; i++) {
        size_t n = (size_t)(i * 7 % 1100);
        v[i] = (i % 4) ? alloc_(n) : calloc_(1, n);
        if (i % 4)
            memset(v[i], i & 0xff, n);
    }
    for (int i = 0; i < N; i += 2) {
        size_t n = (size_t)(i * 7 % 1100), m = (i % 3) ? n * 2 + 9 : n / 3;
        v[i] = realloc_(v[i], m);
        memset(v[i], 5, m);
    }
    for (int i = 1; i < N; i += 2) {
        size_t n = (size_t)(i * 7 % 1100);
        for (size_t k = 0; k < n; k++)
            sum += v[i][k];
    }
    for (int i = 0; i < N; i++)
        free_(v[i]);
    printf("clean %u\n", sum);
}

static const struct {
    const char *name;
    void (*fn)(void);
} bugs[] = {
    { "overflow-exact", overflow_exact }, { "overflow-read", overflow_read },
    { "overflow-slot", overflow_slot },   { "overflow-large", overflow_large },
    { "underflow-slot", underflow_slot }, { "uaf-read", uaf_read },
    { "uaf-write", uaf_write },           { "uaf-reuse", uaf_reuse },
    { "double-free", double_free },       { "free-stack", free_stack },
    { "free-interior", free_interior },
#ifndef FIDELITY_LIBC
    { "api-mismatch", api_mismatch },
#endif
    { "uninitialised", uninitialised },   { "leak-small", leak_small },
    { "leak-large", leak_large },         { "leak-first", leak_first },
    { "clean", clean },
};

int main(int argc, char **argv)
{
    size_t nbugs = sizeof bugs / sizeof bugs[0];
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < nbugs; i++)
            puts(bugs[i].name);
        return 0;
    }
    for (size_t i = 0; argc == 2 && i < nbugs; i++)
        if (strcmp(argv[1], bugs[i].name) == 0) {
            bugs[i].fn();
            printf("fidelity: %s done\n", bugs[i].name);
            return 0;
        }
    fprintf(stderr, "usage: fidelity BUG (fidelity --list: the bugs)\n");
    return 2;
}
