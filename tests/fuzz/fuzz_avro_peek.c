/* fuzz_avro_peek.c — what `peek` and the state readers do with event values read back from
 * Kafka: the value after a table's single-object header decoded (event_decode, which checks its
 * lengths before avro-c allocates them) and its after image hashed (event_after_hash); message
 * keys decoded as Confluent-framed strings. Input: [table][Avro bytes...]. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "embedded_schemas.h"
#include "event.h"
#include "schema_canon.h"
#include "schema_resolver.h"
#include "util.h"

static event_codec *codecs[128];
static int n_codecs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (const connector *const *c = crm_connectors; *c; c++)
        for (size_t i = 0; i < (*c)->n_tables && n_codecs < 128; i++) {
            const table_def *t = &(*c)->tables[i];
            const char *text = embedded_schemas_find(t->schema_file);
            char err[512];
            event_codec *k =
                text ? event_codec_new((*c)->name, t->name, text, err, sizeof(err)) : NULL;
            codecs[n_codecs++] = k; /* NULL when the schema does not compile */
        }
    if (n_codecs == 0) {
        fprintf(stderr, "fuzz_avro_peek: no codec\n");
        exit(2);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    event_codec *c = codecs[data[0] % n_codecs];
    if (!c)
        return 0;
    buf v;
    buf_init(&v);
    unsigned char header[10];
    schema_canon_single_object_header(event_codec_fingerprint(c), header);
    buf_append(&v, header, sizeof(header));
    buf_append(&v, data + 1, size - 1);
    char err[512];
    json_t *ev = event_decode(c, v.data, v.len, err, sizeof(err));
    json_decref(ev);
    uint64_t h, legacy;
    event_after_hash(c, v.data, v.len, &h, &legacy, err, sizeof(err));
    buf key;
    buf_init(&key);
    resolver_key_text(data + 1, size - 1, &key);
    buf_free(&key);
    buf_free(&v);
    return 0;
}
