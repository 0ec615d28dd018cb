/* record_key.c — a record's primary key as text (record_key.h): the one reading of a key that
 * the dedupe maps, the reconciliation marks and the message keys share. */
#include <inttypes.h>
#include <string.h>

#include "json_scan.h"
#include "record_key.h"

int record_key_append(const json_t *v, buf *out)
{
    if (json_is_string(v))
        return buf_append(out, json_string_value(v), json_string_length(v));
    if (json_is_integer(v))
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return -1;
}

int record_key_text(const json_t *v, buf *out)
{
    buf_reset(out);
    return record_key_append(v, out);
}

int record_key_raw(const char *pkv, const char *end, const char **pk, size_t *pklen)
{
    int esc, integer;
    if (!pkv)
        return -1;
    if (js_peek(pkv, end) == JS_STRING)
        return js_string(pkv, end, pk, pklen, &esc) && !esc ? 0 : -1;
    if (js_peek(pkv, end) != JS_NUMBER)
        return -1;
    const char *q = js_number(pkv, end, &integer);
    if (!q || !integer || q - pkv > 18 || (q - pkv > 1 && pkv[0] == '-' && pkv[1] == '0'))
        return -1;
    *pk = pkv;
    *pklen = (size_t)(q - pkv);
    return 0;
}
