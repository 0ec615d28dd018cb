/* engine.c — startup and shutdown of a run: topics, the shards' producers (fencing older
 * instances and earlier layouts), state restore, every enabled table a task on the scheduler's
 * worker pool (sched_pool.h), and the process exit code; sources added and removed while it runs
 * (engine_add_sources, engine_remove_source: a live reload). */
#include "engine.h"
#include "schema_registry.h"
#include "table_schema.h"

#include <curl/curl.h>
#include <stdatomic.h>
#include <time.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "embedded_schemas.h"
#include "log.h"
#include "sched_pool.h"
#include "shard.h"
#include "shard_group.h"
#include "shard_migrate.h"
#include "sources_reload.h"
#include "sources_watch.h"
#include "table_run.h"

volatile int engine_stop_requested;
volatile int engine_reload_requested;
volatile int engine_restart_requested;

/* What /healthz and /readyz look at. The engine publishes itself here while it runs. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct engine *live;
static const char *phase = "starting";
static atomic_llong heartbeat_ms;

static void set_phase(struct engine *e, const char *p)
{
    pthread_mutex_lock(&live_lock);
    live = e;
    phase = p;
    pthread_mutex_unlock(&live_lock);
    atomic_store(&heartbeat_ms, now_monotonic_ms());
}

typedef struct engine {
    const crm_config *cfg;
    source_run **sources; /* each allocated alone: its tables point at it while sources come and
                             go; the array changes under live_lock (the ops server reads it) */
    int n_sources;
    sr_client *registry; /* NULL without schema_registry */
    int once;
    /* kafka.coordination = "group" (and not --once, which runs every shard here, like static):
     * the consumer group says which shards run here (shard_group.h) */
    int group;
    sched *sched;   /* the worker pool the tables run on, while they run (sources added join it) */
    int next_group; /* the scheduler group of the next source */
    shard *shards;  /* kafka.shards of them; those with sources run */
    int n_shards;
    shard_history history; /* what the state topic says of earlier producer layouts */
    /* coordination = group: shards start and stop on the group's thread while the main loop
     * and the probes look at their producers; held while a producer is created or destroyed */
    pthread_mutex_t producers_lock;
} engine;

table_run *source_run_table(source_run *sr, const char *name)
{
    for (int i = 0; i < sr->n_tables; i++)
        if (strcmp(sr->tables[i].def->name, name) == 0)
            return &sr->tables[i];
    return NULL;
}

static char *topic_name(const crm_config *cfg, const char *src_name, const char *table)
{
    buf b;
    buf_init(&b);
    buf_printf(&b, "%s.%s.%s", cfg->kafka.topic_prefix, src_name, table);
    return b.data;
}

static int table_init(source_run *sr, table_run *t, const table_def *def, char *err, size_t errlen)
{
    const connector *c = source_connector(sr->src);
    t->sr = sr;
    t->def = def;
    t->topic = topic_name(sr->cfg, sr->sc->name, def->name);
    t->lookback_s = config_table_lookback(sr->sc, def->name, def->lookback_seconds);
    t->dd = dedupe_new();
    t->dlog = dedupe_log_new();
    state_bookmark_init(&t->bm);
    table_metrics_init(&t->m, sr->sc->name, def->name);
    table_metrics_attach(&t->m, &sr->sm);
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->schema_lock, NULL);
    if (def->custom) {
        for (int i = 0; i < 4 && def->custom->definitions[i]; i++)
            if (!connector_table(c, def->custom->definitions[i])) {
                snprintf(err, errlen, "source %s table %s: no custom field definitions table %s",
                         sr->sc->name, def->name, def->custom->definitions[i]);
                return -1;
            }
        t->cf = cf_history_new();
    }
    if (table_schema_build(t, err, errlen))
        return -1;
    t->http = http_client_new(source_http_options(sr->src), source_auth(sr->src),
                              source_ratelimit_for(sr->src, def->rate_group), source_rate_signal,
                              sr->src, sr->sc->name);
    if (!t->http) {
        snprintf(err, errlen, "source %s table %s: cannot create HTTP client", sr->sc->name,
                 def->name);
        return -1;
    }
    http_client_set_observer(t->http, table_metrics_observe_http, &t->m);
    http_client_count_capped_waits(t->http, &t->m.rate_waits_capped);
    return 0;
}

static void table_free(table_run *t)
{
    free(t->topic);
    dedupe_free(t->dd);
    dedupe_log_free(t->dlog);
    state_bookmark_clear(&t->bm);
    event_codec_free(t->codec);
    cf_history_free(t->cf);
    if (t->http)
        http_client_free(t->http);
    if (t->def) {
        pthread_mutex_destroy(&t->lock);
        pthread_mutex_destroy(&t->schema_lock);
        table_metrics_destroy(&t->m);
    }
}

static int source_run_init(engine *e, source_run *sr, const source_config *sc, char *err,
                           size_t errlen)
{
    sr->cfg = e->cfg;
    sr->sc = sc;
    kafka_metrics_init(&sr->km, sc->name);
    source_metrics_init(&sr->sm, sc->name);
    sr->km.source_share = 1;
    pthread_mutex_init(&sr->defs_lock, NULL);
    sr->src = source_new(sc, err, errlen);
    if (!sr->src)
        return -1;
    const connector *c = source_connector(sr->src);
    sr->tables = xcalloc(c->n_tables, sizeof(table_run));
    for (size_t i = 0; i < c->n_tables; i++) {
        if (!config_table_enabled(sc, c->tables[i].name))
            continue;
        if (table_init(sr, &sr->tables[sr->n_tables++], &c->tables[i], err, errlen))
            return -1;
    }
    return 0;
}

