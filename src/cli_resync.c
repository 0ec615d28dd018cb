/* cli_resync.c — `crmstream resync` and `crmstream state --reset`: rewind one table.
 *
 * Both rewrite the table's state records, and are safe against a running daemon because they
 * first take over the source: the command opens the source's own transactional producer
 * (transactional.id crmstream-<prefix>-<source>), which fences any instance running that source
 * (it exits with code 4 and, restarted by its supervisor, restores the rewritten state) and
 * aborts its open transaction, so the state read next is final and nothing the old instance
 * still holds can be committed over the change. (at-least-once mode has no fencing: stop the
 * daemon first; the command says so.)
 *
 *  state --reset      tombstones the bookmark and the dedupe entries (custom field history is
 *                     kept: schemas only grow): the next run re-reads the table from start_date
 *                     and publishes every record as a first-sync `r`.
 *  resync [--from D]  sets the bookmark to D (default: none, i.e. start_date), keeps the dedupe
 *                     entries and the pass count, then runs one pass of that table: only records
 *                     whose content changed are published.
 *  resync --republish also drops the dedupe entries and the pass count: every key is published
 *                     once as `r` (a downstream rebuild). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "engine.h"
#include "kafka.h"
#include "state.h"

typedef struct table_state {
    const char *bm_key; /* bm/<source>/<table> */
    const char *dedupe_prefix_dc;
    const char *dedupe_prefix_dd;
    char *bookmark;      /* its current value, or NULL */
    json_t *dedupe_keys; /* live dedupe keys: key -> true */
} table_state;

static int starts_with(const char *key, size_t klen, const char *prefix)
{
    size_t n = strlen(prefix);
    return klen >= n && memcmp(key, prefix, n) == 0;
}

static int collect_table_state(const char *key, size_t klen, const char *value, size_t vlen,
                               void *u)
{
    table_state *ts = u;
    if (klen == strlen(ts->bm_key) && memcmp(key, ts->bm_key, klen) == 0) {
        free(ts->bookmark);
        ts->bookmark = value ? strndup(value, vlen) : NULL;
    } else if (starts_with(key, klen, ts->dedupe_prefix_dc) ||
               starts_with(key, klen, ts->dedupe_prefix_dd)) {
        char *k = strndup(key, klen);
        if (value)
            json_object_set_new(ts->dedupe_keys, k, json_true());
        else
            json_object_del(ts->dedupe_keys, k);
        free(k);
    }
    return 0;
}

typedef struct rewind_plan {
    int reset;       /* state --reset: tombstone the bookmark */
    int drop_dedupe; /* --reset or --republish */
    int64_t from_ms; /* resync: the new bookmark (CRM_TIME_NONE: start_date) */
} rewind_plan;

/* The rewritten bookmark: the old one moved to plan->from_ms, no pass in progress. */
static int rewound_bookmark(const table_state *ts, const rewind_plan *plan, buf *out, char *err,
                            size_t errlen)
{
    state_bookmark bm;
    state_bookmark_init(&bm);
    if (ts->bookmark &&
        state_bookmark_parse(ts->bookmark, strlen(ts->bookmark), &bm, err, errlen)) {
        state_bookmark_clear(&bm);
        return -1;
    }
    bm.bookmark_ms = plan->from_ms;
    bm.pass_from_ms = CRM_TIME_NONE;
    json_object_clear(bm.paging);
    if (plan->drop_dedupe)
        bm.passes = 0;
    state_bookmark_format(&bm, out);
    state_bookmark_clear(&bm);
    return 0;
}

static void add_tombstones(kafka_batch *b, const char *topic, json_t *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(keys, k, v)
    {
        (void)v;
        kafka_batch_add(b, topic, k, strlen(k), NULL, 0);
    }
}

