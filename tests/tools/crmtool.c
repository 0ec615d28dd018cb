/* crmtool.c — test helper: reads a table topic back (read_committed), decodes every event with
 * the table's schema and checks it against the simulator's ground truth.
 *
 *   crmtool summary -c CFG SPEC            JSON: counts per op, tombstones, duplicates, latest
 *   crmtool compare -c CFG SPEC TRUTH.json exit 0 when the latest image of every key equals
 *                                          the truth records ({"records":[...]}) field by field
 *   crmtool statekeys -c CFG PREFIX        how many keys of the state topic starting with PREFIX
 *                                          (e.g. dc/acme/items/) hold a value as their latest
 *                                          record: what survives compaction
 *   crmtool legacy-state -c CFG SPEC       turns the table's dedupe state into what versions
 *                                          before the dedupe log wrote: dd/<source>/<table>/<pk>
 *                                          = 16 hex digits of the old hash of each live key's
 *                                          latest image, and tombstones for its dc/ chunks
 *                                          (an upgrade test); prints the number of keys
 *   crmtool decodable -c CFG               every event of every table topic of the config's
 *                                          sources resolves its writer schema the way a
 *                                          consumer does (fingerprint in the schemas topic, or
 *                                          id in the registry) and decodes; exit 1 otherwise
 *                                          (3: the config does not load, nothing to check)
 *   crmtool shards -c CFG members         the config's shard group as its coordinator sees it:
 *                                          "<client id> <shards>" per member
 *   crmtool shards -c CFG N               joins the config's shard group (shard_group.h) for N
 *                                          shards with stand-in shards that do nothing but take
 *                                          CRMTOOL_SHARD_MS (default 0) to start and to stop,
 *                                          until SIGTERM/SIGINT: membership tests without an
 *                                          engine (integration test 80)
 *   crmtool txn -c CFG ID [--hold FILE] [put TOPIC KEY VALUE | del TOPIC KEY]...
 *                                          one transaction of transactional.id ID holding those
 *                                          messages (del: a tombstone), committed ("committed").
 *                                          --hold: produced and acknowledged, "open" printed,
 *                                          then left open until FILE exists; then the commit is
 *                                          tried: "committed", or "commit failed: ..." and exit
 *                                          1 (an earlier version's instance with a transaction
 *                                          in flight, for upgrade tests)
 * SPEC is TABLE or SOURCE.TABLE. A "duplicate" is an event whose after image equals the previous
 * after image of the same key: something published twice. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custom_fields.h"
#include "schema_resolver.h"
#include "config.h"
#include "crm_time.h"
#include "kafka.h"
#include "shard_group.h"
#include "topic_reader.h"

#include <librdkafka/rdkafka.h>

typedef struct reader {
    schema_resolver *resolver;
    const table_def *def;
    char *last_schema; /* writer schema of the last event: its custom fields (crm_id) */
    json_t *latest;    /* pk -> after image; deleted keys removed */
    json_t *ops;
    long messages, tombstones, duplicates, undecodable;
} reader;

static int visit(const topic_record *r, void *u)
{
    reader *rd = u;
    buf kt;
    buf_init(&kt);
    resolver_key_text(r->key ? r->key : "", r->key ? r->key_len : 0, &kt);
    char *key = strdup(kt.data ? kt.data : "");
    buf_free(&kt);
    rd->messages++;
    if (!r->value) {
        rd->tombstones++;
        json_object_del(rd->latest, key);
        free(key);
        return 0;
    }
    char err[512];
    json_t *ev = resolver_decode(rd->resolver, r->value, r->value_len, err, sizeof(err));
    const char *schema = ev ? resolver_schema_text(rd->resolver, r->value, r->value_len) : NULL;
    if (schema && (!rd->last_schema || strcmp(schema, rd->last_schema) != 0)) {
        free(rd->last_schema);
        rd->last_schema = strdup(schema);
    }
    if (!ev) {
        fprintf(stderr, "crmtool: offset %lld: %s\n", (long long)r->offset, err);
        rd->undecodable++;
        free(key);
        return 0;
    }
    const char *op = json_string_value(json_object_get(ev, "op"));
    json_object_set_new(rd->ops, op,
                        json_integer(json_integer_value(json_object_get(rd->ops, op)) + 1));
    json_t *after = json_object_get(ev, "after");
    if (op && strcmp(op, "d") == 0) {
        json_object_del(rd->latest, key);
    } else {
        json_t *prev = json_object_get(rd->latest, key);
        if (prev && json_equal(prev, after))
            rd->duplicates++;
        json_object_set(rd->latest, key, after);
    }
    json_decref(ev);
    free(key);
    return 0;
}

