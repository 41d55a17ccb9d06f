/* bump_alloc.c - a user's own bump allocator described to memcheck and ASan
 * with <vigil/annotate.h>: each block is a pool chunk of its exact size, the
 * space between blocks is a no-access redzone, and resetting the arena frees
 * every block at once.
 *   bump_alloc            allocate, use, reset: no error
 *   bump_alloc overflow   write one byte past a block: memcheck reports it */
#include <stdio.h>
#include <string.h>

#define VIGIL_USE_VALGRIND 1   /* normally set by the build when available */
#if !__has_include(<valgrind/memcheck.h>)
#undef VIGIL_USE_VALGRIND
#endif
#include <vigil/annotate.h>

#define ARENA_BYTES 4096
#define REDZONE 16

static _Alignas(16) unsigned char arena[ARENA_BYTES];
static size_t top;

static void bump_init(void)
{
    VIGIL_POOL_CREATE(arena, REDZONE, 0);
    VIGIL_MEM_NOACCESS(arena, sizeof arena);
}

static void *bump_alloc(size_t n)
{
    size_t at = top + REDZONE;
    if (at + n + REDZONE > sizeof arena)
        return NULL;
    top = (at + n + 15) & ~(size_t)15;
    VIGIL_POOL_ALLOC(arena, arena + at, n);
    return arena + at;
}

static void bump_reset(void)
{
    /* Destroying the pool frees every chunk in it; start a new one. */
    VIGIL_POOL_DESTROY(arena);
    VIGIL_MEM_NOACCESS(arena, sizeof arena);
    VIGIL_POOL_CREATE(arena, REDZONE, 0);
    top = 0;
}

int main(int argc, char **argv)
{
    bump_init();
    char *a = bump_alloc(10), *b = bump_alloc(100);
    strcpy(a, "hello");
    memset(b, 'x', 100);
    if (argc > 1 && strcmp(argv[1], "overflow") == 0)
        a[10] = '!';                     /* one past the end */
    printf("%s %c\n", a, b[99]);
    bump_reset();
    VIGIL_POOL_DESTROY(arena);
    return 0;
}
