/* failprobe.c - allocations given on the command line, each result
 * printed, for the fault-injection tests (tests/cunit/test_fail.c and
 * tests/tools/sweep.sh) to run with VIGIL_FAIL set.
 *
 * Built twice: on vigil's API (tests/failprobe), and with FAILPROBE_LIBC
 * on the C library's names only (tests/failprobe_libc, run through the
 * preload).  Output goes through write(2) from a stack buffer, so the
 * probe itself allocates nothing it was not asked to: under the preload
 * its allocations are numbered exactly as its arguments are.
 *
 * An argument is DOMAIN.OP=SIZE, or DOMAIN.OP=SIZE*COUNT for COUNT of them
 * on one line as '.' (served) and 'X' (failed; 'D' for a realloc whose old
 * block is then not what it was); DOMAIN is raw, mem or obj
 * (ignored by the libc build); OP is malloc, calloc (SIZE bytes as SIZE
 * elements of 1), realloc (the last block served grows to SIZE), or, in the
 * libc build, posix_memalign, aligned_alloc, memalign (64-byte aligned).
 * Each line: "N OP SIZE: ok" or ": ENOMEM" (errno checked), and for a
 * realloc that failed, whether the old block is still whole.  Every block
 * served is filled (byte j = j) and kept until the end, then freed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FAILPROBE_LIBC
#include <malloc.h>
#else
#include "vigil.h"
#endif

static void say(const char *s)
{
    size_t n = strlen(s);
    while (n) {
        ssize_t w = write(STDOUT_FILENO, s, n);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

#ifdef FAILPROBE_LIBC
static void *do_op(const char *dom, const char *op, size_t size, void *last)
{
    (void)dom;
    void *p = NULL;
    if (strcmp(op, "malloc") == 0)
        return malloc(size);
    if (strcmp(op, "calloc") == 0)
        return calloc(size, 1);
    if (strcmp(op, "realloc") == 0)
        return realloc(last, size);
    if (strcmp(op, "posix_memalign") == 0) {
        int e = posix_memalign(&p, 64, size);
        errno = e;
        return e ? NULL : p;
    }
    if (strcmp(op, "aligned_alloc") == 0)
        return aligned_alloc(64, (size + 63) / 64 * 64);
    if (strcmp(op, "memalign") == 0)
        return memalign(64, size);
    say("failprobe: unknown operation\n");
    exit(2);
}

static void do_free(const char *dom, void *p)
{
    (void)dom;
    free(p);
}
#else
struct api {
    const char *name;
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
};

static const struct api apis[] = {
    { "raw", vigil_raw_malloc, vigil_raw_calloc, vigil_raw_realloc, vigil_raw_free },
    { "mem", vigil_mem_malloc, vigil_mem_calloc, vigil_mem_realloc, vigil_mem_free },
    { "obj", vigil_obj_malloc, vigil_obj_calloc, vigil_obj_realloc, vigil_obj_free },
};

static const struct api *api_of(const char *dom)
{
    for (size_t i = 0; i < 3; i++)
        if (strcmp(dom, apis[i].name) == 0)
            return &apis[i];
    say("failprobe: unknown domain\n");
    exit(2);
}

static void *do_op(const char *dom, const char *op, size_t size, void *last)
{
    const struct api *a = api_of(dom);
    if (strcmp(op, "malloc") == 0)
        return a->malloc(size);
    if (strcmp(op, "calloc") == 0)
        return a->calloc(size, 1);
    if (strcmp(op, "realloc") == 0)
        return a->realloc(last, size);
    say("failprobe: unknown operation\n");
    exit(2);
}

static void do_free(const char *dom, void *p)
{
    api_of(dom)->free(p);
}
#endif

#define MAX_LIVE 4096
static struct {
    void *p;
    const char *dom;
} live[MAX_LIVE];
static size_t nlive;

int main(int argc, char **argv)
{
    char line[8192];
    unsigned n = 0;
    void *last = NULL;
    size_t last_size = 0;
    const char *last_dom = NULL;
    for (int i = 1; i < argc; i++) {
        char dom[16], op[32];
        unsigned long size = 0, count = 0;
        int star = sscanf(argv[i], "%15[a-z].%31[a-z_]=%lu*%lu", dom, op, &size, &count);
        if (star < 3) {
            say("failprobe: bad argument\n");
            return 2;
        }
        if (star == 3)
            count = 0;
        size_t len = 0;
        unsigned long times = count ? count : 1;
        if (count)
            len += (size_t)snprintf(line, sizeof line, "%u %s.%s %lu*%lu: ", n + 1, dom, op,
                                    size, count);
        for (unsigned long t = 0; t < times; t++) {
            n++;
            int is_realloc = strcmp(op, "realloc") == 0;
            if (is_realloc && last_dom && strcmp(last_dom, dom) != 0)
                last = NULL;        /* a realloc stays within its domain */
            errno = 0;
            void *p = do_op(dom, op, size, is_realloc ? last : NULL);
            int failed = p == NULL;
            const char *what = !failed ? "ok" : errno == ENOMEM ? "ENOMEM" : "NULL, errno not ENOMEM";
            size_t bad = 0;
            if (failed && is_realloc && last) {
                /* The old block must be as it was, and still usable. */
                const unsigned char *b = last;
                for (size_t j = 0; j < last_size; j++)
                    bad += b[j] != (unsigned char)j;
            }
            if (count) {
                if (len + 2 < sizeof line)
                    line[len++] = !failed ? '.' : bad ? 'D' : 'X';
            } else {
                len = (size_t)snprintf(line, sizeof line, "%u %s.%s %lu: %s%s", n, dom, op, size,
                                       what, !(failed && is_realloc && last) ? ""
                                             : bad ? ", old block damaged" : ", old block kept");
            }
            if (!failed) {
                for (size_t j = 0; j < size; j++)
                    ((unsigned char *)p)[j] = (unsigned char)j;
                if (is_realloc && last)
                    nlive--;        /* the old block, the last kept, moved into p */
                last_dom = dom[0] == 'r' ? "raw" : dom[0] == 'm' ? "mem" : "obj";
                if (nlive < MAX_LIVE) {
                    live[nlive].p = p;
                    live[nlive++].dom = last_dom;
                }
                last = p;
                last_size = size;
            }
            if (!count) {
                line[len++] = '\n';
                line[len] = '\0';
                say(line);
                len = 0;
            }
        }
        if (count) {
            line[len++] = '\n';
            line[len] = '\0';
            say(line);
        }
    }
    for (size_t i = 0; i < nlive; i++)
        do_free(live[i].dom, live[i].p);
    return 0;
}
