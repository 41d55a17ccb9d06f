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

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigil/annotate.h"
#include "os.h"
#include "report.h"
#include "stacks_capture.h"
#include "stacks_shapes.h"


/* The largest gap between two frame records believed when the bounds are
 * unknown: a frame with a large local array can be bigger, and the walk
 * then stops early, which is the safe way to be wrong. */
#define MAX_FRAME_BYTES ((uintptr_t)1 << 20)

/* Return addresses below this are not code: a zeroed or junk frame record
 * (the chain's end is a zero frame pointer; some libcs leave a zero return). */
#define MIN_CODE_ADDRESS ((uintptr_t)4096)

__attribute__((tls_model("initial-exec"))) _Thread_local uintptr_t vigil__stack_lo, vigil__stack_hi;
#define stack_lo vigil__stack_lo
#define stack_hi vigil__stack_hi
/* The thread has tried to learn them (or is trying: the allocation
 * pthread_getattr_np makes may come back to a capture). */
static __attribute__((tls_model("initial-exec"))) _Thread_local int tried;

int vigil__stack_learn_bounds(void)
{
    if (stack_hi)
        return 1;
    if (tried)
        return 0;
    tried = 1;
    /* Under memcheck the walk's plain loads would be errors of the
     * program's: in code without frame pointers the chain runs through
     * words the program never wrote.  Without the bounds every frame is
     * read with vigil__peek, which memcheck does not see. */
    if (VIGIL_RUNNING_ON_VALGRIND())
        return 0;
    /* The allocation below, back through the preload, records a call site
     * of its own; the capture that follows needs the program's. */
    void *caller = vigil__caller;
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
    vigil__caller = caller;
    return ok;
}

/* The walk, from the frame record at fp: inlined into the captures, each of
 * which starts from its own frame record, whose return address is its
 * caller's frame 0; *last is the last frame record read.  No ASan instrumentation: the
 * words read are other frames' saved registers, between their redzones. */
VIGIL_NO_SANITIZE_ADDRESS __attribute__((always_inline))
static inline int walk(uintptr_t fp, void **frames, int max, int skip, uintptr_t *last,
                       uintptr_t *records)
{
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
        else {
            if (records)
                records[n] = fp;
            frames[n++] = (void *)ret;
        }
        *last = fp;
        if (next <= fp || (!bounded && next - fp > MAX_FRAME_BYTES))
            break;
        fp = next;
    }
    return n;
}

VIGIL_NO_SANITIZE_ADDRESS __attribute__((noinline))
int vigil__stack_capture(void **frames, int max, int skip)
{
    uintptr_t last = 0;
    return walk((uintptr_t)__builtin_frame_address(0), frames, max, skip, &last, NULL);
}

#ifdef VIGIL_HAVE_LIBUNWIND
/* For the types and the names (UNW_OBJ: _ULx86_64_... on x86-64) only:
 * libunwind is opened at run time, never linked. */
#define UNW_LOCAL_ONLY
#include <libunwind.h>
#define NAME_OF_(x) #x
#define NAME_OF(x) NAME_OF_(x)
#endif

/* unw_backtrace from the libunwind vigil__stack_unwinder_load opened; NULL
 * until then, or for good when there is none. */
typedef int (*backtrace_fn)(void **, int);
static _Atomic(backtrace_fn) unw_backtrace_fn;

#ifdef VIGIL_HAVE_LIBUNWIND
/* The cursor interface, for the captures that learn frame rules
 * (stacks_shapes.h): set before unw_backtrace_fn is published, NULL
 * (step) when one is missing. */
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_save_loc)(unw_cursor_t *, int, unw_save_loc_t *);
} unw;
#endif