static int read_table(const crm_config *cfg, const char *spec, reader *rd)
{
    char err[1024];
    char *topic = NULL;
    memset(rd, 0, sizeof(*rd));
    rd->def = cli_table_topic(cfg, spec, &topic, err, sizeof(err));
    if (!rd->def) {
        fprintf(stderr, "crmtool: %s\n", err);
        return -1;
    }
    rd->resolver = resolver_new(cfg);
    rd->latest = json_object();
    rd->ops = json_object();
    long n = topic_read(&cfg->kafka, topic, -1, visit, rd, 60000, err, sizeof(err));
    free(topic);
    if (n < 0) {
        fprintf(stderr, "crmtool: %s\n", err);
        return -1;
    }
    return 0;
}

static void reader_free(reader *rd)
{
    resolver_free(rd->resolver);
    free(rd->last_schema);
    json_decref(rd->latest);
    json_decref(rd->ops);
}

/* Semantic equality: numbers by value, timestamp strings by instant, null == missing. */
static int same(const json_t *a, const json_t *b, const char *path, char *why, size_t whylen);

static int same_object(const json_t *a, const json_t *b, const char *path, char *why, size_t whylen)
{
    const char *k;
    json_t *v;
    char sub[512];
    json_object_foreach((json_t *)a, k, v)
    {
        snprintf(sub, sizeof(sub), "%s.%s", path, k);
        if (!same(v, json_object_get(b, k), sub, why, whylen))
            return 0;
    }
    json_object_foreach((json_t *)b, k, v)
    {
        snprintf(sub, sizeof(sub), "%s.%s", path, k);
        if (!json_object_get(a, k) && !json_is_null(v)) {
            snprintf(why, whylen, "%s: unexpected field", sub);
            return 0;
        }
    }
    return 1;
}

static int same(const json_t *a, const json_t *b, const char *path, char *why, size_t whylen)
{
    if (!a || json_is_null(a) || !b || json_is_null(b)) {
        if ((!a || json_is_null(a)) && (!b || json_is_null(b)))
            return 1;
        snprintf(why, whylen, "%s: one side is null", path);
        return 0;
    }
    if (json_is_number(a) && json_is_number(b)) {
        if (json_number_value(a) == json_number_value(b))
            return 1;
    } else if (json_is_string(a) && json_is_string(b)) {
        int64_t x, y;
        if (strcmp(json_string_value(a), json_string_value(b)) == 0)
            return 1;
        if (!crm_time_parse(json_string_value(a), &x) &&
            !crm_time_parse(json_string_value(b), &y) && x == y)
            return 1;
    } else if (json_is_object(a) && json_is_object(b)) {
        return same_object(a, b, path, why, whylen);
    } else if (json_is_array(a) && json_is_array(b) && json_array_size(a) == json_array_size(b)) {
        for (size_t i = 0; i < json_array_size(a); i++) {
            char sub[512];
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            if (!same(json_array_get(a, i), json_array_get(b, i), sub, why, whylen))
                return 0;
        }
        return 1;
    } else if (json_equal((json_t *)a, (json_t *)b)) {
        return 1;
    }
    char *sa = json_dumps(a, JSON_ENCODE_ANY | JSON_COMPACT);
    char *sb = json_dumps(b, JSON_ENCODE_ANY | JSON_COMPACT);
    snprintf(why, whylen, "%s: truth %.200s != topic %.200s", path, sa ? sa : "?", sb ? sb : "?");
    free(sa);
    free(sb);
    return 0;
}

