/* abounds.h — checks that Avro binary data fits its schema before avro-c reads it.
 *
 * avro-c's reader allocates what the data claims: a string's or bytes' length, an array's or
 * map's block count (a few bytes can ask for gigabytes). Values read back from Kafka (`peek`,
 * the topic readers) are untrusted input, so they are walked here first: every length and count
 * must fit in the bytes that remain, every union branch and enum symbol must exist, nesting is
 * bounded. Only then does avro_value_read see them. */
#ifndef CRM_ABOUNDS_H
#define CRM_ABOUNDS_H

#include <avro.h>
#include <stddef.h>

/* The deepest nesting of records, unions, arrays and maps walked (recursive schemas). */
#define ABOUNDS_MAX_DEPTH 256

/* 0 when the len bytes at data start with one value of schema, every length in bounds (bytes
 * after it are left alone, as avro_value_read does);
 * -1 and err ("byte N: string length 2147483647 is beyond the 12 bytes left") otherwise. */
int abounds_check(avro_schema_t schema, const void *data, size_t len, char *err, size_t errlen);

#endif
