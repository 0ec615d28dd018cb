/* sched_pool.c — the worker pool and timer heap behind the engine's tables (see sched_pool.h).
 *
 * One lock guards everything. A task is in exactly one place: the heap (armed), its group's
 * ready queue (due, waiting for a worker) or a worker (running); a done task is freed. Groups with
 * ready tasks and a free slot wait in a FIFO ring; a worker takes the ring's first group, runs
 * that group's first ready task and puts the group back at the ring's end while it has more:
 * round-robin across groups, FIFO (by due time) within one. */
#include "sched_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "util.h"

enum task_state { ARMED, READY, RUNNING };

struct sched_task {
    sched_turn_fn fn;
    void *arg;
    int group;
    enum task_state state;
    int64_t due_ms;
    uint64_t seq;   /* arming order: ties in due time go first armed, first run */
    size_t heap_at; /* index in the heap while ARMED */
    int wake;       /* woken while RUNNING: due at once after the turn */
    struct sched_task *next_ready;
    size_t at; /* index in the pool's task list */
};

typedef struct sched_group {
    sched_task *ready_head, *ready_tail;
    int running;
    int live; /* tasks of the group not done */
    int in_ring;
    int next_in_ring; /* group index, -1 at the ring's end */
} sched_group;

struct sched {
    pthread_mutex_t lock;
    pthread_cond_t work;     /* a task came due or was added, or stopping */
    pthread_cond_t all_done; /* live reached 0 */
    int stopping;
    int n_workers, started;
    int group_limit;
    pthread_t *threads;
    sched_task **heap;
    size_t heap_n, heap_cap;
    sched_task **tasks; /* every task not done (a done task is freed) */
    size_t n_tasks, tasks_cap;
    sched_group *groups;
    int n_groups;
    int ring_head, ring_tail; /* -1 when empty */
    int live;                 /* tasks not done (n_tasks) */
    uint64_t next_seq;
};

/* ---- the timer heap (ordered by due time, then arming order) ---- */

