/*
 * check.h - vigil's internal assertions.
 *
 * VIGIL_ASSERT states an invariant of vigil's own structures (a pool's
 * counts, a list's links, a cache's room).  In a build configured with
 * --enable-assertions (CI builds one) a false one writes where it failed and
 * aborts; otherwise it costs nothing and its argument is not evaluated.
 * Never for the program's bugs: those get a report (report.h).
 */
#ifndef VIGIL_CHECK_H
#define VIGIL_CHECK_H

#ifdef VIGIL_ASSERTIONS
void vigil__assert_failed(const char *cond, const char *file, int line, const char *func)
    __attribute__((noreturn, cold));
#define VIGIL_ASSERT(cond) \
    ((cond) ? (void)0 : vigil__assert_failed(#cond, __FILE__, __LINE__, __func__))
#else
#define VIGIL_ASSERT(cond) ((void)sizeof((cond) ? 1 : 0))
#endif

#endif /* VIGIL_CHECK_H */
