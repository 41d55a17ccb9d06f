/*
 * trace_snapshot.c - snapshots of the live-block table by allocation site
 * (see trace_snapshot.h): taking one, printing its top sites, comparing
 * two.
 *
 * Taking one walks the table a shard at a time, adding each record into
 * a map keyed by stack id (os memory, grown as needed); the sites are then
 * copied into the snapshot's own mapping and sorted.  Nothing here
 * allocates through vigil: the heap being described may be the one
 * malloc serves.  Printing symbolizes (stacks_symbolize.h), one frame at
 * a time so that a long stack never overflows the report buffer, and
 * writes with stdio to the stream the caller gave.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "os.h"
#include "report.h"
#include "stacks_capture.h"
#include "stacks_depot.h"
#include "stacks_symbolize.h"
#include "trace_snapshot.h"
#include "trace_table.h"

/* ---- sorting ---- */

static void swap_bytes(unsigned char *a, unsigned char *b, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        unsigned char t = a[i];
        a[i] = b[i];
        b[i] = t;
    }
}

static void sift_down(unsigned char *base, size_t root, size_t n, size_t size,
                      int (*before)(const void *, const void *))
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        /* A max-heap in "goes later" order, so the result runs first to last. */
        if (child + 1 < n && before(base + child * size, base + (child + 1) * size))
            child++;
        if (!before(base + root * size, base + child * size))
            return;
        swap_bytes(base + root * size, base + child * size, size);
        root = child;
    }
}

void vigil__trace_sort(void *base, size_t n, size_t size,
                       int (*before)(const void *x, const void *y))
{
    unsigned char *b = base;
    if (n < 2)
        return;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(b, i, n, size, before);
    for (size_t end = n - 1; end > 0; end--) {
        swap_bytes(b, b + end * size, size);
        sift_down(b, 0, end, size, before);
    }
}

/* ---- the map of sites by stack id, while a snapshot is taken ---- */

struct site_map {
    struct vigil_trace_site *slots;     /* stack 0: empty */
    size_t cap, used;
    uint64_t dropped_blocks, dropped_bytes;
};

static size_t map_bytes(size_t cap)
{
    return cap * sizeof(struct vigil_trace_site);
}

static struct vigil_trace_site *map_slot(struct site_map *m, uint32_t stack)
{
    size_t mask = m->cap - 1;
    for (size_t i = (stack * UINT32_C(2654435761)) & mask;; i = (i + 1) & mask)
        if (m->slots[i].stack == stack || m->slots[i].stack == 0)
            return &m->slots[i];
}

static int map_grow(struct site_map *m)
{
    size_t ncap = m->cap * 2;
    struct vigil_trace_site *fresh = vigil__os_map(map_bytes(ncap));
    if (!fresh)
        return 0;
    struct site_map n = { fresh, ncap, m->used, m->dropped_blocks, m->dropped_bytes };
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].stack)
            *map_slot(&n, m->slots[i].stack) = m->slots[i];
    vigil__os_unmap(m->slots, map_bytes(m->cap));
    *m = n;
    return 1;
}

/* Called with a shard's lock held: os memory only. */
static void map_add(void *arg, size_t size, uint32_t stack)
{
    struct site_map *m = arg;
    if (4 * (m->used + 1) > 3 * m->cap && !map_grow(m)) {
        m->dropped_blocks++;
        m->dropped_bytes += size;
        return;
    }
    struct vigil_trace_site *s = map_slot(m, stack);
    if (s->stack == 0) {
        s->stack = stack;
        m->used++;
    }
    s->blocks++;
    s->bytes += size;
}

static int more_bytes(const void *x, const void *y)
{
    const struct vigil_trace_site *a = x, *b = y;
    if (a->bytes != b->bytes)
        return a->bytes > b->bytes;
    if (a->blocks != b->blocks)
        return a->blocks > b->blocks;
    return a->stack < b->stack;
}

