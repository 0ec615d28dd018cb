/* test_replay.c — the replay's column plan (types, Money, flattened custom fields, JSON
 * columns, unmappable schemas) on real encoded events, and the SQLite store: tables that only
 * grow (ALTER TABLE undone by a rollback), upserts, deletes and compare-and-set offsets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "event.h"
#include "replay_plan.h"
#include "replay_store.h"

#define SCHEMA_V1                                                                                  \
    "{\"type\":\"record\",\"name\":\"Deal\",\"namespace\":\"crmstream.t.deals\",\"fields\":["      \
    "{\"name\":\"id\",\"type\":\"string\"},"                                                       \
    "{\"name\":\"count\",\"type\":[\"null\",\"long\"],\"default\":null},"                          \
    "{\"name\":\"won\",\"type\":[\"null\",\"boolean\"],\"default\":null},"                         \
    "{\"name\":\"score\",\"type\":[\"null\",\"double\"],\"default\":null},"                        \
    "{\"name\":\"updated\",\"type\":[\"null\",{\"type\":\"long\",\"logicalType\":"                 \
    "\"timestamp-millis\"}],\"default\":null},"                                                    \
    "{\"name\":\"stage\",\"type\":{\"type\":\"enum\",\"name\":\"Stage\",\"symbols\":[\"open\","    \
    "\"won\"]}},"                                                                                  \
    "{\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"}},"                      \
    "{\"name\":\"owner\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Owner\",\"fields\":["  \
    "{\"name\":\"id\",\"type\":\"long\"}]}],\"default\":null},"                                    \
    "{\"name\":\"value\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Money\","              \
    "\"namespace\":\"crmstream\",\"fields\":[{\"name\":\"amount\",\"type\":[\"null\","             \
    "\"double\"]},{\"name\":\"currency\",\"type\":[\"null\",\"string\"]}]}],\"default\":null},"    \
    "{\"name\":\"custom\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Custom\","            \
    "\"fields\":[{\"name\":\"size\",\"type\":[\"null\",\"double\"],\"default\":null},"             \
    "{\"name\":\"renewal\",\"type\":[\"null\",{\"type\":\"int\",\"logicalType\":\"date\"}],"       \
    "\"default\":null},{\"name\":\"budget\",\"type\":[\"null\",\"crmstream.Money\"],"              \
    "\"default\":null}" EXTRA_CUSTOM "]}],\"default\":null},"                                      \
    "{\"name\":\"_unmapped\",\"type\":[\"null\",\"string\"],\"default\":null}]}"
#define EXTRA_CUSTOM ""

static event_codec *codec(const char *schema)
{
    char err[512];
    event_codec *c = event_codec_new("t", "deals", schema, err, sizeof(err));
    if (!c)
        fprintf(stderr, "codec: %s\n", err);
    return c;
}

/* The encoded envelope of op with rec (a JSON text) as its after image. */
static void encode(event_codec *c, char op, const char *rec, buf *out)
{
    char err[512];
    buf_reset(out);
    json_error_t je;
    json_t *j = json_loads(rec, 0, &je);
    uint64_t h = 0;
    if (op != 'd' && event_set_after(c, j, &h, err, sizeof(err)))
        fprintf(stderr, "set_after: %s\n", err);
    json_decref(j);
    event_meta meta = {"t", "acme", "deals", NULL, NULL, 0, 1};
    if (event_encode(c, op, &meta, out, err, sizeof(err)))
        fprintf(stderr, "encode: %s\n", err);
}

static long col_index(const replay_plan *p, const char *name, col_type *type)
{
    size_t n;
    const replay_column *cols = replay_plan_columns(p, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(cols[i].name, name)) {
            *type = cols[i].type;
            return (long)i;
        }
    return -1;
}

#define DEAL                                                                                       \
    "{\"id\":\"d1\",\"count\":\"7\",\"won\":true,\"score\":2.5,\"updated\":"                       \
    "\"2026-01-02T03:04:05.678Z\",\"stage\":\"won\",\"tags\":[\"a\",\"b\\\"\"],\"owner\":{\"id\":" \
    "9},\"value\":{\"amount\":12.5,\"currency\":\"EUR\"},\"custom\":{\"size\":3,\"renewal\":"      \
    "\"2026-03-01\",\"budget\":{\"amount\":100,\"currency\":\"USD\"}},\"extra\":{\"k\":1}}"

