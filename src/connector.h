/* connector.h — what a CRM connector declares, and what the engine gives it.
 *
 * A connector is data: a name, an options map (type/name/default/description/offset, which
 * drives config validation, `crmstream tables` and the typed options struct its callbacks read
 * through source_options()), and a table list. Each table names its primary key,
 * replication key, method, default lookback and .avsc file, plus two callbacks: next_request()
 * builds the next HTTP request of a sync pass from the pass context, and parse_page() turns a
 * 2xx response into records / deletes / ids and updates the connector-owned paging state.
 * The engine (src/) knows nothing about any CRM; it drives passes, dedupes, encodes, publishes and
 * commits bookmarks. */
#ifndef CRM_CONNECTOR_H
#define CRM_CONNECTOR_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "custom_fields.h"
#include "http.h"

typedef enum {
    SYNC_FULL_TABLE = 0, /* every pass reads everything; dedupe publishes only changes */
    SYNC_INCREMENTAL,    /* filter on replication key >= bookmark - lookback */
    SYNC_APPEND_ONLY,    /* like incremental on a creation key; lookback = attribution window */
} sync_method;

const char *sync_method_name(sync_method m);

/* ---- options map ------------------------------------------------------------------------- */

typedef enum {
    OPT_STRING = 0,
    OPT_INT,
    OPT_BOOL,
    OPT_DURATION, /* "30s", "5m", "24h", "7d" or plain seconds; stored as seconds */
    OPT_ENV,      /* the value names an environment variable holding a secret */
} option_type;

typedef struct connector_option {
    option_type type;
    const char *name;
    const char *default_value; /* NULL: required */
    const char *description;
    size_t offset; /* of its value in the connector's options struct (source_options()) */
} connector_option;

/* One entry of a connector's options table, declared with the connector's options struct T:
 * option `field`'s value lands in T's member of that name, whose C type follows the option type
 * (long long for OPT_INT and OPT_DURATION (seconds), int for OPT_BOOL, const char * for
 * OPT_STRING and OPT_ENV). A misspelt or mistyped member does not compile. */
#define CONNECTOR_OPTION(T, type, field, def, doc)                                                 \
    {                                                                                              \
        type, #field, def, doc,                                                                    \
            offsetof(T, field) + 0 * sizeof(char[CONNECTOR_OPTION_FITS_(type, ((T *)0)->field)])   \
    }
#define CONNECTOR_OPTION_FITS_(type, member)                                                       \
    ((type) == OPT_INT || (type) == OPT_DURATION ? _Generic((member), long long : 1, default       \
                                                            : -1)                                  \
     : (type) == OPT_BOOL                        ? _Generic((member), int : 1, default             \
                                     : -1)                                  \
                                                 : _Generic((member), const char                        *: 1, default    \
                                     : -1))

/* ---- the source as a connector sees it --------------------------------------------------- */

typedef struct source source; /* opaque, owned by the engine */

const char *source_name(const source *src);
/* Base URL without trailing slash (config override or connector default). */
const char *source_base_url(const source *src);
/* The source's options after defaults, in the connector's options struct (connector.options,
 * CONNECTOR_OPTION): OPT_ENV members hold the secret itself (never log it), or NULL for commands
 * that read no CRM secrets. Resolved once when the source is made. */
const void *source_options(const source *src);
/* The source's start_date (CRM_TIME_NONE when unset). */
int64_t source_start_ms(const source *src);
/* Seconds between ID-reconciliation passes of incremental tables (0 = never). */
int source_reconcile_interval(const source *src);
/* Credentials for every request of this source; the connector fills it in source_init(). */
http_auth *source_auth(source *src);
/* Connector-private per-source state (set in source_init, freed in source_free). */
void *source_state(const source *src);
void source_set_state(source *src, void *state);

/* ---- one sync pass of one table ---------------------------------------------------------- */

struct table_def;