vigil_trace_snapshot *vigil__trace_snapshot_take(int frames, uint64_t time_ns)
{
    struct site_map m = { NULL, 256, 0, 0, 0 };
    while (m.cap < 2 * vigil__stack_count() + 16)
        m.cap *= 2;
    m.slots = vigil__os_map(map_bytes(m.cap));
    if (!m.slots) {
        errno = ENOMEM;
        return NULL;
    }
    vigil__trace_table_each(map_add, &m);

    size_t bytes = sizeof(vigil_trace_snapshot) + m.used * sizeof(struct vigil_trace_site);
    vigil_trace_snapshot *s = vigil__os_map(bytes);
    if (!s) {
        vigil__os_unmap(m.slots, map_bytes(m.cap));
        errno = ENOMEM;
        return NULL;
    }
    s->mapped = bytes;
    s->frames = frames;
    s->time_ns = time_ns;
    for (size_t i = 0; i < m.cap; i++)
        if (m.slots[i].stack) {
            s->sites[s->nsites++] = m.slots[i];
            s->blocks += m.slots[i].blocks;
            s->bytes += m.slots[i].bytes;
        }
    vigil__os_unmap(m.slots, map_bytes(m.cap));
    vigil__trace_sort(s->sites, s->nsites, sizeof s->sites[0], more_bytes);
    vigil__trace_table_stats(&s->table);
    /* Blocks the map could not hold are as good as untraced. */
    s->table.lost += (size_t)m.dropped_blocks;
    s->stacks = vigil__stack_count();
    s->stacks_lost = vigil__stack_lost();
    vigil__stack_depot_memory(&s->depot_records, &s->depot_index);
    return s;
}

void vigil__trace_snapshot_free(vigil_trace_snapshot *s)
{
    if (s)
        vigil__os_unmap(s, s->mapped);
}

/* ---- printing ---- */

size_t vigil__trace_describe_frame(void *a, char *buf, size_t size)
{
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__stack_print(&r, &a, 1);
    /* "    #0 " then the frame then "\n"; nothing for one of vigil's. */
    const char *text = r.buf, *end = r.buf + r.len;
    const char *sp = r.len ? memchr(text + 4, ' ', r.len - 4) : NULL;
    size_t n = 0;
    if (sp) {
        text = sp + 1;
        if (end > text && end[-1] == '\n')
            end--;
        n = (size_t)(end - text);
        if (n >= size)
            n = size ? size - 1 : 0;
        memcpy(buf, text, n);
    }
    if (size)
        buf[n] = '\0';
    return n;
}

/* Stack id's frames, one a line as in every vigil report. */
static void print_stack(FILE *out, uint32_t stack)
{
    void *f[VIGIL_STACK_MAX_FRAMES];
    int n = vigil__stack_get(stack, f, VIGIL_STACK_MAX_FRAMES);
    struct vigil_report r;
    vigil__report_init_file(&r, out);
    vigil__stack_print(&r, f, n);
    if (r.len == 0)
        vigil__report_str(&r, "    (no frame of the program's)\n");
    vigil__report_flush(&r);
}

static void print_memory(FILE *out, const vigil_trace_snapshot *s)
{
    fprintf(out,
            "vigil: trace memory: block table %zu byte(s) for %zu block(s), depot %zu "
            "byte(s) of stacks and %zu of index for %zu stack(s); %zu allocation(s) traced; "
            "lost: %zu trace(s), %zu stack(s)\n",
            s->table.mapped, s->table.live, s->depot_records, s->depot_index, s->stacks,
            s->table.recorded, s->table.lost, s->stacks_lost);
}

size_t vigil__trace_snapshot_print(FILE *out, const vigil_trace_snapshot *s, size_t limit)
{
    size_t shown = limit && limit < s->nsites ? limit : s->nsites;
    fprintf(out, "vigil: live blocks by allocation site, most bytes first (%d frame(s) traced)\n",
            s->frames);
    for (size_t i = 0; i < shown; i++) {
        const struct vigil_trace_site *t = &s->sites[i];
        fprintf(out, "\nSite %zu: %" PRIu64 " byte(s) in %" PRIu64 " block(s) allocated from:\n",
                i + 1, t->bytes, t->blocks);
        print_stack(out, t->stack);
    }
    fprintf(out,
            "\nvigil: SUMMARY: %" PRIu64 " byte(s) in %" PRIu64
            " live block(s) from %zu allocation site(s), %zu shown\n",
            s->bytes, s->blocks, s->nsites, shown);
    print_memory(out, s);
    fflush(out);
    return shown;
}

