/*
 * stacks_capture.h - the return addresses of the calling thread's stack.
 *
 * Two ways, with one contract: frames[0] is where the caller of the capture
 * returns to, frames[1] its caller's, and so on; skip drops that many of the
 * innermost frames first (a wrapper's own); at most max are stored; the
 * count stored is returned.
 *
 * vigil__stack_capture walks the frame-pointer chain: a few loads a frame,
 * the default (see bench/stacks.c for the costs).  It never faults, never
 * allocates, takes no lock and makes no call that could: it is safe in a
 * signal handler, before main, and inside malloc.  It stops at the first
 * frame built without a frame pointer (most of libc, code built with plain
 * -O2 on x86-64), whose callers are then missing.
 *
 * vigil__stack_capture_unwind asks libunwind's local unwinder, which reads
 * the unwind tables and so passes frames without frame pointers; several
 * times slower, and 0 frames when vigil was built without libunwind.
 */
#ifndef VIGIL_STACKS_CAPTURE_H
#define VIGIL_STACKS_CAPTURE_H

#include <signal.h>
#include <stdint.h>

#include "report.h"
#include "stacks_shapes.h"
#include "vigil/annotate.h"

/* The most frames a stack holds anywhere in vigil (VIGIL_TRACE's limit). */
#define VIGIL_STACK_MAX_FRAMES 64

int vigil__stack_capture(void **frames, int max, int skip);
int vigil__stack_capture_unwind(void **frames, int max, int skip);

/* What the reports and tracing call: the stack of the program's call into
 * vigil now running on this thread.  frames[0] is vigil__caller (the return
 * address the entry point recorded) and the frames inside vigil below it
 * are dropped, so max counts the program's frames only; when vigil__caller
 * is not on the stack (not set, or a tail call), nothing is dropped and the
 * symbolizer leaves vigil's frames out.  The frame walk is used when its
 * chain reaches the thread's outermost frame; libunwind, when it is loaded,
 * where the chain breaks earlier (code without frame pointers).  Same
 * safety as vigil__stack_capture when libunwind is not used. */
int vigil__stack_capture_here(void **frames, int max);

/* Where on the thread's stack a capture read its frames, when it read them
 * by the frame rules of stacks_shapes.h: the program's stack pointer and
 * frame pointer at its call (sp, 0 when the capture was not made so; bp)
 * and the words the rules read (trace).  The same call, with the same
 * registers and the same words at those places, has the same stack: each
 * frame's rule depends on its pc alone. */
struct vigil_stack_where {
    uintptr_t sp, bp;
    struct vigil_shape_trace trace;
};

/* vigil__stack_capture_here, and where it read. */
int vigil__stack_capture_where(void **frames, int max, struct vigil_stack_where *where);

/* The thread's stack, [vigil__stack_lo, vigil__stack_hi); hi 0: not
 * learnt (vigil__stack_learn_bounds).  initial-exec so the walk reads them
 * with one load each, no call. */
extern __attribute__((tls_model("initial-exec"), visibility("hidden")))
_Thread_local uintptr_t vigil__stack_lo, vigil__stack_hi;

/* The program's stack pointer and frame pointer at its call into vigil
 * now running; sp 0: not found.  Returned in two registers: a pointer
 * out of the caller's frame kept the caller from making its last call a
 * jump. */
struct vigil_caller_regs {
    uintptr_t sp, bp;
};

/* vigil__stack_caller_regs when the preload's entry point did not say:
 * found on vigil's own frame records. */
struct vigil_caller_regs vigil__stack_caller_regs_walk(void);

/* The program's stack pointer at its call into vigil now running (just
 * above vigil__caller on the stack), and its frame pointer then; sp 0
 * when not found, or the thread's stack bounds are not known.  Inline:
 * debug mode asks at every malloc and free, and the preload's entry point
 * nearly always said where (vigil__call). */
VIGIL_NO_SANITIZE_ADDRESS
static inline struct vigil_caller_regs vigil__stack_caller_regs(void)
{
    uintptr_t caller = (uintptr_t)vigil__caller, hi = vigil__stack_hi;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    if (!caller || !hi)
        return (struct vigil_caller_regs){ 0, 0 };
    /* The return address just below that stack pointer is the caller:
     * the call is the preload's own. */
    uintptr_t sp = vigil__call.sp;
    if (__builtin_expect(sp > fp && sp <= hi - sizeof(uintptr_t) &&
                         !(sp & (sizeof(uintptr_t) - 1)) &&
                         ((const uintptr_t *)sp)[-1] == caller, 1))
        return (struct vigil_caller_regs){ sp, vigil__call.bp };
    return vigil__stack_caller_regs_walk();
}

/* A stack as a capture read it at a place, kept to tell a repeated call
 * from there: its registers and every word the rules read (each frame's
 * return address but the first, and the saved frame pointers that were
 * read), as offsets from the stack pointer and the values found there, so
 * a check is one load and one compare a word, with no branch.  frames[0]
 * is the caller. */
#define VIGIL_PLACE_FRAMES 16
#define VIGIL_PLACE_WORDS (2 * (VIGIL_PLACE_FRAMES - 1))
struct vigil_stack_place {
    uintptr_t sp, bp;           /* sp 0: empty */
    uintptr_t bp_mask;          /* all ones when bp mattered, else 0 */
    uint32_t n;                 /* frames */
    uint32_t nwords;            /* in off[] and word[] */
    void *caller;
    uint32_t off[VIGIL_PLACE_WORDS];    /* from sp, inside the thread's stack */
    uintptr_t word[VIGIL_PLACE_WORDS];
};

