/*
 * memory.c - what the allocators cost in memory: the bytes each live block
 * takes, and the peak RSS of a workload's run, each measured in a forked
 * child (run_in_child) so that it starts from a fresh heap and leaves the
 * parent's alone.
 *
 * Memory: for each allocator a forked child allocates N blocks (and writes
 * every byte of them) and reports the growth of its resident set divided by
 * N: the bytes of memory each live block really costs, metadata included.
 * And for each allocator and the random, lifo, fifo and xthread workloads, a
 * forked child runs the workload once and reports its peak RSS above where it
 * started (VmHWM, see "Peak RSS" below).  Measured before any timing, so each
 * child starts from a fresh heap.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "bench.h"

/* Resident anonymous pages of this process (resident minus file-backed:
 * the first call of a function faults in code pages, which are not the
 * allocator's memory), read without allocating (so glibc's heap is not
 * disturbed by the measurement); -1 when unknown. */
static long resident_pages(void)
{
    char buf[128];
    int fd = open("/proc/self/statm", O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    long size, resident, shared;
    if (sscanf(buf, "%ld %ld %ld", &size, &resident, &shared) != 3)
        return -1;
    return resident - shared;
}

/* Run fn(arg, out) in a forked child and copy the size bytes it leaves at
 * out back into the parent's out: whatever fn does to the heap is thrown
 * away with the child.  0 when the child could not run or said nothing
 * (out is then not to be trusted). */
static int run_in_child(void (*fn)(const void *arg, void *out), const void *arg,
                        void *out, size_t size)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 0;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 0;
    }
    if (pid == 0) {
        close(fd[0]);
        fn(arg, out);
        if (write(fd[1], out, size) != (ssize_t)size)
            _exit(1);
        _exit(0);
    }
    close(fd[1]);
    int ok = read(fd[0], out, size) == (ssize_t)size;
    close(fd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return ok;
}

struct bpb_args {
    const struct allocator *a;
    size_t fixed_size, n;
};

/* In a forked child: allocate n blocks of size fixed_size (0: random sizes
 * 8..512), write every byte, and leave the resident-set growth per block in
 * *out (a double; NAN when it cannot be measured). */
