/* test_sync_pass.c — the sync pass logic over a fake page source: the engine runs one pass of
 * every testcrm table (`run --once`) against scripted pages served by an in-process HTTP server
 * (libmicrohttpd, ephemeral port) and librdkafka's mock cluster, and the test reads back what
 * was committed. Three passes over changing scripts check the emitted events (op per key),
 * the bookmark committed with them, dedupe (an unchanged record is not published again) and
 * delete decisions (an item.deleted event deletes an item; a user missing from the listing and
 * from its confirmation read is deleted; one missing from the listing but confirmed alive is
 * not). The seam is the HTTP and Kafka boundary, so the test does not depend on how sync.c is
 * split inside. */
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "embedded_schemas.h"
#include "engine.h"
#include "event.h"
#include "topic_reader.h"

/* ---- the page source ------------------------------------------------------------------------ */

/* A scripted answer: the first route whose path is the request's and whose `has` is part of its
 * query string ("k=v&k=v", decoded) answers. */
typedef struct route {
    const char *path;
    const char *has; /* NULL: any query */
    const char *body;
} route;

/* The current script and every request of the current pass ("path?query\n"), shared with the
 * server's thread under lock. */
static pthread_mutex_t script_lock = PTHREAD_MUTEX_INITIALIZER;
static const route *script;
static char seen[8192];

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    buf *q = cls;
    buf_printf(q, "%s%s=%s", q->len ? "&" : "", key, value ? value : "");
    return MHD_YES;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload_data, (void)upload_size, (void)con_cls;
    buf q;
    buf_init(&q);
    buf_append_str(&q, "");
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, add_arg, &q);
    const char *body = NULL;
    pthread_mutex_lock(&script_lock);
    for (const route *r = script; r && r->path; r++)
        if (strcmp(r->path, url) == 0 && (!r->has || strstr(q.data, r->has))) {
            body = r->body;
            break;
        }
    size_t n = strlen(seen);
    snprintf(seen + n, sizeof(seen) - n, "%s?%s\n", url, q.data);
    pthread_mutex_unlock(&script_lock);
    buf_free(&q);
    const char *text = body ? body : "{\"error\":\"no such route\"}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    enum MHD_Result rc = MHD_queue_response(conn, body ? 200 : 404, resp);
    MHD_destroy_response(resp);
    return rc;
}

static struct MHD_Daemon *page_source_start(int *port)
{
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer,
                                            NULL, MHD_OPTION_END);
    const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    *port = info ? info->port : 0;
    return d;
}

/* ---- the scripts ---------------------------------------------------------------------------- */

#define ITEM(id, name, updated)                                                                    \
    "{\"id\":\"" id "\",\"name\":\"" name "\",\"created_at\":\"2025-01-01T00:00:00Z\","            \
    "\"updated_at\":\"" updated "\"}"
#define USER(id, email) "{\"id\":" #id ",\"email\":\"" email "\",\"name\":\"U" #id "\"}"
#define NO_EVENTS       "{\"data\":[],\"next_cursor\":null}"

/* Pass 1: three items on two cursor pages, three users on two offset pages, no events. */
static const route PASS1[] = {
    {"/api/items", "cursor=c2",
     "{\"data\":[" ITEM("i3", "three", "2025-01-03T00:00:00Z") "],\"next_cursor\":null}"},
    {"/api/items", NULL,
     "{\"data\":[" ITEM("i1", "one", "2025-01-01T00:00:00Z") "," ITEM(
         "i2", "two", "2025-01-02T00:00:00Z") "],\"next_cursor\":\"c2\"}"},
    {"/api/users", "offset=2", "{\"data\":[" USER(3, "c@example.com") "],\"has_more\":false}"},
    {"/api/users", "offset=0",
     "{\"data\":[" USER(1, "a@example.com") "," USER(2, "b@example.com") "],\"has_more\":true}"},
    {"/api/events", NULL, NO_EVENTS},
    {NULL, NULL, NULL}};

/* Pass 2: from the bookmark, i3 again unchanged, i2 edited, i4 new; users 2 and 3 missing
 * from the listing: 2 is gone (its confirmation read answers nothing), 3 answers (alive);
 * an event deletes i1. */
static const route PASS2[] = {
    {"/api/items", NULL,
     "{\"data\":[" ITEM("i3", "three", "2025-01-03T00:00:00Z") "," ITEM(
         "i2", "two v2", "2025-01-04T00:00:00Z") "," ITEM("i4", "four",
                                                          "2025-01-05T00:00:00Z") "],"
                                                                                  "\"next_"
                                                                                  "cursor\":"
                                                                                  "null}"},
    {"/api/users", "ids=", "{\"data\":[" USER(3, "c@example.com") "],\"has_more\":false}"},
    {"/api/users", "offset=0", "{\"data\":[" USER(1, "a@example.com") "],\"has_more\":false}"},
    {"/api/events", NULL,
     "{\"data\":[{\"id\":\"e1\",\"type\":\"item.deleted\",\"object_id\":\"i1\","
     "\"date\":\"2025-01-05T00:00:00Z\"}],\"next_cursor\":null}"},
    {NULL, NULL, NULL}};