int vigil__stack_unwinder_load(void)
{
#ifdef VIGIL_HAVE_LIBUNWIND
    static _Atomic int tried;
    if (atomic_load_explicit(&unw_backtrace_fn, memory_order_acquire))
        return 1;
    if (atomic_exchange(&tried, 1))
        return atomic_load_explicit(&unw_backtrace_fn, memory_order_acquire) != NULL;
    /* Under memcheck libunwind's probing reads are errors the user would
     * see, and memcheck shows its own stacks: frame pointers only.  Under
     * ThreadSanitizer its thread-exit destructor takes a mutex after TSan
     * has finished the thread, which crashes every thread that unwound. */
    if (VIGIL_RUNNING_ON_VALGRIND() || VIGIL_TSAN_ENABLED)
        return 0;
    /* RTLD_LOCAL: its symbols stay out of the global scope (see configure.ac). */
    void *h = dlopen(VIGIL_LIBUNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return 0;
    backtrace_fn fn = (backtrace_fn)dlsym(h, "unw_backtrace");
    if (!fn)
        return 0;
    /* Each thread its own cache of unwind rules: the shared one takes a
     * lock, with every signal blocked and unblocked again (two system
     * calls), at each frame its fast path has not met before. */
    typedef int (*policy_fn)(unw_addr_space_t, unw_caching_policy_t);
    typedef int (*size_fn)(unw_addr_space_t, size_t, int);
    policy_fn policy = (policy_fn)dlsym(h, NAME_OF(unw_set_caching_policy));
    size_fn size = (size_fn)dlsym(h, NAME_OF(unw_set_cache_size));
    unw_addr_space_t *local = dlsym(h, NAME_OF(unw_local_addr_space));
    if (policy && local)
        policy(*local, UNW_CACHE_PER_THREAD);
    /* A big program meets thousands of call sites; a miss in the default
     * 128 rules walks the loaded objects (dl_iterate_phdr), signals
     * blocked. */
    if (size && local)
        size(*local, 4096, 0);
    unw.getcontext = (int (*)(unw_context_t *))dlsym(h, NAME_OF(unw_tdep_getcontext));
    unw.init_local = (int (*)(unw_cursor_t *, unw_context_t *))dlsym(h, NAME_OF(unw_init_local));
    unw.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, NAME_OF(unw_get_reg));
    unw.get_save_loc = (int (*)(unw_cursor_t *, int, unw_save_loc_t *))dlsym(h, NAME_OF(unw_get_save_loc));
    if (unw.getcontext && unw.init_local && unw.get_reg && unw.get_save_loc)
        unw.step = (int (*)(unw_cursor_t *))dlsym(h, NAME_OF(unw_step));
    atomic_store_explicit(&unw_backtrace_fn, fn, memory_order_release);
    return 1;
#else
    return 0;
#endif
}

/* How many frames of buf the unwinder's first ones are: its own call from
 * the capture function that asked. */
#define UNWIND_SELF 1

/* The most frames of vigil's own that may lie between a capture and the
 * program's call into vigil (preload -> domain -> wrappers -> capture). */
#define VIGIL_DEPTH 16

/* noinline, so the frame unw_backtrace reports first is this one. */
__attribute__((noinline))
int vigil__stack_capture_unwind(void **frames, int max, int skip)
{
    backtrace_fn bt = atomic_load_explicit(&unw_backtrace_fn, memory_order_acquire);
    if (!bt || max <= 0)
        return 0;
    /* bt's first address is in this function (where it returns to); the
     * caller's frame 0 is the next. */
    void *buf[UNWIND_SELF + VIGIL_DEPTH + VIGIL_STACK_MAX_FRAMES];
    int drop = UNWIND_SELF + (skip > 0 ? skip : 0);
    int want = drop + max;
    if (want > (int)(sizeof buf / sizeof buf[0]))
        want = (int)(sizeof buf / sizeof buf[0]);
    int got = bt(buf, want);
    int n = 0;
    for (int i = drop; i < got && n < max; i++)
        frames[n++] = buf[i];
    return n;
}

/*
 * Which capture a stack gets.  The frame walk is exact as far as its chain
 * goes, and a few nanoseconds a frame; libunwind reads the unwind tables,
 * about five times slower (bench/stacks), but passes frames built without
 * frame pointers, which end the walk's chain early, or (rarely: the frame
 * pointer register holding a stack address) send it astray.  The walk is
 * trusted only where it is known to be whole: when its chain ends at the
 * thread's outermost frame record, the one a whole chain always ends at
 * (main's, or a thread function's: the frames beyond it are the C
 * library's, built without frame pointers).  Each thread learns that frame
 * once, from a capture whose walk and unwind agree: the walk's frames are
 * the unwinder's first ones and every frame the unwinder found beyond them
 * is in the C library.  Until then, or where the chain ends elsewhere,
 * libunwind's stack is taken, when it is loaded.
 */
static __attribute__((tls_model("initial-exec"))) _Thread_local uintptr_t base_fp;
static __attribute__((tls_model("initial-exec"))) _Thread_local unsigned learn_tries;

