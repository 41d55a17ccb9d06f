/*
 * stacks_depot.c - each distinct stack stored once (see stacks_depot.h).
 *
 * Two structures, both in memory from vigil__os_map:
 *   - the records: {hash, count, frames...}, bump-allocated with one atomic
 *     add in a space of 8-byte units made of 1 MiB chunks, each chunk mapped
 *     when first needed (whoever needs it maps it and installs it with a
 *     compare-and-swap; a loser unmaps its copy).  A record's id is its
 *     offset in units, plus one, so 0 is never an id;
 *   - the index: fixed open-addressing tables of atomic ids, hashed by the
 *     stack, probed linearly: a small one first (128 KiB, each id with its hash: a program's few
 *     thousand stacks then touch a few pages of it, not a page each of the
 *     big one, which cost git log -p a thousand page faults and gcc its
 *     misses), then the big one.  The small one is closed slot by slot once
 *     it is three quarters full: a probe that reaches an empty slot then
 *     marks it CLOSED and goes on in the big one, and so does one that
 *     finds it marked; two threads inserting one stack race for the same
 *     slot, so both end in the same table.  A new stack's record is written in full
 *     first, then its id is published into an empty slot with a
 *     compare-and-swap (release); a reader loads the slot (acquire) and so
 *     sees the whole record.  Two threads inserting one new stack race for
 *     a slot: the loser finds the winner's equal record there and returns
 *     its id; its own record is left unused (a few bytes, only on a race).
 * The table is mapped whole at the first put (untouched pages cost
 * nothing); it is filled to three quarters at most, so a probe stays short.
 * Past that, or when no chunk can be mapped, a stack is lost: counted, and
 * the caller gets id 0.
 */
#include "config.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "check.h"
#include "os.h"
#include "stacks_depot.h"

#define UNIT 8u                                 /* bytes: a record's alignment */
#define CHUNK_BYTES ((size_t)1 << 20)
#define CHUNK_UNITS (CHUNK_BYTES / UNIT)
#define MAX_CHUNKS 1024                         /* 1 GiB of records at most */
#define TABLE_SLOTS ((size_t)1 << 20)           /* 4 MiB of index, mapped lazily */
#define TABLE_FILL (TABLE_SLOTS / 4 * 3)
#define SMALL_SLOTS ((size_t)1 << 14)           /* 128 KiB: an id and its hash a slot */
#define SMALL_FILL (SMALL_SLOTS / 4 * 3)
#define CLOSED UINT32_MAX                       /* never an id: see record_new */

struct record {
    uint32_t hash;
    uint32_t n;
    void *frames[];
};

_Static_assert(sizeof(struct record) % UNIT == 0, "records are whole units");
_Static_assert(sizeof(void *) <= UNIT, "a frame fits a unit");

static void *_Atomic chunks[MAX_CHUNKS];
static _Atomic uint64_t units_used;             /* handed out, in units */
static _Atomic uint64_t units_limit = (uint64_t)MAX_CHUNKS * CHUNK_UNITS;
static void *_Atomic table, *_Atomic small;
static _Atomic size_t stored, stored_small, lost;

/* splitmix64's finaliser over each frame: cheap, and every bit of every
 * address moves the result. */
static uint32_t stack_hash(void *const *frames, int n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ (uint64_t)n;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)(uintptr_t)frames[i];
        h *= 0xbf58476d1ce4e5b9u;
        h ^= h >> 31;
        h *= 0x94d049bb133111ebu;
        h ^= h >> 29;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static char *chunk_get(size_t c)
{
    return vigil__os_map_once(&chunks[c], CHUNK_BYTES);
}

static _Atomic uint32_t *table_get(void)
{
    return vigil__os_map_once(&table, TABLE_SLOTS * sizeof(uint32_t));
}

static _Atomic uint64_t *small_get(void)
{
    return vigil__os_map_once(&small, SMALL_SLOTS * sizeof(uint64_t));
}

/* The record of id, or NULL for an id never handed out. */
static struct record *record_at(uint32_t id)
{
    if (id == 0)
        return NULL;
    uint64_t off = (uint64_t)id - 1;
    if (off >= atomic_load_explicit(&units_used, memory_order_relaxed) ||
        off / CHUNK_UNITS >= MAX_CHUNKS)
        return NULL;
    char *base = atomic_load_explicit(&chunks[off / CHUNK_UNITS], memory_order_acquire);
    return base ? (struct record *)(base + (off % CHUNK_UNITS) * UNIT) : NULL;
}

