/* ratelimit_groups.c — a source's limiters keyed by endpoint group (see ratelimit_groups.h): a
 * short list searched by name, since a source has a few dozen groups at most and looks one up
 * when a table starts, not per request. */
#include "ratelimit_groups.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

typedef struct group_limiter {
    char *name;
    ratelimit *rl;
} group_limiter;

struct ratelimit_groups {
    pthread_mutex_t lock;
    ratelimit *shared;
    double rate;
    int burst, learn;
    group_limiter *groups;
    int n, cap;
};

ratelimit_groups *ratelimit_groups_new(ratelimit *shared, double rate, int burst, int learn)
{
    ratelimit_groups *g = xcalloc(1, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->shared = shared;
    g->rate = rate;
    g->burst = burst;
    g->learn = learn;
    return g;
}

void ratelimit_groups_free(ratelimit_groups *g)
{
    if (!g)
        return;
    for (int i = 0; i < g->n; i++) {
        free(g->groups[i].name);
        ratelimit_free(g->groups[i].rl);
    }
    free(g->groups);
    ratelimit_free(g->shared);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

ratelimit *ratelimit_groups_get(ratelimit_groups *g, const char *group)
{
    if (!group || !*group || !g->learn)
        return g->shared;
    pthread_mutex_lock(&g->lock);
    ratelimit *rl = NULL;
    for (int i = 0; i < g->n && !rl; i++)
        if (strcmp(g->groups[i].name, group) == 0)
            rl = g->groups[i].rl;
    if (!rl) {
        if (g->n == g->cap) {
            g->cap = g->cap ? 2 * g->cap : 8;
            g->groups = xrealloc(g->groups, (size_t)g->cap * sizeof(*g->groups));
        }
        rl = ratelimit_new_learning(g->rate, g->burst);
        g->groups[g->n++] = (group_limiter){xstrdup(group), rl};
    }
    pthread_mutex_unlock(&g->lock);
    return rl;
}
