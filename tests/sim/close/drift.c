/* drift.c — the Close simulator's concurrent change: mutations injected between page requests,
 * so a connector's paging is tested against records that move (an update bumps date_updated to
 * the end of the sort order) and vanish while it reads. All draws come from the seeded PRNG.
 *
 * Parameters (--param k=v or POST /_control/param):
 *   boundary_op   none (default) | update | delete | mix: after a page of a main list
 *                 (opportunities, tasks, activities, the search of leads/contacts), that
 *                 record served LAST on the page is updated or deleted
 *   boundary_pct  percent of pages that get the boundary mutation (100)
 *   drift_ops     random creates/updates/deletes of the same table after each main-list page,
 *                 and of a random main table after each /event/ page (0)
 *   listing_delete_pct  percent of pages of an id listing (_fields=id...) or of a full-table
 *                 list after which a record of that list is deleted: half of the time the one
 *                 served last, else a random one (0)
 * Tests stop the drift by setting these back (boundary_op=none, drift_ops=0, ...). */
#include <stdio.h>
#include <string.h>

#include "close_sim.h"

static int is_main_list(const char *table)
{
    static const char *const MAIN[] = {"leads", "contacts", "opportunities", "tasks", "activities"};
    for (size_t i = 0; i < sizeof MAIN / sizeof MAIN[0]; i++)
        if (strcmp(table, MAIN[i]) == 0)
            return 1;
    return 0;
}

static void mutate_quietly(json_t *args)
{
    json_t *result = NULL;
    close_mutate(args, &result);
    json_decref(result);
    json_decref(args);
}

static int pct(const char *name, long long def)
{
    return sim_rand_range(1, 100) <= sim_param_int(name, def);
}

/* One random create, update or delete of `table` (deletes keep a few records). */
static void random_change(const char *table)
{
    close_coll *c = close_coll_get(table);
    int64_t k = sim_rand_range(0, 2);
    if (k == 2 && json_array_size(c->recs) < 5)
        k = 1;
    if (k == 1 && json_array_size(c->recs) == 0)
        k = 0;
    static const char *const OPS[] = {"create", "update", "delete"};
    mutate_quietly(json_pack("{s:s, s:s}", "table", table, "op", OPS[k]));
}

static void boundary_change(const char *table, const char *last_id)
{
    const char *op = sim_param("boundary_op", "none");
    if (!last_id || strcmp(op, "none") == 0 || !pct("boundary_pct", 100))
        return;
    if (strcmp(op, "mix") == 0)
        op = sim_rand_range(0, 1) ? "delete" : "update";
    if (strcmp(op, "update") && strcmp(op, "delete"))
        return;
    mutate_quietly(json_pack("{s:s, s:s, s:s}", "table", table, "op", op, "id", last_id));
}

void close_drift_after_page(const char *table, const char *last_id, int id_listing)
{
    static const char *const MAIN[] = {"leads", "contacts", "opportunities", "tasks", "activities"};
    long long n = sim_param_int("drift_ops", 0);
    if (strcmp(table, "event_log") == 0) {
        for (long long i = 0; i < n; i++)
            random_change(MAIN[sim_rand_range(0, 4)]);
        return;
    }
    if (!close_coll_get(table))
        return;
    if (is_main_list(table)) {
        boundary_change(table, last_id);
        for (long long i = 0; i < n; i++)
            random_change(table);
    }
    if ((id_listing || !is_main_list(table)) && json_array_size(close_coll_get(table)->recs) > 1 &&
        pct("listing_delete_pct", 0)) {
        /* half of the time the record served last (the boundary), else any record */
        json_t *recs = close_coll_get(table)->recs,
               *victim = json_array_get(
                   recs, (size_t)sim_rand_range(0, (int64_t)json_array_size(recs) - 1));
        if (last_id && sim_rand_range(0, 1))
            mutate_quietly(
                json_pack("{s:s, s:s, s:s}", "table", table, "op", "delete", "id", last_id));
        else
            mutate_quietly(json_pack("{s:s, s:s, s:O}", "table", table, "op", "delete", "id",
                                     json_object_get(victim, "id")));
    }
}