static void test_plan(void)
{
    event_codec *c = codec(SCHEMA_V1);
    CHECK(c != NULL);
    const char *env = event_codec_schema(c);
    char err[512];
    replay_plan *p = replay_plan_new(env, strlen(env), err, sizeof(err));
    CHECK(p != NULL);
    if (!p) {
        fprintf(stderr, "plan: %s\n", err);
        return;
    }
    struct {
        const char *name;
        col_type type;
    } want[] = {{"id", COL_TEXT},
                {"count", COL_BIGINT},
                {"won", COL_BOOL},
                {"score", COL_DOUBLE},
                {"updated", COL_TIMESTAMP},
                {"stage", COL_TEXT},
                {"tags", COL_JSON},
                {"owner", COL_JSON},
                {"value_amount", COL_DOUBLE},
                {"value_currency", COL_TEXT},
                {"custom_size", COL_DOUBLE},
                {"custom_renewal", COL_DATE},
                {"custom_budget_amount", COL_DOUBLE},
                {"custom_budget_currency", COL_TEXT},
                {"_unmapped", COL_JSON}};
    size_t n;
    replay_plan_columns(p, &n);
    CHECK(n == sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        col_type t;
        long idx = col_index(p, want[i].name, &t);
        CHECK(idx == (long)i && t == want[i].type);
    }
    buf ev;
    buf_init(&ev);
    encode(c, 'c', DEAL, &ev);
    size_t hdr = replay_frame_header_len(ev.data, ev.len);
    CHECK(hdr == 10);
    char op = 0;
    const replay_value *v = NULL;
    CHECK(replay_plan_decode(p, ev.data + hdr, ev.len - hdr, &op, &v, err, sizeof(err)) == 0);
    CHECK(op == 'c' && v != NULL);
    if (v) {
        CHECK_STR(v[0].s, "d1");
        CHECK(v[1].i == 7 && v[2].i == 1 && v[3].d == 2.5);
        CHECK(v[4].i == 1767323045678LL);
        CHECK_STR(v[5].s, "won");
        CHECK_STR(v[6].s, "[\"a\",\"b\\\"\"]");
        CHECK_STR(v[7].s, "{\"id\":9}");
        CHECK(v[8].d == 12.5);
        CHECK_STR(v[9].s, "EUR");
        CHECK(v[10].d == 3.0);
        CHECK(v[11].i == 20513); /* 2026-03-01 in days since the epoch */
        CHECK(v[12].d == 100.0);
        CHECK_STR(v[13].s, "USD");
        CHECK_STR(v[14].s, "{\"extra\":{\"k\":1}}");
    }
    /* nulls stay null; deletes carry no row */
    encode(c, 'u', "{\"id\":\"d2\",\"stage\":\"open\",\"tags\":[]}", &ev);
    CHECK(replay_plan_decode(p, ev.data + hdr, ev.len - hdr, &op, &v, err, sizeof(err)) == 0);
    CHECK(op == 'u' && v && v[1].is_null && v[8].is_null && v[10].is_null && v[14].is_null);
    encode(c, 'd', NULL, &ev);
    CHECK(replay_plan_decode(p, ev.data + hdr, ev.len - hdr, &op, &v, err, sizeof(err)) == 0);
    CHECK(op == 'd' && v == NULL);
    buf_free(&ev);
    replay_plan_free(p);
    event_codec_free(c);
}

/* A schema whose columns collide cannot be mapped; the error names the field. */
static void test_unmappable(void)
{
    const char *schema =
        "{\"type\":\"record\",\"name\":\"X\",\"namespace\":\"crmstream.t.x\",\"fields\":["
        "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"custom_size\",\"type\":\"long\"},"
        "{\"name\":\"custom\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"Custom\","
        "\"fields\":[{\"name\":\"size\",\"type\":[\"null\",\"double\"],\"default\":null}]}],"
        "\"default\":null}]}";
    event_codec *c = codec(schema);
    char err[512] = "";
    const char *env = c ? event_codec_schema(c) : "{}";
    replay_plan *p = replay_plan_new(env, strlen(env), err, sizeof(err));
    CHECK(p == NULL);
    CHECK_CONTAINS(err, "field custom.size");
    CHECK_CONTAINS(err, "custom_size");
    replay_plan_free(p);
    event_codec_free(c);
    const char *not_envelope = "{\"type\":\"record\",\"name\":\"E\",\"fields\":[]}";
    CHECK(replay_plan_new(not_envelope, strlen(not_envelope), err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "not a crmstream envelope");
}

static long count(const char *path, const char *sql)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "sqlite3 %s \"%s\"", path, sql);
    FILE *f = popen(cmd, "r");
    long n = -1;
    if (f) {
        if (fscanf(f, "%ld", &n) != 1)
            n = -1;
        pclose(f);
    }
    return n;
}

