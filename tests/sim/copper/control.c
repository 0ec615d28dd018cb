/* control.c — the Copper simulator's control actions (truth, mutate, copper_stats) and its
 * sim_crm entry. */
#include "copper_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- control -------------------------------------------------------------------------------- */

static int cerr(json_t **result, int status, const char *msg)
{
    *result = json_pack("{ss}", "error", msg);
    return status;
}

static int by_id(const void *a, const void *b)
{
    json_int_t x = copper_jint(*(json_t *const *)a, "id"),
               y = copper_jint(*(json_t *const *)b, "id");
    return x < y ? -1 : x > y;
}

static json_t *sorted_copy(json_t *recs)
{
    size_t n = json_array_size(recs);
    json_t **v = xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = json_array_get(recs, i);
    qsort(v, n, sizeof *v, by_id);
    json_t *out = copper_must(json_array());
    for (size_t i = 0; i < n; i++)
        copper_jpush(out, json_deep_copy(v[i]));
    free(v);
    return out;
}

static int control_truth(json_t *args, json_t **result)
{
    const char *name = json_string_value(json_object_get(args, "table"));
    if (!name)
        return cerr(result, 400, "truth needs \"table\"");
    json_t *recs;
    int t = copper_table_by_name(name, strlen(name));
    if (strcmp(name, "activities_search") == 0)
        t = T_ACTIVITIES;
    if (t >= 0)
        recs = sorted_copy(CU_TABLES[t].recs);
    else if (strcmp(name, "account") == 0)
        recs = copper_must(json_pack("[O]", CU.account));
    else if (strcmp(name, "pipeline_stages") == 0) {
        json_t *st = copper_pipeline_stages();
        recs = sorted_copy(st);
        json_decref(st);
    } else if (strcmp(name, "tags") == 0)
        recs = copper_tags_list();
    else
        return cerr(result, 400, "unknown table");
    *result = copper_must(json_pack("{sssIso}", "table", name, "count",
                                    (json_int_t)json_array_size(recs), "records", recs));
    return 200;
}

/* "id", "ids" or "count" random records of table t (indexes into recs are not kept). */
static json_t *mutation_targets(int t, json_t *args, json_t **result, int *status)
{
    json_t *recs = CU_TABLES[t].recs, *out = copper_must(json_array());
    json_t *id = json_object_get(args, "id"), *ids = json_object_get(args, "ids");
    if (id || ids) {
        json_t *list = id ? copper_must(json_pack("[O]", id)) : json_incref(ids);
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
        {
            json_t *r =
                json_is_integer(v) ? copper_find_by_id(t, json_integer_value(v), NULL) : NULL;
            if (!r) {
                json_decref(list);
                json_decref(out);
                *status = cerr(result, 404, "no such record");
                return NULL;
            }
            copper_jpush(out, json_incref(r));
        }
        json_decref(list);
        return out;
    }
    json_int_t count = json_is_integer(json_object_get(args, "count"))
                           ? json_integer_value(json_object_get(args, "count"))
                           : 1;
    size_t n = json_array_size(recs);
    size_t *idx = xmalloc((n ? n : 1) * sizeof *idx);
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    for (size_t i = 0; i < n && (json_int_t)i < count; i++) {
        size_t j = i + (size_t)sim_rand_range(0, (int64_t)(n - i) - 1);
        size_t tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
        copper_jpush(out, json_incref(json_array_get(recs, idx[i])));
    }
    free(idx);
    return out;
}

static void bump_name(json_t *rec)
{
    const char *name = json_string_value(json_object_get(rec, "name"));
    if (!name)
        return;
    const char *suffix = strstr(name, " (rev ");
    int rev = 0;
    size_t base = strlen(name);
    if (suffix && sscanf(suffix, " (rev %d)", &rev) == 1)
        base = (size_t)(suffix - name);
    char out[512];
    snprintf(out, sizeof out, "%.*s (rev %d)", (int)(base < 400 ? base : 400), name, rev + 1);
    copper_jset(rec, "name", json_string(out));
}

static int apply_set(json_t *rec, json_t *set)
{
    const char *k;
    json_t *v;
    json_object_foreach(set, k, v)
    {
        if (strcmp(k, "id") == 0)
            return -1;
        copper_jset(rec, k, json_incref(v));
    }
    return 0;
}

static int has_dates(int t)
{
    return t <= T_ACTIVITIES;
}

