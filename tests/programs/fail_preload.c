/* fail_preload.c - the preload library linked into a program (its malloc,
 * posix_memalign and free are this program's), so that a test can make
 * the preload's own memory fail: the registry of over-aligned blocks in
 * debug mode, which grows by vigil__os_map (tests/cunit/test_fail.c, with
 * VIGIL_MALLOC=debug).
 *   fail_preload first   the registry's first table cannot be mapped
 *   fail_preload grow    its growth, with 192 blocks in it, cannot be
 * Either way the aligned allocation that needed the room fails with
 * ENOMEM, the blocks already in the table stay the program's (each is
 * checked and freed without a report), and once memory is back an aligned
 * allocation works again.  Prints one line of results. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "os.h"

#define KEPT 192        /* the first table's 256 slots, three quarters full */

static void *blocks[KEPT];

int main(int argc, char **argv)
{
    int grow = argc > 1 && strcmp(argv[1], "grow") == 0;
    char line[256];
    free(malloc(10));           /* vigil up, the thread's batch claimed */
    size_t kept = grow ? KEPT : 0;
    for (size_t i = 0; i < kept; i++) {
        if (posix_memalign(&blocks[i], 4096, 100))
            return 3;
        memset(blocks[i], (int)i, 100);
    }
    vigil__os_fail(VIGIL_OS_BOOKKEEPING, 0, 1);
    void *p = NULL;
    int e = posix_memalign(&p, 4096, 100);
    unsigned long failed = vigil__os_failed();
    vigil__os_fail(0, 0, 0);
    void *q = NULL;
    int e2 = posix_memalign(&q, 4096, 100);
    size_t whole = 0;
    for (size_t i = 0; i < kept; i++) {
        const unsigned char *b = blocks[i];
        size_t j = 0;
        while (j < 100 && b[j] == (unsigned char)i)
            j++;
        whole += j == 100;
        free(blocks[i]);
    }
    if (!e2) {
        memset(q, 1, 100);
        free(q);
    }
    snprintf(line, sizeof line, "mappings failed: %lu; aligned: %s; kept whole: %zu of %zu; "
             "afterwards: %s\n", failed, e == ENOMEM && !p ? "ENOMEM" : "served", whole, kept,
             e2 ? "failed" : "served");
    ssize_t w = write(STDOUT_FILENO, line, strlen(line));
    (void)w;
    return 0;
}
