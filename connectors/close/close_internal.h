/* close_internal.h — pieces of the Close connector shared by its files: the paging strategies
 * (paging.c) that the table list (close.c) wires to each table. */
#ifndef CRM_CLOSE_INTERNAL_H
#define CRM_CLOSE_INTERNAL_H

#include "connector.h"

/* Full table over an offset list (_skip/_limit) with {"data","has_more"}. */
req_result close_full_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_full_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                     size_t errlen);

/* Offset lists made keyset: filter key__gte=<anchor> ascending, _skip only within a run of equal
 * keys (opportunities, tasks, activities). */
req_result close_keyset_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_keyset_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* POST /data/search/ sorted by date_updated, re-anchored at the highest date_updated seen when a
 * walk nears its cap or its cursor ages (leads, contacts). */
req_result close_search_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_search_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* /event/ with _cursor; deleted/merged events become deletes of the affected tables. */
req_result close_events_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_events_parse(table_ctx *ctx, const http_response *resp, page *out, char *err,
                       size_t errlen);

/* GET /me/ for the organization id, then /organization/{id}/ (organization, memberships). */
req_result close_org_request(table_ctx *ctx, http_request *req, char *err, size_t errlen);
int close_org_parse(table_ctx *ctx, const http_response *resp, page *out, char *err, size_t errlen);

/* Rate-limit signals: `ratelimit` (comma or semicolon), X-Rate-Limit-* with fractional resets,
 * and 429 bodies with rate_reset at the top level or under "error", number or string. */
void close_rate_signal(const http_response *resp, rate_signal *out);

/* custom.c: typed custom fields of leads, contacts, opportunities and activities. */
extern const custom_fields_spec close_custom_leads, close_custom_contacts,
    close_custom_opportunities, close_custom_activities;

#endif
