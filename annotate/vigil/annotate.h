/*
 * vigil/annotate.h - tell Valgrind memcheck and AddressSanitizer what a custom
 * allocator does, so they check blocks inside its pools as they check malloc's.
 *
 * This is the only file of vigil that includes the tools' headers.  Every
 * macro compiles to nothing unless the tool is enabled:
 *   - Valgrind: define VIGIL_USE_VALGRIND to 1 before including this header
 *     (vigil's own build does so when configured --with-valgrind) and have
 *     <valgrind/memcheck.h>.  The requests cost a few instructions when the
 *     program is not running under Valgrind.
 *   - ASan: automatic when compiling with -fsanitize=address.
 *
 * Valgrind side, in brief (the manual's "memory pools" section has the rest):
 * memcheck needs to know which bytes are addressable (NOACCESS), addressable
 * but holding garbage (UNDEFINED) and holding data (DEFINED), and which
 * ranges are blocks the program owns (POOL_ALLOC) so it can report leaks and
 * show allocation stacks.  A pool is named by any unique address.  Caveats
 * from the manual that shape how vigil uses them: a pool block is not
 * checked for overlap with other blocks; memcheck remembers the stack of the
 * POOL_ALLOC call, so issue it as close to the user's call as possible; and
 * POOL_CREATE's redzone only affects how errors are described.
 *
 * ASan side: ASan has no notion of pools, only of poisoned bytes.  NOACCESS
 * poisons; UNDEFINED and DEFINED unpoison (ASan does not track definedness);
 * POOL_ALLOC unpoisons exactly n bytes (the shadow supports a partial last
 * 8-byte granule, so p[n] stays poisoned for any n when the rest of the
 * granule was poisoned before); POOL_FREE does nothing under ASan because it
 * carries no size: follow it with VIGIL_MEM_NOACCESS(p, size).
 */
#ifndef VIGIL_ANNOTATE_H
#define VIGIL_ANNOTATE_H

#include <stddef.h>
#include <stdint.h>

#if defined(VIGIL_USE_VALGRIND) && VIGIL_USE_VALGRIND
#include <valgrind/valgrind.h>
#include <valgrind/memcheck.h>
#define VIGIL_VALGRIND_ENABLED 1
#else
#define VIGIL_VALGRIND_ENABLED 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define VIGIL_ASAN_ENABLED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VIGIL_ASAN_ENABLED 1
#endif
#endif
#ifndef VIGIL_ASAN_ENABLED
#define VIGIL_ASAN_ENABLED 0
#endif

#if VIGIL_ASAN_ENABLED
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#include <sanitizer/lsan_interface.h>
#endif

/* Nonzero when the program runs under Valgrind. */
#if VIGIL_VALGRIND_ENABLED
#define VIGIL_RUNNING_ON_VALGRIND() ((int)RUNNING_ON_VALGRIND)
#else
#define VIGIL_RUNNING_ON_VALGRIND() 0
#endif

/* One statement per tool; both can be on in one build (rarely useful, but
 * harmless: Valgrind cannot run an ASan binary). */
#if VIGIL_VALGRIND_ENABLED
#define VIGIL_VG_(stmt) do { stmt; } while (0)
#else
#define VIGIL_VG_(stmt) do { } while (0)
#endif
#if VIGIL_ASAN_ENABLED
#define VIGIL_ASAN_(stmt) do { stmt; } while (0)
#else
#define VIGIL_ASAN_(stmt) do { } while (0)
#endif

/* Names the arguments without evaluating them, so a build with neither tool
 * does not warn about variables that exist only to be annotated. */
#define VIGIL_UNUSED_(x) ((void)sizeof(x))

/* The n bytes at p may not be touched by the program. */
#define VIGIL_MEM_NOACCESS(p, n) do { VIGIL_UNUSED_(p); VIGIL_UNUSED_(n); \
        VIGIL_VG_((void)VALGRIND_MAKE_MEM_NOACCESS((p), (n))); \
        VIGIL_ASAN_(ASAN_POISON_MEMORY_REGION((p), (n))); } while (0)

/* The n bytes at p may be written; reading them before is an error. */
#define VIGIL_MEM_UNDEFINED(p, n) do { VIGIL_UNUSED_(p); VIGIL_UNUSED_(n); \
        VIGIL_VG_((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n))); \
        VIGIL_ASAN_(ASAN_UNPOISON_MEMORY_REGION((p), (n))); } while (0)

