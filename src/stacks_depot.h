/*
 * stacks_depot.h - every distinct stack stored once, named by a 32-bit id.
 *
 * Tracing keeps a stack for every live block; most blocks share a few
 * hundred stacks, so a block keeps an id and the depot keeps the stack.
 * Stacks are never removed.  Insertion takes no lock (an open-addressing
 * table of atomic ids over records in mapped chunks), so any thread may
 * insert while others read.  Memory comes from vigil__os_map only: the depot
 * serves the allocator's own wrappers, and malloc may be the caller.
 */
#ifndef VIGIL_STACKS_DEPOT_H
#define VIGIL_STACKS_DEPOT_H

#include <stddef.h>
#include <stdint.h>

/* The longest stack stored; longer ones keep their innermost frames. */
#define VIGIL_STACK_DEPOT_MAX_FRAMES 256

/* The id of the n frames (equal stacks, equal ids), storing them if new;
 * 0 when the depot cannot grow (counted as a stack lost) or n <= 0. */
uint32_t vigil__stack_put(void *const *frames, int n);
/* Copy up to max frames of stack id into frames; the count copied, 0 for
 * an id put never returned (any 32-bit value may be asked: the reports
 * read ids from memory a bug may have overwritten). */
int vigil__stack_get(uint32_t id, void **frames, int max);

/* Stacks that could not be stored, since start. */
size_t vigil__stack_lost(void);
/* Distinct stacks stored. */
size_t vigil__stack_count(void);

/* For the tests: let the depot's records take at most `bytes` of record
 * space, counted from the start (0 restores the default); the previous
 * limit.  A limit below what is in use already makes every new stack lost. */
size_t vigil__stack_depot_limit(size_t bytes);

#endif /* VIGIL_STACKS_DEPOT_H */
