/* bench_avro_map.c — cost of amap_fill + avro_value_write per record.
 *
 * Schema: a 15-field Pipedrive-like deal (strings, longs, two
 * timestamp-millis fields given as "YYYY-MM-DD HH:MM:SS" strings, a double, five nullable unions,
 * a 3-entry map<string>). 1024 distinct records are pre-parsed with jansson and cycled.
 * Records have their keys in the API's order (not the schema's) unless said otherwise.
 * Phases (N records each, default 1,000,000; `bench_avro_map N`):
 *   1 fill+write          the plan fills the value by index, then 10-byte header + avro_value_write
 *   2 the same with the JSON keys in the schema's order
 *   3 fill+write+_unmapped the same schema plus "_unmapped"; records have no unknown key
 *   4 ... 2 unknown keys  records carry two keys the schema does not name (the slow path)
 *   5 parse+fill+write    json_loadb of the record text first (the JSON side of the pipeline)
 * `bench_avro_map N P` runs only phase P (1-5), e.g. under a profiler.
 */
#include <avro.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amap.h"

#define VARIANTS 1024

static const char *SCHEMA_FIELDS =
    "{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"title\",\"type\":\"string\"},"
    "{\"name\":\"currency\",\"type\":\"string\"},"
    "{\"name\":\"status\",\"type\":\"string\"},"
    "{\"name\":\"owner_id\",\"type\":\"long\"},"
    "{\"name\":\"stage_id\",\"type\":\"long\"},"
    "{\"name\":\"add_time\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"update_time\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"value\",\"type\":\"double\"},"
    "{\"name\":\"org_name\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"person_email\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"lost_reason\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"probability\",\"type\":[\"null\",\"double\"],\"default\":null},"
    "{\"name\":\"pipeline_id\",\"type\":[\"null\",\"long\"],\"default\":null},"
    "{\"name\":\"custom_fields\",\"type\":{\"type\":\"map\",\"values\":\"string\"}}";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Key order of the API (as Pipedrive sends it), which is not the schema's order; the two
 * unknown keys of the "extra" records sit between known ones. */
static const char *const API_ORDER[] = {
    "id",       "stage_id",    "title",        "visible_to",  "value",        "currency",
    "add_time", "update_time", "status",       "label_ids",   "probability",  "lost_reason",
    "owner_id", "org_name",    "person_email", "pipeline_id", "custom_fields"};

/* order: 0 schema order, 1 API order. extra: add two keys the schema does not name. */
static json_t *make_record(int i, int order, int extra)
{
    char title[64], email[64], add[32], upd[32];
    snprintf(title, sizeof(title), "Deal #%d for Acme \xc3\xa9tude", i);
    snprintf(email, sizeof(email), "person%d@example.com", i);
    snprintf(add, sizeof(add), "2024-%02d-%02d 10:%02d:%02d", 1 + i % 12, 1 + i % 28, i % 60,
             (i * 7) % 60);
    snprintf(upd, sizeof(upd), "2025-%02d-%02d 11:%02d:%02d", 1 + i % 12, 1 + i % 28, i % 60,
             (i * 11) % 60);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:f, s:s?, s:s?, s:s?, s:o,"
                          " s:o, s:{s:s, s:s, s:s}}",
                          "id", "deal_000123456", "title", title, "currency", "EUR", "status",
                          i % 3 ? "open" : "won", "owner_id", (json_int_t)(1000 + i), "stage_id",
                          (json_int_t)(i % 7), "add_time", add, "update_time", upd, "value",
                          1000.0 + i * 0.25, "org_name", i % 4 ? "Acme Corp" : NULL, "person_email",
                          i % 5 ? email : NULL, "lost_reason", i % 3 ? NULL : "price",
                          "probability", i % 2 ? json_real(0.5) : json_null(), "pipeline_id",
                          i % 6 ? json_integer(i % 3) : json_null(), "custom_fields", "cf_size",
                          "120", "cf_region", "EMEA", "cf_source", "web");
    if (extra) {
        json_object_set_new(r, "visible_to", json_string("3"));
        json_object_set_new(r, "label_ids", json_pack("[i,i]", 4, i % 9));
    }
    if (order == 0)
        return r;
    json_t *o = json_object();
    for (size_t k = 0; k < sizeof(API_ORDER) / sizeof(API_ORDER[0]); k++) {
        json_t *v = json_object_get(r, API_ORDER[k]);
        if (v)
            json_object_set(o, API_ORDER[k], v);
    }
    json_decref(r);
    return o;
}

typedef struct setup {
    amap_plan *plan;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
} setup;