/* A new record holding the stack; its id, 0 when the depot cannot grow. */
static uint32_t record_new(uint32_t hash, void *const *frames, int n)
{
    uint64_t units = (sizeof(struct record) + (size_t)n * sizeof(void *) + UNIT - 1) / UNIT;
    for (;;) {
        uint64_t off = atomic_fetch_add_explicit(&units_used, units, memory_order_relaxed);
        if (off + units > atomic_load_explicit(&units_limit, memory_order_relaxed) ||
            off + units > UINT32_MAX)
            return 0;
        /* A record never straddles two chunks: the one that would is
         * abandoned, and the next try starts in the next chunk. */
        if (off / CHUNK_UNITS != (off + units - 1) / CHUNK_UNITS)
            continue;
        char *base = chunk_get(off / CHUNK_UNITS);
        if (!base)
            return 0;
        struct record *rec = (struct record *)(base + (off % CHUNK_UNITS) * UNIT);
        rec->hash = hash;
        rec->n = (uint32_t)n;
        memcpy(rec->frames, frames, (size_t)n * sizeof(void *));
        return (uint32_t)(off + 1);
    }
}

static int record_is(uint32_t id, uint32_t hash, void *const *frames, int n)
{
    const struct record *rec = record_at(id);
    VIGIL_ASSERT(rec != NULL);
    return rec && rec->hash == hash && rec->n == (uint32_t)n &&
           memcmp(rec->frames, frames, (size_t)n * sizeof(void *)) == 0;
}

static uint32_t lose(void)
{
    atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
    return 0;
}

/* The stack's id in the small table; CLOSED when it is not there and the
 * search goes on in the big one; 0 when it cannot be stored.  *mine: our
 * record, once made. */
static uint32_t put_small(uint32_t hash, void *const *frames, int n, uint32_t *mine)
{
    _Atomic uint64_t *t = small_get();
    if (!t)
        return 0;
    size_t i = hash & (SMALL_SLOTS - 1);
    for (size_t probes = 0; probes < SMALL_SLOTS; probes++, i = (i + 1) & (SMALL_SLOTS - 1)) {
        uint64_t slot = atomic_load_explicit(&t[i], memory_order_acquire);
        if (slot == 0) {
            int full = atomic_load_explicit(&stored_small, memory_order_relaxed) >= SMALL_FILL;
            uint32_t put = full ? CLOSED : *mine;
            if (!full && !put) {
                put = *mine = record_new(hash, frames, n);
                if (!put)
                    return 0;           /* not in either table: lost */
            }
            if (atomic_compare_exchange_strong_explicit(&t[i], &slot, (uint64_t)hash << 32 | put,
                                                        memory_order_release,
                                                        memory_order_acquire)) {
                if (full)
                    return CLOSED;
                atomic_fetch_add_explicit(&stored_small, 1, memory_order_relaxed);
                atomic_fetch_add_explicit(&stored, 1, memory_order_relaxed);
                return put;
            }
            /* The slot was taken meanwhile: now its owner's. */
        }
        uint32_t id = (uint32_t)slot;
        if (id == CLOSED)
            return CLOSED;
        /* The hash kept beside the id: another stack's record is not read. */
        if ((uint32_t)(slot >> 32) == hash && record_is(id, hash, frames, n))
            return id;
    }
    return CLOSED;
}

