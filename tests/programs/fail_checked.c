/* fail_checked.c - a plain C program (no vigil) that checks every
 * allocation it makes and gives up cleanly when one fails: `vigil sweep`
 * must find nothing in it (tests/tools/sweep.sh).  It uses every kind of
 * allocation the preload serves: malloc, calloc, realloc (growing a
 * buffer, keeping the old one when it fails), strdup, posix_memalign,
 * aligned_alloc, and blocks small and large. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct list {
    char **items;
    size_t n, cap;
};

static int push(struct list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 2;
        char **grown = realloc(l->items, cap * sizeof *grown);
        if (!grown)
            return -1;          /* l->items is still ours, and still whole */
        l->items = grown;
        l->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return -1;
    l->items[l->n++] = copy;
    return 0;
}

static void drop(struct list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->items[i]);
    free(l->items);
}

static int work(void)
{
    struct list l = { 0 };
    static const char *const words[] = { "alpha", "beta", "gamma", "delta", "epsilon" };
    int status = 1;
    double *table = NULL;
    void *aligned = NULL;
    char *big = NULL;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (push(&l, words[i]))
            goto out;
    table = calloc(64, sizeof *table);
    if (!table)
        goto out;
    if (posix_memalign(&aligned, 64, 256))
        goto out;
    big = aligned_alloc(4096, 8192);
    if (!big)
        goto out;
    memset(big, 'x', 8192);
    table[0] = (double)l.n;
    status = 0;
out:
    if (status)
        fprintf(stderr, "fail_checked: out of memory (%s)\n", strerror(errno));
    free(big);
    free(aligned);
    free(table);
    drop(&l);
    return status;
}

int main(void)
{
    int status = work();
    if (!status)
        puts("fail_checked: done");
    return status;
}