/* Keep in *pl the n frames (n <= VIGIL_PLACE_FRAMES) a capture read at
 * where. */
void vigil__stack_place_set(struct vigil_stack_place *pl, const struct vigil_stack_where *where,
                            void *const *frames, int n);

/* Whether the frames kept at pl are the stack of the program's call now
 * running at sp (not 0) with frame pointer bp, the caller being pl's (the
 * caller's to know): the registers that mattered and every word the rules
 * read are as they were.  Reads only inside the thread's stack: the
 * offsets were checked against it when the place was kept, and a place is
 * only ever checked by the thread that kept it, at the same stack pointer.
 * Inline, and one jump into the words' compares written out, with no loop
 * (four instructions a word, where a loop's counting took as many again):
 * the position cache asks it of a way or two on every capture. */
#define VIGIL_PLACE_WORD(i) diff |= *(const uintptr_t *)(sp + pl->off[i]) ^ pl->word[i]
VIGIL_NO_SANITIZE_ADDRESS __attribute__((always_inline))
static inline int vigil__stack_place_same(uintptr_t sp, uintptr_t bp,
                                          const struct vigil_stack_place *pl)
{
    _Static_assert(VIGIL_PLACE_WORDS == 30, "a case for each count of words");
    /* Several paths often reach one place (a program's xmalloc called from
     * two callers at the same depth): the caller's own return address,
     * word 0, tells most of them apart at once, asked before the frame
     * pointer (read only at the place's own stack pointer). */
    if (sp != pl->sp ||
        (pl->nwords && *(const uintptr_t *)(sp + pl->off[0]) != pl->word[0]) ||
        ((bp ^ pl->bp) & pl->bp_mask))
        return 0;
    uintptr_t diff = 0;
    switch (pl->nwords) {
    case 30: VIGIL_PLACE_WORD(29); /* fall through */
    case 29: VIGIL_PLACE_WORD(28); /* fall through */
    case 28: VIGIL_PLACE_WORD(27); /* fall through */
    case 27: VIGIL_PLACE_WORD(26); /* fall through */
    case 26: VIGIL_PLACE_WORD(25); /* fall through */
    case 25: VIGIL_PLACE_WORD(24); /* fall through */
    case 24: VIGIL_PLACE_WORD(23); /* fall through */
    case 23: VIGIL_PLACE_WORD(22); /* fall through */
    case 22: VIGIL_PLACE_WORD(21); /* fall through */
    case 21: VIGIL_PLACE_WORD(20); /* fall through */
    case 20: VIGIL_PLACE_WORD(19); /* fall through */
    case 19: VIGIL_PLACE_WORD(18); /* fall through */
    case 18: VIGIL_PLACE_WORD(17); /* fall through */
    case 17: VIGIL_PLACE_WORD(16); /* fall through */
    case 16: VIGIL_PLACE_WORD(15); /* fall through */
    case 15: VIGIL_PLACE_WORD(14); /* fall through */
    case 14: VIGIL_PLACE_WORD(13); /* fall through */
    case 13: VIGIL_PLACE_WORD(12); /* fall through */
    case 12: VIGIL_PLACE_WORD(11); /* fall through */
    case 11: VIGIL_PLACE_WORD(10); /* fall through */
    case 10: VIGIL_PLACE_WORD(9); /* fall through */
    case 9: VIGIL_PLACE_WORD(8); /* fall through */
    case 8: VIGIL_PLACE_WORD(7); /* fall through */
    case 7: VIGIL_PLACE_WORD(6); /* fall through */
    case 6: VIGIL_PLACE_WORD(5); /* fall through */
    case 5: VIGIL_PLACE_WORD(4); /* fall through */
    case 4: VIGIL_PLACE_WORD(3); /* fall through */
    case 3: VIGIL_PLACE_WORD(2); /* fall through */
    case 2: VIGIL_PLACE_WORD(1); /* fall through */
    default:
        break;
    }
    return diff == 0;
}
#undef VIGIL_PLACE_WORD

/* Make libunwind available to vigil__stack_capture_here: dlopen, local to
 * vigil so its _Unwind_* symbols never shadow libgcc's.  Call where a dlopen
 * is safe (start-up, vigil_trace_start), not from inside malloc; idempotent;
 * 1 when libunwind is there. */
int vigil__stack_unwinder_load(void);

/* The preload's sigprocmask asks this first: 1 when the call was answered
 * without a system call (a capture learning frame rules holds every signal
 * blocked, and the thread's calls meanwhile are libunwind's), 0 when it
 * must be made. */
int vigil__stack_sigmask(int how, const sigset_t *set, sigset_t *old);

/* Learn the calling thread's stack bounds (pthread_getattr_np), tried once
 * per thread, so every capture on the allocation path may call it first
 * (two thread-local loads once tried); 1 when they are known.  Not in a
 * signal handler: glibc allocates in it, and reads /proc/self/maps for the
 * main thread.  A nested call (that allocation coming back to vigil)
 * returns 0 at once, and vigil__caller is as it was on return.  Under
 * memcheck nothing is learnt (the walk's plain loads would be memcheck
 * errors of the program's).  Until a thread has learnt its bounds, the
 * frame walk checks every frame address instead and reads it with
 * vigil__peek (a system call a frame): still safe, slower. */
int vigil__stack_learn_bounds(void);

#endif /* VIGIL_STACKS_CAPTURE_H */
