/*
 * leak_report.c - the leak report and its suppressions (see leak_report.h).
 *
 * It runs after the scan, with the other threads going again, from
 * vigil_leak_check or at exit: symbolizing may allocate (libdw), and the
 * report goes through stdio when the caller gave a FILE.
 */
#include "config.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "leak_report.h"
#include "os.h"
#include "report.h"
#include "stacks.h"

/* ---- suppressions ---- */

#define MAX_SUPPRESSIONS 256
#define MAX_PATTERN 256

static char patterns[MAX_SUPPRESSIONS][MAX_PATTERN];
static size_t npatterns;

/* Glob with '*' over the whole of s. */
static int glob(const char *p, const char *s)
{
    for (; *p; p++, s++) {
        if (*p == '*') {
            while (p[1] == '*')
                p++;
            if (!p[1])
                return 1;
            for (; *s; s++)
                if (glob(p + 1, s))
                    return 1;
            return 0;
        }
        if (*p == '$' && !p[1])
            return !*s;
        if (!*s || *p != *s)
            return 0;
    }
    return !*s;
}

/* LeakSanitizer's template match: anywhere unless anchored. */
static int template_match(const char *pattern, const char *name)
{
    char full[MAX_PATTERN + 3];
    size_t n = 0;
    const char *p = pattern;
    if (*p == '^')
        p++;
    else
        full[n++] = '*';
    size_t len = strlen(p);
    int anchored_end = len && p[len - 1] == '$';
    if (anchored_end)
        len--;
    memcpy(full + n, p, len);
    n += len;
    if (!anchored_end)
        full[n++] = '*';
    full[n] = 0;
    return glob(full, name);
}

static int suppressed_name(const char *name, void *ctx)
{
    (void)ctx;
    for (size_t i = 0; i < npatterns; i++)
        if (template_match(patterns[i], name))
            return 1;
    return 0;
}

static void bad_line(const char *path, size_t lineno, const char *line, size_t len)
{
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: ");
    vigil__report_str(&r, path);
    vigil__report_char(&r, ':');
    vigil__report_dec(&r, lineno);
    vigil__report_str(&r, ": not a suppression (expected leak:PATTERN), skipped: ");
    char copy[MAX_PATTERN];
    size_t n = len < sizeof copy - 1 ? len : sizeof copy - 1;
    memcpy(copy, line, n);
    copy[n] = 0;
    vigil__report_str(&r, copy);
    vigil__report_char(&r, '\n');
    vigil__report_flush(&r);
}

void vigil__leak_suppressions(const char *path)
{
    npatterns = 0;
    if (!path || !*path)
        return;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        bad_line(path, 0, "(the file cannot be read)", 25);
        return;
    }
    char buf[65536];
    size_t len = 0;
    ssize_t got;
    while (len < sizeof buf - 1 && (got = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)got;
    close(fd);
    buf[len] = 0;
    size_t lineno = 0;
    for (char *line = buf; line < buf + len;) {
        char *eol = memchr(line, '\n', (size_t)(buf + len - line));
        if (!eol)
            eol = buf + len;
        lineno++;
        char *a = line, *b = eol;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\r'))
            b--;
        if (a < b && *a != '#') {
            if ((size_t)(b - a) > 5 && strncmp(a, "leak:", 5) == 0 &&
                (size_t)(b - a - 5) < MAX_PATTERN && npatterns < MAX_SUPPRESSIONS) {
                memcpy(patterns[npatterns], a + 5, (size_t)(b - a - 5));
                patterns[npatterns][b - a - 5] = 0;
                npatterns++;
            } else {
                bad_line(path, lineno, a, (size_t)(b - a));
            }
        }
        line = eol + 1;
    }
}

/* ---- the report ---- */

/* Direct before indirect, then by stack: equal (kind, stack) together. */
static int by_kind_and_stack(const struct vigil_leak_block *a, const struct vigil_leak_block *b)
{
    if (a->mark != b->mark)
        return a->mark < b->mark ? -1 : 1;
    return a->stack < b->stack ? -1 : a->stack > b->stack;
}

