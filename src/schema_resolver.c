/* schema_resolver.c — writer schemas of event values, by fingerprint (schemas topic) or by
 * registry id, each compiled once into a decoding codec. */
#include "schema_resolver.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_registry.h"
#include "topic_reader.h"
#include "util.h"

typedef struct resolved {
    char *key; /* "f:<16 hex>" or "r:<id>" */
    char *text;
    event_codec *codec; /* built on first use */
    struct resolved *next;
} resolved;

struct schema_resolver {
    const crm_config *cfg;
    resolved *list;
    int topic_loads;     /* the schemas topic is re-read at most once per miss, twice in all */
    sr_client *registry; /* created on the first Confluent-framed value */
};

schema_resolver *resolver_new(const crm_config *cfg)
{
    schema_resolver *r = xcalloc(1, sizeof(*r));
    r->cfg = cfg;
    return r;
}

void resolver_free(schema_resolver *r)
{
    if (!r)
        return;
    for (resolved *e = r->list, *n; e; e = n) {
        n = e->next;
        free(e->key);
        free(e->text);
        event_codec_free(e->codec);
        free(e);
    }
    sr_free(r->registry);
    free(r);
}

static resolved *find(schema_resolver *r, const char *key)
{
    for (resolved *e = r->list; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void put(schema_resolver *r, const char *key, const char *text, size_t len)
{
    resolved *e = find(r, key);
    if (!e) {
        e = xcalloc(1, sizeof(*e));
        e->key = xstrdup(key);
        e->next = r->list;
        r->list = e;
    } else if (e->codec) {
        return; /* already compiled: the same fingerprint has the same canonical form */
    }
    free(e->text);
    e->text = xmalloc(len + 1);
    memcpy(e->text, text, len);
    e->text[len] = '\0';
}

static int visit_schema(const topic_record *rec, void *u)
{
    schema_resolver *r = u;
    if (!rec->value || rec->key_len != 16)
        return 0;
    char key[19] = "f:";
    memcpy(key + 2, rec->key, 16);
    put(r, key, rec->value, rec->value_len);
    return 0;
}

static int load_schemas_topic(schema_resolver *r, char *err, size_t errlen)
{
    r->topic_loads++;
    return topic_read(&r->cfg->kafka, r->cfg->kafka.schemas_topic, -1, visit_schema, r, 30000, err,
                      errlen) < 0
               ? -1
               : 0;
}

/* The key of the value's schema from its framing. */
static int framing_key(const void *value, size_t len, char *key, size_t keylen, char *err,
                       size_t errlen)
{
    const unsigned char *p = value;
    if (len >= 10 && p[0] == 0xC3 && p[1] == 0x01) {
        uint64_t fp = 0;
        for (int i = 7; i >= 0; i--)
            fp = (fp << 8) | p[2 + i];
        snprintf(key, keylen, "f:%016" PRIx64, fp);
        return 0;
    }
    if (len >= 5 && p[0] == 0x00) {
        uint32_t id =
            ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
        snprintf(key, keylen, "r:%" PRIu32, id);
        return 0;
    }
    snprintf(err, errlen,
             "value is neither single-object encoded (C3 01) nor Confluent framed (00)");
    return -1;
}

static resolved *lookup(schema_resolver *r, const void *value, size_t len, char *err, size_t errlen)
{
    char key[32];
    if (framing_key(value, len, key, sizeof(key), err, errlen))
        return NULL;
    resolved *e = find(r, key);
    if (!e && key[0] == 'f' && r->topic_loads < 2) {
        if (load_schemas_topic(r, err, errlen))
            return NULL;
        e = find(r, key);
    }
    if (!e && key[0] == 'r' && r->cfg->registry.url) {
        if (!r->registry)
            r->registry = sr_new(&r->cfg->registry, err, errlen);
        const char *text = NULL;
        if (r->registry && sr_schema_by_id(r->registry, (uint32_t)strtoul(key + 2, NULL, 10), &text,
                                           err, errlen) == SR_OK) {
            put(r, key, text, strlen(text));
            return find(r, key);
        }
        return NULL;
    }
    if (!e && key[0] == 'r')
        snprintf(err, errlen, "schema id %s: no schema_registry is configured", key + 2);
    else if (!e)
        snprintf(err, errlen, "schema fingerprint %s is not in %s", key + 2,
                 r->cfg->kafka.schemas_topic);
    return e;
}

event_codec *resolver_codec(schema_resolver *r, const void *value, size_t len, char *err,
                            size_t errlen)
{
    resolved *e = lookup(r, value, len, err, errlen);
    if (!e)
        return NULL;
    if (!e->codec) {
        e->codec = event_codec_from_envelope(e->text, strlen(e->text), err, errlen);
        if (e->codec && e->key[0] == 'r')
            event_codec_use_registry_id(e->codec, (uint32_t)strtoul(e->key + 2, NULL, 10));
    }
    return e->codec;
}

json_t *resolver_decode(schema_resolver *r, const void *value, size_t len, char *err, size_t errlen)
{
    event_codec *c = resolver_codec(r, value, len, err, errlen);
    return c ? event_decode(c, value, len, err, errlen) : NULL;
}

const char *resolver_schema_text(schema_resolver *r, const void *value, size_t len)
{
    char err[256];
    resolved *e = lookup(r, value, len, err, sizeof(err));
    return e ? e->text : NULL;
}

void resolver_key_text(const void *key, size_t len, buf *out)
{
    const unsigned char *p = key;
    buf_reset(out);
    if (len >= 6 && p[0] == 0x00) { /* Confluent framed Avro string */
        uint64_t z = 0;
        size_t i = 5;
        for (int shift = 0; i < len && shift < 64; shift += 7) {
            unsigned char b = p[i++];
            z |= (uint64_t)(b & 0x7f) << shift;
            if (!(b & 0x80))
                break;
        }
        uint64_t n = z >> 1;
        if (!(z & 1) && i + n == len) {
            buf_append(out, p + i, (size_t)n);
            return;
        }
    }
    buf_append(out, key, len);
}
