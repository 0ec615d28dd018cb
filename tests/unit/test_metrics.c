/* test_metrics.c — per-source health (#20 item 5): lag = now - bookmark, a source's state
 * (running, stopped, auth_failed), last success (the oldest of its tables', unavailable tables
 * left out), last error and its kind, failures in a row, poll lateness; per shard (assigned,
 * sources, transactions, last commit); their Prometheus lines and /status JSON; and what rendering
 * 1,000 sources x 3 tables costs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "check.h"
#include "metrics.h"

/* The value of the line that starts with `series` (name{labels}) in text, or -1 when absent. */
static double series_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return atof(p + n + 1);
    return -1;
}

static void check_lag(void)
{
    CHECK(metrics_lag_ms(0, 1000000) == -1);         /* no bookmark */
    CHECK(metrics_lag_ms(INT64_MIN, 1000000) == -1); /* CRM_TIME_NONE */
    CHECK(metrics_lag_ms(995000, 1000000) == 5000);  /* 5 s behind */
    CHECK(metrics_lag_ms(1000500, 1000000) == 0);    /* a bookmark ahead of this clock */
}

static void check_source_health(void)
{
    source_metrics s;
    table_metrics t[3];
    const char *names[3] = {"items", "users", "events"};
    source_metrics_init(&s, "acme");
    for (int i = 0; i < 3; i++) {
        table_metrics_init(&t[i], "acme", names[i]);
        table_metrics_attach(&t[i], &s);
        table_metrics_set_running(&t[i], 1);
    }
    int64_t now = now_wall_ms();
    source_health h;
    metrics_source_health(&s, now, &h);
    CHECK(h.tables == 3);
    CHECK(h.state == SOURCE_RUNNING);
    CHECK(h.lag_ms == -1);
    CHECK(h.last_success_ms == 0);
    CHECK(h.last_error_ms == 0);

    /* items succeeds with a bookmark 90.5 s old; users fails twice; events is unavailable */
    table_metrics_restored(&t[0], now - 90500);
    table_metrics_pass_succeeded(&t[0]);
    table_metrics_pass_failed(&t[1], ERR_HTTP, "HTTP 500 from /api/users: boom");
    table_metrics_pass_failed(&t[1], ERR_TRANSPORT, "timeout");
    table_metrics_pass_failed(&t[2], ERR_UNAVAILABLE, "HTTP 402: plan");
    metrics_source_health(&s, now, &h);
    CHECK(h.lag_ms == 90500);
    CHECK(h.failing == 1); /* users; events is skipped, not failing */
    CHECK(h.consecutive_failures == 2);
    CHECK(h.last_error_ms >= now);
    CHECK(h.last_success_ms == 0); /* users never succeeded */
    CHECK(h.state == SOURCE_RUNNING);

    /* users recovers: every available table has succeeded; events (unavailable) left out */
    table_metrics_pass_succeeded(&t[1]);
    metrics_source_health(&s, now, &h);
    CHECK(h.last_success_ms > 0);
    CHECK(h.last_success_ms == atomic_load(&t[0].last_success_ms));
    CHECK(h.failing == 0);
    CHECK(h.consecutive_failures == 0);
    CHECK(atomic_load(&t[1].errors[ERR_HTTP]) == 1 &&
          atomic_load(&t[1].errors[ERR_TRANSPORT]) == 1);

    /* credentials rejected: auth_failed, even after its tables stop */
    table_metrics_pass_failed(&t[0], ERR_AUTH, "HTTP 401: invalid token");
    for (int i = 0; i < 3; i++)
        table_metrics_set_running(&t[i], 0);
    metrics_source_health(&s, now_wall_ms(), &h);
    CHECK(h.state == SOURCE_AUTH_FAILED);
    CHECK(h.last_error_kind == ERR_AUTH);
    CHECK_STR(metrics_error_kind_name(h.last_error_kind), "auth");

    /* the rendered lines */
    buf out;
    buf_init(&out);
    metrics_render(&out);
    CHECK(series_value(out.data, "crmstream_source_state{source=\"acme\",state=\"auth_failed\"}") ==
          1);
    CHECK(series_value(out.data, "crmstream_source_state{source=\"acme\",state=\"running\"}") == 0);
    CHECK(series_value(out.data, "crmstream_source_state{source=\"acme\",state=\"stopped\"}") == 0);
    CHECK(series_value(out.data, "crmstream_source_consecutive_failures{source=\"acme\"}") == 1);
    CHECK(series_value(out.data, "crmstream_source_failing_tables{source=\"acme\"}") == 1);
    CHECK(series_value(
              out.data,
              "crmstream_source_last_error_timestamp_seconds{source=\"acme\",kind=\"auth\"}") >=
          (double)now / 1000.0);
    double lag = series_value(out.data, "crmstream_source_lag_seconds{source=\"acme\"}");
    CHECK(lag >= 90.5 && lag < 100);
    lag = series_value(out.data, "crmstream_bookmark_age_seconds{source=\"acme\",table=\"items\"}");
    CHECK(lag >= 90.5 && lag < 100);
    /* tables without a bookmark have no lag line */
    CHECK(series_value(out.data,
                       "crmstream_bookmark_age_seconds{source=\"acme\",table=\"users\"}") == -1);
    CHECK(series_value(out.data,
                       "crmstream_errors_total{source=\"acme\",table=\"users\",kind=\"http\"}") ==
          1);
    CHECK(series_value(out.data,
                       "crmstream_errors_total{source=\"acme\",table=\"items\",kind=\"auth\"}") ==
          1);
    CHECK_CONTAINS(out.data, "# TYPE crmstream_source_state gauge\n");

    /* the same as JSON */
    json_t *st = metrics_status_json();
    json_t *src = json_array_get(json_object_get(st, "sources"), 0);
    CHECK_STR(json_string_value(json_object_get(src, "source")), "acme");
    CHECK_STR(json_string_value(json_object_get(src, "state")), "auth_failed");
    CHECK_STR(json_string_value(json_object_get(src, "last_error_kind")), "auth");
    json_t *tables = json_object_get(src, "table_status");
    CHECK(json_array_size(tables) == 3);
    CHECK_STR(json_string_value(json_object_get(json_array_get(tables, 1), "last_error")),
              "timeout");
    CHECK(json_integer_value(json_object_get(json_array_get(tables, 0), "lag_ms")) >= 90500);
    CHECK(json_is_true(json_object_get(json_array_get(tables, 2), "unavailable")));
    json_decref(st);

    /* a new successful pass clears auth_failed; no table running: stopped */
    table_metrics_pass_succeeded(&t[0]);
    metrics_source_health(&s, now_wall_ms(), &h);
    CHECK(h.state == SOURCE_STOPPED);

    for (int i = 0; i < 3; i++)
        table_metrics_destroy(&t[i]);
    metrics_source_health(&s, now_wall_ms(), &h);
    CHECK(h.tables == 0);
    source_metrics_destroy(&s);
    buf_reset(&out);
    metrics_render(&out);
    CHECK(strstr(out.data, "source=\"acme\"") == NULL);
    buf_free(&out);
}