typedef struct table_ctx {
    source *src;
    const struct table_def *table;
    int64_t from_ms;     /* lower bound on the replication key (bookmark - lookback, or start
                            date); CRM_TIME_NONE for full-table passes */
    int64_t until_ms;    /* wall-clock time the pass started: an upper bound for windows */
    int64_t bookmark_ms; /* committed bookmark, CRM_TIME_NONE before the first pass */
    json_t *paging;      /* connector-owned object, persisted with every committed page and
                            restored after a restart; {} at the start of a new pass */
    int reconcile;       /* 1: an ID-reconciliation pass; list every id (page->ids) */
    int confirm;         /* 1: a confirmation request (table_def.confirm_request): parse_page
                            reports the ids of the response that are alive (records or ids;
                            records the CRM marks deleted are not alive) */
    int page_no;         /* 0-based page number within the pass */
} table_ctx;

/* What parse_page() hands back. The engine owns and frees the JSON it contains. */
typedef struct page {
    json_t *records; /* array of record objects of ctx->table (may be NULL) */
    json_t *deletes; /* array of {"table": name, "id": pk [, "before": {...}] [, "ts": "..."]} */
    json_t *upserts; /* change-feed images of other tables' records, newest first:
                        array of {"table": name, "record": {...}} (published through dedupe;
                        within a pass the first image of a key wins) */
    json_t *ids;     /* reconcile passes: array of primary-key values seen (strings/integers) */
    int64_t bookmark_cap_ms;  /* when set (not CRM_TIME_NONE), the bookmark never passes it */
    int64_t total_hint;       /* records matching this request incl. this page, when the API
                                 says (e.g. a total header); 0 = unknown. Feeds the progress
                                 line's estimate of what remains */
    json_t *reconcile_tables; /* names of tables (of this source) that need an ID
                                 reconciliation pass soon, e.g. after a delete feed lost events */
    int reconcile_fallback;   /* 1: those reconciliations stand in for a change feed the
                                 credentials cannot read (routine: logged at info, counted in
                                 crmstream_fallback_reconciliations_total of each table) */
    /* The fast path, instead of `records`: [raw_off, raw_off + raw_len) of the response body is
     * the records array (connector_raw_records, which sets raw_from_response); the engine moves
     * the body into raw after parse_page, encodes each record straight from the text to Avro,
     * and parses with jansson only the records that need it. */
    buf raw;
    size_t raw_off, raw_len;
    int raw_from_response;
} page;

typedef enum {
    REQ_DONE = 0,  /* the pass is complete */
    REQ_READY = 1, /* req was built: execute it */
    REQ_ERROR = -1 /* err says why */
} req_result;

/* Typed custom fields of a table (see custom_fields.h): where the definitions are and how to
 * read them. The engine fetches the definitions table of the same source before each pass,
 * evolves the table's schema, and hands coerced values to the Avro mapping. */
typedef struct custom_fields_spec {
    /* Tables of the same connector listing the definitions (NULL-terminated; e.g. the table's
     * own fields and the shared ones); their records are handed to describe() in order. */
    const char *definitions[4];
    /* Describes one definition record when it applies to `table`: fills d with cf_desc_set()
     * (and options/currency) and returns 1; returns 0 when it does not apply. */
    int (*describe)(const struct table_def *table, const json_t *definition, cf_desc *d);
    /* Takes field `id`'s value out of rec, a shallow copy the engine owns: delete the keys it
     * consumed; replace, never modify, nested containers (they are shared with the original).
     * Returns a new reference, or NULL when the record has no value for it. */
    json_t *(*take)(json_t *rec, const char *id, cf_kind kind);
    /* Optional: removes what is redundant once custom fields are typed (e.g. a legacy dict). */
    void (*strip)(json_t *rec);
    /* Optional, the raw path (records encoded from their text, no jansson DOM): take and strip
     * said as data. Field `id`'s value is the record's top-level member raw_prefix + id, which
     * take removes; raw_strip names the top-level member strip removes when it is an object
     * (NULL: none). */
    const char *raw_prefix;
    const char *raw_strip;
    /* Or: the values are inside this one top-level member, which take() reads and rewrites
     * alone, in one of two shapes said here as data so that the raw path reads the member's
     * text: an object keyed by field id (raw_entry_id NULL: take() removes member[id]), or an
     * array of entries {raw_entry_id: <integer id>, raw_entry_value: value} (take() removes the
     * first entry of that id; its value, null when absent). NULL (and NULL raw_prefix): the DOM
     * path. */
    const char *raw_member;
    const char *raw_entry_id, *raw_entry_value;
} custom_fields_spec;

