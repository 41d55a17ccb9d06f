/*
 * vigil.h - the vigil allocator API.
 *
 * Three domains, in the PEP 445 tradition:
 *   raw  - the system allocator by default; safe to call from anywhere;
 *   mem  - general small-object memory, the arena allocator by default;
 *   obj  - object memory, the arena allocator by default.
 * A block must be freed through the domain that allocated it.
 *
 * Each domain's allocator is a replaceable table; so is the source the arena
 * takes its memory from.  Replace them before other threads use vigil: the
 * tables are read without a lock.
 */
#ifndef VIGIL_H
#define VIGIL_H

#include <stddef.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define VIGIL_API __attribute__((visibility("default")))
#else
#define VIGIL_API
#endif

typedef enum { VIGIL_DOMAIN_RAW, VIGIL_DOMAIN_MEM, VIGIL_DOMAIN_OBJ } vigil_domain;

typedef struct {
    void *ctx;
    void *(*malloc)(void *ctx, size_t size);
    void *(*calloc)(void *ctx, size_t nelem, size_t elsize);
    void *(*realloc)(void *ctx, void *ptr, size_t new_size);
    void  (*free)(void *ctx, void *ptr);
} vigil_allocator;

typedef struct {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void  (*free)(void *ctx, void *ptr, size_t size);
} vigil_arena_allocator;

/* Allocation.  size 0 gives a unique non-NULL pointer; a size that cannot be
 * served (including nelem * elsize overflowing) gives NULL with errno ENOMEM;
 * free(NULL) does nothing; every block is aligned to 16 bytes. */
VIGIL_API void *vigil_raw_malloc(size_t size);
VIGIL_API void *vigil_raw_calloc(size_t nelem, size_t elsize);
VIGIL_API void *vigil_raw_realloc(void *ptr, size_t new_size);
VIGIL_API void  vigil_raw_free(void *ptr);

VIGIL_API void *vigil_mem_malloc(size_t size);
VIGIL_API void *vigil_mem_calloc(size_t nelem, size_t elsize);
VIGIL_API void *vigil_mem_realloc(void *ptr, size_t new_size);
VIGIL_API void  vigil_mem_free(void *ptr);

VIGIL_API void *vigil_obj_malloc(size_t size);
VIGIL_API void *vigil_obj_calloc(size_t nelem, size_t elsize);
VIGIL_API void *vigil_obj_realloc(void *ptr, size_t new_size);
VIGIL_API void  vigil_obj_free(void *ptr);

/* Replace or wrap a domain's allocator.  To hook, get the current table,
 * keep it, and set a table whose functions call the kept one. */
VIGIL_API void vigil_get_allocator(vigil_domain domain, vigil_allocator *out);
VIGIL_API void vigil_set_allocator(vigil_domain domain, const vigil_allocator *alloc);

/* Replace the source of arena memory (mmap/munmap by default).  Set it before
 * the first arena is allocated: arenas are given back to the source that
 * gave them. */
VIGIL_API void vigil_get_arena_allocator(vigil_arena_allocator *out);
VIGIL_API void vigil_set_arena_allocator(const vigil_arena_allocator *alloc);

/* Wrap every domain's current allocator with the debug hooks (guard bytes,
 * fill patterns, API tags).  Calling it again does not wrap twice. */
VIGIL_API void vigil_setup_debug_hooks(void);

/* "arena", "arena_debug", "malloc" or "malloc_debug"; NULL when a custom
 * allocator is installed on any domain. */
VIGIL_API const char *vigil_allocator_name(void);

/* Live blocks handed out by vigil's own allocators (the arena and the system
 * allocator wrapper), all domains together. */
VIGIL_API size_t vigil_allocated_blocks(void);

/* Print the arena statistics; returns 0 (printing nothing) when no domain
 * uses the arena, 1 otherwise. */
VIGIL_API int vigil_print_stats(FILE *out);

/* Debug hooks: check one debug block now (0 when it is healthy, otherwise
 * report like a failed free would, and return non-zero when VIGIL_ABORT=0),
 * dump one to stderr, count the errors reported so far. */
