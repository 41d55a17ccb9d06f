/* fail_unchecked.c - a plain C program (no vigil) with one allocation
 * whose failure it does not handle, for `vigil sweep` to find
 * (tests/tools/sweep.sh).  The argument chooses the fault:
 *   crash   #1 the table (checked: a clean error exit), #2 copy_name's
 *           copy, NOT checked: written through NULL, SIGSEGV; #3 the
 *           greeting (checked)
 *   hang    #1 the table, #2 the greeting, whose failure makes the
 *           program wait forever instead of giving up
 *   twice   #1 the table, #2 the greeting, whose failure makes the
 *           program free the table twice on the way out (a double free,
 *           reported under the debug hooks)
 * Output goes through write(2) so stdio allocates nothing: the numbering
 * above is exact under the preload. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void say(const char *s)
{
    ssize_t w = write(STDERR_FILENO, s, strlen(s));
    (void)w;
}

static char *copy_name(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    memcpy(p, s, n);
    return p;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "crash";
    char **table = malloc(4 * sizeof *table);
    if (!table) {
        say("fail_unchecked: out of memory for the table\n");
        return 1;
    }
    /* The name from the command line: no constant for the compiler to
     * fold into a clone of copy_name, whose name the finding must show. */
    table[0] = strcmp(mode, "crash") == 0 ? copy_name(argc > 2 ? argv[2] : "vigil") : NULL;
    char *greeting = malloc(100);
    if (!greeting) {
        if (strcmp(mode, "hang") == 0)
            for (;;)
                pause();
        say("fail_unchecked: out of memory for the greeting\n");
        free(table);
        if (strcmp(mode, "twice") == 0)
            free(table);
        return 1;
    }
    strcpy(greeting, "hello, ");
    strcat(greeting, table[0] ? table[0] : "world");
    strcat(greeting, "\n");
    ssize_t w = write(STDOUT_FILENO, greeting, strlen(greeting));
    (void)w;
    free(greeting);
    free(table[0]);
    free(table);
    return 0;
}
