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
/* Who runs which shard: static = this instance runs them all; group = the instances of a
 * deployment share them through a Kafka consumer group (shard_group.h). */
typedef enum { COORDINATION_STATIC = 0, COORDINATION_GROUP } coordination_mode;

typedef struct kv {
    char *key;
    char *value;
    int line;
} kv;

typedef struct kafka_config {
    char *bootstrap_servers;
    char *topic_prefix;
    char *deployment; /* names the producers, group and coordination topic; default topic_prefix */
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
    kv *secret_properties; /* also those of properties_file (read from files) */
    int n_secret_properties;
    kv *file_properties; /* properties_file as written ("property=path"); values moved into
                            secret_properties at load */
    int n_file_properties;
    int transaction_timeout_ms;
    int commit_max_events; /* pages of a table share a commit until it holds this many events */
    int commit_max_age_ms; /* ... or its first page is this old */
    int commit_max_mb;     /* ... or its events hold this many MiB */
    coordination_mode coordination;
    int group_session_timeout_ms; /* coordination = group: a silent instance's shards move after */
    int shards;            /* sources share this many transactional producers (shard.h) */
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
    char *file;  /* the sources_dir file it came from; NULL: the config file itself */
    kv *options; /* connector options as written */
    int n_options;
    kv *file_secrets; /* OPT_ENV options given as their file twin (<x>_file, secret.h): key the
                         option's name, value the file's secret (NULL for commands that never
                         talk to a CRM; never print it), line the twin's */
    int n_file_secrets;
    int line;
} source_config;

/* Optional Confluent Schema Registry: when url is set, values and keys are framed in the
 * Confluent wire format and schemas are registered under <topic>-value / <topic>-key. */
typedef struct registry_config {
    char *url;      /* NULL: no registry (single-object encoding + schemas topic) */
    char *username; /* basic auth user, or NULL */
    char *password; /* the secret read from password_env or password_file (never print it) */
    char *password_env;
    char *password_file; /* as written */
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
    int workers;          /* scheduler threads running the tables' passes (sched_pool.h) */
    kafka_config kafka;
    registry_config registry;
    source_config *sources;
    int n_sources;
    char *sources_dir; /* as written; its *.cfg files add one source each (read at start) */
} crm_config;

/* ---- the settings map ----------------------------------------------------------------------
 * One table per config section drives parsing, validation, defaults, `crmstream tables`' listing
 * and the test that producer.cfg.example documents every setting. */

typedef enum {
    SPEC_STRING = 0,
    SPEC_URL,  /* a string starting with http:// or https:// */
    SPEC_NAME, /* 1-100 characters of [A-Za-z0-9._-] (part of topic names) */
    SPEC_INT,  /* in [min, max] */
    SPEC_BOOL,
    SPEC_RATE,           /* requests per second (double), not negative */
    SPEC_DURATION,       /* "30s", "5m"... or seconds, stored as int seconds in [min, max] */
    SPEC_DURATION_MS,    /* the same, stored as int milliseconds */
    SPEC_DATE,           /* "2024-01-01" or RFC 3339, stored as int64 ms */
    SPEC_CHOICE,         /* one of choices' names, stored as its int value */
    SPEC_KV_LIST,        /* "name=value" strings: kv * at offset, count (int) at aux_offset */
    SPEC_SECRET_KV_LIST, /* "name=ENV_VAR" strings, values replaced by the variables' secrets */
    SPEC_SECRET_ENV,     /* the name of an environment variable (at offset); its secret goes
                            to aux_offset */
    SPEC_SECRET_FILE,    /* the path of a file (at offset) holding a secret (secret.h), which
                            goes to aux_offset */
    SPEC_TABLE_LIST,     /* names of tables of the source's connector: char ** at offset, count
                            (int) at aux_offset */
    SPEC_GROUP,          /* a group or list read by group() */
} config_spec_type;