/* Captures a thread compares before it stops trying to learn its
 * outermost frame (code without frame pointers all through). */
#define LEARN_TRIES 64

/* The C library's mapping, [lo, hi): the object abort is in (the C
 * library's in every link of vigil), from its loadable segments, learnt
 * once.  dladdr, asked of every frame, searched the library's symbols
 * each time (800,000 instructions a call under gcc's cc1). */
static struct {
    uintptr_t lo, hi;
} libc_map;
static pthread_once_t libc_once = PTHREAD_ONCE_INIT;

static int find_libc(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    (void)arg;
    uintptr_t a = (uintptr_t)abort, lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t s = info->dlpi_addr + ph->p_vaddr;
        if (s < lo)
            lo = s;
        if (s + ph->p_memsz > hi)
            hi = s + ph->p_memsz;
    }
    if (a < lo || a >= hi)
        return 0;
    libc_map.lo = lo;
    libc_map.hi = hi;
    return 1;
}

static void learn_libc(void)
{
    dl_iterate_phdr(find_libc, NULL);
}

static int in_libc(const void *pc)
{
    pthread_once(&libc_once, learn_libc);
    return (uintptr_t)pc >= libc_map.lo && (uintptr_t)pc < libc_map.hi;
}

/* Whether walk's n frames, ending at frame record last, are the unwinder's
 * first n of its u frames, the rest being the C library's: then last is
 * the thread's outermost frame record.  The walk's last frame is where that
 * record returns to, the C library itself for main and a thread function
 * (__libc_start_call_main, start_thread); the unwinder's very last frame
 * may be the program's entry point (_start, built without a frame record),
 * but any other frame of the program beyond the walk means the walk
 * stopped short (a capture before main, from a constructor the loader
 * calls, or from a callback of the C library's, is never learnt). */
static int whole(void *const *fp, int n, void *const *un, int u)
{
    /* A walk that ends in the program is not whole, whatever the unwinder
     * finds beyond: main built without a frame record (gcc -O2) leaves the
     * chain at main's callee, whose record would be taken for the
     * outermost, and every later stack from main cut there. */
    if (n <= 0 || u < n || !in_libc(fp[n - 1]))
        return 0;
    for (int i = 0; i < n; i++)
        if (fp[i] != un[i])
            return 0;
    for (int i = n; i < u - 1; i++)
        if (!in_libc(un[i]))
            return 0;
    return 1;
}

#if defined(VIGIL_HAVE_LIBUNWIND) && defined(__x86_64__)
#define LEARN_SHAPES 1

/* Whether pc may be a signal frame's (the kernel's return into
 * rt_sigreturn: mov $15,%rax; syscall), read directly rather than asked
 * of libunwind, whose every read of memory checks it with a system call.
 * pc has unwind information, so its page is mapped; one that ends within
 * the sequence counts as a signal frame. */
VIGIL_NO_SANITIZE_ADDRESS
static int maybe_signal_frame(unw_word_t pc)
{
    static const unsigned char sigreturn[9] = { 0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05 };
    if ((pc & (VIGIL_MIN_PAGE - 1)) > VIGIL_MIN_PAGE - sizeof sigreturn)
        return 1;
    return memcmp((const void *)(uintptr_t)pc, sigreturn, sizeof sigreturn) == 0;
}

/* The rule of the frame the cursor was at before its step (pc at sp, its
 * frame pointer register bp) to its caller at cfa returning to next, the
 * caller's frame pointer saved at *saved (stacks_shapes.h).  Fixed: not a
 * signal frame, the return address where x86-64 keeps it, at CFA - 8, and
 * the caller's frame pointer kept or saved in this frame.  Built on the
 * frame pointer: the caller's saved at the address the register holds,
 * the CFA 16 above it, and not the CFA in the word below: a function that
 * realigns its stack through a register (gcc's DRAP) keeps the real CFA
 * there, and only by chance 16 above its frame pointer.  Anything else is
 * opaque. */
