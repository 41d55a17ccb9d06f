/*
 * debug_diagnose.c - the debug hooks' slow check and their reports (see
 * debug_diagnose.h).
 *
 * Kept apart from the wrapper so that the common path (debug.c) stays small
 * and the one rule of this file stays visible: a pointer that failed the
 * fast check may be anything, so every byte of it is read through
 * vigil__peek(), and every report is written without allocating (report.h),
 * because the heap is suspect when one is written.
 */
#include "config.h"

#include <string.h>

#include "debug_block.h"
#include "debug_diagnose.h"
#include "debug_stacks.h"
#include "report.h"

#define WORD    VIGIL_DEBUG_WORD
#define HEAD    VIGIL_DEBUG_HEAD
#define TRAILER VIGIL_DEBUG_TRAILER

const char *vigil__diagnose_domain_name(int d)
{
    static const char *const names[3] = { "raw", "mem", "obj" };
    return names[d];
}

/* ---- looking without trusting ---- */

/* A size whose tail may be looked for: in range and, when the inner
 * allocator said how big the block is, within it (a size field hit by the
 * previous block's overflow usually fails this). */
static int plausible(const unsigned char *p, size_t n, size_t usable)
{
    if (n > VIGIL_DEBUG_MAX_REQUEST || (uintptr_t)p + n + TRAILER < (uintptr_t)p)
        return 0;
    return !usable || n + VIGIL_DEBUG_OVERHEAD <= usable;
}

static void look(const unsigned char *p, size_t usable, struct vigil_view *v)
{
    memset(v, 0, sizeof *v);
    v->p = p;
    v->domain = -1;
    v->usable = usable;
    /* The inner allocator of a freed block may have written its links over
     * the first words of the data too (glibc's large bins write four):
     * any whole word of 0xDD among the first four says "freed". */
    for (size_t w = 0; w < 4 && !v->data_dead; w++) {
        unsigned char word[WORD];
        if (!vigil__peek(word, p + w * WORD, WORD))
            break;
        v->data_dead = 1;
        for (size_t i = 0; i < WORD; i++)
            v->data_dead &= word[i] == VIGIL_DEADBYTE;
    }
    if ((uintptr_t)p < HEAD || !vigil__peek(v->head, p - HEAD, HEAD))
        return;
    v->head_ok = 1;
    v->domain = vigil__debug_domain_of(v->head[WORD]);
    v->pad_guard = 1;
    v->head_dead = v->head[WORD] == VIGIL_DEADBYTE;
    for (size_t i = WORD + 1; i < HEAD; i++) {
        v->pad_guard &= v->head[i] == VIGIL_FORBIDDENBYTE;
        v->head_dead &= v->head[i] == VIGIL_DEADBYTE;
    }
    v->n = vigil__debug_get_be(v->head);
    v->size_ok = plausible(p, v->n, usable);
    if (v->size_ok && vigil__peek(v->tail, p + v->n, TRAILER)) {
        v->tail_ok = 1;
        v->tail_guard = 1;
        for (size_t i = 0; i < WORD; i++)
            v->tail_guard &= v->tail[i] == VIGIL_FORBIDDENBYTE;
    }
}

static const char *const verdict_names[] = {
    "healthy", "buffer overflow", "buffer underflow", "API mismatch",
    "double free", "invalid free",
};

