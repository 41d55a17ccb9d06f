/* demo.c - an ordinary off-by-one: the copy forgets the terminating NUL's
 * byte when sizing the buffer.  With plain malloc it usually "works"; under
 * VIGIL_MALLOC=debug vigil finds the overwritten guard byte when the buffer
 * is freed and says so. */
#include <stdio.h>
#include <string.h>

#include "vigil.h"

static char *duplicate(const char *s)
{
    char *copy = vigil_mem_malloc(strlen(s));     /* bug: no room for '\0' */
    strcpy(copy, s);
    return copy;
}

int main(void)
{
    char *greeting = duplicate("hello, vigil");
    printf("%s\n", greeting);
    fflush(stdout);
    vigil_mem_free(greeting);
    puts("freed without complaint");
    return 0;
}
