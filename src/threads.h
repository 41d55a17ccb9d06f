/*
 * threads.h - a number for each thread, the way ASan numbers them in its
 * reports: T0 is the main thread, then T1, T2, ... in order of creation.
 *
 * Creation order is known only where thread creation is seen: the preload
 * library interposes pthread_create and hands each new thread the next
 * number before it runs (vigil__thread_reserve in the creating thread,
 * vigil__thread_adopt as the new thread's first act).  A thread created
 * where vigil does not see it (through the API, linked rather than
 * preloaded; or with clone) takes the next number at its first question,
 * so through the API threads are numbered in the order they first call
 * into vigil.  Numbers are never reused, as ASan's are not.
 */
#ifndef VIGIL_THREADS_H
#define VIGIL_THREADS_H

/* The thread's number plus one; 0 while it has none (threads.c).
 * initial-exec: one load, no __tls_get_addr, so a report in a signal
 * handler may ask. */
extern __attribute__((tls_model("initial-exec"), visibility("hidden")))
_Thread_local unsigned vigil__thread_number_plus_one;

/* A thread's first question: numbers it. */
unsigned vigil__thread_number_first(void);

/* The calling thread's number.  Async-signal-safe after the thread's first
 * call (a thread-local load); the first call of a thread not numbered yet
 * may make one system call (gettid, to tell the main thread).  Inline:
 * debug mode asks at every malloc and free, and the call cost five times
 * the load. */
static inline unsigned vigil__thread_number(void)
{
    unsigned n = vigil__thread_number_plus_one;
    if (__builtin_expect(n != 0, 1))
        return n - 1;
    return vigil__thread_number_first();
}

/* The number the next thread created will have, taken now. */
unsigned vigil__thread_reserve(void);
/* The calling thread's number is n (a number vigil__thread_reserve gave). */
void vigil__thread_adopt(unsigned n);

#endif /* VIGIL_THREADS_H */