/* want: the domain the block is freed through, -1 for any. */
static enum vigil_verdict classify(const struct vigil_view *v, int want)
{
    if (!v->head_ok)
        return VIGIL_INVALID;
    if (v->head_dead)
        return VIGIL_DOUBLE_FREE;
    int tail_intact = v->size_ok && v->tail_ok && v->tail_guard;
    if (v->domain >= 0 && v->pad_guard) {
        /* A damaged size field is damage in front of the data too. */
        if (!v->size_ok || !v->tail_ok)
            return VIGIL_UNDERFLOW;
        if (!v->tail_guard)
            return VIGIL_OVERFLOW;
        if (want >= 0 && v->domain != want)
            return VIGIL_MISMATCH;
        return VIGIL_HEALTHY;
    }
    /* The inner allocator may keep its free-list links where the header
     * was (glibc's tcache puts a random key where the API id was, which is
     * 'r', 'm' or 'o' one time in 85); the data of a freed block still says
     * 0xDD, and its tail no longer holds a guard. */
    if (v->data_dead && !tail_intact)
        return VIGIL_DOUBLE_FREE;
    /* Damage in front of the data: the pad bytes, or further, up to the id
     * byte, where the size must still lead to an intact tail, which a random
     * pointer's "size" would not.  A plausible id byte in front of an absurd
     * size is a foreign block (ASan's chunk header reads so), not damage: a
     * write running backwards from the data reaches the id before the size.
     * A size is absurd when its tail lies in unmapped memory, too. */
    if (tail_intact || (v->domain >= 0 && v->size_ok && v->tail_ok))
        return VIGIL_UNDERFLOW;
    /* Guards damaged on both sides of a block whose size field still names
     * exactly the inner block it lies in (a size a random pointer's bytes
     * would not hit): a vigil block, written before its start. */
    if (v->size_ok && v->tail_ok && v->usable &&
        v->n + VIGIL_DEBUG_OVERHEAD + VIGIL_DEBUG_ALIGNMENT > v->usable)
        return VIGIL_UNDERFLOW;
    return VIGIL_INVALID;
}

enum vigil_verdict vigil__diagnose(const unsigned char *p, int want, size_t usable,
                                   struct vigil_view *v)
{
    look(p, usable, v);
    return classify(v, want);
}

/* ---- pieces of reports ---- */

static void first_line(struct vigil_report *r, const char *error, const unsigned char *p)
{
    vigil__report_init(r);
    vigil__report_str(r, "vigil: ");
    vigil__report_str(r, error);
    vigil__report_str(r, " on block ");
    vigil__report_hex(r, (uintptr_t)p);
    vigil__report_str(r, " (");
}

static void size_and_api(struct vigil_report *r, size_t n, unsigned char api)
{
    vigil__report_dec(r, n);
    vigil__report_str(r, n == 1 ? " byte, API '" : " bytes, API '");
    vigil__report_char(r, (char)api);
    vigil__report_str(r, "')\n");
}

/* "p+12" / "p-3": where a byte lies relative to the data. */
static void offset(struct vigil_report *r, long long off)
{
    vigil__report_str(r, off < 0 ? "p-" : "p+");
    vigil__report_dec(r, off < 0 ? 0ULL - (unsigned long long)off : (unsigned long long)off);
}

static void hex_bytes(struct vigil_report *r, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        vigil__report_char(r, ' ');
        vigil__report_byte(r, b[i]);
    }
}

/* The name of the function the program called, then `then`: "vigil_mem_free"
 * and " called"; "free" when the program called the C library's, served
 * by the preload library (vigil__call.name). */
static void api_function(char *out, size_t size, int domain, enum vigil_debug_op op,
                         const char *then)
{
    static const char *const ops[] = { "free", "realloc" };
    int check = op >= VIGIL_OP_CHECK || domain < 0;
    const char *checker = op == VIGIL_OP_CHECK_HEAP ? "check_heap" : "check_block";
    const char *libc = check ? NULL : vigil__call.name;
    /* No snprintf: it may allocate, and the heap is suspect. */
    size_t len = 0;
    const char *parts[] = { libc ? "" : "vigil_",
                            libc ? libc : check ? checker : vigil__diagnose_domain_name(domain),
                            check || libc ? "" : "_", check || libc ? "" : ops[op], then };
    for (size_t i = 0; i < 5; i++)
        for (const char *s = parts[i]; *s && len + 1 < size; s++)
            out[len++] = *s;
    out[len] = '\0';
}

static void bytes_line(struct vigil_report *r, const char *label, const unsigned char *at,
                       size_t n)
{
    unsigned char b[HEAD];
    if (n > sizeof b)
        n = sizeof b;
    vigil__report_str(r, label);
    if (vigil__peek(b, at, n))
        hex_bytes(r, b, n);
    else
        vigil__report_str(r, " (not readable)");
    vigil__report_char(r, '\n');
}

