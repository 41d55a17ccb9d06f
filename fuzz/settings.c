/* settings.c - the libFuzzer harness of the parsers of every environment
 * variable vigil reads (fuzz/build.sh builds it).
 *
 * The input is taken two ways.  Whole, as one value for each parser:
 * VIGIL_MALLOC's mode, the byte counts (VIGIL_QUARANTINE, VIGIL_FAIL's
 * size=), VIGIL_FAIL's items; a value accepted must come out the same
 * when printed back and parsed again, a value refused must say why in a
 * bounded, terminated line.  And as lines NAME=VALUE, an environment for
 * vigil__settings_read (the start-up read, with the lines in getenv's
 * place): whatever it is given, the settings must be in their ranges.
 * (Run with -close_fd_mask=2: refused values are reported on stderr.) */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fail.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 8192

/* ---- the lines as an environment ---- */

#define MAX_VARS 32
static char text[MAX_INPUT + 1];
static const char *names[MAX_VARS], *values[MAX_VARS];
static size_t nvars;

static const char *lookup(const char *name)
{
    for (size_t i = nvars; i-- > 0;)            /* the last one given, as putenv */
        if (strcmp(names[i], name) == 0)
            return values[i];
    return NULL;
}

static void split(void)
{
    nvars = 0;
    for (char *line = text; line && nvars < MAX_VARS;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *eq = strchr(line, '=');
        if (eq) {
            *eq = '\0';
            names[nvars] = line;
            values[nvars++] = eq + 1;
        }
        line = nl ? nl + 1 : NULL;
    }
}

static void check_settings(void)
{
    vigil__settings_read(lookup);
    const struct vigil_settings *s = vigil__settings();
    if (s->mode > VIGIL_MODE_MALLOC_DEBUG || (s->mode_set != 0 && s->mode_set != 1) ||
        (s->abort_on_error != 0 && s->abort_on_error != 1) || s->error_exitcode < 0 ||
        s->error_exitcode > 255 || (s->fail_log != 0 && s->fail_log != 1))
        abort();
    if (!s->quarantine_set && s->quarantine != VIGIL_DEFAULT_QUARANTINE)
        abort();
    /* Kept copies, not pointers into the input. */
    if ((s->fail && (strlen(s->fail) >= 4096 || strcmp(s->fail, lookup("VIGIL_FAIL")) != 0)) ||
        (s->fail_file && strlen(s->fail_file) >= 4096))
        abort();
}

/* ---- VIGIL_FAIL printed back ---- */

static size_t put(char *buf, size_t len, size_t cap, const char *fmt, unsigned long long v)
{
    int n = snprintf(buf + len, cap - len, fmt, len ? "," : "", v);
    return n < 0 ? len : len + (size_t)n;
}

/* A probability's threshold as the decimal fraction it stands for. */
static size_t put_prob(char *buf, size_t len, size_t cap, const struct vigil_fail_spec *s)
{
    len += (size_t)snprintf(buf + len, cap - len, "%sprob=%s", len ? "," : "",
                            s->prob_all ? "1" : "0.");
    unsigned __int128 frac = s->prob_below;
    for (int i = 0; !s->prob_all && i < 20 && len + 1 < cap; i++) {
        frac *= 10;
        buf[len++] = (char)('0' + (unsigned)(frac >> 64));
        frac &= ~(uint64_t)0;
    }
    buf[len] = '\0';
    return len;
}

static void print_back(const struct vigil_fail_spec *s, char *buf, size_t cap)
{
    static const char *const domain_names[] = { "raw", "mem", "obj" };
    size_t len = 0;
    buf[0] = '\0';
    if (s->nth)
        len = put(buf, len, cap, "%snth=%llu", s->nth);
    if (s->every)
        len = put(buf, len, cap, "%severy=%llu", s->every);
    if (s->has_after)
        len = put(buf, len, cap, "%safter=%llu", s->after);
    if (s->has_prob)
        len = put_prob(buf, len, cap, s);
    len = put(buf, len, cap, "%sseed=%llu", s->seed);
    if (s->size)
        len = put(buf, len, cap, "%ssize=%llu", s->size);
    if (s->has_times)
        len = put(buf, len, cap, "%stimes=%llu", s->times);
    for (int d = 0; d < 3 && s->domains != 7; d++)
        if (s->domains == 1u << d)
            snprintf(buf + len, cap - len, ",domain=%s", domain_names[d]);
}

static void check_fail_spec(const char *value)
{
    struct vigil_fail_spec s, again;
    char why[160], tiny[8];
    if (!vigil__fail_parse(value, &s, why, sizeof why)) {
        if (!why[0] || strlen(why) >= sizeof why)
            abort();
        /* A short buffer is cut, not overrun. */
        if (vigil__fail_parse(value, &s, tiny, sizeof tiny) || strlen(tiny) >= sizeof tiny)
            abort();
        return;
    }
    if ((s.domains != 7 && s.domains != 1 && s.domains != 2 && s.domains != 4) ||
        (s.prob_all && !s.has_prob))
        abort();
    char back[512];
    print_back(&s, back, sizeof back);
    if (!vigil__fail_parse(back, &again, why, sizeof why)) {
        fprintf(stderr, "settings: %s parsed, printed back as %s, refused: %s\n", value, back, why);
        abort();
    }
    /* prob= printed with 20 digits comes back within a few units. */
    uint64_t d = s.prob_below > again.prob_below ? s.prob_below - again.prob_below
                                                 : again.prob_below - s.prob_below;
    if (s.nth != again.nth || s.every != again.every || s.after != again.after ||
        s.has_after != again.has_after || s.has_prob != again.has_prob ||
        s.prob_all != again.prob_all || d > 4096 || s.seed != again.seed ||
        s.size != again.size || s.times != again.times || s.has_times != again.has_times ||
        s.domains != again.domains) {
        fprintf(stderr, "settings: %s parsed, printed back as %s, parsed differently\n", value,
                back);
        abort();
    }
}

static void check_size(const char *value)
{
    size_t n, m;
    char back[32];
    if (!vigil__parse_size(value, &n))
        return;
    snprintf(back, sizeof back, "%zu", n);
    if (!vigil__parse_size(back, &m) || m != n)
        abort();
}

static void check_mode(const char *value)
{
    enum vigil_mode m;
    if (vigil__parse_mode(value, &m) &&
        (m > VIGIL_MODE_MALLOC_DEBUG || !strstr(vigil__accepted_modes(), value)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    check_mode(text);
    check_size(text);
    check_fail_spec(text);
    split();
    check_settings();
    return 0;
}