VIGIL_NO_SANITIZE_ADDRESS
static void learn_frame(unw_word_t pc, unw_word_t sp, unw_word_t bp, unw_word_t cfa,
                        unw_word_t next, const unw_save_loc_t *saved)
{
    enum vigil_shape_kind kind = VIGIL_SHAPE_OPAQUE;
    size_t k = 0;
    unsigned slot = 0;
    int ra_there = cfa > sp && cfa - sizeof(uintptr_t) >= stack_lo && cfa <= stack_hi &&
                   *(const uintptr_t *)(uintptr_t)(cfa - sizeof(uintptr_t)) == next;
    int in_frame = saved->type == UNW_SLT_MEMORY && saved->u.addr >= sp && saved->u.addr < cfa;
    if (!ra_there) {
        kind = VIGIL_SHAPE_OPAQUE;
    } else if (in_frame && saved->u.addr == bp) {
        if (cfa == bp + 2 * sizeof(uintptr_t) && bp - sizeof(uintptr_t) >= stack_lo &&
            *(const uintptr_t *)(uintptr_t)(bp - sizeof(uintptr_t)) != cfa)
            kind = VIGIL_SHAPE_FP;
    } else if (saved->type == UNW_SLT_NONE ||
               (saved->type == UNW_SLT_MEMORY && saved->u.addr < sp)) {
        kind = VIGIL_SHAPE_FIXED;           /* the register is the callee's still */
        k = (size_t)(cfa - sp);
    } else if (in_frame && (cfa - saved->u.addr) % sizeof(uintptr_t) == 0) {
        kind = VIGIL_SHAPE_FIXED;
        k = (size_t)(cfa - sp);
        slot = (unsigned)((cfa - saved->u.addr) / sizeof(uintptr_t));
    }
    vigil__shape_put(pc, kind, k, slot);
}

/* libunwind blocks every signal and unblocks them again (two system calls,
 * 300 ns each here) around each lock it takes and each search of the
 * loaded objects: some ten times for each pc it is asked of, 82,000 calls
 * on gcc's cc1.  A capture that learns blocks them once instead, for all
 * the pcs it learns, and while it holds them libunwind's own calls are
 * answered from the mask it would have seen (vigil__stack_sigmask, through
 * the preload's sigprocmask), with no system call: the thread's real mask,
 * every signal blocked, is as strict as any libunwind sets.  The masks
 * live in the capture's frame and the thread has only a pointer to them:
 * initial-exec thread-local storage is what a dlopen of libvigil.so draws
 * on, and two masks are 256 bytes of it. */
struct sig_hold {
    sigset_t saved;             /* the mask to put back */
    sigset_t seen;              /* the mask the thread's own calls see */
};
static __attribute__((tls_model("initial-exec"))) _Thread_local struct sig_hold *sigs;

int vigil__stack_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    struct sig_hold *h = sigs;
    if (__builtin_expect(!h, 1))
        return 0;
    sigset_t was = h->seen;
    int saved_errno = errno;    /* sigaddset refuses the C library's own signals */
    if (set) {
        if (how == SIG_SETMASK) {
            h->seen = *set;
        } else if (how == SIG_BLOCK || how == SIG_UNBLOCK) {
            for (int s = 1; s < NSIG; s++)
                if (sigismember(set, s) == 1) {
                    if (how == SIG_BLOCK)
                        sigaddset(&h->seen, s);
                    else
                        sigdelset(&h->seen, s);
                }
        } else {
            return 0;           /* the real call's EINVAL */
        }
    }
    if (old)
        *old = was;
    errno = saved_errno;
    return 1;
}

/* 1 when this call blocked the signals, and must put them back: h then
 * holds the masks until sigs_release. */
static int sigs_hold(struct sig_hold *h)
{
    if (sigs)
        return 0;
    sigset_t all;
    sigfillset(&all);
    if (pthread_sigmask(SIG_SETMASK, &all, &h->saved) != 0)
        return 0;
    h->seen = all;
    sigs = h;
    return 1;
}

/* No handler runs between the two: every signal is still blocked. */
static void sigs_release(struct sig_hold *h)
{
    sigs = NULL;
    pthread_sigmask(SIG_SETMASK, &h->saved, NULL);
}

/* Learn the rule of the frame at pc, whose stack pointer is sp and frame
 * pointer bp: one step of libunwind from a context that holds them (the
 * other registers are this function's; no rule this learns reads them).
 * 0 when libunwind could not start there: nothing learnt. */