/* The pad bytes from p+from on, one line each when any is wrong. */
static void pad_lines(struct vigil_report *r, const unsigned char *pad, size_t n,
                      long long from, int good, const char *where)
{
    vigil__report_str(r, "    ");
    offset(r, from);
    vigil__report_str(r, ": the ");
    vigil__report_dec(r, n);
    vigil__report_str(r, " pad bytes ");
    vigil__report_str(r, where);
    if (good) {
        vigil__report_str(r, " are 0xfd, as expected\n");
        return;
    }
    vigil__report_str(r, " are not all 0xfd:\n");
    for (size_t i = 0; i < n; i++) {
        vigil__report_str(r, "        at ");
        offset(r, from + (long long)i);
        vigil__report_str(r, ": 0x");
        vigil__report_byte(r, pad[i]);
        if (pad[i] != VIGIL_FORBIDDENBYTE)
            vigil__report_str(r, " *** OUCH");
        vigil__report_char(r, '\n');
    }
}

static void data_line(struct vigil_report *r, const unsigned char *p, size_t n)
{
    unsigned char b[16];
    if (n == 0) {
        vigil__report_str(r, "    no data bytes\n");
        return;
    }
    vigil__report_str(r, "    data at p:");
    if (n <= 16) {
        if (vigil__peek(b, p, n))
            hex_bytes(r, b, n);
        else
            vigil__report_str(r, " (not readable)");
    } else {
        if (vigil__peek(b, p, 8) && vigil__peek(b + 8, p + n - 8, 8)) {
            hex_bytes(r, b, 8);
            vigil__report_str(r, " ...");
            hex_bytes(r, b + 8, 8);
        } else {
            vigil__report_str(r, " (not readable)");
        }
    }
    vigil__report_char(r, '\n');
}

/* In the spirit of CPython's _PyObject_DebugDumpAddress: everything about
 * the block that can be read, with the bad bytes pointed out. */
static void dump_view(struct vigil_report *r, const struct vigil_view *v)
{
    if (!v->head_ok) {
        vigil__report_str(r, "    p-");
        vigil__report_dec(r, HEAD);
        vigil__report_str(r, ": the header is not readable (not mapped)\n");
        bytes_line(r, "    bytes at p:", v->p, WORD);
        return;
    }
    vigil__report_str(r, "    p-");
    vigil__report_dec(r, HEAD);
    vigil__report_str(r, ": size field");
    hex_bytes(r, v->head, WORD);
    vigil__report_str(r, " = ");
    vigil__report_dec(r, v->n);
    vigil__report_str(r, v->size_ok ? " bytes requested\n" : " *** OUCH (not a plausible size)\n");

    unsigned char id = v->head[WORD];
    vigil__report_str(r, "    p-");
    vigil__report_dec(r, WORD);
    vigil__report_str(r, ": API id 0x");
    vigil__report_byte(r, id);
    if (v->domain >= 0) {
        vigil__report_str(r, " '");
        vigil__report_char(r, (char)id);
        vigil__report_str(r, "' (vigil_");
        vigil__report_str(r, vigil__diagnose_domain_name(v->domain));
        vigil__report_str(r, "_*)\n");
    } else {
        vigil__report_str(r, " *** OUCH (not 'r', 'm' or 'o')\n");
    }
    pad_lines(r, v->head + WORD + 1, WORD - 1, -(long long)(WORD - 1), v->pad_guard,
              "before the data");

    if (!v->size_ok) {
        vigil__report_str(r, "    the tail was not read: the size field is not plausible\n");
        bytes_line(r, "    bytes at p:", v->p, WORD);
        return;
    }
    if (!v->tail_ok) {
        vigil__report_str(r, "    ");
        offset(r, (long long)v->n);
        vigil__report_str(r, ": the tail is not readable (not mapped)\n");
    } else {
        pad_lines(r, v->tail, WORD, (long long)v->n, v->tail_guard, "after the data");
    }
    data_line(r, v->p, v->n);
#ifdef VIGIL_SERIALNO
    if (v->tail_ok) {
        size_t s = vigil__debug_get_be(v->tail + WORD);
        vigil__report_str(r, "    serial number ");
        vigil__report_dec(r, s);
        vigil__report_str(r, " (VIGIL_BREAK_SERIAL=");
        vigil__report_dec(r, s);
        vigil__report_str(r, " raises SIGTRAP when it is handed out)\n");
    }
#endif
}

/* Where a live block the hooks made was allocated: the origin after its
 * tail guard, found by its size. */