/* A group, as a block: start holds its bytes, size its count, stack and
 * mark its key (so the same sort serves). */
static int by_bytes_desc(const struct vigil_leak_block *a, const struct vigil_leak_block *b)
{
    if (a->start != b->start)
        return a->start > b->start ? -1 : 1;
    if (a->mark != b->mark)
        return a->mark < b->mark ? -1 : 1;
    return a->stack < b->stack ? -1 : a->stack > b->stack;
}

static int is_leak(uint32_t mark)
{
    return mark == VIGIL_LEAK_DIRECT || mark == VIGIL_LEAK_INDIRECT;
}

size_t vigil__leak_report(struct vigil_leak_block *blocks, size_t n, FILE *out,
                          struct vigil_leak_totals *t)
{
    memset(t, 0, sizeof *t);
    /* The leaked blocks to the front, grouped. */
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (is_leak(blocks[i].mark) && blocks[i].stack != VIGIL_LEAK_FOREIGN)
            blocks[m++] = blocks[i];
    vigil__leak_sort(blocks, m, by_kind_and_stack);
    /* Fold each group into its first entry, in place. */
    size_t groups = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i, bytes = 0;
        for (; j < m && blocks[j].mark == blocks[i].mark && blocks[j].stack == blocks[i].stack; j++)
            bytes += blocks[j].size;
        struct vigil_leak_block g = { bytes, j - i, blocks[i].stack, blocks[i].mark };
        void *frames[VIGIL_STACK_DEPOT_MAX_FRAMES];
        int nf = vigil__stack_get(g.stack, frames, VIGIL_STACK_DEPOT_MAX_FRAMES);
        if (npatterns && nf > 0 && vigil__stack_any_name(frames, nf, suppressed_name, NULL)) {
            t->suppressed_bytes += bytes;
            t->suppressed_blocks += j - i;
        } else {
            if (g.mark == VIGIL_LEAK_DIRECT) {
                t->direct_bytes += bytes;
                t->direct_blocks += j - i;
            } else {
                t->indirect_bytes += bytes;
                t->indirect_blocks += j - i;
            }
            blocks[groups++] = g;
        }
        i = j;
    }
    size_t reported = t->direct_blocks + t->indirect_blocks;
    if (!reported)
        return 0;
    vigil__leak_sort(blocks, groups, by_bytes_desc);

    struct vigil_report r;
    if (out)
        vigil__report_init_file(&r, out);
    else
        vigil__report_init(&r);
    vigil__report_str(&r, "vigil: detected memory leaks\n");
    for (size_t i = 0; i < groups; i++) {
        const struct vigil_leak_block *g = &blocks[i];
        vigil__report_str(&r, g->mark == VIGIL_LEAK_DIRECT ? "\nDirect" : "\nIndirect");
        vigil__report_str(&r, " leak of ");
        vigil__report_dec(&r, g->start);
        vigil__report_str(&r, " byte(s) in ");
        vigil__report_dec(&r, g->size);
        vigil__report_str(&r, " object(s) allocated from:\n");
        void *frames[VIGIL_STACK_DEPOT_MAX_FRAMES];
        int nf = vigil__stack_get(g->stack, frames, VIGIL_STACK_DEPOT_MAX_FRAMES);
        if (nf > 0)
            vigil__stack_print(&r, frames, nf);
        else
            vigil__report_str(&r, "    (no stack: allocated before tracing began, or the stack was lost)\n");
    }
    vigil__report_str(&r, "\nvigil: SUMMARY: ");
    vigil__report_dec(&r, t->direct_bytes + t->indirect_bytes);
    vigil__report_str(&r, " byte(s) leaked in ");
    vigil__report_dec(&r, reported);
    vigil__report_str(&r, " allocation(s).\n");
    vigil__report_flush(&r);
    if (out)
        fflush(out);
    return reported;
}