/* Frees what source_run_init set up (the struct and its own config stay). */
static void source_run_clear(source_run *sr)
{
    for (int i = 0; i < sr->n_tables; i++)
        table_free(&sr->tables[i]);
    free(sr->tables);
    kafka_metrics_destroy(&sr->km);
    source_metrics_destroy(&sr->sm);
    json_decref(sr->defs);
    pthread_mutex_destroy(&sr->defs_lock);
    source_free(sr->src);
}

static void source_run_free(source_run *sr)
{
    if (!sr)
        return;
    source_run_clear(sr);
    config_source_free(sr->own_sc);
    free(sr);
}

/* A source_run for sc, set up as far as its tables (no shard yet); NULL with err. */
static source_run *source_run_new(engine *e, const source_config *sc, char *err, size_t errlen)
{
    source_run *sr = xcalloc(1, sizeof(*sr));
    sr->sched_group = e->next_group++;
    sr->once = e->once;
    sr->registry = e->registry;
    if (source_run_init(e, sr, sc, err, errlen)) {
        source_run_free(sr);
        return NULL;
    }
    return sr;
}

static int ensure_compacted_topics(engine *e, char *err, size_t errlen)
{
    const char *compacted[] = {e->cfg->kafka.state_topic, e->cfg->kafka.schemas_topic};
    return kafka_ensure_topics(&e->cfg->kafka, compacted, e->registry ? 1 : 2, 1, err, errlen);
}

/* The data topics of the n sources of list. */
static int ensure_topics(engine *e, source_run **list, int n_list, char *err, size_t errlen)
{
    int n = 0;
    for (int i = 0; i < n_list; i++)
        n += list[i]->n_tables;
    const char **topics = xcalloc((size_t)n + 1, sizeof(char *));
    n = 0;
    for (int i = 0; i < n_list; i++)
        for (int j = 0; j < list[i]->n_tables; j++)
            topics[n++] = list[i]->tables[j].topic;
    int rc = kafka_ensure_topics(&e->cfg->kafka, topics, n, 0, err, errlen);
    free(topics);
    return rc;
}

/* ---- state restore ----------------------------------------------------------------------- */

/* The sources whose state a restore reads (the others, running, are not touched). */
typedef struct restore_set {
    engine *e;
    source_run **list;
    int n;
} restore_set;

static table_run *table_for_key(restore_set *e, const char *key, size_t len, size_t *rest)
{
    /* key: <kind>/<source>/<table>[/<pk>] */
    const char *p = key + 3, *end = key + len;
    const char *slash = memchr(p, '/', (size_t)(end - p));
    if (!slash)
        return NULL;
    for (int i = 0; i < e->n; i++) {
        source_run *sr = e->list[i];
        size_t sl = strlen(sr->sc->name);
        if ((size_t)(slash - p) != sl || memcmp(p, sr->sc->name, sl) != 0)
            continue;
        const char *tp = slash + 1;
        const char *tend = memchr(tp, '/', (size_t)(end - tp));
        if (!tend)
            tend = end;
        for (int j = 0; j < sr->n_tables; j++) {
            const char *tn = sr->tables[j].def->name;
            if (strlen(tn) == (size_t)(tend - tp) && memcmp(tn, tp, (size_t)(tend - tp)) == 0) {
                *rest = tend < end ? (size_t)(tend + 1 - key) : len;
                return &sr->tables[j];
            }
        }
    }
    return NULL;
}

static int restore_record(const char *key, size_t klen, const char *value, size_t vlen, void *u)
{
    restore_set *set = u;
    engine *e = set->e;
    atomic_store(&heartbeat_ms, now_monotonic_ms()); /* a long read is no stalled main loop */
    if (shard_history_visit(&e->history, &e->cfg->kafka, key, klen, value, vlen))
        return 0;
    if (klen < 4 || key[2] != '/')
        return 0;
    size_t rest = 0;
    table_run *t = table_for_key(set, key, klen, &rest);
    if (!t)
        return 0; /* another source, or a table no longer enabled */
    if (memcmp(key, "bm", 2) == 0) {
        if (!value) {
            state_bookmark_clear(&t->bm);
            state_bookmark_init(&t->bm);
            return 0;
        }
        char err[256];
        if (state_bookmark_parse(value, vlen, &t->bm, err, sizeof(err))) {
            log_error(t->sr->sc->name, t->def->name, "state: %s", err);
            return -1;
        }
    } else if (memcmp(key, "dc", 2) == 0 && rest < klen) {
        char seq[24];
        size_t n = klen - rest < sizeof(seq) - 1 ? klen - rest : sizeof(seq) - 1;
        memcpy(seq, key + rest, n);
        seq[n] = '\0';
        if (dedupe_log_restore_chunk(t->dlog, t->dd, strtoull(seq, NULL, 10), value, vlen)) {
            log_error(t->sr->sc->name, t->def->name, "state: unreadable dedupe chunk %s", seq);
            return -1;
        }
    } else if (memcmp(key, "dd", 2) == 0 && rest < klen) {
        if (dedupe_log_restore_legacy(t->dlog, t->dd, key + rest, klen - rest, value, vlen)) {
            log_error(t->sr->sc->name, t->def->name, "state: unreadable dedupe value for %.*s",
                      (int)(klen - rest), key + rest);
            return -1;
        }
    } else if (memcmp(key, "cf", 2) == 0) {
        char err[256];
        if (table_schema_restore(t, value, vlen, err, sizeof(err))) {
            log_error(t->sr->sc->name, t->def->name, "state: %s", err);
            return -1;
        }
    }
    return 0;
}

