/* source.h — a configured source: its connector, resolved options (secrets read from the
 * environment), credentials, HTTP options and the rate limiter its tables share. */
#ifndef CRM_SOURCE_H
#define CRM_SOURCE_H

#include "config.h"
#include "connector.h"
#include "ratelimit_groups.h"

/* Builds a source from its config; calls the connector's source_init. NULL + err on failure. */
source *source_new(const source_config *cfg, char *err, size_t errlen);
void source_free(source *src);

const connector *source_connector(const source *src);
const source_config *source_config_of(const source *src);
const http_options *source_http_options(const source *src);
/* The limiter of the source's requests that belong to no endpoint group. */
ratelimit *source_ratelimit(source *src);
/* The limiter of endpoint group `group` of the source (table_def.rate_group; NULL or "": the
 * source's own): tables naming one group share it, other groups never wait on it. */
ratelimit *source_ratelimit_for(source *src, const char *group);
/* The HTTP clients' rate_signal_fn of a source (arg: the source): its connector's rate_signal. */
void source_rate_signal(void *src, const http_response *resp, rate_signal *out);

#endif
