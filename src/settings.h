/*
 * settings.h - vigil's settings: the environment, read in one place, once.
 */
#ifndef VIGIL_SETTINGS_H
#define VIGIL_SETTINGS_H

#include <stddef.h>

enum vigil_mode {
    VIGIL_MODE_DEFAULT,
    VIGIL_MODE_DEBUG,
    VIGIL_MODE_ARENA,
    VIGIL_MODE_ARENA_DEBUG,
    VIGIL_MODE_MALLOC,
    VIGIL_MODE_MALLOC_DEBUG,
};

struct vigil_settings {
    enum vigil_mode mode;
    int mode_set;               /* VIGIL_MALLOC named a valid mode */
    int mallocstats;            /* VIGIL_MALLOCSTATS non-empty */
    int running_on_valgrind;
    int abort_on_error;         /* VIGIL_ABORT, default 1 */
    int error_exitcode;         /* VIGIL_ERROR_EXITCODE: _exit status instead
                                   of abort() after a report; 0 = abort() */
    size_t quarantine;          /* VIGIL_QUARANTINE, bytes */
    int quarantine_set;         /* ... given, not the default */
    unsigned long long break_serial; /* VIGIL_BREAK_SERIAL, 0 = none */
    int trace_frames;           /* VIGIL_TRACE: frames recorded, 0 = off */
    size_t trace_top;           /* VIGIL_TRACE_TOP: sites printed at exit, 0 = none */
    const char *trace_file;     /* VIGIL_TRACE_FILE: a massif file written at
                                   exit ("%p": the process id), or NULL */
    int leaks;                  /* VIGIL_LEAKS=1: a leak check at exit */
    const char *leak_suppressions; /* VIGIL_LEAK_SUPPRESSIONS: a file, or NULL */
    const char *fail;           /* VIGIL_FAIL as given (fail.h parses it), or NULL */
    int fail_log;               /* VIGIL_FAIL_LOG=1: each injected failure on stderr */
    const char *fail_file;      /* VIGIL_FAIL_FILE: ... appended to this file, or NULL */
    int lsan_at_exit;           /* ASan build: LeakSanitizer checks at exit
                                   (ASAN_OPTIONS / LSAN_OPTIONS detect_leaks and
                                   leak_check_at_exit, both on by default) */
    int asan_exitcode;          /* ASAN_OPTIONS exitcode (default 1): the status
                                   ASan ends a process with after a report */
    int glibc_heap_tuned;       /* GLIBC_TUNABLES sets glibc.malloc.trim_threshold
                                   or mmap_threshold: debug mode leaves glibc's
                                   heap to the user's values */
};

/* VIGIL_TRACE's largest value: the stacks' VIGIL_STACK_MAX_FRAMES. */
#define VIGIL_TRACE_MAX_FRAMES 64

#define VIGIL_DEFAULT_QUARANTINE ((size_t)4 << 20)
/* Under memcheck, the annotated arena's default: memcheck's own
 * --freelist-vol, so its descriptions of pool blocks are as unambiguous as
 * of its malloc's. */
#define VIGIL_MEMCHECK_QUARANTINE ((size_t)20000000)

/* Read at the first call (pthread_once), from any thread. */
const struct vigil_settings *vigil__settings(void);
/* What that first call does, with get in getenv's place: every variable
 * read anew through get (the fuzz harness hands it made-up values). */
void vigil__settings_read(const char *(*get)(const char *name));

/* Pure parsers, so the tests can reach every branch in one process. */
int vigil__parse_mode(const char *s, enum vigil_mode *out);
int vigil__parse_size(const char *s, size_t *out);
/* A decimal count from 0 to max, digits only. */
int vigil__parse_count(const char *s, unsigned long max, unsigned long *out);
/* "default, debug, arena, ...": the accepted VIGIL_MALLOC values, made
 * from the same table the parser reads. */
const char *vigil__accepted_modes(void);

#endif /* VIGIL_SETTINGS_H */