static void bpb_child(const void *arg, void *out)
{
    const struct bpb_args *args = arg;
    const struct allocator *a = args->a;
    size_t fixed_size = args->fixed_size, n = args->n;
    double result = NAN;
#ifdef PR_SET_THP_DISABLE
    /* Count in 4 KiB pages, not in 2 MiB huge ones. */
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#endif
    if (a->activate)
        a->activate();
    /* The pointer array is outside every allocator, and resident
     * before the first reading. */
    void **ptrs = mmap(NULL, n * sizeof *ptrs, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (ptrs != MAP_FAILED) {
        memset(ptrs, 0, n * sizeof *ptrs);
        /* Let the allocator do its lazy set-up before the first reading. */
        a->free(a->malloc(fixed_size ? fixed_size : RANDOM_MAX));
        uint64_t rng = SEED;
        resident_pages();          /* fault in its code before measuring */
        long before = resident_pages();
        size_t i;
        for (i = 0; i < n; i++) {
            size_t size = fixed_size ? fixed_size : random_size(&rng);
            if (!(ptrs[i] = a->malloc(size)))
                break;
            memset(ptrs[i], 0x5a, size);
        }
        long after = resident_pages();
        if (i == n && before >= 0 && after >= before)
            result = (double)(after - before) * (double)sysconf(_SC_PAGESIZE) / (double)n;
    }
    memcpy(out, &result, sizeof result);
}

static double bytes_per_block(const struct allocator *a, size_t fixed_size, size_t n)
{
    const struct bpb_args args = { a, fixed_size, n };
    double result;
    return run_in_child(bpb_child, &args, &result, sizeof result) ? result : NAN;
}

double bench_memory_fixed[MAX_ALLOCATORS], bench_memory_random[MAX_ALLOCATORS];
double bench_random_mean_request;

void bench_measure_memory(void)
{
    uint64_t rng = SEED;
    double total = 0;
    for (size_t i = 0; i < MEM_BLOCKS; i++)
        total += (double)random_size(&rng);
    bench_random_mean_request = total / MEM_BLOCKS;
    for (int i = 0; i < bench_nallocators; i++) {
        bench_memory_fixed[i] = bytes_per_block(&bench_allocators[i], MEM_FIXED, MEM_BLOCKS);
        bench_memory_random[i] = bytes_per_block(&bench_allocators[i], 0, MEM_BLOCKS);
    }
}

/*
 * Peak RSS per workload.  In a forked child (so each starts from the same
 * fresh heap, with transparent huge pages off, counting in 4 KiB pages):
 *   1. switch to the allocator and run the workload once scaled down (the
 *      warm-up: it faults in the code, the thread stacks and the allocator's
 *      start-up state, which are not what the workload costs), and touch the
 *      slot array and the ring;
 *   2. reset the peak: writing "5" to /proc/self/clear_refs sets VmHWM to the
 *      current VmRSS (Linux 4.0 and later), and read VmRSS: the baseline;
 *   3. run the workload once, at full size, and read VmHWM.
 * Reported: VmHWM - baseline, KiB: how far above its starting point the
 * process's resident set rose while the workload ran, the allocator's
 * metadata, caches and fragmentation included, whatever it gave back after.
 * Without clear_refs (not Linux, or not allowed), the same with getrusage's
 * ru_maxrss before and after instead; that counts only a rise above the
 * highest point so far, so it can only be lower.
 */
double bench_peak_kib[NWORKLOADS][MAX_ALLOCATORS];
int bench_peak_method;

/* VmRSS and VmHWM of this process in KiB, read without allocating; 0 when
 * unknown. */
static int read_vm_kib(long *rss, long *hwm)
{
    char buf[4096];
    int fd = open("/proc/self/status", O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *r = strstr(buf, "\nVmRSS:"), *h = strstr(buf, "\nVmHWM:");
    return r && h && sscanf(r + 7, "%ld", rss) == 1 && sscanf(h + 7, "%ld", hwm) == 1;
}

static int reset_hwm(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd < 0)
        return 0;
    int ok = write(fd, "5", 1) == 1;
    close(fd);
    return ok;
}

static long maxrss_kib(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : -1;   /* KiB on Linux */
}

struct peak_result {
    double kib;
    int method;
};

struct peak_args {
    const struct workload *w;
    const struct allocator *a;
    const struct params *p, *warm;
};

/* In a forked child: run the workload once after a scaled-down warm-up and
 * leave how far the resident set rose in *out (a struct peak_result). */
static void peak_child(const void *arg, void *out)
{
    const struct peak_args *args = arg;
    const struct workload *w = args->w;
    const struct allocator *a = args->a;
    const struct params *p = args->p, *warm = args->warm;
    struct peak_result r = { NAN, 0 };
#ifdef PR_SET_THP_DISABLE
    prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
#endif
    if (a->activate)
        a->activate();
    w->run(a, warm);
    bench_clear_slots();
    bench_clear_ring();
    long rss, hwm;
    read_vm_kib(&rss, &hwm);    /* fault in sscanf & co. before the baseline */
    if (reset_hwm() && read_vm_kib(&rss, &hwm)) {
        long before = rss;
        w->run(a, p);
        if (read_vm_kib(&rss, &hwm) && hwm >= before) {
            r.kib = (double)(hwm - before);
            r.method = PEAK_HWM;
        }
    } else {
        maxrss_kib();
        long before = maxrss_kib();
        w->run(a, p);
        long after = maxrss_kib();
        if (before >= 0 && after >= before) {
            r.kib = (double)(after - before);
            r.method = PEAK_MAXRSS;
        }
    }
    memcpy(out, &r, sizeof r);
}

static struct peak_result peak_rss(const struct workload *w, const struct allocator *a,
                                   const struct params *p, const struct params *warm)
{
    const struct peak_args args = { w, a, p, warm };
    struct peak_result r;
    if (!run_in_child(peak_child, &args, &r, sizeof r))
        r = (struct peak_result){ NAN, 0 };
    return r;
}

void bench_measure_peaks(const struct params *p)
{
    const struct params warm = {
        .random_live = 100, .random_steps = 1000,
        .lifo_batch = 10, .lifo_reps = 10,
        .fifo_batch = 10, .fifo_reps = 10,
        .realloc_blocks = 10, .realloc_reps = 1,
        .xthread_blocks = RING_BATCH * 2,
    };
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < bench_nallocators; i++) {
            bench_peak_kib[w][i] = NAN;
            if (!bench_workloads[w].peak)
                continue;
            struct peak_result r = peak_rss(&bench_workloads[w], &bench_allocators[i], p, &warm);
            bench_peak_kib[w][i] = r.kib;
            if (!bench_peak_method)
                bench_peak_method = r.method;
        }
}
