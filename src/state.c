/* state.c — reading the state topic back, and the bookmark value format. */
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crm_time.h"
#include "topic_reader.h"

void state_key_bookmark(buf *out, const char *source, const char *table)
{
    buf_reset(out);
    buf_printf(out, "bm/%s/%s", source, table);
}

void state_key_dedupe(buf *out, const char *source, const char *table, const char *pk,
                      size_t pk_len)
{
    buf_reset(out);
    buf_append(out, "dd/", 3);
    buf_append_str(out, source);
    buf_append(out, "/", 1);
    buf_append_str(out, table);
    buf_append(out, "/", 1);
    buf_append(out, pk, pk_len);
}

static int parse_hex64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

int state_dedupe_parse(const char *value, size_t len, uint64_t *hash)
{
    if (len == 16 && parse_hex64(value, hash) == 0) {
        *hash |= CONTENT_HASH_LEGACY;
        return 0;
    }
    return -1;
}

void state_bookmark_init(state_bookmark *b)
{
    b->bookmark_ms = CRM_TIME_NONE;
    b->pass_from_ms = CRM_TIME_NONE;
    b->paging = json_object();
    b->last_pass_ms = 0;
    b->last_reconcile_ms = 0;
    b->passes = 0;
    b->suspects = NULL;
}

void state_bookmark_clear(state_bookmark *b)
{
    json_decref(b->paging);
    b->paging = NULL;
    json_decref(b->suspects);
    b->suspects = NULL;
}

static int64_t time_field(const json_t *o, const char *name)
{
    const char *s = json_string_value(json_object_get(o, name));
    int64_t ms;
    if (!s || crm_time_parse(s, &ms))
        return CRM_TIME_NONE;
    return ms;
}

int state_bookmark_parse(const char *value, size_t len, state_bookmark *out, char *err,
                         size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(value, len, 0, &je);
    if (!j || !json_is_object(j)) {
        snprintf(err, errlen, "bookmark is not a JSON object: %s", j ? "" : je.text);
        json_decref(j);
        return -1;
    }
    json_int_t v = json_integer_value(json_object_get(j, "v"));
    if (v < 1 || v > STATE_VERSION) {
        snprintf(err, errlen,
                 "bookmark version %lld is not supported by this crmstream "
                 "(max %d)",
                 (long long)v, STATE_VERSION);
        json_decref(j);
        return -1;
    }
    out->bookmark_ms = time_field(j, "bookmark");
    out->pass_from_ms = time_field(j, "pass_from");
    json_t *paging = json_object_get(j, "paging");
    json_decref(out->paging);
    out->paging = json_is_object(paging) ? json_deep_copy(paging) : json_object();
    int64_t t = time_field(j, "last_pass");
    out->last_pass_ms = t == CRM_TIME_NONE ? 0 : t;
    t = time_field(j, "last_reconcile");
    out->last_reconcile_ms = t == CRM_TIME_NONE ? 0 : t;
    out->passes = (int)json_integer_value(json_object_get(j, "passes"));
    json_t *suspects = json_object_get(j, "suspects");
    json_decref(out->suspects);
    out->suspects = json_is_array(suspects) ? json_deep_copy(suspects) : NULL;
    json_decref(j);
    return 0;
}

static void set_time(json_t *o, const char *name, int64_t ms)
{
    if (ms == CRM_TIME_NONE || ms == 0) {
        json_object_set_new(o, name, json_null());
        return;
    }
    char t[40];
    crm_time_format(ms, t, sizeof(t));
    json_object_set_new(o, name, json_string(t));
}

void state_bookmark_format(const state_bookmark *b, buf *out)
{
    json_t *j = json_object();
    json_object_set_new(j, "v", json_integer(STATE_VERSION));
    set_time(j, "bookmark", b->bookmark_ms);
    set_time(j, "pass_from", b->pass_from_ms);
    json_object_set(j, "paging", b->paging ? b->paging : json_object());
    set_time(j, "last_pass", b->last_pass_ms);
    set_time(j, "last_reconcile", b->last_reconcile_ms);
    json_object_set_new(j, "passes", json_integer(b->passes));
    if (json_array_size(b->suspects) > 0)
        json_object_set(j, "suspects", b->suspects);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    buf_reset(out);
    if (s)
        buf_append_str(out, s);
    free(s);
    json_decref(j);
}

typedef struct restore_adapter {
    state_visit_fn fn;
    void *u;
} restore_adapter;

static int visit_state_record(const topic_record *r, void *u)
{
    restore_adapter *a = u;
    return a->fn(r->key, r->key_len, r->value, r->value_len, a->u);
}

long state_restore(const kafka_config *kc, state_visit_fn fn, void *u, int timeout_ms, char *err,
                   size_t errlen)
{
    restore_adapter a = {fn, u};
    return topic_read(kc, kc->state_topic, -1, visit_state_record, &a, timeout_ms, err, errlen);
}
