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

/* The calling thread's number.  Async-signal-safe after the thread's first
 * call (a thread-local load); the first call of a thread not numbered yet
 * may make one system call (gettid, to tell the main thread). */
unsigned vigil__thread_number(void);

/* The number the next thread created will have, taken now. */
unsigned vigil__thread_reserve(void);
/* The calling thread's number is n (a number vigil__thread_reserve gave). */
void vigil__thread_adopt(unsigned n);

#endif /* VIGIL_THREADS_H */