enum {
    SPEC_REQUIRED = 1,   /* "<name> is required" when absent from its group */
    SPEC_TRIM_SLASH = 2, /* SPEC_URL: trailing slashes removed */
};

typedef struct config_choices {
    const char *noun; /* "unknown <noun> \"x\" (<hint>)" */
    const char *hint;
    const char *names[8]; /* NULL-terminated */
    int values[8];
} config_choices;

struct config_loader;
struct config_setting_t;
/* Reads a SPEC_GROUP setting into the section's struct. */
typedef int (*config_group_fn)(struct config_loader *ld, const struct config_setting_t *s,
                               void *base);

typedef struct config_spec {
    config_spec_type type;
    const char *name;
    const char *default_value; /* as a config writes it; NULL: none (or see doc) */
    size_t offset;             /* destination in the section's struct (offsetof) */
    size_t aux_offset;         /* SPEC_KV_LIST: count; SPEC_SECRET_ENV: the secret */
    long long min, max;        /* SPEC_INT and durations (seconds); max 0: no upper bound */
    unsigned flags;
    const config_choices *choices; /* SPEC_CHOICE */
    config_group_fn group;         /* SPEC_GROUP */
    const char *doc;               /* one line for `crmstream tables --settings` */
} config_spec;

typedef struct config_section {
    const char *name;         /* "" (top level), "kafka", "metrics", "schema_registry", "sources[]",
                                 "sources[].tables" */
    const config_spec *specs; /* terminated by an entry with name == NULL */
} config_section;

/* Every section of the configuration, terminated by an entry with specs == NULL. */
extern const config_section config_sections[];
/* "string", "integer", "duration"... for listings. */
const char *config_spec_type_name(config_spec_type t);
/* The values a setting accepts, for listings: "1..10000", "1s..15m", ">= 1s", "logfmt|json";
 * "" when any value of its type is. */
void config_spec_range(const config_spec *sp, char *out, size_t outlen);

/* Loads and validates; on error writes one line to err ("file:line: setting: problem") and
 * returns NULL. */
crm_config *config_load(const char *path, char *err, size_t errlen);
/* The same, for commands that never talk to a CRM (`tables`, `state`, `peek`): the environment
 * variables holding CRM credentials may be unset. Everything else is validated alike. */
crm_config *config_load_without_crm_secrets(const char *path, char *err, size_t errlen);
void config_free(crm_config *cfg);
/* The config file alone, for a reload: its settings and sources = ( ... ), sources_dir not
 * read (config_sources.h reads it file by file) and sources = ( ... ) may be empty. */
crm_config *config_load_settings(const char *path, char *err, size_t errlen);

/* One file of sources_dir read alone (its top level one source's settings, paths in it taken
 * from its directory): a malloc'd source (free with config_source_free), or NULL with err
 * "file:line: setting: problem". crm_secrets_required as config_load (1) or
 * config_load_without_crm_secrets (0). */
source_config *config_load_source_file(const char *path, int crm_secrets_required, char *err,
                                       size_t errlen);
void config_source_free(source_config *sc);
/* sources_dir as a path (relative to the config file's directory), malloc'd; NULL when unset. */
char *config_sources_dir_path(const crm_config *cfg);
/* The paths of dir's source files (*.cfg, not hidden; regular files or links to them), in name
 * order, NULL-terminated, count in *n; NULL with err when dir cannot be read. */
char **config_source_files(const char *dir, int *n, char *err, size_t errlen);
void config_source_files_free(char **paths, int n);

/* Parses "30s", "5m", "2h", "7d" or plain seconds; -1 when invalid. */
long long config_parse_duration(const char *s);

/* The lookback of a table in a source: override or the connector default. */
int config_table_lookback(const source_config *sc, const char *table, int def);
/* 1 when the table is enabled by include/exclude. */
int config_table_enabled(const source_config *sc, const char *table);

#endif
