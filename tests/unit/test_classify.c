/* test_classify.c — the verdict on a final non-2xx response (connector_classify): the default
 * classification for connectors without classify, and a connector's own classify winning. */
#include "check.h"
#include "connector.h"

static http_verdict verdict_for(const connector *c, long status)
{
    http_response resp;
    http_response_init(&resp);
    resp.status = status;
    http_verdict v = connector_classify(c, NULL, &resp);
    http_response_free(&resp);
    return v;
}

static http_verdict always_skip(const table_def *table, const http_response *resp)
{
    (void)table;
    (void)resp;
    return VERDICT_SKIP;
}

static void test_default(void)
{
    static const struct {
        long status;
        http_verdict want;
    } cases[] = {
        {401, VERDICT_AUTH},  {402, VERDICT_UNAVAILABLE}, {403, VERDICT_UNAVAILABLE},
        {400, VERDICT_ERROR}, {404, VERDICT_ERROR},       {429, VERDICT_ERROR},
        {500, VERDICT_ERROR}, {503, VERDICT_ERROR},
    };
    connector plain = {.name = "plain"};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        CHECK(verdict_for(&plain, cases[i].status) == cases[i].want);
}

static void test_connector_wins(void)
{
    connector own = {.name = "own", .classify = always_skip};
    CHECK(verdict_for(&own, 401) == VERDICT_SKIP);
    CHECK(verdict_for(&own, 500) == VERDICT_SKIP);
}

int main(void)
{
    test_default();
    test_connector_wins();
    return check_summary("classify");
}
