/*
 * settings.c - the one place that reads the environment.
 *
 * Read once, at first use (pthread_once), not in a constructor: the library
 * may be called before main, from another library's constructor, or from
 * several threads at once, and a constructor's order is not ours to choose.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "settings.h"
#include "vigil/annotate.h"

static const struct {
    const char *name;
    enum vigil_mode mode;
} modes[] = {
    { "default", VIGIL_MODE_DEFAULT },
    { "debug", VIGIL_MODE_DEBUG },
    { "arena", VIGIL_MODE_ARENA },
    { "arena_debug", VIGIL_MODE_ARENA_DEBUG },
    { "malloc", VIGIL_MODE_MALLOC },
    { "malloc_debug", VIGIL_MODE_MALLOC_DEBUG },
};

#define NMODES (sizeof modes / sizeof modes[0])

int vigil__parse_mode(const char *s, enum vigil_mode *out)
{
    for (size_t i = 0; i < NMODES; i++)
        if (strcmp(s, modes[i].name) == 0) {
            *out = modes[i].mode;
            return 1;
        }
    return 0;
}

/* Every name, ", " between them: the table is small and fixed. */
static char accepted[NMODES * 16];

static void make_accepted(void)
{
    size_t len = 0;
    for (size_t i = 0; i < NMODES; i++) {
        const char *sep = i ? ", " : "";
        size_t a = strlen(sep), b = strlen(modes[i].name);
        if (len + a + b + 1 > sizeof accepted)
            break;
        memcpy(accepted + len, sep, a);
        memcpy(accepted + len + a, modes[i].name, b);
        len += a + b;
    }
    accepted[len] = '\0';
}

const char *vigil__accepted_modes(void)
{
    static pthread_once_t made = PTHREAD_ONCE_INIT;
    pthread_once(&made, make_accepted);
    return accepted;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
int vigil__parse_size(const char *s, size_t *out)
{
    if (!isdigit((unsigned char)*s))
        return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return 0;
    unsigned shift = 0;
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    default: break;
    }
    if (*end == 'i' && shift)
        end++;
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end != '\0' || v > (SIZE_MAX >> shift))
        return 0;
    *out = (size_t)(v << shift);
    return 1;
}

int vigil__parse_count(const char *s, unsigned long max, unsigned long *out)
{
    if (!isdigit((unsigned char)*s))
        return 0;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return 0;
    *out = v;
    return 1;
}

static struct vigil_settings cfg;
/* The copies read_string makes: VIGIL_TRACE_FILE, VIGIL_FAIL,
 * VIGIL_FAIL_FILE and VIGIL_LEAK_SUPPRESSIONS. */
static char trace_file[4096], fail_spec[4096], fail_file[4096], leak_supp[4096];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* A variable naming a file or holding a list, copied into buf (the
 * environment may change under a pointer into it before it is used); NULL
 * when unset or empty, or with a message when it does not fit. */
static const char *read_string(const char *(*get)(const char *name), const char *var,
                               char *buf, size_t size, const char *accepted)
{
    const char *v = get(var);
    if (!v || !*v)
        return NULL;
    size_t n = strlen(v);
    if (n >= size) {
        vigil__report_bad_setting(var, v, accepted);
        return NULL;
    }
    memcpy(buf, v, n + 1);
    return buf;
}

/* A variable of 0 or 1 into *out, left as it is when unset or refused. */
static void read_switch(const char *(*get)(const char *name), const char *var, int *out)
{
    const char *v = get(var);
    if (!v || !*v)
        return;
    if (strcmp(v, "0") == 0 || strcmp(v, "1") == 0)
        *out = *v == '1';
    else
        vigil__report_bad_setting(var, v, "0, 1");
}

/* The last value of option key in a sanitizer's option string (options
 * separated by ':', ',' or white space, as the sanitizers read them) into
 * val; 0 when key is not there. */
static int sanitizer_option(const char *opts, const char *key, char *val, size_t size)
{
    int found = 0;
    size_t klen = strlen(key);
    for (const char *s = opts; s && *s;) {
        size_t len = strcspn(s, ":, \t\n");
        if (len > klen && strncmp(s, key, klen) == 0 && s[klen] == '=') {
            size_t vlen = len - klen - 1 < size - 1 ? len - klen - 1 : size - 1;
            memcpy(val, s + klen + 1, vlen);
            val[vlen] = '\0';
            found = 1;
        }
        s += len;
        s += *s != '\0';
    }
    return found;
}

static int sanitizer_false(const char *v)
{
    return strcmp(v, "0") == 0 || strcmp(v, "false") == 0 || strcmp(v, "no") == 0;
}

/* LeakSanitizer's own settings, as it reads them: ASAN_OPTIONS, then
 * LSAN_OPTIONS over it. */