VIGIL_API int    vigil_check_block(const void *ptr);
VIGIL_API void   vigil_dump_block(const void *ptr);
VIGIL_API size_t vigil_error_count(void);

/* Debug hooks: check every live debug block now, as freeing it would
 * (size field, API id, both guards), and report each damaged one as a
 * failed free would, the call of vigil_check_heap as the bad call; returns
 * how many are damaged (the first report aborts unless VIGIL_ABORT=0).
 * The same check runs at exit in debug mode. */
VIGIL_API size_t vigil_check_heap(void);

/* Allocation tracing, in the tracemalloc tradition: while it is on, every
 * block allocated through a domain (whatever allocator serves it, custom
 * ones included) is recorded with its allocation stack and size until it
 * is freed.  VIGIL_TRACE=N starts it at start-up.
 *
 * vigil_trace_start: record nframes frames (1..64) from now on; 0, or -1
 * with errno EINVAL for another count.  Blocks allocated before are not
 * traced, and are freed as usual.  Called again, it changes the frames
 * recorded and keeps the records so far.
 * vigil_trace_stop: stop recording and forget every record.
 * vigil_trace_frames: the frames being recorded, 0 when off.
 * vigil_trace_get: ptr's allocation stack, innermost call first (return
 * addresses, at most max); the frames stored, 0 when ptr is not traced.
 * vigil_trace_print_top: the live blocks grouped by allocation stack, most
 * bytes first, each site with its symbolized stack, then a summary; at
 * most limit sites (0: all); returns the number of sites printed. */
VIGIL_API int    vigil_trace_start(int nframes);
VIGIL_API void   vigil_trace_stop(void);
VIGIL_API int    vigil_trace_frames(void);
VIGIL_API int    vigil_trace_get(const void *ptr, void **frames, int max);
VIGIL_API size_t vigil_trace_print_top(FILE *out, size_t limit);

/* Snapshots (tracemalloc's take_snapshot and compare_to): the traced live
 * blocks grouped by allocation stack at one moment.  A snapshot lives
 * outside the traced heap and stays valid after vigil_trace_stop.
 *
 * vigil_trace_take_snapshot: one taken now; NULL with errno EINVAL when
 * tracing is off, ENOMEM when there is no memory for it.
 * vigil_trace_snapshot_compare: print the sites whose live bytes grew from
 * old to now, most growth first, at most limit (0: all), each with its
 * stack, then a summary of the change; old may be NULL (nothing before).
 * Returns the number of sites printed.
 * vigil_trace_snapshot_write: write snap as a Valgrind massif output file,
 * which ms_print(1) and massif-visualizer read; 0, or -1 with errno set.
 * vigil_trace_snapshot_free: give it back (NULL does nothing). */
typedef struct vigil_trace_snapshot vigil_trace_snapshot;
VIGIL_API vigil_trace_snapshot *vigil_trace_take_snapshot(void);
VIGIL_API size_t vigil_trace_snapshot_compare(FILE *out, const vigil_trace_snapshot *old,
                                              const vigil_trace_snapshot *now, size_t limit);
VIGIL_API int    vigil_trace_snapshot_write(const vigil_trace_snapshot *snap, FILE *out);
VIGIL_API void   vigil_trace_snapshot_free(vigil_trace_snapshot *snap);

/* Leak checking (DESIGN.md, "Tracing and leaks"): the blocks nothing points
 * to any more, found by a scan of the program's roots (data and bss of every
 * loaded object, every thread's stack and registers, other allocators'
 * memory) through the live blocks, reported to out grouped by allocation
 * stack, largest first, as LeakSanitizer reports them; returns the leaked
 * blocks reported (suppressions of VIGIL_LEAK_SUPPRESSIONS left out).  It
 * knows the blocks tracing knows: with VIGIL_LEAKS=1 (which traces from
 * start-up, 16 frames unless VIGIL_TRACE says otherwise), VIGIL_TRACE or
 * after vigil_trace_start; otherwise it says so on out and returns 0. */
VIGIL_API size_t vigil_leak_check(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* VIGIL_H */