/* The state of the n sources of list (not running yet) from the state topic. */
static int restore_state(engine *e, source_run **list, int n_list, char *err, size_t errlen)
{
    int64_t started = now_monotonic_ms();
    restore_set set = {e, list, n_list};
    long n = state_restore(&e->cfg->kafka, restore_record, &set, 120000, err, errlen);
    if (n < 0)
        return -1;
    log_info(NULL, NULL, "state restored from %s: %ld records in %.1fs", e->cfg->kafka.state_topic,
             n, (double)(now_monotonic_ms() - started) / 1000.0);
    for (int i = 0; i < n_list; i++)
        for (int j = 0; j < list[i]->n_tables; j++) {
            table_run *t = &list[i]->tables[j];
            table_metrics_restored(&t->m, t->bm.bookmark_ms);
            if (t->bm.bookmark_ms != CRM_TIME_NONE || dedupe_count(t->dd) > 0) {
                char bm[40] = "none";
                if (t->bm.bookmark_ms != CRM_TIME_NONE)
                    crm_time_format(t->bm.bookmark_ms, bm, sizeof(bm));
                log_info(t->sr->sc->name, t->def->name,
                         "resuming: bookmark=%s known=%zu (dedupe log: %zu chunks, %zu entries)",
                         bm, dedupe_count(t->dd), dedupe_log_chunks(t->dlog),
                         dedupe_log_entries(t->dlog));
            }
        }
    return 0;
}

/* ---- shards ------------------------------------------------------------------------------ */

/* Every source gets its shard; the shards with sources start: init_transactions fences whoever
 * ran them before and aborts its open transaction, so the state read next is final. */
static int start_shards(engine *e, char *err, size_t errlen)
{
    e->n_shards = e->cfg->kafka.shards;
    e->shards = xcalloc((size_t)e->n_shards, sizeof(shard));
    for (int i = 0; i < e->n_shards; i++)
        shard_init(&e->shards[i], &e->cfg->kafka, i);
    for (int i = 0; i < e->n_sources; i++) {
        source_run *sr = e->sources[i];
        sr->shard = &e->shards[shard_of(sr->sc->name, e->n_shards)];
        sr->shard->n_sources++;
        atomic_store(&sr->shard->mx.sources, sr->shard->n_sources);
        atomic_store(&sr->sm.shard, sr->shard->id);
    }
    if (e->group)
        return 0; /* the group says which run here (run_group) */
    for (int i = 0; i < e->n_shards; i++)
        if (e->shards[i].n_sources > 0 && shard_start(&e->shards[i], err, errlen))
            return -1;
    return 0;
}

static void free_shards(engine *e)
{
    for (int i = 0; i < e->n_shards; i++)
        shard_destroy(&e->shards[i]);
    free(e->shards);
}

/* Forgets what a state restore put in the table (before reading the state again). */
static void table_forget_state(table_run *t)
{
    state_bookmark_clear(&t->bm);
    state_bookmark_init(&t->bm);
    dedupe_free(t->dd);
    t->dd = dedupe_new();
    dedupe_log_free(t->dlog);
    t->dlog = dedupe_log_new();
    if (t->cf) {
        cf_history_free(t->cf);
        t->cf = cf_history_new();
    }
}

/* Writes down what migrate_layout made sure of: mg/<source> for each source not recorded yet
 * (through its shard) and sl/<prefix> when the shard count changed. */
static int record_layout(engine *e, source_run **list, int n_list, char *err, size_t errlen)
{
    const kafka_config *kc = &e->cfg->kafka;
    int layout_recorded = e->history.shards == kc->shards;
    for (int i = 0; i < e->n_shards; i++) {
        shard *s = &e->shards[i];
        if (!shard_is_running(s))
            continue;
        kafka_batch *state = kafka_batch_new();
        for (int j = 0; j < n_list; j++)
            if (list[j]->shard == s && !shard_history_migrated(&e->history, list[j]->sc->name))
                shard_migrate_add_source_record(kc, state, list[j]->sc->name);
        if (!layout_recorded) {
            shard_migrate_add_layout_record(kc, state);
            layout_recorded = 1;
        }
        int rc =
            kafka_batch_count(state) > 0 &&
            shard_commit(s, NULL, NULL, state, &engine_stop_requested, err, errlen) != KAFKA_OK;
        kafka_batch_free(state);
        if (rc)
            return -1;
    }
    e->history.shards = kc->shards; /* recorded: sources added later fence nothing else */
    return 0;
}

/* Makes sure no producer of an earlier layout (per-source transactional ids of versions before
 * shards, or the shards of another shard count) can still commit, once (shard_migrate.h). What
 * it fences may have held an open transaction the state read could not see past, and init
 * aborted it: the state is read again. This process runs every shard of its sources; where
 * instances share the shards (#20.4), an instance may fence only the legacy ids of the sources of
 * the shards it was assigned, and no shard id it does not own. */
