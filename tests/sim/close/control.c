/* control.c — the Close personality's control actions and its sim_crm entry.
 *
 *   mutate {"table":T,"op":"create"|"update"|"delete"|"merge", ...}
 *     T: any table name of the connector (leads, contacts, opportunities, tasks, activities,
 *     users, lead_statuses, ...). Targets: "id", "ids" or "count" random records (default 1).
 *     update: the default edit bumps a " (rev N)" suffix (opportunities: value += $100), or
 *     "set":{field: value} (a null custom.cf_* removes the key); date_updated = sim now.
 *     create: "count" new records; children take "lead_id" (else a random lead); activities
 *     take "type" (Note, Call, ...) and a client-set "date_created" (backdated imports).
 *     delete: leads cascade to contacts, opportunities, tasks and activities.
 *     merge (leads): {"source":id,"destination":id} moves every child, deletes the source.
 *     Children changes bump their lead's date_updated. Main-table changes write events.
 *     -> {"table","op","records":[as the API shows them now (deleted: before)],"events":[ids]}
 *   truth {"table":T} -> {"table","count","records"}: every record as the API shows it, by id;
 *     event_log: visible events, newest first; organization: [the org]; memberships. */
#include <stdlib.h>
#include <string.h>

#include "close_sim.h"

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "id")) ?: "",
                  json_string_value(json_object_get(*(json_t *const *)b, "id")) ?: "");
}

static json_t *sorted_render(const char *table, json_t *recs)
{
    size_t n = json_array_size(recs), i;
    json_t **v = xmalloc((n ? n : 1) * sizeof *v), *r;
    json_array_foreach(recs, i, r) v[i] = r;
    qsort(v, n, sizeof *v, by_id);
    json_t *out = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(out, close_render(table, v[i]));
    free(v);
    return out;
}

static json_t *memberships(void)
{
    json_t *org = close_org_render(), *out = json_array();
    json_array_extend(out, json_object_get(org, "memberships"));
    json_array_extend(out, json_object_get(org, "inactive_memberships"));
    json_decref(org);
    return out;
}

static int control_truth(json_t *args, json_t **result)
{
    const char *table = json_string_value(json_object_get(args, "table"));
    json_t *recs = NULL;
    close_coll *coll = table ? close_coll_get(table) : NULL;
    if (coll)
        recs = sorted_render(table, coll->recs);
    else if (table && strcmp(table, "event_log") == 0)
        recs = close_events_visible();
    else if (table && strcmp(table, "organization") == 0)
        recs = json_pack("[o]", close_org_render());
    else if (table && strcmp(table, "memberships") == 0)
        recs = memberships();
    if (!recs) {
        *result = json_pack("{ss}", "error", "truth needs a known \"table\"");
        return 400;
    }
    *result = json_pack("{sssIso}", "table", table, "count", (json_int_t)json_array_size(recs),
                        "records", recs);
    return 200;
}

static int close_control(const char *action, json_t *args, json_t **result)
{
    if (strcmp(action, "truth") == 0)
        return control_truth(args, result);
    if (strcmp(action, "mutate") == 0)
        return close_mutate(args, result);
    return 404;
}

const sim_crm sim_close = {
    .name = "close",
    .init = close_model_init,
    .handle = close_handle,
    .control = close_control,
    .rate_limited = close_rate_limited,
    .free = close_model_free,
};