static int due_before(const sched_task *a, const sched_task *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_place(sched *s, size_t i, sched_task *t)
{
    s->heap[i] = t;
    t->heap_at = i;
}

static void heap_sift_up(sched *s, size_t i)
{
    sched_task *t = s->heap[i];
    while (i > 0 && due_before(t, s->heap[(i - 1) / 2])) {
        heap_place(s, i, s->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_place(s, i, t);
}

static void heap_sift_down(sched *s, size_t i)
{
    sched_task *t = s->heap[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_n)
            break;
        if (c + 1 < s->heap_n && due_before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!due_before(s->heap[c], t))
            break;
        heap_place(s, i, s->heap[c]);
        i = c;
    }
    heap_place(s, i, t);
}

static void heap_push(sched *s, sched_task *t)
{
    if (s->heap_n == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
        s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
    }
    heap_place(s, s->heap_n++, t);
    heap_sift_up(s, s->heap_n - 1);
}

static sched_task *heap_pop(sched *s)
{
    sched_task *top = s->heap[0];
    if (--s->heap_n > 0) {
        heap_place(s, 0, s->heap[s->heap_n]);
        heap_sift_down(s, 0);
    }
    return top;
}

static void heap_rebuild(sched *s)
{
    for (size_t i = s->heap_n / 2; i-- > 0;)
        heap_sift_down(s, i);
}

/* ---- groups and the ring of groups with ready tasks ---- */

static sched_group *group_of(sched *s, const sched_task *t)
{
    return &s->groups[t->group];
}

static void ensure_group(sched *s, int g)
{
    if (g < s->n_groups)
        return;
    s->groups = xrealloc(s->groups, (size_t)(g + 1) * sizeof(sched_group));
    for (int i = s->n_groups; i <= g; i++)
        s->groups[i] = (sched_group){NULL, NULL, 0, 0, 0, -1};
    s->n_groups = g + 1;
}

/* The group joins the ring's end when it has ready tasks and a free slot. */
static void ring_offer(sched *s, int g)
{
    sched_group *gr = &s->groups[g];
    if (gr->in_ring || !gr->ready_head || gr->running >= s->group_limit)
        return;
    gr->in_ring = 1;
    gr->next_in_ring = -1;
    if (s->ring_tail >= 0)
        s->groups[s->ring_tail].next_in_ring = g;
    else
        s->ring_head = g;
    s->ring_tail = g;
}

static int ring_pop(sched *s)
{
    int g = s->ring_head;
    if (g < 0)
        return -1;
    s->ring_head = s->groups[g].next_in_ring;
    if (s->ring_head < 0)
        s->ring_tail = -1;
    s->groups[g].in_ring = 0;
    return g;
}

static void make_ready(sched *s, sched_task *t)
{
    sched_group *gr = group_of(s, t);
    t->state = READY;
    t->next_ready = NULL;
    if (gr->ready_tail)
        gr->ready_tail->next_ready = t;
    else
        gr->ready_head = t;
    gr->ready_tail = t;
    ring_offer(s, t->group);
}

/* Every armed task due by now joins its group's ready queue, earliest first. */
static void release_due(sched *s, int64_t now)
{
    while (s->heap_n > 0 && s->heap[0]->due_ms <= now)
        make_ready(s, heap_pop(s));
}

/* The next task to run: the first ready task of the ring's first group (NULL: none). */
static sched_task *take_ready(sched *s)
{
    int g = ring_pop(s);
    if (g < 0)
        return NULL;
    sched_group *gr = &s->groups[g];
    sched_task *t = gr->ready_head;
    gr->ready_head = t->next_ready;
    if (!gr->ready_head)
        gr->ready_tail = NULL;
    gr->running++;
    t->state = RUNNING;
    ring_offer(s, g);
    return t;
}

static void arm(sched *s, sched_task *t, int64_t due_ms)
{
    t->state = ARMED;
    t->due_ms = due_ms;
    t->seq = s->next_seq++;
    heap_push(s, t);
}

/* A finished task leaves the task list and is freed (a pool whose sources come and go keeps
 * no trace of them). */
static void drop_task(sched *s, sched_task *t)
{
    s->tasks[t->at] = s->tasks[--s->n_tasks];
    s->tasks[t->at]->at = t->at;
    free(t);
}

/* A turn ended: the task is done (and freed), or armed again for its next due time. */
static void end_turn(sched *s, sched_task *t, int64_t next_due)
{
    int g = t->group;
    s->groups[g].running--;
    if (next_due == SCHED_DONE) {
        s->groups[g].live--;
        s->live--;
        drop_task(s, t);
        pthread_cond_broadcast(&s->all_done);
    } else {
        int64_t now = now_monotonic_ms();
        arm(s, t, t->wake || next_due < now ? now : next_due);
        t->wake = 0;
    }
    ring_offer(s, g);
    pthread_cond_broadcast(&s->work);
}

/* The absolute time ms from now on clock, for pthread_cond_timedwait. */
static struct timespec deadline_in(clockid_t clock, int64_t ms)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    int64_t ns = (int64_t)ts.tv_nsec + ms % 1000 * 1000000;
    ts.tv_sec += (time_t)(ms / 1000 + ns / 1000000000);
    ts.tv_nsec = (long)(ns % 1000000000);
    return ts;
}

/* Sleeps until the heap's first task is due, or something changes. */
static void wait_for_work(sched *s, int64_t now)
{
    if (s->heap_n == 0) {
        pthread_cond_wait(&s->work, &s->lock);
        return;
    }
    int64_t wait = s->heap[0]->due_ms - now;
    struct timespec ts = deadline_in(CLOCK_MONOTONIC, wait < 3600000 ? wait : 3600000);
    int rc = pthread_cond_timedwait(&s->work, &s->lock, &ts);
    (void)rc; /* ETIMEDOUT or woken: either way the heap is looked at again */
}

/* The pool of the worker running on this thread (sched_turn_contended). */
static _Thread_local sched *current_pool;

static void *worker_main(void *arg)
{
    sched *s = arg;
    current_pool = s;
    pthread_mutex_lock(&s->lock);
    while (!s->stopping) {
        int64_t now = now_monotonic_ms();
        release_due(s, now);
        sched_task *t = take_ready(s);
        if (!t) {
            wait_for_work(s, now);
            continue;
        }
        int64_t late = now - t->due_ms;
        pthread_mutex_unlock(&s->lock);
        int64_t next = t->fn(t->arg, late > 0 ? late : 0);
        pthread_mutex_lock(&s->lock);
        end_turn(s, t, next);
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* ---- the API ---- */

sched *sched_new(int workers, int group_limit)
{
    sched *s = xcalloc(1, sizeof(*s));
    s->n_workers = workers > 0 ? workers : 1;
    s->group_limit = group_limit > 0 ? group_limit : (s->n_workers + 1) / 2;
    s->ring_head = s->ring_tail = -1;
    s->threads = xcalloc((size_t)s->n_workers, sizeof(pthread_t));
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&s->all_done, NULL);
    return s;
}

int sched_start(sched *s)
{
    for (; s->started < s->n_workers; s->started++) {
        if (pthread_create(&s->threads[s->started], NULL, worker_main, s) != 0)
            break;
        pthread_setname_np(s->threads[s->started], "crm-worker"); /* ps, top, /proc: cosmetic */
    }
    return s->started > 0 ? 0 : -1;
}

sched_task *sched_add(sched *s, int group, sched_turn_fn fn, void *arg, int64_t due_ms)
{
    sched_task *t = xcalloc(1, sizeof(*t));
    t->fn = fn;
    t->arg = arg;
    t->group = group > 0 ? group : 0;
    pthread_mutex_lock(&s->lock);
    ensure_group(s, t->group);
    if (s->n_tasks == s->tasks_cap) {
        s->tasks_cap = s->tasks_cap ? s->tasks_cap * 2 : 64;
        s->tasks = xrealloc(s->tasks, s->tasks_cap * sizeof(*s->tasks));
    }
    t->at = s->n_tasks;
    s->tasks[s->n_tasks++] = t;
    s->live++;
    s->groups[t->group].live++;
    arm(s, t, due_ms);
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    return t;
}

/* Every armed task of group (any group when < 0) due now; running ones after their turn. */
static void wake(sched *s, int g)
{
    pthread_mutex_lock(&s->lock);
    int64_t now = now_monotonic_ms();
    for (size_t i = 0; i < s->n_tasks; i++) {
        sched_task *t = s->tasks[i];
        if (g >= 0 && t->group != g)
            continue;
        if (t->state == ARMED && t->due_ms > now)
            t->due_ms = now;
        else if (t->state == RUNNING)
            t->wake = 1;
    }
    heap_rebuild(s);
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
}

void sched_wake_all(sched *s)
{
    wake(s, -1);
}

void sched_wake_group(sched *s, int group)
{
    wake(s, group);
}

int sched_wait_group(sched *s, int group, int64_t timeout_ms)
{
    struct timespec ts = deadline_in(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&s->lock);
    int rc = 0, live = 0;
    while (group < s->n_groups && (live = s->groups[group].live) > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->all_done, &s->lock, &ts);
    pthread_mutex_unlock(&s->lock);
    return live;
}

int sched_wait(sched *s, int64_t timeout_ms)
{
    struct timespec ts = deadline_in(CLOCK_REALTIME, timeout_ms);
    pthread_mutex_lock(&s->lock);
    int rc = 0;
    while (s->live > 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&s->all_done, &s->lock, &ts);
    int live = s->live;
    pthread_mutex_unlock(&s->lock);
    return live;
}

void sched_free(sched *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->lock);
    for (int i = 0; i < s->started; i++)
        pthread_join(s->threads[i], NULL);
    for (size_t i = 0; i < s->n_tasks; i++)
        free(s->tasks[i]);
    free(s->tasks);
    free(s->heap);
    free(s->groups);
    free(s->threads);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->all_done);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

int sched_workers(const sched *s)
{
    return s->n_workers;
}

int sched_turn_contended(void)
{
    sched *s = current_pool;
    if (!s)
        return 0;
    pthread_mutex_lock(&s->lock);
    int waiting = s->ring_head >= 0 || (s->heap_n > 0 && s->heap[0]->due_ms <= now_monotonic_ms());
    pthread_mutex_unlock(&s->lock);
    return waiting;
}
