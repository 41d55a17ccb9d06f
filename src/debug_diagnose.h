/*
 * debug_diagnose.h - the debug hooks' slow path: a look at a pointer that
 * trusts nothing, the verdict on it, and every report the hooks write.
 *
 * The wrapper (debug.c) comes here only when its fast check failed, so
 * nothing here is on the common path.  Memory is read only through
 * vigil__peek(), so a wild pointer cannot crash the check that diagnoses
 * it.  This file knows no allocator and no quarantine: what it needs of
 * them (the bytes the inner block has, what the quarantine still knew of a
 * block freed before) the caller hands it.
 */
#ifndef VIGIL_DEBUG_DIAGNOSE_H
#define VIGIL_DEBUG_DIAGNOSE_H

#include <stddef.h>

#include "debug_block.h"

/* What could be read around p. */
struct vigil_view {
    const unsigned char *p;
    int head_ok;                /* the header could be read */
    unsigned char head[VIGIL_DEBUG_HEAD];
    int domain;                 /* of the API id byte; -1 when it is none */
    int pad_guard;              /* the S-1 pad bytes are all 0xFD */
    int head_dead;              /* id and pad bytes are all 0xDD */
    int data_dead;              /* S bytes in the first 4 S at p are all 0xDD */
    size_t n;                   /* the size field */
    int size_ok;                /* n is plausible, so the tail was looked at */
    int tail_ok;                /* ... and could be read */
    unsigned char tail[VIGIL_DEBUG_TRAILER];
    int tail_guard;             /* the tail's guard bytes are all 0xFD */
    size_t usable;              /* the inner block's bytes, when known, or 0 */
};

enum vigil_verdict {
    VIGIL_HEALTHY, VIGIL_OVERFLOW, VIGIL_UNDERFLOW, VIGIL_MISMATCH,
    VIGIL_DOUBLE_FREE, VIGIL_INVALID,
};

/* What the program was doing with the block; the last two are the checks
 * of every live block (debug_live.h): vigil_check_heap, and at exit. */
enum vigil_debug_op {
    VIGIL_OP_FREE, VIGIL_OP_REALLOC, VIGIL_OP_CHECK, VIGIL_OP_CHECK_HEAP, VIGIL_OP_EXIT,
};

/* Look at p into *v and judge it, for a free through domain want (-1:
 * any).  usable: the bytes the inner block at p - HEAD really has, when its
 * allocator said (a size field that does not fit is then damage); 0 when
 * nobody knows. */
enum vigil_verdict vigil__diagnose(const unsigned char *p, int want, size_t usable,
                                   struct vigil_view *v);

/* What the quarantine still held of a block freed before. */
struct vigil_freed {
    size_t n;                   /* the size the program had asked for */
    unsigned char api;          /* its API id */
    struct vigil_origin alloc;  /* where it was allocated */
    struct vigil_origin freed;  /* where it was freed */
};

/* Report the verdict vd on v (not VIGIL_HEALTHY); domain is the wrapper's
 * that was called, -1 for vigil_check_block; the bad call is the program's
 * call now running (vigil__caller).  freed: for a double free, the block's
 * entry in the quarantine, or NULL when it is no longer there.  Returns
 * only when VIGIL_ABORT=0. */
void vigil__diagnose_report(enum vigil_verdict vd, const struct vigil_view *v, int domain,
                            enum vigil_debug_op op, const struct vigil_freed *freed);

/* The block at base, which the quarantine held as f, was written to after
 * it was freed (its fast check failed): say where.  Found when it left the
 * quarantine in the program's call now running, or at exit. */
void vigil__diagnose_report_freed(const unsigned char *base, const struct vigil_freed *f,
                                  int at_exit);

/* vigil_dump_block's text; usable as for vigil__diagnose. */
void vigil__diagnose_dump(const unsigned char *p, size_t usable);

/* "raw", "mem" or "obj": domain d's name in the reports. */
const char *vigil__diagnose_domain_name(int d);

#endif /* VIGIL_DEBUG_DIAGNOSE_H */
