/*
 * threads.c - thread numbers (see threads.h).
 */
#include "config.h"

#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "threads.h"

__attribute__((tls_model("initial-exec"))) _Thread_local unsigned vigil__thread_number_plus_one;

/* T0 is the main thread's whatever the order of first calls: numbering
 * other threads starts at 1. */
static _Atomic unsigned next_number = 1;

unsigned vigil__thread_reserve(void)
{
    return atomic_fetch_add_explicit(&next_number, 1, memory_order_relaxed);
}

void vigil__thread_adopt(unsigned n)
{
    vigil__thread_number_plus_one = n + 1;
}

unsigned vigil__thread_number_first(void)
{
    unsigned n;
    /* The main thread is the one whose thread id is the process id. */
    n = (pid_t)syscall(SYS_gettid) == getpid() ? 0 : vigil__thread_reserve();
    vigil__thread_number_plus_one = n + 1;
    return n;
}
