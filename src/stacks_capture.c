/*
 * stacks_capture.c - the calling thread's return addresses (see
 * stacks_capture.h for the contract): a frame-pointer walk, and libunwind's
 * local unwinder for code without frame pointers.
 *
 * The walk relies on the frame record every function built with frame
 * pointers keeps, on x86-64 and AArch64 alike: the frame pointer points at
 * two words, the caller's frame pointer and the return address.  Each step
 * is checked before it is read, so a broken chain (a frame without frame
 * pointers, whose frame-pointer register holds anything) ends the walk
 * instead of faulting:
 *   - a frame address is aligned to a word, and each is above the last
 *     (stacks grow down, so callers' frames are higher): the walk cannot loop;
 *   - when the thread's stack bounds are known, every frame lies inside
 *     them, and the reads are plain loads of the thread's own stack;
 *   - when they are not (not learnt yet, or the capture runs on a signal
 *     stack outside them), a frame is at most MAX_FRAME_BYTES above the
 *     last, and is read with vigil__peek, which cannot fault (a window
 *     of up to 512 bytes at a time, within one page).
 */
#include "config.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "vigil/annotate.h"
#include "os.h"
#include "report.h"
#include "stacks_capture.h"

#ifdef VIGIL_HAVE_LIBUNWIND
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#endif

/* The largest gap between two frame records believed when the bounds are
 * unknown: a frame with a large local array can be bigger, and the walk
 * then stops early, which is the safe way to be wrong. */
#define MAX_FRAME_BYTES ((uintptr_t)1 << 20)

/* Return addresses below this are not code: a zeroed or junk frame record
 * (the chain's end is a zero frame pointer; some libcs leave a zero return). */
#define MIN_CODE_ADDRESS ((uintptr_t)4096)

/* The thread's stack, [stack_lo, stack_hi); stack_hi == 0: not learnt.
 * initial-exec so the walk reads them with one load each, no call. */
static __attribute__((tls_model("initial-exec"))) _Thread_local uintptr_t stack_lo, stack_hi;
static __attribute__((tls_model("initial-exec"))) _Thread_local int learning;

int vigil__stack_learn_bounds(void)
{
    if (stack_hi)
        return 1;
    if (learning)
        return 0;
    learning = 1;
    int ok = 0;
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        void *addr;
        size_t size;
        if (pthread_attr_getstack(&attr, &addr, &size) == 0 && size) {
            stack_lo = (uintptr_t)addr;
            stack_hi = (uintptr_t)addr + size;
            ok = 1;
        }
        pthread_attr_destroy(&attr);
    }
    learning = 0;
    return ok;
}

/* noinline: the walk starts from this function's own frame record, whose
 * return address is the caller's frame 0.  No ASan instrumentation: the
 * words read are other frames' saved registers, between their redzones. */
VIGIL_NO_SANITIZE_ADDRESS __attribute__((noinline))
int vigil__stack_capture(void **frames, int max, int skip)
{
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    uintptr_t lo = stack_lo, hi = stack_hi;
    int bounded = hi != 0 && fp >= lo && fp < hi;
    /* The unbounded walk's copy of the stack around the frame being read:
     * small, as a signal stack may be. */
    uintptr_t win[64];
    uintptr_t win_lo = 0, win_len = 0;
    int n = 0;
    while (n < max) {
        uintptr_t rec[2];
        if (fp & (sizeof(void *) - 1))
            break;
        if (bounded) {
            if (fp > hi - sizeof rec)
                break;
            rec[0] = ((const uintptr_t *)fp)[0];
            rec[1] = ((const uintptr_t *)fp)[1];
        } else if (fp >= win_lo && fp + sizeof rec <= win_lo + win_len) {
            memcpy(rec, (const char *)win + (fp - win_lo), sizeof rec);
        } else {
            /* One system call reads a window up to the end of fp's page
             * (the next page may not be mapped): the next frames are
             * usually in it. */
            uintptr_t page_end = (fp | (VIGIL_MIN_PAGE - 1)) + 1;
            win_len = page_end - fp < sizeof win ? page_end - fp : sizeof win;
            if (win_len < sizeof rec)
                win_len = sizeof rec;
            win_lo = fp;
            if (!vigil__peek(win, (const void *)fp, win_len) &&
                (win_len = sizeof rec, !vigil__peek(win, (const void *)fp, win_len)))
                break;
            memcpy(rec, win, sizeof rec);
        }
        uintptr_t next = rec[0], ret = rec[1];
        if (ret < MIN_CODE_ADDRESS)
            break;
        if (skip > 0)
            skip--;
        else
            frames[n++] = (void *)ret;
        if (next <= fp || (!bounded && next - fp > MAX_FRAME_BYTES))
            break;
        fp = next;
    }
    return n;
}

/* noinline, so the frame unw_backtrace reports first is this one. */
__attribute__((noinline))
int vigil__stack_capture_unwind(void **frames, int max, int skip)
{
#ifdef VIGIL_HAVE_LIBUNWIND
    /* unw_backtrace's first address is in this function (where it returns
     * to); the caller's frame 0 is the next. */
    void *buf[1 + 2 * VIGIL_STACK_MAX_FRAMES];
    int drop = 1 + (skip > 0 ? skip : 0);
    int want = drop + (max > 0 ? max : 0);
    if (want > (int)(sizeof buf / sizeof buf[0]))
        want = (int)(sizeof buf / sizeof buf[0]);
    int got = unw_backtrace(buf, want);
    int n = 0;
    for (int i = drop; i < got && n < max; i++)
        frames[n++] = buf[i];
    return n;
#else
    (void)frames;
    (void)max;
    (void)skip;
    return 0;
#endif
}
