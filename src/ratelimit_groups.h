/* ratelimit_groups.h — a source's request limiters keyed by endpoint group. Some APIs (Close)
 * limit each group of endpoints on its own: tables whose requests count against different groups
 * must not wait on each other, and tables of one group must share its budget. Tables without a
 * group share the source's one limiter. */
#ifndef CRM_RATELIMIT_GROUPS_H
#define CRM_RATELIMIT_GROUPS_H

#include "ratelimit.h"

typedef struct ratelimit_groups ratelimit_groups;

/* shared: the limiter of requests without a group (owned from now on). With learn, a group's
 * limiter is a learning bucket (ratelimit_new_learning) that starts at rate/burst and adopts
 * the limit its endpoints state; without, every group uses the shared one (a limit the user set
 * holds for the whole source). */
ratelimit_groups *ratelimit_groups_new(ratelimit *shared, double rate, int burst, int learn);
void ratelimit_groups_free(ratelimit_groups *g);

/* The limiter of `group` (made at its first use; the same one for every caller naming it), or
 * the shared one for NULL, "" or groups that do not learn. Thread-safe; valid until
 * ratelimit_groups_free. */
ratelimit *ratelimit_groups_get(ratelimit_groups *g, const char *group);

#endif