int copper_mutate_one(int t, const char *op, json_t *rec, json_t *args)
{
    int64_t now = copper_now_s();
    json_t *set = json_object_get(args, "set");
    json_t *ad = json_object_get(args, "activity_date");
    if (strcmp(op, "update") == 0) {
        if (set) {
            if (apply_set(rec, set))
                return -1;
        } else {
            bump_name(rec);
            if (t == T_ACTIVITIES)
                copper_jset(rec, "details", json_string("edited"));
        }
        if (t == T_ACTIVITIES && json_is_integer(ad))
            copper_jset(rec, "activity_date", json_incref(ad));
    } else if (strcmp(op, "convert") == 0 && t == T_LEADS) {
        copper_convert_lead(rec, now);
    } else if (strcmp(op, "backdate") == 0 && t == T_ACTIVITIES) {
        copper_jset(rec, "activity_date",
                    json_is_integer(ad) ? json_incref(ad) : json_integer(now - 10 * DAY_S));
    } else if (strcmp(op, "touch") != 0) {
        return -1;
    }
    if (has_dates(t))
        copper_jset(rec, "date_modified", json_integer(now));
    return 0;
}

int copper_mutate_create(int t, json_t *args, json_t *out, json_t **result)
{
    json_t *c = json_object_get(args, "count"), *set = json_object_get(args, "set");
    json_t *ad = json_object_get(args, "activity_date");
    json_int_t count = json_is_integer(c) ? json_integer_value(c) : 1;
    if (count < 1 || count > 200000)
        return cerr(result, 400, "invalid count");
    int64_t now = copper_now_s();
    for (json_int_t k = 0; k < count; k++) {
        json_t *r = copper_record_new(t, json_is_integer(ad) ? json_integer_value(ad) : now);
        if (has_dates(t))
            copper_stamp(r, now, now);
        if (set && apply_set(r, set)) {
            json_decref(r);
            return cerr(result, 400, "\"set\" must not name id");
        }
        copper_jpush(CU_TABLES[t].recs, r);
        copper_jpush(out, json_deep_copy(r));
    }
    return 200;
}

void copper_remove_record(int t, json_t *rec)
{
    size_t idx;
    json_int_t id = copper_jint(rec, "id");
    if (!copper_find_by_id(t, id, &idx))
        return;
    if (t == T_ACTIVITIES)
        copper_jpush(CU.deleted_activities, json_integer(id));
    if (json_array_remove(CU_TABLES[t].recs, idx))
        abort();
    CU.gen++;
}

static int control_mutate(json_t *args, json_t **result)
{
    const char *name = json_string_value(json_object_get(args, "table"));
    const char *op = json_string_value(json_object_get(args, "op"));
    if (!name || !op)
        return cerr(result, 400, "mutate needs \"table\" and \"op\"");
    int t = strcmp(name, "activities_search") == 0 ? T_ACTIVITIES
                                                   : copper_table_by_name(name, strlen(name));
    if (t < 0 || t == T_PIPELINES)
        return cerr(result, 400, "table cannot be mutated");
    json_t *set = json_object_get(args, "set");
    if (set && !json_is_object(set))
        return cerr(result, 400, "\"set\" must be an object");
    json_t *out = copper_must(json_array());
    int status = 200;
    if (strcmp(op, "create") == 0) {
        status = copper_mutate_create(t, args, out, result);
    } else {
        json_t *targets = mutation_targets(t, args, result, &status);
        size_t i;
        json_t *rec;
        json_array_foreach(targets, i, rec)
        {
            if (strcmp(op, "delete") == 0) {
                copper_jpush(out, json_deep_copy(rec));
                copper_remove_record(t, rec);
            } else if (copper_mutate_one(t, op, rec, args)) {
                status = cerr(result, 400, "unknown op for this table, or \"set\" names id");
                break;
            } else {
                copper_jpush(out, json_deep_copy(rec));
            }
        }
        json_decref(targets);
    }
    if (status == 200)
        *result = copper_must(json_pack("{sssssO}", "table", name, "op", op, "records", out));
    json_decref(out);
    return status;
}

static int copper_control(const char *action, json_t *args, json_t **result)
{
    if (strcmp(action, "truth") == 0)
        return control_truth(args, result);
    if (strcmp(action, "mutate") == 0) {
        int status = control_mutate(args, result);
        CU.gen++;
        return status;
    }
    if (strcmp(action, "copper_stats") == 0) {
        *result = copper_must(
            json_pack("{sIsIsIsIsIsIsI}", "capped_requests", (json_int_t)CU.capped, "rate_limited",
                      (json_int_t)CU.limited, "searches", (json_int_t)CU.searches,
                      "created_window_searches", (json_int_t)CU.windowed, "drift_mutations",
                      (json_int_t)CU.drifted, "boundary_mutations", (json_int_t)CU.boundary,
                      "ids_searches", (json_int_t)CU.id_searches));
        return 200;
    }
    return 404;
}

const sim_crm sim_copper = {
    .name = "copper",
    .init = copper_init,
    .handle = copper_handle,
    .control = copper_control,
    .rate_limited = copper_rate_limited,
    .free = copper_free,
};
