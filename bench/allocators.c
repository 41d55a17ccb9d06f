/*
 * allocators.c - the allocators the bench compares, as tables of functions,
 * and the lines of the header that say what each one is.
 *
 * Allocators (columns):
 *   glibc        libc's malloc/realloc/free, called directly;
 *   vigil        vigil_mem_malloc/realloc/free with vigil's default tables
 *                (the arena);
 *   vigil-debug  the same calls with the tables vigil_setup_debug_hooks()
 *                installed (the arena wrapped by the debug hooks);
 *   mimalloc     mi_malloc/mi_realloc/mi_free from libmimalloc.so.2;
 *   jemalloc     malloc/realloc/free from libjemalloc.so.2;
 *   tcmalloc     tc_malloc/tc_realloc/tc_free from libtcmalloc_minimal.so.4.
 * mimalloc, jemalloc and tcmalloc are dlopen'ed at run time; when a library
 * is missing its column is left out.
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <gnu/libc-version.h>
#endif

#include "vigil.h"
#include "bench.h"

#ifndef MIMALLOC_SO
#define MIMALLOC_SO "libmimalloc.so.2"
#endif
#ifndef JEMALLOC_SO
#define JEMALLOC_SO "libjemalloc.so.2"
#endif
#ifndef TCMALLOC_SO
#define TCMALLOC_SO "libtcmalloc_minimal.so.4"
#endif

struct allocator bench_allocators[MAX_ALLOCATORS];
int bench_nallocators;

/* vigil: the tables of the three domains, plain and with the debug hooks.
 * All three are switched together, and a run frees every block it made
 * before the tables change: the arena hands blocks over 512 bytes to the raw
 * domain's current table, so a block made under one set of tables must be
 * freed under the same set (the debug quarantine frees its blocks late, but
 * only from a debug free or at exit, hence the debug tables at exit). */
static vigil_allocator vigil_plain[3], vigil_debug[3];
static const char *vigil_plain_name, *vigil_debug_name;
static int vigil_debug_differs;

static void install_tables(const vigil_allocator *tables)
{
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
        vigil_set_allocator((vigil_domain)d, &tables[d]);
}

void bench_use_vigil(void) { install_tables(vigil_plain); }
void bench_use_vigil_debug(void) { install_tables(vigil_debug); }

static int same_table(const vigil_allocator *a, const vigil_allocator *b)
{
    return a->ctx == b->ctx && a->malloc == b->malloc && a->calloc == b->calloc &&
           a->realloc == b->realloc && a->free == b->free;
}

void bench_setup_vigil(void)
{
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++)
        vigil_get_allocator((vigil_domain)d, &vigil_plain[d]);
    vigil_plain_name = vigil_allocator_name();
    vigil_setup_debug_hooks();
    for (int d = VIGIL_DOMAIN_RAW; d <= VIGIL_DOMAIN_OBJ; d++) {
        vigil_get_allocator((vigil_domain)d, &vigil_debug[d]);
        if (!same_table(&vigil_plain[d], &vigil_debug[d]))
            vigil_debug_differs = 1;
    }
    vigil_debug_name = vigil_allocator_name();
    bench_use_vigil();
}

/* dlsym into a function pointer without the object/function pointer cast. */
static int lookup(void *handle, const char *symbol, void *fnptr, size_t size)
{
    void *sym = dlsym(handle, symbol);
    if (!sym)
        return 0;
    memcpy(fnptr, &sym, size);
    return 1;
}
#define LOOKUP(h, name, fn) lookup((h), (name), &(fn), sizeof(fn))

static char mimalloc_note[160] = "not found";
static char jemalloc_note[200] = "not found";
static char tcmalloc_note[160] = "not found";

/* Make a dlopen'ed library the next column, its functions fn[0], fn[1] and
 * fn[2] as malloc, realloc and free; 0, and the reason in note, when it lacks
 * one of them. */
static int add_column(void *h, const char *name, const char *const fn[3], const char *so,
                      char *note, size_t note_size)
{
    struct allocator a = { .name = name };
    if (!LOOKUP(h, fn[0], a.malloc) || !LOOKUP(h, fn[1], a.realloc) ||
        !LOOKUP(h, fn[2], a.free)) {
        snprintf(note, note_size, "not used: %s lacks %s", so, fn[0]);
        return 0;
    }
    bench_allocators[bench_nallocators++] = a;
    return 1;
}

/* dlopen so and make it the next column; its handle, or NULL with the reason
 * in note. */
static void *open_column(const char *so, const char *name, const char *const fn[3],
                         char *note, size_t note_size)
{
    void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(note, note_size, "not loaded: %s", dlerror());
        return NULL;
    }
    if (!add_column(h, name, fn, so, note, note_size))
        return NULL;
    snprintf(note, note_size, "%s", so);
    return h;
}

static void load_mimalloc(void)
{
    static const char *const fn[3] = { "mi_malloc", "mi_realloc", "mi_free" };
    void *h = open_column(MIMALLOC_SO, "mimalloc", fn, mimalloc_note, sizeof mimalloc_note);
    if (!h)
        return;
    int (*version)(void) = NULL;
    if (LOOKUP(h, "mi_version", version) && version) {
        int v = version();
        snprintf(mimalloc_note, sizeof mimalloc_note, "%s, version %d.%d.%d", MIMALLOC_SO,
                 v / 100, v / 10 % 10, v % 10);
    }
}

