/* close.c — the Close CRM connector (https://developer.close.com): its options, authentication
 * (HTTP Basic, the API key as user), error classification and every table as data.
 *
 * Strategies (see paging.c and README "Close"):
 *  - leads, contacts: POST /data/search/ sorted by date_updated, keyset re-anchoring; the list
 *    endpoints have no date filter.
 *  - opportunities: date_updated__gte + _order_by=date_updated, keyset anchors.
 *  - tasks: date_updated__gte=<window start>, walked by date_created (the only ascending order).
 *  - activities: /activity/ append-only on date_created, re-reading a 24 h attribution window.
 *  - event_log: /event/ cursor paging; deleted/merged events delete rows of the other tables;
 *    created/updated activity events carry the activity (`data`): those older than the
 *    attribution window are published to the activities topic; the bookmark never passes
 *    now - event_lag.
 *  - reference lists: full table each pass (only changes are published), deletes by ID
 *    reconciliation.
 * Rate limits: one limiter per endpoint group, learned from the responses (rate.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "close_internal.h"
#include "log.h"

/* Every page-size option a table names is an integer option of Close: checked as a source
 * starts, so a misspelt name stops crmstream at once instead of aborting a pass later. */
static int check_table_options(char *err, size_t errlen);

static int close_init(source *src, char *err, size_t errlen)
{
    if (check_table_options(err, errlen))
        return -1;
    const char *key = close_opts_of(src)->api_key_env;
    if (!key || !*key) {
        snprintf(err, errlen, "the Close API key (options.api_key_env) is empty");
        return -1;
    }
    close_state *st = xcalloc(1, sizeof(*st));
    st->api_key = xstrdup(key);
    pthread_mutex_init(&st->lock, NULL);
    source_set_state(src, st);
    http_auth *auth = source_auth(src);
    auth->basic_user = st->api_key; /* Basic base64("<key>:"): empty password */
    auth->basic_password = NULL;
    return 0;
}

