/* test_config.c — config validation: good files load; each kind of mistake is one line naming
 * file:line and the setting. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "crm_time.h"

static char path[64];

static crm_config *load_text(const char *text, char *err, size_t errlen)
{
    snprintf(path, sizeof(path), "/tmp/crmstream-test-%d.cfg", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    crm_config *c = config_load(path, err, errlen);
    unlink(path);
    return c;
}

#define KAFKA      "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
#define SRC(extra) "sources = ( { type = \"testcrm\"; name = \"s1\";\n" extra "} );\n"

static void expect_error(const char *text, const char *line_part, const char *needle)
{
    char err[1024] = "";
    crm_config *c = load_text(text, err, sizeof(err));
    CHECK(c == NULL);
    config_free(c);
    CHECK_CONTAINS(err, line_part);
    CHECK_CONTAINS(err, needle);
    CHECK(strchr(err, '\n') == NULL);
}

static void test_good_config(void)
{
    char err[1024] = "";
    crm_config *c =
        load_text(KAFKA "log_level = \"debug\";\n" SRC("base_url = \"http://127.0.0.1:1/\";\n"
                                                       "start_date = \"2024-02-03\";\n"
                                                       "poll_interval = \"2m\";\n"
                                                       "rate_limit = 2;\n"
                                                       "tables = { exclude = [\"users\"]; };\n"
                                                       "lookback = { items = \"1h\"; };\n"
                                                       "options = { page_size = 10; };\n"),
                  err, sizeof(err));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK_STR(c->kafka.topic_prefix, "crm");
    CHECK_STR(c->kafka.deployment, "crm"); /* defaults to the topic prefix */
    CHECK(c->kafka.delivery == DELIVERY_EXACTLY_ONCE);
    CHECK(c->n_sources == 1);
    CHECK_STR(c->sources[0].base_url, "http://127.0.0.1:1");
    CHECK(c->sources[0].poll_interval_s == 120);
    CHECK(c->sources[0].rate == 2.0);
    int64_t ms;
    crm_time_parse("2024-02-03T00:00:00Z", &ms);
    CHECK(c->sources[0].start_ms == ms);
    CHECK(config_table_enabled(&c->sources[0], "items"));
    CHECK(!config_table_enabled(&c->sources[0], "users"));
    CHECK(config_table_lookback(&c->sources[0], "items", 5) == 3600);
    CHECK(config_table_lookback(&c->sources[0], "events", 5) == 5);
    CHECK(c->log_level == LOG_DEBUG);
    CHECK(c->registry.url == NULL);
    CHECK(c->kafka.commit_max_events == 8000 && c->kafka.commit_max_age_ms == 1000);
    CHECK(c->kafka.commit_max_mb == 2);
    config_free(c);

    c = load_text("kafka = { bootstrap_servers = \"x\"; commit_max_events = 500;\n"
                  "  commit_max_age = \"5s\"; commit_max_mb = 16; };\n" SRC(""),
                  err, sizeof(err));
    CHECK(c && c->kafka.commit_max_events == 500 && c->kafka.commit_max_age_ms == 5000);
    CHECK(c && c->kafka.commit_max_mb == 16);
    config_free(c);

    c = load_text("kafka = { bootstrap_servers = \"x\"; topic_prefix = \"p\";\n"
                  "  deployment = \"team-b\"; };\n" SRC(""),
                  err, sizeof(err));
    CHECK(c && strcmp(c->kafka.topic_prefix, "p") == 0 &&
          strcmp(c->kafka.deployment, "team-b") == 0);
    config_free(c);

    setenv("CRMSTREAM_TEST_SR_PASSWORD", "s3cret", 1);
    c = load_text(
        KAFKA "schema_registry = { url = \"https://sr:8081\"; username = \"u\";\n"
              "  password_env = \"CRMSTREAM_TEST_SR_PASSWORD\"; verify_tls = false; };\n" SRC(""),
        err, sizeof(err));
    CHECK(c && c->registry.url && strcmp(c->registry.url, "https://sr:8081") == 0);
    CHECK(c && c->registry.password && strcmp(c->registry.password, "s3cret") == 0);
    CHECK(c && !c->registry.verify_tls && c->registry.timeout_s == 30);
    config_free(c);
}

