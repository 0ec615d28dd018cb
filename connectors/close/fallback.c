/* fallback.c — Close deletes without the event log.
 *
 * Close reports deletes only in its event log, which some keys/plans cannot read (400 on
 * /event/). Then, rather than silently never seeing a delete, the main tables find them by ID
 * reconciliation: each requests one for itself at the end of a pass, at most every
 * deletes_fallback_interval. The event_log table warns once and stops asking /event/ until the
 * next start. */
#include <pthread.h>

#include "close_internal.h"
#include "log.h"

void close_event_log_denied(table_ctx *ctx)
{
    close_state *st = source_state(ctx->src);
    pthread_mutex_lock(&st->lock);
    int first = !st->event_log_denied;
    st->event_log_denied = 1;
    pthread_mutex_unlock(&st->lock);
    if (first)
        log_warn(source_name(ctx->src), ctx->table->name,
                 "the event log is unavailable to this key (HTTP 400 on /event/): deletes of "
                 "leads, contacts, opportunities, tasks and activities are found by ID "
                 "reconciliation every %lld s instead (deletes_fallback_interval; counted in "
                 "crmstream_fallback_reconciliations_total), and edits of activities older than "
                 "the attribution window are not seen; /event/ is asked again after a restart",
                 close_opts_of(ctx->src)->deletes_fallback_interval);
}

int close_event_log_is_denied(const table_ctx *ctx)
{
    close_state *st = source_state(ctx->src);
    pthread_mutex_lock(&st->lock);
    int denied = st->event_log_denied;
    pthread_mutex_unlock(&st->lock);
    return denied;
}

json_t *close_fallback_tables(void)
{
    json_t *names = json_array();
    for (size_t i = 0; names && i < close_connector.n_tables; i++)
        if (close_table_of(&close_connector.tables[i])->fallback_slot > 0)
            json_array_append_new(names, json_string(close_connector.tables[i].name));
    return names;
}

void close_fallback_at_pass_end(table_ctx *ctx, page *out)
{
    int i = close_table_of(ctx->table)->fallback_slot - 1;
    if (i < 0 || ctx->reconcile || ctx->confirm)
        return;
    close_state *st = source_state(ctx->src);
    int64_t now = now_wall_ms();
    int due = 0;
    pthread_mutex_lock(&st->lock);
    if (st->event_log_denied && now >= st->fallback_due_ms[i]) {
        st->fallback_due_ms[i] = now + close_opts_of(ctx->src)->deletes_fallback_interval * 1000;
        due = 1;
    }
    pthread_mutex_unlock(&st->lock);
    if (!due)
        return;
    json_decref(out->reconcile_tables);
    out->reconcile_tables = json_pack("[s]", ctx->table->name);
    out->reconcile_fallback = 1;
}
