/* crm_time.h — every CRM timestamp format, parsed to UTC epoch milliseconds.
 *
 * Accepted: RFC 3339 / ISO 8601 with or without fraction and with Z, ±HH:MM or ±HHMM offsets;
 * naive "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DDTHH:MM:SS" (taken as UTC); date-only "YYYY-MM-DD"
 * (midnight UTC); integer epoch seconds (as text; -1 beyond an int64_t of milliseconds).
 * Empty strings and zero dates ("0000-00-00 ...") parse as "no value" (CRM_TIME_NONE). */
#ifndef CRM_TIME_H
#define CRM_TIME_H

#include <stddef.h>
#include <stdint.h>

#define CRM_TIME_NONE INT64_MIN

/* Returns 0 and sets *ms (CRM_TIME_NONE for empty/zero dates), or -1 when unparseable. */
int crm_time_parse(const char *s, int64_t *ms);
/* The hot path's parser: only "YYYY-MM-DDTHH:MM:SSZ" and "YYYY-MM-DDTHH:MM:SS.mmmZ" (len bytes,
 * no NUL needed), with crm_time_parse's result; -1 for anything else (then ask crm_time_parse).
 * Returns 1 when s is exactly what crm_time_format writes for that instant (so s can stand for
 * that text without formatting it again), else 0. */
int crm_time_parse_utc(const char *s, size_t len, int64_t *ms);
/* A timestamp text of len bytes (no NUL needed): crm_time_parse_utc when it can, else
 * crm_time_parse. Returns 1 when s is canonical (as crm_time_parse_utc), 0 when read (*ms may be
 * CRM_TIME_NONE for empty/zero dates), -1 when unparseable or over 63 bytes. */
int crm_time_parse_text(const char *s, size_t len, int64_t *ms);
/* Writes "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL); out must hold 32 bytes. */
void crm_time_format(int64_t ms, char *out, size_t outlen);
/* A JSON number as a time: epoch seconds, or milliseconds when its magnitude is above 1e11
 * (a year-5138 instant in seconds, 1973 in milliseconds). CRM_TIME_NONE for NaN and for
 * magnitudes beyond an int64_t of milliseconds. */
int64_t crm_time_from_epoch(double d);
/* Same, with seconds precision and no fraction: "YYYY-MM-DDTHH:MM:SSZ". */
void crm_time_format_seconds(int64_t ms, char *out, size_t outlen);

#endif
