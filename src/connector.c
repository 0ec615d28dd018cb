/* connector.c — lookups over the compiled-in connectors and small helpers connectors share
 * for building URLs and parsing JSON bodies. */
#include "connector.h"

#include <stdio.h>
#include <string.h>

const char *sync_method_name(sync_method m)
{
    switch (m) {
    case SYNC_FULL_TABLE:
        return "FULL_TABLE";
    case SYNC_INCREMENTAL:
        return "INCREMENTAL";
    case SYNC_APPEND_ONLY:
        return "APPEND_ONLY";
    }
    return "?";
}

const connector *connector_find(const char *name)
{
    for (const connector *const *c = crm_connectors; *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

const table_def *connector_table(const connector *c, const char *name)
{
    for (size_t i = 0; i < c->n_tables; i++)
        if (strcmp(c->tables[i].name, name) == 0)
            return &c->tables[i];
    return NULL;
}

void connector_url(const source *src, http_request *req, const char *path)
{
    buf_reset(&req->url);
    buf_append_str(&req->url, source_base_url(src));
    buf_append_str(&req->url, path);
}

void connector_query(http_request *req, const char *name, const char *value)
{
    buf_append_str(&req->url, strchr(req->url.data ? req->url.data : "", '?') ? "&" : "?");
    buf_append_urlencoded(&req->url, name);
    buf_append_str(&req->url, "=");
    buf_append_urlencoded(&req->url, value);
}

json_t *connector_parse_json(const http_response *resp, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, &je);
    if (!j)
        snprintf(err, errlen, "invalid JSON at line %d: %s", je.line, je.text);
    return j;
}
