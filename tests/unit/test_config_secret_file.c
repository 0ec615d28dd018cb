/* test_config_secret_file.c — per-source secrets from files (issue #20, mounted Kubernetes
 * Secrets): every OPT_ENV option <x>_env has a file twin <x>_file; the file is read at load,
 * trailing newlines stripped, refused (exit 2 naming file:line, the setting and the file, never
 * the content) when missing, empty, oversized or holding a control character; a relative path is
 * taken from the config file's directory; never both the variable and the file. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../connectors/close/close_internal.h"
#include "check.h"
#include "config.h"
#include "secret.h"
#include "source.h"

static char dir[64], cfg_path[96];

static void write_file(const char *path, const char *content, size_t len)
{
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f)
        return;
    fwrite(content, 1, len, f);
    fclose(f);
}

static void write_secret(const char *name, const char *content)
{
    char path[160];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    write_file(path, content, strlen(content));
}

/* Loads a config holding one source of `type` with `options`; the secret files live in dir. */
static crm_config *load_source(const char *type, const char *options, int secrets, char *err,
                               size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
             "sources = ( { type = \"%s\"; name = \"s1\";\n"
             "  options = {\n%s\n  };\n} );\n",
             type, options);
    write_file(cfg_path, text, strlen(text));
    return secrets ? config_load(cfg_path, err, errlen)
                   : config_load_without_crm_secrets(cfg_path, err, errlen);
}

static void expect_refused(const char *options, const char *line, const char *needle,
                           const char *never)
{
    char err[1024] = "";
    crm_config *c = load_source("testcrm", options, 1, err, sizeof(err));
    CHECK(c == NULL);
    config_free(c);
    char where[160];
    snprintf(where, sizeof(where), "%s:%s: ", cfg_path, line);
    CHECK_CONTAINS(err, where);
    CHECK_CONTAINS(err, "options.token_");
    CHECK_CONTAINS(err, needle);
    if (never)
        CHECK(!strstr(err, never));
    CHECK(strchr(err, '\n') == NULL);
}

static void test_naming_rule(void)
{
    char out[64];
    CHECK_STR(secret_file_option("api_key_env", out, sizeof(out)), "api_key_file");
    CHECK_STR(secret_file_option("token_env", out, sizeof(out)), "token_file");
    CHECK_STR(secret_file_option("password", out, sizeof(out)), "password_file");
    CHECK_STR(secret_file_option("_env", out, sizeof(out)), "_env_file");
    /* every connector's secrets have a twin, found by the twin's name only */
    const connector *close = connector_find("close");
    CHECK(close && connector_secret_file_twin(close, "api_key_file") != NULL);
    CHECK(close && connector_secret_file_twin(close, "api_key_env") == NULL);
    CHECK(close && connector_secret_file_twin(close, "page_size_file") == NULL);
    const connector *pd = connector_find("pipedrive");
    CHECK(pd && connector_secret_file_twin(pd, "api_token_file") != NULL);
}

