/* test_close_schemas.c — the Close activities schema types each activity type's fields: it stays
 * BACKWARD compatible with the schema published before (fixtures/close_activities_published.avsc:
 * a consumer on the new schema reads every event written so far), and activities of every type,
 * shaped as the API reference shows them, map onto it with those fields out of _unmapped. */
#include <avro.h>
#include <stdlib.h>

#include "amap.h"
#include "check.h"
#include "schema_compat.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b;
    buf_init(&b);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_append(&b, "", 1);
    return b.data;
}

static const char *const ACTIVITIES[] = {
    "{\"id\":\"acti_1\",\"_type\":\"Note\",\"note\":\"hello\",\"note_html\":\"<p>hello</p>\","
    "\"title\":\"T\",\"pinned\":false,\"date_created\":\"2025-01-14T10:44:06.154000+00:00\"}",
    "{\"id\":\"acti_2\",\"_type\":\"Call\",\"direction\":\"outbound\",\"status\":\"completed\","
    "\"duration\":62,\"phone\":\"+41441234567\",\"disposition\":\"answered\",\"note\":\"\","
    "\"recording_url\":null,\"voicemail_duration\":0,\"cost\":\"0.02\",\"outcome_id\":null}",
    "{\"id\":\"acti_3\",\"_type\":\"Email\",\"direction\":\"outgoing\",\"status\":\"sent\","
    "\"subject\":\"Proposal\",\"sender\":\"a@example.com\",\"to\":[\"b@example.com\"],\"cc\":[],"
    "\"bcc\":[],\"body_text\":\"Hi\",\"date_sent\":\"2025-01-14T10:44:06+00:00\","
    "\"date_scheduled\":null,\"has_reply\":true,\"opens\":[],\"envelope\":{\"from\":[]}}",
    "{\"id\":\"acti_4\",\"_type\":\"SMS\",\"text\":\"See you\",\"direction\":\"outbound\","
    "\"status\":\"sent\",\"local_phone\":\"+1\",\"remote_phone\":\"+2\"}",
    "{\"id\":\"acti_5\",\"_type\":\"Meeting\",\"title\":\"Demo\",\"starts_at\":"
    "\"2022-11-12T18:00:00+00:00\",\"ends_at\":\"2022-11-12T18:30:00+00:00\",\"duration\":1800,"
    "\"attendees\":[],\"location\":null,\"status\":\"completed\",\"is_recurring\":false}",
    "{\"id\":\"acti_6\",\"_type\":\"LeadStatusChange\",\"old_status_id\":null,\"new_status_id\":"
    "\"stat_1\",\"new_status_label\":\"Won\"}",
    "{\"id\":\"acti_7\",\"_type\":\"OpportunityStatusChange\",\"opportunity_id\":\"oppo_1\","
    "\"old_status_type\":\"active\",\"new_status_type\":\"won\",\"opportunity_value\":7500000,"
    "\"opportunity_value_currency\":\"USD\",\"opportunity_value_period\":\"one_time\","
    "\"opportunity_confidence\":100,\"opportunity_date_won\":\"2025-01-14T00:00:00+00:00\"}",
    "{\"id\":\"acti_8\",\"_type\":\"TaskCompleted\",\"task_id\":\"task_1\",\"task_text\":\"Call\","
    "\"task_assigned_to\":\"user_1\",\"task_assigned_to_name\":\"Ann\"}",
    "{\"id\":\"acti_9\",\"_type\":\"Created\"}",
};

/* Maps one activity; returns the _unmapped text (malloc'd, or NULL when null) or "ERR". */
static char *map_activity(const char *schema_text, const char *json, char *typed_field,
                          int *typed_set)
{
    json_error_t je;
    json_t *schema = json_loads(schema_text, 0, &je), *rec = json_loads(json, 0, &je);
    char err[512];
    amap_plan *plan = amap_new(schema, err, sizeof err);
    avro_schema_t as;
    char *out = NULL;
    if (!plan || avro_schema_from_json_length(schema_text, strlen(schema_text), &as)) {
        json_decref(schema);
        json_decref(rec);
        amap_free(plan);
        return strdup("ERR");
    }
    avro_value_iface_t *iface = avro_generic_class_from_schema(as);
    avro_value_t v, f, branch;
    avro_generic_value_new(iface, &v);
    if (amap_fill(plan, rec, &v, err, sizeof err) != 0) {
        fprintf(stderr, "map: %s\n", err);
        out = strdup("ERR");
    } else {
        int disc;
        *typed_set = 0;
        if (typed_field && avro_value_get_by_name(&v, typed_field, &f, NULL) == 0 &&
            avro_value_get_discriminant(&f, &disc) == 0)
            *typed_set = disc == 1;
        if (avro_value_get_by_name(&v, "_unmapped", &f, NULL) == 0 &&
            avro_value_get_discriminant(&f, &disc) == 0 && disc == 1 &&
            avro_value_get_current_branch(&f, &branch) == 0) {
            const char *s;
            size_t n;
            if (avro_value_get_string(&branch, &s, &n) == 0)
                out = strdup(s);
        }
    }
    avro_value_decref(&v);
    avro_value_iface_decref(iface);
    avro_schema_decref(as);
    amap_free(plan);
    json_decref(schema);
    json_decref(rec);
    return out;
}

int main(void)
{
    char *now = slurp("avro/close/activities.avsc"),
         *published = slurp("tests/unit/fixtures/close_activities_published.avsc");
    CHECK(now && published);
    if (!now || !published)
        return check_summary("test_close_schemas");
    char why[512] = "";
    CHECK(schema_compat_can_read_text(now, published, why, sizeof why) == 1);
    CHECK(schema_compat_can_read_text(published, now, why, sizeof why) == 1); /* and FORWARD */

    static char *const TYPED[] = {"note",
                                  "duration",
                                  "subject",
                                  "text",
                                  "starts_at",
                                  "new_status_id",
                                  "opportunity_date_won",
                                  "task_text",
                                  NULL};
    for (size_t i = 0; i < sizeof ACTIVITIES / sizeof ACTIVITIES[0]; i++) {
        int typed = 0;
        char *unmapped = map_activity(now, ACTIVITIES[i], TYPED[i], &typed);
        CHECK(!unmapped || strcmp(unmapped, "ERR") != 0);
        if (TYPED[i]) {
            CHECK(typed);
            /* the typed field left _unmapped */
            char key[80];
            snprintf(key, sizeof key, "\"%s\"", TYPED[i]);
            CHECK(!unmapped || !strstr(unmapped, key));
        }
        free(unmapped);
        /* The published schema kept those fields in _unmapped. */
        char *old = map_activity(published, ACTIVITIES[i], NULL, &typed);
        if (TYPED[i]) {
            char key[80];
            snprintf(key, sizeof key, "\"%s\"", TYPED[i]);
            CHECK(old && strstr(old, key));
        }
        free(old);
    }
    /* Fields no schema names stay in _unmapped (e.g. a call's cost, an email's envelope). */
    int typed;
    char *call = map_activity(now, ACTIVITIES[1], NULL, &typed);
    CHECK_CONTAINS(call, "\"cost\"");
    free(call);
    free(now);
    free(published);
    return check_summary("test_close_schemas");
}