static void check_lateness(void)
{
    table_metrics t;
    table_metrics_init(&t, "late", "items");
    table_metrics_pass_started(&t, 0); /* the first pass: no schedule, not counted */
    buf out;
    buf_init(&out);
    metrics_render(&out);
    CHECK(series_value(out.data, "crmstream_poll_lateness_seconds_count") == 0);
    table_metrics_pass_started(&t, now_monotonic_ms() - 3000); /* 3 s late */
    table_metrics_pass_started(&t, now_monotonic_ms() + 500);  /* early: on time */
    buf_reset(&out);
    metrics_render(&out);
    CHECK(series_value(out.data, "crmstream_poll_lateness_seconds_count") == 2);
    CHECK(series_value(out.data, "crmstream_poll_lateness_seconds_bucket{le=\"0.01\"}") == 1);
    CHECK(series_value(out.data, "crmstream_poll_lateness_seconds_bucket{le=\"2.5\"}") == 1);
    CHECK(series_value(out.data, "crmstream_poll_lateness_seconds_bucket{le=\"5\"}") == 2);
    CHECK(series_value(out.data, "crmstream_poll_lateness_seconds_bucket{le=\"+Inf\"}") == 2);
    double max = series_value(out.data, "crmstream_poll_lateness_max_seconds");
    CHECK(max >= 3.0 && max < 4.0);
    CHECK(atomic_load(&t.max_lateness_ms) >= 3000 && atomic_load(&t.lateness_ms) == 0);
    buf_free(&out);
    table_metrics_destroy(&t);
}

