/* shard_migrate.c — fencing the producers of earlier layouts, once (shard_migrate.h). */
#include "shard_migrate.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shard.h"
#include "util.h"

#define FENCE_PARALLEL 16

void shard_history_init(shard_history *h)
{
    memset(h, 0, sizeof(*h));
}

void shard_history_free(shard_history *h)
{
    for (size_t i = 0; i < h->n_migrated; i++)
        free(h->migrated[i]);
    free(h->migrated);
    shard_history_init(h);
}

static void legacy_id(const kafka_config *kc, const char *source, buf *out)
{
    buf_reset(out);
    buf_printf(out, "crmstream-%s-%s", kc->topic_prefix, source);
}

static void forget_migrated(shard_history *h, const char *source, size_t len)
{
    for (size_t i = 0; i < h->n_migrated; i++)
        if (strlen(h->migrated[i]) == len && memcmp(h->migrated[i], source, len) == 0) {
            free(h->migrated[i]);
            h->migrated[i] = h->migrated[--h->n_migrated];
            return;
        }
}

/* mg/<source>: the source is migrated when the value names its legacy id under this prefix. */
static void visit_migrated(shard_history *h, const kafka_config *kc, const char *source, size_t len,
                           const char *value, size_t vlen)
{
    forget_migrated(h, source, len);
    char *name = strndup(source, len);
    buf id;
    buf_init(&id);
    legacy_id(kc, name, &id);
    if (value && vlen == id.len && memcmp(value, id.data, vlen) == 0) {
        if (h->n_migrated == h->cap_migrated) {
            h->cap_migrated = h->cap_migrated ? h->cap_migrated * 2 : 16;
            h->migrated = xrealloc(h->migrated, h->cap_migrated * sizeof(char *));
        }
        h->migrated[h->n_migrated++] = name;
        name = NULL;
    }
    free(name);
    buf_free(&id);
}

static void visit_layout(shard_history *h, const char *value, size_t vlen)
{
    h->shards = 0;
    json_t *j = value ? json_loadb(value, vlen, 0, NULL) : NULL;
    json_t *n = json_object_get(j, "shards");
    if (json_is_integer(n) && json_integer_value(n) > 0 && json_integer_value(n) < 100000)
        h->shards = (int)json_integer_value(n);
    json_decref(j);
}

int shard_history_visit(shard_history *h, const kafka_config *kc, const char *key, size_t klen,
                        const char *value, size_t vlen)
{
    if (klen > 3 && memcmp(key, "mg/", 3) == 0) {
        visit_migrated(h, kc, key + 3, klen - 3, value, vlen);
        return 1;
    }
    size_t dl = strlen(kc->deployment);
    if (klen > 3 && memcmp(key, "sl/", 3) == 0) {
        if (klen - 3 == dl && memcmp(key + 3, kc->deployment, dl) == 0)
            visit_layout(h, value, vlen);
        return 1;
    }
    return 0;
}

int shard_history_migrated(const shard_history *h, const char *source)
{
    for (size_t i = 0; i < h->n_migrated; i++)
        if (strcmp(h->migrated[i], source) == 0)
            return 1;
    return 0;
}

static void add_name(char ***names, int *n, char *name)
{
    *names = xrealloc(*names, (size_t)(*n + 1) * sizeof(char *));
    (*names)[(*n)++] = name;
}

void shard_migrate_stale_names(const kafka_config *kc, const shard_history *h,
                               const char *const *sources, int n_sources, const int *running,
                               char ***names, int *n)
{
    buf legacy;
    buf_init(&legacy);
    for (int i = 0; i < n_sources; i++)
        if (!shard_history_migrated(h, sources[i])) {
            legacy_id(kc, sources[i], &legacy);
            add_name(names, n, xstrdup(legacy.data));
        }
    buf_free(&legacy);
    if (h->shards == 0 || h->shards == kc->shards)
        return;
    int upto = h->shards > kc->shards ? h->shards : kc->shards;
    for (int id = 0; id < upto; id++) {
        if (id < kc->shards && running[id])
            continue;
        char name[24], txn_id[256];
        shard_name(id, name, sizeof(name));
        kafka_transactional_id(kc, name, txn_id, sizeof(txn_id));
        add_name(names, n, xstrdup(txn_id));
    }
}

typedef struct fence_job {
    const kafka_config *kc;
    char *const *names;
    int n;
    atomic_int next;
    pthread_mutex_t lock; /* guards err */
    char err[1024];
} fence_job;

static void *fence_worker(void *arg)
{
    fence_job *j = arg;
    for (int i; (i = atomic_fetch_add(&j->next, 1)) < j->n;) {
        char err[512];
        if (kafka_fence(j->kc, j->names[i], err, sizeof(err)) == 0)
            continue;
        pthread_mutex_lock(&j->lock);
        if (!j->err[0])
            snprintf(j->err, sizeof(j->err), "fencing %.200s: %s", j->names[i], err);
        pthread_mutex_unlock(&j->lock);
    }
    return NULL;
}

int shard_migrate_fence(const kafka_config *kc, char *const *names, int n, char *err, size_t errlen)
{
    if (n == 0)
        return 0;
    fence_job j = {.kc = kc, .names = names, .n = n};
    atomic_init(&j.next, 0);
    pthread_mutex_init(&j.lock, NULL);
    pthread_t threads[FENCE_PARALLEL];
    int started = 0;
    while (started < FENCE_PARALLEL && started < n &&
           pthread_create(&threads[started], NULL, fence_worker, &j) == 0)
        started++;
    if (started == 0)
        fence_worker(&j); /* no thread to spare: one after the other */
    for (int i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&j.lock);
    if (j.err[0]) {
        snprintf(err, errlen, "%s", j.err);
        return -1;
    }
    return 0;
}

void shard_migrate_add_source_record(const kafka_config *kc, kafka_batch *state, const char *source)
{
    buf key, id;
    buf_init(&key);
    buf_init(&id);
    buf_printf(&key, "mg/%s", source);
    legacy_id(kc, source, &id);
    kafka_batch_add(state, kc->state_topic, key.data, key.len, id.data, id.len);
    buf_free(&key);
    buf_free(&id);
}

void shard_migrate_add_layout_record(const kafka_config *kc, kafka_batch *state)
{
    buf key, value;
    buf_init(&key);
    buf_init(&value);
    buf_printf(&key, "sl/%s", kc->deployment);
    buf_printf(&value, "{\"v\":1,\"shards\":%d}", kc->shards);
    kafka_batch_add(state, kc->state_topic, key.data, key.len, value.data, value.len);
    buf_free(&key);
    buf_free(&value);
}
