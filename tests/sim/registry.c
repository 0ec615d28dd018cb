/* registry.c — "registry", a simulator of the Confluent Schema Registry REST API as a producer
 * and a consumer use it, so registry mode is tested without Confluent's server.
 *
 *   POST /subjects/{s}/versions {"schema":"..."[,"schemaType":"AVRO"]} -> {"id":N}
 *        the same schema (parsed JSON equal) under the subject returns its id; the same schema
 *        under another subject reuses the global id; otherwise the new schema is checked against
 *        the subject's versions under its compatibility level (NONE, BACKWARD (default),
 *        BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE) with real Avro
 *        schema resolution (src/schema_compat.c). 409 {"error_code":409,"message":"Schema being
 *        registered is incompatible with an earlier schema for subject \"s\", details: [...]"};
 *        invalid JSON or schema: 422 {"error_code":42201,"message":"Invalid schema ..."}.
 *   POST /subjects/{s} {"schema":...} -> {"subject","id","version","schema"}; 40401 unknown
 *        subject, 40403 schema not found (404).
 *   GET  /subjects, /subjects/{s}/versions, /subjects/{s}/versions/{v|latest}
 *        ({"subject","version","id","schema"}; 40401 / 40402 version not found)
 *   GET  /schemas/ids/{id} -> {"schema":...} (40403)
 *   GET|PUT /config, /config/{s}: {"compatibilityLevel":L} / PUT {"compatibility":L}
 *   POST /compatibility/subjects/{s}/versions/latest {"schema":...} -> {"is_compatible":bool}
 *   DELETE /subjects/{s} -> [versions]
 * Content-Type application/vnd.schemaregistry.v1+json. Params user/password turn on HTTP Basic
 * auth (401 {"error_code":401,"message":"Unauthorized"}). Ids start at 1.
 * Control actions:
 *   reject {"subject":S[,"message":M][,"count":n]}  the next n (default: all) registrations of
 *          a new schema under S answer 409 with M (a registry that refuses a schema)
 *   truth  {} -> {"subjects":{"s":[{"version","id","schema"}]},"schemas":n}
 */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema_compat.h"

#define CT "application/vnd.schemaregistry.v1+json"

static struct {
    json_t *schemas;  /* array: index id-1 -> parsed schema */
    json_t *subjects; /* subject -> [{"version","id"}] */
    json_t *config;   /* subject -> level; "" -> global */
    json_t *rejects;  /* subject -> {"message","count"} */
} R;

static int reg_init(const sim_options *opts)
{
    (void)opts;
    R.schemas = json_array();
    R.subjects = json_object();
    R.config = json_pack("{s:s}", "", "BACKWARD");
    R.rejects = json_object();
    return 0;
}

static void reg_free(void)
{
    json_decref(R.schemas);
    json_decref(R.subjects);
    json_decref(R.config);
    json_decref(R.rejects);
}

static void reply(sim_response *resp, int status, json_t *body)
{
    sim_json(resp, status, body);
    sim_set_header(resp, "Content-Type", CT);
}

static void error(sim_response *resp, int status, int code, const char *msg)
{
    reply(resp, status, json_pack("{s:i, s:s}", "error_code", code, "message", msg));
}

static char *schema_text(int id)
{
    return json_dumps(json_array_get(R.schemas, (size_t)id - 1), JSON_COMPACT | JSON_ENCODE_ANY);
}

/* The global id of a schema equal to s, or 0. */
static int find_schema(const json_t *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(R.schemas, i, x) if (json_equal(x, s)) return (int)i + 1;
    return 0;
}

static const char *level_of(const char *subject)
{
    const char *l = json_string_value(json_object_get(R.config, subject));
    return l ? l : json_string_value(json_object_get(R.config, ""));
}

/* Checks s against the subject's versions under its level; 1 ok, 0 with details set. */
static int compatible(const char *subject, const json_t *s, char *details, size_t len)
{
    const char *level = level_of(subject);
    json_t *versions = json_object_get(R.subjects, subject);
    size_t n = json_array_size(versions);
    if (n == 0 || strcmp(level, "NONE") == 0)
        return 1;
    int transitive = strstr(level, "TRANSITIVE") != NULL;
    int backward = strncmp(level, "BACKWARD", 8) == 0 || strncmp(level, "FULL", 4) == 0;
    int forward = strncmp(level, "FORWARD", 7) == 0 || strncmp(level, "FULL", 4) == 0;
    for (size_t i = transitive ? 0 : n - 1; i < n; i++) {
        int id = (int)json_integer_value(json_object_get(json_array_get(versions, i), "id"));
        const json_t *old = json_array_get(R.schemas, (size_t)id - 1);
        char why[400];
        if (backward && schema_compat_can_read(s, old, why, sizeof(why)) != 1) {
            snprintf(details, len, "{oldSchemaVersion: %zu, reader: new, %s}", i + 1, why);
            return 0;
        }
        if (forward && schema_compat_can_read(old, s, why, sizeof(why)) != 1) {
            snprintf(details, len, "{oldSchemaVersion: %zu, reader: old, %s}", i + 1, why);
            return 0;
        }
    }
    return 1;
}