static void alloc_origin(struct vigil_report *r, const struct vigil_view *v)
{
    if (v->tail_ok) {
        vigil__debug_print_origin(r, "allocated",
                                  vigil__debug_get_origin(v->tail + VIGIL_DEBUG_ORIGIN_AT));
        return;
    }
    vigil__report_str(r, v->size_ok ? "\nallocated by: not known: the record of it after "
                                       "the data is not readable\n"
                                     : "\nallocated by: not known: the record of it after "
                                       "the data is found by the size field, which is damaged\n");
}

/* ---- the reports ---- */

void vigil__diagnose_report(enum vigil_verdict vd, const struct vigil_view *v, int domain,
                            enum vigil_debug_op op, const struct vigil_freed *freed)
{
    struct vigil_report r;
    const unsigned char *p = v->p;
    first_line(&r, verdict_names[vd], p);

    switch (vd) {
    case VIGIL_DOUBLE_FREE:
        if (freed) {
            size_and_api(&r, freed->n, freed->api);
            vigil__report_str(&r, "    the block was freed before and is still in the quarantine, "
                                  "filled with 0xdd\n");
        } else {
            vigil__report_str(&r, "freed before: size and API no longer known)\n");
            vigil__report_str(&r, "    the block was freed before: it holds 0xdd, "
                                  "the fill of freed blocks\n");
        }
        bytes_line(&r, "    header at p-16:", p - HEAD, HEAD);
        bytes_line(&r, "    bytes at p:", p, WORD);
        break;
    case VIGIL_INVALID:
        vigil__report_str(&r, "not a vigil block)\n");
        if (!v->head_ok) {
            vigil__report_str(&r, "    the header before it is not readable (not mapped)\n");
        } else {
            vigil__report_str(&r, "    the bytes before it are not a debug block header "
                                  "(size, API id, 0xfd pad):\n");
            vigil__report_str(&r, "    header at p-16:");
            hex_bytes(&r, v->head, HEAD);
            vigil__report_char(&r, '\n');
        }
        if ((uintptr_t)p % VIGIL_DEBUG_ALIGNMENT)
            vigil__report_str(&r, "    the address is not 16-byte aligned: not the start of a block\n");
        break;
    default:
        if (v->domain >= 0 && v->size_ok) {
            size_and_api(&r, v->n, vigil__debug_api_id(v->domain));
        } else if (v->domain >= 0) {
            vigil__report_str(&r, "size field damaged, API '");
            vigil__report_char(&r, (char)vigil__debug_api_id(v->domain));
            vigil__report_str(&r, "')\n");
        } else {
            vigil__report_dec(&r, v->n);
            vigil__report_str(&r, " bytes, API id damaged)\n");
        }
        if (vd == VIGIL_MISMATCH) {
            char freed_with[32];
            api_function(freed_with, sizeof freed_with, domain, op, "");
            vigil__report_str(&r, "    allocated with vigil_");
            vigil__report_str(&r, vigil__diagnose_domain_name(v->domain));
            vigil__report_str(&r, "_malloc, ");
            vigil__report_str(&r, op == VIGIL_OP_REALLOC ? "reallocated" : "freed");
            vigil__report_str(&r, " with ");
            vigil__report_str(&r, freed_with);
            vigil__report_char(&r, '\n');
        } else if (vd == VIGIL_OVERFLOW) {
            vigil__report_str(&r, "    the bytes after the data were changed: "
                                  "a write past the end of the block\n");
        } else if (vd == VIGIL_UNDERFLOW) {
            vigil__report_str(&r, "    the bytes before the data were changed: a write "
                                  "before the start of the block (or past the end of the one before)\n");
        }
        dump_view(&r, v);
        break;
    }
    if (op == VIGIL_OP_CHECK)
        vigil__report_str(&r, "    found by vigil_check_block: this is what freeing the "
                              "block now would report\n");
    if (op == VIGIL_OP_CHECK_HEAP)
        vigil__report_str(&r, "    found by vigil_check_heap, which checks every live block: "
                              "this is what freeing the block now would report\n");
    if (op == VIGIL_OP_EXIT) {
        vigil__report_str(&r, "    found at exit, when every live block was checked: "
                              "the block was never freed\n");
    } else {
        char called[48];
        api_function(called, sizeof called, domain, op, " called");
        vigil__debug_print_call(&r, called);
    }
    if (vd == VIGIL_DOUBLE_FREE && freed) {
        vigil__debug_print_origin(&r, "freed", freed->freed);
        vigil__debug_print_origin(&r, "previously allocated", freed->alloc);
    } else if (vd != VIGIL_DOUBLE_FREE && vd != VIGIL_INVALID) {
        alloc_origin(&r, v);
    }
    vigil__report_error(&r);
}

