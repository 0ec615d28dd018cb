/* cli_state.c — `crmstream state`: each table's committed state from the state topic (bookmark,
 * passes, keys, a pass in progress, lag = now - bookmark, the last complete pass) joined with what
 * the running instances say of it on /status (the source's state and shard, failures in a row,
 * the last error). The state topic is the truth for every instance's sources; /status only for
 * the sources an instance runs, so several instances can be asked (--instance).
 *
 * Three views: every table with state (the default); --unhealthy, the tables of the sources that
 * need a look (not running, failing, never synced, or reported by no instance that answered),
 * with the last error's message; --summary, what an operator of a thousand accounts reads first:
 * counts by state, lag percentiles, the oldest last pass, and one line per unhealthy source. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_columns.h"
#include "connector.h"
#include "crm_time.h"
#include "dedupe_log.h"
#include "engine.h"
#include "http.h"
#include "shard.h"
#include "state.h"

/* ---- the committed state ----------------------------------------------------------------- */

/* The dedupe map of one table, replayed from the state topic as the engine does. */
typedef struct table_keys {
    char *name; /* "source/table" */
    dedupe *dd;
    dedupe_log *log;
} table_keys;

typedef struct state_dump {
    json_t *bookmarks; /* key -> value text */
    table_keys *tables;
    size_t n_tables;
} state_dump;

static table_keys *keys_of(state_dump *d, const char *name)
{
    for (size_t i = 0; i < d->n_tables; i++)
        if (strcmp(d->tables[i].name, name) == 0)
            return &d->tables[i];
    d->tables = xrealloc(d->tables, (d->n_tables + 1) * sizeof(table_keys));
    table_keys *t = &d->tables[d->n_tables++];
    *t = (table_keys){xstrdup(name), dedupe_new(), dedupe_log_new()};
    return t;
}

static void free_dump(state_dump *d)
{
    json_decref(d->bookmarks);
    for (size_t i = 0; i < d->n_tables; i++) {
        free(d->tables[i].name);
        dedupe_free(d->tables[i].dd);
        dedupe_log_free(d->tables[i].log);
    }
    free(d->tables);
}

static int collect_state(const char *key, size_t klen, const char *value, size_t vlen, void *u)
{
    state_dump *d = u;
    char *k = strndup(key, klen);
    if (strncmp(k, "bm/", 3) == 0) {
        if (value)
            json_object_set_new(d->bookmarks, k + 3, json_stringn(value, vlen));
        else
            json_object_del(d->bookmarks, k + 3);
    } else if (strncmp(k, "dd/", 3) == 0 || strncmp(k, "dc/", 3) == 0) {
        /* <kind>/<source>/<table>/<pk or sequence number> */
        char *slash = strchr(k + 3, '/');
        slash = slash ? strchr(slash + 1, '/') : NULL;
        if (slash) {
            *slash = '\0';
            table_keys *t = keys_of(d, k + 3);
            const char *rest = slash + 1;
            if (k[1] == 'd')
                dedupe_log_restore_legacy(t->log, t->dd, rest, klen - (size_t)(rest - k), value,
                                          vlen);
            else
                dedupe_log_restore_chunk(t->log, t->dd, strtoull(rest, NULL, 10), value, vlen);
        }
    }
    free(k);
    return 0;
}

/* ---- what the running instances say (/status) -------------------------------------------- */

typedef struct live_status {
    json_t *sources; /* source name -> its /status object */
    json_t *shards;  /* shard id (text) -> its /status object, with "instance": the URL, of the
                        instances that run it */
    int asked, answered;
    buf note; /* which instances answered, or why not */
} live_status;

/* The base URLs to ask: --instance (comma-separated HOST:PORT or URLs), else the config's own
 * metrics listener on this host. */
static json_t *instance_urls(const crm_config *cfg, const char *instances)
{
    json_t *urls = json_array();
    if (!instances) {
        if (cfg->metrics_listen) {
            const char *host =
                strcmp(cfg->metrics_listen, "0.0.0.0") == 0 ? "127.0.0.1" : cfg->metrics_listen;
            json_array_append_new(urls, json_sprintf("http://%s:%d", host, cfg->metrics_port));
        }
        return urls;
    }
    char *list = xstrdup(instances), *save = NULL;
    for (char *one = strtok_r(list, ",", &save); one; one = strtok_r(NULL, ",", &save))
        json_array_append_new(urls, strstr(one, "://") ? json_string(one)
                                                       : json_sprintf("http://%s", one));
    free(list);
    return urls;
}