static void check_shards(void)
{
    shard_metrics a, b;
    shard_metrics_init(&a, 0);
    shard_metrics_init(&b, 3);
    atomic_store(&a.assigned, 1);
    atomic_store(&a.sources, 2);
    atomic_store(&b.sources, 1); /* not run here */
    shard_metrics_transaction(&a, 1);
    shard_metrics_transaction(&a, 1);
    shard_metrics_transaction(&a, 0);
    buf out;
    buf_init(&out);
    metrics_render(&out);
    CHECK(series_value(out.data, "crmstream_shard_assigned{shard=\"0\"}") == 1);
    CHECK(series_value(out.data, "crmstream_shard_assigned{shard=\"3\"}") == 0);
    CHECK(series_value(out.data, "crmstream_shard_sources{shard=\"0\"}") == 2);
    CHECK(series_value(out.data, "crmstream_shard_transactions_committed_total{shard=\"0\"}") == 2);
    CHECK(series_value(out.data, "crmstream_shard_transactions_aborted_total{shard=\"0\"}") == 1);
    CHECK(series_value(out.data, "crmstream_shard_last_commit_timestamp_seconds{shard=\"0\"}") >=
          (double)(now_wall_ms() - 60000) / 1000.0);
    CHECK(series_value(out.data, "crmstream_shard_last_commit_timestamp_seconds{shard=\"3\"}") ==
          0);
    /* a source of shard 3, which another instance runs: neither it nor its table shown here */
    source_metrics src;
    table_metrics tm;
    source_metrics_init(&src, "elsewhere");
    src.in_shard = &b;
    table_metrics_init(&tm, "elsewhere", "items");
    table_metrics_attach(&tm, &src);
    buf_reset(&out);
    metrics_render(&out);
    CHECK(strstr(out.data, "source=\"elsewhere\"") == NULL);
    atomic_store(&b.assigned, 1); /* the group moves shard 3 here */
    buf_reset(&out);
    metrics_render(&out);
    CHECK(series_value(out.data,
                       "crmstream_source_state{source=\"elsewhere\",state=\"stopped\"}") == 1);
    CHECK(series_value(out.data, "crmstream_pages_total{source=\"elsewhere\",table=\"items\"}") ==
          0);
    atomic_store(&b.assigned, 0);
    json_t *st = metrics_status_json();
    CHECK(json_array_size(json_object_get(st, "sources")) == 0);
    json_decref(st);
    table_metrics_destroy(&tm);
    source_metrics_destroy(&src);

    st = metrics_status_json();
    json_t *list = json_object_get(st, "shards");
    CHECK(json_array_size(list) == 2);
    CHECK(json_is_true(json_object_get(json_array_get(list, 0), "assigned")));
    CHECK(json_integer_value(json_object_get(json_array_get(list, 0), "commits")) == 2);
    CHECK(json_integer_value(json_object_get(json_array_get(list, 1), "shard")) == 3);
    json_decref(st);
    shard_metrics_destroy(&a);
    shard_metrics_destroy(&b);
    buf_reset(&out);
    metrics_render(&out);
    CHECK(strstr(out.data, "crmstream_shard_assigned{") == NULL);
    buf_free(&out);
}

/* 1,000 sources x 3 tables: every line well-formed, one per series; the time is printed. */
static void check_render_many(void)
{
    enum { SOURCES = 1000, TABLES = 3 };
    static source_metrics s[SOURCES];
    static table_metrics t[SOURCES * TABLES];
    static kafka_metrics k[SOURCES];
    static char names[SOURCES][16];
    const char *tn[TABLES] = {"items", "users", "events"};
    int64_t now = now_wall_ms();
    for (int i = 0; i < SOURCES; i++) {
        snprintf(names[i], sizeof(names[i]), "s%04d", i + 1);
        source_metrics_init(&s[i], names[i]);
        kafka_metrics_init(&k[i], names[i]);
        for (int j = 0; j < TABLES; j++) {
            table_metrics *m = &t[i * TABLES + j];
            table_metrics_init(m, names[i], tn[j]);
            table_metrics_attach(m, &s[i]);
            table_metrics_set_running(m, 1);
            table_metrics_observe_http(m, 200, 40);
            table_metrics_restored(m, now - 1000 * (i + 1));
        }
    }
    buf out;
    buf_init(&out);
    double best = 1e9;
    for (int round = 0; round < 3; round++) {
        buf_reset(&out);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        metrics_render(&out);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        best = ms < best ? ms : best;
    }
    long lines = 0, bad = 0, source_lines = 0;
    for (char *p = out.data; *p;) {
        char *nl = strchr(p, '\n');
        if (!nl)
            break;
        lines++;
        if (*p != '#') {
            char *sp = memrchr(p, ' ', (size_t)(nl - p));
            bad += !sp || strncmp(p, "crmstream_", 10) != 0 || sp[1] == '\n';
            source_lines += strncmp(p, "crmstream_source_", 17) == 0;
        }
        p = nl + 1;
    }
    CHECK(bad == 0);
    /* per source: 3 states + last success + lag + last error + failures + failing + lateness */
    CHECK(source_lines == SOURCES * 9);
    CHECK(series_value(out.data, "crmstream_source_lag_seconds{source=\"s0500\"}") >= 500.0);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    json_t *st = metrics_status_json();
    char *text = json_dumps(st, JSON_COMPACT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    CHECK(json_array_size(json_object_get(st, "sources")) == SOURCES);
    printf("test_metrics: /metrics of %d sources x %d tables: %ld lines, %zu bytes, rendered in "
           "%.1f ms; /status %zu bytes in %.1f ms\n",
           SOURCES, TABLES, lines, out.len, best, text ? strlen(text) : 0,
           (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6);
    free(text);
    json_decref(st);
    buf_free(&out);
    for (int i = 0; i < SOURCES; i++) {
        for (int j = 0; j < TABLES; j++)
            table_metrics_destroy(&t[i * TABLES + j]);
        kafka_metrics_destroy(&k[i]);
        source_metrics_destroy(&s[i]);
    }
}

int main(void)
{
    check_lag();
    check_source_health();
    check_lateness();
    check_shards();
    check_render_many();
    return check_summary("test_metrics");
}