VIGIL_NO_SANITIZE_ADDRESS __attribute__((noinline))
static int learn_at(uintptr_t pc, uintptr_t sp, uintptr_t bp)
{
    unw_context_t uc;
    unw_cursor_t cur;
    unw_word_t cfa, next;
    unw_save_loc_t saved;
    if (!unw.step || pc == 0 || unw.getcontext(&uc) != 0)
        return 0;
    uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
    uc.uc_mcontext.gregs[REG_RSP] = (greg_t)sp;
    uc.uc_mcontext.gregs[REG_RBP] = (greg_t)bp;
    if (unw.init_local(&cur, &uc) != 0)
        return 0;
    int r = unw.step(&cur);
    if (r == 0)
        vigil__shape_put(pc, VIGIL_SHAPE_LAST, 0, 0);
    else if (r < 0 || maybe_signal_frame(pc) || unw.get_reg(&cur, UNW_REG_IP, &next) < 0 ||
             unw.get_reg(&cur, UNW_REG_SP, &cfa) < 0 ||
             unw.get_save_loc(&cur, UNW_X86_64_RBP, &saved) < 0)
        vigil__shape_put(pc, VIGIL_SHAPE_OPAQUE, 0, 0);
    else
        learn_frame(pc, sp, bp, cfa, next, &saved);
    return 1;
}
#endif

#ifndef LEARN_SHAPES
int vigil__stack_sigmask(int how, const sigset_t *set, sigset_t *old)
{
    (void)how;
    (void)set;
    (void)old;
    return 0;                   /* nothing learnt: never held */
}
#endif

/* Where the program's call into vigil is among the first frames: the
 * first frame equal to caller; 0 when it is not there. */
static int caller_at(void *const *frames, int n, const void *caller)
{
    int limit = n < VIGIL_DEPTH ? n : VIGIL_DEPTH;
    for (int i = 0; caller && i < limit; i++)
        if (frames[i] == caller)
            return i;
    return 0;
}

VIGIL_NO_SANITIZE_ADDRESS __attribute__((always_inline))
static inline int capture(void **frames, int max, struct vigil_stack_where *where)
{
    if (where)
        where->sp = 0;
    if (max <= 0)
        return 0;
    if (max > VIGIL_STACK_MAX_FRAMES)
        max = VIGIL_STACK_MAX_FRAMES;
    /* Read once: libunwind's first use in a thread allocates (its
     * thread-local state), and an allocation through vigil records its
     * own caller. */
    const void *caller = vigil__caller;
    void *buf[VIGIL_DEPTH + VIGIL_STACK_MAX_FRAMES];
    int want = VIGIL_DEPTH + max;
    uintptr_t last = 0, records[VIGIL_DEPTH + VIGIL_STACK_MAX_FRAMES];
    int n = walk((uintptr_t)__builtin_frame_address(0), buf, want, 0, &last, records);
    int trusted = n == want || (base_fp && last == base_fp);
    /* vigil's own frames keep their records, so the walk finds the
     * program's call however the program was built. */
    int from = caller_at(buf, n, caller);
    if (!trusted && atomic_load_explicit(&unw_backtrace_fn, memory_order_relaxed)) {
        void *ubuf[VIGIL_DEPTH + VIGIL_STACK_MAX_FRAMES];
        int learning = !base_fp && learn_tries < LEARN_TRIES;
#ifdef LEARN_SHAPES
        /* The program's stack pointer at its call is just above the
         * return address in the frame record of vigil's entry point. */
        if (!learning && stack_hi && from < n && buf[from] == caller &&
            records[from] >= stack_lo && records[from] < stack_hi - 2 * sizeof(uintptr_t)) {
            uintptr_t sp0 = records[from] + 2 * sizeof(uintptr_t);
            uintptr_t bp0 = *(const uintptr_t *)records[from];
            int k, held = 0;
            struct vigil_shape_stop stop;
            struct sig_hold hold;
            /* Each pc met the first time is learnt, and the walk starts
             * again: it goes further each time. */
            for (int tries = 0;; tries++) {
                k = vigil__shape_walk((uintptr_t)caller, sp0, bp0, stack_lo, stack_hi, frames,
                                      max, where ? &where->trace : NULL, &stop);
                if (k != VIGIL_SHAPE_UNKNOWN || tries == max)
                    break;
                if (!tries)
                    held = sigs_hold(&hold);
                if (!learn_at(stop.pc, stop.sp, stop.bp))
                    break;
            }
            if (held)
                sigs_release(&hold);
            if (k > 0 && where) {
                where->sp = sp0;
                where->bp = bp0;
            }
            if (k > 0)
                return k;
        }
#endif
        /* Unwinding costs a few nanoseconds a frame: no more than are
         * kept, but for the comparison that learns the outermost frame. */
        int u = vigil__stack_capture_unwind(ubuf, learning || !from ? want : from + max, 1);
        if (learning) {
            learn_tries++;
            if (whole(buf, n, ubuf, u)) {
                base_fp = last;
                u = 0;      /* the walk's frames are the stack */
            }
        }
        if (u > 0) {
            memcpy(buf, ubuf, (size_t)u * sizeof *buf);
            n = u;
            from = caller_at(buf, n, caller);
        }
    }
    n -= from;
    if (n > max)
        n = max;
    /* memcpy: gcc makes a loop of this a rep movs, slow to start for a
     * few words. */
    memcpy(frames, buf + from, (size_t)n * sizeof *frames);
    return n;
}