/* GET url/status; its sources join live->sources. */
static void ask_instance(http_client *hc, const char *url, live_status *live)
{
    http_request req;
    http_request_init(&req);
    buf_printf(&req.url, "%s/status", url);
    http_response resp;
    http_response_init(&resp);
    char err[512] = "";
    live->asked++;
    http_result r = http_client_execute(hc, &req, &resp, NULL, NULL, err, sizeof(err));
    json_t *body = r == HTTP_OK && resp.status == 200
                       ? json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL)
                       : NULL;
    json_t *list = json_object_get(body, "sources");
    if (json_is_array(list)) {
        live->answered++;
        size_t i;
        json_t *s;
        json_array_foreach(list, i, s)
        {
            const char *name = json_string_value(json_object_get(s, "source"));
            if (name)
                json_object_set(live->sources, name, s);
        }
        json_array_foreach(json_object_get(body, "shards"), i, s)
        {
            char id[16];
            snprintf(id, sizeof(id), "%lld",
                     (long long)json_integer_value(json_object_get(s, "shard")));
            if (json_is_true(json_object_get(s, "assigned"))) {
                json_object_set_new(s, "instance", json_string(url));
                json_object_set(live->shards, id, s);
            }
        }
        buf_printf(&live->note, "%s%s: %zu sources", live->note.len ? "; " : "", url,
                   json_array_size(list));
    } else {
        buf_printf(&live->note, "%s%s: %s", live->note.len ? "; " : "", url,
                   r != HTTP_OK ? err : "no /status answer");
    }
    json_decref(body);
    http_response_free(&resp);
    http_request_free(&req);
}

static void fetch_live(const crm_config *cfg, const char *instances, live_status *live)
{
    live->sources = json_object();
    live->shards = json_object();
    buf_init(&live->note);
    json_t *urls = instance_urls(cfg, instances);
    if (json_array_size(urls) == 0) {
        json_decref(urls);
        return;
    }
    http_options opts;
    http_options_defaults(&opts);
    opts.connect_timeout_ms = 2000;
    opts.timeout_ms = 10000;
    opts.max_retries = 0;
    http_auth none;
    memset(&none, 0, sizeof(none));
    http_client *hc = http_client_new(&opts, &none, NULL, NULL, NULL, "state");
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u)
    {
        if (hc)
            ask_instance(hc, json_string_value(u), live);
    }
    if (hc)
        http_client_free(hc);
    json_decref(urls);
}

static void free_live(live_status *live)
{
    json_decref(live->sources);
    json_decref(live->shards);
    buf_free(&live->note);
}

/* ---- one row per table ------------------------------------------------------------------- */

typedef struct table_row {
    char name[300];       /* source/table */
    char source[200];     /* its source */
    char table[100];      /* its table */
    int has_state;        /* a bookmark record was read */
    int readable;         /* ... and parsed */
    char unreadable[600]; /* why not */
    state_bookmark bm;
    size_t keys;
    json_t *live_source; /* borrowed: the source's /status object, or NULL */
    json_t *live_table;  /* borrowed: the table's, or NULL */
} table_row;

typedef struct state_view {
    const crm_config *cfg;
    table_row *rows;
    size_t n_rows;
    int64_t now;
    live_status live;
} state_view;

static table_row *add_row(state_view *v, const char *src_name, const char *table)
{
    v->rows = xrealloc(v->rows, (v->n_rows + 1) * sizeof(table_row));
    table_row *r = &v->rows[v->n_rows++];
    memset(r, 0, sizeof(*r));
    snprintf(r->source, sizeof(r->source), "%s", src_name);
    snprintf(r->name, sizeof(r->name), "%s/%s", src_name, table);
    snprintf(r->table, sizeof(r->table), "%s", table);
    state_bookmark_init(&r->bm);
    return r;
}

static table_row *find_row(state_view *v, const char *name)
{
    for (size_t i = 0; i < v->n_rows; i++)
        if (strcmp(v->rows[i].name, name) == 0)
            return &v->rows[i];
    return NULL;
}

/* The source part of a bm/ key: the configured source whose name is a prefix followed by '/'
 * (names may hold a '/'), else up to the last '/'. */
