/*
 * leak_world.c - stop the other threads for a scan (see leak_world.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "leak_world.h"
#include "os.h"

#define STOP_SIGNAL SIGPWR

/* How long a thread has to answer before it is counted as unanswered. */
#define ANSWER_NS (500 * 1000 * 1000L)

static pthread_mutex_t world_lock = PTHREAD_MUTEX_INITIALIZER;

/* The stop in progress, as the handlers see it: plain statics, not the
 * caller's struct, because a thread that answers late may run its handler
 * after the stop is over.  scan_threads stays mapped then (see resume). */
static struct vigil_leak_thread *_Atomic scan_threads;
static size_t scan_nthreads;
static _Atomic int scan_generation;     /* resume_word's value during the stop */
static _Atomic int answered;
static _Atomic int resume_word;         /* the futex the handlers wait on */
/* The program's own disposition of the signal, passed what is not ours. */
static struct sigaction saved;

static long futex(_Atomic int *word, int op, int val, const struct timespec *t)
{
    return syscall(SYS_futex, (int *)word, op, val, t, NULL, 0);
}

static void copy_context(uintptr_t *regs, uintptr_t *sp, const void *uc, uintptr_t here)
{
    memset(regs, 0, VIGIL_LEAK_REGS * sizeof *regs);
    *sp = here;
    if (!uc)
        return;
#if defined(__x86_64__)
    const ucontext_t *u = uc;
    for (int i = 0; i < NGREG && i < VIGIL_LEAK_REGS; i++)
        regs[i] = (uintptr_t)u->uc_mcontext.gregs[i];
    *sp = (uintptr_t)u->uc_mcontext.gregs[REG_RSP];
#elif defined(__aarch64__)
    const ucontext_t *u = uc;
    for (int i = 0; i < 31 && i < VIGIL_LEAK_REGS; i++)
        regs[i] = (uintptr_t)u->uc_mcontext.regs[i];
    *sp = (uintptr_t)u->uc_mcontext.sp;
#else
    /* The context is on the stack the handler runs on: scanned from here. */
    (void)uc;
#endif
}

static void on_stop_signal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    int generation = atomic_load(&scan_generation);
    struct vigil_leak_thread *threads = atomic_load(&scan_threads);
    if (!threads || si->si_code != SI_TKILL || si->si_pid != getpid()) {
        /* Not the scan's: the program's own handler, if it has one. */
        if (saved.sa_flags & SA_SIGINFO) {
            if (saved.sa_sigaction)
                saved.sa_sigaction(sig, si, uc);
        } else if (saved.sa_handler != SIG_IGN && saved.sa_handler != SIG_DFL) {
            saved.sa_handler(sig);
        }
        errno = saved_errno;
        return;
    }
    int tid = (int)syscall(SYS_gettid);
    for (size_t i = 0; i < scan_nthreads; i++) {
        struct vigil_leak_thread *t = &threads[i];
        if (t->tid == tid && !t->stopped) {
            copy_context(t->regs, &t->sp, uc, (uintptr_t)&tid);
            t->stopped = 1;
            atomic_fetch_add(&answered, 1);
            futex(&answered, FUTEX_WAKE_PRIVATE, 1, NULL);
            break;
        }
    }
    /* A late answer finds resume_word moved on already and goes at once. */
    while (atomic_load(&resume_word) == generation)
        futex(&resume_word, FUTEX_WAIT_PRIVATE, generation, NULL);
    errno = saved_errno;
}

/* The other threads' ids, from /proc/self/task read with getdents64 (no
 * opendir: it allocates). */
static int list_threads(struct vigil_leak_world *w)
{
    int fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int self = (int)syscall(SYS_gettid);
    char buf[4096];
    long got;
    int ok = 0;
    while ((got = syscall(SYS_getdents64, fd, buf, sizeof buf)) > 0) {
        for (long off = 0; off < got;) {
            struct dirent64_view {
                unsigned long long ino;
                long long off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (struct dirent64_view *)(buf + off);
            off += d->reclen;
            int tid = 0;
            const char *c = d->name;
            if (*c < '0' || *c > '9')
                continue;
            for (; *c >= '0' && *c <= '9'; c++)
                tid = tid * 10 + (*c - '0');
            if (tid == self)
                continue;
            if (w->nthreads == w->cap) {
                size_t cap = w->cap ? 2 * w->cap : 64;
                struct vigil_leak_thread *t = vigil__os_map(cap * sizeof *t);
                if (!t) {
                    ok = -1;
                    break;
                }
                if (w->threads) {
                    memcpy(t, w->threads, w->nthreads * sizeof *t);
                    vigil__os_unmap(w->threads, w->cap * sizeof *t);
                }
                w->threads = t;
                w->cap = cap;
            }
            w->threads[w->nthreads++] = (struct vigil_leak_thread){ .tid = tid };
        }
        if (ok)
            break;
    }
    close(fd);
    return got < 0 ? -1 : ok;
}

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

int vigil__leak_world_stop(struct vigil_leak_world *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_lock(&world_lock);
    if (list_threads(w) != 0) {
        if (w->threads)
            vigil__os_unmap(w->threads, w->cap * sizeof *w->threads);
        pthread_mutex_unlock(&world_lock);
        return -1;
    }
    if (w->nthreads == 0)
        return 0;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_stop_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    atomic_store(&answered, 0);
    atomic_store(&scan_generation, atomic_load(&resume_word));
    scan_nthreads = w->nthreads;
    atomic_store(&scan_threads, w->threads);
    /* The handler stays installed after the first stop (a late answer must
     * never meet SIGPWR's default action, which ends the process); what
     * was there before is kept to be passed the signals that are not ours. */
    struct sigaction old;
    sigaction(STOP_SIGNAL, &sa, &old);
    if (!((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_stop_signal))
        saved = old;
    pid_t pid = getpid();
    size_t sent = 0;
    for (size_t i = 0; i < w->nthreads; i++)
        if (syscall(SYS_tgkill, pid, w->threads[i].tid, STOP_SIGNAL) == 0)
            sent++;
        else
            w->threads[i].tid = -1;     /* exited since it was listed */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int a = atomic_load(&answered);
        if ((size_t)a >= sent)
            break;
        long left = ANSWER_NS - elapsed_ns(&start);
        if (left <= 0)
            break;
        struct timespec t = { left / 1000000000L, left % 1000000000L };
        futex(&answered, FUTEX_WAIT_PRIVATE, a, &t);
    }
    for (size_t i = 0; i < w->nthreads; i++)
        if (w->threads[i].tid > 0 && !w->threads[i].stopped)
            w->unanswered++;
    return 0;
}

void vigil__leak_world_resume(struct vigil_leak_world *w)
{
    if (w->nthreads) {
        atomic_store(&scan_threads, NULL);
        atomic_fetch_add(&resume_word, 1);
        futex(&resume_word, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL);
        /* A thread that has not answered may still write its slot: then
         * the list is left mapped (a few hundred bytes, once). */
        if (!w->unanswered)
            vigil__os_unmap(w->threads, w->cap * sizeof *w->threads);
    }
    w->threads = NULL;
    w->nthreads = w->cap = 0;
    pthread_mutex_unlock(&world_lock);
}
