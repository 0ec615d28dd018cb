/* sched_pool.h — runs many periodic tasks on a small fixed pool of worker threads (issue #20: an
 * engine that scales with accounts, not threads).
 *
 * A task is a function run in turns: each turn returns the monotonic time at which the task is
 * due again (SCHED_DONE: never). Armed tasks wait in a timer heap; a task that comes due joins
 * its group's ready queue, and workers take ready tasks round-robin across groups (a group is a
 * source: one source with many due tables gets one turn per round, like any other source). A
 * group never holds more than group_limit workers at once, so a source whose turns block (retry
 * backoffs, a slow API) cannot take every worker. */
#ifndef CRM_SCHED_POOL_H
#define CRM_SCHED_POOL_H

#include <stdint.h>

#define SCHED_DONE INT64_MIN

typedef struct sched sched;
typedef struct sched_task sched_task;

/* One turn of a task. late_ms: how long after its due time the turn started (>= 0). Returns
 * the monotonic ms at which the task is due again (now or earlier: at once, behind the tasks
 * already ready), or SCHED_DONE when the task is finished. */
typedef int64_t (*sched_turn_fn)(void *arg, int64_t late_ms);

/* workers >= 1; group_limit: most workers one group may hold at once (<= 0: half the workers,
 * rounded up). Workers start with sched_start. */
sched *sched_new(int workers, int group_limit);
/* Starts the workers. When some threads cannot be created the pool runs with the ones that
 * started; -1 when none could be (no task will run). */
int sched_start(sched *s);
/* Adds a task of group (>= 0), due at monotonic due_ms. The task belongs to the scheduler (freed
 * when done); tasks can be added while the workers run. */
sched_task *sched_add(sched *s, int group, sched_turn_fn fn, void *arg, int64_t due_ms);
/* Makes every armed task due now; a running one is re-armed for now after its turn. */
void sched_wake_all(sched *s);
/* The same for one group's tasks. */
void sched_wake_group(sched *s, int group);
/* Waits until every task is done or timeout_ms passed; returns the tasks not done. */
int sched_wait(sched *s, int64_t timeout_ms);
/* The same for the tasks of one group (a source that stops while the others run). */
int sched_wait_group(sched *s, int group, int64_t timeout_ms);
/* Stops the workers (a running turn finishes first), joins them and frees every task. */
void sched_free(sched *s);

int sched_workers(const sched *s);

/* From inside a turn: 1 when other tasks are due and waiting for a worker (the turn should
 * yield soon), 0 when none is or when not called from a worker. */
int sched_turn_contended(void);

#endif
