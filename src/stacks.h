/*
 * stacks.h - the stacks helper: where a call came from, for the reports
 * (DESIGN.md, "Stacks in reports") and for tracing.  Three roles, one file
 * each, used from above and using nothing above them:
 *
 *   stacks_capture.h    the calling thread's return addresses, cheaply and
 *                       without faulting or allocating;
 *   stacks_depot.h      each distinct stack stored once, named by a 32-bit id;
 *   stacks_symbolize.h  a stack written one frame a line, ASan's way, only
 *                       when a report is written.
 *
 * A stack is an array of return addresses, innermost first: frame i holds the
 * address the i-th call will return to, which is just after the call.  The
 * symbolizer looks up address - 1 so the line is the call's; a caller that
 * has an exact pc instead (a fault's) stores pc + 1, as ASan does.
 */
#ifndef VIGIL_STACKS_H
#define VIGIL_STACKS_H

#include "stacks_capture.h"
#include "stacks_depot.h"
#include "stacks_symbolize.h"

#endif /* VIGIL_STACKS_H */
