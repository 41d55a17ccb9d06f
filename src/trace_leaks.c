/*
 * trace_leaks.c - the leak check over tracing's live blocks (see
 * trace_leaks.h).  Tracing knows every live block above the debug hooks
 * and below fault injection, whatever allocator serves it, with its size
 * and allocation stack: what a leak report needs.
 */
#include "config.h"

#include <stdio.h>

#include "vigil.h"
#include "leak.h"
#include "leak_report.h"
#include "trace.h"
#include "trace_leaks.h"
#include "trace_table.h"

static void hold(void *ctx)
{
    (void)ctx;
    vigil__trace_table_hold();
}

static void release(void *ctx)
{
    (void)ctx;
    vigil__trace_table_release();
}

static size_t count(void *ctx)
{
    (void)ctx;
    return vigil__trace_table_held_count();
}

struct fill {
    struct vigil_leak_block *out;
    size_t n;
};

static void put(void *arg, const void *p, size_t size, uint32_t stack)
{
    struct fill *f = arg;
    f->out[f->n++] = (struct vigil_leak_block){ (uintptr_t)p, size, stack, 0 };
}

static size_t each(void *ctx, struct vigil_leak_block *out, size_t max)
{
    (void)ctx;
    struct fill f = { out, 0 };
    vigil__trace_table_held_each(put, &f, max);
    return f.n;
}

static const struct vigil_leak_source source = { NULL, hold, release, count, each };

void vigil__trace_leaks_at_exit(const char *suppressions, int exitcode)
{
    vigil__leak_suppressions(suppressions);
    vigil__leak_at_exit(&source, exitcode);
}

size_t vigil__trace_leak_check(FILE *out)
{
    if (!out)
        out = stderr;
    if (vigil__trace_frames() == 0) {
        fputs("vigil: no leak check: tracing is off (VIGIL_LEAKS=1, VIGIL_TRACE=N or "
              "vigil_trace_start), so the live blocks are not known\n", out);
        return 0;
    }
    /* The calls tracing makes for its own (symbolizing the report) are not
     * the program's: they go untraced. */
    int own = vigil__trace_enter_own();
    size_t n = vigil__leak_check(&source, out, NULL);
    vigil__trace_leave_own(own);
    return n;
}
