/* seeds.c — writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from the
 * simulators: for every table, its first request (page sizes of 2) answered by a running crmsim
 * gives a parse_page seed (the body) and a rate-limit seed (the response's headers); the first
 * record of the page gives a raw/DOM seed, and its event (encoded by the table's codec) an Avro
 * seed; state-topic records are written by the functions that write them. tests/fuzz/
 * make-seeds.sh starts the simulators and runs this with their base URLs. Not a fuzz target. */
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "crm_time.h"
#include "custom_fields.h"
#include "dedupe_log.h"
#include "embedded_schemas.h"
#include "event.h"
#include "fuzz_sources.h"
#include "json_scan.h"
#include "log.h"
#include "state.h"

#define MAX_SEED 16384

static const char *out_dir = "tests/fuzz/corpus";

static void write_seed(const char *target, const char *name, const void *a, size_t alen,
                       const void *b, size_t blen)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen)) {
        fprintf(stderr, "seeds: cannot write %s: %s\n", path, strerror(errno));
        exit(1);
    }
    fclose(f);
}

/* The first object of the first array of objects in j (depth-first), or NULL. */
static json_t *first_record(json_t *j)
{
    if (json_is_array(j) && json_is_object(json_array_get(j, 0)))
        return json_array_get(j, 0);
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(j))
        json_object_foreach(j, k, v)
        {
            json_t *r = first_record(v);
            if (r)
                return r;
        }
    if (json_is_array(j))
        json_array_foreach(j, i, v)
        {
            json_t *r = first_record(v);
            if (r)
                return r;
        }
    return NULL;
}

static void table_seeds(source *src, const table_def *t, unsigned idx, http_client *client)
{
    char err[512], name[128];
    table_ctx ctx = {src,
                     t,
                     t->replication_key ? 1700000000000LL : CRM_TIME_NONE,
                     now_wall_ms(),
                     CRM_TIME_NONE,
                     json_object(),
                     0,
                     0,
                     0};
    http_request req;
    http_request_init(&req);
    http_response resp;
    http_response_init(&resp);
    if (t->next_request(&ctx, &req, err, sizeof(err)) != REQ_READY ||
        http_client_execute(client, &req, &resp, NULL, NULL, err, sizeof(err)) != HTTP_OK) {
        fprintf(stderr, "seeds: %s.%s: no page (%s)\n", source_name(src), t->name, err);
        goto done;
    }
    snprintf(name, sizeof(name), "%s_%s", source_name(src), t->name);
    unsigned char head[2] = {(unsigned char)idx, 0};
    size_t blen = resp.body.len < MAX_SEED ? resp.body.len : MAX_SEED;
    write_seed("fuzz_parse_page", name, head, 2, resp.body.data, blen);
    /* the response's headers, as the rate-limit target reads them */
    buf h;
    buf_init(&h);
    buf_append(&h, resp.status == 429 ? "\1" : "\0", 1);
    for (int i = 0; i < resp.n_headers; i++)
        buf_printf(&h, "%s\n", resp.headers[i]);
    write_seed("fuzz_ratelimit", name, h.data, h.len, NULL, 0);
    buf_free(&h);
    /* its first record: raw/DOM, and as an event: Avro */
    json_t *body = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    json_t *rec = first_record(body);
    if (rec) {
        char *text = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
        unsigned char table = (unsigned char)idx;
        write_seed("fuzz_raw_dom", name, &table, 1, text, strlen(text));
        free(text);
        const char *schema = embedded_schemas_find(t->schema_file);
        event_codec *c =
            schema ? event_codec_new(source_connector(src)->name, t->name, schema, err, sizeof(err))
                   : NULL;
        uint64_t hash;
        buf ev;
        buf_init(&ev);
        event_meta m = {source_connector(src)->name,
                        "acme",
                        t->name,
                        t->replication_key,
                        NULL,
                        CRM_TIME_NONE,
                        1700000000000LL};
        if (c && event_set_after(c, rec, &hash, err, sizeof(err)) == 0 &&
            event_encode(c, 'c', &m, &ev, err, sizeof(err)) == 0 && ev.len > 10)
            write_seed("fuzz_avro_peek", name, &table, 1, ev.data + 10, ev.len - 10);
        buf_free(&ev);
        event_codec_free(c);
    }
    json_decref(body);
done:
    http_response_free(&resp);
    http_request_free(&req);
    json_decref(ctx.paging);
}

/* State-topic records, written as the engine writes them. */
static void state_seeds(void)
{
    state_bookmark b;
    state_bookmark_init(&b);
    b.bookmark_ms = 1700000000000LL;
    b.passes = 3;
    json_decref(b.paging);
    b.paging = json_pack("{s:s,s:i}", "cursor", "abc", "skip", 200);
    buf v;
    buf_init(&v);
    state_bookmark_format(&b, &v);
    write_seed("fuzz_state", "bm", "\0\0", 2, v.data, v.len);
    state_bookmark_clear(&b);
    buf_reset(&v);
    dedupe_chunk_begin(&v);
    dedupe_chunk_put(&v, "lead_abc", 8, 0x1234567890abcdefULL);
    dedupe_chunk_put(&v, "42", 2, 7);
    dedupe_chunk_delete(&v, "lead_old", 8);
    write_seed("fuzz_state", "dc", "\1\0", 2, v.data, v.len);
    write_seed("fuzz_state", "dd", "\2\10lead_abc", 10, "1311768467294899695", 19);
    cf_history *h = cf_history_new();
    cf_desc d[2];
    memset(d, 0, sizeof(d));
    cf_desc_set(&d[0], "cf_1", "Budget", CF_NUMBER, 0);
    cf_desc_set(&d[1], "cf_2", "Stage", CF_ENUM, 1);
    cf_desc_add_option(&d[1], "o1", "One");
    cf_history_merge(h, d, 2);
    char *dump = cf_history_dump(h);
    write_seed("fuzz_state", "cf", "\3\0", 2, dump, strlen(dump));
    free(dump);
    cf_desc_clear(&d[0]);
    cf_desc_clear(&d[1]);
    cf_history_free(h);
    buf_free(&v);
}

int main(int argc, char **argv)
{
    /* argv: the simulators' base URLs, in crm_connectors order ("-" for none) */
    const char *urls[16] = {0};
    for (int i = 1; i < argc && i <= 16; i++)
        urls[i - 1] = strcmp(argv[i], "-") ? argv[i] : NULL;
    log_set_level(LOG_WARN);
    fuzz_sources fs;
    fuzz_sources_init(&fs, urls);
    unsigned idx = 0;
    for (int k = 0; k < fs.n; k++) {
        source *src = fs.src[k];
        const connector *c = source_connector(src);
        http_client *client = NULL;
        if (urls[k])
            client =
                http_client_new(source_http_options(src), source_auth(src), source_ratelimit(src),
                                source_rate_signal, src, source_name(src));
        for (size_t i = 0; i < c->n_tables; i++, idx++)
            if (client)
                table_seeds(src, &c->tables[i], idx, client);
        http_client_free(client);
    }
    state_seeds();
    return 0;
}
