/* poolbugs.c - seeded bugs in pool blocks, run under memcheck by
 * tests/tools/valgrind.sh and under ASan by tests/tools/asan.sh, which assert the error
 * each tool gives, and under ASan the stacks of vigil's note: the lines that
 * allocate and free are tagged "AT: name" (the test finds the line there).
 * Built with -g -fno-inline -fno-optimize-sibling-calls, so every function
 * keeps its frame and name.
 *   poolbugs use-after-free | read-past-end | read-past-32 | reused-slot |
 *            double-free | free-interior | realloc-past-end | thread-block |
 *            uninitialised | leak | leak-positions | lsan-roots | clean */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "vigil.h"

/* Keep the compiler from proving the bugs away. */
static volatile unsigned char sink;

static void use_after_free(void)
{
    unsigned char *p = vigil_mem_malloc(24);    /* AT: uaf-alloc */
    memset(p, 1, 24);
    vigil_mem_free(p);                          /* AT: uaf-free */
    sink = p[4];
}

static void read_past_end(void)
{
    unsigned char *p = vigil_mem_malloc(20);    /* AT: past-end-alloc */
    memset(p, 1, 20);
    sink = p[20];
    vigil_mem_free(p);
}

/* A block that fills its whole size class: only a redzone catches this. */
static void read_past_32(void)
{
    unsigned char *p = vigil_mem_malloc(32);
    memset(p, 1, 32);
    sink = p[32];
    vigil_mem_free(p);
}

/* The freed slot is wanted again at once by 200 blocks of the same size. */
static void reused_slot(void)
{
    unsigned char *p = vigil_mem_malloc(48), *again[200];
    memset(p, 1, 48);
    vigil_mem_free(p);
    for (int i = 0; i < 200; i++)
        again[i] = vigil_mem_malloc(48);
    sink = p[8];
    for (int i = 0; i < 200; i++)
        vigil_mem_free(again[i]);
}

/* The free and the alloc in functions of their own, so the stacks have a
 * caller to name. */
static void *volatile slot;
__attribute__((noinline)) static void make_block(size_t n)
{
    slot = vigil_mem_malloc(n);                 /* AT: make-block */
    memset(slot, 1, n);
}

__attribute__((noinline)) static void drop_block(void)
{
    vigil_mem_free(slot);                       /* AT: drop-block */
}

static void double_free(void)
{
    make_block(32);                             /* AT: double-free-make */
    drop_block();                               /* AT: double-free-drop */
    vigil_mem_free(slot);                       /* AT: double-free */
}

static void free_interior(void)
{
    make_block(40);                             /* AT: interior-make */
    vigil_mem_free((char *)slot + 8);           /* AT: free-interior */
}

/* Grown in place (20 to 24 bytes, both class 32): the block's allocation
 * is the realloc now, as ASan's realloc would say. */
static void realloc_past_end(void)
{
    unsigned char *p = vigil_mem_malloc(20);
    memset(p, 1, 20);
    unsigned char *q = vigil_mem_realloc(p, 24); /* AT: realloc */
    printf("realloc-past-end: %s\n", q == p ? "in place" : "moved");
    fflush(stdout);
    memset(q, 1, 24);
    sink = q[24];
    vigil_mem_free(q);
}

/* A block allocated by a second thread (T1), freed and read by the main
 * thread (T0). */
static void *thread_make(void *arg)
{
    (void)arg;
    make_block(24);                             /* AT: thread-make */
    return NULL;
}

static void thread_block(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, thread_make, NULL) != 0 || pthread_join(t, NULL) != 0) {
        fprintf(stderr, "poolbugs: no thread\n");
        return;
    }
    drop_block();                               /* AT: thread-drop */
    sink = ((volatile unsigned char *)slot)[2];
}

/* A malloc'd block whose only pointer lives in a pool block: reachable. */
static void **holder;
static void lsan_roots(void)
{
    holder = vigil_mem_malloc(16);
    holder[0] = vigil_raw_malloc(1000);
    memset(holder[0], 5, 1000);
}

static void uninitialised(void)
{
    unsigned char *p = vigil_obj_malloc(16);
    if (p[3] == 7)
        puts("seven");
    vigil_obj_free(p);
}

