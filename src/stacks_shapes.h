/*
 * stacks_shapes.h - what libunwind found out about each return address,
 * kept so that a stack made of frames seen before is read back without it.
 *
 * A frame's canonical frame address (CFA: the stack pointer in its caller,
 * just above the return address) follows from the frame's own stack
 * pointer by a rule that depends only on where the frame is stopped, its
 * pc: for a function with a fixed frame, CFA = sp + k for one k.  When
 * every frame of a stack has such a rule, the stack is a function of the
 * program's pc and stack pointer at its call into vigil and of the return
 * addresses stored at CFA - 8, which a walk reads as it goes: no unwind
 * tables, no libunwind.  A frame whose rule involves anything else (a frame
 * pointer: alloca, stack realignment; a signal frame) is marked as not
 * walkable, and a stack through it goes to libunwind every time.
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

/* What a pc's entry says, besides k. */
enum {
    VIGIL_SHAPE_UNKNOWN = -1,   /* not in the table: ask libunwind and learn */
    VIGIL_SHAPE_LAST = -2,      /* the stack's outermost frame: nothing beyond */
    VIGIL_SHAPE_OPAQUE = -3,    /* no fixed rule: libunwind, every time */
};

/* The rule of pc: k > 0 (CFA = sp + k), or one of the values above. */
long vigil__shape_get(uintptr_t pc);

/* Record pc's rule: k > 0, VIGIL_SHAPE_LAST or VIGIL_SHAPE_OPAQUE.  A k too
 * large for an entry is recorded as opaque; a pc too high for one is not
 * recorded.  Maps the table at the first call (nothing when that fails). */
void vigil__shape_put(uintptr_t pc, long k);

/* The walk: frames[0] = pc, then the return address at CFA - 8 of each
 * frame, up to max frames, or through the frame whose rule is LAST.  Every
 * address read lies in [lo, hi), the thread's stack.  The count, or a
 * negative value when a frame's rule is unknown (VIGIL_SHAPE_UNKNOWN) or
 * opaque, or a read would leave the stack: then frames holds nothing to
 * use.  cfa, when given, gets each frame's CFA - sp but the last's: where
 * the return addresses the walk read lie, relative to sp. */
int vigil__shape_walk(uintptr_t pc, uintptr_t sp, uintptr_t lo, uintptr_t hi, void **frames,
                      int max, uint32_t *cfa);

#endif /* VIGIL_STACKS_SHAPES_H */
