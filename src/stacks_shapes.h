/*
 * stacks_shapes.h - what libunwind found out about each return address,
 * kept so that a stack made of frames seen before is read back without it.
 *
 * A frame's canonical frame address (CFA: the stack pointer in its caller,
 * just above the return address) follows from the frame's registers by a
 * rule that depends only on where the frame is stopped, its pc:
 *   - a fixed frame: CFA = sp + k, for one k; the caller's frame pointer
 *     register is where it was, or saved at CFA - 8 * slot;
 *   - a frame built on the frame pointer (push rbp; mov rsp, rbp): CFA =
 *     rbp + 16, the caller's rbp saved at rbp.
 * When every frame of a stack has such a rule, the stack follows from the
 * program's pc, stack pointer and frame pointer at its call into vigil and
 * the words the rules read (return addresses at CFA - 8, saved frame
 * pointers): a walk reads them as it goes, with no unwind tables and no
 * libunwind.  A frame with any other rule (a signal frame, stack
 * realignment, a register saved where a slot cannot say) is opaque, and a
 * stack through it goes to libunwind every time.
 *
 * The table is the process's (a pc's rule is the same in every thread),
 * direct-mapped, one 64-bit word a pc, read and written with relaxed
 * atomics: a word is a whole (pc, rule) pair or is not the pc's.  A pc
 * pushed out by another is learnt again.
 */
#ifndef VIGIL_STACKS_SHAPES_H
#define VIGIL_STACKS_SHAPES_H

#include <stddef.h>
#include <stdint.h>

enum vigil_shape_kind {
    VIGIL_SHAPE_FIXED,          /* CFA = sp + k; rbp saved at CFA - 8 * slot, or kept (0) */
    VIGIL_SHAPE_FP,             /* CFA = rbp + 16; rbp saved at rbp */
    VIGIL_SHAPE_LAST,           /* the stack's outermost frame: nothing beyond */
    VIGIL_SHAPE_OPAQUE,         /* no rule of these: libunwind, every time */
};

/* The most frames a walk records in a trace (VIGIL_STACK_MAX_FRAMES). */
#define VIGIL_SHAPE_MAX_FRAMES 64

/* The largest k and slot an entry holds; a frame beyond them is opaque. */
#define VIGIL_SHAPE_MAX_K (2047 * 8)
#define VIGIL_SHAPE_MAX_SLOT 7

/* Record pc's rule (k and slot for VIGIL_SHAPE_FIXED only).  A fixed
 * frame beyond the limits above is recorded as opaque; a pc too high for
 * an entry is not recorded.  Maps the table at the first call (nothing
 * when that fails). */
void vigil__shape_put(uintptr_t pc, enum vigil_shape_kind kind, size_t k, unsigned slot);

/* Whether pc has an entry (a capture that learns need not learn it again). */
int vigil__shape_known(uintptr_t pc);

/* What vigil__shape_walk returns short of a stack. */
#define VIGIL_SHAPE_UNKNOWN (-1)        /* a pc not in the table: learn it */
#define VIGIL_SHAPE_NONE (-2)           /* an opaque frame, or a read would leave the stack */

/* The walk from the program's call at (pc, sp, bp): frames[0] = pc, then
 * each frame's return address, up to max frames or through the frame
 * whose rule is LAST.  Every word read lies in [lo, hi), the thread's
 * stack.  The count, or one of the values above (frames then holds
 * nothing to use).  trace, when given, gets what the walk read besides
 * the registers, frame by frame but the last: the return address at CFA -
 * 8 and the saved frame pointer it took (at CFA - 8 * slot, or at rbp),
 * as offsets from sp, and whether bp itself mattered (a frame built on the
 * frame pointer before any frame reloaded it).  Of the saved frame
 * pointers, only those a later frame built on the frame pointer used
 * (fp_needed: bit i for frame i's) decide the stack: in code without frame
 * pointers rbp is a register like any other, and the value a frame saved
 * changes from call to call.  The same registers and the same words there
 * make the same stack.  On VIGIL_SHAPE_UNKNOWN, *stop is
 * the frame whose pc is not known, with its registers, to learn it from. */
struct vigil_shape_trace {
    int bp_used;
    uint32_t cfa[VIGIL_SHAPE_MAX_FRAMES];       /* the return address at sp + cfa - 8 */
    uint32_t fp_at[VIGIL_SHAPE_MAX_FRAMES];     /* saved rbp at sp + fp_at - 1; 0: none read */
    uintptr_t fp[VIGIL_SHAPE_MAX_FRAMES];       /* its value */
    uint64_t fp_needed;                         /* bit i: fp[i] was used */
};
struct vigil_shape_stop {
    uintptr_t pc, sp, bp;
};
int vigil__shape_walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t lo, uintptr_t hi,
                      void **frames, int max, struct vigil_shape_trace *trace,
                      struct vigil_shape_stop *stop);

#endif /* VIGIL_STACKS_SHAPES_H */