static void split_key(const crm_config *cfg, const char *key, char *out, size_t len)
{
    for (int i = 0; i < cfg->n_sources; i++) {
        size_t n = strlen(cfg->sources[i].name);
        if (strncmp(key, cfg->sources[i].name, n) == 0 && key[n] == '/') {
            snprintf(out, len, "%s", cfg->sources[i].name);
            return;
        }
    }
    const char *slash = strrchr(key, '/');
    snprintf(out, len, "%.*s", slash ? (int)(slash - key) : (int)strlen(key), key);
}

static void rows_from_state(state_view *v, const crm_config *cfg, state_dump *d)
{
    const char *k;
    json_t *val;
    json_object_foreach(d->bookmarks, k, val)
    {
        char src_name[200];
        split_key(cfg, k, src_name, sizeof(src_name));
        const char *table = k + strlen(src_name) + (k[strlen(src_name)] == '/');
        table_row *r = add_row(v, src_name, table);
        r->has_state = 1;
        const char *text = json_string_value(val);
        char err[512];
        if (state_bookmark_parse(text, strlen(text), &r->bm, err, sizeof(err)))
            snprintf(r->unreadable, sizeof(r->unreadable), "(unreadable: %s)", err);
        else
            r->readable = 1;
        r->keys = dedupe_count(keys_of(d, k)->dd);
    }
}

/* Configured tables the state topic has nothing of: never synced (the unhealthy views). */
static void rows_from_config(state_view *v, const crm_config *cfg)
{
    for (int i = 0; i < cfg->n_sources; i++) {
        const source_config *sc = &cfg->sources[i];
        const connector *c = connector_find(sc->type);
        for (size_t j = 0; c && j < c->n_tables; j++) {
            char name[300];
            snprintf(name, sizeof(name), "%s/%s", sc->name, c->tables[j].name);
            if (config_table_enabled(sc, c->tables[j].name) && !find_row(v, name))
                add_row(v, sc->name, c->tables[j].name);
        }
    }
}

static void join_live(state_view *v)
{
    for (size_t i = 0; i < v->n_rows; i++) {
        table_row *r = &v->rows[i];
        r->live_source = json_object_get(v->live.sources, r->source);
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(r->live_source, "table_status"), j, t)
        {
            if (json_string_value(json_object_get(t, "table")) &&
                strcmp(json_string_value(json_object_get(t, "table")), r->table) == 0)
                r->live_table = t;
        }
    }
}

static int64_t live_int(const json_t *o, const char *key)
{
    return (int64_t)json_integer_value(json_object_get(o, key));
}

static const char *live_str(const json_t *o, const char *key, const char *otherwise)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : otherwise;
}

/* now - bookmark, -1 without one. */
static int64_t row_lag(const state_view *v, const table_row *r)
{
    if (!r->readable || r->bm.bookmark_ms == CRM_TIME_NONE)
        return -1;
    return v->now > r->bm.bookmark_ms ? v->now - r->bm.bookmark_ms : 0;
}

static int64_t row_last_pass_age(const state_view *v, const table_row *r)
{
    if (!r->readable || r->bm.last_pass_ms <= 0)
        return -1;
    return v->now > r->bm.last_pass_ms ? v->now - r->bm.last_pass_ms : 0;
}

/* The table's state as the instances see it: unavailable, stopped (its source runs but it does
 * not), the source's state, or "-" when no instance reports it. */
static const char *row_status(const table_row *r)
{
    if (!r->live_source)
        return "-";
    if (r->live_table && json_is_true(json_object_get(r->live_table, "unavailable")))
        return "unavailable";
    const char *st = live_str(r->live_source, "state", "-");
    if (strcmp(st, "running") == 0 && r->live_table &&
        !json_is_true(json_object_get(r->live_table, "running")))
        return "stopped";
    return st;
}

/* Why a source needs a look, or NULL. Unhealthy: not running, a table failing, a table never
 * synced, or no instance reporting it while some answered. */
static const char *source_problem(const state_view *v, const char *src_name)
{
    json_t *s = json_object_get(v->live.sources, src_name);
    if (s && strcmp(live_str(s, "state", ""), "running") != 0)
        return live_str(s, "state", "?");
    if (s && live_int(s, "consecutive_failures") > 0)
        return "failing";
    for (size_t i = 0; i < v->n_rows; i++)
        if (strcmp(v->rows[i].source, src_name) == 0 &&
            (!v->rows[i].readable || v->rows[i].bm.passes == 0))
            return "never synced";
    if (!s && v->live.answered > 0)
        return "not reported"; /* by the instances asked: --instance names them all */
    return NULL;
}

