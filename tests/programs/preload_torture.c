/* preload_torture.c - an ordinary program (plain libc calls; it does not
 * link vigil) that tests/tools/preload.sh runs through libvigil-preload.so, to
 * check that every allocation function keeps its promises there.
 *   preload_torture which            the file each allocation function
 *                                    resolves to, one per line
 *   preload_torture all PLUGIN.so    every check below; "ok NAME" for each
 *   preload_torture serial PLUGIN.so the same without threads and fork
 *   preload_torture exit-threads     threads allocating while several of
 *                                    them call exit() at once
 *   preload_torture many-keys        40 pthread keys made before the first
 *                                    allocation
 *   preload_torture heap-top         big blocks freed and pushed through the
 *                                    quarantine; prints glibc's releasable
 *                                    top of heap ("keep BYTES")
 * Exit status 0 when everything held; a failed check says which and exits 1. */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;

#define CHECK(cond) do {                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                     \
        }                                                                   \
    } while (0)

static void done(const char *name)
{
    if (!failures)
        printf("ok %s\n", name);
    fflush(stdout);
}

/* Sizes the compiler cannot see, so it does not warn about them; and
 * allocation functions it does not know, so it neither assumes an
 * allocation succeeds nor takes a block kept after a failed realloc for a
 * use after free. */
static volatile size_t huge = SIZE_MAX, not_power_of_two = 48;
static void *(*volatile malloc_)(size_t) = malloc;
static void *(*volatile calloc_)(size_t, size_t) = calloc;
static void *(*volatile realloc_)(void *, size_t) = realloc;
static void *(*volatile reallocarray_)(void *, size_t, size_t) = reallocarray;
static void *(*volatile memalign_)(size_t, size_t) = memalign;

static void fill(void *p, int c, size_t n)
{
    memset(p, c, n);
}

static int holds(const void *p, int c, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)c)
            return 0;
    return 1;
}

/* ---- which ---- */

static int which(void)
{
    static const char *const names[] = {
        "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign",
        "aligned_alloc", "memalign", "valloc", "pvalloc", "malloc_usable_size",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        void *f = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        const char *file = f && dladdr(f, &info) && info.dli_fname ? info.dli_fname : "?";
        const char *base = strrchr(file, '/');
        printf("%s %s\n", names[i], base ? base + 1 : file);
    }
    return 0;
}

/* ---- single-threaded checks ---- */

static void basics(void)
{
    char *a = malloc(0), *b = malloc(0);
    CHECK(a && b && a != b);
    free(a);
    free(b);
    free(NULL);

    for (size_t n = 1; n < 70000; n = n * 3 + 1) {
        unsigned char *p = malloc(n);
        CHECK(p && (uintptr_t)p % 16 == 0);
        fill(p, 0x5a, n);
        size_t u = malloc_usable_size(p);
        CHECK(u >= n);
        fill(p, 0x5b, u);               /* every usable byte may be written */
        free(p);

        unsigned char *z = calloc(n, 1);
        CHECK(z && holds(z, 0, n));
        free(z);
    }
    CHECK(malloc_usable_size(NULL) == 0);

    char *s = strdup("a string copied by libc");
    CHECK(s && strcmp(s, "a string copied by libc") == 0);
    free(s);
    char *f = NULL;
    CHECK(asprintf(&f, "%d-%s", 42, "formatted") > 0 && strcmp(f, "42-formatted") == 0);
    free(f);
    done("malloc, calloc, free, malloc_usable_size, libc's own allocations");
}

static void reallocs(void)
{
    /* Grow through every size range, then shrink, keeping the contents. */
    unsigned char *p = NULL;
    size_t n = 0;
    for (size_t next = 1; next < 300000; next = next * 2 + 3) {
        p = realloc(p, next);
        CHECK(p != NULL);
        if (!p)
            return;
        CHECK(holds(p, 0x77, n));
        fill(p + n, 0x77, next - n);
        n = next;
    }
    for (size_t next = n / 3; next > 0; next /= 3) {
        p = realloc(p, next);
        CHECK(p && holds(p, 0x77, next));
        n = next;
    }
    free(p);

    int *v = reallocarray(NULL, 1000, sizeof *v);
    CHECK(v != NULL);
    for (int i = 0; i < 1000; i++)
        v[i] = i;
    v = reallocarray(v, 100000, sizeof *v);
    CHECK(v && v[999] == 999);
    free(v);
    done("realloc and reallocarray keep the contents, growing and shrinking");
}

