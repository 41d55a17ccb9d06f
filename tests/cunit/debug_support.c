/* debug_support.c - what the debug hooks' tests share (debug_support.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bump.h"
#include "child.h"
#include "debug.h"
#include "debug_block.h"
#include "settings.h"
#include "debug_support.h"
#include "suites.h"
#include "threads.h"
#include "vigil/annotate.h"

const struct api apis[3] = {
    { "raw", 'r', VIGIL_DOMAIN_RAW, vigil_raw_malloc, vigil_raw_calloc, vigil_raw_realloc, vigil_raw_free },
    { "mem", 'm', VIGIL_DOMAIN_MEM, vigil_mem_malloc, vigil_mem_calloc, vigil_mem_realloc, vigil_mem_free },
    { "obj", 'o', VIGIL_DOMAIN_OBJ, vigil_obj_malloc, vigil_obj_calloc, vigil_obj_realloc, vigil_obj_free },
};

/* ---- helpers ---- */

/* Tell the parent which block the report will be about. */
void announce(const void *p)
{
    printf("%p\n", p);
    fflush(stdout);
}

/* Memcheck keeps fresh data undefined and quarantined blocks inaccessible;
 * the tests look at the fill patterns on purpose. */
void may_read(const void *p, size_t n)
{
    VIGIL_MEM_DEFINED(p, n);
}

/* The first stderr line that starts with "vigil:" (memcheck's lines, when
 * the suite runs under Valgrind, come with their own prefix). */
static void vigil_line(const char *err, char *out, size_t size)
{
    const char *s = err;
    out[0] = '\0';
    while (s && *s) {
        if (strncmp(s, "vigil:", 6) == 0) {
            size_t n = strcspn(s, "\n");
            if (n >= size)
                n = size - 1;
            memcpy(out, s, n);
            out[n] = '\0';
            return;
        }
        s = strchr(s, '\n');
        if (s)
            s++;
    }
}

size_t count_reports(const char *err)
{
    size_t n = 0;
    for (const char *s = err; s && *s;) {
        if (strncmp(s, "vigil: ", 7) == 0 && strncmp(s, "vigil: aborting", 15) != 0)
            n++;
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    return n;
}

/* The address the child announced on its first stdout line. */
void announced(const struct child_result *r, char *out, size_t size)
{
    size_t n = strcspn(r->out, "\n");
    if (n >= size)
        n = size - 1;
    memcpy(out, r->out, n);
    out[n] = '\0';
}

void show(const char *what, const struct child_result *r)
{
    fprintf(stderr, "\n--- %s: exited=%d status=%d signaled=%d signo=%d\n--- stdout:\n%s"
            "--- stderr:\n%s---\n", what, r->exited, r->status, r->signaled, r->signo,
            r->out, r->err);
}

/* The child was aborted by a report whose first line is exactly
 * "vigil: <error> on block <announced address> <rest>". */
void expect_report(const struct child_result *r, const char *error, const char *rest)
{
    char addr[64], want[256], got[512];
    announced(r, addr, sizeof addr);
    snprintf(want, sizeof want, "vigil: %s on block %s %s", error, addr, rest);
    vigil_line(r->err, got, sizeof got);
    int ok = r->signaled && r->signo == SIGABRT && strcmp(got, want) == 0;
    CU_ASSERT_TRUE(r->signaled);
    CU_ASSERT_EQUAL(r->signo, SIGABRT);
    CU_ASSERT_STRING_EQUAL(got, want);
    if (!ok) {
        fprintf(stderr, "\nwant first line: %s\n", want);
        show(error, r);
    }
}

void expect_words(const struct child_result *r, const char *words)
{
    int ok = strstr(r->err, words) != NULL;
    CU_ASSERT_TRUE(ok);
    if (!ok) {
        fprintf(stderr, "\nmissing in the report: %s\n", words);
        show(words, r);
    }
}

/* The line of file that ends in the comment holding marker, so the
 * expected lines of the stacks follow the source. */
static int source_line(const char *file, const char *marker)
{
    char want[64], line[512];
    snprintf(want, sizeof want, "/* %s */\n", marker);
    FILE *f = fopen(file, "r");
    int n = 0, found = 0;
    while (f && !found && fgets(line, sizeof line, f)) {
        n++;
        size_t ll = strlen(line), wl = strlen(want);
        found = ll >= wl && strcmp(line + ll - wl, want) == 0;
    }
    if (f)
        fclose(f);
    CU_ASSERT_TRUE_FATAL(found);
    return n;
}

/* See debug_support.h. */
void expect_stack_in(const char *file, const struct child_result *r, const char *heading,
                     const char *func, const char *marker)
{
    int line = func ? source_line(file, marker) : 0;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char want[256], frame[512] = "";
    snprintf(want, sizeof want, "\n%s\n    #0 0x", heading);
    const char *s = strstr(r->err, want);
    int ok = s != NULL;
    if (s) {
        s += strlen(want) - strlen("    #0 0x");
        size_t n = strcspn(s, "\n");
        if (n >= sizeof frame)
            n = sizeof frame - 1;
        memcpy(frame, s, n);
        frame[n] = '\0';
    }
    if (ok && func) {
        char in[128], at[64];
        snprintf(in, sizeof in, " in %s ", func);
        snprintf(at, sizeof at, "/%s:%d", base, line);
        size_t fl = strlen(frame), al = strlen(at);
        ok = strstr(frame, in) && fl > al && strcmp(frame + fl - al, at) == 0;
    }
    CU_ASSERT_TRUE(ok);
    if (!ok) {
        fprintf(stderr, "\nwant after \"%s\": #0 in %s at %s:%d; got: %s\n",
                heading, func ? func : "(any)", base, line, frame);
        show(heading, r);
    }
}

/* The child ran to the end with nothing to report. */
void expect_clean(const struct child_result *r, const char *what)
{
    int ok = r->exited && r->status == 0 && strstr(r->err, "vigil:") == NULL;
    CU_ASSERT_TRUE(r->exited);
    CU_ASSERT_EQUAL(r->status, 0);
    CU_ASSERT_PTR_NULL(strstr(r->err, "vigil:"));
    if (!ok)
        show(what, r);
}

void run_debug(void (*fn)(void *), void *arg, struct child_result *r)
{
    run_child(fn, arg, r);
}

size_t quarantine(void)
{
    return vigil__settings()->quarantine;
}

/* The debugprobe in a fresh process, with env added. */
void probe(const char *cmd, const char *const env[], struct child_result *r)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", sibling_program("debugprobe"));
    const char *argv[] = { path, cmd, NULL };
    run_program(argv, env, r);
}

static size_t be_size(const unsigned char *b)
{
    size_t v = 0;
    for (size_t i = 0; i < VIGIL_DEBUG_WORD; i++)
        v = v << 8 | b[i];
    return v;
}

void check_layout(const unsigned char *p, size_t n, char id)
{
    may_read(p - VIGIL_DEBUG_HEAD, n + VIGIL_DEBUG_OVERHEAD);
    CHILD_CHECK(be_size(p - VIGIL_DEBUG_HEAD) == n, 10);
    CHILD_CHECK(p[-(long)VIGIL_DEBUG_WORD] == (unsigned char)id, 11);
    for (size_t i = 1; i < VIGIL_DEBUG_WORD; i++)
        CHILD_CHECK(p[-(long)VIGIL_DEBUG_WORD + (long)i] == 0xFD, 12);
    for (size_t i = 0; i < VIGIL_DEBUG_WORD; i++)
        CHILD_CHECK(p[n + i] == 0xFD, 13);
    CHILD_CHECK((uintptr_t)p % 16 == 0, 14);
}