typedef struct table_def {
    const char *name;
    const char *primary_key;     /* JSON key of the primary key in records */
    const char *replication_key; /* JSON key; NULL for full table */
    sync_method method;
    int lookback_seconds;    /* default lookback / attribution window */
    const char *schema_file; /* under avro/, e.g. "close/leads.avsc" */
    int sorted;              /* 1: pages come in ascending replication-key order, so the
                                bookmark may advance after every page */
    int reconcile;           /* 1: ID reconciliation passes are supported */
    int delete_feed;         /* 1: this table's pages emit deletes for other tables */
    const char *description; /* one line for `crmstream tables` */
    /* The API's endpoint group this table's requests count against, for APIs that limit each
     * group on its own (Close): the table paces by the group's limiter, shared with the tables
     * naming the same group and learned from the limit the responses state. NULL: the source's
     * one limiter. */
    const char *rate_group;

    req_result (*next_request)(table_ctx *ctx, http_request *req, char *err, size_t errlen);
    /* Called for 2xx responses. Returns 0, or -1 with err set (e.g. invalid JSON). */
    int (*parse_page)(table_ctx *ctx, const http_response *resp, page *out, char *err,
                      size_t errlen);
    const custom_fields_spec *custom; /* NULL: no typed custom fields */
    /* The connector's own description of the table (endpoint, paging kind, entity name...), of
     * a struct type the connector defines and reads through one accessor; never read by the
     * engine. A table is one declaration: what the callbacks need to know of it is here, not
     * in a second table looked up by name. */
    const void *spec;

    /* Reconciliation safety. A listing can drift while it is read (records move or vanish
     * between its pages), so an id that a reconciliation listing did not return is only a
     * candidate for deletion. With confirm_request, the engine reads the candidates back by id,
     * at most confirm_batch (default 1) per request: `ids` is a JSON array of primary-key values
     * (keys whose text is a canonical decimal integer as JSON integers, others as strings). The
     * response goes through parse_page with ctx->confirm set; every id it reports (records, or ids)
     * is alive and is not deleted. A 404 or 410 answer means none of the request's ids exists. Any
     * other failure deletes nothing this pass. Without confirm_request, a candidate is deleted only
     * when a single-page listing, or two consecutive complete listings, missed it. */
    req_result (*confirm_request)(table_ctx *ctx, const json_t *ids, http_request *req, char *err,
                                  size_t errlen);
    int confirm_batch;
} table_def;

/* How the engine treats a non-2xx response that survived the HTTP client's retries. */
typedef enum {
    VERDICT_ERROR = 0,   /* the pass fails; retried at the next poll */
    VERDICT_AUTH,        /* credentials rejected: the source stops, other sources go on */
    VERDICT_UNAVAILABLE, /* this table is not available to these credentials/plan: skip it */
    VERDICT_SKIP,        /* this one request's object is gone (e.g. 404/410 on a child list):
                            the engine logs a warning and hands the response to parse_page,
                            which sees resp->status and moves its paging past it */
} http_verdict;

/* ---- the connector ----------------------------------------------------------------------- */