/* The typed custom fields of the newest writer schema: [{"id","name","type"}]. */
static json_t *custom_fields_of(const char *schema_text)
{
    json_t *out = json_array();
    json_t *env = schema_text ? json_loads(schema_text, 0, NULL) : NULL;
    json_t *before = json_array_get(json_object_get(env, "fields"), 0);
    json_t *record = json_array_get(json_object_get(before, "type"), 1);
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(record, "fields"), i, f)
    {
        const char *key = json_string_value(json_object_get(f, "json"));
        if (!key || strcmp(key, CF_JSON_KEY) != 0)
            continue;
        json_t *crec = json_array_get(json_object_get(f, "type"), 1);
        size_t k;
        json_t *cf;
        json_array_foreach(json_object_get(crec, "fields"), k, cf)
        {
            if (json_object_get(cf, "crm_id"))
                json_array_append_new(
                    out,
                    json_pack("{s:O, s:O, s:O, s:b}", "id", json_object_get(cf, "crm_id"), "name",
                              json_object_get(cf, "name"), "type", json_object_get(cf, "crm_type"),
                              "active", !json_is_false(json_object_get(cf, "crm_active"))));
        }
    }
    json_decref(env);
    return out;
}

static int kind_of(const char *name)
{
    for (int k = CF_STRING; k <= CF_ENUM; k++)
        if (name && strcmp(name, cf_kind_name((cf_kind)k)) == 0)
            return k;
    return CF_STRING;
}

/* Takes the custom values out of a truth record the way the connector does, so the rest
 * compares field by field; every raw value must reappear typed or in custom._invalid. */
static json_t *split_custom(const table_def *def, const json_t *fields, const json_t *truth,
                            const json_t *got, const char *pk, long *lost)
{
    json_t *copy = json_copy((json_t *)truth);
    if (def->custom->strip)
        def->custom->strip(copy);
    const json_t *typed = json_object_get(got, CF_JSON_KEY);
    const json_t *invalid = json_object_get(typed, "_invalid");
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        const json_t *tv0 = json_object_get(typed, name);
        /* A field no longer defined is taken only from records published while it was (records
         * not re-read since keep the representation of their time). */
        if (!json_is_true(json_object_get(f, "active")) && (!tv0 || json_is_null(tv0)) &&
            !json_object_get(invalid, name))
            continue;
        json_t *raw =
            def->custom->take(copy, json_string_value(json_object_get(f, "id")),
                              (cf_kind)kind_of(json_string_value(json_object_get(f, "type"))));
        int present = raw && !json_is_null(raw) &&
                      !(json_is_array(raw) && json_array_size(raw) == 0 &&
                        json_is_array(json_object_get(typed, name)));
        const json_t *tv = json_object_get(typed, name);
        if (present && (!tv || json_is_null(tv)) && !json_object_get(invalid, name)) {
            /* an inactive entry of the same id may hold it under another name */
            int elsewhere = 0;
            size_t j;
            json_t *g;
            json_array_foreach(fields, j, g) elsewhere |=
                j != i && json_equal(json_object_get(g, "id"), json_object_get(f, "id")) &&
                json_object_get(typed, json_string_value(json_object_get(g, "name"))) &&
                !json_is_null(
                    json_object_get(typed, json_string_value(json_object_get(g, "name"))));
            if (!elsewhere && (*lost)++ < 10) {
                char *t = json_dumps(raw, JSON_ENCODE_ANY);
                fprintf(stderr, "crmtool: key %s: custom value %s of %s is missing\n", pk,
                        t ? t : "?", name);
                free(t);
            }
        } else if (present && json_is_number(raw) && json_is_number(tv) &&
                   json_number_value(raw) != json_number_value(tv) && (*lost)++ < 10) {
            /* a number is typed as a double: its value never changes */
            fprintf(stderr, "crmtool: key %s: custom %s is %.17g in the CRM, %.17g in the topic\n",
                    pk, name, json_number_value(raw), json_number_value(tv));
        }
        json_decref(raw);
    }
    return copy;
}