/* The source's shard: as a running instance reports it, else from the config (shard_of); -1 for
 * a source the config does not have. */
static int source_shard(const state_view *v, const char *src_name)
{
    json_t *s = json_object_get(v->live.sources, src_name);
    if (s && live_int(s, "shard") >= 0)
        return (int)live_int(s, "shard");
    for (int i = 0; i < v->cfg->n_sources; i++)
        if (strcmp(v->cfg->sources[i].name, src_name) == 0)
            return shard_of(src_name, v->cfg->kafka.shards);
    return -1;
}

/* ---- the views --------------------------------------------------------------------------- */

static void add_table_cells(cli_columns *t, const state_view *v, const table_row *r)
{
    char when[40] = "-", passes[24] = "-", keys[24] = "-", lag[32], last[32], shard_cell[16] = "-",
         fails[16] = "-", err_age[32] = "-";
    const char *progress = "-", *err_kind = "-";
    if (r->has_state && !r->readable) {
        progress = r->unreadable;
    } else if (r->readable) {
        if (r->bm.bookmark_ms != CRM_TIME_NONE)
            crm_time_format(r->bm.bookmark_ms, when, sizeof(when));
        snprintf(passes, sizeof(passes), "%d", r->bm.passes);
        snprintf(keys, sizeof(keys), "%zu", r->keys);
        progress = json_object_size(r->bm.paging) ? "yes" : "no";
    }
    cli_format_age(row_lag(v, r), lag, sizeof(lag));
    cli_format_age(row_last_pass_age(v, r), last, sizeof(last));
    int sh = source_shard(v, r->source);
    if (sh >= 0)
        snprintf(shard_cell, sizeof(shard_cell), "%d", sh);
    if (r->live_table) {
        snprintf(fails, sizeof(fails), "%lld",
                 (long long)live_int(r->live_table, "consecutive_failures"));
        int64_t at = live_int(r->live_table, "last_error_ms");
        if (at > 0) {
            err_kind = live_str(r->live_table, "last_error_kind", "-");
            cli_format_age(v->now - at, err_age, sizeof(err_age));
        }
    }
    const char *msg = r->live_table ? live_str(r->live_table, "last_error", "") : "";
    const char *cells[] = {r->name,  when,    passes,          keys,          progress,
                           lag,      last,    shard_cell,      row_status(r), fails,
                           err_kind, err_age, *msg ? msg : "-"};
    cli_columns_add(t, cells);
}

static void print_tables(const state_view *v, int unhealthy_only)
{
    static const char *const headers[] = {
        "SOURCE/TABLE", "BOOKMARK", "PASSES", "KEYS",       "IN PROGRESS", "LAG",    "LAST PASS",
        "SHARD",        "STATUS",   "FAILS",  "LAST ERROR", "ERROR AGE",   "MESSAGE"};
    int cols = unhealthy_only ? 13 : 12;
    cli_columns *t = cli_columns_new(cols, headers);
    for (size_t i = 0; i < v->n_rows; i++) {
        const table_row *r = &v->rows[i];
        if (!unhealthy_only ? r->has_state : source_problem(v, r->source) != NULL)
            add_table_cells(t, v, r);
    }
    cli_columns_sort(t);
    cli_columns_print(t, stdout);
    cli_columns_free(t);
}

