/* fuzz_raw_dom.c — the raw encoder (JSON text straight to Avro) against the DOM path (jansson,
 * amap_fill, avro-c's writer) on arbitrary record texts, for every table's schema: whatever
 * the raw path encodes, the DOM path must encode to the same bytes (json_scan.h's promise). Also
 * the scanner against jansson: js_skip takes exactly the texts jansson parses, jl_value reads
 * them as jansson does and js_span_value ends them where js_skip does. Input:
 * [table][record JSON...]. A disagreement aborts. */
#include <avro.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amap.h"
#include "connector.h"
#include "embedded_schemas.h"
#include "json_load.h"
#include "json_scan.h"
#include "util.h"

/* A table's schema compiled both ways; the avro-c value is made per input, so that a leak in
 * an input's encoding is that input's (LeakSanitizer). */
typedef struct codec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    amap_plan *plan;
} codec;

/* by table index over all connectors' tables (ok[i] = 0: its schema did not compile) */
static codec codecs[128];
static int ok[128], n_tables;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (const connector *const *c = crm_connectors; *c; c++)
        for (size_t i = 0; i < (*c)->n_tables && n_tables < 128; i++) {
            const table_def *t = &(*c)->tables[i];
            const char *text = embedded_schemas_find(t->schema_file);
            char err[512];
            json_t *j = text ? json_loads(text, 0, NULL) : NULL;
            codec *k = &codecs[n_tables++];
            k->plan = j ? amap_new(j, err, sizeof(err)) : NULL;
            json_decref(j);
            if (!k->plan || avro_schema_from_json_length(text, strlen(text), &k->schema))
                continue;
            k->iface = avro_generic_class_from_schema(k->schema);
            if (!k->iface)
                continue;
            ok[n_tables - 1] = 1;
        }
    if (n_tables == 0) {
        fprintf(stderr, "fuzz_raw_dom: no table schema compiled\n");
        exit(2);
    }
    return 0;
}

static int dom_bytes(codec *c, const char *text, size_t len, buf *out)
{
    char err[512];
    avro_value_t value;
    if (avro_generic_value_new(c->iface, &value))
        return -1;
    json_t *j = json_loadb(text, len, 0, NULL);
    int rc = -1;
    if (j && amap_fill(c->plan, j, &value, err, sizeof(err)) == 0) {
        size_t size = 0;
        if (avro_value_sizeof(&value, &size) == 0) {
            buf_grow(out, size + 1);
            avro_writer_t w = avro_writer_memory(out->data, (int64_t)size);
            if (avro_value_write(w, &value) == 0) {
                out->len = (size_t)avro_writer_tell(w);
                rc = 0;
            }
            avro_writer_free(w);
        }
    }
    json_decref(j);
    avro_value_decref(&value);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int idx = data[0] % n_tables;
    codec *c = ok[idx] ? &codecs[idx] : NULL;
    const char *text = (const char *)data + 1, *end = text + size - 1;
    size_t len = size - 1;

    /* the scanner accepts exactly what jansson parses (texts with a NUL byte aside: jansson
     * takes "2\0" as 2, a top-level number followed by the end of a C string) */
    const char *skipped = js_skip(text, end);
    int js_ok = skipped && js_ws(skipped, end) == end;
    json_t *any = json_loadb(text, len, JSON_DECODE_ANY, NULL);
    if (js_ok != (any != NULL) && !memchr(text, '\0', len)) {
        fprintf(stderr, "js_skip %s what jansson %s\n", js_ok ? "accepts" : "refuses",
                any ? "parses" : "refuses");
        abort();
    }
    /* a valid value's text: jl_value reads what jansson reads, js_span_value ends where js_skip
     * does */
    if (js_ok && any && !memchr(text, '\0', len)) {
        json_t *mine = jl_value(text, end);
        if (!mine || !json_equal(mine, any) || json_typeof(mine) != json_typeof(any)) {
            fprintf(stderr, "jl_value reads other than jansson\n");
            abort();
        }
        json_decref(mine);
        if (js_span_value(text, end) != skipped) {
            fprintf(stderr, "js_span_value ends elsewhere than js_skip\n");
            abort();
        }
    }
    json_decref(any);

    if (!c)
        return 0;
    buf raw, dom;
    buf_init(&raw);
    buf_init(&dom);
    if (amap_encode_raw(c->plan, text, len, &raw) == 0) {
        if (dom_bytes(c, text, len, &dom) != 0) {
            fprintf(stderr, "raw path encoded what the DOM path refuses\n");
            abort();
        }
        if (raw.len != dom.len || memcmp(raw.data, dom.data, raw.len) != 0) {
            fprintf(stderr, "raw and DOM bytes differ (%zu vs %zu bytes)\n", raw.len, dom.len);
            abort();
        }
    }
    buf_free(&raw);
    buf_free(&dom);
    return 0;
}
