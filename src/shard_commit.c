/* shard_commit.c — group commit of a shard's tables (shard_commit.h).
 *
 * Requests queue up under the lock. A request that finds no transaction running takes the
 * queued requests (its own included, up to the queue's size limit) and commits them as one
 * transaction without the lock; the requests arriving meanwhile queue up for the next one. When it
 * ends, the committer hands the outcome to each participant and wakes everyone: a waiting request
 * whose transaction is still to come becomes the next committer. Requests are on their submitters'
 * stacks, which stay blocked until their request is done. */
#include "shard_commit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct request {
    kafka_batch *data, *state;
    kafka_result result;
    int done;
    char err[512];
    struct request *next;
} request;

struct shard_commit_queue {
    shard_commit_fn fn;
    void *u;
    pthread_mutex_t lock;
    pthread_cond_t ended;  /* a transaction ended: its participants are done */
    request *head, **tail; /* waiting for the next transaction, in arrival order */
    int committing;
    size_t max_messages; /* a transaction's size beyond its two first requests (0: no limit) */
    atomic_long rounds, requests;
};

shard_commit_queue *shard_commit_queue_new(shard_commit_fn fn, void *u, size_t max_messages)
{
    shard_commit_queue *q = xcalloc(1, sizeof(*q));
    q->fn = fn;
    q->u = u;
    q->max_messages = max_messages;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ended, NULL);
    q->tail = &q->head;
    return q;
}

void shard_commit_queue_free(shard_commit_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->ended);
    free(q);
}

/* Commits the requests of list (n of them) in one transaction, without the queue's lock. A
 * participant whose own message the producer refused gets the failure alone; the others are
 * committed again without it. */
static void commit_round(shard_commit_queue *q, request *list, size_t n, volatile int *stop)
{
    request **reqs = xcalloc(n, sizeof(*reqs));
    kafka_batch **data = xcalloc(n, sizeof(*data)), **state = xcalloc(n, sizeof(*state));
    size_t live = 0;
    for (request *r = list; r; r = r->next)
        reqs[live++] = r;
    for (;;) {
        for (size_t i = 0; i < live; i++) {
            data[i] = reqs[i]->data;
            state[i] = reqs[i]->state;
        }
        char err[512] = "";
        size_t refused = live;
        kafka_result res = q->fn(q->u, data, state, live, &refused, stop, err, sizeof(err));
        atomic_fetch_add(&q->rounds, 1);
        int alone = res == KAFKA_RETRY && live > 1 && refused < live;
        for (size_t i = 0; i < live; i++)
            if (!alone || i == refused) {
                reqs[i]->result = res;
                snprintf(reqs[i]->err, sizeof(reqs[i]->err), "%s", err);
            }
        if (!alone)
            break;
        memmove(&reqs[refused], &reqs[refused + 1], (live - refused - 1) * sizeof(*reqs));
        live--;
    }
    free(reqs);
    free(data);
    free(state);
    atomic_fetch_add(&q->requests, (long)n);
    pthread_mutex_lock(&q->lock);
    for (request *r = list, *next; r; r = next) {
        next = r->next; /* r may be gone as soon as done is set and the lock released */
        r->done = 1;
    }
    q->committing = 0;
    pthread_cond_broadcast(&q->ended);
    pthread_mutex_unlock(&q->lock);
}

static size_t request_messages(const request *r)
{
    return (r->data ? kafka_batch_count(r->data) : 0) +
           (r->state ? kafka_batch_count(r->state) : 0);
}

/* Takes the requests of the next transaction off the queue (lock held): the oldest and self
 * always (so no request waits for ever), then the others in arrival order while the
 * transaction stays within max_messages. *n: how many. */
static request *take_round(shard_commit_queue *q, request *self, size_t *n)
{
    request *taken = NULL, **ttail = &taken, *rest = NULL, **rtail = &rest;
    request *oldest = q->head;
    size_t total = request_messages(oldest) + (self != oldest ? request_messages(self) : 0);
    *n = 0;
    for (request *r = q->head, *next; r; r = next) {
        next = r->next;
        size_t m = request_messages(r);
        int mandatory = r == oldest || r == self;
        if (mandatory || !q->max_messages || total + m <= q->max_messages) {
            total += mandatory ? 0 : m;
            *ttail = r;
            ttail = &r->next;
            (*n)++;
        } else {
            *rtail = r;
            rtail = &r->next;
        }
    }
    *ttail = NULL;
    *rtail = NULL;
    q->head = rest;
    q->tail = rest ? rtail : &q->head;
    return taken;
}

kafka_result shard_commit_queue_submit(shard_commit_queue *q, kafka_batch *data, kafka_batch *state,
                                       volatile int *stop, char *err, size_t errlen)
{
    request self = {data, state, KAFKA_OK, 0, "", NULL};
    pthread_mutex_lock(&q->lock);
    *q->tail = &self;
    q->tail = &self.next;
    while (!self.done && q->committing)
        pthread_cond_wait(&q->ended, &q->lock);
    if (!self.done) { /* no transaction running: this one commits what is queued */
        size_t n = 0;
        request *list = take_round(q, &self, &n);
        q->committing = 1;
        pthread_mutex_unlock(&q->lock);
        commit_round(q, list, n, stop);
    } else {
        pthread_mutex_unlock(&q->lock);
    }
    snprintf(err, errlen, "%s", self.err);
    return self.result;
}

long shard_commit_queue_rounds(shard_commit_queue *q)
{
    return atomic_load(&q->rounds);
}

long shard_commit_queue_requests(shard_commit_queue *q)
{
    return atomic_load(&q->requests);
}
