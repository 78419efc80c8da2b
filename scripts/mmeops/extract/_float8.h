/* STAND-IN, to be replaced by branch `ryu`'s _float8.h (the fast, Ryu-style one) at merge.
 *
 * PostgreSQL's float8out text for v with extra_float_digits > 0 (PostgreSQL 12+): the
 * shortest decimal that reads back as v, laid out as the server does (asked of PostgreSQL
 * 15): fixed notation when the decimal exponent is -4..14 (`0.0001`, `100000000000000`,
 * `123456789012345.6`), else `d.ddde+XX` with at least two exponent digits (`1e+15`,
 * `1.5e-07`, `1e+300`); `NaN`, `Infinity`, `-Infinity`, `0`, `-0`.
 *
 * The digits come from printf's correctly rounded %.{p}e and strtod, p = 15, 16, 17 (the
 * first p that reads back; trailing zeros dropped): if any decimal of 15 digits or fewer reads
 * back as a normal double, the correctly rounded 15-digit one does (its distance to v is at
 * most half a 15-digit step, which is wider than v's rounding interval). Subnormals (wider
 * intervals) try every p from 1. Correct but slow (several hundred ns a value): a stand-in.
 */
#ifndef MMEOPS_FLOAT8_H
#define MMEOPS_FLOAT8_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The digits of printf's %e text (no trailing zeros) into digits; returns their count, the
 * decimal exponent of the first into *exp10. */
static int
float8_sci_digits(const char *buf, char *digits, int *exp10)
{
    int n = 0;
    for (const char *c = buf; *c != 'e'; c++)
        if (*c != '.')
            digits[n++] = *c;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    *exp10 = atoi(strchr(buf, 'e') + 1);
    return n;
}

/* Is the decimal `text` (printf's %e) exactly `half`, a point halfway between two doubles?
 * `half` is exact in long double (64 or 113 bits of mantissa; it needs 54), and glibc prints
 * a long double's exact digits: `text` is `half` when half's digits end within text's. */
static int
float8_halfway(const char *text, long double half)
{
    if (strtold(text, NULL) != half) /* cheap, and necessary */
        return 0;
    char buf[64], a[40], b[40];
    int ea, eb, na = float8_sci_digits(text, a, &ea);
    snprintf(buf, sizeof buf, "%.*Le", 40, half);
    int nb = float8_sci_digits(buf, b, &eb);
    return na == nb && ea == eb && memcmp(a, b, na) == 0;
}

/* v's shortest round-tripping digits (no trailing zeros) into digits; returns their count
 * and the decimal exponent of the first digit in *exp10. v finite, positive. PostgreSQL's
 * Ryu takes no decimal exactly halfway to a neighbour (it prints 1e23 as
 * 9.999999999999999e+22) though strtod reads that one as v (ties to even). */
static int
float8_shortest(double v, char *digits, int *exp10)
{
    char buf[40];
    int p = v < DBL_MIN ? 1 : 15;
    long double lo = ((long double)v + nextafter(v, 0)) / 2;
    long double hi = ((long double)v + nextafter(v, INFINITY)) / 2;
    for (; p < 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, v);
        if (strtod(buf, NULL) == v && !float8_halfway(buf, lo) && !float8_halfway(buf, hi))
            break;
    }
    snprintf(buf, sizeof buf, "%.*e", p - 1, v); /* d.ddde[+-]XX; p == 17 always reads back */
    return float8_sci_digits(buf, digits, exp10);
}

/* PostgreSQL's float8out text (shortest exact), <= 24 bytes, no NUL, returns the length */
static int
float8_text(double v, char *out)
{
    char *o = out;
    if (isnan(v)) {
        memcpy(out, "NaN", 3);
        return 3;
    }
    if (signbit(v)) {
        *o++ = '-';
        v = -v;
    }
    if (isinf(v)) {
        memcpy(o, "Infinity", 8);
        return (int)(o - out) + 8;
    }
    if (v == 0) {
        *o++ = '0';
        return (int)(o - out);
    }
    char digits[20];
    int exp10, n = float8_shortest(v, digits, &exp10);
    if (exp10 >= -4 && exp10 < 15) {
        if (exp10 < 0) { /* 0.000ddd */
            memcpy(o, "0.", 2);
            o += 2;
            for (int i = -1; i > exp10; i--)
                *o++ = '0';
            memcpy(o, digits, n);
            o += n;
        }
        else if (n <= exp10 + 1) { /* ddd000 */
            memcpy(o, digits, n);
            o += n;
            for (int i = n; i <= exp10; i++)
                *o++ = '0';
        }
        else { /* ddd.ddd */
            memcpy(o, digits, exp10 + 1);
            o += exp10 + 1;
            *o++ = '.';
            memcpy(o, digits + exp10 + 1, n - exp10 - 1);
            o += n - exp10 - 1;
        }
        return (int)(o - out);
    }
    *o++ = digits[0];
    if (n > 1) {
        *o++ = '.';
        memcpy(o, digits + 1, n - 1);
        o += n - 1;
    }
    *o++ = 'e';
    *o++ = exp10 < 0 ? '-' : '+';
    int e = exp10 < 0 ? -exp10 : exp10;
    if (e >= 100)
        *o++ = (char)('0' + e / 100);
    *o++ = (char)('0' + e / 10 % 10);
    *o++ = (char)('0' + e % 10);
    return (int)(o - out);
}

#endif
