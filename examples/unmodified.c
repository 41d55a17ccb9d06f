/* unmodified.c - an ordinary off-by-one in a program that knows nothing of
 * vigil: plain malloc and free, built without vigil.  With glibc it usually
 * "works"; `vigil run --debug` finds it (make demo-preload). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The words with a space between each two. */
static char *join(int n, char **words)
{
    size_t len = (size_t)n - 1;                 /* the spaces */
    for (int i = 0; i < n; i++)
        len += strlen(words[i]);
    char *s = malloc(len);                      /* bug: no room for the '\0' */
    char *end = s;
    for (int i = 0; i < n; i++)
        end += sprintf(end, i ? " %s" : "%s", words[i]);
    return s;
}

int main(int argc, char **argv)
{
    static char *greeting[] = { "hello,", "vigil" };
    char *line = argc > 1 ? join(argc - 1, argv + 1) : join(2, greeting);
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    puts("freed without complaint");
    return 0;
}
