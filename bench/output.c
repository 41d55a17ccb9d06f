/*
 * output.c - what the bench prints: the header (machine, allocators,
 * workloads), the speed, load, memory and peak-RSS tables, the targets of
 * the speed/memory issue, met or not in this run, and the CSV file (which
 * bench/plot.sh reads).  It measures nothing: it prints the results rounds.c
 * and memory.c left.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static int count_cores(void)
{
#ifdef CPU_COUNT
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
#endif
    return (int)sysconf(_SC_NPROCESSORS_ONLN);
}

static void cpu_model(char *out, size_t size)
{
    snprintf(out, size, "unknown cpu");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) == 0) {
            char *v = strchr(line, ':');
            if (v) {
                v += 1 + strspn(v + 1, " \t");
                v[strcspn(v, "\n")] = '\0';
                snprintf(out, size, "%s", v);
            }
            break;
        }
    }
    fclose(f);
}

#define COL 12

void bench_print_header(const struct params *p, int rounds, int quick)
{
    char cpu[128];
    cpu_model(cpu, sizeof cpu);
    printf("vigil bench%s\n", quick ? " (--quick: short run, rough figures)" : "");
    printf("machine: %d cores usable, %ld online, %s\n", count_cores(),
           sysconf(_SC_NPROCESSORS_ONLN), cpu);
    printf("rounds: %d timed, after 1 warm-up round; allocators interleaved round-robin\n",
           rounds);
    bench_describe_allocators();
    printf("workloads:\n");
    bench_describe_workloads(p);
    putchar('\n');
}

static void print_cell(double v, const char *fmt)
{
    if (isnan(v))
        printf("%*s", COL, "-");
    else
        printf(fmt, COL, v);
}

/* The heading of a table: label, then a column for each allocator. */
static void print_heading(const char *label)
{
    printf("%-9s", label);
    for (int i = 0; i < bench_nallocators; i++)
        printf("%*s", COL, bench_allocators[i].name);
    putchar('\n');
}

void bench_print_speed(int rounds)
{
    printf("ns/op (median of %d rounds; an op is one malloc, realloc or free call;\n"
           "xthread, xmalloc: ns/block, wall clock / blocks, a block being one malloc and"
           " one free on 2 threads;\nlarson, rptest, indep2: wall clock / the ops of both"
           " threads)\n", rounds);
    print_heading("workload");
    for (int w = 0; w < NWORKLOADS; w++) {
        printf("%-9s", bench_workloads[w].name);
        for (int i = 0; i < bench_nallocators; i++)
            print_cell(bench_speed[w][i].median, "%*.1f");
        putchar('\n');
    }

    /* Ratios: everybody to glibc, and what the debug hooks cost. */
    int g = bench_allocator_index("glibc"), v = bench_allocator_index("vigil"),
        d = bench_allocator_index("vigil-debug"), m = bench_allocator_index("mimalloc");
    printf("\nratios of the medians: each allocator / glibc (below 1: faster than glibc),"
           " vigil-debug / vigil%s\n", m >= 0 ? ", and vigil / mimalloc" : "");
    printf("%-9s", "workload");
    for (int i = 0; i < bench_nallocators; i++)
        if (i != g)
            printf("%*s", COL, bench_allocators[i].name);
    printf("%*s", COL + 2, "debug/vigil");
    if (m >= 0)
        printf("%*s", COL + 3, "vigil/mimalloc");
    putchar('\n');
    for (int w = 0; w < NWORKLOADS; w++) {
        printf("%-9s", bench_workloads[w].name);
        for (int i = 0; i < bench_nallocators; i++)
            if (i != g)
                printf("%*.2f", COL, bench_speed[w][i].median / bench_speed[w][g].median);
        printf("%*.2f", COL + 2, bench_speed[w][d].median / bench_speed[w][v].median);
        if (m >= 0)
            printf("%*.2f", COL + 3, bench_speed[w][v].median / bench_speed[w][m].median);
        putchar('\n');
    }

    int w1 = bench_workload_index("indep1"), w2 = bench_workload_index("indep2");
    printf("\nscaling: throughput of 2 independent threads / 1 thread (indep1 ns/op / indep2"
           " ns/op; 2.00: perfect)\n");
    print_heading("");
    printf("%-9s", "2 vs 1");
    for (int i = 0; i < bench_nallocators; i++)
        printf("%*.2f", COL, bench_speed[w1][i].median / bench_speed[w2][i].median);
    putchar('\n');

    int x = bench_workload_index("xthread");
    printf("\nxthread throughput, million blocks/s (1000 / median ns per block; higher is"
           " better)\n");
    print_heading("");
    printf("%-9s", "Mblocks/s");
    for (int i = 0; i < bench_nallocators; i++)
        printf("%*.2f", COL, 1000 / bench_speed[x][i].median);
    printf("\n%-9s", "/ glibc");
    for (int i = 0; i < bench_nallocators; i++)
        printf("%*.2f", COL, bench_speed[x][g].median / bench_speed[x][i].median);
    putchar('\n');

    printf("\nspread over the rounds, (max - min) / median, %%\n");
    print_heading("workload");
    for (int w = 0; w < NWORKLOADS; w++) {
        printf("%-9s", bench_workloads[w].name);
        for (int i = 0; i < bench_nallocators; i++) {
            const struct summary *s = &bench_speed[w][i];
            printf("%*.0f", COL, 100 * (s->max - s->min) / s->median);
        }
        putchar('\n');
    }
}