static void *leaked;
static void leak(void)
{
    leaked = vigil_mem_malloc(40);
    memset(leaked, 2, 40);
    leaked = NULL;
}

/* Arenas from a source that places them so the first pool has its header
 * at its end (an odd pool, arena.h): the arena's first block then lies at
 * the very address the source returned, which the allocator records. */
static void *odd_alloc(void *ctx, size_t size)
{
    (void)ctx;
    size_t span = size + 2 * 4096;
    unsigned char *m = mmap(NULL, span, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t p = ((uintptr_t)m + 4095) & ~(uintptr_t)4095;
    if (!(p & 4096))
        p += 4096;
    return (void *)p;           /* the rest of the mapping is never unmapped */
}

static void odd_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    (void)ptr;
    (void)size;
}

/* Leaked blocks at the places the allocator writes down: the first block of
 * a fresh arena (its address), the first blocks of the next pools (the
 * arena's next-pool mark), and a block reused from a free list (whose link
 * word the allocator wrote).  memcheck must call all of them lost. */
static void *volatile keep_alive[4];
static void leak_positions(void)
{
    vigil_arena_allocator odd = { NULL, odd_alloc, odd_free };
    vigil_set_arena_allocator(&odd);
    void *first = vigil_mem_malloc(40);         /* the arena's first block */
    void *pool2 = vigil_mem_malloc(200);        /* a second pool: header first */
    void *pool3 = vigil_mem_malloc(300);        /* a third: odd again */
    void *a = vigil_mem_malloc(40), *b = vigil_mem_malloc(40);
    vigil_mem_free(a);
    vigil_mem_free(b);
    void *reused = vigil_mem_malloc(40);        /* after the quarantine: fresh */
    keep_alive[0] = first;
    keep_alive[1] = pool2;
    keep_alive[2] = pool3;
    keep_alive[3] = reused;
    printf("first block at the arena's start: %s\n",
           ((uintptr_t)first & 4095) == 0 ? "yes" : "no");
    for (int i = 0; i < 4; i++)
        keep_alive[i] = NULL;
}

/* Every path of the arena once, freeing all: memcheck must stay silent. */
static void clean(void)
{
    void *v[600];
    for (int i = 0; i < 600; i++) {
        v[i] = (i % 3) ? vigil_mem_malloc((size_t)i) : vigil_obj_calloc(1, (size_t)i);
        memset(v[i], 3, (size_t)i);
    }
    for (int i = 0; i < 600; i += 2) {
        v[i] = (i % 3) ? vigil_mem_realloc(v[i], (size_t)i + 7) : vigil_obj_realloc(v[i], (size_t)i / 2);
        if (i % 3)
            memset((char *)v[i] + i, 4, 7);
    }
    unsigned sum = 0;
    for (int i = 1; i < 600; i += 2)
        sum += ((unsigned char *)v[i])[i - 1];
    for (int i = 0; i < 600; i++)
        (i % 3) ? vigil_mem_free(v[i]) : vigil_obj_free(v[i]);
    printf("clean %u\n", sum);
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "clean";
    if (!strcmp(what, "use-after-free")) use_after_free();
    else if (!strcmp(what, "read-past-end")) read_past_end();
    else if (!strcmp(what, "read-past-32")) read_past_32();
    else if (!strcmp(what, "reused-slot")) reused_slot();
    else if (!strcmp(what, "double-free")) double_free();
    else if (!strcmp(what, "free-interior")) free_interior();
    else if (!strcmp(what, "realloc-past-end")) realloc_past_end();
    else if (!strcmp(what, "thread-block")) thread_block();
    else if (!strcmp(what, "lsan-roots")) lsan_roots();
    else if (!strcmp(what, "uninitialised")) uninitialised();
    else if (!strcmp(what, "leak")) leak();
    else if (!strcmp(what, "leak-positions")) leak_positions();
    else if (!strcmp(what, "clean")) clean();
    else {
        fprintf(stderr, "poolbugs: unknown bug %s\n", what);
        return 2;
    }
    return 0;
}