static int compare(const crm_config *cfg, const char *spec, const char *truth_path,
                   const char *pk_field)
{
    json_error_t je;
    json_t *truth = json_load_file(truth_path, 0, &je);
    json_t *records = json_object_get(truth, "records");
    if (!json_is_array(records)) {
        fprintf(stderr, "crmtool: %s: no \"records\" array (%s)\n", truth_path, je.text);
        json_decref(truth);
        return 2;
    }
    reader rd;
    if (read_table(cfg, spec, &rd)) {
        json_decref(truth);
        return 2;
    }
    long mismatches = 0, lost = 0;
    size_t i;
    json_t *rec;
    json_t *seen = json_object();
    json_t *custom = rd.def->custom ? custom_fields_of(rd.last_schema) : json_array();
    json_array_foreach(records, i, rec)
    {
        json_t *pkv = json_object_get(rec, pk_field);
        char pk[256];
        if (json_is_string(pkv))
            snprintf(pk, sizeof(pk), "%s", json_string_value(pkv));
        else
            snprintf(pk, sizeof(pk), "%" JSON_INTEGER_FORMAT, json_integer_value(pkv));
        json_object_set_new(seen, pk, json_true());
        json_t *got = json_object_get(rd.latest, pk);
        char why[1024];
        if (!got) {
            if (mismatches++ < 10)
                fprintf(stderr, "crmtool: %s: key %s missing from the topic\n", spec, pk);
        } else if (json_array_size(custom) > 0) {
            json_t *rest = split_custom(rd.def, custom, rec, got, pk, &lost);
            json_t *g = json_copy(got);
            json_object_del(g, CF_JSON_KEY);
            if (!same(rest, g, pk, why, sizeof(why)) && mismatches++ < 10)
                fprintf(stderr, "crmtool: %s: %s\n", spec, why);
            json_decref(rest);
            json_decref(g);
        } else if (!same(rec, got, pk, why, sizeof(why))) {
            if (mismatches++ < 10)
                fprintf(stderr, "crmtool: %s: %s\n", spec, why);
        }
    }
    const char *k;
    json_t *v;
    json_object_foreach(rd.latest, k, v)
    {
        if (!json_object_get(seen, k) && mismatches++ < 10)
            fprintf(stderr, "crmtool: %s: key %s is in the topic but not in the CRM\n", spec, k);
    }
    printf("compare %s: truth=%zu topic=%zu messages=%ld duplicates=%ld undecodable=%ld "
           "mismatches=%ld custom_fields=%zu custom_lost=%ld\n",
           spec, json_array_size(records), json_object_size(rd.latest), rd.messages, rd.duplicates,
           rd.undecodable, mismatches, json_array_size(custom), lost);
    int rc = (mismatches || rd.undecodable || lost) ? 1 : 0;
    json_decref(custom);
    json_decref(seen);
    json_decref(truth);
    reader_free(&rd);
    return rc;
}

static int summary(const crm_config *cfg, const char *spec)
{
    reader rd;
    if (read_table(cfg, spec, &rd))
        return 2;
    json_t *out =
        json_pack("{s:I, s:O, s:I, s:I, s:I, s:I, s:O}", "messages", (json_int_t)rd.messages, "ops",
                  rd.ops, "tombstones", (json_int_t)rd.tombstones, "duplicates",
                  (json_int_t)rd.duplicates, "undecodable", (json_int_t)rd.undecodable, "keys",
                  (json_int_t)json_object_size(rd.latest), "latest", rd.latest);
    char *s = json_dumps(out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(out);
    reader_free(&rd);
    return 0;
}

static int note_latest(const topic_record *r, void *u)
{
    json_t *latest = u;
    char *key = strndup(r->key ? r->key : "", r->key ? r->key_len : 0);
    json_object_set_new(latest, key, json_boolean(r->value != NULL));
    free(key);
    return 0;
}

static int statekeys(const crm_config *cfg, const char *prefix)
{
    char err[1024];
    json_t *latest = json_object();
    if (topic_read(&cfg->kafka, cfg->kafka.state_topic, -1, note_latest, latest, 60000, err,
                   sizeof(err)) < 0) {
        fprintf(stderr, "crmtool: %s\n", err);
        json_decref(latest);
        return 1;
    }
    long n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(latest, k, v) n +=
        strncmp(k, prefix, strlen(prefix)) == 0 && json_is_true(v);
    printf("%ld\n", n);
    json_decref(latest);
    return 0;
}

typedef struct legacy_reader {
    schema_resolver *resolver;
    json_t *hashes; /* key text -> 16 hex digits of the legacy hash; deleted keys removed */
    long failed;
} legacy_reader;

static int note_legacy_hash(const topic_record *r, void *u)
{
    legacy_reader *lr = u;
    buf kt;
    buf_init(&kt);
    resolver_key_text(r->key ? r->key : "", r->key ? r->key_len : 0, &kt);
    const char *key = kt.data ? kt.data : "";
    char err[512];
    event_codec *c =
        r->value ? resolver_codec(lr->resolver, r->value, r->value_len, err, sizeof(err)) : NULL;
    uint64_t hash, legacy;
    if (!r->value || !c ||
        event_after_hash(c, r->value, r->value_len, &hash, &legacy, err, sizeof(err))) {
        json_object_del(lr->hashes, key); /* a tombstone or a delete event */
        lr->failed += r->value && !c;
    } else {
        char hex[17];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)(legacy & ~CONTENT_HASH_LEGACY));
        json_object_set_new(lr->hashes, key, json_string(hex));
    }
    buf_free(&kt);
    return 0;
}

