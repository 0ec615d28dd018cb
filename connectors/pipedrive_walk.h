/* pipedrive_walk.h — checked offset paging for Pipedrive's v1 start/limit lists.
 *
 * v1 lists (notes, files) page by offset. An offset is only a position: when a row before it
 * leaves the list (deleted, or updated and moved to the end of an update_time order), the rows
 * after it shift left and the next page would start past a row never read. The walk therefore
 * asks each next page to start AT the last row read (one row of overlap) and checks that the
 * page begins with a row whose sort key is not after it. When it does not, rows have left
 * before that position: the walk steps back a page and reads again (dedupe drops what was
 * already published). Rows joining the order only at its end (new ids, fresh update times) never
 * make it skip.
 *
 * Sort key: (time, id), time being the update_time second for an updated_since listing (then the
 * walk re-anchors updated_since at the second of the last row read, so offsets stay inside one
 * second's tie) or 0 for an id-ordered listing. */
#ifndef PIPEDRIVE_WALK_H
#define PIPEDRIVE_WALK_H

#include <stddef.h>
#include <stdint.h>

typedef struct pd_key {
    int64_t time; /* ms; 0 in id-ordered listings */
    int64_t id;
} pd_key;

typedef struct pd_walk {
    long start;      /* offset of the next request */
    int has_last;    /* a row has been read */
    pd_key last;     /* the last row read (the next page must not start after it) */
    int anchored;    /* updated_since listing: `since` follows the last row's second */
    int64_t since;   /* anchored: the updated_since value (ms, whole seconds) */
    long step_backs; /* how often a shift was detected (diagnostics) */
} pd_walk;

typedef enum {
    PD_WALK_NEXT = 0, /* request the next page (w->start, w->since) */
    PD_WALK_BACK,     /* rows left before the position: stepped back, request again */
    PD_WALK_DONE,     /* the listing is complete */
} pd_walk_step;

int pd_key_cmp(const pd_key *a, const pd_key *b);
/* ms truncated to its whole second (towards the past). */
int64_t pd_whole_second(int64_t ms);

/* Takes one page: its rows' keys in the order served (n rows, `more` = the API says more rows
 * follow, limit = the page size asked for). Updates w and says what to do next. */
pd_walk_step pd_walk_page(pd_walk *w, const pd_key *keys, size_t n, int more, long limit);

#endif
