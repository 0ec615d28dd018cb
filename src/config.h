/* config.h — the producer configuration (libconfig), validated up front.
 *
 * Every error names file:line and the setting and makes `crmstream` exit with code 2 before
 * anything is produced. producer.cfg.example documents every setting. */
#ifndef CRM_CONFIG_H
#define CRM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"

#define EXIT_CONFIG 2

typedef enum { DELIVERY_AT_LEAST_ONCE = 0, DELIVERY_EXACTLY_ONCE } delivery_mode;

typedef struct kv {
    char *key;
    char *value;
    int line;
} kv;

typedef struct kafka_config {
    char *bootstrap_servers;
    char *topic_prefix;
    char *state_topic;
    char *schemas_topic; /* compacted: fingerprint -> writer schema */
    delivery_mode delivery;
    int topic_partitions;
    int replication_factor;
    kv *topic_config; /* applied when creating data topics */
    int n_topic_config;
    kv *properties; /* passed to librdkafka as is */
    int n_properties;
    /* properties_env: librdkafka properties whose values come from environment variables
     * (sasl.password, ssl.key.password...); value = the secret itself, never print it. */
    kv *secret_properties;
    int n_secret_properties;
    int transaction_timeout_ms;
    int commit_max_events; /* pages of a table share a commit until it holds this many events */
    int commit_max_age_ms; /* ... or its first page is this old */
} kafka_config;

typedef struct table_override {
    char *table;
    int lookback_s; /* -1: connector default */
    int line;
} table_override;

typedef struct source_config {
    char *type;
    char *name;
    char *base_url; /* NULL: connector default */
    int64_t start_ms;
    int poll_interval_s;
    int reconcile_interval_s; /* 0: never */
    char **include;           /* NULL: all tables */
    int n_include;
    char **exclude;
    int n_exclude;
    table_override *overrides;
    int n_overrides;
    double rate;         /* requests per second; <0: connector default */
    int burst;           /* <0: connector default */
    int timeout_s;       /* per request */
    int max_rate_wait_s; /* longest rate-limit wait the API may impose (default 1 h) */
    int max_response_mb; /* decoded response body limit (default 64 MiB) */
    int verify_tls;
    char *ca_file;
    kv *options; /* connector options as written */
    int n_options;
    int line;
} source_config;

/* Optional Confluent Schema Registry: when url is set, values and keys are framed in the
 * Confluent wire format and schemas are registered under <topic>-value / <topic>-key. */
typedef struct registry_config {
    char *url;      /* NULL: no registry (single-object encoding + schemas topic) */
    char *username; /* basic auth user, or NULL */
    char *password; /* the secret read from password_env (never print it) */
    char *password_env;
    int verify_tls;
    char *ca_file;
    int timeout_s;
    int line;
} registry_config;

typedef struct crm_config {
    char *path;
    log_level log_level;
    int log_json;         /* log_format = "json" */
    char *metrics_listen; /* NULL: no metrics/probe listener */
    int metrics_port;
    int shutdown_grace_s; /* SIGTERM: exit within this */
    int progress_s;       /* progress line cadence during long passes */
    kafka_config kafka;
    registry_config registry;
    source_config *sources;
    int n_sources;
} crm_config;

/* Loads and validates; on error writes one line to err ("file:line: setting: problem") and
 * returns NULL. */
crm_config *config_load(const char *path, char *err, size_t errlen);
/* The same, for commands that never talk to a CRM (`tables`, `state`, `peek`): the environment
 * variables holding CRM credentials may be unset. Everything else is validated alike. */
crm_config *config_load_without_crm_secrets(const char *path, char *err, size_t errlen);
void config_free(crm_config *cfg);

/* Parses "30s", "5m", "2h", "7d" or plain seconds; -1 when invalid. */
long long config_parse_duration(const char *s);

/* The lookback of a table in a source: override or the connector default. */
int config_table_lookback(const source_config *sc, const char *table, int def);
/* 1 when the table is enabled by include/exclude. */
int config_table_enabled(const source_config *sc, const char *table);

#endif
