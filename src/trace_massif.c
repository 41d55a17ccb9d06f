/*
 * trace_massif.c - a snapshot as a massif output file (see trace_massif.h).
 *
 * Massif's heap tree is the allocation stacks merged from the innermost
 * frame outwards: the root holds every byte, its children are the
 * program's calls into the allocator, each node's children the calls that
 * led to it, siblings most bytes first.  Each node is one line,
 *
 *     n<children>: <bytes> 0x<address>: <function> (<file>:<line>)
 *
 * indented one space a level; a frame without lines says "(in <module>)"
 * instead, one without a symbol "???".  The stacks are sorted as frame
 * sequences, so every node's blocks are a run of consecutive stacks, and
 * the tree is written by walking the runs; the runs of every node on the
 * path from the root wait on one scratch stack, which never holds more
 * than the number of stacks plus the depth.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "os.h"
#include "report.h"
#include "stacks_capture.h"
#include "stacks_depot.h"
#include "trace_massif.h"

struct leaf {
    void **frames;
    int n;
    uint64_t bytes;
};

struct run {
    size_t lo, hi;              /* leaves [lo, hi) */
    uint64_t bytes;
};

struct tree {
    FILE *out;
    struct leaf *leaves;
    struct run *runs;           /* the scratch stack */
    size_t nruns;
};

static int frames_before(const void *x, const void *y)
{
    const struct leaf *a = x, *b = y;
    for (int i = 0; i < a->n && i < b->n; i++)
        if (a->frames[i] != b->frames[i])
            return (uintptr_t)a->frames[i] < (uintptr_t)b->frames[i];
    return a->n < b->n;
}

static int more_bytes(const void *x, const void *y)
{
    const struct run *a = x, *b = y;
    return a->bytes != b->bytes ? a->bytes > b->bytes : a->lo < b->lo;
}

/* Massif's words for the frame at a: what comes after "0x...: ". */
static void describe(FILE *out, void *a)
{
    char line[VIGIL_REPORT_BUFSIZE];
    size_t n = vigil__trace_describe_frame(a, line, sizeof line);
    /* ms_print reads everything from a '#' on as a comment. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '#')
            line[i] = '_';
    /* "0x... in FUNC FILE:LINE", "0x... in FUNC (MODULE+0x...)",
     * "0x... (MODULE+0x...)" or "0x... (<unknown module>)". */
    char *rest = n ? strchr(line, ' ') : NULL;
    const char *func = "???";
    if (rest && strncmp(rest, " in ", 4) == 0) {
        func = rest + 4;
        rest = strchr(rest + 4, ' ');
        if (rest)
            *rest = '\0';
    }
    fprintf(out, "%s", func);
    if (!rest) {
        fprintf(out, "\n");
        return;
    }
    rest++;
    if (*rest == '(') {
        char *plus = strrchr(rest, '+');
        if (plus && strncmp(rest, "(<unknown", 9) != 0) {
            *plus = '\0';
            fprintf(out, " (in %s)\n", rest + 1);
        } else {
            fprintf(out, "\n");
        }
    } else {
        fprintf(out, " (%s)\n", rest);
    }
}

/* The node of leaves [lo, hi), whose first depth frames are the path to
 * it, at address a (the root: NULL). */
static void node(struct tree *t, size_t lo, size_t hi, int depth, uint64_t bytes, void *a)
{
    size_t base = t->nruns;
    for (size_t i = lo; i < hi;) {
        if (t->leaves[i].n <= depth) {
            i++;                /* this stack ends here: bytes of this node's own */
            continue;
        }
        struct run r = { i, i, 0 };
        void *f = t->leaves[i].frames[depth];
        while (r.hi < hi && t->leaves[r.hi].n > depth && t->leaves[r.hi].frames[depth] == f)
            r.bytes += t->leaves[r.hi++].bytes;
        t->runs[t->nruns++] = r;
        i = r.hi;
    }
    size_t nchildren = t->nruns - base;
    vigil__trace_sort(t->runs + base, nchildren, sizeof *t->runs, more_bytes);

    fprintf(t->out, "%*sn%zu: %" PRIu64 " ", depth, "", nchildren, bytes);
    if (a) {
        uintptr_t pc = (uintptr_t)a - 1;        /* the call, as in the reports */
        fprintf(t->out, "0x%" PRIxPTR ": ", pc);
        describe(t->out, a);
    } else {
        fprintf(t->out, "(heap allocation functions) malloc, calloc, realloc, aligned, "
                        "vigil_*_malloc ...\n");
    }
    for (size_t k = 0; k < nchildren; k++) {
        struct run r = t->runs[base + k];
        node(t, r.lo, r.hi, depth + 1, r.bytes, t->leaves[r.lo].frames[depth]);
    }
    t->nruns = base;
}

/* The command line, NULs as spaces; "unknown" when it cannot be read. */
static void write_cmd(FILE *out)
{
    char buf[4096];
    ssize_t n = -1;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    while (n > 0 && buf[n - 1] == '\0')
        n--;
    if (n <= 0) {
        fprintf(out, "cmd: unknown\n");
        return;
    }
    for (ssize_t i = 0; i < n; i++)
        if (buf[i] == '\0' || buf[i] == '\n')
            buf[i] = ' ';
    buf[n] = '\0';
    fprintf(out, "cmd: %s\n", buf);
}

static void write_header(FILE *out, int number, uint64_t ms, uint64_t bytes, const char *tree)
{
    fprintf(out, "#-----------\nsnapshot=%d\n#-----------\ntime=%" PRIu64 "\nmem_heap_B=%" PRIu64
                 "\nmem_heap_extra_B=0\nmem_stacks_B=0\nheap_tree=%s\n",
            number, ms, bytes, tree);
}

int vigil__trace_massif_write(const vigil_trace_snapshot *s, FILE *out)
{
    size_t n = s->nsites;
    size_t frames_bytes = (n ? n : 1) * VIGIL_STACK_MAX_FRAMES * sizeof(void *);
    size_t leaves_bytes = (n ? n : 1) * sizeof(struct leaf);
    size_t runs_bytes = (n + VIGIL_STACK_MAX_FRAMES + 2) * sizeof(struct run);
    void **frames = vigil__os_map(frames_bytes);
    struct leaf *leaves = vigil__os_map(leaves_bytes);
    struct run *runs = vigil__os_map(runs_bytes);
    int ok = frames && leaves && runs;
    if (ok) {
        for (size_t i = 0; i < n; i++) {
            leaves[i].frames = frames + i * VIGIL_STACK_MAX_FRAMES;
            leaves[i].n = vigil__stack_get(s->sites[i].stack, leaves[i].frames,
                                           VIGIL_STACK_MAX_FRAMES);
            leaves[i].bytes = s->sites[i].bytes;
        }
        vigil__trace_sort(leaves, n, sizeof *leaves, frames_before);

        fprintf(out, "desc: (vigil allocation tracing, %d frame(s))\n", s->frames);
        write_cmd(out);
        fprintf(out, "time_unit: ms\n");
        write_header(out, 0, 0, 0, "empty");
        write_header(out, 1, s->time_ns / 1000000, s->bytes, "detailed");
        struct tree t = { out, leaves, runs, 0 };
        node(&t, 0, n, 0, s->bytes, NULL);
        ok = fflush(out) == 0 && !ferror(out);
    } else {
        errno = ENOMEM;
    }
    if (frames)
        vigil__os_unmap(frames, frames_bytes);
    if (leaves)
        vigil__os_unmap(leaves, leaves_bytes);
    if (runs)
        vigil__os_unmap(runs, runs_bytes);
    return ok ? 0 : -1;
}
