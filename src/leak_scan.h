/*
 * leak_scan.h - which live blocks the program can still reach: a
 * conservative mark from the roots, as memcheck and LeakSanitizer do.
 *
 * The roots are the process's private writable mappings (data and bss of
 * every loaded object, thread stacks and static TLS, memory other
 * allocators handed out), less vigil's own memory and less the live blocks
 * themselves (a block is scanned only once it is reached), with each
 * stopped thread's stack taken from its stack pointer up and its registers.
 * Any aligned word whose value lies inside a block, its first byte or any
 * later one, reaches it: LeakSanitizer's rule, and memcheck's "definitely
 * lost" too, which counts a block with only interior pointers to it as
 * possibly lost, never as definitely lost.  C programs keep pointers into
 * blocks (a field's address, container_of lists, a string's tail), and a
 * checker that calls those leaks is switched off by its users.
 *
 * The unreached blocks are sorted out as memcheck does: in address order,
 * an unreached block no earlier leaked block reached is a direct leak, and
 * every unreached block reachable from it is an indirect one; a direct
 * leak reached later from another becomes indirect (so a cycle has one
 * direct block, the one at the lowest address).
 */
#ifndef VIGIL_LEAK_SCAN_H
#define VIGIL_LEAK_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "leak_world.h"

enum vigil_leak_mark {
    VIGIL_LEAK_UNSEEN = 0,      /* not reached (before the scan: every block) */
    VIGIL_LEAK_REACHED,         /* a root reaches it */
    VIGIL_LEAK_DIRECT,          /* leaked, and no other leaked block points to it */
    VIGIL_LEAK_INDIRECT,        /* leaked, reached from a leaked block */
};

struct vigil_leak_block {
    uintptr_t start;
    size_t size;                /* the bytes the program asked for */
    uint32_t stack;             /* its allocation stack in the depot; 0: none */
    uint32_t mark;              /* enum vigil_leak_mark */
};

/* The stack of another allocator's block (ASan's chunk under ASan): it is
 * reached through and marked like the others, and never reported.  No
 * depot id is this large. */
#define VIGIL_LEAK_FOREIGN UINT32_MAX

struct vigil_leak_range {
    uintptr_t start, end;
};

/* The roots' inputs: the stopped threads, the calling thread's stack from
 * self_sp up and its registers, and the ranges (any order) that are not
 * roots: vigil's own memory and the scan's buffers. */
struct vigil_leak_roots {
    const struct vigil_leak_world *world;
    uintptr_t self_sp;
    const uintptr_t *self_regs;
    size_t nself_regs;
    struct vigil_leak_range *excluded;
    size_t nexcluded;
};

/* Sort blocks in place by cmp (heapsort: no memory, none of qsort's
 * mallocs, which may come back to a traced heap that is held still). */
void vigil__leak_sort(struct vigil_leak_block *blocks, size_t n,
                      int (*cmp)(const struct vigil_leak_block *, const struct vigil_leak_block *));
/* By start address: the order vigil__leak_scan wants. */
int vigil__leak_by_start(const struct vigil_leak_block *a, const struct vigil_leak_block *b);

/* Mark blocks[0..n) (sorted by start, not overlapping).  0 when done; -1
 * when memory for the scan's stack or the maps could not be had (then
 * every block is left REACHED: nothing is reported rather than something
 * false).  Sorts roots->excluded. */
int vigil__leak_scan(struct vigil_leak_block *blocks, size_t n, struct vigil_leak_roots *roots);

#endif /* VIGIL_LEAK_SCAN_H */