static void test_errors(void)
{
    expect_error(KAFKA SRC("") "bogus = 1;\n", ":4:", "bogus: unknown setting");
    expect_error("kafka = { bootstrap_servers = 1; };\n" SRC(""),
                 ":1:", "kafka.bootstrap_servers: expected a string");
    expect_error("kafka = { };\n" SRC(""), ":1:", "bootstrap_servers is required");
    expect_error("kafka = { bootstrap_servers = \"x\";\n commit_max_events = 0; };\n" SRC(""),
                 ":2:", "kafka.commit_max_events");
    expect_error("kafka = { bootstrap_servers = \"x\";\n commit_max_mb = 0; };\n" SRC(""),
                 ":2:", "kafka.commit_max_mb");
    expect_error("kafka = { bootstrap_servers = \"x\";\n commit_max_age = \"2m\"; };\n" SRC(""),
                 ":2:", "must be between 1s and 60s");
    expect_error("kafka = { bootstrap_servers = \"x\";\n deployment = \"a b\"; };\n" SRC(""),
                 ":2:", "deployment must be 1-100 characters");
    expect_error("kafka = { bootstrap_servers = \"x\"; delivery = \"twice\"; };\n" SRC(""),
                 ":1:", "unknown delivery mode \"twice\"");
    expect_error(KAFKA "sources = ( { type = \"salesforce\"; name = \"a\"; } );\n",
                 ":2:", "unknown source type \"salesforce\"");
    expect_error(KAFKA SRC("poll_interval = \"5 minutes\";\n"),
                 ":3:", "sources[0].poll_interval: invalid duration");
    expect_error(KAFKA SRC("start_date = \"yesterday\";\n"), ":3:", "invalid date \"yesterday\"");
    expect_error(KAFKA SRC("tables = { include = [\"nope\"]; };\n"),
                 ":3:", "testcrm has no table \"nope\"");
    expect_error(KAFKA SRC("options = { token_env = \"CRMSTREAM_UNSET_VAR\"; };\n"),
                 ":3:", "environment variable CRMSTREAM_UNSET_VAR is not set");
    expect_error(KAFKA SRC("options = { color = \"red\"; };\n"),
                 ":3:", "color: unknown option for testcrm");
    expect_error(KAFKA SRC("base_url = \"ftp://x\";\n"), ":3:", "must start with http://");
    expect_error(KAFKA "sources = ( { type = \"testcrm\"; name = \"a\"; },"
                       " { type = \"testcrm\"; name = \"a\"; } );\n",
                 ":2:", "duplicate source name \"a\"");
    expect_error(KAFKA "sources = ( { type = \"testcrm\"; name = \"a b\"; } );\n",
                 ":2:", "name must be");
    expect_error(KAFKA "sources = ( { type = \"testcrm\"; name = \"a\"\n", ":", "syntax error");
    expect_error(KAFKA, ":", "must list at least one source");
    expect_error(SRC(""), ":", "kafka");
    expect_error(KAFKA "schema_registry = { username = \"u\"; };\n" SRC(""),
                 ":2:", "schema_registry: url is required");
    expect_error(KAFKA "schema_registry = { url = \"registry:8081\"; };\n" SRC(""),
                 ":2:", "schema_registry.url: url must start with http:// or https://");
    expect_error(
        KAFKA
        "schema_registry = { url = \"http://r\"; password_env = \"CRMSTREAM_UNSET_VAR\"; };\n" SRC(
            ""),
        ":2:", "environment variable CRMSTREAM_UNSET_VAR is not set");
    expect_error(KAFKA "schema_registry = { url = \"http://r\"; subject = \"x\"; };\n" SRC(""),
                 ":2:", "unknown setting (expected url, username");
    expect_error(KAFKA SRC("max_rate_limit_wait = \"8d\";\n"), ":3:", "between 1s and 7d");
    expect_error(KAFKA SRC("max_response_mb = 0;\n"), ":3:", "max_response_mb: must be between");
    char err[256];
    CHECK(config_load("/nonexistent/x.cfg", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "/nonexistent/x.cfg: cannot read file");
}

/* #15 item 12: a secret with a control character (CR/LF would add a header line) is refused at
 * load, naming the variable and never the value. */
static void test_secret_control_characters(void)
{
    char err[1024] = "";
    setenv("CRMSTREAM_TEST_BAD_TOKEN", "tok3n\r\nX-Injected: 1", 1);
    crm_config *c = load_text(
        KAFKA SRC("options = { token_env = \"CRMSTREAM_TEST_BAD_TOKEN\"; };\n"), err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, ":3:");
    CHECK_CONTAINS(err,
                   "environment variable CRMSTREAM_TEST_BAD_TOKEN contains a control character");
    CHECK(!strstr(err, "tok3n") && !strstr(err, "Injected"));
    config_free(c);
    /* the connector's default variable too (testcrm: TESTCRM_TOKEN) */
    setenv("TESTCRM_TOKEN", "abc\x7f", 1);
    c = load_text(KAFKA SRC(""), err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, "options.token_env (default TESTCRM_TOKEN): environment variable "
                        "TESTCRM_TOKEN contains a control character");
    CHECK(!strstr(err, "abc"));
    config_free(c);
    setenv("TESTCRM_TOKEN", "secret-token", 1);
    /* and the schema registry's password */
    setenv("CRMSTREAM_TEST_SR_PASSWORD", "pw\n", 1);
    c = load_text(KAFKA "schema_registry = { url = \"http://r\";\n"
                        "  password_env = \"CRMSTREAM_TEST_SR_PASSWORD\"; };\n" SRC(""),
                  err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, ":3:");
    CHECK_CONTAINS(err, "CRMSTREAM_TEST_SR_PASSWORD contains a control character");
    config_free(c);
}

/* #15 item 13: Kafka secrets come from the environment, never from the config file. */
static void test_kafka_properties_env(void)
{
    char err[1024] = "";
    setenv("CRMSTREAM_TEST_SASL_PW", "kafka-s3cret", 1);
    crm_config *c = load_text(
        "kafka = { bootstrap_servers = \"b:9093\";\n"
        "  properties = [\"security.protocol=SASL_SSL\", \"sasl.mechanism=SCRAM-SHA-512\"];\n"
        "  properties_env = [\"sasl.password=CRMSTREAM_TEST_SASL_PW\"]; };\n" SRC(""),
        err, sizeof(err));
    CHECK(c != NULL);
    if (c) {
        CHECK(c->kafka.n_secret_properties == 1);
        CHECK_STR(c->kafka.secret_properties[0].key, "sasl.password");
        CHECK_STR(c->kafka.secret_properties[0].value, "kafka-s3cret");
        CHECK(c->kafka.secret_properties[0].line == 3);
    }
    config_free(c);
    expect_error("kafka = { bootstrap_servers = \"b\";\n"
                 "  properties_env = [\"sasl.password=CRMSTREAM_UNSET_VAR\"]; };\n" SRC(""),
                 ":2:", "environment variable CRMSTREAM_UNSET_VAR is not set");
    expect_error("kafka = { bootstrap_servers = \"b\";\n"
                 "  properties_env = [\"sasl.password\"]; };\n" SRC(""),
                 ":2:", "expected \"name=value\"");
    setenv("CRMSTREAM_TEST_SASL_PW", "kafka-s3cret\n", 1);
    c = load_text("kafka = { bootstrap_servers = \"b\";\n"
                  "  properties_env = [\"sasl.password=CRMSTREAM_TEST_SASL_PW\"]; };\n" SRC(""),
                  err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, "CRMSTREAM_TEST_SASL_PW contains a control character");
    CHECK(!strstr(err, "s3cret"));
    config_free(c);
}

static void test_http_limits(void)
{
    char err[1024] = "";
    crm_config *c = load_text(KAFKA SRC(""), err, sizeof(err));
    CHECK(c && c->sources[0].max_rate_wait_s == 3600 && c->sources[0].max_response_mb == 64);
    config_free(c);
    c = load_text(KAFKA SRC("max_rate_limit_wait = \"10m\"; max_response_mb = 8;\n"), err,
                  sizeof(err));
    CHECK(c && c->sources[0].max_rate_wait_s == 600 && c->sources[0].max_response_mb == 8);
    config_free(c);
}

static void test_durations(void)
{
    CHECK(config_parse_duration("30") == 30);
    CHECK(config_parse_duration("30s") == 30);
    CHECK(config_parse_duration("5m") == 300);
    CHECK(config_parse_duration("24h") == 86400);
    CHECK(config_parse_duration("7d") == 604800);
    CHECK(config_parse_duration("") == -1);
    CHECK(config_parse_duration("-1") == -1);
    CHECK(config_parse_duration("5x") == -1);
    CHECK(config_parse_duration("m") == -1);
    /* a product beyond long long is refused, not wrapped (213503982334602 * 86400 wraps to
     * 61184) */
    CHECK(config_parse_duration("213503982334602d") == -1);
    CHECK(config_parse_duration("9223372036854775807h") == -1);
    CHECK(config_parse_duration("9223372036854775807") == 9223372036854775807LL);
    CHECK(config_parse_duration("106751991167300d") == 106751991167300LL * 86400);
}

int main(void)
{
    setenv("TESTCRM_TOKEN", "secret-token", 1);
    unsetenv("CRMSTREAM_UNSET_VAR");
    test_good_config();
    test_errors();
    test_durations();
    test_secret_control_characters();
    test_http_limits();
    test_kafka_properties_env();
    return check_summary("config");
}