static int compare_ms(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lag percentiles over the tables with a bookmark, and the oldest last pass. */
static void print_lag_line(const state_view *v)
{
    int64_t *lags = xcalloc(v->n_rows + 1, sizeof(int64_t));
    size_t n = 0;
    const table_row *worst = NULL, *stalest = NULL;
    for (size_t i = 0; i < v->n_rows; i++) {
        const table_row *r = &v->rows[i];
        int64_t lag = row_lag(v, r), age = row_last_pass_age(v, r);
        if (lag >= 0) {
            lags[n++] = lag;
            if (!worst || lag > row_lag(v, worst))
                worst = r;
        }
        if (age >= 0 && (!stalest || age > row_last_pass_age(v, stalest)))
            stalest = r;
    }
    if (n > 0) {
        qsort(lags, n, sizeof(int64_t), compare_ms);
        char p50[32], p90[32], p99[32], max[32];
        cli_format_age(lags[(n - 1) * 50 / 100], p50, sizeof(p50));
        cli_format_age(lags[(n - 1) * 90 / 100], p90, sizeof(p90));
        cli_format_age(lags[(n - 1) * 99 / 100], p99, sizeof(p99));
        cli_format_age(lags[n - 1], max, sizeof(max));
        printf("lag (now - bookmark) over %zu tables: p50 %s, p90 %s, p99 %s, max %s (%s)\n", n,
               p50, p90, p99, max, worst->name);
    } else {
        printf("lag: no table has a bookmark yet\n");
    }
    if (stalest) {
        char age[32];
        cli_format_age(row_last_pass_age(v, stalest), age, sizeof(age));
        printf("last complete pass: the oldest %s ago (%s)\n", age, stalest->name);
    }
    free(lags);
}

/* The largest lag of the source's tables, -1 when none has a bookmark. */
static int64_t source_worst_lag(const state_view *v, const char *src_name)
{
    int64_t worst = -1;
    for (size_t j = 0; j < v->n_rows; j++)
        if (strcmp(v->rows[j].source, src_name) == 0 && row_lag(v, &v->rows[j]) > worst)
            worst = row_lag(v, &v->rows[j]);
    return worst;
}

/* The source's last error as "kind age ago" (into err) and the message of the table it was
 * (returned); "-" without one. */
static const char *source_last_error(const state_view *v, const json_t *s, char *err, size_t len)
{
    int64_t at = live_int(s, "last_error_ms");
    snprintf(err, len, "-");
    if (at <= 0)
        return "-";
    char age[32];
    cli_format_age(v->now - at, age, sizeof(age));
    snprintf(err, len, "%s %s ago", live_str(s, "last_error_kind", "?"), age);
    const char *msg = "-";
    size_t k;
    json_t *tb;
    json_array_foreach(json_object_get(s, "table_status"), k, tb)
    {
        if (live_int(tb, "last_error_ms") == at)
            msg = live_str(tb, "last_error", "-");
    }
    return msg;
}

/* The row of an unhealthy source: its problem, shard, failures, lag and last error. */
static void add_unhealthy_source(cli_columns *t, const state_view *v, const char *name,
                                 const char *problem)
{
    json_t *s = json_object_get(v->live.sources, name);
    char shard_cell[16] = "-", fails[16] = "-", lag[32], err[64] = "-";
    const char *msg = "-";
    cli_format_age(source_worst_lag(v, name), lag, sizeof(lag));
    if (source_shard(v, name) >= 0)
        snprintf(shard_cell, sizeof(shard_cell), "%d", source_shard(v, name));
    if (s) {
        snprintf(fails, sizeof(fails), "%lld", (long long)live_int(s, "consecutive_failures"));
        msg = source_last_error(v, s, err, sizeof(err));
    }
    const char *cells[] = {name, problem, shard_cell, fails, lag, err, msg};
    cli_columns_add(t, cells);
}

/* One line per unhealthy source. */
static void print_unhealthy_sources(const state_view *v, const crm_config *cfg)
{
    static const char *const headers[] = {"SOURCE", "PROBLEM",    "SHARD",  "FAILS",
                                          "LAG",    "LAST ERROR", "MESSAGE"};
    cli_columns *t = cli_columns_new(7, headers);
    for (int i = 0; i < cfg->n_sources; i++) {
        const char *problem = source_problem(v, cfg->sources[i].name);
        if (problem)
            add_unhealthy_source(t, v, cfg->sources[i].name, problem);
    }
    size_t n = cli_columns_rows(t);
    if (n > 0) {
        printf("unhealthy sources (%zu):\n", n);
        cli_columns_sort(t);
        cli_columns_print(t, stdout);
    } else {
        printf("unhealthy sources: none\n");
    }
    cli_columns_free(t);
}

/* Each shard with sources: where it runs (the instance that reported it assigned) and its last
 * commit; a shard with sources that no answering instance runs is said. */
static void print_shards(const state_view *v, const crm_config *cfg)
{
    int n = cfg->kafka.shards > 0 ? cfg->kafka.shards : 1;
    int *sources = xcalloc((size_t)n, sizeof(int));
    for (int i = 0; i < cfg->n_sources; i++)
        sources[shard_of(cfg->sources[i].name, n)]++;
    static const char *const headers[] = {"SHARD",       "SOURCES", "RUNS ON",
                                          "LAST COMMIT", "COMMITS", "ABORTS"};
    cli_columns *t = cli_columns_new(6, headers);
    int unassigned = 0;
    for (int id = 0; id < n; id++) {
        if (!sources[id])
            continue;
        char sid[16], count[16], last[32] = "-", commits[24] = "-", aborts[24] = "-";
        snprintf(sid, sizeof(sid), "%d", id);
        snprintf(count, sizeof(count), "%d", sources[id]);
        json_t *sh = json_object_get(v->live.shards, sid);
        const char *where = v->live.answered ? "(none)" : "-";
        if (sh) {
            where = live_str(sh, "instance", "?");
            if (live_int(sh, "last_commit_ms") > 0)
                cli_format_age(v->now - live_int(sh, "last_commit_ms"), last, sizeof(last));
            snprintf(commits, sizeof(commits), "%lld", (long long)live_int(sh, "commits"));
            snprintf(aborts, sizeof(aborts), "%lld", (long long)live_int(sh, "aborts"));
        } else {
            unassigned += v->live.answered > 0;
        }
        const char *cells[] = {sid, count, where, last, commits, aborts};
        cli_columns_add(t, cells);
    }
    printf("shards: %d (kafka.shards), %zu with sources", n, cli_columns_rows(t));
    if (v->live.answered)
        printf(", %d of them run by no answering instance", unassigned);
    printf(":\n");
    cli_columns_print(t, stdout);
    cli_columns_free(t);
    free(sources);
}

static void print_summary(const state_view *v, const crm_config *cfg)
{
    int counts[5] = {0}; /* running, stopped, auth_failed, failing, not reported */
    for (int i = 0; i < cfg->n_sources; i++) {
        json_t *s = json_object_get(v->live.sources, cfg->sources[i].name);
        const char *st = s ? live_str(s, "state", "") : NULL;
        if (!s)
            counts[4]++;
        else if (strcmp(st, "auth_failed") == 0)
            counts[2]++;
        else if (strcmp(st, "running") != 0)
            counts[1]++;
        else if (live_int(s, "consecutive_failures") > 0)
            counts[3]++;
        else
            counts[0]++;
    }
    printf("sources: %d configured", cfg->n_sources);
    if (v->live.asked > 0)
        printf("; live from %d of %d instances: %d running, %d failing, %d auth_failed, "
               "%d stopped, %d not reported",
               v->live.answered, v->live.asked, counts[0], counts[3], counts[2], counts[1],
               counts[4]);
    printf("\n");
    size_t with_state = 0, never = 0, in_progress = 0;
    for (size_t i = 0; i < v->n_rows; i++) {
        const table_row *r = &v->rows[i];
        with_state += r->has_state;
        never += !r->readable || r->bm.passes == 0;
        in_progress += r->readable && json_object_size(r->bm.paging) > 0;
    }
    printf("tables: %zu (%zu with state, %zu never completed a pass, %zu passes in progress)\n",
           v->n_rows, with_state, never, in_progress);
    print_lag_line(v);
    print_shards(v, cfg);
    print_unhealthy_sources(v, cfg);
}

int cli_state(const crm_config *cfg, const cli_state_options *o)
{
    state_dump d = {json_object(), NULL, 0};
    char err[1024];
    long n = state_restore(&cfg->kafka, collect_state, &d, 60000, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "crmstream: %s\n", err);
        free_dump(&d);
        return EXIT_KAFKA;
    }
    state_view v;
    memset(&v, 0, sizeof(v));
    v.now = now_wall_ms();
    v.cfg = cfg;
    rows_from_state(&v, cfg, &d);
    if (o->view != STATE_VIEW_TABLES)
        rows_from_config(&v, cfg);
    fetch_live(cfg, o->instances, &v.live);
    join_live(&v);
    if (o->view == STATE_VIEW_SUMMARY)
        print_summary(&v, cfg);
    else
        print_tables(&v, o->view == STATE_VIEW_UNHEALTHY);
    printf("(%ld state records read from %s)\n", n, cfg->kafka.state_topic);
    if (v.live.asked > 0)
        printf("(live status: %s)\n", v.live.note.data);
    for (size_t i = 0; i < v.n_rows; i++)
        state_bookmark_clear(&v.rows[i].bm);
    free(v.rows);
    free_live(&v.live);
    free_dump(&d);
    return EXIT_OK;
}
