/* test_schema_compat.c — schema resolution (reader can read writer) on the cases schema evolution
 * and the registry simulator depend on. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "schema_compat.h"

static int can(const char *reader, const char *writer)
{
    char why[512];
    int rc = schema_compat_can_read_text(reader, writer, why, sizeof(why));
    if (rc != 1 && getenv("VERBOSE"))
        fprintf(stderr, "  why: %s\n", why);
    return rc;
}

#define REC(fields)                                                                                \
    "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"n\",\"fields\":[" fields "]}"
#define F(name, type)  "{\"name\":\"" name "\",\"type\":" type "}"
#define FD(name, type) "{\"name\":\"" name "\",\"type\":" type ",\"default\":null}"

int main(void)
{
    /* primitives and promotions */
    CHECK(can("\"long\"", "\"int\"") == 1);
    CHECK(can("\"double\"", "\"long\"") == 1);
    CHECK(can("\"int\"", "\"long\"") == 0);
    CHECK(can("\"bytes\"", "\"string\"") == 1);
    CHECK(can("\"string\"", "\"int\"") == 0);
    /* fields added and removed */
    CHECK(can(REC(F("a", "\"string\"") "," FD("b", "[\"null\",\"long\"]")),
              REC(F("a", "\"string\""))) == 1);
    CHECK(can(REC(F("a", "\"string\"") "," F("b", "\"long\"")), REC(F("a", "\"string\""))) == 0);
    CHECK(can(REC(F("a", "\"string\"")), REC(F("a", "\"string\"") "," F("b", "\"long\""))) == 1);
    /* the reason names the field */
    char why[512];
    CHECK(schema_compat_can_read_text(REC(F("a", "\"int\"")), REC(F("a", "\"string\"")), why,
                                      sizeof(why)) == 0);
    CHECK_CONTAINS(why, "field a");
    /* unions */
    CHECK(can("[\"null\",\"string\",\"long\"]", "[\"null\",\"string\"]") == 1);
    CHECK(can("[\"null\",\"string\"]", "[\"null\",\"string\",\"long\"]") == 0);
    CHECK(can("[\"null\",\"long\"]", "\"int\"") == 1);
    CHECK(can("\"string\"", "[\"null\",\"string\"]") == 0);
    /* enums */
    const char *e2 = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}";
    const char *e3 = "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\",\"C\"]}";
    const char *e2d =
        "{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"],\"default\":\"A\"}";
    CHECK(can(e3, e2) == 1);
    CHECK(can(e2, e3) == 0);
    CHECK(can(e2d, e3) == 1);
    /* named types, references, nested records, arrays of records, maps */
    const char *w = REC(
        F("m",
          "{\"type\":\"record\",\"name\":\"Money\",\"fields\":[" F(
              "amount",
              "\"double\"") "]}") "," F("n",
                                        "\"Money\"") "," F("l",
                                                           "{\"type\":\"array\",\"items\":"
                                                           "\"Money\"}") "," F("x",
                                                                               "{\"type\":\"map\","
                                                                               "\"values\":"
                                                                               "\"int\"}"));
    const char *r_ok = REC(F(
        "m",
        "{\"type\":\"record\",\"name\":\"Money\",\"fields\":[" F("amount", "\"double\"") "," FD(
            "currency",
            "[\"null\",\"string\"]") "]}") "," F("n",
                                                 "\"Money\"") "," F("l",
                                                                    "{\"type\":\"array\",\"items\":"
                                                                    "\"Money\"}") "," F("x",
                                                                                        "{\"type\":"
                                                                                        "\"map\","
                                                                                        "\"values\""
                                                                                        ":\"long\""
                                                                                        "}"));
    const char *r_bad = REC(
        F("m",
          "{\"type\":\"record\",\"name\":\"Money\",\"fields\":[" F(
              "amount",
              "\"float\"") "]}") "," F("n",
                                       "\"Money\"") "," F("l",
                                                          "{\"type\":\"array\",\"items\":"
                                                          "\"Money\"}") "," F("x",
                                                                              "{\"type\":\"map\","
                                                                              "\"values\":"
                                                                              "\"int\"}"));
    CHECK(can(r_ok, w) == 1);
    CHECK(can(r_bad, w) == 0);
    /* record names must match (or be a reader alias) */
    CHECK(can("{\"type\":\"record\",\"name\":\"Other\",\"fields\":[]}",
              "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}") == 0);
    CHECK(can("{\"type\":\"record\",\"name\":\"Other\",\"aliases\":[\"R\"],\"fields\":[]}",
              "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}") == 1);
    /* a recursive type */
    const char *list = "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[" F(
        "v", "\"int\"") "," F("next", "[\"null\",\"Node\"]") "]}";
    const char *list2 = "{\"type\":\"record\",\"name\":\"Node\",\"fields\":[" F(
        "v", "\"long\"") "," F("next", "[\"null\",\"Node\"]") "]}";
    CHECK(can(list2, list) == 1);
    CHECK(can(list, list2) == 0);
    /* invalid input */
    CHECK(can("{oops", "\"int\"") == -1);
    CHECK(can("\"Unknown\"", "\"int\"") == -1);
    /* logical types do not matter */
    CHECK(can("{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}", "\"long\"") == 1);
    return check_summary("schema_compat");
}
