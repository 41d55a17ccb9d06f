/*
 * trace_table.h - tracing's table of live blocks: for every traced block,
 * its size and the depot id of its allocation stack, keyed by the block's
 * address.
 *
 * Sharded: 64 shards, each an open-addressing table under a mutex of its
 * own, picked by a hash of the address, so threads allocating at once
 * rarely meet on one lock.  Memory comes from vigil__os_map only: the table
 * serves the allocator's own wrappers, and malloc may be the caller.  When
 * a shard cannot grow (no memory, or the test limit), a new block is not
 * traced and counted as a trace lost; the program goes on.
 */
#ifndef VIGIL_TRACE_TABLE_H
#define VIGIL_TRACE_TABLE_H

#include <stddef.h>
#include <stdint.h>

/* Record block p (replacing whatever an earlier block at p left); 0 when
 * it cannot be kept (counted as lost), or the table is closed. */
int vigil__trace_table_put(const void *p, size_t size, uint32_t stack);
/* Remove p's record; 1 with *size and *stack set when there was one. */
int vigil__trace_table_take(const void *p, size_t *size, uint32_t *stack);
/* Read p's record without removing it. */
int vigil__trace_table_find(const void *p, size_t *size, uint32_t *stack);

/* Open the table for records (tracing started); registers the fork
 * handlers, which may allocate, so call it where that is safe. */
void vigil__trace_table_open(void);
/* Close it and forget every record (tracing stopped): a put racing with
 * this finds the table closed and records nothing. */
void vigil__trace_table_close(void);

/* Call fn for every record, one shard at a time with that shard's lock
 * held: fn must not allocate through vigil (os memory is fine). */
void vigil__trace_table_each(void (*fn)(void *arg, size_t size, uint32_t stack), void *arg);

/* For a leak check: hold every shard (no record comes or goes) until
 * release; meanwhile count the records, and call fn for up to max of them
 * with the block's address (no lock taken: the table is held).  fn must
 * not allocate. */
void vigil__trace_table_hold(void);
void vigil__trace_table_release(void);
size_t vigil__trace_table_held_count(void);
size_t vigil__trace_table_held_each(void (*fn)(void *arg, const void *p, size_t size, uint32_t stack),
                                    void *arg, size_t max);

struct vigil_trace_table_stats {
    size_t live;                /* records now */
    size_t mapped;              /* bytes of table memory now mapped */
    size_t lost;                /* blocks that could not be recorded, since the
                                   process started */
    size_t recorded;            /* records made, since the process started */
};
void vigil__trace_table_stats(struct vigil_trace_table_stats *out);

/* For the tests: the most slots one shard may have (0 restores the
 * default, unbounded); the previous limit. */
size_t vigil__trace_table_limit(size_t slots);

#endif /* VIGIL_TRACE_TABLE_H */