static void errors(void)
{
    void *p = (void *)1;
    errno = 0;
    CHECK(malloc_(huge) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc_(huge / 2, 3) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(reallocarray_(NULL, huge / 2, 3) == NULL && errno == ENOMEM);
    char *keep = malloc(10);
    strcpy(keep, "survivor");
    errno = 0;
    CHECK(realloc_(keep, huge) == NULL && errno == ENOMEM);
    CHECK(strcmp(keep, "survivor") == 0);   /* a failed realloc keeps the block */
    free(keep);
    CHECK(posix_memalign(&p, 24, 10) == EINVAL);
    CHECK(posix_memalign(&p, 4, 10) == EINVAL);
    CHECK(posix_memalign(&p, 64, huge) == ENOMEM);
    CHECK(p == (void *)1);                  /* untouched on failure */
    errno = 0;
    CHECK(memalign_(64, huge) == NULL && errno == ENOMEM);
    done("impossible requests: NULL and ENOMEM or EINVAL");
}

static void alignments(void)
{
    static const size_t sizes[] = { 0, 1, 7, 16, 64, 100, 500, 513, 5000, 70000 };
    void *keep[64];
    size_t nkeep = 0;
    for (size_t align = 1; align <= ((size_t)1 << 20); align *= 2) {
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t n = sizes[i];
            void *p = memalign(align, n);
            CHECK(p && (uintptr_t)p % align == 0);
            CHECK(malloc_usable_size(p) >= n);
            fill(p, 1, n);
            void *q = aligned_alloc(align, n);
            CHECK(q && (uintptr_t)q % align == 0);
            fill(q, 2, n);
            void *r = NULL;
            if (align >= sizeof(void *)) {
                CHECK(posix_memalign(&r, align, n) == 0 && (uintptr_t)r % align == 0);
                fill(r, 3, n);
            }
            /* Aligned blocks can be reallocated, and freed in any order. */
            q = realloc(q, n + 100);
            CHECK(q && holds(q, 2, n));
            free(p);
            if (nkeep < sizeof keep / sizeof keep[0])
                keep[nkeep++] = q;
            else
                free(q);
            free(r);
        }
    }
    while (nkeep)
        free(keep[--nkeep]);

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *v = valloc(100), *w = pvalloc(100);
    CHECK(v && (uintptr_t)v % page == 0);
    CHECK(w && (uintptr_t)w % page == 0 && malloc_usable_size(w) >= page);
    fill(w, 4, page);                       /* pvalloc rounds up to a page */
    free(v);
    free(w);
    /* An alignment that is not a power of two is rounded up, as by glibc. */
    void *x = memalign(not_power_of_two, 10);
    CHECK(x && (uintptr_t)x % 64 == 0);
    free(x);
    done("memalign, aligned_alloc, posix_memalign, valloc, pvalloc: alignments 1 to 1 MiB");
}

/* malloc_usable_size() is at least the size asked for, for every live
 * block of every allocation function, and the program may use all of it:
 * programs that size their writes by it must not overrun. */
static void usable_is(void *p, size_t n, size_t align)
{
    CHECK(p && (uintptr_t)p % align == 0);
    if (!p)
        return;
    size_t u = malloc_usable_size(p);
    CHECK(u >= n);
    if (u < n)
        fprintf(stderr, "usable size %zu of a %zu-byte block (alignment %zu)\n", u, n, align);
    fill(p, 5, u);
}