/* Pass 3: nothing changed since pass 2. */
static const route PASS3[] = {
    {"/api/items", NULL,
     "{\"data\":[" ITEM("i4", "four", "2025-01-05T00:00:00Z") "],\"next_cursor\":null}"},
    {"/api/users", "ids=", "{\"data\":[" USER(3, "c@example.com") "],\"has_more\":false}"},
    {"/api/users", "offset=0",
     "{\"data\":[" USER(1, "a@example.com") "," USER(3, "c@example.com") "],\"has_more\":false}"},
    {"/api/events", NULL, NO_EVENTS},
    {NULL, NULL, NULL}};

/* ---- reading back what was committed --------------------------------------------------------- */

typedef struct readback {
    event_codec *codec;
    char ops[64][16]; /* "<op> <key>" of each event, in topic order */
    int n;
    int tombstones;
    json_t *bookmarks; /* state topic: key -> last value (parsed) */
} readback;

static int visit_event(const topic_record *rec, void *u)
{
    readback *rb = u;
    if (!rec->value) {
        rb->tombstones++;
        return 0;
    }
    char err[256] = "";
    json_t *ev = event_decode(rb->codec, rec->value, rec->value_len, err, sizeof(err));
    if (!ev) {
        fprintf(stderr, "decode: %s\n", err);
        return -1;
    }
    if (rb->n < 64)
        snprintf(rb->ops[rb->n++], sizeof(rb->ops[0]), "%s %.*s",
                 json_string_value(json_object_get(ev, "op")), (int)rec->key_len, rec->key);
    json_decref(ev);
    return 0;
}

static int visit_state(const topic_record *rec, void *u)
{
    readback *rb = u;
    char key[256];
    snprintf(key, sizeof(key), "%.*s", (int)rec->key_len, rec->key);
    json_t *v = rec->value ? json_loadb(rec->value, rec->value_len, 0, NULL) : json_null();
    json_object_set_new(rb->bookmarks, key, v ? v : json_null());
    return 0;
}

static int op_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* The events of a table topic after the first `skip`, sorted, joined as "op key,op key". */
static void table_events(const kafka_config *kc, const char *table, long skip, char *out,
                         size_t outlen, int *tombstones)
{
    char topic[128], err[512] = "", path[128];
    snprintf(topic, sizeof(topic), "%s.acme.%s", kc->topic_prefix, table);
    snprintf(path, sizeof(path), "testcrm/%s.avsc", table);
    readback rb = {0};
    rb.codec = event_codec_new("testcrm", table, embedded_schemas_find(path), err, sizeof(err));
    CHECK(rb.codec != NULL);
    long n = topic_read(kc, topic, -1, visit_event, &rb, 10000, err, sizeof(err));
    if (n < 0)
        fprintf(stderr, "topic_read %s: %s\n", topic, err);
    out[0] = '\0';
    if (skip < rb.n) /* the table threads of a pass run concurrently: no order across them */
        qsort(rb.ops + skip, (size_t)(rb.n - skip), sizeof(rb.ops[0]), op_cmp);
    for (int i = (int)skip; i < rb.n; i++) {
        size_t len = strlen(out);
        snprintf(out + len, outlen - len, "%s%s", len ? "," : "", rb.ops[i]);
    }
    *tombstones = rb.tombstones;
    event_codec_free(rb.codec);
}

/* The committed bookmark of a table (its state record's "bookmark"), in out ("" when none). */
static const char *committed_bookmark(const kafka_config *kc, const char *table, char *out,
                                      size_t outlen)
{
    char err[512] = "";
    readback rb = {0};
    rb.bookmarks = json_object();
    CHECK(topic_read(kc, kc->state_topic, -1, visit_state, &rb, 10000, err, sizeof(err)) >= 0);
    out[0] = '\0';
    const char *k;
    json_t *v;
    json_object_foreach(rb.bookmarks, k, v)
    {
        const char *slash = strrchr(k, '/');
        if (strncmp(k, "bm/", 3) == 0 && slash && strcmp(slash + 1, table) == 0)
            snprintf(out, outlen, "%s", json_string_value(json_object_get(v, "bookmark")) ?: "");
    }
    if (getenv("DUMP")) {
        char *text = json_dumps(rb.bookmarks, JSON_COMPACT);
        printf("state: %s\n", text);
        free(text);
    }
    json_decref(rb.bookmarks);
    return out;
}

/* ---- the passes ------------------------------------------------------------------------------ */

static crm_config *load(const char *bootstraps, int port)
{
    char path[64], err[512] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-syncpass-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fprintf(
        f,
        "log_level = \"warn\";\n"
        "kafka = { bootstrap_servers = \"%s\"; topic_prefix = \"t\"; state_topic = \"t.state\";\n"
        "  schemas_topic = \"t.schemas\";"
        "  delivery = \"exactly-once\"; transaction_timeout = \"20s\"; };\n"
        "sources = ( { type = \"testcrm\"; name = \"acme\"; base_url = \"http://127.0.0.1:%d\";\n"
        "  start_date = \"2025-01-01\"; options = { page_size = 2; }; } );\n",
        bootstraps, port);
    fclose(f);
    setenv("TESTCRM_TOKEN", "unit-secret", 1);
    crm_config *cfg = config_load(path, err, sizeof(err));
    unlink(path);
    if (!cfg)
        fprintf(stderr, "config: %s\n", err);
    return cfg;
}

