/*
 * trace_leaks.h - the leak check over tracing's live blocks: the source
 * leak.h asks for (tracing's table, held still during the scan), the check
 * at exit that VIGIL_LEAKS=1 arms, and what vigil_leak_check does.
 */
#ifndef VIGIL_TRACE_LEAKS_H
#define VIGIL_TRACE_LEAKS_H

#include <stddef.h>
#include <stdio.h>

/* The frames VIGIL_LEAKS=1 traces when VIGIL_TRACE does not say. */
#define VIGIL_LEAK_FRAMES 16
/* The status a leak found at exit ends the process with, unless
 * VIGIL_ERROR_EXITCODE says otherwise: LeakSanitizer's. */
#define VIGIL_LEAK_EXITCODE 23

/* Arm the check at exit (VIGIL_LEAKS=1): a leak found ends the process
 * with status exitcode.  suppressions: VIGIL_LEAK_SUPPRESSIONS, or NULL. */
void vigil__trace_leaks_at_exit(const char *suppressions, int exitcode);

/* vigil_leak_check's work, once vigil is up (vigil.h). */
size_t vigil__trace_leak_check(FILE *out);

#endif /* VIGIL_TRACE_LEAKS_H */
