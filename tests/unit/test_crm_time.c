/* test_crm_time.c — every timestamp format the CRMs send, and what must be rejected. */
#include "check.h"
#include "crm_time.h"

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
    return check_summary("crm_time");
}
