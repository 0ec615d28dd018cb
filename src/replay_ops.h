/* replay_ops.h — the replay's /healthz and /readyz (served by ops_server with the config's
 * metrics { } group, next to /metrics): alive while the consume loop turns, ready once the
 * group assigned partitions and the store took the last transaction. */
#ifndef CRM_REPLAY_OPS_H
#define CRM_REPLAY_OPS_H

#include <jansson.h>

/* Called by the consume loop on every turn. */
void replay_ops_beat(int assigned, int store_ok);
/* An ops_health_fn. */
json_t *replay_health(int ready, int *ok);

#endif
