/* drift.c — the Copper simulator's drift: mutations between page requests. */
#include "copper_sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- drift: mutations between page requests ------------------------------------------------ *
 * Before serving a search of a people/companies/leads/opportunities/projects/tasks/activities
 * table (pages of syncs, reconciliation listings and confirmations alike), with percent chances
 * from params, all drawn from the seeded PRNG:
 *   drift_boundary  the record served LAST by the previous search of that table is updated,
 *                   touched or deleted (activities: edited, backdated, future-dated or deleted);
 *   drift_random    a random create, update or delete in that table (activities: also created
 *                   backdated or future-dated).
 * Backdates go up to param drift_backdate_days (default 5) into the past, future dates up to 10
 * days ahead. Every mutation is dated now, so a fast sync sees many in the current second.
 * Counted in copper_stats as drift_mutations. */

static int drift_roll(const char *param)
{
    long long pct = sim_param_int(param, 0);
    return pct > 0 && sim_rand_range(0, 99) < pct;
}

/* An activity_date for a drifted activity: backdated (within drift_backdate_days) or future. */
static json_t *drift_activity_date(int future)
{
    int64_t now = copper_now_s(), days = sim_param_int("drift_backdate_days", 5);
    if (future)
        return json_integer(now + sim_rand_range(60, 10 * DAY_S));
    return json_integer(now - sim_rand_range(60, (days > 0 ? days : 1) * DAY_S));
}

static void drift_mutate(int t, json_t *rec)
{
    int pick = (int)sim_rand_range(0, 9);
    if (pick < 3) {
        copper_remove_record(t, rec);
    } else if (t == T_ACTIVITIES && pick >= 7) {
        json_t *args =
            copper_must(json_pack("{so}", "activity_date", drift_activity_date(pick == 9)));
        if (copper_mutate_one(t, "backdate", rec, args))
            abort();
        json_decref(args);
    } else {
        json_t *args = copper_must(json_object());
        if (copper_mutate_one(t, pick < 5 ? "update" : "touch", rec, args))
            abort();
        json_decref(args);
    }
    CU.drifted++;
    CU.gen++;
}

static void drift_create(int t)
{
    json_t *args = copper_must(json_object()), *out = copper_must(json_array()), *result = NULL;
    if (t == T_ACTIVITIES && sim_rand01() < 0.5)
        copper_jset(args, "activity_date", drift_activity_date(sim_rand01() < 0.5));
    if (copper_mutate_create(t, args, out, &result) != 200)
        abort();
    json_decref(result);
    json_decref(out);
    json_decref(args);
    CU.drifted++;
    CU.gen++;
}

void copper_drift_before_search(int t)
{
    if (t > T_ACTIVITIES)
        return;
    json_t *rec = CU.last_served[t] ? copper_find_by_id(t, CU.last_served[t], NULL) : NULL;
    if (rec && drift_roll("drift_boundary")) {
        drift_mutate(t, rec);
        CU.boundary++;
    }
    if (!drift_roll("drift_random"))
        return;
    size_t n = json_array_size(CU_TABLES[t].recs);
    if (n == 0 || sim_rand01() < 0.34)
        drift_create(t);
    else
        drift_mutate(t,
                     json_array_get(CU_TABLES[t].recs, (size_t)sim_rand_range(0, (int64_t)n - 1)));
}
