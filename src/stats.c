/*
 * stats.c - the arena statistics table (vigil_print_stats and
 * VIGIL_MALLOCSTATS), in the spirit of CPython's _PyObject_DebugMallocStats:
 * per size class, then where every byte of every arena went, adding up to
 * the arenas' total.
 */
#include "config.h"

#include <stdio.h>

#include "internal.h"

static void line(FILE *out, const char *what, size_t bytes)
{
    fprintf(out, "%-40s = %15zu\n", what, bytes);
}

int vigil_print_stats(FILE *out)
{
    struct vigil_arena_stats st;
    vigil__arena_stats(&st);
    if (!vigil__arena_in_use() && st.arenas_allocated == 0)
        return 0;

    size_t allocated = 0, available = 0, headers = 0, quantization = 0, redzones = 0;
    fprintf(out, "vigil arena statistics\n");
    fprintf(out, "class   size   pools   blocks in use   available blocks\n");
    fprintf(out, "-----   ----   -----   -------------   ----------------\n");
    for (unsigned c = 0; c < VIGIL_NB_CLASSES; c++) {
        if (!st.class_pools[c])
            continue;
        size_t size = vigil_class_size(c);
        fprintf(out, "%5u   %4zu   %5zu   %13zu   %16zu\n", c, size,
                st.class_pools[c], st.class_blocks[c], st.class_avail[c]);
        allocated += st.class_blocks[c] * size;
        available += st.class_avail[c] * size;
        headers += st.class_pools[c] * VIGIL_POOL_OVERHEAD;
        size_t stride = vigil_block_stride(c);
        quantization += st.class_pools[c] * ((VIGIL_POOL_SIZE - VIGIL_POOL_OVERHEAD) % stride);
        redzones += st.class_pools[c] * vigil_pool_capacity(c) * VIGIL_REDZONE;
    }
    fputc('\n', out);
    line(out, "# arenas allocated total", st.arenas_allocated);
    line(out, "# arenas reclaimed", st.arenas_reclaimed);
    line(out, "# arenas highwater mark", st.arenas_highwater);
    line(out, "# arenas allocated current", st.arenas_current);
    char label[64];
    snprintf(label, sizeof label, "%zu arenas * %zu bytes/arena", st.arenas_current,
             (size_t)VIGIL_ARENA_SIZE);
    line(out, label, st.arenas_current * VIGIL_ARENA_SIZE);
    fputc('\n', out);
    line(out, "# bytes in allocated blocks", allocated);
    line(out, "# bytes in available blocks", available);
    line(out, "# bytes in free pools", st.free_pools * VIGIL_POOL_SIZE);
    line(out, "# bytes lost to pool headers", headers);
    line(out, "# bytes lost to quantization", quantization);
    line(out, "# bytes lost to arena alignment", st.alignment_bytes);
    if (VIGIL_REDZONE)
        line(out, "# bytes lost to ASan redzones", redzones);
    if (st.quarantined)
        line(out, "# blocks waiting in the ASan quarantine", st.quarantined);
    line(out, "Total", allocated + available + st.free_pools * VIGIL_POOL_SIZE +
                       headers + quantization + redzones + st.alignment_bytes);
    fflush(out);
    return 1;
}
