/* test_source_options.c — connector options resolved once per source into the connector's typed
 * struct (CONNECTOR_OPTION): defaults, configured values, durations in seconds, secrets from the
 * environment, and the by-name lookup Close keeps for options its tables name. */
#include <stdlib.h>
#include <unistd.h>

#include "../../connectors/close/close_internal.h"
#include "check.h"
#include "source.h"

static crm_config *cfg;

static source *source_open(const char *options)
{
    char path[64], text[1024], err[512] = "";
    snprintf(path, sizeof(path), "/tmp/crmstream-srcopt-%d.cfg", (int)getpid());
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
             "sources = ( { type = \"close\"; name = \"c\"; options = { %s }; } );\n",
             options);
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

int main(void)
{
    setenv("CLOSE_API_KEY", "unit-close-key", 1);
    test_defaults();
    test_configured_values();
    return check_summary("source_options");
}
