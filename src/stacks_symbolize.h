/*
 * stacks_symbolize.h - a stack in the reports' words, one frame a line:
 *
 *     #0 0x55d0c8a1b1c9 in make_name /src/app/names.c:14      (debug info)
 *     #1 0x7f3a... in helper (/usr/lib/libfoo.so.1+0x1a2b)    (symbols only)
 *     #2 0x7f3a... (/usr/lib/libbar.so.2+0x3c4d)              (neither)
 *     #3 0x7f3a... (<unknown module>)                         (no object)
 *
 * The address shown is the one looked up: the return address minus one,
 * inside the call instruction, as ASan shows it (addr2line gives the same
 * line).  vigil's own frames are left out and the numbering starts at #0 on
 * the first frame kept: a frame is vigil's own when it lies in a shared
 * object named libvigil* (libvigil.so, libvigil-preload.so) holding this
 * code, or when its function's name starts with "vigil_" (vigil linked
 * statically into a program, as the tests are).
 *
 * With elfutils libdw (VIGIL_HAVE_LIBDW) function, file and line come from
 * the symbol table and DWARF; libdw is opened (dlopen, never linked) and
 * the session made at the first print,
 * reused, and refreshed once when an address is in no module it knows (a
 * library loaded since).  libdw allocates with malloc: through the API
 * that is the C library's; in the preload library it would be vigil's mem
 * domain, the heap being reported on, so a caller raises vigil__reporting
 * (report.h) around the print and the preload sends those allocations to
 * the C library.  Without libdw, dladdr gives exported function names and
 * modules only.
 */
#ifndef VIGIL_STACKS_SYMBOLIZE_H
#define VIGIL_STACKS_SYMBOLIZE_H

#include "report.h"

void vigil__stack_print(struct vigil_report *r, void *const *frames, int n);

/* 1 when pred says yes to the function, the source file or the module of
 * any frame of the stack that is not vigil's (LeakSanitizer's suppressions
 * match those three); 0 otherwise.  Not from inside a print. */
int vigil__stack_any_name(void *const *frames, int n,
                          int (*pred)(const char *name, void *ctx), void *ctx);

/* End the libdw session (its memory back to malloc); the next print makes
 * a new one.  For a leak checker's clean exit, and the tests. */
void vigil__stack_symbolize_end(void);

#endif /* VIGIL_STACKS_SYMBOLIZE_H */
