/* connector.c — lookups over the compiled-in connectors and small helpers connectors share
 * for building URLs and parsing JSON bodies. */
#include "connector.h"
#include "json_scan.h"
#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
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

const connector_option *connector_secret_file_twin(const connector *c, const char *name)
{
    for (const connector_option *o = c->options; o && o->name; o++) {
        char twin[128];
        if (o->type == OPT_ENV &&
            strcmp(secret_file_option(o->name, twin, sizeof(twin)), name) == 0)
            return o;
    }
    return NULL;
}

const table_def *connector_table(const connector *c, const char *name)
{
    for (size_t i = 0; i < c->n_tables; i++)
        if (strcmp(c->tables[i].name, name) == 0)
            return &c->tables[i];
    return NULL;
}

http_verdict connector_classify(const connector *c, const table_def *table,
                                const http_response *resp)
{
    if (c->classify)
        return c->classify(table, resp);
    if (resp->status == 401)
        return VERDICT_AUTH;
    if (resp->status == 402 || resp->status == 403)
        return VERDICT_UNAVAILABLE;
    return VERDICT_ERROR;
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

int connector_raw_records(const http_response *resp, const char *member, page *out,
                          json_t **envelope, char *err, size_t errlen)
{
    const char *body = resp->body.data ? resp->body.data : "";
    const char *end = body + resp->body.len, *p = body, *k, *v, *arr = NULL, *arr_end = NULL;
    size_t kl, want = strlen(member);
    int first, esc, rc = -1;
    if (envelope)
        *envelope = json_object();
    /* one pass over the top-level members: the records array is only spanned (its records are
     * validated as they are encoded, and a page whose records turn out invalid publishes
     * nothing), the other members, small, are parsed for the connector */
    if (js_object_begin(&p, end, &first) == 0) {
        while ((rc = js_object_next(&p, end, &first, &k, &kl, &esc, &v)) == 1) {
            int records =
                !esc && kl == want && memcmp(k, member, kl) == 0 && js_peek(v, end) == JS_ARRAY;
            if (!(p = records ? js_span(v, end) : js_skip(v, end))) {
                rc = -1;
                break;
            }
            if (records) {
                arr = v;
                arr_end = p;
            } else if (envelope && !esc) {
                json_t *val = json_loadb(v, (size_t)(p - v), JSON_DECODE_ANY, NULL);
                char *key = strndup(k, kl);
                if (val && key)
                    json_object_set_new(*envelope, key, val);
                else
                    json_decref(val);
                free(key);
            }
        }
    }
    if (rc != 0 || js_ws(p, end) != end) {
        /* let jansson say what is wrong, with a line number */
        json_t *j = connector_parse_json(resp, err, errlen);
        if (j)
            snprintf(err, errlen, "response is not a JSON object");
        json_decref(j);
    } else if (!arr) {
        snprintf(err, errlen, "response has no \"%s\" array", member);
    } else {
        out->raw_from_response = 1; /* the engine moves the body into out->raw, no copy */
        out->raw_off = (size_t)(arr - body);
        out->raw_len = (size_t)(arr_end - arr);
        return 0;
    }
    if (envelope) {
        json_decref(*envelope);
        *envelope = NULL;
    }
    return -1;
}

void page_clear(page *pg)
{
    json_decref(pg->records);
    json_decref(pg->deletes);
    json_decref(pg->upserts);
    json_decref(pg->ids);
    json_decref(pg->reconcile_tables);
    buf_free(&pg->raw);
    memset(pg, 0, sizeof(*pg));
}
