/*
 * stacks_symbolize.c - a stack written one frame a line, in the format of
 * stacks_symbolize.h (ASan's), with elfutils libdwfl where it is built in
 * and dladdr otherwise.  No ELF or DWARF is read here by hand.
 *
 * Symbolizing is slow (the first print reads every loaded object's symbol
 * table and line table) and allocates, so it happens only when a report is
 * written, never where a stack is captured.  One libdwfl session serves the
 * whole process: made at the first print, kept, used under a lock (libdwfl
 * is not thread-safe), refreshed once when an address lies in no module it
 * knows.  A print nested inside a print in the same thread (libdw's malloc
 * coming back to vigil through the preload, and vigil reporting there)
 * cannot take the lock again: it uses dladdr alone.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#ifdef VIGIL_HAVE_LIBDW
#include <elfutils/libdwfl.h>
#endif

#include "lock.h"
#include "report.h"
#include "stacks_symbolize.h"

VIGIL_LOCK_DEFINE(symbolize_lock, NULL);

static __attribute__((tls_model("initial-exec"))) _Thread_local int printing;

/* What is known of one address. */
struct frame_desc {
    const char *func;           /* NULL: no symbol */
    const char *file;           /* NULL: no line information */
    int line;
    const char *module;         /* NULL: in no loaded object */
    uintptr_t module_base;
    int own;                    /* one of vigil's frames */
    char unversioned[128];      /* func without its ELF symbol version */
};

/* The base of the shared object holding vigil, when it is a libvigil*.so
 * of its own; 0 when vigil is linked into the program (then names tell). */
static uintptr_t own_base;
static int own_known;

static void learn_own_object(void)
{
    if (own_known)
        return;
    own_known = 1;
    Dl_info self;
    if (dladdr((void *)vigil__stack_print, &self) && self.dli_fname) {
        const char *b = strrchr(self.dli_fname, '/');
        b = b ? b + 1 : self.dli_fname;
        if (strncmp(b, "libvigil", 8) == 0)
            own_base = (uintptr_t)self.dli_fbase;
    }
}

static int own_name(const char *func)
{
    return func && strncmp(func, "vigil_", 6) == 0;
}

#ifdef VIGIL_HAVE_LIBDW
/* libdw is opened at the first print, never linked: linked, it and the
 * libraries it needs (libelf, libz, liblzma, libbz2) are loaded into every
 * program that uses vigil, about 600 KiB of resident memory on a small
 * program that never writes a report.  Its allocations during the print
 * go to the C library (stacks_symbolize.h), and so do dlopen's. */
#define DW_FUNCTIONS(X)                                                        \
    X(dwfl_begin) X(dwfl_end) X(dwfl_report_begin) X(dwfl_report_end)          \
    X(dwfl_linux_proc_report) X(dwfl_linux_proc_find_elf)                      \
    X(dwfl_build_id_find_debuginfo) X(dwfl_addrmodule) X(dwfl_module_info)     \
    X(dwfl_module_addrinfo) X(dwfl_module_getsrc) X(dwfl_lineinfo)             \
    X(dwfl_module_nextcu) X(dwarf_haspc) X(dwarf_getsrc_die) X(dwarf_lineno)   \
    X(dwarf_linesrc)

static struct {
#define DW_POINTER(f) __typeof__(f) *f;
    DW_FUNCTIONS(DW_POINTER)
#undef DW_POINTER
} dw;

/* 1 when every function was found; tried once, under symbolize_lock. */
static int dw_load(void)
{
    static int tried, loaded;
    if (tried)
        return loaded;
    tried = 1;
    void *h = dlopen(VIGIL_LIBDW_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return 0;
#define DW_FIND(f) dw.f = (__typeof__(f) *)dlsym(h, #f); if (!dw.f) return 0;
    DW_FUNCTIONS(DW_FIND)
#undef DW_FIND
    loaded = 1;
    return 1;
}

static Dwfl *session;
static int session_failed;

/* Filled when libdw is loaded.  Separate debug files are found by build id
 * and debuglink only: the standard callback would also ask a debuginfod
 * server over the network when DEBUGINFOD_URLS is set, from inside a
 * report. */
static Dwfl_Callbacks callbacks;

/* Report the process's modules into the session afresh; 0 on failure. */
static int session_report(void)
{
    dw.dwfl_report_begin(session);
    int bad = dw.dwfl_linux_proc_report(session, getpid());
    return dw.dwfl_report_end(session, NULL, NULL) == 0 && bad == 0;
}

static Dwfl *session_get(void)
{
    if (!session && !session_failed) {
        if (!dw_load()) {
            session_failed = 1;
            return NULL;
        }
        callbacks.find_elf = dw.dwfl_linux_proc_find_elf;
        callbacks.find_debuginfo = dw.dwfl_build_id_find_debuginfo;
        session = dw.dwfl_begin(&callbacks);
        if (session && !session_report()) {
            dw.dwfl_end(session);
            session = NULL;
        }
        session_failed = session == NULL;
    }
    return session;
}

/* The line of a, found by asking each compilation unit whether it holds a:
 * dwfl_module_getsrc finds the unit through .debug_aranges, which clang
 * does not emit unless told to (-gdwarf-aranges). */
static const char *line_by_cu(Dwfl_Module *m, uintptr_t a, int *lineno)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = NULL;
    while ((cu = dw.dwfl_module_nextcu(m, cu, &bias)) != NULL) {
        if (dw.dwarf_haspc(cu, a - bias) <= 0)
            continue;
        Dwarf_Line *l = dw.dwarf_getsrc_die(cu, a - bias);
        if (!l || dw.dwarf_lineno(l, lineno) != 0)
            return NULL;
        return dw.dwarf_linesrc(l, NULL, NULL);
    }
    return NULL;
}

