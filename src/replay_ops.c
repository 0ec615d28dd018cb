/* replay_ops.c — health of `crmstream replay` for the ops listener (see replay_ops.h). */
#include "replay_ops.h"

#include <stdatomic.h>

#include "util.h"

static atomic_llong heartbeat_ms;
static atomic_int assigned_once, store_ok = 1;

void replay_ops_beat(int assigned, int ok)
{
    atomic_store(&heartbeat_ms, now_monotonic_ms());
    if (assigned)
        atomic_store(&assigned_once, 1);
    atomic_store(&store_ok, ok);
}

json_t *replay_health(int ready, int *ok)
{
    json_t *reasons = json_array();
    int64_t age = now_monotonic_ms() - atomic_load(&heartbeat_ms);
    if (atomic_load(&heartbeat_ms) && age > 15000)
        json_array_append_new(reasons,
                              json_sprintf("consume loop stalled for %lld ms", (long long)age));
    if (ready && !atomic_load(&assigned_once))
        json_array_append_new(reasons, json_string("no partitions assigned yet"));
    if (ready && !atomic_load(&store_ok))
        json_array_append_new(reasons, json_string("the last store transaction failed"));
    *ok = json_array_size(reasons) == 0;
    return json_pack("{s:b, s:s, s:o}", ready ? "ready" : "alive", *ok, "phase", "replay",
                     "reasons", reasons);
}