static void test_read_file(void)
{
    char err[512] = "", path[160];
    snprintf(path, sizeof(path), "%s/raw", dir);
    write_secret("raw", "tok3n\r\n\n");
    char *s = secret_read_file(path, err, sizeof(err));
    CHECK_STR(s, "tok3n"); /* trailing CR/LF stripped, as `echo` or an editor leaves them */
    free(s);
    write_secret("raw", "no-newline");
    s = secret_read_file(path, err, sizeof(err));
    CHECK_STR(s, "no-newline");
    free(s);
    write_file(path, "ab\0cd", 5);
    CHECK(secret_read_file(path, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "contains a NUL byte");
    char *big = malloc(SECRET_FILE_MAX + 2);
    memset(big, 'k', SECRET_FILE_MAX + 1);
    big[SECRET_FILE_MAX + 1] = '\0';
    write_secret("raw", big);
    CHECK(secret_read_file(path, err, sizeof(err)) == NULL);
    CHECK_CONTAINS(err, "larger than 64 KiB");
    big[SECRET_FILE_MAX] = '\0'; /* exactly the limit is fine */
    write_secret("raw", big);
    s = secret_read_file(path, err, sizeof(err));
    CHECK(s && strlen(s) == SECRET_FILE_MAX);
    free(s);
    free(big);
    CHECK(secret_control_byte("abc") == 0);
    CHECK(secret_control_byte("ab\tc") == 3);
    CHECK(secret_control_byte("abc\x7f") == 4);
}

/* The file's secret reaches the connector's options struct; the variable is not needed. */
static void test_secret_from_file(void)
{
    char err[1024] = "";
    unsetenv("CLOSE_API_KEY");
    write_secret("close-key", "api_from_file\n");
    crm_config *c = load_source("close", "api_key_file = \"close-key\";", 1, err, sizeof(err));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(c->sources[0].n_file_secrets == 1);
    CHECK(c->sources[0].file_secrets[0].line == 4);
    source *src = source_new(&c->sources[0], err, sizeof(err));
    CHECK(src != NULL);
    if (src)
        CHECK_STR(close_opts_of(src)->api_key_env, "api_from_file");
    source_free(src);
    config_free(c);
    /* an absolute path too; the file wins over a variable that happens to be set */
    setenv("CLOSE_API_KEY", "api_from_env", 1);
    char options[256];
    snprintf(options, sizeof(options), "api_key_file = \"%s/close-key\";", dir);
    c = load_source("close", options, 1, err, sizeof(err));
    CHECK(c != NULL);
    src = c ? source_new(&c->sources[0], err, sizeof(err)) : NULL;
    CHECK(src != NULL);
    if (src)
        CHECK_STR(close_opts_of(src)->api_key_env, "api_from_file");
    source_free(src);
    config_free(c);
    /* without the twin, the variable as before */
    c = load_source("close", "", 1, err, sizeof(err));
    src = c ? source_new(&c->sources[0], err, sizeof(err)) : NULL;
    CHECK(src != NULL);
    if (src)
        CHECK_STR(close_opts_of(src)->api_key_env, "api_from_env");
    source_free(src);
    config_free(c);
}

static void test_refused(void)
{
    setenv("TESTCRM_TOKEN", "env-token", 1);
    char missing[160];
    snprintf(missing, sizeof(missing), "cannot read secret file %s/missing: No such file", dir);
    expect_refused("token_file = \"missing\";", "4", missing, NULL);
    write_secret("empty", "\n");
    expect_refused("token_file = \"empty\";", "4", "/empty is empty", NULL);
    write_secret("crlf", "tok3n\r\nX-Injected: 1\n");
    expect_refused("token_file = \"crlf\";", "4",
                   "/crlf contains a control character (byte 6 of its content", "tok3n");
    expect_refused("token_file = 42;", "4", "expected the path of a file holding the secret", NULL);
    write_secret("good", "tok\n");
    expect_refused("token_env = \"TESTCRM_TOKEN\";\ntoken_file = \"good\";", "5",
                   "set token_env or token_file, not both", NULL);
    expect_refused("token_file = \"good\";\ntoken_env = \"TESTCRM_TOKEN\";", "5",
                   "set token_env or token_file, not both", NULL);
    char err[1024] = "";
    /* an unknown twin stays an unknown option */
    crm_config *c = load_source("testcrm", "page_size_file = \"good\";", 1, err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, "unknown option for testcrm sources");
    config_free(c);
}

/* Commands that never talk to a CRM (tables, state) do not read the file. */
static void test_not_read_without_crm_secrets(void)
{
    char err[1024] = "";
    crm_config *c = load_source("testcrm", "token_file = \"missing\";", 0, err, sizeof(err));
    CHECK(c != NULL);
    if (c) {
        CHECK(c->sources[0].n_file_secrets == 1);
        CHECK(c->sources[0].file_secrets[0].value == NULL);
    }
    config_free(c);
}

/* Loads a config whose kafka and schema_registry groups hold `kafka_extra` and `registry`. */
static crm_config *load_globals(const char *kafka_extra, const char *registry, char *err,
                                size_t errlen)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\";\n%s };\n"
             "schema_registry = { url = \"http://r\"; username = \"u\";\n%s };\n"
             "sources = ( { type = \"testcrm\"; name = \"s1\"; } );\n",
             kafka_extra, registry);
    write_file(cfg_path, text, strlen(text));
    return config_load_without_crm_secrets(cfg_path, err, errlen);
}