typedef struct connector {
    const char *name; /* config `type` */
    const char *description;
    const char *default_base_url;
    double default_rate; /* requests per second per source */
    int default_burst;
    /* An API whose limit is a rolling window (N requests in any W ms): without rate_limit and
     * burst in the config, the source paces by this window (ratelimit_new_window) instead of
     * the bucket above, which can only stay under a window by giving up speed. 0: none. */
    int default_window_requests;
    int64_t default_window_ms;
    int default_reconcile_interval_s; /* ID reconciliation of incremental tables; 0 = off */
    const connector_option *options;  /* terminated by an entry with name == NULL */
    size_t options_size;              /* sizeof the struct their offsets point into */
    const table_def *tables;
    size_t n_tables;

    /* Validates options and fills source_auth(). Returns 0 or -1 with err set. */
    int (*source_init)(source *src, char *err, size_t errlen);
    void (*source_free)(source *src);
    /* A cheap authenticated request for `crmstream check` ("GET /me"); fills req. */
    int (*check_request)(source *src, http_request *req);
    /* Reads rate-limit signals from a response of src; NULL = http_default_rate_signal. */
    void (*rate_signal)(source *src, const http_response *resp, rate_signal *out);
    /* Classifies a non-2xx final response; NULL = 401 auth, 402/403 unavailable, else error. */
    http_verdict (*classify)(const table_def *table, const http_response *resp);
} connector;

/* All compiled-in connectors, NULL-terminated (connectors/registry.c). */
extern const connector *const crm_connectors[];
const connector *connector_find(const char *name);
const table_def *connector_table(const connector *c, const char *name);
/* The OPT_ENV option whose file twin is called `name` ("api_key_file" -> api_key_env: the secret
 * read from that file instead of a variable, secret.h), or NULL. */
const connector_option *connector_secret_file_twin(const connector *c, const char *name);
/* The verdict on a final non-2xx response: the connector's classify, or by default 401 auth,
 * 402/403 unavailable, anything else an error. */
http_verdict connector_classify(const connector *c, const table_def *table,
                                const http_response *resp);

/* ---- helpers for connectors -------------------------------------------------------------- */

/* Sets req->url to base + path (path starts with '/'). */
void connector_url(const source *src, http_request *req, const char *path);
/* Appends "?name=value" or "&name=value", URL-encoding value. */
void connector_query(http_request *req, const char *name, const char *value);
/* Frees what a page holds (engine side) and zeroes it. */
void page_clear(page *pg);
/* The fast path for list pages: checks resp->body is a JSON object (the records in its `member`
 * array are validated later, one by one as the engine encodes them), hands that array to the
 * engine as raw text (out->raw_off/raw_len in the body, which the engine keeps), and when
 * envelope is not NULL returns the other members (cursors, flags) as a jansson object. -1 with
 * err on invalid JSON or no such array. */
int connector_raw_records(const http_response *resp, const char *member, page *out,
                          json_t **envelope, char *err, size_t errlen);
/* member NULL: the body is the records array itself (envelope: an empty object). */
/* After connector_raw_records: the page's records as a jansson array of objects holding only
 * their top-level members named in keys (NULL-terminated), for paging state (ids, keys), a
 * scan of the text that encodes nothing. NULL + err on invalid JSON. */
json_t *connector_raw_slim(const http_response *resp, const page *out, const char *const *keys,
                           char *err, size_t errlen);
/* The fast path for records that are not one array of the body as it is: a subset of an array,
 * records nested in wrappers, objects standing alone. Appends the text of one record, the JSON
 * object [v, v + len) the connector found in the response (json_scan.h), to the page's own
 * records array (out->raw, kept by the engine and encoded like a body's array). Copies text, parses
 * nothing. -1 when [v, v + len) is not an object's span (the engine validates its contents). */
int connector_raw_add(page *out, const char *v, size_t len);
/* The string member `key` of the JSON object [obj, obj_end) (a record's text, json_scan.h), its
 * escapes decoded, into out (NUL-terminated). -1 when the object has no such string member. */
int connector_raw_string(const char *obj, const char *obj_end, const char *key, buf *out);
/* The records parse_page handed back, as one jansson array whether they are jansson (records)
 * or text (raw: in pg->raw, where the page fetcher moves the body, or else in resp, which may
 * be NULL). A new reference; NULL on invalid JSON. */
json_t *page_records(const http_response *resp, const page *pg);
/* Parses resp->body as JSON; on failure sets err to "invalid JSON at line L: <reason>". */
json_t *connector_parse_json(const http_response *resp, char *err, size_t errlen);

#endif
