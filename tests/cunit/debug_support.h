/* debug_support.h - what the debug hooks' tests share (test_debug.c,
 * test_debug_quarantine.c): the three domains' functions, the children
 * that run each case, and the checks of a report's words and stacks. */
#ifndef VIGIL_TEST_DEBUG_SUPPORT_H
#define VIGIL_TEST_DEBUG_SUPPORT_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "child.h"
#include "vigil.h"

struct api {
    const char *name;
    char id;
    vigil_domain d;
    void *(*malloc)(size_t);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void (*free)(void *);
};

extern const struct api apis[3];

void announce(const void *p);
void may_read(const void *p, size_t n);
size_t count_reports(const char *err);
void announced(const struct child_result *r, char *out, size_t size);
void show(const char *what, const struct child_result *r);
void expect_report(const struct child_result *r, const char *error, const char *rest);
void expect_words(const struct child_result *r, const char *words);
/* The report has a stack headed by the line heading, whose first frame is
 * "#0 0x... in func .../FILE:LINE" (FILE the caller's source file), LINE
 * the one of the line ending in the comment holding marker there (func
 * NULL: any frame). */
void expect_stack_in(const char *file, const struct child_result *r, const char *heading,
                     const char *func, const char *marker);
#define expect_stack(r, heading, func, marker) expect_stack_in(__FILE__, r, heading, func, marker)
void expect_clean(const struct child_result *r, const char *what);
void run_debug(void (*fn)(void *), void *arg, struct child_result *r);
size_t quarantine(void);
void probe(const char *cmd, const char *const env[], struct child_result *r);
/* The debug block at p of n bytes made by the domain whose id is id:
 * its size field, id, guards and fill as debug_block.h lays them out. */
void check_layout(const unsigned char *p, size_t n, char id);

#define CHILD_CHECK(cond, code) do { if (!(cond)) { fprintf(stderr, "child check failed: %s\n", #cond); exit(code); } } while (0)

#endif
