/* test_schema_registry.c — the Schema Registry client (src/schema_registry.c) against the
 * registry simulator: it starts <build>/crmsim --crm registry (found next to this binary's
 * directory) with basic auth and a port file, drives faults and rejections through /_control/,
 * and counts API requests with /_control/stats. Also the Confluent wire-format helpers. */
#include <curl/curl.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "schema_registry.h"
#include "util.h"

#define USER     "crm"
#define PASSWORD "sr-Secret-7731"

static pid_t sim_pid = -1;
static char base_url[64];

/* ---- the simulator ---------------------------------------------------------------------- */

static void msleep(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts crmsim from the build directory of argv0 (build/tests/x -> build/crmsim). */
static int sim_start(const char *argv0, const char *port_file)
{
    char self[4096];
    snprintf(self, sizeof(self), "%s", argv0);
    char sim[4200];
    snprintf(sim, sizeof(sim), "%s/../crmsim", dirname(self));
    if (access(sim, X_OK) != 0) {
        fprintf(stderr, "schema_registry: %s not built (make sim)\n", sim);
        return -1;
    }
    unlink(port_file);
    sim_pid = fork();
    if (sim_pid < 0)
        return -1;
    if (sim_pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execl(sim, sim, "--crm", "registry", "--port", "0", "--port-file", port_file, "--param",
              "user=" USER, "--param", "password=" PASSWORD, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(port_file, "r");
        int port = 0;
        if (f) {
            int n = fscanf(f, "%d", &port);
            fclose(f);
            if (n == 1 && port > 0) {
                snprintf(base_url, sizeof(base_url), "http://127.0.0.1:%d", port);
                return 0;
            }
        }
        msleep(25);
    }
    return -1;
}

static void sim_stop(void)
{
    if (sim_pid > 0) {
        kill(sim_pid, SIGTERM);
        waitpid(sim_pid, NULL, 0);
        sim_pid = -1;
    }
}

static size_t collect(char *p, size_t size, size_t n, void *u)
{
    buf_append((buf *)u, p, size * n);
    return size * n;
}

/* POST /_control/<action> with body (or GET when body is NULL); the JSON answer or NULL. */
static json_t *control(const char *action, const char *body)
{
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    char url[256];
    snprintf(url, sizeof(url), "%s/_control/%s", base_url, action);
    buf out;
    buf_init(&out);
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    if (body)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    json_t *j = NULL;
    if (curl_easy_perform(h) == CURLE_OK)
        j = json_loadb(out.data ? out.data : "", out.len, 0, NULL);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    buf_free(&out);
    return j;
}

/* API requests the simulator served since the last reset. */
static long long requests(void)
{
    json_t *s = control("stats", NULL);
    long long n = s ? (long long)json_integer_value(json_object_get(s, "requests")) : -1;
    json_decref(s);
    return n;
}

static void reset_stats(void)
{
    json_decref(control("stats/reset", "{}"));
}

/* ---- schemas ---------------------------------------------------------------------------- */

#define REC(fields)                                                                                \
    "{\"type\":\"record\",\"name\":\"Person\",\"namespace\":\"crm\",\"fields\":[" fields "]}"
#define F(name, type) "{\"name\":\"" name "\",\"type\":" type "}"

static const char *V1 = REC(F("id", "\"long\"") "," F("name", "\"string\""));
/* BACKWARD compatible with V1: a new optional field with a default */
static const char *V2 = REC(F("id", "\"long\"") "," F("name", "\"string\"") ","
                                                                            "{\"name\":\"email\","
                                                                            "\"type\":[\"null\","
                                                                            "\"string\"],"
                                                                            "\"default\":null}");
/* not BACKWARD compatible with V2: a new field without a default */
static const char *V3_BAD =
    REC(F("id", "\"long\"") "," F("name", "\"string\"") "," F("score", "\"double\""));

static void config_for(registry_config *rc, const char *password)
{
    memset(rc, 0, sizeof(*rc));
    rc->url = base_url;
    rc->username = USER;
    rc->password = (char *)password;
    rc->verify_tls = 1;
    rc->timeout_s = 10;
}

/* ---- cases ------------------------------------------------------------------------------ */

static void test_register_and_cache(sr_client *c)
{
    char err[1024] = "";
    uint32_t id = 0, id2 = 0, id3 = 0;
    reset_stats();
    CHECK(sr_register(c, "people-value", V1, &id, err, sizeof(err)) == SR_OK);
    CHECK(id == 1);
    CHECK(requests() == 1);
    /* the second call is answered from the cache */
    CHECK(sr_register(c, "people-value", V1, &id2, err, sizeof(err)) == SR_OK);
    CHECK(id2 == id);
    CHECK(requests() == 1);
    /* the same schema under another subject shares the global id */
    CHECK(sr_register(c, "contacts-value", V1, &id3, err, sizeof(err)) == SR_OK);
    CHECK(id3 == id);
    CHECK(requests() == 2);
    /* a compatible new version gets the next id */
    CHECK(sr_register(c, "people-value", V2, &id2, err, sizeof(err)) == SR_OK);
    CHECK(id2 == 2);
    json_t *t = control("truth", "{}");
    json_t *versions = json_object_get(json_object_get(t, "subjects"), "people-value");
    CHECK(json_array_size(versions) == 2);
    CHECK(json_integer_value(json_object_get(t, "schemas")) == 2);
    json_decref(t);
}

static void test_incompatible(sr_client *c)
{
    char err[1024] = "";
    uint32_t id = 0;
    CHECK(sr_register(c, "people-value", V3_BAD, &id, err, sizeof(err)) == SR_INCOMPATIBLE);
    CHECK_CONTAINS(err, "HTTP 409");
    CHECK_CONTAINS(err, "error_code 409");
    CHECK_CONTAINS(err, "incompatible with an earlier schema for subject \"people-value\"");
    /* a failed registration is not cached: the next call asks again */
    reset_stats();
    CHECK(sr_register(c, "people-value", V3_BAD, &id, err, sizeof(err)) == SR_INCOMPATIBLE);
    CHECK(requests() == 1);
    /* under NONE the same schema is accepted */
    CHECK(sr_register(c, "other-value", V1, &id, err, sizeof(err)) == SR_OK);
    json_t *r = json_pack("{s:s}", "compatibility", "NONE");
    char *body = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "%s/config/other-value", base_url);
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERPWD, USER ":" PASSWORD);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    buf sink;
    buf_init(&sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    long status = 0;
    CHECK(curl_easy_perform(h) == CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    CHECK(status == 200);
    buf_free(&sink);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    free(body);
    CHECK(sr_register(c, "other-value", V3_BAD, &id, err, sizeof(err)) == SR_OK);
    CHECK(id == 3);
    /* invalid schemas are refused (422 / 42201) */
    CHECK(sr_register(c, "people-value", "{\"type\":\"nonsense\"}", &id, err, sizeof(err)) ==
          SR_INCOMPATIBLE);
    CHECK_CONTAINS(err, "HTTP 422");
    CHECK_CONTAINS(err, "error_code 42201");
}

static void test_reject_control(sr_client *c)
{
    char err[1024] = "";
    uint32_t id = 0;
    json_decref(control("reject", "{\"subject\":\"deals-value\","
                                  "\"message\":\"Schema rejected by policy\",\"count\":1}"));
    CHECK(sr_register(c, "deals-value", V1, &id, err, sizeof(err)) == SR_INCOMPATIBLE);
    CHECK_CONTAINS(err, "Schema rejected by policy");
    CHECK_CONTAINS(err, "HTTP 409");
    /* count 1: the next registration goes through */
    CHECK(sr_register(c, "deals-value", V1, &id, err, sizeof(err)) == SR_OK);
    CHECK(id == 1);
}

static void test_lookup_and_compat(sr_client *c)
{
    char err[1024] = "";
    uint32_t id = 0;
    int version = 0, ok = -1;
    CHECK(sr_lookup(c, "people-value", V2, &id, &version, err, sizeof(err)) == SR_OK);
    CHECK(id == 2 && version == 2);
    CHECK(sr_lookup(c, "people-value", V3_BAD, &id, &version, err, sizeof(err)) == SR_NOT_FOUND);
    CHECK(sr_lookup(c, "nobody-value", V1, &id, &version, err, sizeof(err)) == SR_NOT_FOUND);
    CHECK_CONTAINS(err, "40401");
    CHECK(sr_check_compatibility(c, "people-value", V3_BAD, &ok, err, sizeof(err)) == SR_OK);
    CHECK(ok == 0);
    CHECK(sr_check_compatibility(c, "people-value", V2, &ok, err, sizeof(err)) == SR_OK);
    CHECK(ok == 1);
    CHECK(sr_check_compatibility(c, "nobody-value", V1, &ok, err, sizeof(err)) == SR_OK);
    CHECK(ok == 1);
}

static void test_schema_by_id(void)
{
    registry_config rc;
    config_for(&rc, PASSWORD);
    char err[1024] = "";
    sr_client *fresh = sr_new(&rc, err, sizeof(err));
    CHECK(fresh != NULL);
    if (!fresh)
        return;
    const char *text = NULL;
    reset_stats();
    CHECK(sr_schema_by_id(fresh, 2, &text, err, sizeof(err)) == SR_OK);
    CHECK(text && strstr(text, "\"email\""));
    CHECK(sr_schema_by_id(fresh, 2, &text, err, sizeof(err)) == SR_OK);
    CHECK(requests() == 1);
    CHECK(sr_schema_by_id(fresh, 999, &text, err, sizeof(err)) == SR_ERROR);
    CHECK_CONTAINS(err, "error_code 40403");
    sr_free(fresh);
}

static void test_faults_retried(sr_client *c)
{
    char err[1024] = "";
    uint32_t id = 0;
    json_decref(control("fault", "{\"kind\":\"status\",\"status\":503,\"count\":2,"
                                 "\"path_prefix\":\"/subjects/\"}"));
    reset_stats();
    CHECK(sr_register(c, "companies-value", V1, &id, err, sizeof(err)) == SR_OK);
    CHECK(id == 1);
    json_t *s = control("stats", NULL);
    CHECK(json_integer_value(json_object_get(s, "requests")) == 3);
    CHECK(json_integer_value(json_object_get(s, "faults")) == 2);
    json_decref(s);
}

static void test_wrong_password(void)
{
    registry_config rc;
    const char *wrong = "Wr0ng-Pass-4417";
    config_for(&rc, wrong);
    char err[1024] = "";
    sr_client *c = sr_new(&rc, err, sizeof(err));
    CHECK(c != NULL);
    if (!c)
        return;
    uint32_t id = 0;
    CHECK(sr_register(c, "people-value", V1, &id, err, sizeof(err)) == SR_ERROR);
    CHECK_CONTAINS(err, "HTTP 401");
    CHECK_CONTAINS(err, "Unauthorized");
    CHECK(strstr(err, wrong) == NULL);
    CHECK(strstr(err, PASSWORD) == NULL);
    sr_free(c);
}

typedef struct {
    sr_client *c;
    uint32_t id;
    sr_result r;
} th_arg;

static void *th_register(void *p)
{
    th_arg *a = p;
    char err[512];
    a->r = sr_register(a->c, "threads-value", V2, &a->id, err, sizeof(err));
    return NULL;
}

static void test_threads(sr_client *c)
{
    enum { N = 6 };
    pthread_t th[N];
    th_arg a[N];
    reset_stats();
    for (int i = 0; i < N; i++) {
        a[i] = (th_arg){c, 0, SR_ERROR};
        CHECK(pthread_create(&th[i], NULL, th_register, &a[i]) == 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        CHECK(a[i].r == SR_OK && a[i].id == 2);
    CHECK(requests() == 1);
}

static void test_wire_format(void)
{
    buf out;
    buf_init(&out);
    const unsigned char body[] = {0x02, 0x61, 0xff};
    sr_frame(&out, 0x01020304u, body, sizeof(body));
    CHECK(out.len == 8);
    const unsigned char head[] = {0, 1, 2, 3, 4};
    CHECK(memcmp(out.data, head, 5) == 0);
    uint32_t id = 0;
    const void *b = NULL;
    size_t blen = 0;
    char err[256] = "";
    CHECK(sr_unframe(out.data, out.len, &id, &b, &blen, err, sizeof(err)) == 0);
    CHECK(id == 0x01020304u && blen == sizeof(body) && memcmp(b, body, blen) == 0);
    /* an empty body is a valid frame */
    sr_frame(&out, 7, body, 0);
    CHECK(sr_unframe(out.data, out.len, &id, &b, &blen, err, sizeof(err)) == 0);
    CHECK(id == 7 && blen == 0);
    /* a wrong magic byte and a short buffer */
    unsigned char bad[] = {1, 0, 0, 0, 7, 9};
    CHECK(sr_unframe(bad, sizeof(bad), &id, &b, &blen, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "magic byte");
    CHECK(sr_unframe(head, 4, &id, &b, &blen, err, sizeof(err)) == -1);
    CHECK_CONTAINS(err, "shorter");
    /* the frame is cleared before writing */
    sr_frame(&out, 1, body, 1);
    CHECK(out.len == 6);
    buf_free(&out);
}

int main(int argc, char **argv)
{
    (void)argc;
    test_wire_format();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    char port_file[64];
    snprintf(port_file, sizeof(port_file), "/tmp/test_sr.%d.port", (int)getpid());
    if (sim_start(argv[0], port_file) != 0) {
        CHECK(!"the registry simulator started");
        sim_stop();
    } else {
        registry_config rc;
        config_for(&rc, PASSWORD);
        char err[1024] = "";
        sr_client *c = sr_new(&rc, err, sizeof(err));
        CHECK(c != NULL);
        if (c) {
            test_register_and_cache(c);
            test_incompatible(c);
            test_reject_control(c);
            test_lookup_and_compat(c);
            test_schema_by_id();
            test_faults_retried(c);
            test_wrong_password();
            test_threads(c);
            sr_free(c);
        }
        sim_stop();
    }
    unlink(port_file);
    curl_global_cleanup();
    return check_summary("schema_registry");
}