static int legacy_state(const crm_config *cfg, const char *spec)
{
    char err[1024], errstr[512];
    char *topic = NULL;
    const table_def *def = cli_table_topic(cfg, spec, &topic, err, sizeof(err));
    if (!def) {
        fprintf(stderr, "crmtool: %s\n", err);
        return 1;
    }
    const char *source_label = cfg->sources[0].name;
    const char *dot = strchr(spec, '.');
    char src_name[128];
    if (dot) {
        snprintf(src_name, sizeof(src_name), "%.*s", (int)(dot - spec), spec);
        source_label = src_name;
    }
    legacy_reader lr = {resolver_new(cfg), json_object(), 0};
    json_t *state = json_object();
    int rc = 1;
    if (topic_read(&cfg->kafka, topic, -1, note_legacy_hash, &lr, 60000, err, sizeof(err)) < 0 ||
        topic_read(&cfg->kafka, cfg->kafka.state_topic, -1, note_latest, state, 60000, err,
                   sizeof(err)) < 0) {
        fprintf(stderr, "crmtool: %s\n", err);
        goto out;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "crmtool: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "crmtool: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        goto out;
    }
    char prefix[512], key[1024];
    snprintf(prefix, sizeof(prefix), "dc/%s/%s/", source_label, def->name);
    const char *k;
    json_t *v;
    int produce_failed = 0;
    json_object_foreach(state, k, v)
    {
        if (strncmp(k, prefix, strlen(prefix)) == 0 && json_is_true(v))
            produce_failed |= rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(cfg->kafka.state_topic),
                                                RD_KAFKA_V_KEY(k, strlen(k)),
                                                RD_KAFKA_V_VALUE(NULL, 0), RD_KAFKA_V_END) != 0;
    }
    json_object_foreach(lr.hashes, k, v)
    {
        int n = snprintf(key, sizeof(key), "dd/%s/%s/%s", source_label, def->name, k);
        produce_failed |=
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(cfg->kafka.state_topic),
                              RD_KAFKA_V_KEY(key, (size_t)n),
                              RD_KAFKA_V_VALUE((void *)json_string_value(v), 16),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END) != 0;
    }
    if (produce_failed || rd_kafka_flush(rk, 30000) != RD_KAFKA_RESP_ERR_NO_ERROR ||
        rd_kafka_outq_len(rk) > 0 || lr.failed)
        fprintf(stderr, "crmtool: legacy state not fully written (%ld undecodable events)\n",
                lr.failed);
    else
        rc = 0;
    rd_kafka_destroy(rk);
    if (rc == 0)
        printf("%zu\n", json_object_size(lr.hashes));
out:
    free(topic);
    resolver_free(lr.resolver);
    json_decref(lr.hashes);
    json_decref(state);
    return rc;
}

/* ---- decodable: every event of every table topic, resolved like a consumer ---------------- */

typedef struct decode_count {
    schema_resolver *resolver;
    const char *topic;
    long events, undecodable;
} decode_count;

static int count_decodable(const topic_record *r, void *u)
{
    decode_count *dc = u;
    if (!r->value)
        return 0; /* tombstones carry no schema */
    dc->events++;
    char err[512];
    json_t *ev = resolver_decode(dc->resolver, r->value, r->value_len, err, sizeof(err));
    if (!ev && dc->undecodable++ < 5)
        fprintf(stderr, "crmtool: %s partition %d offset %lld: undecodable: %s\n", dc->topic,
                (int)r->partition, (long long)r->offset, err);
    json_decref(ev);
    return 0;
}