static int migrate_layout(engine *e, source_run **list, int n_list, char *err, size_t errlen)
{
    const kafka_config *kc = &e->cfg->kafka;
    if (kc->delivery != DELIVERY_EXACTLY_ONCE)
        return 0; /* no transactional ids */
    const char **sources = xcalloc((size_t)n_list + 1, sizeof(char *));
    int *running = xcalloc((size_t)e->n_shards, sizeof(int));
    for (int i = 0; i < n_list; i++)
        sources[i] = list[i]->sc->name;
    for (int i = 0; i < e->n_shards; i++)
        running[i] = shard_is_running(&e->shards[i]);
    char **stale = NULL;
    int n = 0, rc = 0;
    shard_migrate_stale_names(kc, &e->history, sources, n_list, running, &stale, &n);
    if (n > 0) {
        int64_t started = now_monotonic_ms();
        rc = shard_migrate_fence(kc, stale, n, err, errlen);
        if (rc == 0) {
            log_info(NULL, NULL,
                     "fenced %d transactional ids of an earlier producer layout (crmstream-%s-"
                     "<source> of versions before shards, or shards of another count) in %.1fs; "
                     "reading the state again",
                     n, kc->topic_prefix, (double)(now_monotonic_ms() - started) / 1000.0);
            for (int i = 0; i < n_list; i++)
                for (int j = 0; j < list[i]->n_tables; j++)
                    table_forget_state(&list[i]->tables[j]);
            shard_history_free(&e->history);
            rc = restore_state(e, list, n_list, err, errlen);
        }
    }
    if (rc == 0)
        rc = record_layout(e, list, n_list, err, errlen);
    for (int i = 0; i < n; i++)
        free(stale[i]);
    free(stale);
    free(running);
    free(sources);
    return rc;
}

/* ---- run --------------------------------------------------------------------------------- */

static int exit_code(engine *e)
{
    int code = EXIT_OK;
    int all_auth_failed = e->n_sources > 0;
    for (int i = 0; i < e->n_shards; i++) {
        if (shard_is_fenced(&e->shards[i]))
            return EXIT_FENCED;
        if (shard_is_fatal(&e->shards[i]))
            code = EXIT_KAFKA;
    }
    for (int i = 0; i < e->n_sources; i++)
        if (!e->sources[i]->auth_failed)
            all_auth_failed = 0;
    if (code != EXIT_OK)
        return code;
    if (all_auth_failed)
        return EXIT_AUTH;
    int once = e->once;
    for (int i = 0; i < e->n_sources; i++) {
        if (e->sources[i]->auth_failed && once)
            return EXIT_AUTH;
        for (int j = 0; once && j < e->sources[i]->n_tables; j++)
            if (e->sources[i]->tables[j].failed && !e->sources[i]->tables[j].unavailable &&
                !flag_is_set(&engine_stop_requested))
                return EXIT_RUNTIME;
    }
    return EXIT_OK;
}

static void print_source_summary(source_run *sr)
{
    for (int j = 0; j < sr->n_tables; j++) {
        table_run *t = &sr->tables[j];
        log_info(sr->sc->name, t->def->name,
                 "summary: topic=%s published=%ld deleted=%ld unchanged=%ld pages=%ld "
                 "known=%zu requests=%ld rate_limited=%ld raw_fallbacks=%ld%s",
                 t->topic, atomic_load(&t->m.published), atomic_load(&t->m.deleted),
                 atomic_load(&t->m.unchanged), atomic_load(&t->m.pages), dedupe_count(t->dd),
                 table_metrics_requests(&t->m), atomic_load(&t->m.rate_limited),
                 atomic_load(&t->m.raw_fallbacks), t->unavailable ? " unavailable" : "");
    }
}

static void print_summary(engine *e)
{
    for (int i = 0; i < e->n_sources; i++)
        print_source_summary(e->sources[i]);
}

/* Readiness: running, Kafka reachable, every source authenticated and not stopped. */
static void add_readiness_reasons(engine *e, json_t *reasons)
{
    int group = e->group;
    if (group && pthread_mutex_trylock(&e->producers_lock) != 0)
        return; /* a shard is starting or stopping: ask again later */
    for (int i = 0; i < e->n_sources; i++) {
        source_run *sr = e->sources[i];
        const char *name = sr->sc->name;
        char why[512];
        if (group && !shard_is_running(sr->shard))
            continue; /* another instance runs it */
        if (shard_is_fatal(sr->shard))
            json_array_append_new(reasons,
                                  json_sprintf("source %s: kafka producer of %s failed: %s", name,
                                               sr->shard->name,
                                               shard_fatal_reason(sr->shard, why, sizeof(why))));
        else if (atomic_load(&sr->shard->km.brokers_down))
            json_array_append_new(reasons, json_sprintf("source %s: all Kafka brokers down", name));
        if (sr->auth_failed)
            json_array_append_new(reasons, json_sprintf("source %s: credentials rejected", name));
        else if (!atomic_load(&sr->authenticated))
            json_array_append_new(reasons,
                                  json_sprintf("source %s: no successful API request yet", name));
    }
    if (group)
        pthread_mutex_unlock(&e->producers_lock);
}

