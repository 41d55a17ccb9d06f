/*
 * fail_spec.c - VIGIL_FAIL's syntax: a comma-separated list of NAME=VALUE
 * items (DESIGN.md, "Fault injection"), parsed into a vigil_fail_spec.
 *
 * Strict on purpose: a value that is not exactly what the table says
 * (an unknown item, one given twice, a space, an empty item, a number
 * out of range) is refused whole, so that a typo never injects something
 * other than what was meant.  Numbers are read digit by digit, not with
 * strtoull or strtod, which depend on errno and the locale.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "fail.h"
#include "settings.h"

static const char syntax[] =
    "VIGIL_FAIL=ITEM[,ITEM...] with items nth=N, every=N, after=N, prob=P (0 to 1), "
    "seed=S, size=N[K|M|G], times=K, domain=raw|mem|obj";

const char *vigil__fail_syntax(void)
{
    return syntax;
}

/* The longest item looked at: longer ones are refused. */
#define ITEM_MAX 64

/* s (NUL-terminated) as a decimal number: digits only, no sign. */
static int whole(const char *s, unsigned long long *out)
{
    unsigned long long v = 0;
    if (!*s)
        return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        unsigned d = (unsigned)(*s - '0');
        if (v > (~0ULL - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* A probability from 0 to 1 ("0", "1", "0.25", ".5", "1.0"), as the
 * threshold a 64-bit draw must be below (all: prob=1). */
static int probability(const char *s, int *all, uint64_t *below)
{
    const char *c = s;
    unsigned long long ip = 0;
    int digits = 0;
    for (; *c >= '0' && *c <= '9'; c++, digits++)
        if ((ip = ip * 10 + (unsigned)(*c - '0')) > 1)
            return 0;
    /* The fraction as num / den, to 18 digits (further digits cannot
     * move a 64-bit threshold by more than a unit). */
    unsigned long long num = 0, den = 1;
    int nonzero = 0;
    if (*c == '.') {
        for (c++; *c >= '0' && *c <= '9'; c++, digits++) {
            if (*c != '0')
                nonzero = 1;
            if (den < 1000000000000000000ULL) {
                num = num * 10 + (unsigned)(*c - '0');
                den *= 10;
            }
        }
    }
    if (*c || !digits || (ip == 1 && nonzero))
        return 0;
    *all = ip == 1;
    if (!*all) {
        long double t = (long double)num / (long double)den * 18446744073709551616.0L;
        *below = t >= 18446744073709551615.0L ? UINT64_MAX : (uint64_t)t;
    }
    return 1;
}

static int domain_bit(const char *s, unsigned *bit)
{
    static const char *const names[] = { "raw", "mem", "obj" };
    static const vigil_domain ids[] = { VIGIL_DOMAIN_RAW, VIGIL_DOMAIN_MEM, VIGIL_DOMAIN_OBJ };
    for (size_t i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *bit = 1u << ids[i];
            return 1;
        }
    return 0;
}

enum item { NTH, EVERY, AFTER, PROB, SEED, SIZE, TIMES, DOMAIN, NITEMS };

static const char *const item_names[NITEMS] = {
    "nth", "every", "after", "prob", "seed", "size", "times", "domain",
};

/* One item's value into *spec; 0 with why set when it is not valid. */
static int item_value(enum item it, const char *v, struct vigil_fail_spec *spec,
                      char *why, size_t whylen)
{
    unsigned long long n = 0;
    const char *name = item_names[it];
    switch (it) {
    case NTH:
    case EVERY:
        if (whole(v, &n) && n >= 1) {
            *(it == NTH ? &spec->nth : &spec->every) = n;
            return 1;
        }
        snprintf(why, whylen, "%s=%s: N counts allocations from 1", name, v);
        return 0;
    case AFTER:
    case SEED:
    case TIMES:
        if (whole(v, &n)) {
            if (it == AFTER)
                spec->after = n, spec->has_after = 1;
            else if (it == TIMES)
                spec->times = n, spec->has_times = 1;
            else
                spec->seed = n;
            return 1;
        }
        snprintf(why, whylen, "%s=%s: not a whole number", name, v);
        return 0;
    case PROB:
        if (probability(v, &spec->prob_all, &spec->prob_below)) {
            spec->has_prob = 1;
            return 1;
        }
        snprintf(why, whylen, "prob=%s: not a probability from 0 to 1", v);
        return 0;
    case SIZE:
        if (vigil__parse_size(v, &spec->size))
            return 1;
        snprintf(why, whylen, "size=%s: not a byte count such as 100, 4K, 1M", v);
        return 0;
    case DOMAIN:
        if (domain_bit(v, &spec->domains))
            return 1;
        snprintf(why, whylen, "domain=%s: not raw, mem or obj", v);
        return 0;
    case NITEMS:
        break;
    }
    return 0;
}

int vigil__fail_parse(const char *s, struct vigil_fail_spec *out, char *why, size_t whylen)
{
    struct vigil_fail_spec spec = { .seed = 1, .domains = 7 };
    unsigned seen = 0;
    char none[1];
    if (!whylen)
        why = none, whylen = 1;
    why[0] = '\0';
    if (!*s) {
        snprintf(why, whylen, "no item");
        return 0;
    }
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[ITEM_MAX + 1];
        if (len == 0) {
            snprintf(why, whylen, "an empty item");
            return 0;
        }
        if (len > ITEM_MAX) {
            snprintf(why, whylen, "%.20s...: too long for an item", p);
            return 0;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(why, whylen, "%s: not NAME=VALUE", item);
            return 0;
        }
        *eq = '\0';
        int it = 0;
        while (it < NITEMS && strcmp(item, item_names[it]) != 0)
            it++;
        if (it == NITEMS) {
            *eq = '=';
            snprintf(why, whylen, "%s: unknown item", item);
            return 0;
        }
        if (seen & (1u << it)) {
            snprintf(why, whylen, "%s given twice", item);
            return 0;
        }
        seen |= 1u << it;
        if (!item_value((enum item)it, eq + 1, &spec, why, whylen))
            return 0;
        if (!comma)
            break;
        p = comma + 1;
    }
    *out = spec;
    return 1;
}