/* The names of the cluster's topics of the config's sources: <topic_prefix>.<source>.* */
static json_t *source_topics(const crm_config *cfg, char *err, size_t errlen)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* the config's properties too: a SASL_SSL cluster needs them (test 53) */
    const char *defaults[] = {"bootstrap.servers", cfg->kafka.bootstrap_servers, NULL};
    if (kafka_conf_apply(conf, &cfg->kafka, defaults, err, errlen)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        snprintf(err, errlen, "%s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, 30000);
    json_t *out = NULL;
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "kafka metadata: %s", rd_kafka_err2str(e));
    } else {
        out = json_array();
        char prefix[512];
        for (int s = 0; s < cfg->n_sources; s++) {
            snprintf(prefix, sizeof(prefix), "%s.%s.", cfg->kafka.topic_prefix,
                     cfg->sources[s].name);
            for (int i = 0; i < md->topic_cnt; i++)
                if (strncmp(md->topics[i].topic, prefix, strlen(prefix)) == 0)
                    json_array_append_new(out, json_string(md->topics[i].topic));
        }
        rd_kafka_metadata_destroy(md);
    }
    rd_kafka_destroy(rk);
    return out;
}

static int decodable(const crm_config *cfg)
{
    char err[1024];
    json_t *topics = source_topics(cfg, err, sizeof(err));
    if (!topics) {
        fprintf(stderr, "crmtool: %s\n", err);
        return 2;
    }
    decode_count dc = {resolver_new(cfg), NULL, 0, 0};
    size_t i, n = 0;
    json_t *name;
    int rc = 0;
    json_array_foreach(topics, i, name)
    {
        const char *topic = json_string_value(name);
        if (strcmp(topic, cfg->kafka.state_topic) == 0 ||
            strcmp(topic, cfg->kafka.schemas_topic) == 0)
            continue;
        dc.topic = topic;
        n++;
        if (topic_read(&cfg->kafka, topic, -1, count_decodable, &dc, 60000, err, sizeof(err)) < 0) {
            fprintf(stderr, "crmtool: %s\n", err);
            rc = 2;
        }
    }
    printf("decodable: topics=%zu events=%ld undecodable=%ld\n", n, dc.events, dc.undecodable);
    resolver_free(dc.resolver);
    json_decref(topics);
    return rc ? rc : dc.undecodable ? 1 : 0;
}

static void print_member(const char *client_id, const char *host, const char *list, void *u)
{
    (void)host;
    (void)u;
    printf("%s %s\n", client_id, list);
}

static int shard_members(crm_config *cfg)
{
    char err[1024];
    if (shard_group_members(&cfg->kafka, print_member, NULL, err, sizeof(err))) {
        fprintf(stderr, "crmtool: %s\n", err);
        return 1;
    }
    return 0;
}

/* ---- shards: group membership with stand-in shards ---------------------------------------- */

static volatile int shards_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    flag_set(&shards_stop, 1);
}

static int stand_in_ms(void)
{
    const char *ms = getenv("CRMTOOL_SHARD_MS");
    return ms ? atoi(ms) : 0;
}

/* The group logs each start and stop; a stand-in shard only takes its time. */
static int start_stand_in(int shard, void *u)
{
    (void)shard;
    (void)u;
    sleep_interruptible(stand_in_ms(), NULL);
    return 0;
}

static void stop_stand_in(int shard, int lost, void *u)
{
    (void)shard;
    (void)lost;
    (void)u;
    sleep_interruptible(stand_in_ms(), NULL);
}

static int shards(crm_config *cfg, const char *count)
{
    if (strcmp(count, "members") == 0)
        return shard_members(cfg);
    int n = atoi(count);
    if (n < 1) {
        fprintf(stderr, "crmtool shards: N must be at least 1\n");
        return 2;
    }
    log_set_level(LOG_INFO);
    signal(SIGTERM, on_stop_signal);
    signal(SIGINT, on_stop_signal);
    char err[1024];
    shard_group_handler h = {NULL, start_stand_in, stop_stand_in, NULL};
    shard_group *g = shard_group_start(&cfg->kafka, n, &h, err, sizeof(err));
    if (!g) {
        fprintf(stderr, "crmtool: %s\n", err);
        return 1;
    }
    while (!flag_is_set(&shards_stop))
        sleep_interruptible(1000, &shards_stop);
    shard_group_stop(g);
    return 0;
}