/* Parses {"schema":"<text>"} into a schema; NULL after answering 422. */
static json_t *parse_request_schema(const sim_request *req, sim_response *resp)
{
    size_t len;
    const char *body = sim_body(req, &len);
    json_t *j = json_loadb(body ? body : "", len, 0, NULL);
    const char *text = json_string_value(json_object_get(j, "schema"));
    json_t *s = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
    char why[300];
    if (s && schema_compat_can_read(s, s, why, sizeof(why)) != 1) {
        json_decref(s);
        s = NULL;
    }
    if (!s) {
        char msg[400];
        snprintf(msg, sizeof(msg), "Invalid schema %s",
                 text ? "(not a valid Avro schema)" : "(no \"schema\" string)");
        error(resp, 422, 42201, msg);
    }
    json_decref(j);
    return s;
}

static void register_schema(const char *subject, const sim_request *req, sim_response *resp)
{
    json_t *s = parse_request_schema(req, resp);
    if (!s)
        return;
    json_t *versions = json_object_get(R.subjects, subject);
    size_t i;
    json_t *v;
    json_array_foreach(versions, i, v)
    {
        int id = (int)json_integer_value(json_object_get(v, "id"));
        if (json_equal(json_array_get(R.schemas, (size_t)id - 1), s)) {
            reply(resp, 200, json_pack("{s:i}", "id", id));
            json_decref(s);
            return;
        }
    }
    json_t *rej = json_object_get(R.rejects, subject);
    char details[600];
    if (rej) {
        const char *m = json_string_value(json_object_get(rej, "message"));
        error(resp, 409, 409, m ? m : "Schema rejected by the registry");
        json_int_t left = json_integer_value(json_object_get(rej, "count"));
        if (left == 1)
            json_object_del(R.rejects, subject);
        else if (left > 1)
            json_object_set_new(rej, "count", json_integer(left - 1));
        json_decref(s);
        return;
    }
    if (!compatible(subject, s, details, sizeof(details))) {
        char msg[1400];
        snprintf(msg, sizeof(msg),
                 "Schema being registered is incompatible with an earlier schema for subject "
                 "\"%s\", details: [%s]",
                 subject, details);
        error(resp, 409, 409, msg);
        json_decref(s);
        return;
    }
    int id = find_schema(s);
    if (!id) {
        json_array_append(R.schemas, s);
        id = (int)json_array_size(R.schemas);
    }
    if (!versions) {
        versions = json_array();
        json_object_set_new(R.subjects, subject, versions);
    }
    json_array_append_new(
        versions, json_pack("{s:i, s:i}", "version", (int)json_array_size(versions) + 1, "id", id));
    reply(resp, 200, json_pack("{s:i}", "id", id));
    json_decref(s);
}

static void version_reply(sim_response *resp, const char *subject, const json_t *v)
{
    int id = (int)json_integer_value(json_object_get(v, "id"));
    char *text = schema_text(id);
    reply(resp, 200,
          json_pack("{s:s, s:O, s:i, s:s}", "subject", subject, "version",
                    json_object_get(v, "version"), "id", id, "schema", text));
    free(text);
}

/* Splits "/subjects/<s>/rest" into subject (decoded by the framework? no: raw) and rest. */
static void url_decode(const char *in, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < outlen; i++) {
        if (in[i] == '%' && i + 2 < n) {
            char hex[3] = {in[i + 1], in[i + 2], 0};
            out[o++] = (char)strtol(hex, NULL, 16);
            i += 2;
        } else {
            out[o++] = in[i];
        }
    }
    out[o] = '\0';
}

static int authorized(const sim_request *req)
{
    const char *user = sim_param("user", NULL), *pass = sim_param("password", "");
    if (!user)
        return 1;
    const char *u = sim_basic_user(req), *p = sim_basic_password(req);
    return u && p && strcmp(u, user) == 0 && strcmp(p, pass) == 0;
}

static void subject_request(const char *method, const char *subject, const char *rest,
                            const sim_request *req, sim_response *resp)
{
    json_t *versions = json_object_get(R.subjects, subject);
    if (strcmp(rest, "/versions") == 0 && strcmp(method, "POST") == 0) {
        register_schema(subject, req, resp);
    } else if (!versions) {
        error(resp, 404, 40401, "Subject not found");
    } else if (*rest == '\0' && strcmp(method, "DELETE") == 0) {
        json_t *list = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v) json_array_append(list, json_object_get(v, "version"));
        json_object_del(R.subjects, subject);
        reply(resp, 200, list);
    } else if (*rest == '\0' && strcmp(method, "POST") == 0) {
        json_t *s = parse_request_schema(req, resp);
        if (!s)
            return;
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v)
        {
            int id = (int)json_integer_value(json_object_get(v, "id"));
            if (json_equal(json_array_get(R.schemas, (size_t)id - 1), s)) {
                version_reply(resp, subject, v);
                json_decref(s);
                return;
            }
        }
        json_decref(s);
        error(resp, 404, 40403, "Schema not found");
    } else if (strcmp(rest, "/versions") == 0) {
        json_t *list = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(versions, i, v) json_array_append(list, json_object_get(v, "version"));
        reply(resp, 200, list);
    } else if (strncmp(rest, "/versions/", 10) == 0) {
        const char *which = rest + 10;
        long n = strcmp(which, "latest") == 0 ? (long)json_array_size(versions) : atol(which);
        json_t *v = n >= 1 ? json_array_get(versions, (size_t)n - 1) : NULL;
        if (v)
            version_reply(resp, subject, v);
        else
            error(resp, 404, 40402, "Version not found");
    } else {
        error(resp, 404, 404, "HTTP 404 Not Found");
    }
}

