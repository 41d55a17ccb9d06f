/*
 * report.c - the writer of every vigil message (see report.h for why it is
 * built the way it is), and the safe reads the reports are made with.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "check.h"
#include "os.h"
#include "report.h"

__attribute__((tls_model("initial-exec"))) _Thread_local void *vigil__caller;
__attribute__((tls_model("initial-exec"))) _Thread_local struct vigil_call vigil__call;
__attribute__((tls_model("initial-exec"))) _Thread_local int vigil__reporting;
_Atomic unsigned vigil__reporters;

/* A thread that was reporting in the parent does not exist in the child,
 * and would keep every hit of the child off for good.  Registered at the
 * first report, when the allocation pthread_atfork may make already goes
 * to the C library (vigil__reporting is raised). */
static atomic_int fork_registered;

static void reporters_child(void)
{
    atomic_store_explicit(&vigil__reporters, vigil__reporting ? 1 : 0, memory_order_relaxed);
}

void vigil__report_begin(void)
{
    if (vigil__reporting++ == 0) {
        atomic_fetch_add_explicit(&vigil__reporters, 1, memory_order_relaxed);
        if (!atomic_load_explicit(&fork_registered, memory_order_relaxed) &&
            !atomic_exchange_explicit(&fork_registered, 1, memory_order_relaxed))
            pthread_atfork(NULL, NULL, reporters_child);
    }
}

void vigil__report_end(void)
{
    if (--vigil__reporting == 0)
        atomic_fetch_sub_explicit(&vigil__reporters, 1, memory_order_relaxed);
}

static _Atomic size_t errors;
static _Atomic int abort_on_error = 1;
static _Atomic int error_exitcode;

void vigil__report_configure(int abort_flag, int exitcode)
{
    atomic_store_explicit(&abort_on_error, abort_flag, memory_order_relaxed);
    atomic_store_explicit(&error_exitcode, exitcode, memory_order_relaxed);
}

void vigil__report_init(struct vigil_report *r)
{
    r->len = 0;
    r->file = NULL;
}

void vigil__report_init_file(struct vigil_report *r, FILE *out)
{
    r->len = 0;
    r->file = out;
}

/* The program's stderr as it was at start-up, for the reports at exit:
 * some programs close stderr in exit handlers of their own (coreutils'
 * close_stdout), which run before vigil's.  Kept on a high descriptor,
 * close-on-exec, and used only while it is still the same file (a program
 * may close it and open another there).  -1: none kept. */
static int kept_fd = -1;
static dev_t kept_dev;
static ino_t kept_ino;
static atomic_int keep_once;
static atomic_int exiting;          /* the descriptor reports at exit go to; 0: not yet */

void vigil__report_keep_stderr(void)
{
    if (atomic_exchange_explicit(&keep_once, 1, memory_order_relaxed))
        return;
    struct stat st;
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
    if (fd >= 0 && fstat(fd, &st) == 0) {
        kept_dev = st.st_dev;
        kept_ino = st.st_ino;
        kept_fd = fd;
    } else if (fd >= 0) {
        close(fd);
    }
}

int vigil__report_kept_fd(void)
{
    struct stat st;
    if (kept_fd < 0 || fstat(kept_fd, &st) != 0 || st.st_dev != kept_dev ||
        st.st_ino != kept_ino)
        return -1;
    return kept_fd;
}

/* At exit, the kept duplicate only when fd 2 is closed: a forked child
 * may have made fd 2 another file, and its reports belong there.  Chosen
 * when the exit's checks begin, before they open files of their own (the
 * symbolizer's), which could take the free descriptor 2. */
void vigil__report_at_exit(void)
{
    if (atomic_load_explicit(&exiting, memory_order_relaxed))
        return;                         /* chosen by the first check at exit */
    struct stat st;
    int fd = fstat(STDERR_FILENO, &st) == 0 ? STDERR_FILENO : vigil__report_kept_fd();
    atomic_store_explicit(&exiting, fd >= 0 ? fd : STDERR_FILENO, memory_order_relaxed);
}

static int report_fd(void)
{
    int fd = atomic_load_explicit(&exiting, memory_order_relaxed);
    return fd > 0 ? fd : STDERR_FILENO;
}