/* The n bytes at p hold data the program may read. */
#define VIGIL_MEM_DEFINED(p, n) do { VIGIL_UNUSED_(p); VIGIL_UNUSED_(n); \
        VIGIL_VG_((void)VALGRIND_MAKE_MEM_DEFINED((p), (n))); \
        VIGIL_ASAN_(ASAN_UNPOISON_MEMORY_REGION((p), (n))); } while (0)

/* A pool named by the address `pool`: redzone is the bytes the allocator
 * leaves around each block, zeroed is nonzero when new blocks read as 0. */
#define VIGIL_POOL_CREATE(pool, redzone, zeroed) \
        VIGIL_VG_(VALGRIND_CREATE_MEMPOOL((pool), (redzone), (zeroed)))

/* Forget the pool and every block still allocated in it. */
#define VIGIL_POOL_DESTROY(pool) \
        VIGIL_VG_(VALGRIND_DESTROY_MEMPOOL((pool)))

/* The program now owns n bytes at p, allocated from pool (content undefined
 * for memcheck unless the pool was created zeroed). */
#define VIGIL_POOL_ALLOC(pool, p, n) do { VIGIL_UNUSED_(pool); \
        VIGIL_VG_(VALGRIND_MEMPOOL_ALLOC((pool), (p), (n))); \
        VIGIL_ASAN_(ASAN_UNPOISON_MEMORY_REGION((p), (n))); } while (0)

/* The block at p goes back to pool; memcheck makes it no-access. */
#define VIGIL_POOL_FREE(pool, p) \
        VIGIL_VG_(VALGRIND_MEMPOOL_FREE((pool), (p)))

/* The block at p, still owned by the program, changes size in place from
 * old_n to new_n bytes: bytes added are undefined, bytes dropped no-access. */
#define VIGIL_POOL_RESIZE(pool, p, old_n, new_n) do { \
        char *vigil_p_ = (char *)(p); size_t vigil_o_ = (old_n), vigil_n_ = (new_n); \
        VIGIL_UNUSED_(pool); VIGIL_UNUSED_(vigil_p_); \
        VIGIL_VG_(VALGRIND_MEMPOOL_CHANGE((pool), vigil_p_, vigil_p_, vigil_n_)); \
        if (vigil_n_ > vigil_o_) \
            VIGIL_MEM_UNDEFINED(vigil_p_ + vigil_o_, vigil_n_ - vigil_o_); \
        else if (vigil_n_ < vigil_o_) \
            VIGIL_MEM_NOACCESS(vigil_p_ + vigil_n_, vigil_o_ - vigil_n_); \
    } while (0)

/* A block of n bytes at p that the program now owns, described to memcheck
 * as a malloc'd block: its errors read "N bytes after a block of size S
 * alloc'd", its leak "definitely lost", exactly as for malloc.  redzone is
 * the no-access bytes the allocator leaves around it (for descriptions
 * only).  Under ASan: unpoisons n bytes. */
#define VIGIL_BLOCK_ALLOC(p, n, redzone) do { VIGIL_UNUSED_(redzone); \
        VIGIL_VG_(VALGRIND_MALLOCLIKE_BLOCK((p), (n), (redzone), 0)); \
        VIGIL_ASAN_(ASAN_UNPOISON_MEMORY_REGION((p), (n))); } while (0)

/* The block at p is freed: memcheck makes it no-access and remembers where
 * ("free'd").  Under ASan: follow it with VIGIL_MEM_NOACCESS(p, size). */
#define VIGIL_BLOCK_FREE(p, redzone) do { VIGIL_UNUSED_(p); VIGIL_UNUSED_(redzone); \
        VIGIL_VG_(VALGRIND_FREELIKE_BLOCK((p), (redzone))); } while (0)

/* The block at p, still the program's, changes size in place from old_n to
 * new_n bytes: bytes added are undefined, bytes dropped no-access. */
#define VIGIL_BLOCK_RESIZE(p, old_n, new_n, redzone) do { \
        char *vigil_p_ = (char *)(p); size_t vigil_o_ = (old_n), vigil_n_ = (new_n); \
        VIGIL_UNUSED_(redzone); VIGIL_UNUSED_(vigil_p_); \
        VIGIL_VG_(VALGRIND_RESIZEINPLACE_BLOCK(vigil_p_, vigil_o_, vigil_n_, (redzone))); \
        if (vigil_n_ > vigil_o_) \
            VIGIL_MEM_UNDEFINED(vigil_p_ + vigil_o_, vigil_n_ - vigil_o_); \
        else if (vigil_n_ < vigil_o_) \
            VIGIL_MEM_NOACCESS(vigil_p_ + vigil_n_, vigil_o_ - vigil_n_); \
    } while (0)