static int open_setup(setup *s, int with_unmapped)
{
    char text[4096], err[256];
    snprintf(text, sizeof(text),
             "{\"type\":\"record\",\"name\":\"Deal\",\"namespace\":\"crm.pipedrive\","
             "\"fields\":[%s%s]}",
             SCHEMA_FIELDS,
             with_unmapped ? ",{\"name\":\"_unmapped\",\"type\":[\"null\",\"string\"],"
                             "\"default\":null}"
                           : "");
    json_t *js = json_loads(text, 0, NULL);
    s->plan = amap_new(js, err, sizeof(err));
    json_decref(js);
    if (!s->plan) {
        fprintf(stderr, "plan: %s\n", err);
        return -1;
    }
    if (avro_schema_from_json_length(text, strlen(text), &s->schema)) {
        fprintf(stderr, "schema: %s\n", avro_strerror());
        return -1;
    }
    s->iface = avro_generic_class_from_schema(s->schema);
    return avro_generic_value_new(s->iface, &s->value);
}

static void close_setup(setup *s)
{
    avro_value_decref(&s->value);
    avro_value_iface_decref(s->iface);
    avro_schema_decref(s->schema);
    amap_free(s->plan);
}

/* Returns µs per record, or -1. texts != NULL: parse each record from its JSON text first. */
static double run(setup *s, json_t **recs, char **texts, long n, double *bytes_per_rec)
{
    static char out[1 << 16];
    char err[256];
    avro_writer_t w = avro_writer_memory(out, sizeof(out));
    size_t total = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        json_t *rec = recs[i % VARIANTS];
        if (texts) {
            const char *t = texts[i % VARIANTS];
            rec = json_loadb(t, strlen(t), 0, NULL);
        }
        if (amap_fill(s->plan, rec, &s->value, err, sizeof(err))) {
            fprintf(stderr, "fill: %s\n", err);
            avro_writer_free(w);
            return -1;
        }
        memset(out, 0, 10); /* stands for the single-object header */
        avro_writer_memory_set_dest(w, out + 10, sizeof(out) - 10);
        if (avro_value_write(w, &s->value)) {
            fprintf(stderr, "write: %s\n", avro_strerror());
            avro_writer_free(w);
            return -1;
        }
        total += 10 + (size_t)avro_writer_tell(w);
        if (texts)
            json_decref(rec);
    }
    double dt = now_s() - t0;
    avro_writer_free(w);
    *bytes_per_rec = (double)total / (double)n;
    return dt * 1e6 / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    int only = argc > 2 ? atoi(argv[2]) : 0;
    json_t *plain[VARIANTS], *ordered[VARIANTS], *extra[VARIANTS];
    char *texts[VARIANTS];
    size_t text_bytes = 0;
    for (int i = 0; i < VARIANTS; i++) {
        plain[i] = make_record(i, 1, 0);
        ordered[i] = make_record(i, 0, 0);
        extra[i] = make_record(i, 1, 1);
        texts[i] = json_dumps(plain[i], JSON_COMPACT);
        text_bytes += strlen(texts[i]);
    }
    setup a, b;
    if (open_setup(&a, 0) || open_setup(&b, 1))
        return 1;
    double sz;
    printf("bench_avro_map: %ld records per phase, %d variants, mean JSON %.0f B\n", n, VARIANTS,
           (double)text_bytes / VARIANTS);
    static const struct {
        const char *label;
        int unmapped_schema, recs, parse;
    } phases[] = {
        {"fill+write, keys in API order      ", 0, 0, 0},
        {"fill+write, keys in schema order   ", 0, 1, 0},
        {"fill+write +_unmapped, none        ", 1, 0, 0},
        {"fill+write +_unmapped, 2 unknown   ", 1, 2, 0},
        {"json_loadb+fill+write (API order)  ", 0, 0, 1},
    };
    json_t **sets[] = {plain, ordered, extra};
    for (int p = 0; p < (int)(sizeof(phases) / sizeof(phases[0])); p++) {
        if (only && only != p + 1)
            continue;
        double us = run(phases[p].unmapped_schema ? &b : &a, sets[phases[p].recs],
                        phases[p].parse ? texts : NULL, n, &sz);
        if (us < 0)
            return 1;
        printf("  %d %s %.3f us/record  (%.0f rec/s, %.1f B/record)\n", p + 1, phases[p].label, us,
               1e6 / us, sz);
    }
    close_setup(&a);
    close_setup(&b);
    for (int i = 0; i < VARIANTS; i++) {
        json_decref(plain[i]);
        json_decref(ordered[i]);
        json_decref(extra[i]);
        free(texts[i]);
    }
    return 0;
}
