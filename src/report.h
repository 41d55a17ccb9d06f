/*
 * report.h - every message vigil writes: the debug hooks' reports, the tools'
 * notes, a refused setting.
 *
 * A report is written when the heap is known to be damaged, often from inside
 * malloc or free, so the writer allocates nothing and uses no stdio: text is
 * formatted into a buffer on the caller's stack and handed to write(2) a whole
 * buffer at a time, so reports from two threads do not interleave mid-line.
 * Reading the damaged heap goes through vigil__peek(), which cannot fault.
 */
#ifndef VIGIL_REPORT_H
#define VIGIL_REPORT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VIGIL_REPORT_BUFSIZE 2048

/* The program's call site of the vigil call now running in this thread:
 * written by the entry points (the domains, the preload), read by the
 * reports.  initial-exec: one store, no __tls_get_addr on the way in. */
extern __attribute__((tls_model("initial-exec"))) _Thread_local void *vigil__caller;

/* The program's call now running in this thread, when it came through an
 * entry point of the preload library rather than vigil's API (all zero
 * then): the C function it called ("free", "realloc"), which a report's
 * heading names, and the program's stack pointer and frame pointer at the
 * call (sp just above the return address vigil__caller), where the
 * capture of its stack starts without looking for them.  Set by the
 * preload's entry points on their slow path and put back after it, so a
 * nested call (an allocation made while a stack is captured) leaves the
 * outer call's. */
struct vigil_call {
    const char *name;
    uintptr_t sp, bp;
    /* Set by the preload's free before it hands a block to the debug
     * hooks unasked: one that is not a healthy debug block of theirs is
     * then neither checked further nor reported, but handed back with
     * free_try set to 2, for the preload to see whether it is a block of
     * its own to free around the hooks (preload.c).  Read and cleared by
     * the first free it reaches. */
    int free_try;
};
extern __attribute__((tls_model("initial-exec"))) _Thread_local struct vigil_call vigil__call;

/* Nonzero while this thread symbolizes a report's stacks.  The libraries
 * that do it (libdw) allocate, and the heap a report is about may be
 * damaged: the preload library serves this thread's allocations from the C
 * library meanwhile, never from vigil's heap.  Raised and lowered around
 * the symbolizer by whoever prints a stack, with vigil__report_begin and
 * vigil__report_end (they nest). */
extern __attribute__((tls_model("initial-exec"))) _Thread_local int vigil__reporting;
/* How many threads have vigil__reporting raised: the entry points' inline
 * hits test this one global word, which costs them a single "or" where the
 * thread's own flag cost a load of its offset, a load and a test
 * (domain.h).  A forked child counts only its own thread. */
extern __attribute__((visibility("hidden"))) _Atomic unsigned vigil__reporters;
void vigil__report_begin(void);
void vigil__report_end(void);

struct vigil_report {
    size_t len;
    FILE *file;                 /* NULL: stderr, by write(2) */
    char buf[VIGIL_REPORT_BUFSIZE];
};

void vigil__report_init(struct vigil_report *r);
/* A report for a caller's FILE (vigil_leak_check's, vigil_trace_print_top's):
 * flushed with fwrite, so only where stdio may be used (not on a damaged
 * heap, not inside malloc). */
void vigil__report_init_file(struct vigil_report *r, FILE *out);
void vigil__report_str(struct vigil_report *r, const char *s);
void vigil__report_char(struct vigil_report *r, char c);
void vigil__report_dec(struct vigil_report *r, unsigned long long v);
void vigil__report_sdec(struct vigil_report *r, long long v);
/* 0x followed by lowercase digits, no padding: the way printf's %p shows it. */
void vigil__report_hex(struct vigil_report *r, uintptr_t v);
/* Two lowercase hex digits. */
void vigil__report_byte(struct vigil_report *r, unsigned char b);
/* "0x... (symbol+0x12 in /path/file)", or less when dladdr knows less. */
void vigil__report_address(struct vigil_report *r, const void *addr);
/* Write what is buffered to stderr (or the report's FILE).  A report
 * longer than the buffer is written in pieces of whole lines as it fills
 * (a longer line is cut), so nothing is lost and lines of two threads'
 * reports do not mix. */
void vigil__report_flush(struct vigil_report *r);
/* Reports at exit go to the stderr the program started with, which it may
 * have closed by then: keep_stderr keeps a duplicate of it (once; call it
 * at start-up, where a descriptor may be made), kept_fd is that duplicate
 * while it is still the same file (-1 otherwise), and after at_exit every
 * report written to stderr goes there when fd 2 is closed. */
void vigil__report_keep_stderr(void);
int vigil__report_kept_fd(void);
void vigil__report_at_exit(void);
/* Write, count the error, then abort() (or _exit(VIGIL_ERROR_EXITCODE))
 * unless VIGIL_ABORT=0. */
void vigil__report_error(struct vigil_report *r);
size_t vigil__report_errors(void);
/* What vigil__report_error does after writing: abort unless abort_on_error
 * is 0, with _exit(exitcode) instead of abort() when exitcode is not 0.
 * The domains set it from the settings at start-up; until then it aborts. */
void vigil__report_configure(int abort_on_error, int exitcode);
/* "vigil: VAR=VALUE is not valid; accepted: ...; using the default". */
void vigil__report_bad_setting(const char *var, const char *value, const char *accepted);

/* Copy n bytes from src without faulting: 1 when every byte was readable. */
int vigil__peek(void *dst, const void *src, size_t n);
/* 1 when the pages holding [p, p+n) are mapped (their protection unknown). */
int vigil__mapped(const void *p, size_t n);

#endif /* VIGIL_REPORT_H */