/* txn: prints what happened; 0 committed, 1 not. */
static int txn_fail(rd_kafka_t *rk, rd_kafka_error_t *e, const char *what)
{
    printf("%s failed: %s\n", what, rd_kafka_error_string(e));
    fflush(stdout);
    rd_kafka_error_destroy(e);
    rd_kafka_destroy(rk);
    return 1;
}

static int txn(const crm_config *cfg, int argc, char **argv)
{
    char errstr[512];
    const char *hold = NULL;
    int first = 1;
    if (argc >= 3 && strcmp(argv[1], "--hold") == 0) {
        hold = argv[2];
        first = 3;
    }
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka.bootstrap_servers, errstr,
                          sizeof(errstr)) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "transactional.id", argv[0], errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "transaction.timeout.ms", "120000", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
        fprintf(stderr, "crmtool: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "crmtool: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 2;
    }
    rd_kafka_error_t *e = rd_kafka_init_transactions(rk, 30000);
    if (e)
        return txn_fail(rk, e, "init_transactions");
    if ((e = rd_kafka_begin_transaction(rk)))
        return txn_fail(rk, e, "begin_transaction");
    for (int i = first; i < argc;) {
        int put = strcmp(argv[i], "put") == 0;
        if ((!put && strcmp(argv[i], "del") != 0) || i + 2 + put >= argc) {
            fprintf(stderr, "crmtool txn: expected put TOPIC KEY VALUE or del TOPIC KEY at %s\n",
                    argv[i]);
            rd_kafka_destroy(rk);
            return 2;
        }
        const char *topic = argv[i + 1], *key = argv[i + 2], *value = put ? argv[i + 3] : NULL;
        rd_kafka_resp_err_t pe =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                              RD_KAFKA_V_VALUE((void *)value, value ? strlen(value) : 0),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (pe) {
            printf("produce to %s failed: %s\n", topic, rd_kafka_err2str(pe));
            rd_kafka_destroy(rk);
            return 1;
        }
        i += put ? 4 : 3;
    }
    if (hold) {
        rd_kafka_flush(rk, 30000);
        printf("open\n");
        fflush(stdout);
        while (access(hold, F_OK) != 0)
            rd_kafka_poll(rk, 100);
    }
    if ((e = rd_kafka_commit_transaction(rk, 30000)))
        return txn_fail(rk, e, "commit");
    printf("committed\n");
    rd_kafka_destroy(rk);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || strcmp(argv[2], "-c") != 0 || (argc < 5 && strcmp(argv[1], "decodable"))) {
        fprintf(stderr, "usage: crmtool summary|compare|statekeys|decodable|shards|txn -c CFG "
                        "SPEC|PREFIX|N|ID [TRUTH.json [PK]]\n");
        return 2;
    }
    char err[1024];
    crm_config *cfg = config_load(argv[3], err, sizeof(err));
    if (!cfg) {
        fprintf(stderr, "crmtool: %s\n", err);
        return strcmp(argv[1], "decodable") == 0 ? 3 : 2; /* 3: nothing could have been produced */
    }
    log_set_level(LOG_WARN);
    int rc = 2;
    if (strcmp(argv[1], "summary") == 0)
        rc = summary(cfg, argv[4]);
    else if (strcmp(argv[1], "legacy-state") == 0)
        rc = legacy_state(cfg, argv[4]);
    else if (strcmp(argv[1], "decodable") == 0)
        rc = decodable(cfg);
    else if (strcmp(argv[1], "statekeys") == 0)
        rc = statekeys(cfg, argv[4]);
    else if (strcmp(argv[1], "shards") == 0)
        rc = shards(cfg, argv[4]);
    else if (strcmp(argv[1], "txn") == 0)
        rc = txn(cfg, argc - 4, argv + 4);
    else if (strcmp(argv[1], "compare") == 0 && argc >= 6)
        rc = compare(cfg, argv[4], argv[5], argc >= 7 ? argv[6] : "id");
    config_free(cfg);
    return rc;
}
