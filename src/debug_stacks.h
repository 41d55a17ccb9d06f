/*
 * debug_stacks.h - where, for the debug hooks: the origin of a block (the
 * stack and thread of the call that allocated or freed it), recorded on
 * the allocator's path, and the stacks of a report, written in the words
 * of DESIGN.md's "Stacks in reports" (ASan's):
 *
 *     vigil_mem_free called by thread T0 here:
 *         #0 0x55d0c8a1b1c9 in release /src/app/names.c:30
 *         ...
 *
 *     allocated by thread T1 here:
 *         #0 ...
 *
 * The hooks' one door to the stacks helper (capture, depot, symbolizer) and
 * to the thread numbers.
 */
#ifndef VIGIL_DEBUG_STACKS_H
#define VIGIL_DEBUG_STACKS_H

#include "debug_block.h"
#include "report.h"

/* The frames a debug block's origin and a report's bad call keep. */
#define VIGIL_DEBUG_FRAMES 16

/* The origin of the program's call into vigil now running in this thread:
 * its stack, stored in the depot, and the thread's number.  Takes no lock
 * and allocates nothing (the first call of a thread learns its stack's
 * bounds, which may allocate: through the preload that comes back here,
 * and the nested call does without). */
struct vigil_origin vigil__debug_origin_here(void);

/* "<what> by thread T<n> here:" ("vigil_mem_free called by ...", "free
 * called by ..." through the preload) and the
 * stack of the program's call now running: the bad call a report is
 * about. */
void vigil__debug_print_call(struct vigil_report *r, const char *what);

/* "<what> by thread T<n> here:" and o's stack, after a blank line; when o
 * names no stack the depot has (the record after the block was
 * overwritten, or no stack could be stored), a line that says so. */
void vigil__debug_print_origin(struct vigil_report *r, const char *what, struct vigil_origin o);

#endif /* VIGIL_DEBUG_STACKS_H */