json_t *engine_health(int ready, int *ok)
{
    json_t *reasons = json_array();
    pthread_mutex_lock(&live_lock);
    const char *p = phase;
    int64_t age = now_monotonic_ms() - atomic_load(&heartbeat_ms);
    if (!ready) {
        /* Alive unless the main loop stopped turning while running. */
        if (strcmp(p, "running") == 0 && age > 15000)
            json_array_append_new(reasons,
                                  json_sprintf("main loop stalled for %lld ms", (long long)age));
    } else if (strcmp(p, "running") != 0) {
        json_array_append_new(reasons, json_sprintf("not running yet: %s", p));
    } else if (live) {
        add_readiness_reasons(live, reasons);
    }
    pthread_mutex_unlock(&live_lock);
    *ok = json_array_size(reasons) == 0;
    return json_pack("{s:b, s:s, s:o}", ready ? "ready" : "alive", *ok, "phase", p, "reasons",
                     reasons);
}

/* Stops the sources of shard s: their threads end after the page in flight. */
static void stop_shard_sources(engine *e, const shard *s)
{
    for (int i = 0; i < e->n_sources; i++)
        if (e->sources[i]->shard == s)
            flag_set(&e->sources[i]->stop, 1);
}

/* A shard whose producer is done for (fenced by a newer owner, or a fatal Kafka error it could
 * not recover from) stops its sources. A single-instance deployment then stops the whole run:
 * the process exits 4 or 3 and its orchestrator decides, instead of the other shards running on
 * in a half-dead process. (Where shards move between instances, the fenced shard alone would
 * stop here: the line setting engine_stop_requested is that policy.) */
static void on_shard_failed(engine *e, shard *s)
{
    char why[512];
    if (shard_is_fenced(s))
        log_error(s->name, NULL,
                  "fenced: another crmstream instance took over %s (transactional.id "
                  "crmstream-%s-%s, %d sources); stopping every source",
                  s->name, e->cfg->kafka.deployment, s->name, s->n_sources);
    else
        log_error(s->name, NULL,
                  "the Kafka producer failed and could not be re-created (%s); stopping every "
                  "source",
                  shard_fatal_reason(s, why, sizeof(why)));
    stop_shard_sources(e, s);
    flag_set(&engine_stop_requested, 1);
}

static void stop_on_fatal_producer(engine *e)
{
    for (int i = 0; i < e->n_shards && !flag_is_set(&engine_stop_requested); i++)
        if (shard_is_fatal(&e->shards[i]))
            on_shard_failed(e, &e->shards[i]);
}

/* A stop of the whole run reaches every source's own stop flag, which its tables' waits
 * (HTTP transfers, rate limits) look at (engine_remove_source stops one source alone through
 * it). */
static void propagate_stop(engine *e)
{
    if (!flag_is_set(&engine_stop_requested))
        return;
    for (int i = 0; i < e->n_sources; i++)
        flag_set(&e->sources[i]->stop, 1);
}

static int tables_running(const source_run *sr)
{
    int running = 0;
    for (int j = 0; j < sr->n_tables; j++)
        running += !atomic_load(&sr->tables[j].done);
    return running;
}

/* A source stopped on its own (credentials rejected, its producer gone): its tables are woken so
 * they end now instead of at their next poll. */
static void wake_stopped_sources(engine *e, sched *s)
{
    for (int i = 0; i < e->n_sources; i++)
        if (!e->sources[i]->woken && flag_is_set(&e->sources[i]->stop)) {
            e->sources[i]->woken = 1;
            sched_wake_group(s, e->sources[i]->sched_group);
        }
}

/* The reload asked for (SIGHUP) or due (sources_dir changed), between two turns of the loop. */
static void reload_when_asked(engine *e, sources_watch *watch)
{
    int hup = flag_is_set(&engine_reload_requested);
    if (hup)
        flag_set(&engine_reload_requested, 0);
    if ((sources_watch_due(watch, now_monotonic_ms()) || hup) &&
        sources_reload(e, hup) == SOURCES_RELOAD_RESTART) {
        flag_set(&engine_restart_requested, 1);
        flag_set(&engine_stop_requested, 1);
    }
}

/* Waits until every table's task is done, keeping the heartbeat fresh; a stop request wakes
 * every table (each ends its pass: the complete pages commit, a transfer in flight aborts).
 * Reloads the sources when asked; with every source removed the run goes on, waiting for new
 * ones, until stopped. */
static void wait_for_tables(engine *e, sched *s, sources_watch *watch)
{
    int stop_seen = 0;
    for (;;) {
        stop_on_fatal_producer(e);
        if (!stop_seen && flag_is_set(&engine_stop_requested)) {
            stop_seen = 1;
            propagate_stop(e);
            sched_wake_all(s);
        }
        wake_stopped_sources(e, s);
        if (!e->once && !stop_seen)
            reload_when_asked(e, watch);
        if (sched_wait(s, 200) > 0) {
            atomic_store(&heartbeat_ms, now_monotonic_ms());
            continue;
        }
        if (e->n_sources > 0 || e->once || flag_is_set(&engine_stop_requested))
            break;
        atomic_store(&heartbeat_ms, now_monotonic_ms()); /* no source: wait for one */
        sleep_interruptible(200, &engine_stop_requested);
    }
}

/* Schemas after the state: tables with custom fields start from their restored history. */
static int build_schemas(source_run *sr, int *code)
{
    char err[1024];
    for (int j = 0; j < sr->n_tables; j++)
        if (sr->tables[j].cf && table_schema_build(&sr->tables[j], err, sizeof(err))) {
            log_error(sr->sc->name, sr->tables[j].def->name, "%s", err);
            *code = EXIT_RUNTIME;
            return -1;
        }
    if (table_schema_publish_all(sr, err, sizeof(err))) {
        log_error(sr->sc->name, NULL, "publishing schemas: %s", err);
        *code = EXIT_KAFKA;
        return -1;
    }
    return 0;
}