/* One pass over `pages`; *requests: what was asked (caller-owned copy of seen). */
static int run_pass(const crm_config *cfg, const route *pages, char *requests, size_t len)
{
    pthread_mutex_lock(&script_lock);
    script = pages;
    seen[0] = '\0';
    pthread_mutex_unlock(&script_lock);
    engine_options opts = {.once = 1};
    int rc = engine_run(cfg, &opts);
    pthread_mutex_lock(&script_lock);
    snprintf(requests, len, "%s", seen);
    pthread_mutex_unlock(&script_lock);
    if (getenv("DUMP"))
        printf("requests:\n%s", requests);
    return rc;
}

static void check_events(const crm_config *cfg, const char *table, long skip, const char *want,
                         int want_tombstones)
{
    char got[1024];
    int tombstones = 0;
    table_events(&cfg->kafka, table, skip, got, sizeof(got), &tombstones);
    if (getenv("DUMP"))
        printf("%s: %s (tombstones %d)\n", table, got, tombstones);
    CHECK_STR(got, want);
    CHECK(tombstones == want_tombstones);
}

int main(void)
{
    char err[512], bm[64];
    static char asked[8192];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    rd_kafka_mock_cluster_t *mc = rk ? rd_kafka_mock_cluster_new(rk, 1) : NULL;
    CHECK(mc != NULL);
    /* The mock cluster answers Metadata but not CreateTopics: the topics exist beforehand. */
    const char *topics[] = {"t.state", "t.schemas", "t.acme.items", "t.acme.users",
                            "t.acme.events"};
    for (size_t i = 0; mc && i < sizeof(topics) / sizeof(topics[0]); i++)
        CHECK(rd_kafka_mock_topic_create(mc, topics[i], 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
    int port = 0;
    struct MHD_Daemon *d = page_source_start(&port);
    CHECK(d != NULL && port > 0);
    crm_config *cfg = mc && d ? load(rd_kafka_mock_cluster_bootstraps(mc), port) : NULL;
    CHECK(cfg != NULL);
    if (cfg) {
        /* Pass 1: everything is new: snapshot reads; the bookmark is the highest updated_at. */
        CHECK(run_pass(cfg, PASS1, asked, sizeof(asked)) == 0);
        CHECK_CONTAINS(asked, "/api/items?updated_since=2025-01-01T00:00:00.000Z&limit=2\n");
        CHECK_CONTAINS(asked,
                       "/api/items?updated_since=2025-01-01T00:00:00.000Z&limit=2&cursor=c2");
        check_events(cfg, "items", 0, "r i1,r i2,r i3", 0);
        check_events(cfg, "users", 0, "r 1,r 2,r 3", 0);
        CHECK_STR(committed_bookmark(&cfg->kafka, "items", bm, sizeof(bm)),
                  "2025-01-03T00:00:00.000Z");
        CHECK_STR(committed_bookmark(&cfg->kafka, "users", bm, sizeof(bm)), ""); /* full table */

        /* Pass 2: from the bookmark; dedupe drops the unchanged i3; the feed deletes i1; user
         * 2 is confirmed gone, user 3 confirmed alive. */
        CHECK(run_pass(cfg, PASS2, asked, sizeof(asked)) == 0);
        CHECK_CONTAINS(asked, "/api/items?updated_since=2025-01-03T00:00:00.000Z");
        CHECK_CONTAINS(asked, "/api/users?ids=");
        check_events(cfg, "items", 3, "c i4,d i1,u i2", 1);
        check_events(cfg, "users", 3, "d 2", 1);
        CHECK_STR(committed_bookmark(&cfg->kafka, "items", bm, sizeof(bm)),
                  "2025-01-05T00:00:00.000Z");
        CHECK_STR(committed_bookmark(&cfg->kafka, "events", bm, sizeof(bm)),
                  "2025-01-05T00:00:00.000Z");

        /* Pass 3: nothing changed: nothing published, the bookmark stays. */
        CHECK(run_pass(cfg, PASS3, asked, sizeof(asked)) == 0);
        check_events(cfg, "items", 6, "", 1);
        check_events(cfg, "users", 4, "", 1);
        CHECK_CONTAINS(asked, "/api/items?updated_since=2025-01-05T00:00:00.000Z&limit=2");
        CHECK_STR(committed_bookmark(&cfg->kafka, "items", bm, sizeof(bm)),
                  "2025-01-05T00:00:00.000Z");
        config_free(cfg);
    }
    if (d)
        MHD_stop_daemon(d);
    if (mc)
        rd_kafka_mock_cluster_destroy(mc);
    if (rk)
        rd_kafka_destroy(rk);
    return check_summary("sync_pass");
}
