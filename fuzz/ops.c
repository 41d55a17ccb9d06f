/* ops.c - the libFuzzer harness of the allocators (fuzz/build.sh builds
 * it with clang -fsanitize=fuzzer,address over vigil's sources).
 *
 * An input is a configuration then a sequence of operations:
 *   byte 0     bit 0: the debug hooks; bit 1: fault injection; bit 2: the
 *              system allocator as mem's and obj's base instead of the
 *              arena
 *   bytes 1-3  the fault injection (when on): kind, and two parameters
 *   then       operations of a byte each, with their arguments: malloc,
 *              calloc, realloc, free, an aligned block, the usable size,
 *              a check of a debug block, the heap's consistency walk
 * over 32 slots, in the three domains.  Every live block is filled with a
 * pattern made from its number and checked before it is freed or
 * reallocated (and its prefix after a realloc); calloc's must be zero;
 * alignment is checked; a failure is allowed only where fault injection is
 * on, and must say ENOMEM; a failed realloc must leave its block as it
 * was.  Every 64 operations, and at the end, the heap must be whole
 * (vigil__arena_check: the walk of heap.h and every thread cache), and
 * without the debug hooks' quarantine every block must be given back. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "debug.h"
#include "domain.h"
#include "fail.h"
#include "sysalloc.h"
#include "tcache.h"
#include "vigil.h"

#define SLOTS 32
#define MAX_OPS 4096

struct slot {
    unsigned char *p;
    size_t size;
    vigil_domain d;
    uint32_t id;
    int libc;                   /* an aligned block the system gave: libc's free */
};

/* The tables each configuration installs: [debug][system base][domain]. */
static vigil_allocator tables[2][2][3];

/* Block id's byte j is (id * 131 + j) mod 256: a window into one long
 * ramp, so filling and checking are a memcpy and a memcmp (a loop of
 * compares would be instrumented byte by byte, and cost most of the
 * time). */
#define LARGEST ((size_t)1 << 16)
static unsigned char ramp[LARGEST + 1024 + 256];

static const unsigned char *pattern(uint32_t id)
{
    return ramp + (id * 131u & 255u);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof ramp; i++)
        ramp[i] = (unsigned char)i;
    vigil__ensure_init();
    for (int d = 0; d < 3; d++) {
        vigil_get_allocator((vigil_domain)d, &tables[0][0][d]);
        tables[0][1][d] = d == VIGIL_DOMAIN_RAW ? tables[0][0][d] : vigil__sys_allocator;
    }
    vigil_setup_debug_hooks();          /* configures the hooks */
    for (int d = 0; d < 3; d++) {
        vigil_get_allocator((vigil_domain)d, &tables[1][0][d]);
        if (!vigil__debug_make((vigil_domain)d, &tables[0][1][d], NULL, &tables[1][1][d]))
            abort();
    }
    return 0;
}

/* The input, read a byte at a time; zeros once it runs out. */
struct input {
    const uint8_t *p;
    size_t left;
};

static unsigned byte(struct input *in)
{
    if (!in->left)
        return 0;
    in->left--;
    return *in->p++;
}

/* Mostly small sizes (the arena's), sometimes large ones, sometimes 0. */
static size_t a_size(struct input *in)
{
    unsigned a = byte(in), b = byte(in);
    switch (a >> 6) {
    case 0: return b % 17;
    case 1: return (size_t)(a & 63) * 8 + b % 8;           /* up to 511 */
    case 2: return 512 + (size_t)(a & 63) * 256 + b;       /* to 16 KiB */
    default: return (size_t)b << 8 | (a & 63);             /* to 64 KiB */
    }
}

static void fill(struct slot *s, size_t from)
{
    if (s->size > from)
        memcpy(s->p + from, pattern(s->id) + from, s->size - from);
}

static void verify(const struct slot *s, size_t n)
{
    if (n && memcmp(s->p, pattern(s->id), n) != 0) {
        size_t j = 0;
        while (s->p[j] == pattern(s->id)[j])
            j++;
        fprintf(stderr, "ops: block %u (%zu bytes) changed at byte %zu\n", s->id, s->size, j);
        abort();
    }
}

static void aligned_ok(const void *p, size_t align)
{
    if ((uintptr_t)p % align) {
        fprintf(stderr, "ops: %p is not %zu-aligned\n", p, align);
        abort();
    }
}

/* The domains whose allocations may fail, bit (1 << domain). */
static unsigned failing;

/* A NULL from an allocation of domain d: allowed only where faults are
 * injected, with errno ENOMEM. */
static void null_ok(const char *what, vigil_domain d, size_t size)
{
    int may = failing >> d & 1;
    if (!may || errno != ENOMEM) {
        fprintf(stderr, "ops: %s of %zu bytes gave NULL (errno %d) with%s fault injection\n",
                what, size, errno, may ? "" : "out");
        abort();
    }
}

static void *dom_malloc(vigil_domain d, size_t n)
{
    return d == VIGIL_DOMAIN_RAW ? vigil_raw_malloc(n)
         : d == VIGIL_DOMAIN_MEM ? vigil_mem_malloc(n) : vigil_obj_malloc(n);
}

static void *dom_calloc(vigil_domain d, size_t a, size_t b)
{
    return d == VIGIL_DOMAIN_RAW ? vigil_raw_calloc(a, b)
         : d == VIGIL_DOMAIN_MEM ? vigil_mem_calloc(a, b) : vigil_obj_calloc(a, b);
}

static void *dom_realloc(vigil_domain d, void *p, size_t n)
{
    return d == VIGIL_DOMAIN_RAW ? vigil_raw_realloc(p, n)
         : d == VIGIL_DOMAIN_MEM ? vigil_mem_realloc(p, n) : vigil_obj_realloc(p, n);
}

