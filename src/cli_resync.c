/* cli_resync.c — `crmstream resync` and `crmstream state --reset`: rewind one table.
 *
 * Both rewrite the table's state records, and are safe against a running daemon because they
 * first take over the source: the command opens the producer of the source's shard
 * (transactional.id crmstream-<prefix>-shard-<n>, shard.h), which fences any instance running
 * that shard (it exits with code 4 and, restarted by its supervisor, restores the rewritten
 * state) and aborts its open transaction, so the state read next is final and nothing the old
 * instance still holds can be committed over the change. (at-least-once mode has no fencing: stop
 * the daemon first; the command says so.)
 *
 *  state --reset      tombstones the bookmark and forgets the dedupe entries (a dedupe log chunk
 *                     deleting every key; custom field history is kept: schemas only grow): the
 * next run re-reads the table from start_date and publishes every record as a first-sync `r`.
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
#include "dedupe.h"
#include "dedupe_log.h"
#include "engine.h"
#include "kafka.h"
#include "shard.h"
#include "state.h"

typedef struct table_state {
    const char *bm_key;    /* bm/<source>/<table> */
    const char *dc_prefix; /* dc/<source>/<table>/ */
    const char *dd_prefix; /* dd/<source>/<table>/ */
    char *bookmark;        /* its current value, or NULL */
    dedupe *dd;            /* the table's dedupe map, replayed as the engine does */
    dedupe_log *log;
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
    } else if (starts_with(key, klen, ts->dc_prefix)) {
        char *seq = strndup(key + strlen(ts->dc_prefix), klen - strlen(ts->dc_prefix));
        dedupe_log_restore_chunk(ts->log, ts->dd, strtoull(seq, NULL, 10), value, vlen);
        free(seq);
    } else if (starts_with(key, klen, ts->dd_prefix)) {
        size_t n = strlen(ts->dd_prefix);
        dedupe_log_restore_legacy(ts->log, ts->dd, key + n, klen - n, value, vlen);
    }
    return 0;
}

/* Dedupe entries are forgotten by a log chunk deleting each of them (a chunk's tombstone would
 * not do: a restore replays the chunks before it). Chunks stay under the log's size. */
typedef struct forget_ctx {
    table_state *ts;
    kafka_batch *state;
    const crm_config *cfg;
    const source_config *sc;
    const table_def *t;
    buf chunk;
    size_t entries;
} forget_ctx;

static void flush_forget_chunk(forget_ctx *f)
{
    if (!f->entries)
        return;
    dedupe_log_add(f->ts->log, f->state, f->cfg->kafka.state_topic, f->sc->name, f->t->name,
                   &f->chunk, f->entries);
    dedupe_chunk_begin(&f->chunk);
    f->entries = 0;
}

static void forget_key(const char *pk, size_t len, uint64_t hash, void *u)
{
    (void)hash;
    forget_ctx *f = u;
    dedupe_chunk_delete(&f->chunk, pk, len);
    if (++f->entries && f->chunk.len >= DEDUPE_LOG_CHUNK_BYTES)
        flush_forget_chunk(f);
}

static void add_forget_chunks(table_state *ts, kafka_batch *state, const crm_config *cfg,
                              const source_config *sc, const table_def *t)
{
    forget_ctx f = {ts, state, cfg, sc, t, {0}, 0};
    buf_init(&f.chunk);
    dedupe_chunk_begin(&f.chunk);
    dedupe_each(ts->dd, forget_key, &f);
    flush_forget_chunk(&f);
    buf_free(&f.chunk);
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
    char shard_id[24];
    shard_name(shard_of(sc->name, cfg->kafka.shards), shard_id, sizeof(shard_id));
    kafka_producer *p = kafka_producer_new(&cfg->kafka, shard_id, NULL, err, sizeof(err));
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
    table_state ts = {bm_key.data, dc.data, dd.data, NULL, dedupe_new(), dedupe_log_new()};
    int code = EXIT_OK;
    kafka_batch *data = kafka_batch_new(), *state = kafka_batch_new();
    if (state_restore(&cfg->kafka, collect_table_state, &ts, 60000, err, sizeof(err)) < 0) {
        fprintf(stderr, "crmstream: %s\n", err);
        code = EXIT_KAFKA;
        goto out;
    }
    size_t n_dedupe = dedupe_count(ts.dd);
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
        add_forget_chunks(&ts, state, cfg, sc, t);
    if (kafka_commit(p, data, state, &engine_stop_requested, err, sizeof(err)) != KAFKA_OK) {
        dedupe_log_abandoned(ts.log);
        fprintf(stderr, "crmstream: writing the state of %s.%s: %s\n", sc->name, t->name, err);
        code = kafka_is_fenced(p) ? EXIT_FENCED : EXIT_KAFKA;
        goto out;
    }
    dedupe_log_committed(ts.log);
    char when[40] = "start_date";
    if (plan->from_ms != CRM_TIME_NONE)
        crm_time_format(plan->from_ms, when, sizeof(when));
    printf("%s.%s: bookmark %s, %s\n", sc->name, t->name, plan->reset ? "removed" : when,
           plan->drop_dedupe ? "dedupe entries removed (every record is published again)"
                             : "dedupe entries kept (only changes are published)");
    if (plan->drop_dedupe)
        printf("%s.%s: %zu dedupe entries forgotten\n", sc->name, t->name, n_dedupe);
out:
    kafka_batch_free(data);
    kafka_batch_free(state);
    kafka_producer_free(p, 10000);
    free(ts.bookmark);
    dedupe_free(ts.dd);
    dedupe_log_free(ts.log);
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