static int describe_dwfl(uintptr_t a, struct frame_desc *d, int *refreshed)
{
    Dwfl *s = session_get();
    if (!s)
        return 0;
    Dwfl_Module *m = dw.dwfl_addrmodule(s, a);
    if (!m && !*refreshed) {
        *refreshed = 1;                 /* loaded since the last report? */
        if (session_report())
            m = dw.dwfl_addrmodule(s, a);
    }
    if (!m)
        return 0;
    Dwarf_Addr start;
    const char *mainfile = NULL;
    const char *name = dw.dwfl_module_info(m, NULL, &start, NULL, NULL, NULL, &mainfile, NULL);
    d->module = mainfile ? mainfile : name;
    d->module_base = (uintptr_t)start;
    GElf_Off off;
    GElf_Sym sym;
    d->func = dw.dwfl_module_addrinfo(m, a, &off, &sym, NULL, NULL, NULL);
    /* libdw names a versioned definition with its version
     * (__libc_start_main@@GLIBC_2.34); ASan and memcheck print the plain
     * name, and suppressions are written against it. */
    const char *at = d->func ? strchr(d->func, '@') : NULL;
    if (at && (size_t)(at - d->func) < sizeof d->unversioned) {
        memcpy(d->unversioned, d->func, (size_t)(at - d->func));
        d->unversioned[at - d->func] = '\0';
        d->func = d->unversioned;
    }
    int lineno = 0;
    const char *file = NULL;
    Dwfl_Line *line = dw.dwfl_module_getsrc(m, a);
    if (line)
        file = dw.dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
    else
        file = line_by_cu(m, a, &lineno);
    if (file && lineno > 0) {
        d->file = file;
        d->line = lineno;
    }
    return 1;
}
#endif

static void describe_dladdr(uintptr_t a, struct frame_desc *d)
{
    Dl_info info;
    if (!dladdr((void *)a, &info))
        return;
    if (!d->module && info.dli_fname && info.dli_fname[0]) {
        d->module = info.dli_fname;
        d->module_base = (uintptr_t)info.dli_fbase;
    }
    if (!d->func && info.dli_sname)
        d->func = info.dli_sname;
    if (own_base && (uintptr_t)info.dli_fbase == own_base)
        d->own = 1;
}

static void write_frame(struct vigil_report *r, int k, uintptr_t a, const struct frame_desc *d)
{
    vigil__report_str(r, "    #");
    vigil__report_dec(r, (unsigned long long)k);
    vigil__report_char(r, ' ');
    vigil__report_hex(r, a);
    if (d->func) {
        vigil__report_str(r, " in ");
        vigil__report_str(r, d->func);
    }
    if (d->func && d->file) {
        vigil__report_char(r, ' ');
        vigil__report_str(r, d->file);
        vigil__report_char(r, ':');
        vigil__report_dec(r, (unsigned long long)d->line);
    } else if (d->module) {
        vigil__report_str(r, " (");
        vigil__report_str(r, d->module);
        vigil__report_str(r, "+");
        vigil__report_hex(r, a - d->module_base);
        vigil__report_char(r, ')');
    } else {
        vigil__report_str(r, " (<unknown module>)");
    }
    vigil__report_char(r, '\n');
}

void vigil__stack_print(struct vigil_report *r, void *const *frames, int n)
{
    int nested = printing;
    if (!nested) {
        printing = 1;
        vigil__lock(&symbolize_lock);
        learn_own_object();
    }
    int refreshed = 0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        /* A return address is just past its call; the call is the byte
         * before (stacks.h). */
        uintptr_t a = (uintptr_t)frames[i];
        if (a)
            a--;
        struct frame_desc d = { 0 };
#ifdef VIGIL_HAVE_LIBDW
        if (!nested)
            describe_dwfl(a, &d, &refreshed);
#endif
        describe_dladdr(a, &d);
        if (d.own || own_name(d.func))
            continue;
        write_frame(r, k++, a, &d);
    }
    (void)refreshed;
    if (!nested) {
        vigil__unlock(&symbolize_lock);
        printing = 0;
    }
}

int vigil__stack_any_name(void *const *frames, int n,
                          int (*pred)(const char *name, void *ctx), void *ctx)
{
    if (printing)
        return 0;                       /* from inside a print: nothing known */
    printing = 1;
    vigil__lock(&symbolize_lock);
    learn_own_object();
    int refreshed = 0, hit = 0;
    for (int i = 0; i < n && !hit; i++) {
        uintptr_t a = (uintptr_t)frames[i];
        if (a)
            a--;
        struct frame_desc d = { 0 };
#ifdef VIGIL_HAVE_LIBDW
        describe_dwfl(a, &d, &refreshed);
#endif
        describe_dladdr(a, &d);
        if (d.own || own_name(d.func))
            continue;
        hit = (d.func && pred(d.func, ctx)) || (d.file && pred(d.file, ctx)) ||
              (d.module && pred(d.module, ctx));
    }
    (void)refreshed;
    vigil__unlock(&symbolize_lock);
    printing = 0;
    return hit;
}

void vigil__stack_symbolize_end(void)
{
    vigil__lock(&symbolize_lock);
#ifdef VIGIL_HAVE_LIBDW
    if (session)
        dw.dwfl_end(session);
    session = NULL;
    session_failed = 0;
#endif
    vigil__unlock(&symbolize_lock);
}
