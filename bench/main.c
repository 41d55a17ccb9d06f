/*
 * main.c - the bench program's entry: vigil's allocators against glibc,
 * mimalloc, jemalloc and tcmalloc, side by side in one process.
 *
 *   bench [--quick] [--no-pin] [--csv FILE]
 *
 * This file holds the options, the workloads' sizes for a full and a quick
 * run, and the order of a run: set up the allocators (allocators.c), measure
 * memory first, each figure in a forked child from a fresh heap (memory.c),
 * then time the rounds (rounds.c) of every workload (workloads.c, xthread.c)
 * through every allocator, and print the tables, the targets and the CSV
 * (output.c).  Each file's opening comment tells how its part works.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

void bench_die(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("bench: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench [--quick] [--no-pin] [--csv FILE]\n"
                 "  --quick      a short run (a few seconds), for smoke tests\n"
                 "  --no-pin     leave the xthread threads' CPUs to the scheduler\n"
                 "  --csv FILE   also write the results to FILE as CSV (see bench/plot.sh)\n");
}

int main(int argc, char **argv)
{
    int quick = 0, pin = 1;
    const char *csv = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--no-pin") == 0) {
            pin = 0;
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            csv = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }

    /* Full run: 1 to 4 million calls per run, 10 to 100 ms. */
    struct params p = {
        .random_live = 10000, .random_steps = 1000000,
        .lifo_batch = 100, .lifo_reps = 20000,
        .fifo_batch = 1000, .fifo_reps = 2000,
        .realloc_blocks = 1000, .realloc_reps = 50,
        .simple_iters = 250000,
        .xthread_blocks = 200000,
        .threads = 2,
        .larson_live = 5000, .larson_steps = 500000,
        .xmalloc_blocks = 1000000,
        .rptest_live = 1000, .rptest_steps = 200000,
        .indep_steps = 1000000,
    };
    int rounds = 11;
    if (quick) {
        p.random_steps /= 20;
        p.lifo_reps /= 40;
        p.fifo_reps /= 40;
        p.realloc_reps /= 25;
        p.simple_iters /= 20;
        p.xthread_blocks /= 10;
        p.larson_steps /= 20;
        p.xmalloc_blocks /= 20;
        p.rptest_steps /= 20;
        p.indep_steps /= 20;
        rounds = 3;
    }

    bench_setup_allocators(argv);  /* may run the program again, for jemalloc */
    bench_setup_vigil();
    if (pin)
        bench_choose_xthread_cpus();

    FILE *csv_file = NULL;     /* opened now, not after the run, if it fails */
    if (csv && !(csv_file = fopen(csv, "w")))
        bench_die("cannot write %s: %s", csv, strerror(errno));

    bench_alloc_slots(&p);

    bench_print_header(&p, rounds, quick);
    fflush(stdout);

    bench_measure_memory();    /* first: every child forks from a fresh heap */
    bench_measure_peaks(&p);
    bench_start_helper(&p);
    bench_run_rounds(&p, rounds);
    bench_stop_helper();

    bench_print_speed(rounds);
    bench_print_load();
    bench_print_memory();
    bench_print_peaks();
    bench_print_targets();
    int status = 0;
    if (csv_file) {
        if (bench_write_csv(csv_file, csv, rounds, quick))
            printf("\nwrote %s\n", csv);
        else
            status = 1;
    }

    bench_free_slots();
    return status;
}
