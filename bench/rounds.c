/*
 * rounds.c - timing: the rounds, the process vigil-debug is timed in, how
 * busy the rest of the machine was meanwhile, and the medians the tables
 * print.  Also the clock, which xthread.c reads too.
 *
 * Timing: rounds.  A round runs every workload through every allocator, the
 * allocator order rotating from round to round, so a noisy stretch of machine
 * time is shared out rather than landing on one allocator.  Round 0 is a
 * warm-up and is not counted.  Reported: the median over the counted rounds
 * of nanoseconds per op, an op being one call to malloc, realloc or free
 * (the loop, the random numbers and the tag checks are included and are the
 * same for every allocator); for xthread, wall-clock nanoseconds per block
 * (one malloc and one free, on two threads), and its inverse, blocks/s.
 * How much CPU other processes took meanwhile is reported too (/proc/stat).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

double bench_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

#define MAX_ROUNDS 15

/* ns/op (ns/block for xthread) of one workload through one allocator. */
static double time_run(const struct workload *w, const struct allocator *a,
                       const struct params *p)
{
    if (a->activate)
        a->activate();
    double t0 = bench_now_ns();
    size_t calls = w->run(a, p);
    double t1 = bench_now_ns();
    bench_use_vigil();
    if (w->threaded)
        return bench_xthread_wall_ns / (double)calls;
    return (t1 - t0) / (double)calls;
}

/* ---- vigil-debug in a process of its own ----
 * The debug quarantine keeps megabytes of freed blocks in the arena, and
 * within one process the plain arena shares those pools: timed side by side
 * in one process, vigil's own runs meet pools strewn with another mode's
 * blocks (random: 8.2 against 7.0 ns/op with VIGIL_QUARANTINE=0), which no
 * program running in one mode sees.  So vigil-debug is timed in a child
 * forked before the rounds and driven through pipes, one run at a time, in
 * its place in the rotation: the interleaving is kept. */
static struct {
    pid_t pid;
    int cmd, result;                /* our ends of the two pipes */
} helper = { -1, -1, -1 };

static void serve(int cmd, int result, const struct params *p)
{
    int job[2];
    while (read(cmd, job, sizeof job) == (ssize_t)sizeof job) {
        double ns = time_run(&bench_workloads[job[0]], &bench_allocators[job[1]], p);
        if (write(result, &ns, sizeof ns) != (ssize_t)sizeof ns)
            break;
    }
    bench_use_vigil_debug();       /* the quarantine is released through it */
    exit(0);
}

void bench_start_helper(const struct params *p)
{
    int down[2], up[2];
    if (pipe(down) != 0 || pipe(up) != 0)
        bench_die("pipe: %s", strerror(errno));
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        bench_die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(down[1]);
        close(up[0]);
        serve(down[0], up[1], p);
    }
    close(down[0]);
    close(up[1]);
    helper.pid = pid;
    helper.cmd = down[1];
    helper.result = up[0];
}

void bench_stop_helper(void)
{
    int status;
    close(helper.cmd);
    close(helper.result);
    if (waitpid(helper.pid, &status, 0) != helper.pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        bench_die("the vigil-debug process failed (status %#x)", status);
    helper.pid = -1;
}

static double timed_run(int w, int i, const struct params *p)
{
    if (!bench_allocators[i].own_process)
        return time_run(&bench_workloads[w], &bench_allocators[i], p);
    int job[2] = { w, i };
    double ns;
    if (write(helper.cmd, job, sizeof job) != (ssize_t)sizeof job ||
        read(helper.result, &ns, sizeof ns) != (ssize_t)sizeof ns)
        bench_die("the vigil-debug process stopped");
    return ns;
}

/* The start of a /proc file, as a string; 0 when it cannot be read. */
static int read_text(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    return 1;
}

/* CPU seconds used so far by process pid (/proc/PID/stat, fields 14, 15). */
static double process_cpu(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    if (!read_text(path, buf, sizeof buf))
        return 0;
    const char *f = strrchr(buf, ')');
    unsigned long long utime, stime;
    if (!f || sscanf(f + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                     &utime, &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static double samples[NWORKLOADS][MAX_ALLOCATORS][MAX_ROUNDS];

struct summary bench_speed[NWORKLOADS][MAX_ALLOCATORS];

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct summary summarize(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, compare_doubles);
    struct summary r = { n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1] };
    return r;
}

/*
 * How busy the rest of the machine was while the rounds ran: the CPU time
 * /proc/stat counts as busy (steal included: time the hypervisor gave our
 * virtual CPUs to someone else) minus this process's own, as a share of all
 * the CPU time there was.  On a shared machine it tells a quiet run from one
 * whose figures, the two-thread ones first, are not to be trusted.
 */
struct cpu_sample {
    double busy, steal, total;  /* seconds, all CPUs */
    double self;                /* seconds, this process */
};
double bench_other_load = NAN, bench_steal_share = NAN;

static int sample_cpu(struct cpu_sample *c)
{
    char buf[256];
    if (!read_text("/proc/stat", buf, sizeof buf))
        return 0;
    unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal = 0;
    if (sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle,
               &iowait, &irq, &softirq, &steal) < 7)
        return 0;
    double hz = (double)sysconf(_SC_CLK_TCK);
    c->busy = (double)(user + nice + sys + irq + softirq + steal) / hz;
    c->steal = (double)steal / hz;
    c->total = c->busy + (double)(idle + iowait) / hz;
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    c->self = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    if (helper.pid > 0)            /* vigil-debug's runs are ours too */
        c->self += process_cpu(helper.pid);
    return 1;
}

void bench_run_rounds(const struct params *p, int rounds)
{
    struct cpu_sample before, after;
    int sampled = sample_cpu(&before);
    int progress = isatty(STDERR_FILENO);
    for (int round = 0; round <= rounds; round++) {   /* round 0: warm-up */
        if (progress)
            fprintf(stderr, "\r%s round %d/%d ", round ? "timed" : "warm-up", round, rounds);
        for (int w = 0; w < NWORKLOADS; w++)
            for (int k = 0; k < bench_nallocators; k++) {
                int i = (k + round) % bench_nallocators;
                double ns = timed_run(w, i, p);
                if (round)
                    samples[w][i][round - 1] = ns;
            }
    }
    if (progress)
        fprintf(stderr, "\r%30s\r", "");
    if (sampled && sample_cpu(&after) && after.total > before.total) {
        double total = after.total - before.total;
        double other = (after.busy - before.busy) - (after.self - before.self);
        bench_other_load = other > 0 ? other / total : 0;
        bench_steal_share = (after.steal - before.steal) / total;
    }
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < bench_nallocators; i++)
            bench_speed[w][i] = summarize(samples[w][i], rounds);
}