/* LeakSanitizer: scan the n bytes at p for pointers, as it scans globals and
 * stacks (a pool's memory is mmap'd, which LSan does not scan by itself, so
 * malloc'd blocks pointed to only from pool blocks would look leaked). */
#define VIGIL_LSAN_REGISTER_ROOT_REGION(p, n) \
        VIGIL_ASAN_(__lsan_register_root_region((p), (n)))
#define VIGIL_LSAN_UNREGISTER_ROOT_REGION(p, n) \
        VIGIL_ASAN_(__lsan_unregister_root_region((p), (n)))

/* ASan: call malloc_hook(ptr, size) after each allocation of ASan's own
 * allocator and free_hook(ptr) before each free, so a leak check can know
 * ASan's live chunks (blocks to reach, not roots). */
#if VIGIL_ASAN_ENABLED
/* In every ASan runtime, not in every compiler's headers (gcc's lack
 * allocator_interface.h): declared as clang's header declares it. */
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
#endif
#define VIGIL_ASAN_INSTALL_MALLOC_HOOKS(malloc_hook, free_hook) \
        VIGIL_ASAN_(__sanitizer_install_malloc_and_free_hooks((malloc_hook), (free_hook)))

/* LeakSanitizer: check for leaks of ASan's chunks now and report them in
 * LSan's words, without ending the process; 1 when it found any (0 without
 * ASan, or with detect_leaks=0). */
#if VIGIL_ASAN_ENABLED
#define VIGIL_LSAN_CHECK_NOW() __lsan_do_recoverable_leak_check()
#else
#define VIGIL_LSAN_CHECK_NOW() 0
#endif

/* ASan: call fn(report_text) when ASan reports an error, before it aborts,
 * so an allocator can add what it knows about the address. */
#define VIGIL_ASAN_SET_REPORT_CALLBACK(fn) \
        VIGIL_ASAN_(__asan_set_error_report_callback((fn)))

/* ASan: the address range [lo, hi) of ASan's shadow memory, which a scan
 * of the address space (a leak check's) must leave out: terabytes of
 * reserved mappings.  lo = hi = 0 without ASan. */
#if VIGIL_ASAN_ENABLED
#define VIGIL_ASAN_SHADOW_RANGE(lo, hi) do { size_t vigil_s_, vigil_o_; \
        __asan_get_shadow_mapping(&vigil_s_, &vigil_o_); \
        (lo) = (uintptr_t)vigil_o_; \
        (hi) = (uintptr_t)vigil_o_ + (((uintptr_t)1 << 47) >> vigil_s_); } while (0)
#else
#define VIGIL_ASAN_SHADOW_RANGE(lo, hi) do { (lo) = 0; (hi) = 0; } while (0)
#endif

/* ASan: the first poisoned byte of the n bytes at p (freed memory,
 * redzones), or NULL when there is none; always NULL without ASan. */
#if VIGIL_ASAN_ENABLED
#define VIGIL_ASAN_FIRST_POISONED(p, n) __asan_region_is_poisoned((void *)(p), (n))
#define VIGIL_ASAN_IS_POISONED(p) __asan_address_is_poisoned((const void *)(p))
#else
#define VIGIL_ASAN_FIRST_POISONED(p, n) ((void)(p), (void)(n), (void *)0)
#define VIGIL_ASAN_IS_POISONED(p) ((void)(p), 0)
#endif

/* ASan: print the calling thread's stack as ASan prints it in its reports
 * ("#0 0x... in function file:line"). */
#define VIGIL_ASAN_PRINT_STACK() VIGIL_ASAN_(__sanitizer_print_stack_trace())

/* ThreadSanitizer build: code that reads memory it does not own on purpose
 * (the ownership check) must call a function exempt from TSan. */
#if defined(__SANITIZE_THREAD__)
#define VIGIL_TSAN_ENABLED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VIGIL_TSAN_ENABLED 1
#endif
#endif
#ifndef VIGIL_TSAN_ENABLED
#define VIGIL_TSAN_ENABLED 0
#endif

/* Function attribute: do not instrument this function's memory accesses. */
#if defined(__has_attribute)
#if __has_attribute(no_sanitize_address)
#define VIGIL_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#endif
#if __has_attribute(no_sanitize)
#define VIGIL_NO_SANITIZE_THREAD __attribute__((no_sanitize("thread")))
#endif
#endif
#ifndef VIGIL_NO_SANITIZE_ADDRESS
#define VIGIL_NO_SANITIZE_ADDRESS
#endif
#ifndef VIGIL_NO_SANITIZE_THREAD
#define VIGIL_NO_SANITIZE_THREAD
#endif

#endif /* VIGIL_ANNOTATE_H */
