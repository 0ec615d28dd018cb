/* test_close_reports.c — the Close report tables' request bodies, day arithmetic and the rows
 * they make of report answers (connectors/close/reports.c, report_statuses.c), including the
 * answers they refuse. */
#include <stdlib.h>
#include <string.h>

#include "../../connectors/close/close_internal.h"
#include "check.h"
#include "crm_time.h"

#define DAY 86400000LL

static int64_t at(const char *s)
{
    int64_t ms = CRM_TIME_NONE;
    crm_time_parse(s, &ms);
    return ms;
}

static void test_days(void)
{
    CHECK(close_report_day(at("2019-01-03T17:45:12Z")) == at("2019-01-03"));
    CHECK(close_report_day(at("2019-01-03")) == at("2019-01-03"));
    CHECK(close_report_day(at("1969-12-31T23:00:00Z")) == at("1969-12-31"));
}

static void test_kinds(void)
{
    const connector *close = connector_find("close");
    CHECK(close_report_kind(connector_table(close, "report_activity_daily")) == REPORT_OVERVIEW);
    CHECK(close_report_kind(connector_table(close, "report_activity_by_user_daily")) ==
          REPORT_COMPARISON);
}

static void test_body(void)
{
    json_t *metrics = json_pack("[s,s]", "calls.outbound.all.count", "emails.sent.all.count");
    char *text = close_report_body(REPORT_OVERVIEW, at("2019-01-01"), at("2019-01-08"), metrics);
    json_t *body = json_loads(text, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(body, "type")), "overview");
    json_t *range = json_object_get(body, "datetime_range");
    CHECK_STR(json_string_value(json_object_get(range, "start")), "2019-01-01T00:00:00Z");
    CHECK_STR(json_string_value(json_object_get(range, "end")), "2019-01-08T00:00:00Z");
    CHECK(json_equal(json_object_get(body, "metrics"), metrics));
    CHECK(json_object_get(body, "relative_range") == NULL);
    CHECK(json_object_get(body, "users") == NULL);
    json_decref(body);
    free(text);
    text = close_report_body(REPORT_COMPARISON, at("2019-01-01"), at("2019-01-02"), metrics);
    body = json_loads(text, 0, NULL);
    CHECK_STR(json_string_value(json_object_get(body, "type")), "comparison");
    json_decref(body);
    free(text);
    json_decref(metrics);
}

