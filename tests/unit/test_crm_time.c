/* test_crm_time.c — every timestamp format the CRMs send, and what must be rejected. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "crm_time.h"

static int64_t parse(const char *s);

/* gmtime_r's answer, what crm_time_format wrote before it computed dates by hand. */
static void reference_format(int64_t ms, char *out, size_t n)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms - secs * 1000));
}

/* The hot path's formatter and parser agree with the general ones everywhere they apply. */
static void check_fast_paths(void)
{
    int format_ok = 1, parse_ok = 1, reject_ok = 1, canonical_ok = 1;
    char fast[32], ref[96];
    for (int i = 0; i < 100000; i++) {
        /* years 0000..9999, and the edges of days and leap years */
        int64_t ms = (int64_t)(check_rand() % 315537897600000ULL) - 62167219200000LL;
        if (i % 3 == 0)
            ms -= ms % 86400000;
        if (i % 5 == 0)
            ms -= 1;
        crm_time_format(ms, fast, sizeof(fast));
        reference_format(ms, ref, sizeof(ref));
        int64_t tmp;
        if (crm_time_parse_utc(fast, strlen(fast), &tmp) != 1 || tmp != ms)
            canonical_ok = 0;
        if (strcmp(fast, ref) != 0) {
            format_ok = 0;
            fprintf(stderr, "format %lld: %s != %s\n", (long long)ms, fast, ref);
        }
        int64_t a = 1, b = 2;
        size_t len = i % 2 ? 24 : 20; /* with and without milliseconds */
        if (len == 20) {
            fast[19] = 'Z';
            fast[20] = '\0';
        }
        if (crm_time_parse_utc(fast, len, &a) < 0 || crm_time_parse(fast, &b) || a != b)
            parse_ok = 0;
        /* a broken character: both reject, or both read the same instant */
        fast[check_rand() % len] = "0Z:T-.x 9+/\xff"[check_rand() % 12];
        a = 1, b = 2;
        int fa = crm_time_parse_utc(fast, len, &a), fb = crm_time_parse(fast, &b);
        if (fa >= 0 && (fb != 0 || a != b))
            reject_ok = 0;
        /* what passes as canonical is what formatting its instant writes */
        if (fa == 1) {
            crm_time_format(a, ref, sizeof(ref));
            if (strcmp(ref, fast) != 0)
                canonical_ok = 0;
        }
    }
    CHECK(format_ok);
    CHECK(parse_ok);
    CHECK(reject_ok);
    CHECK(canonical_ok);
    int64_t ms;
    CHECK(crm_time_parse_utc("2023-02-29T00:00:00.000Z", 24, &ms) == 0);
    CHECK(crm_time_parse_utc("2024-02-29T00:00:00.000Z", 24, &ms) == 1);
    CHECK(crm_time_parse_utc("2024-01-01T00:00:60.000Z", 24, &ms) == 0);
    CHECK(crm_time_parse_utc("2024-01-01T00:00:00Z", 20, &ms) == 0);
    CHECK(crm_time_parse_utc("2024-02-30T00:00:00Z", 20, &ms) == 0 &&
          ms == parse("2024-02-30T00:00:00Z"));
    CHECK(crm_time_parse_utc("2024-01-02T03:04:05+00:00", 25, &ms) == -1);
    CHECK(crm_time_parse_utc("2024-01-02 03:04:05Z", 20, &ms) == -1);
    CHECK(crm_time_parse_utc("0000-00-00T00:00:00Z", 20, &ms) == -1);
}

static int64_t parse(const char *s)
{
    int64_t ms = 42;
    if (crm_time_parse(s, &ms))
        return -42;
    return ms;
}

int main(void)
{
    const int64_t base = 1704164645000LL; /* 2024-01-02T03:04:05Z */
    check_fast_paths();
    CHECK(parse("2024-01-02T03:04:05Z") == base);
    CHECK(parse("2024-01-02T03:04:05.123Z") == base + 123);
    CHECK(parse("2024-01-02T03:04:05.123456+00:00") == base + 123);
    CHECK(parse("2024-01-02T05:04:05+02:00") == base);
    CHECK(parse("2024-01-02T01:04:05-0200") == base);
    CHECK(parse("2024-01-02 03:04:05") == base);
    CHECK(parse("2024-01-02T03:04:05") == base);
    CHECK(parse("2024-01-02") == base - (3 * 3600 + 4 * 60 + 5) * 1000LL);
    CHECK(parse("1704164645") == base);
    CHECK(parse("") == CRM_TIME_NONE);
    CHECK(parse("0000-00-00 00:00:00") == CRM_TIME_NONE);
    CHECK(parse("1969-12-31T23:59:59Z") == -1000);
    CHECK(parse("2024-13-01") == -42);
    CHECK(parse("2024-01-02T25:00:00Z") == -42);
    CHECK(parse("yesterday") == -42);
    CHECK(parse("2024-01-02T03:04:05Zjunk") == -42);
    CHECK(parse("2024-01-02T03:04:05.Z") == -42);
    int64_t ms;
    CHECK(crm_time_parse(NULL, &ms) == -1);
    char out[32];
    crm_time_format(base + 7, out, sizeof(out));
    CHECK_STR(out, "2024-01-02T03:04:05.007Z");
    crm_time_format_seconds(base, out, sizeof(out));
    CHECK_STR(out, "2024-01-02T03:04:05Z");
    crm_time_format(-1, out, sizeof(out));
    CHECK_STR(out, "1969-12-31T23:59:59.999Z");
    CHECK(parse(out) == -1);
    /* the ends of the range (issue 15 item 14: no signed overflow, checked under UBSan) */
    crm_time_format(INT64_MIN, out, sizeof(out));
    CHECK_STR(out, "-292275055-05-16T16:47:04.192Z");
    crm_time_format(INT64_MAX, out, sizeof(out));
    CHECK_STR(out, "292278994-08-17T07:12:55.807Z");
    crm_time_format_seconds(INT64_MIN + 1, out, sizeof(out));
    CHECK_STR(out, "-292275055-05-16T16:47:04Z");
    /* epoch seconds whose milliseconds do not fit an int64_t are unparseable, not wrapped */
    CHECK(parse("9223372036854776") == -42);
    CHECK(parse("-9223372036854776") == -42);
    CHECK(parse("99999999999999999999999") == -42);
    CHECK(parse("9223372036854775") == 9223372036854775000LL);
    CHECK(parse("-9223372036854775") == -9223372036854775000LL);
    /* numbers beyond an int64_t of milliseconds, and NaN, are no time */
    CHECK(crm_time_from_epoch(1e19) == CRM_TIME_NONE);
    CHECK(crm_time_from_epoch(-1e300) == CRM_TIME_NONE);
    CHECK(crm_time_from_epoch(NAN) == CRM_TIME_NONE);
    CHECK(crm_time_from_epoch(1704164645.5) == base + 500);
    CHECK(crm_time_from_epoch(9.1e18) == 9100000000000000000LL);
    return check_summary("crm_time");
}