static void close_free(source *src)
{
    close_state *st = source_state(src);
    if (!st)
        return;
    free(st->api_key);
    free(st->org_id);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int close_check(source *src, http_request *req)
{
    connector_url(src, req, "/me/");
    return 0;
}

/* 401: the key is rejected. 400 on /event/: the key/plan has no event-log access (handed to
 * the events parser, which switches deletes to reconciliation). 402/403:
 * plan- or role-gated endpoint. Everything else fails the pass (retried next poll). */
static http_verdict close_classify(const table_def *table, const http_response *resp)
{
    if (resp->status == 401)
        return VERDICT_AUTH;
    if (resp->status == 402 || resp->status == 403)
        return VERDICT_UNAVAILABLE;
    if (resp->status == 400 && (close_table_of(table)->flags & CLOSE_EVENT_LOG))
        return VERDICT_SKIP; /* parse_page falls back to reconciliation (fallback.c) */
    return VERDICT_ERROR;
}

/* Every table names the endpoint group its requests count against (table_def.rate_group): Close
 * limits each group (method + path, close-api.md §5) per key on its own, so each group is paced
 * by its own limiter at the limit its responses state (rate.c), and tables of one group (the
 * custom field lists, the statuses, both searches) share it. A table whose few side requests go
 * to another group (a search table reading a lead back by id, /me/ before /organization/) sends
 * them from the same thread, one at a time, within its own group's pace. */

/* The spec of a table (table_def.spec): a close_table with static storage. */
#define CLOSE_SPEC(...) (&(const close_table){__VA_ARGS__})

#define SEARCH_TABLE(tname, what, cf, otype, slot)                                                 \
    {                                                                                              \
        .name = tname, .primary_key = "id", .replication_key = "date_updated",                     \
        .method = SYNC_INCREMENTAL, .lookback_seconds = 60, .schema_file = "close/" tname ".avsc", \
        .sorted = 1, .reconcile = 1,                                                               \
        .description = what ", POST /data/search/ by date_updated (keyset, restart at max)",       \
        .rate_group = "search", .next_request = close_search_request,                              \
        .parse_page = close_search_parse, .custom = cf, .confirm_request = close_confirm_request,  \
        .confirm_batch = 1,                                                                        \
        .spec = CLOSE_SPEC(.path = "/data/search/", .item_path = "/" otype "/",                    \
                           .limit_option = "search_page_size", .object_type = otype,               \
                           .fallback_slot = slot),                                                 \
    }

#define FULL_TABLE(tname, what, list_path, group)                                                  \
    {                                                                                              \
        .name = tname, .primary_key = "id", .method = SYNC_FULL_TABLE,                             \
        .schema_file = "close/" tname ".avsc", .reconcile = 1, .description = what,                \
        .rate_group = group, .next_request = close_full_request, .parse_page = close_full_parse,   \
        .confirm_request = close_confirm_request, .confirm_batch = 1,                              \
        .spec = CLOSE_SPEC(.path = list_path, .limit_option = "page_size"),                        \
    }

static const table_def close_tables[] = {
    SEARCH_TABLE("leads", "leads (with contacts, opportunities, open tasks, custom.cf_*)",
                 &close_custom_leads, "lead", 1),
    SEARCH_TABLE("contacts", "contacts", &close_custom_contacts, "contact", 2),
    {
        .name = "opportunities",
        .primary_key = "id",
        .replication_key = "date_updated",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 60,
        .schema_file = "close/opportunities.avsc",
        .sorted = 1,
        .reconcile = 1,
        .description = "opportunities, date_updated__gte ascending (keyset anchors)",
        .rate_group = "opportunity",
        .next_request = close_keyset_request,
        .parse_page = close_keyset_parse,
        .custom = &close_custom_opportunities,
        .confirm_request = close_confirm_request,
        .confirm_batch = 1, /* no id__in on /opportunity/: GET /opportunity/{id}/ */
        .spec = CLOSE_SPEC(.path = "/opportunity/", .limit_option = "opportunity_page_size",
                           .key = "date_updated", .object_type = "opportunity", .fallback_slot = 3),
    },
    {
        .name = "tasks",
        .primary_key = "id",
        .replication_key = "date_updated",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 60,
        .schema_file = "close/tasks.avsc",
        .sorted = 0,
        .reconcile = 1,
        .description = "tasks, date_updated__gte walked by date_created",
        .rate_group = "task",
        .next_request = close_keyset_request,
        .parse_page = close_keyset_parse,
        .confirm_request = close_confirm_request,
        .confirm_batch = CLOSE_CONFIRM_BATCH,
        .spec = CLOSE_SPEC(.path = "/task/", .limit_option = "task_page_size",
                           .key = "date_created", .since = "date_updated__gte",
                           .flags = CLOSE_LISTS_BY_IDS, .fallback_slot = 4),
    },
    {
        .name = "activities",
        .primary_key = "id",
        .replication_key = "date_created",
        .method = SYNC_APPEND_ONLY,
        .lookback_seconds = 86400,
        .schema_file = "close/activities.avsc",
        .sorted = 1,
        .reconcile = 1,
        .description = "all activity types, append-only on date_created, 24 h attribution window",
        .rate_group = "activity",
        .next_request = close_keyset_request,
        .parse_page = close_keyset_parse,
        .custom = &close_custom_activities,
        .confirm_request = close_confirm_request,
        .confirm_batch = CLOSE_CONFIRM_BATCH,
        .spec =
            CLOSE_SPEC(.path = "/activity/", .limit_option = "activity_page_size",
                       .key = "date_created", .object_type = "activity",
                       .flags = CLOSE_LISTS_BY_IDS | CLOSE_ATTRIBUTION_WINDOW, .fallback_slot = 5),
    },
    {
        .name = "event_log",
        .primary_key = "id",
        .replication_key = "date_updated",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 0,
        .schema_file = "close/event_log.avsc",
        .sorted = 0,
        .delete_feed = 1,
        .description = "event log (30 days); deleted/merged events delete rows of other tables",
        .rate_group = "event",
        .next_request = close_events_request,
        .parse_page = close_events_parse,
        .spec = CLOSE_SPEC(.path = "/event/", .limit_option = "event_page_size",
                           .flags = CLOSE_EVENT_LOG),
    },
    FULL_TABLE("users", "users", "/user/", "user"),
    FULL_TABLE("custom_fields", "lead custom field definitions", "/custom_field/lead/",
               "custom_field"),
    FULL_TABLE("contact_custom_fields", "contact custom field definitions",
               "/custom_field/contact/", "custom_field"),
    FULL_TABLE("opportunity_custom_fields", "opportunity custom field definitions",
               "/custom_field/opportunity/", "custom_field"),
    FULL_TABLE("activity_custom_fields", "activity custom field definitions",
               "/custom_field/activity/", "custom_field"),
    FULL_TABLE("shared_custom_fields", "shared custom field definitions", "/custom_field/shared/",
               "custom_field"),
    FULL_TABLE("lead_statuses", "lead statuses", "/status/lead/", "status"),
    FULL_TABLE("opportunity_statuses", "opportunity statuses", "/status/opportunity/", "status"),
    FULL_TABLE("pipelines", "pipelines", "/pipeline/", "pipeline"),
    FULL_TABLE("custom_activity_types", "custom activity types", "/custom_activity/",
               "custom_activity"),
    FULL_TABLE("email_templates", "email templates", "/email_template/", "email_template"),
    FULL_TABLE("sequences", "sequences", "/sequence/", "sequence"),
    /* without type__in, /saved_search/ lists only lead views; lead and contact are every
     * type the filter accepts */
    FULL_TABLE("smart_views", "smart views (saved searches)",
               "/saved_search/?type__in=lead%2Ccontact", "saved_search"),
    FULL_TABLE("bulk_actions_email", "bulk email actions", "/bulk_action/email/", "bulk_action"),
    FULL_TABLE("bulk_actions_sequence_subscription", "bulk sequence subscriptions",
               "/bulk_action/sequence_subscription/", "bulk_action"),
    FULL_TABLE("bulk_actions_delete", "bulk delete actions", "/bulk_action/delete/", "bulk_action"),
    FULL_TABLE("bulk_actions_edit", "bulk edit actions", "/bulk_action/edit/", "bulk_action"),
    FULL_TABLE("roles", "roles", "/role/", "role"),
    FULL_TABLE("connected_accounts", "connected accounts (Google, custom email, Zoom)",
               "/connected_account/", "connected_account"),
    FULL_TABLE("send_as", "send-as permissions (paid plans; 402 -> unavailable)", "/send_as/",
               "send_as"),
    FULL_TABLE("dialers", "dialers", "/dialer/", "dialer"),
    FULL_TABLE("integration_links", "integration links", "/integration_link/", "integration_link"),
    FULL_TABLE("exports", "exports", "/export/", "export"),
    {
        .name = "organization",
        .primary_key = "id",
        .method = SYNC_FULL_TABLE,
        .schema_file = "close/organization.avsc",
        .reconcile = 1,
        .description = "the organization of the key (/me/ then /organization/{id}/)",
        .rate_group = "organization",
        .next_request = close_org_request,
        .parse_page = close_org_parse,
        .spec = CLOSE_SPEC(.flags = CLOSE_ORG_ITSELF),
    },
    {
        .name = "memberships",
        .primary_key = "id",
        .method = SYNC_FULL_TABLE,
        .schema_file = "close/memberships.avsc",
        .reconcile = 1,
        .description = "active and inactive memberships of the organization",
        .rate_group = "organization",
        .next_request = close_org_request,
        .parse_page = close_org_parse,
        .spec = CLOSE_SPEC(0),
    },
    {
        .name = "report_activity_metrics",
        .primary_key = "key",
        .method = SYNC_FULL_TABLE,
        .schema_file = "close/report_activity_metrics.avsc",
        .reconcile = 1,
        .description = "the metrics of the activity reports (/report/activity/metrics/)",
        .rate_group = "report",
        .next_request = close_metrics_request,
        .parse_page = close_metrics_parse,
        .spec = CLOSE_SPEC(0),
    },
    {
        .name = "report_activity_daily",
        .primary_key = "date",
        .replication_key = "date",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 7 * 86400,
        .schema_file = "close/report_activity_daily.avsc",
        .sorted = 1,
        .description = "activity overview per day, every metric; recomputes the last 7 days",
        .rate_group = "report",
        .next_request = close_report_request,
        .parse_page = close_report_parse,
        .custom = &close_custom_report_metrics,
        .spec = CLOSE_SPEC(.report = REPORT_OVERVIEW),
    },
    {
        .name = "report_activity_by_user_daily",
        .primary_key = "id",
        .replication_key = "date",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 7 * 86400,
        .schema_file = "close/report_activity_by_user_daily.avsc",
        .sorted = 1,
        .description = "activity comparison per user per day (id = date/user_id), every metric",
        .rate_group = "report",
        .next_request = close_report_request,
        .parse_page = close_report_parse,
        .custom = &close_custom_report_metrics,
        .spec = CLOSE_SPEC(.report = REPORT_COMPARISON),
    },
    {
        .name = "report_lead_statuses_daily",
        .primary_key = "date",
        .replication_key = "date",
        .method = SYNC_INCREMENTAL,
        .lookback_seconds = 7 * 86400,
        .schema_file = "close/report_lead_statuses_daily.avsc",
        .sorted = 1,
        .description = "lead status change report per day (per status, transitions)",
        .rate_group = "report",
        .next_request = close_lead_statuses_request,
        .parse_page = close_lead_statuses_parse,
        .spec = CLOSE_SPEC(0),
    },
};

#define CLOSE_OPTION(type, field, def, doc) CONNECTOR_OPTION(close_opts, type, field, def, doc)
static const connector_option close_options[] = {
    CLOSE_OPTION(OPT_ENV, api_key_env, "CLOSE_API_KEY",
                 "environment variable holding the Close API key"),
    CLOSE_OPTION(OPT_INT, page_size, "100", "records per page of the reference lists"),
    CLOSE_OPTION(OPT_INT, search_page_size, "100", "records per /data/search/ page (max 200)"),
    CLOSE_OPTION(OPT_INT, opportunity_page_size, "250", "records per /opportunity/ page"),
    CLOSE_OPTION(OPT_INT, task_page_size, "1000", "records per /task/ page"),
    CLOSE_OPTION(OPT_INT, activity_page_size, "100", "records per /activity/ page"),
    CLOSE_OPTION(OPT_INT, event_page_size, "50", "events per /event/ page (Close caps it at 50)"),
    CLOSE_OPTION(OPT_INT, max_skip, "250000",
                 "Close's max _skip; the connector never pages past it"),
    CLOSE_OPTION(OPT_INT, search_walk_limit, "10000",
                 "records per search cursor walk before restarting from the highest "
                 "date_updated"),
    CLOSE_OPTION(OPT_DURATION, search_cursor_ttl, "20s",
                 "a search cursor older than this is not reused (Close expires them after ~30 s)"),
    CLOSE_OPTION(OPT_DURATION, attribution_window, "0",
                 "activities: re-read this much before the bookmark; 0 = the table lookback "
                 "(24h)"),
    CLOSE_OPTION(OPT_DURATION, event_lag, "5m",
                 "the event_log bookmark never passes now minus this"),
    CLOSE_OPTION(OPT_DURATION, deletes_fallback_interval, "1h",
                 "without event-log access (400 on /event/): how often leads, contacts, "
                 "opportunities, tasks and activities are reconciled by id to find deletes"),
    CLOSE_OPTION(OPT_DURATION, event_activity_window, "24h",
                 "activities created longer ago than this get their edits (and backdated "
                 "creations) from the event log; newer ones are re-read by the activities table "
                 "(its attribution window)"),
    CLOSE_OPTION(OPT_DURATION, report_window, "0",
                 "report tables: days recomputed before the bookmark each pass; 0 = the table "
                 "lookback (7d)"),
    CLOSE_OPTION(OPT_DURATION, report_history, "0",
                 "report tables: how far back their first pass goes (a daily report costs a "
                 "request per day or chunk of days); 0 = from start_date"),
    {0},
};
#undef CLOSE_OPTION

static const connector_option *int_option(const char *name)
{
    for (const connector_option *o = close_options; o->name; o++)
        if (strcmp(o->name, name) == 0 && o->type == OPT_INT)
            return o;
    return NULL;
}

long long close_option_int(const source *src, const char *name)
{
    const connector_option *o = int_option(name);
    if (!o) {
        log_error(source_name(src), NULL, "close: no integer option \"%s\" (a connector bug)",
                  name);
        abort();
    }
    return *(const long long *)((const char *)source_options(src) + o->offset);
}

static int check_table_options(char *err, size_t errlen)
{
    for (size_t i = 0; i < sizeof(close_tables) / sizeof(close_tables[0]); i++) {
        const close_table *ct = close_table_of(&close_tables[i]);
        if (ct && ct->limit_option && !int_option(ct->limit_option)) {
            snprintf(err, errlen, "close table %s names no integer option %s (a connector bug)",
                     close_tables[i].name, ct->limit_option);
            return -1;
        }
    }
    return 0;
}

const connector close_connector = {
    .name = "close",
    .description = "Close CRM (api.close.com), API key",
    .default_base_url = "https://api.close.com/api/v1",
    .default_rate = 15,
    .default_burst = 5,
    .options = close_options,
    .options_size = sizeof(close_opts),
    .tables = close_tables,
    .n_tables = sizeof(close_tables) / sizeof(close_tables[0]),
    .source_init = close_init,
    .source_free = close_free,
    .check_request = close_check,
    .rate_signal = close_rate_signal,
    .classify = close_classify,
};
