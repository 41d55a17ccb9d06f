/* preload_plugin.c - a library the preload torture test dlopens, so blocks
 * cross between the program and a library loaded after the preload took
 * over, both ways. */
#include <stdlib.h>
#include <string.h>

char *plugin_copy(const char *s);
void plugin_free(void *p);
void *plugin_aligned(size_t align, size_t size);

char *plugin_copy(const char *s)
{
    char *p = malloc(strlen(s) + 1);
    if (p)
        strcpy(p, s);
    return p;
}

void plugin_free(void *p)
{
    free(p);
}

void *plugin_aligned(size_t align, size_t size)
{
    return aligned_alloc(align, size);
}