uint32_t vigil__stack_put(void *const *frames, int n)
{
    if (n <= 0)
        return 0;
    if (n > VIGIL_STACK_DEPOT_MAX_FRAMES)
        n = VIGIL_STACK_DEPOT_MAX_FRAMES;
    uint32_t hash = stack_hash(frames, n);
    uint32_t mine = 0;                          /* our record, once made */
    uint32_t found = put_small(hash, frames, n, &mine);
    if (found != CLOSED)
        return found ? found : lose();
    _Atomic uint32_t *t = table_get();
    if (!t)
        return lose();
    size_t i = hash & (TABLE_SLOTS - 1);
    for (size_t probes = 0; probes < TABLE_SLOTS; probes++, i = (i + 1) & (TABLE_SLOTS - 1)) {
        uint32_t id = atomic_load_explicit(&t[i], memory_order_acquire);
        if (id == 0) {
            if (!mine) {
                if (atomic_load_explicit(&stored, memory_order_relaxed) >= TABLE_FILL)
                    return lose();
                mine = record_new(hash, frames, n);
                if (!mine)
                    return lose();
            }
            if (atomic_compare_exchange_strong_explicit(&t[i], &id, mine,
                                                        memory_order_release,
                                                        memory_order_acquire)) {
                atomic_fetch_add_explicit(&stored, 1, memory_order_relaxed);
                return mine;
            }
            /* The slot was taken meanwhile: id is now its owner's. */
        }
        if (record_is(id, hash, frames, n))
            return id;
    }
    return lose();
}

/* Whether id is the start of a whole record: the reports read ids from
 * memory a bug may have overwritten (a debug block's trailer), and a
 * garbage id must give no stack rather than one made of other bytes. */
static int record_valid(uint32_t id, const struct record *rec)
{
    uint64_t off = (uint64_t)id - 1;
    uint64_t room = CHUNK_UNITS - off % CHUNK_UNITS;    /* units to the chunk's end */
    if (room < sizeof(struct record) / UNIT)
        return 0;
    uint64_t max_n = (room - sizeof(struct record) / UNIT) * (UNIT / sizeof(void *));
    uint64_t n = rec->n;
    if (n == 0 || n > VIGIL_STACK_DEPOT_MAX_FRAMES || n > max_n)
        return 0;
    uint64_t units = (sizeof(struct record) + n * sizeof(void *) + UNIT - 1) / UNIT;
    if (off + units > atomic_load_explicit(&units_used, memory_order_relaxed))
        return 0;
    return rec->hash == stack_hash(rec->frames, (int)n);
}

int vigil__stack_get(uint32_t id, void **frames, int max)
{
    const struct record *rec = record_at(id);
    if (!rec || !record_valid(id, rec))
        return 0;
    int n = (int)rec->n < max ? (int)rec->n : max;
    if (n > 0)
        memcpy(frames, rec->frames, (size_t)n * sizeof(void *));
    return n > 0 ? n : 0;
}

size_t vigil__stack_lost(void)
{
    return atomic_load_explicit(&lost, memory_order_relaxed);
}

size_t vigil__stack_count(void)
{
    return atomic_load_explicit(&stored, memory_order_relaxed);
}

/* Bytes of [p, p + bytes) resident (mincore), p page-aligned. */
static size_t resident(const void *p, size_t bytes)
{
    size_t page = vigil__os_page_size(), total = 0;
    unsigned char vec[1024];
    int saved = errno;
    for (size_t off = 0; off < bytes; off += sizeof vec * page) {
        size_t len = bytes - off < sizeof vec * page ? bytes - off : sizeof vec * page;
        if (mincore((char *)p + off, len, vec) != 0)
            break;
        for (size_t i = 0; i < (len + page - 1) / page; i++)
            total += (vec[i] & 1) ? page : 0;
    }
    errno = saved;
    return total;
}

void vigil__stack_depot_memory(size_t *records, size_t *index)
{
    *records = 0;
    for (size_t c = 0; c < MAX_CHUNKS; c++) {
        char *p = atomic_load_explicit(&chunks[c], memory_order_acquire);
        if (p)
            *records += resident(p, CHUNK_BYTES);
    }
    _Atomic uint32_t *t = atomic_load_explicit(&table, memory_order_acquire);
    *index = t ? resident((const void *)t, TABLE_SLOTS * sizeof *t) : 0;
    const void *s = atomic_load_explicit(&small, memory_order_acquire);
    *index += s ? resident(s, SMALL_SLOTS * sizeof(uint64_t)) : 0;
}

size_t vigil__stack_depot_limit(size_t bytes)
{
    uint64_t units = bytes ? bytes / UNIT : (uint64_t)MAX_CHUNKS * CHUNK_UNITS;
    if (units > (uint64_t)MAX_CHUNKS * CHUNK_UNITS)
        units = (uint64_t)MAX_CHUNKS * CHUNK_UNITS;
    return (size_t)(atomic_exchange_explicit(&units_limit, units, memory_order_relaxed) * UNIT);
}