static void reg_handle(const sim_request *req, sim_response *resp)
{
    const char *method = sim_method(req), *path = sim_path(req);
    if (!authorized(req)) {
        error(resp, 401, 401, "Unauthorized");
        return;
    }
    char subject[512];
    if (strncmp(path, "/subjects/", 10) == 0) {
        const char *s = path + 10, *slash = strchr(s, '/');
        url_decode(s, slash ? (size_t)(slash - s) : strlen(s), subject, sizeof(subject));
        subject_request(method, subject, slash ? slash : "", req, resp);
    } else if (strcmp(path, "/subjects") == 0) {
        json_t *list = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(R.subjects, k, v) json_array_append_new(list, json_string(k));
        reply(resp, 200, list);
    } else if (strncmp(path, "/schemas/ids/", 13) == 0) {
        long id = atol(path + 13);
        if (id < 1 || (size_t)id > json_array_size(R.schemas)) {
            error(resp, 404, 40403, "Schema not found");
            return;
        }
        char *text = schema_text((int)id);
        reply(resp, 200, json_pack("{s:s}", "schema", text));
        free(text);
    } else if (strncmp(path, "/config", 7) == 0 && (path[7] == '\0' || path[7] == '/')) {
        url_decode(path[7] ? path + 8 : "", path[7] ? strlen(path + 8) : 0, subject,
                   sizeof(subject));
        if (strcmp(method, "PUT") == 0) {
            size_t len;
            const char *body = sim_body(req, &len);
            json_t *j = json_loadb(body ? body : "", len, 0, NULL);
            const char *l = json_string_value(json_object_get(j, "compatibility"));
            if (!l) {
                error(resp, 422, 42203, "Invalid compatibility level");
            } else {
                json_object_set_new(R.config, subject, json_string(l));
                reply(resp, 200, json_pack("{s:s}", "compatibility", l));
            }
            json_decref(j);
        } else {
            reply(resp, 200, json_pack("{s:s}", "compatibilityLevel", level_of(subject)));
        }
    } else if (strncmp(path, "/compatibility/subjects/", 24) == 0 && strcmp(method, "POST") == 0) {
        const char *s = path + 24, *slash = strchr(s, '/');
        url_decode(s, slash ? (size_t)(slash - s) : strlen(s), subject, sizeof(subject));
        if (!json_object_get(R.subjects, subject)) {
            error(resp, 404, 40401, "Subject not found");
            return;
        }
        json_t *sc = parse_request_schema(req, resp);
        if (!sc)
            return;
        char details[600];
        reply(
            resp, 200,
            json_pack("{s:b}", "is_compatible", compatible(subject, sc, details, sizeof(details))));
        json_decref(sc);
    } else {
        error(resp, 404, 404, "HTTP 404 Not Found");
    }
}

static int reg_control(const char *action, json_t *args, json_t **result)
{
    if (strcmp(action, "reject") == 0) {
        const char *subject = json_string_value(json_object_get(args, "subject"));
        if (!subject)
            return 400;
        json_t *m = json_object_get(args, "message");
        json_object_set_new(R.rejects, subject,
                            json_pack("{s:O, s:I}", "message", m ? m : json_null(), "count",
                                      json_integer_value(json_object_get(args, "count"))));
        *result = json_pack("{s:b}", "ok", 1);
        return 200;
    }
    if (strcmp(action, "truth") == 0) {
        json_t *subjects = json_object();
        const char *k;
        json_t *versions;
        json_object_foreach(R.subjects, k, versions)
        {
            json_t *list = json_array();
            size_t i;
            json_t *v;
            json_array_foreach(versions, i, v)
            {
                int id = (int)json_integer_value(json_object_get(v, "id"));
                char *text = schema_text(id);
                json_array_append_new(list, json_pack("{s:O, s:i, s:s}", "version",
                                                      json_object_get(v, "version"), "id", id,
                                                      "schema", text));
                free(text);
            }
            json_object_set_new(subjects, k, list);
        }
        *result = json_pack("{s:o, s:i}", "subjects", subjects, "schemas",
                            (int)json_array_size(R.schemas));
        return 200;
    }
    return 404;
}

const sim_crm sim_registry = {
    .name = "registry",
    .init = reg_init,
    .handle = reg_handle,
    .control = reg_control,
    .rate_limited = NULL,
    .free = reg_free,
};
