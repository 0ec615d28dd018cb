/* ops_server.h — the operator HTTP listener (libmicrohttpd): /metrics (Prometheus text),
 * /status (every source's and table's health as JSON, for `crmstream state`), /healthz (the
 * process and its loop are alive) and /readyz (Kafka reachable, state restored, every enabled
 * source authenticated), with JSON bodies saying why not. Off when the config has no
 * metrics { } group. */
#ifndef CRM_OPS_SERVER_H
#define CRM_OPS_SERVER_H

#include <jansson.h>

typedef struct ops_server ops_server;

/* Fills *ok and returns a new JSON object describing health (readiness when ready != 0). */
typedef json_t *(*ops_health_fn)(int ready, int *ok);

/* Starts listening on address:port (port 0: ephemeral). NULL + err on failure. */
ops_server *ops_server_start(const char *address, int port, ops_health_fn health, char *err,
                             size_t errlen);
int ops_server_port(const ops_server *s);
void ops_server_stop(ops_server *s);

#endif
