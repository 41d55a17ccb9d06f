/*
 * trace.h - allocation tracing as a wrapper factory: from any
 * vigil_allocator, one that records the allocation stack and size of every
 * block it hands out (trace_table.h) and forgets them as they are freed,
 * while tracing is on.  It adds nothing to the blocks, so a block may be
 * allocated through the wrapper and freed around it, or the reverse: the
 * wrapper can be put on and taken off at any time.
 *
 * A wrapper knows only the inner table it was made from; the domains make
 * and install wrappers (above the debug hooks), and start and stop the
 * recording.
 */
#ifndef VIGIL_TRACE_H
#define VIGIL_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "vigil.h"

/* The tracing wrapper of domain d around inner, into *out.  Its ctx is
 * inner's own, so a thread reading the domain's table while it is swapped
 * (the ctx and the functions are separate words) calls a working pair
 * whichever words it reads.  Identical requests share one wrapper.
 * Returns 0, writing a message, when no more can be made. */
int vigil__trace_make(vigil_domain d, const vigil_allocator *inner, vigil_allocator *out);
/* When a is a tracing wrapper, store what it wraps in inner (when not
 * NULL) and return 1. */
int vigil__trace_unwrap(const vigil_allocator *a, vigil_allocator *inner);

/* Record with n frames (1..VIGIL_STACK_MAX_FRAMES), or stop (0) and forget
 * every record.  Changing n keeps the records made so far. */
void vigil__trace_set_frames(int n);
int vigil__trace_frames(void);
/* Nanoseconds (CLOCK_MONOTONIC) since the recording started; 0 when off. */
uint64_t vigil__trace_elapsed_ns(void);

/* Record p, of size bytes, allocated by the program's call now running
 * (one the domains served without a wrapper: an aligned block), and
 * forget p as it is freed that way. */
void vigil__trace_record(void *p, size_t size);
void vigil__trace_forget(const void *p);

/* p's allocation stack, at most max frames; 0 when p is not traced. */
int vigil__trace_stack_of(const void *p, void **frames, int max);

/* Make this thread's allocations untraced until the matching leave (vigil's
 * own work: symbolizing, writing a snapshot); they nest. */
int vigil__trace_enter_own(void);
void vigil__trace_leave_own(int token);

#endif /* VIGIL_TRACE_H */