/* Every table of sr a task of the source's group (the scheduler's round-robin unit), due now. */
static void schedule_tables(sched *s, source_run *sr, int64_t now)
{
    for (int j = 0; j < sr->n_tables; j++) {
        table_metrics_set_running(&sr->tables[j].m, 1);
        sched_add(s, sr->sched_group, sync_table_turn, &sr->tables[j], now);
    }
}

/* Every enabled table as a task on a pool of cfg->workers threads, all due now; returns when
 * every task is done. -1 when no worker could be started. */
static int run_tables(engine *e, sources_watch *watch)
{
    sched *s = sched_new(e->cfg->workers, 0);
    int64_t now = now_monotonic_ms();
    for (int i = 0; i < e->n_sources; i++)
        schedule_tables(s, e->sources[i], now);
    int rc = sched_start(s);
    if (rc) {
        log_error(NULL, NULL, "cannot start any of the %d worker threads; stopping",
                  sched_workers(s));
        flag_set(&engine_stop_requested, 1);
    } else {
        e->sched = s;
        set_phase(e, "running");
        wait_for_tables(e, s, watch);
        e->sched = NULL;
    }
    sched_free(s);
    return rc;
}

/* ---- shards shared by a group of instances (kafka.coordination = "group") ----------------- */

/* Sets the source up afresh (as at start, no state), for its shard's next start here. */
static void renew_source(engine *e, source_run *sr)
{
    const source_config *sc = sr->sc;
    source_config *own_sc = sr->own_sc;
    shard *sh = sr->shard;
    int once = sr->once;
    sr_client *registry = sr->registry;
    char err[1024];
    pthread_mutex_lock(&live_lock);
    source_run_clear(sr);
    memset(sr, 0, sizeof(*sr));
    sr->once = once;
    sr->registry = registry;
    sr->own_sc = own_sc;
    if (source_run_init(e, sr, sc, err, sizeof(err)))
        log_error(sc->name, NULL, "%s", err);
    sr->shard = sh;
    pthread_mutex_unlock(&live_lock);
}

/* Stops the sources of shard s (their pages in flight commit through its producer, or abort
 * when lost), then the producer, and sets the sources up afresh. */
static void stop_shard_here(engine *e, shard *s, int lost)
{
    for (int i = 0; i < e->n_sources; i++)
        if (e->sources[i]->shard == s) {
            flag_set(&e->sources[i]->stop, 1);
            sched_wake_group(e->sched, e->sources[i]->sched_group);
        }
    for (int i = 0; i < e->n_sources; i++)
        while (e->sources[i]->shard == s &&
               sched_wait_group(e->sched, e->sources[i]->sched_group, 200) > 0)
            ; /* its tables end after the page in flight */
    pthread_mutex_lock(&e->producers_lock);
    shard_stop(s, lost ? 0 : 5000);
    pthread_mutex_unlock(&e->producers_lock);
    for (int i = 0; i < e->n_sources; i++)
        if (e->sources[i]->shard == s)
            renew_source(e, e->sources[i]);
}

static void group_stop_shard(int n, int lost, void *u)
{
    engine *e = u;
    stop_shard_here(e, &e->shards[n], lost);
}

/* Claims shard n: its producer fences the previous owner and aborts what that one left open. */
static int group_claim_shard(int n, void *u)
{
    engine *e = u;
    shard *s = &e->shards[n];
    char err[1024];
    if (s->n_sources == 0)
        return 0;
    pthread_mutex_lock(&e->producers_lock);
    int rc = shard_start(s, err, sizeof(err));
    pthread_mutex_unlock(&e->producers_lock);
    if (rc)
        log_error(s->name, NULL, "%s", err);
    return rc;
}

/* Starts claimed shard n here: its sources' state is read, their schemas published and their
 * tables run. */
static int group_start_shard(int n, void *u)
{
    engine *e = u;
    shard *s = &e->shards[n];
    char err[1024] = "";
    int rc = 0;
    if (s->n_sources == 0)
        return 0;
    source_run **list = xcalloc((size_t)e->n_sources + 1, sizeof(source_run *));
    int n_list = 0;
    for (int i = 0; i < e->n_sources; i++)
        if (e->sources[i]->shard == s)
            list[n_list++] = e->sources[i];
    shard_history_free(&e->history);
    memset(&e->history, 0, sizeof(e->history));
    rc = restore_state(e, list, n_list, err, sizeof(err));
    for (int i = 0; i < n_list && !rc; i++) {
        int code = EXIT_OK;
        rc = build_schemas(list[i], &code);
        if (!rc)
            schedule_tables(e->sched, list[i], now_monotonic_ms());
    }
    free(list);
    if (rc) {
        log_error(s->name, NULL, "cannot start the shard's sources%s%s", err[0] ? ": " : "", err);
        stop_shard_here(e, s, 0);
    }
    return rc;
}

/* Runs the shards the group assigns this instance until the run stops, then hands them back.
 * Sources are not reloaded while running here: a SIGHUP restarts the engine with the config
 * and sources_dir read again. */