void vigil__report_flush(struct vigil_report *r)
{
    int saved = errno;
    if (r->file) {
        if (r->len)
            fwrite(r->buf, 1, r->len, r->file);
        r->len = 0;
        errno = saved;
        return;
    }
    size_t done = 0;
    int fd = r->len ? report_fd() : STDERR_FILENO;
    while (done < r->len) {
        ssize_t n = write(fd, r->buf + done, r->len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;                      /* stderr is gone: nothing better to do */
        done += (size_t)n;
    }
    r->len = 0;
    errno = saved;
}

/* The buffer is full: write its whole lines, keep the partial last one. */
static void flush_lines(struct vigil_report *r)
{
    size_t keep = 0;
    while (keep < r->len && r->buf[r->len - 1 - keep] != '\n')
        keep++;
    if (keep == r->len) {
        vigil__report_flush(r);         /* one line longer than the buffer */
        return;
    }
    size_t whole = r->len - keep;
    r->len = whole;
    vigil__report_flush(r);
    memmove(r->buf, r->buf + whole, keep);
    r->len = keep;
}

static void put(struct vigil_report *r, const char *s, size_t n)
{
    while (n > 0) {
        if (r->len == sizeof r->buf)
            flush_lines(r);
        size_t room = sizeof r->buf - r->len;
        size_t take = n < room ? n : room;
        memcpy(r->buf + r->len, s, take);
        r->len += take;
        s += take;
        n -= take;
    }
}

void vigil__report_str(struct vigil_report *r, const char *s)
{
    put(r, s, strlen(s));
}

void vigil__report_char(struct vigil_report *r, char c)
{
    put(r, &c, 1);
}

void vigil__report_dec(struct vigil_report *r, unsigned long long v)
{
    char d[24];
    size_t i = sizeof d;
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put(r, d + i, sizeof d - i);
}

void vigil__report_sdec(struct vigil_report *r, long long v)
{
    if (v < 0) {
        vigil__report_char(r, '-');
        /* Negate in unsigned arithmetic: -LLONG_MIN does not fit. */
        vigil__report_dec(r, 0ULL - (unsigned long long)v);
    } else {
        vigil__report_dec(r, (unsigned long long)v);
    }
}

static const char hexdigits[] = "0123456789abcdef";

void vigil__report_hex(struct vigil_report *r, uintptr_t v)
{
    char d[2 + 2 * sizeof v];
    size_t i = sizeof d;
    do {
        d[--i] = hexdigits[v & 15];
        v >>= 4;
    } while (v);
    d[--i] = 'x';
    d[--i] = '0';
    put(r, d + i, sizeof d - i);
}

void vigil__report_byte(struct vigil_report *r, unsigned char b)
{
    char d[2] = { hexdigits[b >> 4], hexdigits[b & 15] };
    put(r, d, 2);
}

void vigil__report_address(struct vigil_report *r, const void *addr)
{
    vigil__report_hex(r, (uintptr_t)addr);
    Dl_info info;
    /* dladdr reads the loader's tables, never the heap. */
    if (!addr || !dladdr(addr, &info))
        return;
    vigil__report_str(r, " (");
    if (info.dli_sname && info.dli_saddr) {
        vigil__report_str(r, info.dli_sname);
        vigil__report_char(r, '+');
        vigil__report_hex(r, (uintptr_t)addr - (uintptr_t)info.dli_saddr);
        if (info.dli_fname && *info.dli_fname) {
            vigil__report_str(r, " in ");
            vigil__report_str(r, info.dli_fname);
        }
    } else if (info.dli_fname && *info.dli_fname) {
        /* No exported symbol (a static function, or a program linked without
         * -rdynamic): the file offset is what addr2line -e wants. */
        vigil__report_str(r, info.dli_fname);
        vigil__report_char(r, '+');
        vigil__report_hex(r, (uintptr_t)addr - (uintptr_t)info.dli_fbase);
    } else {
        vigil__report_str(r, "unknown");
    }
    vigil__report_char(r, ')');
}

void vigil__report_error(struct vigil_report *r)
{
    atomic_fetch_add_explicit(&errors, 1, memory_order_relaxed);
    int abort_flag = atomic_load_explicit(&abort_on_error, memory_order_relaxed);
    int exitcode = atomic_load_explicit(&error_exitcode, memory_order_relaxed);
    if (abort_flag && exitcode) {
        /* _exit, not exit: atexit handlers and stdio would run on a heap
         * known to be damaged, possibly inside malloc with its lock held. */
        vigil__report_str(r, "vigil: exiting with status ");
        vigil__report_dec(r, (unsigned long long)exitcode);
        vigil__report_str(r, " (VIGIL_ERROR_EXITCODE; VIGIL_ABORT=0 reports and continues)\n");
        vigil__report_flush(r);
        _exit(exitcode);
    }
    if (abort_flag) {
        vigil__report_str(r, "vigil: aborting (VIGIL_ABORT=0 reports and continues)\n");
        vigil__report_flush(r);
        abort();
    }
    vigil__report_flush(r);
}

size_t vigil__report_errors(void)
{
    return atomic_load_explicit(&errors, memory_order_relaxed);
}

#ifdef VIGIL_ASSERTIONS
void vigil__assert_failed(const char *cond, const char *file, int line, const char *func)
{
    struct vigil_report r;
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: internal check failed: ");
    vigil__report_str(&r, cond);
    vigil__report_str(&r, ", in ");
    vigil__report_str(&r, func);
    vigil__report_str(&r, " at ");
    vigil__report_str(&r, file);
    vigil__report_char(&r, ':');
    vigil__report_dec(&r, (unsigned long long)line);
    vigil__report_char(&r, '\n');
    vigil__report_flush(&r);
    abort();
}
#endif

/* Settings are read inside malloc, on any heap state: the report buffer,
 * not stdio.  The value is cut at 200 bytes. */
void vigil__report_bad_setting(const char *var, const char *value, const char *accepted)
{
    struct vigil_report r;
    char cut[201];
    size_t n = strlen(value);
    if (n > 200)
        n = 200;
    memcpy(cut, value, n);
    cut[n] = '\0';
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: ");
    vigil__report_str(&r, var);
    vigil__report_char(&r, '=');
    vigil__report_str(&r, cut);
    vigil__report_str(&r, " is not valid; accepted: ");
    vigil__report_str(&r, accepted);
    vigil__report_str(&r, "; using the default\n");
    vigil__report_flush(&r);
}

/* ---- reading memory that may not be there ---- */

int vigil__mapped(const void *p, size_t n)
{
    uintptr_t ps = vigil__os_page_size();
    uintptr_t a = (uintptr_t)p;
    if (n == 0)
        n = 1;
    if (a + n < a)
        return 0;
    uintptr_t first = a & ~(ps - 1);
    uintptr_t last = (a + n - 1) & ~(ps - 1);
    int saved = errno;
    int ok = 1;
    /* One page at a time keeps the result vector on the stack; the ranges
     * asked about here span at most a few pages. */
    for (uintptr_t pg = first; ok; pg += ps) {
        unsigned char vec;
        if (mincore((void *)pg, ps, &vec) != 0)
            ok = 0;                     /* ENOMEM: not mapped */
        if (pg == last)
            break;
    }
    errno = saved;
    return ok;
}

int vigil__peek(void *dst, const void *src, size_t n)
{
    if (n == 0)
        return 1;
    if ((uintptr_t)src + n < (uintptr_t)src)
        return 0;
    int saved = errno;
    /* The kernel does the read, so an unmapped or PROT_NONE page is an EFAULT
     * instead of a SIGSEGV; memcheck does not see the read either, which is
     * right: the report reads the damaged bytes on purpose. */
    struct iovec local = { dst, n };
    struct iovec remote = { (void *)src, n };
    ssize_t got = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    int ok;
    if (got == (ssize_t)n)
        ok = 1;
    else if (got >= 0 || errno == EFAULT)
        ok = 0;
    else if (vigil__mapped(src, n)) {
        /* process_vm_readv is refused (seccomp, no ptrace rights): fall back
         * to mincore, which misses only PROT_NONE pages. */
        memcpy(dst, src, n);
        ok = 1;
    } else {
        ok = 0;
    }
    errno = saved;
    return ok;
}
