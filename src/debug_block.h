/*
 * debug_block.h - the layout of a debug block, in one place: the wrapper
 * (debug.c) writes it, the diagnosis (debug_diagnose.c) reads it without
 * trusting it, the quarantine (debug_quarantine.c) checks the fill of a
 * freed one, and the tests assert it.
 *
 * A debug block inside the block the wrapped allocator returns (S is
 * sizeof(size_t); p is what the application gets):
 *
 *   p-2S         p-S  p-S+1        p               p+n          p+n+S
 *   +------------+----+------------+---------------+------------+--------+-------------+
 *   | size n     | id | S-1 x 0xFD | n data bytes  | S x 0xFD   | serial | origin      |
 *   | big-endian |    |            | 0xCD when new |            | option | stack, Tn   |
 *   +------------+----+------------+---------------+------------+--------+-------------+
 *
 * The size is stored big-endian and the serial too, so both read as numbers
 * in a hex dump.  id is 'r', 'm' or 'o', the domain whose wrapper made the
 * block.  The origin is where the block was allocated: the stack depot's id
 * of the allocating call's stack and the allocating thread's number (two
 * 32-bit words, native order), for the reports' "allocated by thread T<n>
 * here:".  It comes last so that the part DESIGN.md fixes (header, data,
 * tail guard, serial) is where it always was.  Freeing fills the whole
 * block, header included, with 0xDD: that is how a second free is told from
 * a first, and how the quarantine tells that nobody wrote to the block
 * while it waited (the origin moves to the quarantine's entry first).  The
 * data stays 16-byte aligned because 2S is 16 on the 64-bit targets vigil
 * supports.
 */
#ifndef VIGIL_DEBUG_BLOCK_H
#define VIGIL_DEBUG_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VIGIL_DEBUG_WORD        sizeof(size_t)
#define VIGIL_DEBUG_HEAD        (2 * VIGIL_DEBUG_WORD)
#ifdef VIGIL_SERIALNO
#define VIGIL_DEBUG_SERIAL      VIGIL_DEBUG_WORD
#else
#define VIGIL_DEBUG_SERIAL      0
#endif
/* Where the origin lies, from the end of the data. */
#define VIGIL_DEBUG_ORIGIN_AT   (VIGIL_DEBUG_WORD + VIGIL_DEBUG_SERIAL)
#define VIGIL_DEBUG_ORIGIN      8
#define VIGIL_DEBUG_TRAILER     (VIGIL_DEBUG_ORIGIN_AT + VIGIL_DEBUG_ORIGIN)
#define VIGIL_DEBUG_OVERHEAD    (VIGIL_DEBUG_HEAD + VIGIL_DEBUG_TRAILER)

#define VIGIL_CLEANBYTE         0xCD    /* new data (malloc, realloc's growth) */
#define VIGIL_DEADBYTE          0xDD    /* a freed block, header and all */
#define VIGIL_FORBIDDENBYTE     0xFD    /* the guards on both sides */
/* A word of guard bytes, as the tail guard is compared. */
#define VIGIL_DEBUG_GUARD_WORD  ((size_t)-1 / 0xFF * VIGIL_FORBIDDENBYTE)

/* The whole block must stay below PTRDIFF_MAX, like any other block. */
#define VIGIL_DEBUG_MAX_REQUEST ((size_t)PTRDIFF_MAX - VIGIL_DEBUG_OVERHEAD)

/* What every allocator vigil wraps returns (the arena's blocks, malloc's on
 * the 64-bit targets); the header keeps the data at that alignment. */
#define VIGIL_DEBUG_ALIGNMENT   16

#if SIZE_MAX > 0xFFFFFFFFu
_Static_assert(VIGIL_DEBUG_HEAD % VIGIL_DEBUG_ALIGNMENT == 0,
               "the header must keep the data aligned");
#endif

/* The id byte of the blocks of domain d (vigil_domain: raw, mem, obj). */
static inline unsigned char vigil__debug_api_id(int d)
{
    return (unsigned char)"rmo"[d];
}

/* The domain an id byte names; -1 when it names none. */
static inline int vigil__debug_domain_of(unsigned char id)
{
    for (int d = 0; d < 3; d++)
        if (vigil__debug_api_id(d) == id)
            return d;
    return -1;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && SIZE_MAX == UINT64_MAX
#define VIGIL_DEBUG_TO_BE(v) __builtin_bswap64(v)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && SIZE_MAX == UINT32_MAX
#define VIGIL_DEBUG_TO_BE(v) __builtin_bswap32(v)
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define VIGIL_DEBUG_TO_BE(v) (v)
#else
#error "unknown byte order"
#endif

/* The size field (and the serial number): one word, big-endian. */
static inline void vigil__debug_put_be(unsigned char *d, size_t v)
{
    v = VIGIL_DEBUG_TO_BE(v);
    memcpy(d, &v, VIGIL_DEBUG_WORD);
}

static inline size_t vigil__debug_get_be(const unsigned char *s)
{
    size_t v;
    memcpy(&v, s, VIGIL_DEBUG_WORD);
    return VIGIL_DEBUG_TO_BE(v);
}

/* Where a block was allocated, or freed: the depot's id of the call's
 * stack (0: none recorded) and the thread's number. */
struct vigil_origin {
    uint32_t stack;
    uint32_t thread;
};

_Static_assert(sizeof(struct vigil_origin) == VIGIL_DEBUG_ORIGIN, "the origin is two words");

static inline void vigil__debug_put_origin(unsigned char *d, struct vigil_origin o)
{
    memcpy(d, &o, sizeof o);
}

static inline struct vigil_origin vigil__debug_get_origin(const unsigned char *s)
{
    struct vigil_origin o;
    memcpy(&o, s, sizeof o);
    return o;
}

#endif /* VIGIL_DEBUG_BLOCK_H */