/* Offset of the first byte of [p, p+n) that is not 0xDD, or n. */
static size_t first_not_dead(const unsigned char *p, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (p[k] != VIGIL_DEADBYTE)
            return k;
    return n;
}

/* The rare slow path of the quarantine's check: the block is mapped (it
 * was freed correctly and waited in the quarantine), so it is read
 * directly, byte by byte. */
void vigil__diagnose_report_freed(const unsigned char *base, const struct vigil_freed *f,
                                  int at_exit)
{
    size_t total = f->n + VIGIL_DEBUG_OVERHEAD;
    size_t bad = first_not_dead(base, total);
    if (bad == total)
        return;
    size_t changed = 0;
    for (size_t i = bad; i < total; i++)
        changed += base[i] != VIGIL_DEADBYTE;
    long long off = (long long)bad - (long long)HEAD;
    struct vigil_report r;
    first_line(&r, "use after free", base + HEAD);
    size_and_api(&r, f->n, f->api);
    vigil__report_str(&r, "    byte ");
    vigil__report_sdec(&r, off);
    vigil__report_str(&r, " of the freed block was changed (at ");
    vigil__report_hex(&r, (uintptr_t)(base + bad));
    vigil__report_str(&r, ": 0x");
    vigil__report_byte(&r, base[bad]);
    vigil__report_str(&r, ", freed blocks hold 0xdd); ");
    vigil__report_dec(&r, changed);
    vigil__report_str(&r, changed == 1 ? " byte changed in all\n" : " bytes changed in all\n");
    /* Sixteen bytes from the word holding the first change. */
    size_t from = bad & ~(size_t)(WORD - 1);
    size_t len = total - from < 16 ? total - from : 16;
    vigil__report_str(&r, "    bytes at ");
    offset(&r, (long long)from - (long long)HEAD);
    vigil__report_char(&r, ':');
    hex_bytes(&r, base + from, len);
    vigil__report_char(&r, '\n');
    if (at_exit) {
        vigil__report_str(&r, "    found at exit, when the quarantine was checked\n");
    } else {
        vigil__debug_print_call(&r, "found when the block left the quarantine, in a call");
    }
    vigil__debug_print_origin(&r, "freed", f->freed);
    vigil__debug_print_origin(&r, "previously allocated", f->alloc);
    vigil__report_error(&r);
}

void vigil__diagnose_dump(const unsigned char *p, size_t usable)
{
    struct vigil_view v;
    struct vigil_report r;
    enum vigil_verdict vd = vigil__diagnose(p, -1, usable, &v);
    vigil__report_init(&r);
    vigil__report_str(&r, "vigil: block ");
    vigil__report_hex(&r, (uintptr_t)p);
    vigil__report_str(&r, " (");
    if (vd == VIGIL_HEALTHY || (v.domain >= 0 && v.size_ok)) {
        size_and_api(&r, v.n, vigil__debug_api_id(v.domain));
    } else if (vd == VIGIL_DOUBLE_FREE) {
        vigil__report_str(&r, "freed: it holds 0xdd)\n");
    } else if (vd == VIGIL_INVALID) {
        vigil__report_str(&r, "not a vigil block)\n");
    } else {
        vigil__report_str(&r, "damaged)\n");
    }
    if (vd != VIGIL_HEALTHY) {
        vigil__report_str(&r, "    a free now would report: ");
        vigil__report_str(&r, verdict_names[vd]);
        vigil__report_char(&r, '\n');
    }
    dump_view(&r, &v);
    if (vd != VIGIL_DOUBLE_FREE && vd != VIGIL_INVALID)
        alloc_origin(&r, &v);
    vigil__report_flush(&r);
}
