/*
 * fail.h - fault injection (DESIGN.md, "Fault injection"): a wrapper
 * factory whose tables make chosen allocations fail as real exhaustion
 * does (NULL, errno ENOMEM; a failed realloc keeps the old block), and the
 * parser of VIGIL_FAIL's value.
 *
 * The wrapper is the outermost layer: the domains put it on top of
 * whatever else they compose (tracing, the debug hooks, a program's own
 * allocator), and only on the domains whose allocations are candidates;
 * when VIGIL_FAIL is unset it is not composed at all.  The counters are
 * per process and atomic: any thread may allocate.
 */
#ifndef VIGIL_FAIL_H
#define VIGIL_FAIL_H

#include <stddef.h>
#include <stdint.h>

#include "vigil.h"

/* VIGIL_FAIL parsed.  A trigger not given is 0 (nth, every) or has its
 * flag clear; a candidate fails when every trigger given agrees (with none
 * given, every candidate does), while fewer than `times` have failed. */
struct vigil_fail_spec {
    unsigned long long nth;     /* the candidate numbered nth; 0: not given */
    unsigned long long every;   /* candidates numbered a multiple of it; 0: not given */
    unsigned long long after;   /* candidates numbered above it ... */
    int has_after;              /* ... when given */
    int has_prob;               /* prob given: */
    int prob_all;               /*   prob=1 */
    uint64_t prob_below;        /*   else a candidate fails when its draw is below this */
    unsigned long long seed;    /* prob's seed (default 1) */
    size_t size;                /* candidates ask for at least this many bytes */
    unsigned long long times;   /* at most this many failures ... */
    int has_times;              /* ... when given */
    unsigned domains;           /* candidate domains, bit (1 << vigil_domain) */
};

/* The one line a malformed value gets: the syntax, every item. */
const char *vigil__fail_syntax(void);

/* Parse VIGIL_FAIL's value s into *out (fail_spec.c): 1 when it is valid;
 * 0 with what is wrong, naming the item, in why (always NUL-terminated).
 * Pure: no environment, no output, no allocation. */
int vigil__fail_parse(const char *s, struct vigil_fail_spec *out, char *why, size_t whylen);

/* Once, at start-up, from the settings: VIGIL_FAIL's value (NULL: unset),
 * VIGIL_FAIL_LOG, VIGIL_FAIL_FILE (NULL: none).  A malformed value is
 * refused in one line on stderr, and nothing is injected.  1 when faults
 * are injected. */
int vigil__fail_configure(const char *value, int log, const char *file);

/* Start injecting by spec now, the counters from 0, no log (the tests and
 * the fuzz harness, before other threads allocate); NULL stops. */
void vigil__fail_set(const struct vigil_fail_spec *spec);

/* Domain d's allocations are candidates: its table gets the wrapper. */
int vigil__fail_on(vigil_domain d);

/* The fault-injection wrapper of domain d around inner, into *out.
 * Identical requests share one wrapper.  0, with a message, when no more
 * wrappers can be made (the domain is then left without). */
int vigil__fail_make(vigil_domain d, const vigil_allocator *inner, vigil_allocator *out);

/* When a is a fault-injection wrapper, store what it wraps in inner (when
 * not NULL) and return 1. */
int vigil__fail_unwrap(const vigil_allocator *a, vigil_allocator *inner);

/* For an allocation of domain d served outside its table (the preload's
 * aligned ones, which the system may serve): 1, with errno ENOMEM, when it
 * is to fail.  Counted as a candidate like any other. */
int vigil__fail_now(vigil_domain d, size_t size);

/* Since start (or the last vigil__fail_set): candidates seen, failures
 * injected. */
unsigned long long vigil__fail_candidates(void);
unsigned long long vigil__fail_injected(void);

#endif /* VIGIL_FAIL_H */