void bench_print_load(void)
{
    if (isnan(bench_other_load))
        return;
    printf("\nmachine: while the rounds ran, other processes and the hypervisor (steal) took"
           " %.0f%% of the CPU time of the %d cores (steal alone: %.0f%%)\n",
           100 * bench_other_load, count_cores(), 100 * bench_steal_share);
    if (bench_other_load > 0.10)
        printf("NOTE: the machine was not quiet; the figures, the xthread ones first, are"
               " noisier than on an idle machine\n");
}

/* A row of the memory table: bytes per block, and in brackets the bytes
 * beyond the requested ones. */
static void print_memory_row(const char *label, const double *bytes, double requested)
{
    printf("%-16s", label);
    for (int i = 0; i < bench_nallocators; i++) {
        if (isnan(bytes[i]))
            printf("%*s", COL + 2, "-");
        else
            printf("%*.1f (%+5.1f)", COL + 2 - 8, bytes[i], bytes[i] - requested);
    }
    putchar('\n');
}

void bench_print_memory(void)
{
    printf("\nmemory: bytes of RSS per live block (%d blocks allocated and written in a "
           "forked child, RSS growth / blocks; in brackets: minus the bytes requested)\n",
           MEM_BLOCKS);
    printf("%-16s", "requested");
    for (int i = 0; i < bench_nallocators; i++)
        printf("%*s", COL + 2, bench_allocators[i].name);
    putchar('\n');
    char label[32];
    snprintf(label, sizeof label, "%d", MEM_FIXED);
    print_memory_row(label, bench_memory_fixed, MEM_FIXED);
    snprintf(label, sizeof label, "%d..%d (%.0f)", RANDOM_MIN, RANDOM_MAX,
             bench_random_mean_request);
    print_memory_row(label, bench_memory_random, bench_random_mean_request);
}

void bench_print_peaks(void)
{
    printf("\npeak RSS (KiB): how far the resident set rose while the workload ran once,"
           " in a forked child\n(after a scaled-down warm-up run; %s; THP off)\n",
           bench_peak_method == PEAK_HWM ? "VmHWM after the run - VmRSS before it, the peak "
                                           "reset through /proc/self/clear_refs"
           : bench_peak_method == PEAK_MAXRSS ? "getrusage ru_maxrss after the run - before it"
                                              : "not measured");
    print_heading("workload");
    for (int w = 0; w < NWORKLOADS; w++) {
        if (!bench_workloads[w].peak)
            continue;
        printf("%-9s", bench_workloads[w].name);
        for (int i = 0; i < bench_nallocators; i++)
            print_cell(bench_peak_kib[w][i], "%*.0f");
        putchar('\n');
    }
}