static void dom_free(vigil_domain d, void *p)
{
    if (d == VIGIL_DOMAIN_RAW)
        vigil_raw_free(p);
    else if (d == VIGIL_DOMAIN_MEM)
        vigil_mem_free(p);
    else
        vigil_obj_free(p);
}

static void release(struct slot *s)
{
    if (!s->p)
        return;
    verify(s, s->size);
    if (s->libc)
        free(s->p);
    else
        dom_free(s->d, s->p);
    s->p = NULL;
}

static void whole_heap(void)
{
    if (vigil__arena_check() != 0)
        abort();
}

/* The configuration's fault injection, from three bytes. */
static void configure_faults(int on, unsigned kind, unsigned a, unsigned b)
{
    failing = 0;
    if (!on) {
        vigil__fail_set(NULL);
        return;
    }
    struct vigil_fail_spec s = { .seed = b, .domains = 7 };
    switch (kind % 6) {
    case 0: s.every = 1 + a % 8; break;
    case 1: s.has_prob = 1; s.prob_below = (uint64_t)a << 56; break;
    case 2: s.has_after = 1; s.after = a; break;
    case 3: s.nth = 1 + a; break;
    case 4: s.every = 2; s.has_times = 1; s.times = a % 16; break;
    default: s.every = 1 + b % 4; s.size = (size_t)a * 4; s.domains = 1 + kind / 6 % 7; break;
    }
    vigil__fail_set(&s);
    failing = s.domains;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = { data, size };
    unsigned conf = byte(&in);
    int debug = conf & 1, sysbase = (conf >> 2) & 1;
    unsigned kind = byte(&in), a = byte(&in), b = byte(&in);
    configure_faults(conf & 2, kind, a, b);
    /* Set after the faults: vigil_set_allocator puts the wrapper on. */
    for (int d = 0; d < 3; d++)
        vigil_set_allocator((vigil_domain)d, &tables[debug][sysbase][d]);
    size_t base = vigil_allocated_blocks();

    struct slot slots[SLOTS];
    memset(slots, 0, sizeof slots);
    uint32_t next_id = 1;
    for (unsigned op = 0; in.left && op < MAX_OPS; op++) {
        unsigned code = byte(&in);
        struct slot *s = &slots[byte(&in) % SLOTS];
        vigil_domain d = (vigil_domain)(code >> 4) % 3;
        switch (code & 15) {
        case 0: case 1: case 2: {                       /* malloc */
            release(s);
            size_t n = a_size(&in);
            errno = 0;
            void *p = dom_malloc(d, n);
            if (!p) {
                null_ok("malloc", d, n);
                break;
            }
            aligned_ok(p, 16);
            *s = (struct slot){ p, n, d, next_id++, 0 };
            fill(s, 0);
            break;
        }
        case 3: {                                       /* calloc */
            release(s);
            size_t n = byte(&in) % 64, m = a_size(&in) % 1024;    /* at most 63 KiB */
            errno = 0;
            unsigned char *p = dom_calloc(d, n, m);
            if (!p) {
                null_ok("calloc", d, n * m);
                break;
            }
            aligned_ok(p, 16);
            if (n * m && (p[0] || memcmp(p, p + 1, n * m - 1) != 0))
                abort();                                /* not all zero */
            *s = (struct slot){ p, n * m, d, next_id++, 0 };
            fill(s, 0);
            break;
        }
        case 4: case 5: {                               /* realloc, also of NULL */
            if (s->libc)
                break;
            size_t n = a_size(&in);
            if (s->p)
                verify(s, s->size);
            vigil_domain rd = s->p ? s->d : d;
            errno = 0;
            unsigned char *p = dom_realloc(rd, s->p, n);
            if (!p) {
                null_ok("realloc", rd, n);
                if (s->p)
                    verify(s, s->size);                 /* the old block, untouched */
                break;
            }
            aligned_ok(p, 16);
            if (!s->p)
                *s = (struct slot){ NULL, 0, rd, next_id++, 0 };
            size_t keep = s->size < n ? s->size : n;
            s->p = p;
            verify(s, keep);
            s->size = n;
            fill(s, keep);
            break;
        }
        case 6: case 7:                                 /* free */
            release(s);
            break;
        case 8: {                                       /* aligned, as the preload asks */
            release(s);
            size_t align = (size_t)32 << byte(&in) % 8, n = a_size(&in);
            errno = 0;
            if (vigil__domain_fails(d, n, NULL)) {
                null_ok("aligned", d, n);
                break;
            }
            void *p = vigil__domain_aligned(d, align, n, NULL);
            int libc = p == NULL;
            if (libc && posix_memalign(&p, align, n ? n : 1))
                abort();
            aligned_ok(p, align);
            *s = (struct slot){ p, n, d, next_id++, libc };
            fill(s, 0);
            break;
        }
        case 9: {                                       /* the usable size */
            size_t n = 0;
            if (s->p && !s->libc && vigil__domain_block_size(s->d, s->p, &n) &&
                (debug ? n != s->size : n < s->size))
                abort();
            break;
        }
        case 10:                                        /* a debug block's check */
            if (s->p && !s->libc && debug && vigil_check_block(s->p) != 0)
                abort();
            break;
        case 11:
            whole_heap();
            break;
        default:
            break;
        }
        if (op % 64 == 63)
            whole_heap();
    }
    for (size_t i = 0; i < SLOTS; i++)
        release(&slots[i]);
    whole_heap();
    /* Without the debug hooks no block waits anywhere: all given back. */
    if (!debug && vigil_allocated_blocks() != base) {
        fprintf(stderr, "ops: %zu blocks live at the start, %zu at the end\n", base,
                vigil_allocated_blocks());
        abort();
    }
    return 0;
}
