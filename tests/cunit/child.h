/* child.h - run code or a program in a child process and capture what it
 * says, so a test can assert the exit status and the exact report words. */
#ifndef VIGIL_TEST_CHILD_H
#define VIGIL_TEST_CHILD_H

#include <stddef.h>

struct child_result {
    int exited;         /* exited normally ... */
    int status;         /* ... with this status */
    int signaled;       /* killed ... */
    int signo;          /* ... by this signal */
    char out[65536];    /* stdout, NUL-terminated, truncated */
    char err[65536];    /* stderr, NUL-terminated, truncated */
};

/* Fork; the child runs fn(arg) then exits 0. */
void run_child(void (*fn)(void *), void *arg, struct child_result *r);

/* Fork and exec argv[0] with env entries ("NAME=value", NULL-terminated)
 * added to the current environment; NULL value entries ("NAME") unset. */
void run_program(const char *const argv[], const char *const env[], struct child_result *r);

/* Path of a program built beside the test binary (tests/probe, ...). */
const char *sibling_program(const char *name);

#endif