static void usable_sizes(void)
{
    static const size_t sizes[] = { 0, 1, 8, 15, 16, 17, 100, 105, 255, 496, 497, 512,
                                    513, 655, 658, 1000, 4095, 4096, 4097, 70000 };
    const size_t ns = sizeof sizes / sizeof sizes[0];
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (size_t i = 0; i < ns; i++) {
        size_t n = sizes[i];
        void *p = malloc_(n), *q = calloc_(1, n);
        usable_is(p, n, 16);
        usable_is(q, n, 16);
        /* realloc growing and shrinking, across the small/large boundary */
        for (size_t j = 0; j < ns; j++) {
            void *r = malloc_(n);
            usable_is(r, n, 16);
            r = realloc_(r, sizes[j]);
            usable_is(r, sizes[j], 16);
            free(r);
        }
        for (size_t align = 16; align <= 4096; align *= 2) {
            void *m = NULL;
            CHECK(posix_memalign(&m, align, n) == 0);
            usable_is(m, n, align);
            free(m);
            void *a = aligned_alloc(align, n);
            usable_is(a, n, align);
            free(a);
            void *me = memalign_(align, n);
            usable_is(me, n, align);
            free(me);
        }
        void *v = valloc(n), *pv = pvalloc(n);
        usable_is(v, n, page);
        usable_is(pv, n, page);
        free(v);
        free(pv);
        free(p);
        free(q);
    }
    done("malloc_usable_size: at least the size asked for, every function, alignments 16..4096");
}

static void plugin(const char *path)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    CHECK(h != NULL);
    if (!h) {
        fprintf(stderr, "dlopen %s: %s\n", path, dlerror());
        return;
    }
    char *(*copy)(const char *) = (char *(*)(const char *))dlsym(h, "plugin_copy");
    void (*pfree)(void *) = (void (*)(void *))dlsym(h, "plugin_free");
    void *(*paligned)(size_t, size_t) = (void *(*)(size_t, size_t))dlsym(h, "plugin_aligned");
    CHECK(copy && pfree && paligned);
    if (copy && pfree && paligned) {
        char *s = copy("made in the plugin, freed by the program");
        CHECK(s && strcmp(s, "made in the plugin, freed by the program") == 0);
        free(s);
        pfree(strdup("made by the program, freed in the plugin"));
        void *a = paligned(256, 1000);
        CHECK(a && (uintptr_t)a % 256 == 0);
        free(a);
    }
    dlclose(h);
    done("blocks cross between the program and a dlopen'ed library");
}

/* Blocks libc made without going through malloc (as before a preload takes
 * over) are freed, reallocated and measured through it like any other. */
extern void *__libc_malloc(size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static void libc_blocks(void)
{
    static const size_t sizes[] = { 1, 24, 100, 513, 5000, 200000, 1 << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        unsigned char *p = __libc_malloc(n), *q = __libc_malloc(n);
        unsigned char *a = __libc_memalign(64, n);
        CHECK(p && q && a);
        fill(p, 6, n);
        fill(q, 7, n);
        fill(a, 8, n);
        CHECK(malloc_usable_size(p) >= n);
        free(p);
        q = realloc(q, 2 * n);
        CHECK(q && holds(q, 7, n));
        free(q);
        free(a);
    }
    done("blocks libc made itself: free, realloc, malloc_usable_size");
}

/* ---- threads ---- */

#define THREADS 4
#define SLOTS 256

/* Blocks handed from one thread to another, to be freed there. */
static struct {
    pthread_mutex_t lock;
    void *slot[SLOTS];
} mailbox = { PTHREAD_MUTEX_INITIALIZER, { 0 } };

static void *worker(void *arg)
{
    unsigned seed = (unsigned)(uintptr_t)arg * 2654435761u + 1;
    void *mine[64] = { 0 };
    for (int i = 0; i < 100000; i++) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        size_t n = r % 8 == 0 ? 600 + r % 3000 : 1 + r % 512;
        unsigned k = r % 64;
        if (mine[k]) {
            CHECK(holds(mine[k], (int)(k + 1), 1));
            /* Half the blocks go to whichever thread takes the slot next. */
            pthread_mutex_lock(&mailbox.lock);
            void *other = mailbox.slot[r % SLOTS];
            mailbox.slot[r % SLOTS] = (r & 1) ? mine[k] : NULL;
            pthread_mutex_unlock(&mailbox.lock);
            if (!(r & 1))
                free(mine[k]);
            free(other);
        }
        mine[k] = (r % 5 == 0) ? calloc(1, n) : malloc(n);
        CHECK(mine[k] != NULL);
        memset(mine[k], (int)(k + 1), n);
    }
    for (int k = 0; k < 64; k++)
        free(mine[k]);
    return NULL;
}

static void threads(void)
{
    pthread_t t[THREADS];
    for (uintptr_t i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < SLOTS; i++)
        free(mailbox.slot[i]);
    done("threads allocate and free each other's blocks");
}

