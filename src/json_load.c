/* json_load.c — one JSON value's text as a jansson value, for the raw path's few values that
 * connectors and typed custom fields need as jansson values (paging keys, custom values): an
 * unescaped string, an integer or a literal is built directly, since json_loadb sets up a
 * lexer and a string buffer for each call; anything else goes to json_loadb. */
#include "json_load.h"

#include <stdlib.h>
#include <string.h>

#include "json_scan.h"

/* An integer's text (js_number said it fits int64_t) as jansson reads it. */
static json_t *integer_of(const char *p, const char *e)
{
    int negative = *p == '-';
    uint64_t u = 0;
    for (const char *q = p + negative; q < e; q++)
        u = u * 10 + (uint64_t)(*q - '0');
    return json_integer(negative ? (json_int_t)(0 - u) : (json_int_t)u);
}

json_t *jl_value(const char *v, const char *ve)
{
    const char *p = js_ws(v, ve), *s, *e;
    size_t len;
    int escaped, integer;
    switch (js_peek(p, ve)) {
    case JS_STRING: /* js_string refuses what jansson refuses: the bytes are valid UTF-8 */
        e = js_string(p, ve, &s, &len, &escaped);
        if (e && !escaped && js_ws(e, ve) == ve)
            return json_stringn_nocheck(s, len);
        break;
    case JS_NUMBER:
        e = js_number(p, ve, &integer);
        if (e && integer && js_ws(e, ve) == ve)
            return integer_of(p, e);
        break;
    case JS_TRUE:
    case JS_FALSE:
    case JS_NULL:
        e = js_skip(p, ve);
        if (e && js_ws(e, ve) == ve)
            return *p == 't' ? json_true() : *p == 'f' ? json_false() : json_null();
        break;
    default:
        break;
    }
    return json_loadb(v, (size_t)(ve - v), JSON_DECODE_ANY, NULL);
}
