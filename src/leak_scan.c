/*
 * leak_scan.c - the mark of a leak scan (see leak_scan.h).
 *
 * Everything here runs while the other threads are stopped: it takes no
 * lock, calls no allocator, and maps its buffers with
 * vigil__os_map_unlisted.  The words of the roots are read directly: only
 * private writable mappings are scanned, and every page of one is
 * readable (a shared or device mapping, which could fault past the end of
 * its file, is not scanned).
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "vigil/annotate.h"
#include "leak_scan.h"
#include "os.h"

struct scan {
    struct vigil_leak_block *b;
    size_t n;
    uintptr_t lo, hi;           /* the blocks' span: a quick first test */
    uint32_t *stack;            /* indices to scan; each pushed at most once */
    size_t top;
};

/* The block holding address v, or -1. */
static long find(const struct scan *s, uintptr_t v)
{
    if (v < s->lo || v >= s->hi)
        return -1;
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->b[mid].start <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return -1;
    const struct vigil_leak_block *b = &s->b[lo - 1];
    /* A block of 0 bytes is reached by its own address. */
    size_t size = b->size ? b->size : 1;
    return v - b->start < size ? (long)(lo - 1) : -1;
}

/* Phase 1: what the roots reach.  Phase 2 (leader >= 0): what a leaked
 * block reaches, for the direct/indirect split. */
static void visit(struct scan *s, uintptr_t v, long leader)
{
    long i = find(s, v);
    if (i < 0 || i == leader)
        return;
    struct vigil_leak_block *b = &s->b[i];
    if (leader < 0) {
        if (b->mark == VIGIL_LEAK_UNSEEN) {
            b->mark = VIGIL_LEAK_REACHED;
            s->stack[s->top++] = (uint32_t)i;
        }
    } else if (b->mark == VIGIL_LEAK_UNSEEN) {
        b->mark = VIGIL_LEAK_INDIRECT;
        s->stack[s->top++] = (uint32_t)i;
    } else if (b->mark == VIGIL_LEAK_DIRECT) {
        b->mark = VIGIL_LEAK_INDIRECT;  /* its own flood already ran */
    }
}

/* The aligned words of [a, b). */
VIGIL_NO_SANITIZE_ADDRESS
static void scan_plain(struct scan *s, uintptr_t a, uintptr_t b, long leader)
{
    for (; a + sizeof(uintptr_t) <= b; a += sizeof(uintptr_t)) {
        uintptr_t v = *(const uintptr_t *)a;
        if (v >= s->lo && v < s->hi)
            visit(s, v, leader);
    }
}

/* Under ASan, poisoned words are not roots: a freed chunk in ASan's
 * quarantine, a redzone, a pool block's free slot keep stale addresses
 * that the program no longer has.  A page with no poisoned byte (the
 * common case) is read straight through. */
#define POISON_STEP ((uintptr_t)4096)

static void scan_words(struct scan *s, uintptr_t a, uintptr_t b, long leader)
{
    a = (a + sizeof(uintptr_t) - 1) & ~(uintptr_t)(sizeof(uintptr_t) - 1);
    if (!VIGIL_ASAN_ENABLED) {
        scan_plain(s, a, b, leader);
        return;
    }
    while (a + sizeof(uintptr_t) <= b) {
        uintptr_t end = b - a > POISON_STEP ? a + POISON_STEP : b;
        if (!VIGIL_ASAN_FIRST_POISONED(a, end - a)) {
            scan_plain(s, a, end, leader);
        } else {
            for (uintptr_t w = a; w + sizeof(uintptr_t) <= end; w += sizeof(uintptr_t))
                if (!VIGIL_ASAN_IS_POISONED(w) && !VIGIL_ASAN_IS_POISONED(w + sizeof(uintptr_t) - 1))
                    scan_plain(s, w, w + sizeof(uintptr_t), leader);
        }
        a = end;
    }
}

static void drain(struct scan *s, long leader)
{
    while (s->top) {
        const struct vigil_leak_block *b = &s->b[s->stack[--s->top]];
        scan_words(s, b->start, b->start + b->size, leader);
    }
}

/* A root range less the excluded ranges (sorted) and the blocks. */
static void scan_root(struct scan *s, uintptr_t a, uintptr_t b,
                      const struct vigil_leak_range *ex, size_t nex)
{
    for (size_t k = 0; k < nex && a < b; k++) {
        if (ex[k].end <= a)
            continue;
        if (ex[k].start >= b)
            break;
        if (ex[k].start > a)
            scan_root(s, a, ex[k].start, NULL, 0);
        a = ex[k].end;
    }
    if (a >= b)
        return;
    /* Less the blocks: from the first block ending after a. */
    long i = find(s, a);
    size_t j = i >= 0 ? (size_t)i : 0;
    if (i < 0) {
        size_t lo = 0, hi = s->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s->b[mid].start < a)
                lo = mid + 1;
            else
                hi = mid;
        }
        j = lo;
    }
    for (; a < b; j++) {
        uintptr_t next = j < s->n ? s->b[j].start : b;
        if (next > b)
            next = b;
        if (next > a)
            scan_words(s, a, next, -1);
        if (j >= s->n)
            break;
        uintptr_t end = s->b[j].start + (s->b[j].size ? s->b[j].size : 1);
        if (end > a)
            a = end;
    }
}

static void sift(struct vigil_leak_block *b, size_t root, size_t n,
                 int (*cmp)(const struct vigil_leak_block *, const struct vigil_leak_block *))
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && cmp(&b[child], &b[child + 1]) < 0)
            child++;
        if (cmp(&b[root], &b[child]) >= 0)
            return;
        struct vigil_leak_block t = b[root];
        b[root] = b[child];
        b[child] = t;
        root = child;
    }
}