static void test_metric_keys(void)
{
    char err[256] = "";
    json_t *body = json_loads("{\"metrics\":[{\"key\":\"calls.all.all.count\",\"name\":\"All\"},"
                              "{\"name\":\"no key\"},{\"key\":\"sms.sent.all.count\"}]}",
                              0, NULL);
    json_t *keys = close_report_metric_keys(body, err, sizeof(err));
    CHECK(json_array_size(keys) == 2);
    CHECK_STR(json_string_value(json_array_get(keys, 1)), "sms.sent.all.count");
    json_decref(keys);
    json_decref(body);
    body = json_loads("{\"metrics\":[]}", 0, NULL);
    CHECK(close_report_metric_keys(body, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "no metric keys");
    json_decref(body);
}

static void test_overview_rows(void)
{
    char err[256] = "";
    json_t *body = json_loads("{\"aggregations\":{\"totals\":{\"m\":3}},\"data\":["
                              "{\"datetime\":\"2019-01-01T00:00:00+00:00\",\"m\":1},"
                              "{\"datetime\":\"2019-01-02T00:00:00+00:00\",\"m\":2}]}",
                              0, NULL);
    json_t *rows =
        close_report_rows(REPORT_OVERVIEW, body, at("2019-01-01"), at("2019-01-03"), err, 256);
    CHECK(json_array_size(rows) == 2);
    CHECK_STR(json_string_value(json_object_get(json_array_get(rows, 1), "date")), "2019-01-02");
    CHECK(json_integer_value(json_object_get(json_array_get(rows, 1), "m")) == 2);
    json_decref(rows);
    /* a third day was asked for: not one row per day (another bucket size) */
    CHECK(close_report_rows(REPORT_OVERVIEW, body, at("2019-01-01"), at("2019-01-04"), err, 256) ==
          NULL);
    CHECK_CONTAINS(err, "2 rows for 3 days");
    json_decref(body);
    /* weekly buckets of a two-week range have the right count but not the right days */
    body = json_loads("{\"data\":[{\"datetime\":\"2019-01-01T00:00:00+00:00\"},"
                      "{\"datetime\":\"2019-01-08T00:00:00+00:00\"}]}",
                      0, NULL);
    CHECK(close_report_rows(REPORT_OVERVIEW, body, at("2019-01-01"), at("2019-01-03"), err, 256) ==
          NULL);
    CHECK_CONTAINS(err, "row 1 is not the day 2");
    json_decref(body);
    body = json_loads("{\"error\":\"x\"}", 0, NULL);
    CHECK(close_report_rows(REPORT_OVERVIEW, body, at("2019-01-01"), at("2019-01-02"), err, 256) ==
          NULL);
    CHECK_CONTAINS(err, "no \"data\" array");
    json_decref(body);
}

static void test_comparison_rows(void)
{
    char err[256] = "";
    json_t *body = json_loads("{\"data\":[{\"user_id\":\"user_a\",\"m\":1},"
                              "{\"user_id\":\"user_b\",\"m\":0}]}",
                              0, NULL);
    json_t *rows =
        close_report_rows(REPORT_COMPARISON, body, at("2019-01-05"), at("2019-01-06"), err, 256);
    CHECK(json_array_size(rows) == 2);
    json_t *b = json_array_get(rows, 1);
    CHECK_STR(json_string_value(json_object_get(b, "id")), "2019-01-05/user_b");
    CHECK_STR(json_string_value(json_object_get(b, "date")), "2019-01-05");
    CHECK_STR(json_string_value(json_object_get(b, "datetime")), "2019-01-05T00:00:00Z");
    CHECK(json_integer_value(json_object_get(b, "m")) == 0);
    json_decref(rows);
    json_decref(body);
    body = json_loads("{\"data\":[{\"m\":1}]}", 0, NULL);
    CHECK(close_report_rows(REPORT_COMPARISON, body, at("2019-01-05"), at("2019-01-06"), err,
                            256) == NULL);
    CHECK_CONTAINS(err, "no user_id");
    json_decref(body);
}

/* Metrics are typed fields: each definition describes a double named after its label; take()
 * moves the value out of the row. */
static void test_metrics_as_fields(void)
{
    table_def daily = {.name = "report_activity_daily"};
    const custom_fields_spec *spec = &close_custom_report_metrics;
    CHECK_STR(spec->definitions[0], "report_activity_metrics");
    json_t *def = json_pack("{s:s, s:s}", "key", "calls.outbound.all.count", "name",
                            "Outbound Calls - All Types");
    cf_desc d;
    CHECK(spec->describe(&daily, def, &d) == 1);
    CHECK_STR(d.id, "calls.outbound.all.count");
    CHECK_STR(d.label, "Outbound Calls - All Types");
    CHECK(d.kind == CF_NUMBER && !d.multi);
    cf_desc_clear(&d);
    json_decref(def);
    def = json_pack("{s:s}", "name", "keyless");
    CHECK(spec->describe(&daily, def, &d) == 0);
    json_decref(def);
    json_t *row = json_pack("{s:s, s:i}", "date", "2019-01-01", "calls.outbound.all.count", 4);
    json_t *v = spec->take(row, "calls.outbound.all.count", CF_NUMBER);
    CHECK(json_integer_value(v) == 4);
    CHECK(json_object_get(row, "calls.outbound.all.count") == NULL);
    CHECK(spec->take(row, "emails.sent.all.count", CF_NUMBER) == NULL);
    json_decref(v);
    json_decref(row);
}

/* A lead status report answer becomes one record of the day, without the UI helpers. */
static void test_lead_statuses_record(void)
{
    char err[256] = "";
    json_t *body =
        json_loads("{\"status_overview\":[{\"status_id\":\"stat_a\",\"started\":3,\"ended\":4,"
                   "\"_queries\":{\"ended\":\"q\"},\"_leads_page_urls\":{}}],"
                   "\"status_transitions\":[{\"from_status_id\":null,\"to_status_id\":\"stat_a\","
                   "\"count\":1,\"_query\":\"q\",\"_leads_page_url\":\"/search/\"}]}",
                   0, NULL);
    json_t *rec = close_lead_statuses_record(body, "2019-01-05", err, sizeof(err));
    CHECK_STR(json_string_value(json_object_get(rec, "date")), "2019-01-05");
    json_t *ov = json_array_get(json_object_get(rec, "status_overview"), 0);
    CHECK(json_integer_value(json_object_get(ov, "ended")) == 4);
    CHECK(json_object_get(ov, "_queries") == NULL &&
          json_object_get(ov, "_leads_page_urls") == NULL);
    json_t *tr = json_array_get(json_object_get(rec, "status_transitions"), 0);
    CHECK(json_is_null(json_object_get(tr, "from_status_id")));
    CHECK(json_object_size(tr) == 3);
    CHECK(json_array_size(json_object_get(rec, "status_transitions_summary")) == 0);
    /* the helpers are dropped from the copy only */
    CHECK(json_object_get(json_array_get(json_object_get(body, "status_overview"), 0), "_queries"));
    json_decref(rec);
    json_decref(body);
    body = json_loads("{\"error\":\"x\"}", 0, NULL);
    CHECK(close_lead_statuses_record(body, "2019-01-05", err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "status_overview");
    json_decref(body);
}

int main(void)
{
    test_days();
    test_kinds();
    test_body();
    test_metric_keys();
    test_overview_rows();
    test_comparison_rows();
    test_metrics_as_fields();
    test_lead_statuses_record();
    return check_summary("close_reports");
}