static int run_group(engine *e)
{
    shard_group_handler h = {group_claim_shard, group_start_shard, group_stop_shard, e};
    char err[1024];
    e->sched = sched_new(e->cfg->workers, 0);
    if (sched_start(e->sched)) {
        log_error(NULL, NULL, "cannot start any of the %d worker threads", e->cfg->workers);
        sched_free(e->sched);
        e->sched = NULL;
        return EXIT_RUNTIME;
    }
    shard_group *g = shard_group_start(&e->cfg->kafka, e->n_shards, &h, err, sizeof(err));
    if (!g) {
        log_error(NULL, NULL, "%s", err);
        sched_free(e->sched);
        e->sched = NULL;
        return EXIT_KAFKA;
    }
    set_phase(e, "running");
    while (!flag_is_set(&engine_stop_requested)) {
        if (flag_is_set(&engine_reload_requested)) {
            flag_set(&engine_reload_requested, 0);
            log_info(NULL, NULL,
                     "SIGHUP: coordination = group: restarting the engine with the "
                     "configuration read again");
            flag_set(&engine_restart_requested, 1);
            flag_set(&engine_stop_requested, 1);
            break;
        }
        /* the group's thread sets sources up afresh under live_lock, producers under this */
        if (pthread_mutex_trylock(&e->producers_lock) == 0) {
            pthread_mutex_lock(&live_lock);
            stop_on_fatal_producer(e);
            pthread_mutex_unlock(&live_lock);
            pthread_mutex_unlock(&e->producers_lock);
        }
        atomic_store(&heartbeat_ms, now_monotonic_ms());
        struct timespec ts = {0, 200 * 1000000};
        nanosleep(&ts, NULL);
    }
    set_phase(e, "stopping");
    /* before the shards stop: a fenced or failed producer is gone afterwards */
    pthread_mutex_lock(&e->producers_lock);
    pthread_mutex_lock(&live_lock);
    int code = exit_code(e);
    pthread_mutex_unlock(&live_lock);
    pthread_mutex_unlock(&e->producers_lock);
    shard_group_stop(g); /* stops every shard it runs here, and their tables */
    sched_free(e->sched);
    e->sched = NULL;
    return code;
}

int engine_run(const crm_config *cfg, const engine_options *opts)
{
    engine e = {.cfg = cfg,
                .sources = xcalloc((size_t)cfg->n_sources + 1, sizeof(source_run *)),
                .once = opts->once};
    char err[1024];
    int code = EXIT_OK;
    sources_watch *watch = NULL;
    e.group = cfg->kafka.coordination == COORDINATION_GROUP && !opts->once;
    pthread_mutex_init(&e.producers_lock, NULL);
    if (cfg->registry.url && !(e.registry = sr_new(&cfg->registry, err, sizeof(err)))) {
        log_error(NULL, NULL, "%s", err);
        free(e.sources);
        return EXIT_CONFIG;
    }
    if (!e.once && !e.group) /* from now on, a change of sources_dir is seen */
        watch = sources_watch_start(cfg);
    for (int i = 0; i < cfg->n_sources; i++) {
        if (!(e.sources[e.n_sources] = source_run_new(&e, &cfg->sources[i], err, sizeof(err)))) {
            log_error(cfg->sources[i].name, NULL, "%s", err);
            code = EXIT_CONFIG;
            goto out;
        }
        e.n_sources++;
    }
    set_phase(&e, "connecting to Kafka");
    /* Producers first: in exactly-once mode init_transactions fences an older instance and
     * aborts its open transaction, so the state read next is final. */
    if (start_shards(&e, err, sizeof(err))) {
        log_error(NULL, NULL, "%s", err);
        code = EXIT_KAFKA;
        goto out;
    }
    if (ensure_compacted_topics(&e, err, sizeof(err)) ||
        ensure_topics(&e, e.sources, e.n_sources, err, sizeof(err))) {
        log_error(NULL, NULL, "%s", err);
        code = EXIT_KAFKA;
        goto out;
    }
    if (e.group) {
        code = run_group(&e);
        goto out;
    }
    set_phase(&e, "restoring state");
    if (restore_state(&e, e.sources, e.n_sources, err, sizeof(err)) ||
        migrate_layout(&e, e.sources, e.n_sources, err, sizeof(err))) {
        log_error(NULL, NULL, "%s", err);
        code = EXIT_KAFKA;
        goto out;
    }
    for (int i = 0; i < e.n_sources; i++)
        if (build_schemas(e.sources[i], &code))
            goto out;
    int failed = run_tables(&e, watch);
    set_phase(&e, "stopping");
    print_summary(&e);
    code = failed ? EXIT_RUNTIME : exit_code(&e);
out:
    set_phase(NULL, "stopped");
    sources_watch_stop(watch);
    for (int i = 0; i < e.n_sources; i++)
        source_run_free(e.sources[i]);
    free_shards(&e);
    shard_history_free(&e.history);
    pthread_mutex_destroy(&e.producers_lock);
    free(e.sources);
    sr_free(e.registry);
    return code;
}

/* ---- sources added and removed while running ------------------------------------------- */

const crm_config *engine_config(const engine *e)
{
    return e->cfg;
}

int engine_running_sources(const engine *e, const source_config ***out)
{
    *out = xcalloc((size_t)e->n_sources + 1, sizeof(source_config *));
    for (int i = 0; i < e->n_sources; i++)
        (*out)[i] = e->sources[i]->sc;
    return e->n_sources;
}

