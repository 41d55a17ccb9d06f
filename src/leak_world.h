/*
 * leak_world.h - stopping every other thread of the process for a leak
 * scan, and what each one was holding in its registers and where its stack
 * pointer was.
 *
 * Signals, as the Boehm collector stops the world, rather than ptrace as
 * LeakSanitizer does: ptrace needs a separate tracer process or thread
 * (LSan clones one), fails where ptrace is restricted (Yama's ptrace_scope,
 * containers, a program already under a debugger or strace), and cannot be
 * used under Valgrind; a signal to each thread (tgkill) works everywhere a
 * process can signal itself.  The handler copies the interrupted registers
 * (the saved context, which holds the thread's live pointers) into a slot
 * the scan reads, says it has stopped, and waits on a futex until the scan
 * is over.  A thread blocked in a system call is interrupted too (the call
 * restarts or returns EINTR after, as with any handled signal).  A thread
 * that does not answer (it blocks the signal) is counted: its stack is then
 * scanned whole, which can only hide a leak, never invent one.
 *
 * The signal is SIGPWR (the Boehm collector's choice on Linux: no default
 * use in programs).  vigil's handler stays installed after the first stop,
 * and passes a SIGPWR the scan did not send to the program's own handler.
 * The caller must hold nothing the stopped threads may hold (vigil's
 * locks it needs during the scan are taken before the stop).
 */
#ifndef VIGIL_LEAK_WORLD_H
#define VIGIL_LEAK_WORLD_H

#include <stddef.h>
#include <stdint.h>

/* Register words kept for each thread (x86-64's general registers and
 * more): every one is a possible root. */
#define VIGIL_LEAK_REGS 32

struct vigil_leak_thread {
    int tid;
    int stopped;                    /* answered: sp and regs are valid */
    uintptr_t sp;                   /* the interrupted stack pointer */
    uintptr_t regs[VIGIL_LEAK_REGS];
};

struct vigil_leak_world {
    struct vigil_leak_thread *threads;  /* mapped; the other threads */
    size_t nthreads, cap;
    size_t unanswered;              /* threads that did not stop */
};

/* Stop every other thread; 0 on success (w filled), -1 when the threads
 * cannot be listed or memory for the list cannot be had (then nothing is
 * stopped).  One stop at a time in a process: a second caller waits. */
int vigil__leak_world_stop(struct vigil_leak_world *w);
/* Let them go on, and free the list. */
void vigil__leak_world_resume(struct vigil_leak_world *w);

#endif /* VIGIL_LEAK_WORLD_H */
