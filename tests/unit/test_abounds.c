/* test_abounds.c — abounds_check accepts what avro-c writes and refuses lengths, counts,
 * branches and symbols that the bytes cannot hold (issue 15 item 14: `peek` trusted them). */
#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abounds.h"
#include "check.h"

static const char *SCHEMA =
    "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"b\",\"type\":\"bytes\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"t\",\"type\":\"boolean\"},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"X\",\"size\":3}},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"long\"}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"next\",\"type\":[\"null\",\"R\"]}]}";

/* One value of SCHEMA written by avro-c (nested once through "next"); its length. */
static size_t write_value(avro_schema_t schema, char *out, size_t cap)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v, f, br, item, rec = {0};
    avro_generic_value_new(iface, &v);
    avro_value_t *r = &v;
    for (int level = 0; level < 2; level++) {
        avro_value_get_by_name(r, "s", &f, NULL);
        avro_value_set_string(&f, "hello");
        avro_value_get_by_name(r, "b", &f, NULL);
        avro_value_set_bytes(&f, "\x01\x02", 2);
        avro_value_get_by_name(r, "i", &f, NULL);
        avro_value_set_int(&f, -7);
        avro_value_get_by_name(r, "l", &f, NULL);
        avro_value_set_long(&f, 1LL << 40);
        avro_value_get_by_name(r, "f", &f, NULL);
        avro_value_set_float(&f, 1.5f);
        avro_value_get_by_name(r, "d", &f, NULL);
        avro_value_set_double(&f, 2.5);
        avro_value_get_by_name(r, "t", &f, NULL);
        avro_value_set_boolean(&f, 1);
        avro_value_get_by_name(r, "e", &f, NULL);
        avro_value_set_enum(&f, 1);
        avro_value_get_by_name(r, "x", &f, NULL);
        avro_value_set_fixed(&f, "xyz", 3);
        avro_value_get_by_name(r, "a", &f, NULL);
        avro_value_append(&f, &item, NULL);
        avro_value_set_string(&item, "one");
        avro_value_append(&f, &item, NULL);
        avro_value_set_string(&item, "two");
        avro_value_get_by_name(r, "m", &f, NULL);
        avro_value_add(&f, "k", &item, NULL, NULL);
        avro_value_set_long(&item, 9);
        avro_value_get_by_name(r, "u", &f, NULL);
        avro_value_set_branch(&f, 1, &br);
        avro_value_set_string(&br, "u");
        avro_value_get_by_name(r, "next", &f, NULL);
        if (level == 0) {
            avro_value_set_branch(&f, 1, &rec);
            r = &rec;
        } else {
            avro_value_set_branch(&f, 0, &br);
        }
    }
    avro_writer_t w = avro_writer_memory(out, (int64_t)cap);
    size_t n = avro_value_write(w, &v) == 0 ? (size_t)avro_writer_tell(w) : 0;
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    return n;
}

/* avro-c reads it too: the check is no stricter than the reader on valid data. */
static int avro_c_reads(avro_schema_t schema, const char *data, size_t len)
{
    avro_value_iface_t *iface = avro_generic_class_from_schema(schema);
    avro_value_t v;
    avro_generic_value_new(iface, &v);
    avro_reader_t r = avro_reader_memory(data, (int64_t)len);
    int ok = avro_value_read(r, &v) == 0;
    avro_reader_free(r);
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    return ok;
}

int main(void)
{
    avro_schema_t schema;
    CHECK(avro_schema_from_json_length(SCHEMA, strlen(SCHEMA), &schema) == 0);
    char data[512], err[256];
    size_t n = write_value(schema, data, sizeof(data));
    CHECK(n > 40);
    CHECK(abounds_check(schema, data, n, err, sizeof(err)) == 0);
    CHECK(avro_c_reads(schema, data, n));

    /* every strict prefix is refused */
    int prefixes = 1;
    for (size_t k = 0; k < n; k++)
        prefixes &= abounds_check(schema, data, k, err, sizeof(err)) == -1;
    CHECK(prefixes);

    /* the string claims 2 GiB: refused, naming the length */
    char bad[600];
    memcpy(bad, "\xfe\xff\xff\xff\x0f", 5);
    memcpy(bad + 5, data + 1, n - 1); /* data[0] is the length of "hello" */
    CHECK(abounds_check(schema, bad, n + 4, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "string length 2147483647");
    /* a negative length, a varint of 11 bytes */
    CHECK(abounds_check(schema, "\x01", 1, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "string length -1");
    CHECK(abounds_check(schema, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11, err,
                        sizeof(err)) == -1);
    CHECK_CONTAINS(err, "longer than 10 bytes");

    /* the bytes of each counted part replaced by a huge count, branch or symbol */
    avro_schema_t arr = avro_schema_array(avro_schema_string());
    CHECK(abounds_check(arr, "\x02\x02x\x00", 4, err, sizeof(err)) == 0);
    CHECK(abounds_check(arr, "\xfe\xff\xff\xff\x0f", 5, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "block count 2147483647");
    CHECK(abounds_check(arr, "\x01\x7e\x02x\x00", 5, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "block size 63");
    CHECK(abounds_check(arr, "\x01\x04\x02x\x00", 5, err, sizeof(err)) == 0);
    avro_schema_t map = avro_schema_map(avro_schema_long());
    CHECK(abounds_check(map, "\x02\xfe\xff\xff\xff\x0f", 6, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "map key length 2147483647");
    avro_schema_t bytes = avro_schema_bytes();
    CHECK(abounds_check(bytes, "\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10, err, sizeof(err)) ==
          -1);
    CHECK_CONTAINS(err, "bytes length");
    avro_schema_t un = avro_schema_union();
    avro_schema_union_append(un, avro_schema_null());
    avro_schema_union_append(un, avro_schema_long());
    CHECK(abounds_check(un, "\x02\x02", 2, err, sizeof(err)) == 0);
    CHECK(abounds_check(un, "\x04", 1, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "union branch 2");
    CHECK(abounds_check(un, "\x01", 1, err, sizeof(err)) == -1);

    /* random corruption: never a crash; what the check accepts, avro-c reads */
    int agree = 1;
    for (int i = 0; i < 20000; i++) {
        char m[512];
        memcpy(m, data, n);
        for (int k = 1 + (int)(check_rand() % 3); k > 0; k--)
            m[check_rand() % n] = (char)check_rand();
        size_t len = n - check_rand() % 4;
        if (abounds_check(schema, m, len, err, sizeof(err)) == 0 && !avro_c_reads(schema, m, len)) {
            if (agree)
                fprintf(stderr, "  avro-c refuses what the check accepts: %s\n", avro_strerror());
            agree = 0;
        }
    }
    CHECK(agree);

    /* a recursive schema: 100 levels pass, 1000 are refused (each level a record and a union) */
    const char *list = "{\"type\":\"record\",\"name\":\"N\",\"fields\":[{\"name\":\"n\","
                       "\"type\":[\"null\",\"N\"]}]}";
    avro_schema_t rec;
    CHECK(avro_schema_from_json_length(list, strlen(list), &rec) == 0);
    char chain[1001];
    memset(chain, 2, 1000);
    chain[100] = 0;
    CHECK(abounds_check(rec, chain, 101, err, sizeof(err)) == 0);
    chain[100] = 2;
    chain[1000] = 0;
    CHECK(abounds_check(rec, chain, 1001, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "nesting deeper than 256");
    avro_schema_decref(rec);
    avro_schema_decref(un);
    avro_schema_decref(bytes);
    avro_schema_decref(map);
    avro_schema_decref(arr);
    avro_schema_decref(schema);
    return check_summary("abounds");
}
