/* connector.c — lookups over the compiled-in connectors and small helpers connectors share
 * for building URLs and parsing JSON bodies. */
#include "connector.h"
#include "json_load.h"
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

/* A body that is the records array itself (member NULL). */
static int raw_bare_array(const http_response *resp, page *out, char *err, size_t errlen)
{
    const char *body = resp->body.data ? resp->body.data : "", *end = body + resp->body.len;
    const char *arr = js_ws(body, end), *arr_end;
    if (js_peek(arr, end) != JS_ARRAY || !(arr_end = js_span(arr, end)) ||
        js_ws(arr_end, end) != end) {
        json_t *j = connector_parse_json(resp, err, errlen);
        if (j)
            snprintf(err, errlen, "response is not a JSON array");
        json_decref(j);
        return -1;
    }
    out->raw_from_response = 1;
    out->raw_off = (size_t)(arr - body);
    out->raw_len = (size_t)(arr_end - arr);
    return 0;
}

int connector_raw_records(const http_response *resp, const char *member, page *out,
                          json_t **envelope, char *err, size_t errlen)
{
    const char *body = resp->body.data ? resp->body.data : "";
    const char *end = body + resp->body.len, *p = body, *k, *v, *arr = NULL, *arr_end = NULL;
    size_t kl, want = member ? strlen(member) : 0;
    int first, esc, rc = -1;
    if (envelope)
        *envelope = json_object();
    if (!member) /* the body is the records array */
        return raw_bare_array(resp, out, err, errlen);
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
                json_t *val = jl_value(v, p);
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

/* The keys a slim scan keeps, with their lengths. */
typedef struct slim_keys {
    const char *const *name;
    size_t len[8], n;
} slim_keys;

/* The object at p as a jansson object of its members named in keys (values parsed, as jansson
 * would: the last of duplicate keys wins); the other members' values are only spanned (the
 * records are validated when they are encoded); *next = its end. NULL on invalid JSON met on
 * the way. */
static json_t *slim_record(const char *p, const char *end, const slim_keys *keys, const char **next)
{
    const char *k, *v;
    size_t kl;
    int first, esc, rc;
    json_t *o = json_object();
    if (js_object_begin(&p, end, &first)) {
        json_decref(o);
        return NULL;
    }
    while ((rc = js_object_next(&p, end, &first, &k, &kl, &esc, &v)) == 1) {
        size_t i = 0;
        while (i < keys->n && (esc || keys->len[i] != kl || memcmp(keys->name[i], k, kl) != 0))
            i++;
        const char *ve = i < keys->n ? js_skip(v, end) : js_span_value(v, end);
        json_t *val = ve && i < keys->n ? jl_value(v, ve) : NULL;
        if (!ve || (i < keys->n && (!val || json_object_set_new(o, keys->name[i], val)))) {
            rc = -1;
            break;
        }
        p = ve;
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    *next = p;
    return o;
}

json_t *connector_raw_slim(const http_response *resp, const page *out, const char *const *keys,
                           char *err, size_t errlen)
{
    const char *body = resp->body.data ? resp->body.data : "";
    const char *p = body + out->raw_off, *end = p + out->raw_len, *v;
    int first, rc = -1;
    slim_keys sk = {keys, {0}, 0};
    while (keys[sk.n] && sk.n < sizeof(sk.len) / sizeof(sk.len[0])) {
        sk.len[sk.n] = strlen(keys[sk.n]);
        sk.n++;
    }
    json_t *slim = json_array();
    if (!keys[sk.n] && js_array_begin(&p, end, &first) == 0) {
        while ((rc = js_array_next(&p, end, &first, &v)) == 1) {
            json_t *o = js_peek(v, end) == JS_OBJECT ? slim_record(v, end, &sk, &p) : NULL;
            if (!o || json_array_append_new(slim, o)) {
                rc = -1;
                break;
            }
        }
        if (rc == 0)
            return slim;
    }
    snprintf(err, errlen, "%s",
             keys[sk.n] ? "too many slim keys" : "invalid JSON in the records array");
    json_decref(slim);
    return NULL;
}

int connector_raw_add(page *out, const char *v, size_t len)
{
    if (len < 2 || v[0] != '{' || v[len - 1] != '}' || out->raw_from_response)
        return -1;
    if (out->raw.len == 0)
        buf_append(&out->raw, "[", 1);
    else /* replaces the closing bracket */
        out->raw.data[out->raw.len - 1] = ',';
    buf_append(&out->raw, v, len);
    buf_append(&out->raw, "]", 1);
    out->raw_off = 0;
    out->raw_len = out->raw.len;
    return 0;
}

int connector_raw_string(const char *obj, const char *obj_end, const char *key, buf *out)
{
    const char *v = js_member(obj, obj_end, key), *s;
    size_t len;
    int esc;
    buf_reset(out);
    if (!v || js_peek(v, obj_end) != JS_STRING || !js_string(v, obj_end, &s, &len, &esc))
        return -1;
    return esc ? js_unescape(s, len, out) : buf_append(out, s, len);
}

json_t *page_records(const http_response *resp, const page *pg)
{
    /* The records' text: in the response, or in pg->raw (the engine's page fetcher moves the
     * body there, and connectors that build their own text put it there). */
    const char *text = pg->raw.data                    ? pg->raw.data
                       : pg->raw_from_response && resp ? resp->body.data
                                                       : NULL;
    json_t *all = pg->records ? json_deep_copy(pg->records) : json_array();
    if (!all || pg->raw_len == 0)
        return all;
    json_t *raw = text ? json_loadb(text + pg->raw_off, pg->raw_len, 0, NULL) : NULL;
    int rc = json_is_array(raw) ? json_array_extend(all, raw) : -1;
    json_decref(raw);
    if (rc) {
        json_decref(all);
        return NULL;
    }
    return all;
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
