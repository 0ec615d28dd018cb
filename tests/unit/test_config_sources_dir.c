/* test_config_sources_dir.c — sources_dir (issue #20): the *.cfg files of a directory add one
 * source each to sources = ( ... ), in name order, read at start; hidden and other files are
 * skipped; errors name the source file and line; a name used twice names both places; paths in
 * a source file (secret files) are taken from that file's directory. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "test_files.h"
#include "config.h"

static char dir[64], sdir[96], cfg_path[96];

/* The main config: kafka, sources_dir = "sources.d" and the given sources list (may be ""). */
static crm_config *load_main(const char *sources, char *err, size_t errlen)
{
    char text[512];
    snprintf(text, sizeof(text),
             "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"
             "sources_dir = \"sources.d\";\n%s",
             sources);
    write_at(dir, "producer.cfg", text);
    return config_load(cfg_path, err, errlen);
}

#define MAIN_SOURCE "sources = ( { type = \"testcrm\"; name = \"main1\"; } );\n"

static void test_files_add_sources(void)
{
    write_at(sdir, "b.cfg", "type = \"testcrm\";\nname = \"acct-b\";\n");
    write_at(sdir, "a.cfg",
             "type = \"testcrm\";\nname = \"acct-a\";\npoll_interval = \"2m\";\n"
             "options = { token_file = \"a.token\"; page_size = 7; };\n");
    write_at(sdir, "a.token", "token-of-a\n");
    write_at(sdir, ".hidden.cfg", "this is not libconfig");
    write_at(sdir, "notes.txt", "neither is this");
    char err[1024] = "";
    crm_config *c = load_main(MAIN_SOURCE, err, sizeof(err));
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(c->n_sources == 3);
    if (c->n_sources == 3) {
        CHECK_STR(c->sources[0].name, "main1");
        CHECK(c->sources[0].file == NULL);
        CHECK_STR(c->sources[1].name, "acct-a"); /* name order, not directory order */
        CHECK(c->sources[1].poll_interval_s == 120);
        CHECK_CONTAINS(c->sources[1].file, "/sources.d/a.cfg");
        CHECK(c->sources[1].n_file_secrets == 1);
        CHECK_STR(c->sources[1].file_secrets[0].value, "token-of-a"); /* from sources.d/ */
        CHECK_STR(c->sources[2].name, "acct-b");
        CHECK(c->sources[2].poll_interval_s == 300); /* the source defaults apply */
    }
    config_free(c);
    /* the directory alone is enough */
    c = load_main("", err, sizeof(err));
    CHECK(c != NULL && c->n_sources == 2);
    config_free(c);
}

static void expect_error(const char *sources, const char *part1, const char *part2)
{
    char err[1024] = "";
    crm_config *c = load_main(sources, err, sizeof(err));
    CHECK(c == NULL);
    config_free(c);
    CHECK_CONTAINS(err, part1);
    CHECK_CONTAINS(err, part2);
    CHECK(strchr(err, '\n') == NULL);
}

static void test_errors(void)
{
    char where[256];
    /* a name used twice: the second file names the first place */
    write_at(sdir, "c.cfg", "type = \"testcrm\";\n\nname = \"main1\";\n");
    snprintf(where, sizeof(where), "%s/sources.d/c.cfg:3: name: ", dir);
    char also[256];
    snprintf(also, sizeof(also), "duplicate source name \"main1\" (also at %s:3)", cfg_path);
    expect_error(MAIN_SOURCE, where, also);
    remove_at(sdir, "c.cfg");
    write_at(sdir, "c.cfg", "type = \"testcrm\";\nname = \"acct-a\";\n");
    snprintf(where, sizeof(where), "%s/sources.d/c.cfg:2: name: ", dir);
    snprintf(also, sizeof(also), "duplicate source name \"acct-a\" (also at %s/sources.d/a.cfg:2)",
             dir);
    expect_error(MAIN_SOURCE, where, also);
    remove_at(sdir, "c.cfg");
    /* a mistake in a source file is reported at its file and line */
    write_at(sdir, "c.cfg", "type = \"testcrm\";\nname = \"acct-c\";\npoll_intervall = \"1m\";\n");
    snprintf(where, sizeof(where), "%s/sources.d/c.cfg:3: poll_intervall: unknown setting", dir);
    expect_error(MAIN_SOURCE, where, "poll_interval");
    write_at(sdir, "c.cfg", "type = \"testcrm\";\nname = \"acct-c\";\noptions = { = };\n");
    snprintf(where, sizeof(where), "%s/sources.d/c.cfg:3: syntax error", dir);
    expect_error(MAIN_SOURCE, where, "");
    write_at(sdir, "c.cfg",
             "type = \"testcrm\";\nname = \"acct-c\";\noptions = { token_file = \"none\"; };\n");
    snprintf(where, sizeof(where),
             "%s/sources.d/c.cfg:3: options.token_file: cannot read secret file %s/sources.d/none",
             dir, dir);
    expect_error(MAIN_SOURCE, where, "");
    remove_at(sdir, "c.cfg");
    /* the directory itself */
    char moved[128];
    snprintf(moved, sizeof(moved), "%s/moved", dir);
    rename(sdir, moved);
    snprintf(where, sizeof(where), "%s:2: sources_dir: cannot read directory %s/sources.d",
             cfg_path, dir);
    expect_error(MAIN_SOURCE, where, "No such file");
    mkdir(sdir, 0700);
    expect_error("", "no source: sources = ( ... ) lists none and sources_dir holds no *.cfg file",
                 cfg_path);
    rmdir(sdir);
    rename(moved, sdir);
}

int main(void)
{
    setenv("TESTCRM_TOKEN", "env-token", 1);
    snprintf(dir, sizeof(dir), "/tmp/crmstream-srcdir-%d", (int)getpid());
    snprintf(sdir, sizeof(sdir), "%s/sources.d", dir);
    snprintf(cfg_path, sizeof(cfg_path), "%s/producer.cfg", dir);
    mkdir(dir, 0700);
    mkdir(sdir, 0700);
    test_files_add_sources();
    test_errors();
    const char *names[] = {"a.cfg", "b.cfg", "a.token", ".hidden.cfg", "notes.txt", "c.cfg"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        remove_at(sdir, names[i]);
    rmdir(sdir);
    remove_at(dir, "producer.cfg");
    rmdir(dir);
    return check_summary("config_sources_dir");
}