/* sr joins its shard, which starts (fencing its previous owner) if none of its sources ran. */
static int join_shard(engine *e, source_run *sr, char *err, size_t errlen)
{
    shard *s = &e->shards[shard_of(sr->sc->name, e->n_shards)];
    if (!shard_is_running(s) && shard_start(s, err, errlen))
        return -1;
    sr->shard = s;
    s->n_sources++;
    atomic_store(&s->mx.sources, s->n_sources);
    atomic_store(&sr->sm.shard, s->id);
    return 0;
}

static void leave_shard(source_run *sr)
{
    if (sr->shard) {
        sr->shard->n_sources--;
        atomic_store(&sr->shard->mx.sources, sr->shard->n_sources);
    }
    sr->shard = NULL;
}

static void source_run_discard(source_run *sr)
{
    leave_shard(sr);
    source_run_free(sr);
}

static void publish_source(engine *e, source_run *sr)
{
    pthread_mutex_lock(&live_lock);
    e->sources = xrealloc(e->sources, ((size_t)e->n_sources + 1) * sizeof(source_run *));
    e->sources[e->n_sources++] = sr;
    pthread_mutex_unlock(&live_lock);
}

/* Sets the sources of scs up to the point of running, each alone: a source that cannot be set
 * up (or whose shard cannot start) is logged and left out. Returns how many are in out. */
static int prepare_sources(engine *e, source_config **scs, int n, source_run **out)
{
    char err[1024];
    int n_out = 0;
    for (int i = 0; i < n; i++) {
        source_config *sc = scs[i];
        scs[i] = NULL;
        source_run *sr = source_run_new(e, sc, err, sizeof(err));
        if (sr)
            sr->own_sc = sc;
        else
            config_source_free(sc);
        if (sr && join_shard(e, sr, err, sizeof(err))) {
            source_run_discard(sr);
            sr = NULL;
        }
        if (!sr) {
            log_error(NULL, NULL, "source not started: %s", err);
            continue;
        }
        atomic_store(&heartbeat_ms, now_monotonic_ms());
        out[n_out++] = sr;
    }
    return n_out;
}

int engine_add_sources(engine *e, source_config **scs, int n)
{
    char err[1024];
    source_run **batch = xcalloc((size_t)n + 1, sizeof(source_run *));
    int nb = prepare_sources(e, scs, n, batch);
    int started = 0;
    /* as at start: the state of these sources, read after their shard fenced its previous
     * owner and after any per-source producer of an earlier layout is fenced (migrate_layout) */
    if (nb > 0 && (ensure_topics(e, batch, nb, err, sizeof(err)) ||
                   restore_state(e, batch, nb, err, sizeof(err)) ||
                   migrate_layout(e, batch, nb, err, sizeof(err)))) {
        log_error(NULL, NULL, "%d source(s) not started: %s", nb, err);
        for (int i = 0; i < nb; i++)
            source_run_discard(batch[i]);
        nb = 0;
    }
    for (int i = 0; i < nb; i++) {
        int code = EXIT_OK;
        if (build_schemas(batch[i], &code)) {
            source_run_discard(batch[i]);
            continue;
        }
        publish_source(e, batch[i]);
        schedule_tables(e->sched, batch[i], now_monotonic_ms());
        started++;
    }
    free(batch);
    return started;
}

int engine_remove_source(engine *e, const char *name)
{
    int i = 0;
    while (i < e->n_sources && strcmp(e->sources[i]->sc->name, name) != 0)
        i++;
    if (i == e->n_sources)
        return -1;
    source_run *sr = e->sources[i];
    flag_set(&sr->stop, 1); /* its tables abort HTTP in flight and commit what they hold */
    sched_wake_group(e->sched, sr->sched_group); /* now, not at their next poll */
    while (tables_running(sr)) {
        atomic_store(&heartbeat_ms, now_monotonic_ms());
        sleep_interruptible(50, NULL);
    }
    print_source_summary(sr);
    pthread_mutex_lock(&live_lock);
    memmove(&e->sources[i], &e->sources[i + 1], (size_t)(e->n_sources - i - 1) * sizeof(sr));
    e->n_sources--;
    pthread_mutex_unlock(&live_lock);
    source_run_discard(sr); /* its shard runs on for the others (and for sources added later) */
    return 0;
}

/* ---- inspection -------------------------------------------------------------------------- */

int engine_each_table(const crm_config *cfg, engine_table_fn fn, void *u, char *err, size_t errlen)
{
    engine e = {.cfg = cfg,
                .sources = xcalloc((size_t)cfg->n_sources + 1, sizeof(source_run *)),
                .once = 1};
    int rc = 0;
    if (cfg->registry.url && !(e.registry = sr_new(&cfg->registry, err, errlen)))
        rc = -1;
    for (int i = 0; i < cfg->n_sources && !rc; i++) {
        e.sources[e.n_sources] = source_run_new(&e, &cfg->sources[i], err, errlen);
        rc = e.sources[e.n_sources] ? 0 : -1;
        e.n_sources += !rc;
    }
    if (!rc)
        rc = restore_state(&e, e.sources, e.n_sources, err, errlen);
    for (int i = 0; !rc && i < e.n_sources; i++)
        for (int j = 0; !rc && j < e.sources[i]->n_tables; j++) {
            table_run *t = &e.sources[i]->tables[j];
            rc = (t->cf && table_schema_build(t, err, errlen)) ? -1 : fn(t, u);
        }
    for (int i = 0; i < e.n_sources; i++)
        source_run_free(e.sources[i]);
    shard_history_free(&e.history);
    free(e.sources);
    sr_free(e.registry);
    return rc;
}
