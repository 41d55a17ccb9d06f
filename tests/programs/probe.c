/* probe.c - a small program the tests run with a chosen environment, since
 * vigil reads its environment once per process.
 *   probe name            print vigil_allocator_name() ("(null)" for custom)
 *   probe stats           allocate a little, print vigil_print_stats' result
 *   probe reread          allocate, change VIGIL_MALLOC, print the name again
 *   probe arenas N        allocate N KiB of 64-byte blocks, free them */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigil.h"

static const char *name(void)
{
    const char *n = vigil_allocator_name();
    return n ? n : "(null)";
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "name";
    if (strcmp(cmd, "name") == 0) {
        printf("%s\n", name());
    } else if (strcmp(cmd, "stats") == 0) {
        void *p = vigil_mem_malloc(100);
        int r = vigil_print_stats(stdout);
        printf("print_stats=%d\n", r);
        vigil_mem_free(p);
    } else if (strcmp(cmd, "reread") == 0) {
        vigil_mem_free(vigil_mem_malloc(1));
        setenv("VIGIL_MALLOC", "malloc", 1);
        printf("%s\n", name());
    } else if (strcmp(cmd, "arenas") == 0 && argc > 2) {
        size_t n = strtoul(argv[2], NULL, 10) * 1024 / 64;
        void **v = malloc(n * sizeof *v);
        for (size_t i = 0; i < n; i++)
            v[i] = vigil_mem_malloc(64);
        for (size_t i = 0; i < n; i++)
            vigil_mem_free(v[i]);
        free(v);
    } else {
        fprintf(stderr, "probe: unknown command %s\n", cmd);
        return 2;
    }
    return 0;
}