void vigil__leak_sort(struct vigil_leak_block *b, size_t n,
                      int (*cmp)(const struct vigil_leak_block *, const struct vigil_leak_block *))
{
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift(b, i, n, cmp);
    for (size_t end = n - 1; end > 0; end--) {
        struct vigil_leak_block t = b[0];
        b[0] = b[end];
        b[end] = t;
        sift(b, 0, end, cmp);
    }
}

int vigil__leak_by_start(const struct vigil_leak_block *a, const struct vigil_leak_block *b)
{
    return a->start < b->start ? -1 : a->start > b->start;
}

static void sort_ranges(struct vigil_leak_range *r, size_t n)
{
    for (size_t i = 1; i < n; i++) {        /* insertion: a few hundred ranges */
        struct vigil_leak_range x = r[i];
        size_t j = i;
        for (; j > 0 && r[j - 1].start > x.start; j--)
            r[j] = r[j - 1];
        r[j] = x;
    }
}

/* /proc/self/maps, whole, into an unlisted mapping (*cap bytes). */
static char *read_maps(size_t *len, size_t *cap)
{
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    size_t size = 1 << 16, used = 0;
    char *buf = vigil__os_map_unlisted(size);
    while (buf) {
        ssize_t got = read(fd, buf + used, size - used);
        if (got <= 0)
            break;
        used += (size_t)got;
        if (used == size) {
            char *grown = vigil__os_map_unlisted(2 * size);
            if (grown)
                memcpy(grown, buf, used);
            vigil__os_unmap_unlisted(buf, size);
            buf = grown;
            size *= 2;
        }
    }
    close(fd);
    *len = used;
    *cap = size;
    return buf;
}

static uintptr_t hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        if (c >= '0' && c <= '9')
            v = v * 16 + (uintptr_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v = v * 16 + (uintptr_t)(c - 'a' + 10);
        else
            return v;
    }
}

/* Where a stopped thread's stack starts being live: its stack pointer,
 * less the red zone below it that leaf functions may use. */
#define RED_ZONE 128

static uintptr_t live_from(const struct vigil_leak_roots *roots, uintptr_t a, uintptr_t b)
{
    uintptr_t from = a;
    if (roots->self_sp >= a && roots->self_sp < b)
        from = roots->self_sp;
    const struct vigil_leak_world *w = roots->world;
    for (size_t i = 0; w && i < w->nthreads; i++) {
        const struct vigil_leak_thread *t = &w->threads[i];
        if (t->stopped && t->sp >= a && t->sp < b)
            from = t->sp - RED_ZONE > a ? t->sp - RED_ZONE : a;
    }
    return from;
}

int vigil__leak_scan(struct vigil_leak_block *blocks, size_t n, struct vigil_leak_roots *roots)
{
    if (n == 0)
        return 0;
    struct scan s = { .b = blocks, .n = n, .lo = blocks[0].start };
    const struct vigil_leak_block *last = &blocks[n - 1];
    s.hi = last->start + (last->size ? last->size : 1);
    size_t stack_bytes = n * sizeof *s.stack;
    s.stack = vigil__os_map_unlisted(stack_bytes);
    size_t maps_len = 0, maps_cap = 0;
    char *maps = s.stack ? read_maps(&maps_len, &maps_cap) : NULL;
    if (!maps) {
        vigil__os_unmap_unlisted(s.stack, stack_bytes);
        for (size_t i = 0; i < n; i++)
            blocks[i].mark = VIGIL_LEAK_REACHED;
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        blocks[i].mark = VIGIL_LEAK_UNSEEN;
    sort_ranges(roots->excluded, roots->nexcluded);

    /* The registers of every stopped thread, and the caller's. */
    for (size_t k = 0; k < roots->nself_regs; k++)
        visit(&s, roots->self_regs[k], -1);
    const struct vigil_leak_world *w = roots->world;
    for (size_t i = 0; w && i < w->nthreads; i++)
        if (w->threads[i].stopped)
            for (int k = 0; k < VIGIL_LEAK_REGS; k++)
                visit(&s, w->threads[i].regs[k], -1);
    drain(&s, -1);

    /* The mappings: "start-end perms offset dev inode path". */
    for (const char *p = maps, *end = maps + maps_len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        uintptr_t a = hex(&q);
        q++;
        uintptr_t b = hex(&q);
        q++;
        int rw_private = q + 4 <= eol && q[0] == 'r' && q[1] == 'w' && q[3] == 'p';
        const char *path = q;
        for (int field = 0; field < 4 && path < eol; field++) {     /* perms offset dev inode */
            while (path < eol && *path != ' ')
                path++;
            while (path < eol && *path == ' ')
                path++;
        }
        int special = path < eol && (strncmp(path, "/dev/", 5) == 0 ||
                                     strncmp(path, "[vvar", 5) == 0 ||
                                     strncmp(path, "[vsyscall]", 10) == 0);
        if (rw_private && !special) {
            scan_root(&s, live_from(roots, a, b), b, roots->excluded, roots->nexcluded);
            drain(&s, -1);
        }
        p = eol + 1;
    }

    /* The leaked ones: direct, and what each reaches. */
    for (size_t i = 0; i < n; i++) {
        if (blocks[i].mark != VIGIL_LEAK_UNSEEN)
            continue;
        blocks[i].mark = VIGIL_LEAK_DIRECT;
        s.stack[s.top++] = (uint32_t)i;
        while (s.top) {
            const struct vigil_leak_block *b = &blocks[s.stack[--s.top]];
            scan_words(&s, b->start, b->start + b->size, (long)i);
        }
    }
    vigil__os_unmap_unlisted(maps, maps_cap);
    vigil__os_unmap_unlisted(s.stack, stack_bytes);
    return 0;
}
