/*
 * stats.c - the arena statistics table: per size class, then where every
 * byte of every arena went, adding up to the arenas' total (see stats.h).
 */
#include "config.h"

#include "stats.h"

static void line(FILE *out, const char *what, size_t bytes)
{
    fprintf(out, "%-40s = %15zu\n", what, bytes);
}

void vigil__stats_print(FILE *out, const struct vigil_arena_stats *st)
{
    size_t allocated = 0, available = 0;
    fprintf(out, "vigil arena statistics\n");
    fprintf(out, "class   size   pools   blocks in use   available blocks\n");
    fprintf(out, "-----   ----   -----   -------------   ----------------\n");
    for (unsigned c = 0; c < VIGIL_STATS_CLASSES; c++) {
        if (!st->class_pools[c])
            continue;
        size_t size = st->class_size[c];
        fprintf(out, "%5u   %4zu   %5zu   %13zu   %16zu\n", c, size,
                st->class_pools[c], st->class_blocks[c], st->class_avail[c]);
        allocated += st->class_blocks[c] * size;
        available += st->class_avail[c] * size;
    }
    fputc('\n', out);
    line(out, "# arenas allocated total", st->arenas_allocated);
    line(out, "# arenas reclaimed", st->arenas_reclaimed);
    line(out, "# arenas highwater mark", st->arenas_highwater);
    line(out, "# arenas allocated current", st->arenas_current);
    char label[64];
    snprintf(label, sizeof label, "%zu arenas * %zu bytes/arena", st->arenas_current,
             st->arena_size);
    line(out, label, st->arenas_current * st->arena_size);
    fputc('\n', out);
    size_t free_pool_bytes = st->free_pools * st->pool_size;
    line(out, "# bytes in allocated blocks", allocated);
    line(out, "# bytes in available blocks", available);
    line(out, "# bytes in free pools", free_pool_bytes);
    line(out, "# bytes lost to pool headers", st->header_bytes);
    line(out, "# bytes lost to quantization", st->quantization_bytes);
    line(out, "# bytes lost to arena alignment", st->alignment_bytes);
    if (st->has_redzones)
        line(out, "# bytes lost to redzones", st->redzone_bytes);
    if (st->quarantined)
        line(out, "# blocks waiting in the tools' quarantine", st->quarantined);
    line(out, "Total", allocated + available + free_pool_bytes + st->header_bytes +
                       st->quantization_bytes + st->redzone_bytes + st->alignment_bytes);
    fflush(out);
}
