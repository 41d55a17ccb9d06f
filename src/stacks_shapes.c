/*
 * stacks_shapes.c - the table of frame rules by pc, and the walk that uses
 * it (see stacks_shapes.h).
 *
 * An entry is (pc << 16) | code: pc fits 48 bits (user-space code on
 * x86-64 lies below 2^47); code is the kind in its top two bits and, for a
 * fixed frame, k / 8 in the next eleven and the slot in the last three.
 * An empty word (0) is nobody's: no pc is 0.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>

#include "os.h"
#include "stacks_shapes.h"
#include "vigil/annotate.h"

/* 2 MiB, mapped at the first put: gcc's cc1 meets some 8,000 pcs, and at
 * a quarter of this a fifth of its learning was of pcs pushed out. */
#define SLOTS_LOG 18
#define SLOTS ((size_t)1 << SLOTS_LOG)
#define WORD sizeof(uintptr_t)

static void *_Atomic table;

static inline size_t slot_of(uintptr_t pc)
{
    return (size_t)(((uint64_t)pc * 0x9e3779b97f4a7c15u) >> (64 - SLOTS_LOG));
}

static _Atomic uint64_t *table_get(void)
{
    return vigil__os_map_once(&table, SLOTS * sizeof(uint64_t));
}

void vigil__shape_put(uintptr_t pc, enum vigil_shape_kind kind, size_t k, unsigned slot)
{
    if (pc == 0 || (uint64_t)pc >> 48)
        return;
    _Atomic uint64_t *t = table_get();
    if (!t)
        return;
    /* A slot lies in the frame, below the return address. */
    if (kind == VIGIL_SHAPE_FIXED &&
        (k == 0 || k > VIGIL_SHAPE_MAX_K || k % 8 || slot > VIGIL_SHAPE_MAX_SLOT ||
         slot == 1 || slot * 8 > k))
        kind = VIGIL_SHAPE_OPAQUE;
    unsigned code = (unsigned)kind << 14;
    if (kind == VIGIL_SHAPE_FIXED)
        code |= (unsigned)(k / 8) << 3 | slot;
    atomic_store_explicit(&t[slot_of(pc)], (uint64_t)pc << 16 | code, memory_order_relaxed);
}

int vigil__shape_known(uintptr_t pc)
{
    _Atomic uint64_t *t = atomic_load_explicit(&table, memory_order_acquire);
    return t && pc && !((uint64_t)pc >> 48) &&
           atomic_load_explicit(&t[slot_of(pc)], memory_order_relaxed) >> 16 == (uint64_t)pc;
}

/* The walk, inline in its two uses below so that the one without a trace
 * has none of its tests.  A fixed frame first: nearly every frame is one.
 * No ASan instrumentation: the words read are other frames' return
 * addresses and saved registers, as in the frame walk. */
VIGIL_NO_SANITIZE_ADDRESS __attribute__((always_inline))
static inline int walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t lo, uintptr_t hi,
                       void **frames, int max, struct vigil_shape_trace *trace,
                       struct vigil_shape_stop *stop)
{
    _Atomic uint64_t *t = atomic_load_explicit(&table, memory_order_acquire);
    *stop = (struct vigil_shape_stop){ pc, sp, bp };
    /* The frame whose saved frame pointer bp was reloaded from; -1: bp is
     * still bp0. */
    int bp_from = -1;
    if (trace) {
        trace->bp_used = 0;
        trace->fp_needed = 0;
    }
    if (max > VIGIL_SHAPE_MAX_FRAMES)
        max = VIGIL_SHAPE_MAX_FRAMES;
    if (!t || max <= 0)
        return VIGIL_SHAPE_UNKNOWN;
    if (sp < lo || sp >= hi || hi < 2 * WORD)
        return VIGIL_SHAPE_NONE;
    uintptr_t sp0 = sp;
    int n = 0;
    for (;;) {
        frames[n++] = (void *)pc;
        if (n == max)
            return n;
        uint64_t e = atomic_load_explicit(&t[slot_of(pc)], memory_order_relaxed);
        if (e >> 16 != (uint64_t)pc) {
            *stop = (struct vigil_shape_stop){ pc, sp, bp };
            return VIGIL_SHAPE_UNKNOWN;
        }
        unsigned code = (unsigned)(e & 0xFFFF);
        unsigned kind = code >> 14;
        uintptr_t cfa, next_bp, fp_at = 0;
        if (__builtin_expect(kind == VIGIL_SHAPE_FIXED, 1)) {
            cfa = sp + (uintptr_t)(code >> 3 & 2047) * 8;
            unsigned slot = code & 7;
            if (cfa > hi)
                return VIGIL_SHAPE_NONE;
            next_bp = bp;
            if (slot) {
                fp_at = cfa - slot * WORD;
                next_bp = *(const uintptr_t *)fp_at;
            }
        } else if (kind == VIGIL_SHAPE_FP) {
            /* The frame record lies in this frame, above its stack pointer. */
            if (bp < sp || bp > hi - 2 * WORD || (bp & (WORD - 1)))
                return VIGIL_SHAPE_NONE;
            if (trace && bp_from < 0)
                trace->bp_used = 1;
            else if (trace)
                trace->fp_needed |= (uint64_t)1 << bp_from;
            cfa = bp + 2 * WORD;
            fp_at = bp;
            next_bp = *(const uintptr_t *)bp;
        } else if (kind == VIGIL_SHAPE_LAST) {
            return n;
        } else {
            return VIGIL_SHAPE_NONE;
        }
        if (cfa - sp0 > UINT32_MAX || cfa < lo + WORD)
            return VIGIL_SHAPE_NONE;
        if (fp_at)
            bp_from = n - 1;
        if (trace) {
            trace->cfa[n - 1] = (uint32_t)(cfa - sp0);
            trace->fp_at[n - 1] = fp_at ? (uint32_t)(fp_at - sp0) + 1 : 0;
            trace->fp[n - 1] = next_bp;
        }
        pc = *(const uintptr_t *)(cfa - WORD);
        sp = cfa;
        bp = next_bp;
        if (pc == 0 || (uint64_t)pc >> 48)
            return VIGIL_SHAPE_NONE;
    }
}

VIGIL_NO_SANITIZE_ADDRESS
int vigil__shape_walk(uintptr_t pc, uintptr_t sp, uintptr_t bp, uintptr_t lo, uintptr_t hi,
                      void **frames, int max, struct vigil_shape_trace *trace,
                      struct vigil_shape_stop *stop)
{
    if (trace)
        return walk(pc, sp, bp, lo, hi, frames, max, trace, stop);
    return walk(pc, sp, bp, lo, hi, frames, max, NULL, stop);
}