/* The targets of the speed and memory issue, met or not, from this run. */
void bench_print_targets(void)
{
    int g = bench_allocator_index("glibc"), v = bench_allocator_index("vigil"),
        m = bench_allocator_index("mimalloc");
    static const char *const timed[] = { "random", "lifo" };

    printf("\ntargets (vigil against the others in this run)\n");
    for (size_t k = 0; k < sizeof timed / sizeof timed[0]; k++) {
        int w = bench_workload_index(timed[k]);
        double r = bench_speed[w][v].median / bench_speed[w][g].median;
        printf("  %-8s vigil/glibc    %5.2f  (<= 0.70: %s)\n", timed[k], r,
               r <= 0.70 ? "met" : "NOT met");
        if (m >= 0) {
            r = bench_speed[w][v].median / bench_speed[w][m].median;
            printf("  %-8s vigil/mimalloc %5.2f  (<= 1.00: %s)\n", timed[k], r,
                   r <= 1.00 ? "met" : "NOT met");
        } else {
            printf("  %-8s vigil/mimalloc     -  (mimalloc not loaded)\n", timed[k]);
        }
    }
    int x = bench_workload_index("xthread");
    double r = bench_speed[x][g].median / bench_speed[x][v].median;
    printf("  %-8s vigil/glibc    %5.2f  (throughput, >= 1.00: %s)\n", "xthread", r,
           r >= 1.00 ? "met" : "NOT met");
    int w1 = bench_workload_index("indep1"), w2 = bench_workload_index("indep2");
    r = bench_speed[w1][v].median / bench_speed[w2][v].median;
    printf("  %-8s vigil 2 vs 1   %5.2f  (throughput of 2 threads / 1, >= 1.80: %s)\n", "indep",
           r, r >= 1.80 ? "met" : "NOT met");
    int w = bench_workload_index("random");
    if (isnan(bench_peak_kib[w][v]) || isnan(bench_peak_kib[w][g]))
        printf("  %-8s peak RSS vigil  -  (not measured)\n", "random");
    else
        printf("  %-8s peak RSS vigil %.0f KiB, glibc %.0f KiB  (vigil <= glibc: %s)\n",
               "random", bench_peak_kib[w][v], bench_peak_kib[w][g],
               bench_peak_kib[w][v] <= bench_peak_kib[w][g] ? "met" : "NOT met");
}

/* Long ("tidy") CSV: one value per line, so a plot script can pick. */
int bench_write_csv(FILE *f, const char *path, int rounds, int quick)
{
    fprintf(f, "section,workload,allocator,value,min,max,unit\n");
    fprintf(f, "info,cores,,%d,,,count\n", count_cores());
    fprintf(f, "info,rounds,,%d,,,count\n", rounds);
    fprintf(f, "info,quick,,%d,,,flag\n", quick);
    fprintf(f, "info,xthread_pinned,,%d,,,flag\n", bench_xthread_cpu[0] >= 0);
    if (!isnan(bench_other_load))
        fprintf(f, "info,other_load,,%.3f,,,fraction\ninfo,steal,,%.3f,,,fraction\n",
                bench_other_load, bench_steal_share);
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < bench_nallocators; i++) {
            const struct summary *s = &bench_speed[w][i];
            fprintf(f, "speed,%s,%s,%.3f,%.3f,%.3f,ns/%s\n", bench_workloads[w].name,
                    bench_allocators[i].name, s->median, s->min, s->max,
                    bench_workloads[w].unit);
        }
    int w1 = bench_workload_index("indep1"), w2 = bench_workload_index("indep2");
    for (int i = 0; i < bench_nallocators; i++)
        fprintf(f, "scaling,indep,%s,%.3f,,,ratio\n", bench_allocators[i].name,
                bench_speed[w1][i].median / bench_speed[w2][i].median);
    int x = bench_workload_index("xthread");
    for (int i = 0; i < bench_nallocators; i++) {
        const struct summary *s = &bench_speed[x][i];  /* min: from the slowest round */
        fprintf(f, "throughput,xthread,%s,%.4f,%.4f,%.4f,Mblocks/s\n", bench_allocators[i].name,
                1000 / s->median, 1000 / s->max, 1000 / s->min);
    }
    for (int w = 0; w < NWORKLOADS; w++)
        for (int i = 0; i < bench_nallocators; i++)
            if (bench_workloads[w].peak && !isnan(bench_peak_kib[w][i]))
                fprintf(f, "peakrss,%s,%s,%.0f,,,KiB\n", bench_workloads[w].name,
                        bench_allocators[i].name, bench_peak_kib[w][i]);
    for (int i = 0; i < bench_nallocators; i++) {
        if (!isnan(bench_memory_fixed[i]))
            fprintf(f, "memory,size%d,%s,%.2f,,,bytes/block\n", MEM_FIXED,
                    bench_allocators[i].name, bench_memory_fixed[i]);
        if (!isnan(bench_memory_random[i]))
            fprintf(f, "memory,random%d-%d,%s,%.2f,,,bytes/block\n", RANDOM_MIN, RANDOM_MAX,
                    bench_allocators[i].name, bench_memory_random[i]);
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench: writing %s: %s\n", path, strerror(errno));
        return 0;
    }
    return 1;
}