/* Takes over the source, reads the table's state, writes the rewound state. */
static int rewind_table(const crm_config *cfg, const source_config *sc, const table_def *t,
                        const rewind_plan *plan)
{
    char err[1024];
    if (cfg->kafka.delivery != DELIVERY_EXACTLY_ONCE)
        fprintf(stderr,
                "crmstream: at-least-once mode cannot fence a running instance of %s: "
                "stop it before rewinding a table\n",
                sc->name);
    kafka_producer *p = kafka_producer_new(&cfg->kafka, sc->name, NULL, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "crmstream: %s\n", err);
        return EXIT_KAFKA;
    }
    buf bm_key, dc, dd;
    buf_init(&bm_key);
    buf_init(&dc);
    buf_init(&dd);
    state_key_bookmark(&bm_key, sc->name, t->name);
    buf_printf(&dc, "dc/%s/%s/", sc->name, t->name);
    buf_printf(&dd, "dd/%s/%s/", sc->name, t->name);
    table_state ts = {bm_key.data, dc.data, dd.data, NULL, json_object()};
    int code = EXIT_OK;
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    if (state_restore(&cfg->kafka, collect_table_state, &ts, 60000, err, sizeof(err)) < 0) {
        fprintf(stderr, "crmstream: %s\n", err);
        code = EXIT_KAFKA;
        goto out;
    }
    size_t n_dedupe = json_object_size(ts.dedupe_keys);
    if (!ts.bookmark && n_dedupe == 0) {
        printf("%s.%s has no state yet: nothing to rewind\n", sc->name, t->name);
        goto out;
    }
    buf value;
    buf_init(&value);
    if (plan->reset) {
        kafka_batch_add(state, cfg->kafka.state_topic, bm_key.data, bm_key.len, NULL, 0);
    } else if (rewound_bookmark(&ts, plan, &value, err, sizeof(err)) == 0) {
        kafka_batch_add(state, cfg->kafka.state_topic, bm_key.data, bm_key.len, value.data,
                        value.len);
    } else {
        fprintf(stderr, "crmstream: %s.%s: %s\n", sc->name, t->name, err);
        code = EXIT_RUNTIME;
    }
    buf_free(&value);
    if (code != EXIT_OK)
        goto out;
    if (plan->drop_dedupe)
        add_tombstones(state, cfg->kafka.state_topic, ts.dedupe_keys);
    if (kafka_commit(p, data, state, &engine_stop_requested, err, sizeof(err)) != KAFKA_OK) {
        fprintf(stderr, "crmstream: writing the state of %s.%s: %s\n", sc->name, t->name, err);
        code = kafka_is_fenced(p) ? EXIT_FENCED : EXIT_KAFKA;
        goto out;
    }
    char when[40] = "start_date";
    if (plan->from_ms != CRM_TIME_NONE)
        crm_time_format(plan->from_ms, when, sizeof(when));
    printf("%s.%s: bookmark %s, %s\n", sc->name, t->name, plan->reset ? "removed" : when,
           plan->drop_dedupe ? "dedupe entries removed (every record is published again)"
                             : "dedupe entries kept (only changes are published)");
out:
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 10000);
    free(ts.bookmark);
    json_decref(ts.dedupe_keys);
    buf_free(&bm_key);
    buf_free(&dc);
    buf_free(&dd);
    return code;
}

int cli_state_reset(const crm_config *cfg, const char *spec)
{
    char err[1024];
    const source_config *sc = NULL;
    const table_def *t = cli_table_spec(cfg, spec, &sc, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "crmstream: %s\n", err);
        return EXIT_CONFIG;
    }
    rewind_plan plan = {1, 1, CRM_TIME_NONE};
    return rewind_table(cfg, sc, t, &plan);
}

/* One pass of one table: `run --once` on a view of the config holding only that table. */
static int run_one_table(const crm_config *cfg, const source_config *sc, const table_def *t)
{
    crm_config view = *cfg;
    source_config only = *sc;
    char *include[] = {(char *)t->name};
    only.include = include;
    only.n_include = 1;
    only.n_exclude = 0;
    view.sources = &only;
    view.n_sources = 1;
    engine_options opts = {1};
    return engine_run(&view, &opts);
}

int cli_resync(const crm_config *cfg, const char *spec, const char *from, int republish)
{
    char err[1024];
    const source_config *sc = NULL;
    const table_def *t = cli_table_spec(cfg, spec, &sc, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "crmstream: %s\n", err);
        return EXIT_CONFIG;
    }
    rewind_plan plan = {0, republish, CRM_TIME_NONE};
    if (from && (crm_time_parse(from, &plan.from_ms) || plan.from_ms == CRM_TIME_NONE)) {
        fprintf(stderr, "crmstream: --from: invalid date \"%s\" (use 2024-01-01 or RFC 3339)\n",
                from);
        return EXIT_CONFIG;
    }
    int code = rewind_table(cfg, sc, t, &plan);
    return code == EXIT_OK ? run_one_table(cfg, sc, t) : code;
}
