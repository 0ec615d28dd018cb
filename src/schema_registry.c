/* schema_registry.c — Confluent Schema Registry REST client over the engine's HTTP client
 * (see schema_registry.h). Caches: (subject, schema text) -> id, id -> schema text. */
#include "schema_registry.h"

#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aenc.h"
#include "engine.h"
#include "http.h"

#define SR_CONTENT_TYPE "application/vnd.schemaregistry.v1+json"

struct sr_client {
    const registry_config *cfg;
    http_options opts;
    http_auth auth;
    http_client *http;
    pthread_mutex_t lock;
    json_t *ids;     /* "<subject>\n<schema>" -> id */
    json_t *schemas; /* "<id>" -> schema text */
};

sr_client *sr_new(const registry_config *cfg, char *err, size_t errlen)
{
    sr_client *c = xcalloc(1, sizeof(*c));
    c->cfg = cfg;
    http_options_defaults(&c->opts);
    c->opts.timeout_ms = (long)cfg->timeout_s * 1000;
    c->opts.verify_tls = cfg->verify_tls;
    c->opts.ca_file = cfg->ca_file;
    c->opts.max_retries = 5;
    c->auth.basic_user = cfg->username;
    c->auth.basic_password = cfg->password;
    c->http = http_client_new(&c->opts, &c->auth, NULL, NULL, NULL, "schema_registry");
    if (!c->http) {
        snprintf(err, errlen, "schema_registry: cannot create the HTTP client");
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    c->ids = json_object();
    c->schemas = json_object();
    return c;
}

void sr_free(sr_client *c)
{
    if (!c)
        return;
    http_client_free(c->http);
    pthread_mutex_destroy(&c->lock);
    json_decref(c->ids);
    json_decref(c->schemas);
    free(c);
}

/* ---- requests ---------------------------------------------------------------------------- */

static void url_for(const sr_client *c, http_request *req, const char *fmt, const char *subject)
{
    buf_reset(&req->url);
    buf_append_str(&req->url, c->cfg->url);
    while (req->url.len > 0 && req->url.data[req->url.len - 1] == '/')
        req->url.data[--req->url.len] = '\0';
    for (const char *p = fmt; *p; p++) {
        if (*p == '%' && p[1] == 's') {
            buf_append_urlencoded(&req->url, subject);
            p++;
        } else {
            buf_append(&req->url, p, 1);
        }
    }
}

/* Performs req; returns the parsed JSON body of a 2xx answer, or NULL with *res and err set:
 * the registry's error_code and message for 4xx, SR_UNAVAILABLE when it could not be reached. */
static json_t *call(sr_client *c, http_request *req, sr_result *res, long *status, char *err,
                    size_t errlen)
{
    http_request_add_header(req, "Accept: " SR_CONTENT_TYPE ", application/json");
    if (req->body.len > 0)
        req->content_type = SR_CONTENT_TYPE;
    http_response resp;
    http_response_init(&resp);
    http_result hr =
        http_client_execute(c->http, req, &resp, &engine_stop_requested, NULL, err, errlen);
    json_t *body = NULL;
    *status = resp.status;
    char url[512];
    http_redact_url(req->url.data, &c->auth, url, sizeof(url));
    if (hr != HTTP_OK || resp.status >= 500) {
        char e2[600];
        snprintf(e2, sizeof(e2), "schema registry %s unreachable: %s", url, err);
        snprintf(err, errlen, "%s", e2);
        *res = SR_UNAVAILABLE;
    } else {
        json_error_t je;
        body = json_loadb(resp.body.data, resp.body.len, 0, &je);
        if (resp.status >= 200 && resp.status < 300 && body) {
            *res = SR_OK;
        } else {
            const char *msg = json_string_value(json_object_get(body, "message"));
            json_int_t code = json_integer_value(json_object_get(body, "error_code"));
            char excerpt[300];
            http_body_excerpt(&resp, excerpt, sizeof(excerpt));
            snprintf(
                err, errlen,
                "schema registry HTTP %ld (error_code %" JSON_INTEGER_FORMAT ") from %s %s: %s",
                resp.status, code, req->method ? req->method : "GET", url, msg ? msg : excerpt);
            *res = resp.status == 409 || resp.status == 422 ? SR_INCOMPATIBLE : SR_ERROR;
            json_decref(body);
            body = NULL;
        }
    }
    http_response_free(&resp);
    return body;
}

/* POST {"schema": schema_json} to the path fmt (with %s = subject); the answer's JSON. */
static json_t *post_schema(sr_client *c, const char *fmt, const char *subject,
                           const char *schema_json, sr_result *res, long *status, char *err,
                           size_t errlen)
{
    http_request req;
    http_request_init(&req);
    req.method = "POST";
    url_for(c, &req, fmt, subject);
    json_t *payload = json_pack("{s:s}", "schema", schema_json);
    char *text = json_dumps(payload, JSON_COMPACT);
    buf_append_str(&req.body, text ? text : "{}");
    free(text);
    json_decref(payload);
    json_t *body = call(c, &req, res, status, err, errlen);
    http_request_free(&req);
    return body;
}

static void cache_key(buf *k, const char *subject, const char *schema)
{
    buf_reset(k);
    buf_printf(k, "%s\n%s", subject, schema);
}

sr_result sr_register(sr_client *c, const char *subject, const char *schema_json, uint32_t *id,
                      char *err, size_t errlen)
{
    buf key;
    buf_init(&key);
    cache_key(&key, subject, schema_json);
    pthread_mutex_lock(&c->lock);
    json_t *hit = json_object_get(c->ids, key.data);
    sr_result res = SR_OK;
    if (hit) {
        *id = (uint32_t)json_integer_value(hit);
    } else {
        long status;
        json_t *body = post_schema(c, "/subjects/%s/versions", subject, schema_json, &res, &status,
                                   err, errlen);
        json_t *idj = json_object_get(body, "id");
        if (res == SR_OK && !json_is_integer(idj)) {
            snprintf(err, errlen, "schema registry: no id in the answer to registering %s",
                     subject);
            res = SR_ERROR;
        }
        if (res == SR_OK) {
            *id = (uint32_t)json_integer_value(idj);
            json_object_set_new(c->ids, key.data, json_integer((json_int_t)*id));
            char ids[16];
            snprintf(ids, sizeof(ids), "%" PRIu32, *id);
            json_object_set_new(c->schemas, ids, json_string(schema_json));
        }
        json_decref(body);
    }
    pthread_mutex_unlock(&c->lock);
    buf_free(&key);
    return res;
}

sr_result sr_schema_by_id(sr_client *c, uint32_t id, const char **schema_json, char *err,
                          size_t errlen)
{
    char ids[16];
    snprintf(ids, sizeof(ids), "%" PRIu32, id);
    pthread_mutex_lock(&c->lock);
    sr_result res = SR_OK;
    json_t *hit = json_object_get(c->schemas, ids);
    if (!hit) {
        http_request req;
        http_request_init(&req);
        char path[64];
        snprintf(path, sizeof(path), "/schemas/ids/%" PRIu32, id);
        url_for(c, &req, path, NULL);
        long status;
        json_t *body = call(c, &req, &res, &status, err, errlen);
        http_request_free(&req);
        const json_t *s = json_object_get(body, "schema");
        if (res == SR_OK && json_is_string(s)) {
            json_object_set(c->schemas, ids, (json_t *)s);
            hit = json_object_get(c->schemas, ids);
        } else if (res == SR_OK) {
            snprintf(err, errlen, "schema registry: no schema in the answer for id %s", ids);
            res = SR_ERROR;
        }
        json_decref(body);
    }
    *schema_json = hit ? json_string_value(hit) : NULL;
    pthread_mutex_unlock(&c->lock);
    return res;
}

sr_result sr_lookup(sr_client *c, const char *subject, const char *schema_json, uint32_t *id,
                    int *version, char *err, size_t errlen)
{
    sr_result res;
    long status;
    pthread_mutex_lock(&c->lock);
    json_t *body = post_schema(c, "/subjects/%s", subject, schema_json, &res, &status, err, errlen);
    pthread_mutex_unlock(&c->lock);
    if (res == SR_OK) {
        *id = (uint32_t)json_integer_value(json_object_get(body, "id"));
        *version = (int)json_integer_value(json_object_get(body, "version"));
    } else if (res == SR_ERROR && status == 404) {
        res = SR_NOT_FOUND;
    }
    json_decref(body);
    return res;
}

sr_result sr_check_compatibility(sr_client *c, const char *subject, const char *schema_json,
                                 int *compatible, char *err, size_t errlen)
{
    sr_result res;
    long status;
    pthread_mutex_lock(&c->lock);
    json_t *body = post_schema(c, "/compatibility/subjects/%s/versions/latest", subject,
                               schema_json, &res, &status, err, errlen);
    pthread_mutex_unlock(&c->lock);
    if (res == SR_ERROR && status == 404) { /* no version yet: anything is compatible */
        *compatible = 1;
        res = SR_OK;
    } else if (res == SR_OK) {
        *compatible = json_is_true(json_object_get(body, "is_compatible"));
    }
    json_decref(body);
    return res;
}

/* ---- wire format ------------------------------------------------------------------------- */

void sr_frame(buf *out, uint32_t id, const void *body, size_t len)
{
    unsigned char h[5] = {0, (unsigned char)(id >> 24), (unsigned char)(id >> 16),
                          (unsigned char)(id >> 8), (unsigned char)id};
    buf_reset(out);
    buf_append(out, h, sizeof(h));
    buf_append(out, body, len);
}

int sr_unframe(const void *data, size_t len, uint32_t *id, const void **body, size_t *body_len,
               char *err, size_t errlen)
{
    const unsigned char *p = data;
    if (len < 5 || p[0] != 0) {
        snprintf(err, errlen, "%s",
                 len < 5 ? "shorter than the 5-byte Confluent header"
                         : "magic byte is not 0 (not Confluent framed)");
        return -1;
    }
    *id = ((uint32_t)p[1] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 8) | p[4];
    *body = p + 5;
    *body_len = len - 5;
    return 0;
}

void sr_avro_string(buf *out, const char *s, size_t len)
{
    aenc_put_string(out, s, len);
}
