/* test_json_load.c — jl_value reads every value as json_loadb(JSON_DECODE_ANY) does: same type
 * and value (integers and reals apart), NULL where jansson refuses the text; fuzz_raw_dom checks
 * the same on arbitrary texts. */
#include <stdlib.h>

#include "check.h"
#include "json_load.h"

static void check_text(const char *text)
{
    size_t len = strlen(text);
    json_t *want = json_loadb(text, len, JSON_DECODE_ANY, NULL), *got = jl_value(text, text + len);
    int same = want ? got && json_equal(want, got) && json_typeof(want) == json_typeof(got) : !got;
    CHECK(same);
    if (!same)
        fprintf(stderr, "json_load: differs from jansson on %s\n", text);
    json_decref(want);
    json_decref(got);
}

int main(void)
{
    static const char *const texts[] = {"\"plain\"",
                                        " \"spaced\" ",
                                        "\"caf\\u00e9 \\\"q\\\" \\n\"",
                                        "\"\\ud83d\\ude00\"",
                                        "\"\\ud83d\"",
                                        "\"\\u0000\"",
                                        "\"\xc3\x28\"",
                                        "0",
                                        "-0",
                                        "42",
                                        "-9223372036854775808",
                                        "9223372036854775807",
                                        "9223372036854775808",
                                        "1.5",
                                        "-0.0",
                                        "1e5",
                                        "1E-7",
                                        "1e400",
                                        "0.1",
                                        "true",
                                        "false",
                                        "null",
                                        "nul",
                                        "{}",
                                        "[]",
                                        "{\"a\":1,\"a\":2}",
                                        "{\"k\\u0065y\":[1,2.5,\"x\",{\"n\":null}]}",
                                        "{ \"a\" : { \"b\" : [ true , false ] } }",
                                        "{\"value\":12.5,\"currency\":\"EUR\"}",
                                        "[1,]",
                                        "{\"a\":1,}",
                                        "{\"a\" 1}",
                                        "[1] x",
                                        "",
                                        "\"a\" \"b\"",
                                        "{\"\\u0000\":1}"};
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        check_text(texts[i]);
    /* nesting past what jl_value builds itself: json_loadb's, within and past jansson's limit */
    for (int depth = 30; depth <= 2100; depth += 2070 - 30) {
        char *deep = malloc((size_t)depth * 2 + 2);
        for (int i = 0; i < depth; i++) {
            deep[i] = '[';
            deep[depth * 2 - 1 - i] = ']';
        }
        deep[depth * 2] = '\0';
        check_text(deep);
        free(deep);
    }
    return check_summary("json_load");
}
