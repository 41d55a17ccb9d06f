/*
 * stacks_shapes.c - the table of frame rules by pc, and the walk that uses
 * it (see stacks_shapes.h).
 *
 * An entry is (pc << 16) | code: pc fits 48 bits (user-space code on
 * x86-64 and AArch64 lies below 2^47), code is k / 8 for a fixed frame, or
 * LAST or OPAQUE.  An empty word (0) is nobody's: no pc is 0.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>

#include "os.h"
#include "stacks_shapes.h"
#include "vigil/annotate.h"

#define SLOTS_LOG 16
#define SLOTS ((size_t)1 << SLOTS_LOG)     /* 512 KiB, mapped at the first put */
#define CODE_LAST 0xFFFEu
#define CODE_OPAQUE 0xFFFFu
#define CODE_MAX_K ((long)0xFFFD * 8)

static _Atomic(_Atomic uint64_t *) table;

static inline size_t slot_of(uintptr_t pc)
{
    return (size_t)(((uint64_t)pc * 0x9e3779b97f4a7c15u) >> (64 - SLOTS_LOG));
}

static _Atomic uint64_t *table_get(void)
{
    _Atomic uint64_t *t = atomic_load_explicit(&table, memory_order_acquire);
    if (t)
        return t;
    _Atomic uint64_t *fresh = vigil__os_map(SLOTS * sizeof *fresh);
    if (!fresh)
        return NULL;
    if (atomic_compare_exchange_strong_explicit(&table, &t, fresh, memory_order_acq_rel,
                                                memory_order_acquire))
        return fresh;
    vigil__os_unmap(fresh, SLOTS * sizeof *fresh);      /* another thread's came first */
    return t;
}

long vigil__shape_get(uintptr_t pc)
{
    _Atomic uint64_t *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t || pc == 0 || (uint64_t)pc >> 48)
        return VIGIL_SHAPE_UNKNOWN;
    uint64_t e = atomic_load_explicit(&t[slot_of(pc)], memory_order_relaxed);
    if (e >> 16 != (uint64_t)pc)
        return VIGIL_SHAPE_UNKNOWN;
    unsigned code = (unsigned)(e & 0xFFFF);
    return code == CODE_LAST ? VIGIL_SHAPE_LAST
         : code == CODE_OPAQUE ? VIGIL_SHAPE_OPAQUE : (long)code * 8;
}

void vigil__shape_put(uintptr_t pc, long k)
{
    if (pc == 0 || (uint64_t)pc >> 48)
        return;
    _Atomic uint64_t *t = table_get();
    if (!t)
        return;
    unsigned code = k == VIGIL_SHAPE_LAST ? CODE_LAST
                  : k > 0 && k <= CODE_MAX_K && k % 8 == 0 ? (unsigned)(k / 8) : CODE_OPAQUE;
    atomic_store_explicit(&t[slot_of(pc)], (uint64_t)pc << 16 | code, memory_order_relaxed);
}

/* No ASan instrumentation: the words read are other frames' return
 * addresses, as in the frame walk. */
VIGIL_NO_SANITIZE_ADDRESS
int vigil__shape_walk(uintptr_t pc, uintptr_t sp, uintptr_t lo, uintptr_t hi, void **frames,
                      int max, uint32_t *cfa_at)
{
    uintptr_t sp0 = sp;
    _Atomic uint64_t *t = atomic_load_explicit(&table, memory_order_acquire);
    if (!t || max <= 0)
        return VIGIL_SHAPE_UNKNOWN;
    int n = 0;
    for (;;) {
        frames[n++] = (void *)pc;
        if (n == max)
            return n;
        uint64_t e = atomic_load_explicit(&t[slot_of(pc)], memory_order_relaxed);
        if (e >> 16 != (uint64_t)pc)
            return VIGIL_SHAPE_UNKNOWN;
        unsigned code = (unsigned)(e & 0xFFFF);
        if (code == CODE_LAST)
            return n;
        if (code == CODE_OPAQUE)
            return VIGIL_SHAPE_OPAQUE;
        uintptr_t cfa = sp + (uintptr_t)code * 8;
        if (cfa < sp || cfa > hi || cfa - sizeof(uintptr_t) < lo || cfa - sp0 > UINT32_MAX)
            return VIGIL_SHAPE_OPAQUE;
        if (cfa_at)
            cfa_at[n - 1] = (uint32_t)(cfa - sp0);
        pc = *(const uintptr_t *)(cfa - sizeof(uintptr_t));
        sp = cfa;
        if (pc == 0 || (uint64_t)pc >> 48)
            return VIGIL_SHAPE_UNKNOWN;
    }
}
