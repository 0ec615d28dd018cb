/* pipedrive_walk.c — checked offset paging (see pipedrive_walk.h): one page of overlap, a
 * step back when the page no longer starts at the row read last. Pure: no I/O, no JSON. */
#include "pipedrive_walk.h"

int pd_key_cmp(const pd_key *a, const pd_key *b)
{
    if (a->time != b->time)
        return a->time < b->time ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return 0;
}

int64_t pd_whole_second(int64_t ms)
{
    if (ms < INT64_MIN + 1000)
        return ms; /* "no time" (CRM_TIME_NONE) stays itself */
    return ms - ((ms % 1000) + 1000) % 1000;
}

/* The page starts after the last row read although rows precede it in the listing: rows before
 * the position left, so some unread row may sit before the page. */
static int page_lost_position(const pd_walk *w, const pd_key *keys, size_t n)
{
    if (!w->has_last || w->start == 0)
        return 0;
    return n == 0 || pd_key_cmp(&keys[0], &w->last) > 0;
}

/* Rows of the page in the second of its last row: where the last row sits in a listing
 * re-anchored at that second (the rows before it in that second were all on this page or
 * earlier in the same tie). */
static long rows_in_last_second(const pd_key *keys, size_t n)
{
    int64_t s = pd_whole_second(keys[n - 1].time);
    long k = 0;
    for (size_t i = n; i-- > 0 && pd_whole_second(keys[i].time) == s;)
        k++;
    return k;
}

pd_walk_step pd_walk_page(pd_walk *w, const pd_key *keys, size_t n, int more, long limit)
{
    if (page_lost_position(w, keys, n)) {
        w->start = w->start > limit ? w->start - limit : 0;
        w->step_backs++;
        return PD_WALK_BACK;
    }
    if (n == 0 || !more)
        return PD_WALK_DONE;
    const pd_key *last = &keys[n - 1];
    int64_t second = pd_whole_second(last->time);
    if (w->anchored && second > w->since) {
        /* Re-anchor: the last row is at position (rows of its second on this page) - 1. */
        w->since = second;
        w->start = rows_in_last_second(keys, n) - 1;
    } else {
        /* Still inside the same second (or an id listing): one row of overlap. */
        w->start += (long)n > 1 ? (long)n - 1 : 1;
    }
    w->last = *last;
    w->has_last = 1;
    return PD_WALK_NEXT;
}