static void test_sqlite_store(void)
{
    char path[] = "/tmp/test_replay_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    close(fd);
    char err[512];
    char url[64];
    snprintf(url, sizeof(url), "sqlite:%s", path);
    replay_store *s = replay_store_open(url, NULL, err, sizeof(err));
    CHECK(s != NULL);
    if (!s)
        return;
    replay_column v1[] = {{"name", COL_TEXT}, {"amount", COL_DOUBLE}};
    replay_column v2[] = {{"name", COL_TEXT}, {"amount", COL_DOUBLE}, {"due", COL_TIMESTAMP}};
    replay_table t1 = {"deals", v1, 2}, t2 = {"deals", v2, 3};
    replay_value row[3] = {{0, 0, 0, "first", 5}, {0, 0, 1.5, NULL, 0}, {0, 86400000, 0, NULL, 0}};
    CHECK(s->ops->begin(s, err, sizeof(err)) == 0);
    CHECK(s->ops->ensure_table(s, &t1, err, sizeof(err)) == 0);
    CHECK(s->ops->upsert(s, &t1, "k1", 2, row, err, sizeof(err)) == 0);
    CHECK(s->ops->save_offset(s, "topic", 0, -1, 10, err, sizeof(err)) == 0);
    CHECK(s->ops->commit(s, err, sizeof(err)) == 0);
    CHECK(s->ops->load_offset(s, "topic", 0, err, sizeof(err)) == 10);
    CHECK(s->ops->load_offset(s, "topic", 1, err, sizeof(err)) == -1);
    /* a new column, rolled back with its rows: the table is as before */
    CHECK(s->ops->begin(s, err, sizeof(err)) == 0);
    CHECK(s->ops->ensure_table(s, &t2, err, sizeof(err)) == 1);
    CHECK(s->ops->upsert(s, &t2, "k2", 2, row, err, sizeof(err)) == 0);
    /* another process moved the offset: compare-and-set refuses */
    CHECK(s->ops->save_offset(s, "topic", 0, 9, 20, err, sizeof(err)) == 1);
    s->ops->rollback(s);
    CHECK(count(path, "SELECT count(*) FROM pragma_table_info('deals')") == 3);
    CHECK(count(path, "SELECT count(*) FROM deals") == 1);
    /* again, committed: the column is added, the upsert replaces, the delete removes */
    CHECK(s->ops->begin(s, err, sizeof(err)) == 0);
    CHECK(s->ops->ensure_table(s, &t2, err, sizeof(err)) == 1);
    CHECK(s->ops->ensure_table(s, &t2, err, sizeof(err)) == 0);
    row[0].s = "second";
    row[0].len = 6;
    CHECK(s->ops->upsert(s, &t2, "k1", 2, row, err, sizeof(err)) == 0);
    CHECK(s->ops->upsert(s, &t2, "k2", 2, row, err, sizeof(err)) == 0);
    CHECK(s->ops->remove(s, "deals", "k2", 2, err, sizeof(err)) == 0);
    CHECK(s->ops->remove(s, "never_written", "k2", 2, err, sizeof(err)) == 0);
    CHECK(s->ops->save_offset(s, "topic", 0, 10, 20, err, sizeof(err)) == 0);
    CHECK(s->ops->commit(s, err, sizeof(err)) == 0);
    CHECK(count(path, "SELECT count(*) FROM deals WHERE name = 'second' AND due = "
                      "'1970-01-02T00:00:00.000Z'") == 1);
    CHECK(count(path, "SELECT count(*) FROM deals") == 1);
    CHECK(s->ops->load_offset(s, "topic", 0, err, sizeof(err)) == 20);
    s->ops->close(s);
    unlink(path);
    char wal[64];
    snprintf(wal, sizeof(wal), "%s-wal", path);
    unlink(wal);
    snprintf(wal, sizeof(wal), "%s-shm", path);
    unlink(wal);
}

static void test_urls(void)
{
    char out[256], err[256];
    replay_store_redact("postgresql://u:secret@h:5/db", out, sizeof(out));
    CHECK_STR(out, "postgresql://u:***@h:5/db");
    replay_store_redact("postgresql://u@h/db", out, sizeof(out));
    CHECK_STR(out, "postgresql://u@h/db");
    CHECK(replay_store_open("mysql://x", NULL, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "expected sqlite:PATH or postgresql://");
    CHECK(replay_store_open("postgresql://u:secret@127.0.0.1:1/db", NULL, err, sizeof(err)) ==
          NULL);
    CHECK(strstr(err, "secret") == NULL);
    CHECK_CONTAINS(err, "postgresql://u:***@127.0.0.1:1/db: cannot connect");
}

int main(void)
{
    test_plan();
    test_unmappable();
    test_sqlite_store();
    test_urls();
    printf("test_replay: %d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
