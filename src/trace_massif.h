/*
 * trace_massif.h - a tracing snapshot written as a Valgrind massif output
 * file, for massif's viewers: ms_print (in the valgrind package) and
 * massif-visualizer read it as they read massif's own.
 */
#ifndef VIGIL_TRACE_MASSIF_H
#define VIGIL_TRACE_MASSIF_H

#include <stdio.h>

#include "trace_snapshot.h"

/* Two snapshots in massif's words: an empty one when the recording
 * started, and s as a detailed heap tree (time in ms since the start, cmd
 * from /proc/self/cmdline).  0, or -1 with errno set when writing failed
 * or no memory could be mapped to build the tree. */
int vigil__trace_massif_write(const vigil_trace_snapshot *s, FILE *out);

#endif /* VIGIL_TRACE_MASSIF_H */
