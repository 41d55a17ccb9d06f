/*
 * leak_asan.h - under AddressSanitizer, the leak check of pool blocks at
 * exit, beside LeakSanitizer's (DESIGN.md, "Tracing and leaks").
 *
 * LeakSanitizer knows only ASan's own chunks: a pool block nothing points
 * to is no leak to it.  When LSan checks at exit (detect_leaks and
 * leak_check_at_exit, on by default), vigil checks its pool blocks first,
 * in an exit handler that runs before LSan's: the blocks are the arena's
 * record of its live blocks (arena_tools.h), and ASan's live chunks,
 * recorded through ASan's allocator hooks, are blocks to reach through, as
 * LSan's own scan treats them, not roots (a pool block reached only
 * through a leaked chunk is a leak, one reached through a live chunk is
 * not).  A pool-block leak is reported in vigil's words (leak.h), then
 * LSan reports its own chunks at once, and the process ends with status
 * exitcode; without one, LSan's check at exit goes on as usual.
 */
#ifndef VIGIL_LEAK_ASAN_H
#define VIGIL_LEAK_ASAN_H

/* Once, at start-up (the domains' init, where an exit handler may be
 * registered); nothing outside an ASan build. */
void vigil__leak_asan_start(int exitcode);

#endif /* VIGIL_LEAK_ASAN_H */