static void read_sanitizer(const char *(*get)(const char *name))
{
    const char *sources[] = { get("ASAN_OPTIONS"), get("LSAN_OPTIONS") };
    char v[32];
    int detect = 1, at_exit = 1;
    for (int i = 0; i < 2; i++) {
        if (sources[i] && sanitizer_option(sources[i], "detect_leaks", v, sizeof v))
            detect = !sanitizer_false(v);
        if (sources[i] && sanitizer_option(sources[i], "leak_check_at_exit", v, sizeof v))
            at_exit = !sanitizer_false(v);
    }
    cfg.lsan_at_exit = detect && at_exit;
    cfg.asan_exitcode = 1;
    if (sources[0] && sanitizer_option(sources[0], "exitcode", v, sizeof v) && isdigit((unsigned char)*v))
        cfg.asan_exitcode = atoi(v);
}

void vigil__settings_read(const char *(*get)(const char *name))
{
    memset(&cfg, 0, sizeof cfg);
    cfg.mode = VIGIL_MODE_DEFAULT;
    cfg.abort_on_error = 1;
    cfg.quarantine = VIGIL_DEFAULT_QUARANTINE;

    const char *v = get("VIGIL_MALLOC");
    if (v && *v) {
        if (vigil__parse_mode(v, &cfg.mode))
            cfg.mode_set = 1;
        else
            vigil__report_bad_setting("VIGIL_MALLOC", v, vigil__accepted_modes());
    }

    v = get("VIGIL_MALLOCSTATS");
    cfg.mallocstats = v && *v;

    /* VIGIL_FAIL's syntax is fault injection's own (fail_spec.c): it is
     * parsed, and refused when malformed, where it is used. */
    cfg.fail = read_string(get, "VIGIL_FAIL", fail_spec, sizeof fail_spec,
                           "a list of items shorter than 4096 bytes");
    read_switch(get, "VIGIL_FAIL_LOG", &cfg.fail_log);
    cfg.fail_file = read_string(get, "VIGIL_FAIL_FILE", fail_file, sizeof fail_file,
                                "a file name shorter than 4096 bytes");

    v = get("VIGIL_QUARANTINE");
    if (v && *v) {
        if (vigil__parse_size(v, &cfg.quarantine)) {
            cfg.quarantine_set = 1;
        } else {
            vigil__report_bad_setting("VIGIL_QUARANTINE", v,
                                      "a byte count such as 0, 65536, 512K, 4M");
            cfg.quarantine = VIGIL_DEFAULT_QUARANTINE;
        }
    }

    read_switch(get, "VIGIL_ABORT", &cfg.abort_on_error);

    v = get("VIGIL_ERROR_EXITCODE");
    if (v && *v) {
        char *end;
        errno = 0;
        unsigned long n = strtoul(v, &end, 10);
        if (errno || *end || !isdigit((unsigned char)*v) || n < 1 || n > 255)
            vigil__report_bad_setting("VIGIL_ERROR_EXITCODE", v, "an exit status from 1 to 255");
        else
            cfg.error_exitcode = (int)n;
    }

    v = get("VIGIL_BREAK_SERIAL");
    if (v && *v) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || *end || !isdigit((unsigned char)*v))
            vigil__report_bad_setting("VIGIL_BREAK_SERIAL", v, "a serial number (1, 2, ...)");
        else
            cfg.break_serial = n;
    }

    unsigned long n;
    v = get("VIGIL_TRACE");
    if (v && *v) {
        if (vigil__parse_count(v, VIGIL_TRACE_MAX_FRAMES, &n))
            cfg.trace_frames = (int)n;
        else
            vigil__report_bad_setting("VIGIL_TRACE", v,
                                      "0 (off) or the frames to record, 1 to 64 (16 is usual)");
    }

    v = get("VIGIL_TRACE_TOP");
    if (v && *v) {
        if (vigil__parse_count(v, ULONG_MAX, &n))
            cfg.trace_top = n;
        else
            vigil__report_bad_setting("VIGIL_TRACE_TOP", v,
                                      "0 (off) or the allocation sites to print at exit (10)");
    }

    cfg.trace_file = read_string(get, "VIGIL_TRACE_FILE", trace_file, sizeof trace_file,
                                 "a file name shorter than 4096 bytes");

    read_switch(get, "VIGIL_LEAKS", &cfg.leaks);
    cfg.leak_suppressions = read_string(get, "VIGIL_LEAK_SUPPRESSIONS", leak_supp,
                                        sizeof leak_supp, "a file name shorter than 4096 bytes");

    read_sanitizer(get);
    v = get("GLIBC_TUNABLES");
    cfg.glibc_heap_tuned = v && (strstr(v, "glibc.malloc.trim_threshold=") ||
                                 strstr(v, "glibc.malloc.mmap_threshold="));
    cfg.running_on_valgrind = VIGIL_RUNNING_ON_VALGRIND();
}

static const char *from_environment(const char *name)
{
    return getenv(name);
}

static void read_environment(void)
{
    vigil__settings_read(from_environment);
}

const struct vigil_settings *vigil__settings(void)
{
    pthread_once(&once, read_environment);
    return &cfg;
}
