/* test_source_options.c — connector options resolved once per source into the connector's typed
 * struct (CONNECTOR_OPTION): defaults, configured values, durations in seconds, secrets from the
 * environment, and the by-name lookup Close keeps for options its tables name. */
#include <stdlib.h>
#include <unistd.h>

#include "../../connectors/close/close_internal.h"
#include "check.h"
#include "crm_time.h"
#include "source.h"

static crm_config *cfg;

/* A Close source with these source settings (e.g. start_date) and options. */
static source *source_open_with(const char *settings, const char *options)
{
    char path[64], text[1024], err[512] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-srcopt-%d.cfg", (int)getpid());
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
             "sources = ( { type = \"close\"; name = \"c\"; %s options = { %s }; } );\n",
             settings, options);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    cfg = config_load(path, err, sizeof(err));
    unlink(path);
    if (!cfg) {
        fprintf(stderr, "config: %s\n", err);
        return NULL;
    }
    source *src = source_new(&cfg->sources[0], err, sizeof(err));
    if (!src)
        fprintf(stderr, "source: %s\n", err);
    return src;
}

static source *source_open(const char *options)
{
    return source_open_with("", options);
}

static void source_close(source *src)
{
    source_free(src);
    config_free(cfg);
    cfg = NULL;
}

static void test_defaults(void)
{
    source *src = source_open("");
    CHECK(src != NULL);
    if (!src)
        return;
    const close_opts *o = close_opts_of(src);
    CHECK_STR(o->api_key_env, "unit-close-key"); /* the secret, not the variable's name */
    CHECK(o->page_size == 100 && o->search_page_size == 100 && o->task_page_size == 1000);
    CHECK(o->max_skip == 250000);
    CHECK(o->search_cursor_ttl == 20 && o->event_lag == 300 && o->event_activity_window == 86400);
    CHECK(o->attribution_window == 0 && o->report_window == 0);
    CHECK(o->deletes_fallback_interval == 3600);
    source_close(src);
}

static void test_configured_values(void)
{
    setenv("CRMSTREAM_TEST_OTHER_KEY", "other-key", 1);
    source *src = source_open("api_key_env = \"CRMSTREAM_TEST_OTHER_KEY\"; page_size = 7;\n"
                              "event_lag = \"2m\"; deletes_fallback_interval = 90;\n"
                              "report_window = \"3d\";");
    CHECK(src != NULL);
    if (!src)
        return;
    const close_opts *o = close_opts_of(src);
    CHECK_STR(o->api_key_env, "other-key");
    CHECK(o->page_size == 7 && o->search_page_size == 100);
    CHECK(o->event_lag == 120 && o->deletes_fallback_interval == 90);
    CHECK(o->report_window == 3 * 86400);
    /* options named by table data read the same struct */
    CHECK(close_option_int(src, "page_size") == 7);
    CHECK(close_option_int(src, "opportunity_page_size") == 250);
    source_close(src);
}

/* The day the first request of a report table's first pass starts at ("YYYY-MM-DD"). */
static void first_report_day(source *src, int64_t now_ms, char *day, size_t len)
{
    const table_def *t = connector_table(source_connector(src), "report_activity_daily");
    table_ctx ctx = {.src = src,
                     .table = t,
                     .from_ms = source_start_ms(src),
                     .until_ms = now_ms,
                     .bookmark_ms = CRM_TIME_NONE,
                     .paging = json_pack("{s:[s]}", "metrics", "calls")}; /* metric keys known */
    http_request req;
    http_request_init(&req);
    char err[256] = "";
    day[0] = '\0';
    CHECK(t && t->next_request(&ctx, &req, err, sizeof(err)) == REQ_READY);
    json_t *body = json_loadb(req.body.data ? req.body.data : "", req.body.len, 0, NULL);
    if (getenv("DUMP"))
        fprintf(stderr, "%s %s body: %.*s\n", req.method ? req.method : "GET", req.url.data,
                (int)req.body.len, req.body.data ? req.body.data : "");
    const char *start =
        json_string_value(json_object_get(json_object_get(body, "datetime_range"), "start"));
    CHECK(start != NULL);
    if (start)
        snprintf(day, len, "%.10s", start);
    json_decref(body);
    json_decref(ctx.paging);
    http_request_free(&req);
}

/* report_history bounds how far back a report table's first pass goes; 0 keeps start_date. */
static void test_report_history(void)
{
    int64_t now = 0;
    char day[16];
    CHECK(crm_time_parse("2026-12-07T12:00:00Z", &now) == 0);
    source *src = source_open_with("start_date = \"2020-01-01\";", "");
    if (src) {
        first_report_day(src, now, day, sizeof(day));
        CHECK_STR(day, "2020-01-01");
        source_close(src);
    }
    src = source_open_with("start_date = \"2020-01-01\";", "report_history = \"30d\";");
    if (src) {
        first_report_day(src, now, day, sizeof(day));
        CHECK_STR(day, "2026-11-07");
        source_close(src);
    }
    /* a start_date inside the history wins */
    src = source_open_with("start_date = \"2026-12-01\";", "report_history = \"30d\";");
    if (src) {
        first_report_day(src, now, day, sizeof(day));
        CHECK_STR(day, "2026-12-01");
        source_close(src);
    }
}

int main(void)
{
    setenv("CLOSE_API_KEY", "unit-close-key", 1);
    test_defaults();
    test_configured_values();
    test_report_history();
    return check_summary("source_options");
}