VIGIL_NO_SANITIZE_ADDRESS __attribute__((noinline))
int vigil__stack_capture_here(void **frames, int max)
{
    return capture(frames, max, NULL);
}

VIGIL_NO_SANITIZE_ADDRESS __attribute__((noinline))
int vigil__stack_capture_where(void **frames, int max, struct vigil_stack_where *where)
{
    return capture(frames, max, where);
}

VIGIL_NO_SANITIZE_ADDRESS __attribute__((noinline))
struct vigil_caller_regs vigil__stack_caller_regs_walk(void)
{
    uintptr_t caller = (uintptr_t)vigil__caller, lo = stack_lo, hi = stack_hi;
    uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
    if (!caller || !hi)
        return (struct vigil_caller_regs){ 0, 0 };
    for (int i = 0; i < VIGIL_DEPTH; i++) {
        if (fp < lo || fp > hi - 2 * sizeof(uintptr_t) || (fp & (sizeof(uintptr_t) - 1)))
            break;
        const uintptr_t *rec = (const uintptr_t *)fp;
        if (rec[1] == caller)
            return (struct vigil_caller_regs){ fp + 2 * sizeof(uintptr_t), rec[0] };
        if (rec[0] <= fp)
            break;
        fp = rec[0];
    }
    return (struct vigil_caller_regs){ 0, 0 };
}

/* A place whose words do not all lie inside the thread's stack is kept
 * empty (sp 0): its check could not read them.  An offset is from sp; one
 * below it wraps and fails the same compare as one past the stack.  The
 * return addresses first, in a loop with no branch but its own, then the
 * few saved frame pointers that mattered (fp_needed's bits), rather than
 * one loop asking of every frame whether it had one. */
void vigil__stack_place_set(struct vigil_stack_place *pl, const struct vigil_stack_where *where,
                            void *const *frames, int n)
{
    const struct vigil_shape_trace *t = &where->trace;
    uintptr_t sp = where->sp, hi = stack_hi;
    pl->sp = 0;
    if (!hi || sp < stack_lo || sp >= hi - sizeof(uintptr_t) || n <= 0)
        return;
    uint64_t last = hi - sizeof(uintptr_t) - sp;        /* the last offset a word may have */
    if (last > UINT32_MAX)
        last = UINT32_MAX;
    unsigned k = (unsigned)n - 1, bad = 0;
    for (unsigned i = 0; i < k; i++) {
        uint64_t off = (uint64_t)t->cfa[i] - sizeof(uintptr_t);
        bad |= off > last;
        pl->off[i] = (uint32_t)off;
        pl->word[i] = (uintptr_t)frames[i + 1];
    }
    uint64_t need = k ? t->fp_needed & (~(uint64_t)0 >> (64 - k)) : 0;
    for (; need; need &= need - 1) {
        unsigned i = (unsigned)__builtin_ctzll(need);
        if (!t->fp_at[i])
            continue;
        uint64_t off = (uint64_t)t->fp_at[i] - 1;
        bad |= off > last;
        pl->off[k] = (uint32_t)off;
        pl->word[k++] = t->fp[i];
    }
    if (bad)
        return;
    pl->bp = where->bp;
    pl->bp_mask = t->bp_used ? ~(uintptr_t)0 : 0;
    pl->n = (uint32_t)n;
    pl->nwords = k;
    pl->caller = frames[0];
    pl->sp = sp;
}