/* ---- comparing ---- */

static int more_growth(const void *x, const void *y)
{
    const struct vigil_trace_site *a = x, *b = y;
    if (a->dbytes != b->dbytes)
        return a->dbytes > b->dbytes;
    if (a->dblocks != b->dblocks)
        return a->dblocks > b->dblocks;
    return a->stack < b->stack;
}

/* Index i + 1 of then's site with stack, in an open-addressing index. */
static uint32_t *index_slot(uint32_t *index, size_t cap, const vigil_trace_snapshot *then,
                            uint32_t stack)
{
    size_t mask = cap - 1;
    for (size_t i = (stack * UINT32_C(2654435761)) & mask;; i = (i + 1) & mask)
        if (index[i] == 0 || then->sites[index[i] - 1].stack == stack)
            return &index[i];
}

size_t vigil__trace_snapshot_compare(FILE *out, const vigil_trace_snapshot *then,
                                     const vigil_trace_snapshot *now, size_t limit)
{
    size_t nthen = then ? then->nsites : 0;
    size_t cap = 16;
    while (cap < 2 * nthen)
        cap *= 2;
    size_t index_bytes = cap * sizeof(uint32_t);
    size_t grown_bytes = (now->nsites + 1) * sizeof(struct vigil_trace_site);
    uint32_t *index = vigil__os_map(index_bytes);
    struct vigil_trace_site *grown = vigil__os_map(grown_bytes);
    if (!index || !grown) {
        if (index)
            vigil__os_unmap(index, index_bytes);
        if (grown)
            vigil__os_unmap(grown, grown_bytes);
        errno = ENOMEM;
        return 0;
    }
    for (size_t i = 0; i < nthen; i++)
        *index_slot(index, cap, then, then->sites[i].stack) = (uint32_t)(i + 1);

    size_t ngrown = 0, nshrank = 0, matched = 0;
    for (size_t i = 0; i < now->nsites; i++) {
        struct vigil_trace_site t = now->sites[i];
        uint32_t at = nthen ? *index_slot(index, cap, then, t.stack) : 0;
        const struct vigil_trace_site *old = at ? &then->sites[at - 1] : NULL;
        matched += old != NULL;
        t.dbytes = (int64_t)t.bytes - (old ? (int64_t)old->bytes : 0);
        t.dblocks = (int64_t)t.blocks - (old ? (int64_t)old->blocks : 0);
        if (t.dbytes > 0)
            grown[ngrown++] = t;
        else if (t.dbytes < 0)
            nshrank++;
    }
    nshrank += nthen - matched;             /* gone altogether */
    vigil__trace_sort(grown, ngrown, sizeof grown[0], more_growth);

    size_t shown = limit && limit < ngrown ? limit : ngrown;
    fprintf(out, "vigil: allocation sites that grew most, by live bytes (%d frame(s) traced)\n",
            now->frames);
    for (size_t i = 0; i < shown; i++) {
        const struct vigil_trace_site *t = &grown[i];
        fprintf(out,
                "\nSite %zu: +%" PRId64 " byte(s) in %+" PRId64 " block(s), now %" PRIu64
                " byte(s) in %" PRIu64 " block(s), allocated from:\n",
                i + 1, t->dbytes, t->dblocks, t->bytes, t->blocks);
        print_stack(out, t->stack);
    }
    uint64_t then_bytes = then ? then->bytes : 0, then_blocks = then ? then->blocks : 0;
    fprintf(out,
            "\nvigil: SUMMARY: %+" PRId64 " byte(s) in %+" PRId64 " block(s), from %" PRIu64
            " byte(s) in %" PRIu64 " block(s) to %" PRIu64 " byte(s) in %" PRIu64
            " block(s); %zu site(s) grew, %zu shrank, %zu shown\n",
            (int64_t)now->bytes - (int64_t)then_bytes, (int64_t)now->blocks - (int64_t)then_blocks,
            then_bytes, then_blocks, now->bytes, now->blocks, ngrown, nshrank, shown);
    fflush(out);
    vigil__os_unmap(index, index_bytes);
    vigil__os_unmap(grown, grown_bytes);
    return shown;
}
