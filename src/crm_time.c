/* crm_time.c — tolerant timestamp parsing shared by the engine, connectors and simulators. */
#include "crm_time.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/* Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The date of a day count since 1970-01-01 (the inverse of days_from_civil, same author). */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* The two shapes crm_time_parse_utc reads, '0' where a digit goes (zero-padded to 24 bytes),
 * and the positions of the digits (the same in both). */
static const char utc_shape[2][24] = {"0000-00-00T00:00:00Z", "0000-00-00T00:00:00.000Z"};
#define D '\xff'
static const char utc_digits[24] = {D, D, D, D, 0, D, D, 0, D, D, 0, D,
                                    D, 0, D, D, 0, D, D, 0, D, D, D, 0};
#undef D

#define BYTES(b) (0x0101010101010101ULL * (b))

/* 1 when the 24 bytes at b have the shape: separators equal, digits where it has '0'. A word
 * at a time: x = bytes ^ shape is 0..9 at digits and 0 at separators. */
static int has_utc_shape(const char *b, const char *shape)
{
    uint64_t bad = 0;
    for (size_t off = 0; off < 24; off += 8) {
        uint64_t w, t, digit;
        memcpy(&w, b + off, 8);
        memcpy(&t, shape + off, 8);
        memcpy(&digit, utc_digits + off, 8);
        uint64_t x = w ^ t;
        bad |= x & ~digit;                                    /* a separator differs */
        bad |= (x | (x + BYTES(0x06))) & BYTES(0xf0) & digit; /* not '0'..'9' */
    }
    return bad == 0;
}

static inline int two_digits(const char *s)
{
    return (s[0] - '0') * 10 + (s[1] - '0');
}

int crm_time_parse_utc(const char *s, size_t len, int64_t *ms)
{
    char b[24] = {0};
    if (len == 24)
        memcpy(b, s, 24);
    else if (len == 20)
        memcpy(b, s, 20);
    else
        return -1;
    if (!has_utc_shape(b, utc_shape[len == 24]))
        return -1;
    s = b;
    int y = two_digits(s) * 100 + two_digits(s + 2), mo = two_digits(s + 5), d = two_digits(s + 8);
    int h = two_digits(s + 11), mi = two_digits(s + 14), sec = two_digits(s + 17);
    int frac = len == 24 ? two_digits(s + 20) * 10 + (s[22] - '0') : 0;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    *ms = secs * 1000 + frac;
    static const int days_in[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return len == 24 && sec <= 59 && d <= days_in[mo - 1] + (mo == 2 && leap);
}

int crm_time_parse_text(const char *s, size_t len, int64_t *ms)
{
    int canonical = crm_time_parse_utc(s, len, ms);
    if (canonical >= 0)
        return canonical;
    char text[64];
    if (len >= sizeof(text))
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    return crm_time_parse(text, ms) ? -1 : 0;
}

static int parse_epoch_seconds(const char *s, int64_t *ms)
{
    const char *p = s;
    if (*p == '-')
        p++;
    if (!*p)
        return -1;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno || v > INT64_MAX / 1000 || v < -(INT64_MAX / 1000))
        return -1; /* no instant in milliseconds */
    *ms = (int64_t)v * 1000;
    return 0;
}

int crm_time_parse(const char *s, int64_t *ms)
{
    if (!s)
        return -1;
    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0' || strncmp(s, "0000-00-00", 10) == 0) {
        *ms = CRM_TIME_NONE;
        return 0;
    }
    if (strlen(s) < 10 || s[4] != '-')
        return parse_epoch_seconds(s, ms);

    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    if (read_digits(&p, 4, &y) || *p++ != '-' || read_digits(&p, 2, &mo) || *p++ != '-' ||
        read_digits(&p, 2, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    int64_t frac_ms = 0;
    int offset_min = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        if (read_digits(&p, 2, &h) || *p++ != ':' || read_digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (read_digits(&p, 2, &sec))
                return -1;
        }
        if (h > 23 || mi > 59 || sec > 60)
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            int digits = 0;
            int64_t scale = 100;
            if (!isdigit((unsigned char)*p))
                return -1;
            while (isdigit((unsigned char)*p)) {
                if (digits < 3)
                    frac_ms += (*p - '0') * scale;
                scale /= 10;
                digits++;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1;
            int oh, om = 0;
            p++;
            if (read_digits(&p, 2, &oh))
                return -1;
            if (*p == ':')
                p++;
            if (isdigit((unsigned char)*p) && read_digits(&p, 2, &om))
                return -1;
            offset_min = sign * (oh * 60 + om);
        }
    }
    if (*p != '\0')
        return -1;
    int64_t days = days_from_civil(y, mo, d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *ms = secs * 1000 + frac_ms;
    return 0;
}

static void format_with(int64_t ms, char *out, size_t outlen, int with_ms)
{
    /* floor divisions, without negating ms (INT64_MIN has no negation) */
    int64_t secs = ms / 1000 - (ms % 1000 < 0);
    int millis = (int)(ms % 1000 + (ms % 1000 < 0 ? 1000 : 0));
    int64_t days = secs / 86400 - (secs % 86400 < 0);
    int64_t in_day = secs % 86400 + (secs % 86400 < 0 ? 86400 : 0);
    struct tm tm = {0}; /* by arithmetic: gmtime_r costs more than the rest of an event */
    int year, month;
    civil_from_days(days, &year, &month, &tm.tm_mday);
    tm.tm_mon = month - 1;
    tm.tm_hour = (int)(in_day / 3600);
    tm.tm_min = (int)(in_day / 60 % 60);
    tm.tm_sec = (int)(in_day % 60);
    if (year < 0 || year > 9999 || outlen < 25) { /* rare: let snprintf handle it */
        if (with_ms)
            snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
        else
            snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02dZ", year, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
        return;
    }
    /* the hot path (every event's replication value): digits by hand */
    char *o = out;
    o[0] = (char)('0' + year / 1000);
    o[1] = (char)('0' + year / 100 % 10);
    o[2] = (char)('0' + year / 10 % 10);
    o[3] = (char)('0' + year % 10);
    const int parts[5] = {tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec};
    const char seps[5] = {'-', '-', 'T', ':', ':'};
    o += 4;
    for (int i = 0; i < 5; i++) {
        *o++ = seps[i];
        *o++ = (char)('0' + parts[i] / 10);
        *o++ = (char)('0' + parts[i] % 10);
    }
    if (with_ms) {
        *o++ = '.';
        *o++ = (char)('0' + millis / 100);
        *o++ = (char)('0' + millis / 10 % 10);
        *o++ = (char)('0' + millis % 10);
    }
    *o++ = 'Z';
    *o = '\0';
}

void crm_time_format(int64_t ms, char *out, size_t outlen)
{
    format_with(ms, out, outlen, 1);
}

void crm_time_format_seconds(int64_t ms, char *out, size_t outlen)
{
    format_with(ms, out, outlen, 0);
}

int64_t crm_time_from_epoch(double d)
{
    if (!(d > -9.2e18 && d < 9.2e18))
        return CRM_TIME_NONE; /* NaN, or beyond the range of milliseconds in an int64_t */
    return d > 1e11 || d < -1e11 ? (int64_t)d : (int64_t)(d * 1000);
}