/* ---- fork ---- */

static volatile int stop_churn;

static void *churn(void *arg)
{
    (void)arg;
    while (!stop_churn) {
        void *p = malloc(48), *q = malloc(2000);
        free(p);
        free(q);
    }
    return NULL;
}

static void forks(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, churn, NULL) == 0);
    char *parent_block = strdup("allocated before the fork");
    for (int i = 0; i < 30; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            /* The heap must be usable in the child, whatever the other
             * thread was doing when the fork happened. */
            for (int j = 0; j < 1000; j++)
                free(malloc((size_t)j));
            int ok = strcmp(parent_block, "allocated before the fork") == 0;
            free(parent_block);
            _exit(ok ? 0 : 3);
        }
        int status = -1;
        CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    stop_churn = 1;
    pthread_join(t, NULL);
    free(parent_block);
    done("fork while another thread allocates");
}

/* ---- exit from several threads ---- */

static pthread_barrier_t exit_barrier;

static void *exiter(void *arg)
{
    void *keep[100];
    for (int i = 0; i < 100; i++)
        keep[i] = malloc((size_t)(i * 37 % 700));
    for (int i = 0; i < 100; i += 2)
        free(keep[i]);
    pthread_barrier_wait(&exit_barrier);
    if ((uintptr_t)arg % 2 == 0)
        exit(0);
    for (;;)
        free(malloc(64));
    return NULL;
}

static int exit_threads(void)
{
    enum { N = 6 };
    pthread_t t[N];
    pthread_barrier_init(&exit_barrier, NULL, N + 1);
    for (uintptr_t i = 0; i < N; i++)
        pthread_create(&t[i], NULL, exiter, (void *)i);
    pthread_barrier_wait(&exit_barrier);
    exit(0);
}

/* ---- many thread-specific keys ---- */

/* The first 32 pthread keys used up before the first allocation: the
 * allocator's own key is then one for which pthread_setspecific allocates,
 * inside the first allocation of every thread. */
static void *key_thread(void *arg)
{
    free(malloc((size_t)(uintptr_t)arg));
    return NULL;
}

static int many_keys(void)
{
    pthread_key_t keys[40];
    for (int i = 0; i < 40; i++)
        CHECK(pthread_key_create(&keys[i], NULL) == 0);
    char *p = malloc(10);
    CHECK(p != NULL);
    free(p);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, key_thread, (void *)(uintptr_t)24) == 0);
    pthread_join(t, NULL);
    done("40 pthread keys made before the first allocation");
    return failures ? 1 : 0;
}

/* 10 MB of 100,000-byte blocks freed, then 18 MB more allocated and freed
 * so the first leave any quarantine and go back to glibc, whose heap they
 * are: what its top keeps free after is what its trim threshold allows. */
static int heap_top(void)
{
    void *p[100];
    for (int i = 0; i < 100; i++)
        CHECK((p[i] = malloc(100000)) != NULL);
    for (int i = 0; i < 100; i++)
        free(p[i]);
    for (int r = 0; r < 3; r++) {
        for (int i = 0; i < 100; i++)
            CHECK((p[i] = malloc(60000)) != NULL);
        for (int i = 0; i < 100; i++)
            free(p[i]);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
    printf("keep %zu\n", mallinfo2().keepcost);
#endif
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *what = argc > 1 ? argv[1] : "";
    if (strcmp(what, "which") == 0)
        return which();
    if (strcmp(what, "exit-threads") == 0)
        return exit_threads();
    if (strcmp(what, "many-keys") == 0)
        return many_keys();
    if (strcmp(what, "heap-top") == 0)
        return heap_top();
    int all = strcmp(what, "all") == 0;
    if ((all || strcmp(what, "serial") == 0) && argc > 2) {
        basics();
        reallocs();
        errors();
        alignments();
        usable_sizes();
        plugin(argv[2]);
        libc_blocks();
        if (all) {
            threads();
            forks();
        }
        return failures ? 1 : 0;
    }
    fprintf(stderr, "usage: preload_torture which | all PLUGIN.so | serial PLUGIN.so |\n"
                    "       exit-threads | many-keys | heap-top\n");
    return 2;
}