/* The schema registry password and secret Kafka properties have file twins too:
 * password_file and properties_file ("property=path"), read at load by every command (they
 * talk to Kafka), the same rules as the sources' secret files. */
static void test_kafka_and_registry_files(void)
{
    char err[1024] = "";
    setenv("CRMSTREAM_TEST_SASL_PW", "env-pw", 1);
    write_secret("sasl", "sasl-from-file\n");
    write_secret("keypw", "key-from-file");
    write_secret("srpw", "registry-from-file\r\n");
    crm_config *c = load_globals(
        "properties_env = [\"sasl.password=CRMSTREAM_TEST_SASL_PW\"];\n"
        "properties_file = [\"sasl.oauthbearer.client.secret=sasl\", \"ssl.key.password=keypw\"];",
        "password_file = \"srpw\";", err, sizeof(err));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(c->kafka.n_secret_properties == 3);
    CHECK_STR(c->kafka.secret_properties[0].value, "env-pw");
    CHECK_STR(c->kafka.secret_properties[1].key, "sasl.oauthbearer.client.secret");
    CHECK_STR(c->kafka.secret_properties[1].value, "sasl-from-file");
    CHECK(c->kafka.secret_properties[1].line == 3);
    CHECK_STR(c->kafka.secret_properties[2].key, "ssl.key.password");
    CHECK_STR(c->kafka.secret_properties[2].value, "key-from-file");
    CHECK_STR(c->registry.password, "registry-from-file");
    config_free(c);
    /* the same property from the environment and a file */
    c = load_globals("properties_env = [\"sasl.password=CRMSTREAM_TEST_SASL_PW\"];\n"
                     "properties_file = [\"sasl.password=sasl\"];",
                     "", err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, ":3: kafka.properties_file[0]: sasl.password is set twice");
    config_free(c);
    /* a missing or bad file names the file and the line, never the content */
    c = load_globals("properties_file = [\"sasl.password=nope\"];", "", err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, ":2: kafka.properties_file[0]: sasl.password: cannot read secret file");
    CHECK_CONTAINS(err, "/nope");
    config_free(c);
    write_secret("crlf", "pw\nmore");
    c = load_globals("", "password_file = \"crlf\";", err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, ":4: schema_registry.password_file: secret file");
    CHECK_CONTAINS(err, "contains a control character");
    CHECK(!strstr(err, "more"));
    config_free(c);
    setenv("CRMSTREAM_TEST_SR_PASSWORD", "x", 1);
    c = load_globals("", "password_env = \"CRMSTREAM_TEST_SR_PASSWORD\"; password_file = \"srpw\";",
                     err, sizeof(err));
    CHECK(c == NULL);
    CHECK_CONTAINS(err, "set password_env or password_file, not both");
    config_free(c);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/crmstream-secret-%d", (int)getpid());
    mkdir(dir, 0700);
    snprintf(cfg_path, sizeof(cfg_path), "%s/producer.cfg", dir);
    test_naming_rule();
    test_read_file();
    test_secret_from_file();
    test_refused();
    test_not_read_without_crm_secrets();
    test_kafka_and_registry_files();
    const char *names[] = {"raw",  "close-key", "empty", "crlf",        "good",
                           "sasl", "keypw",     "srpw",  "producer.cfg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[160];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    return check_summary("config_secret_file");
}