/* tcmalloc (gperftools' tcmalloc_minimal) through its tc_ names: loaded
 * RTLD_LOCAL, it does not take over the process's malloc. */
static void load_tcmalloc(void)
{
    static const char *const fn[3] = { "tc_malloc", "tc_realloc", "tc_free" };
    void *h = open_column(TCMALLOC_SO, "tcmalloc", fn, tcmalloc_note, sizeof tcmalloc_note);
    if (!h)
        return;
    const char *(*version)(int *, int *, const char **) = NULL;
    if (LOOKUP(h, "tc_version", version) && version)
        snprintf(tcmalloc_note, sizeof tcmalloc_note, "%s, %s", TCMALLOC_SO,
                 version(NULL, NULL, NULL));
}

/*
 * jemalloc uses initial-exec TLS, more of it than glibc keeps spare for
 * dlopen ("cannot allocate memory in static TLS block").  The spare is a
 * glibc tunable read at start-up, so when that is the failure, run this
 * program again with a bigger one.
 */
#define TLS_TUNABLE "glibc.rtld.optional_static_tls=16384"
#define REEXEC_MARK "VIGIL_BENCH_REEXEC"

static void load_jemalloc(char **argv)
{
    static const char *const fn[3] = { "malloc", "realloc", "free" };
    void *h = dlopen(JEMALLOC_SO, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *err = dlerror();
        if (err && strstr(err, "static TLS") && !getenv(REEXEC_MARK)) {
            const char *old = getenv("GLIBC_TUNABLES");
            size_t len = (old ? strlen(old) + 1 : 0) + sizeof TLS_TUNABLE;
            char *tunables = malloc(len);
            if (tunables) {
                snprintf(tunables, len, "%s%s%s", old ? old : "", old ? ":" : "", TLS_TUNABLE);
                setenv("GLIBC_TUNABLES", tunables, 1);
                setenv(REEXEC_MARK, "1", 1);
                fflush(NULL);
                execv("/proc/self/exe", argv);
                unsetenv(REEXEC_MARK);   /* exec failed: carry on without */
            }
        }
        snprintf(jemalloc_note, sizeof jemalloc_note, "not loaded: %s", err ? err : "?");
        return;
    }
    if (!add_column(h, "jemalloc", fn, JEMALLOC_SO, jemalloc_note, sizeof jemalloc_note))
        return;
    int (*mallctl)(const char *, void *, size_t *, void *, size_t) = NULL;
    const char *version = NULL;
    size_t vlen = sizeof version;
    if (LOOKUP(h, "mallctl", mallctl) && mallctl &&
        mallctl("version", &version, &vlen, NULL, 0) == 0 && version) {
        char v[32];
        snprintf(v, sizeof v, "%s", version);
        v[strcspn(v, "-")] = '\0';       /* "5.3.0-0-g54eaed1..." -> "5.3.0" */
        snprintf(jemalloc_note, sizeof jemalloc_note, "%s, version %s", JEMALLOC_SO, v);
    } else {
        snprintf(jemalloc_note, sizeof jemalloc_note, "%s", JEMALLOC_SO);
    }
    if (getenv(REEXEC_MARK))
        strncat(jemalloc_note, " (run with GLIBC_TUNABLES=" TLS_TUNABLE ")",
                sizeof jemalloc_note - strlen(jemalloc_note) - 1);
}

void bench_setup_allocators(char **argv)
{
    bench_allocators[bench_nallocators++] = (struct allocator){
        "glibc", malloc, realloc, free, NULL, 0 };
    bench_allocators[bench_nallocators++] = (struct allocator){
        "vigil", vigil_mem_malloc, vigil_mem_realloc, vigil_mem_free, bench_use_vigil, 0 };
    bench_allocators[bench_nallocators++] = (struct allocator){
        "vigil-debug", vigil_mem_malloc, vigil_mem_realloc, vigil_mem_free,
        bench_use_vigil_debug, 1 };
    load_mimalloc();
    load_jemalloc(argv);
    load_tcmalloc();
}

int bench_allocator_index(const char *name)
{
    for (int i = 0; i < bench_nallocators; i++)
        if (strcmp(bench_allocators[i].name, name) == 0)
            return i;
    return -1;
}

/* The header's lines on the allocators: which library, which tables. */
void bench_describe_allocators(void)
{
#ifdef __GLIBC__
    printf("glibc:       malloc/realloc/free, glibc %s\n", gnu_get_libc_version());
#else
    printf("glibc:       the C library's malloc/realloc/free\n");
#endif
    if (getenv("LD_PRELOAD") && *getenv("LD_PRELOAD"))
        printf("             NOTE: LD_PRELOAD=%s: the glibc column may not be glibc's malloc\n",
               getenv("LD_PRELOAD"));
    printf("vigil:       vigil_mem_*, tables \"%s\"\n",
           vigil_plain_name ? vigil_plain_name : "(custom)");
    printf("vigil-debug: vigil_mem_*, tables \"%s\" (after vigil_setup_debug_hooks)\n",
           vigil_debug_name ? vigil_debug_name : "(custom)");
    if (!vigil_debug_differs)
        printf("             NOTE: vigil_setup_debug_hooks() changed no table, so this "
               "column measures the same as \"vigil\"\n");
    printf("mimalloc:    %s\n", mimalloc_note);
    printf("jemalloc:    %s\n", jemalloc_note);
    printf("tcmalloc:    %s\n", tcmalloc_note);
}
