/* test_sources_watch.c — when sources_dir is re-read (issue #20): a burst of changes is due
 * once, after it has been quiet for quiet_ms or at the latest max_delay_ms after its first
 * change; the real directory watch sees files added, written, removed, and a Kubernetes-style
 * `..data` symlink swap, and a directory that went away and came back. */
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "test_files.h"
#include "sources_watch.h"
#include "util.h"

static void test_debounce(void)
{
    sources_debounce d;
    sources_debounce_init(&d, 500, 3000);
    CHECK(!sources_debounce_due(&d, 1000)); /* nothing noted */
    sources_debounce_note(&d, 1000);
    CHECK(!sources_debounce_due(&d, 1200));
    sources_debounce_note(&d, 1400); /* the burst goes on */
    CHECK(!sources_debounce_due(&d, 1800));
    CHECK(sources_debounce_due(&d, 1900));  /* 500 ms quiet */
    CHECK(!sources_debounce_due(&d, 1901)); /* once per burst */
    CHECK(!sources_debounce_due(&d, 9000));
    /* a burst that never pauses is due max_delay_ms after its first change */
    int64_t t = 10000, due_at = 0;
    for (int i = 0; i < 100 && !due_at; i++, t += 100) {
        sources_debounce_note(&d, t);
        if (sources_debounce_due(&d, t))
            due_at = t;
    }
    CHECK(due_at == 13000);
    CHECK(!sources_debounce_due(&d, due_at + 1));
    /* a change at time 0 is still a change */
    sources_debounce_note(&d, 0);
    CHECK(sources_debounce_due(&d, 600));
}

/* Polls w like the engine's loop (every 20 ms) for up to ms; 1 when it became due. */
static int due_within(sources_watch *w, int ms)
{
    for (int waited = 0; waited <= ms; waited += 20) {
        if (sources_watch_due(w, now_monotonic_ms()))
            return 1;
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void test_directory(void)
{
    char dir[64], path[128], data[128], link[128], tmp[128];
    snprintf(dir, sizeof(dir), "/tmp/crmstream-watch-%d", (int)getpid());
    mkdir(dir, 0700);
    sources_watch *w = sources_watch_dir(dir, 100, 1000);
    CHECK(w != NULL);
    if (!w)
        return;
    CHECK(!due_within(w, 300)); /* nothing happened */
    /* a file added, then written again within the burst: one reload */
    write_at(dir, "a.cfg", "name = \"a\";\n");
    write_at(dir, "a.cfg", "name = \"a\"; type = \"testcrm\";\n");
    CHECK(due_within(w, 1000));
    CHECK(!due_within(w, 300));
    /* a file removed */
    snprintf(path, sizeof(path), "%s/a.cfg", dir);
    unlink(path);
    CHECK(due_within(w, 1000));
    /* a ConfigMap update: new data directory, ..data_tmp link renamed over ..data */
    snprintf(data, sizeof(data), "%s/..2026_12_07_01", dir);
    mkdir(data, 0700);
    snprintf(link, sizeof(link), "%s/..data", dir);
    CHECK(symlink("..2026_12_07_01", link) == 0);
    CHECK(due_within(w, 1000));
    snprintf(data, sizeof(data), "%s/..2026_12_07_02", dir);
    mkdir(data, 0700);
    snprintf(tmp, sizeof(tmp), "%s/..data_tmp", dir);
    CHECK(symlink("..2026_12_07_02", tmp) == 0);
    while (due_within(w, 200)) /* (creating the link is a change of its own) */
        ;
    CHECK(rename(tmp, link) == 0);
    CHECK(due_within(w, 1000));
    unlink(link);
    rmdir(data);
    snprintf(data, sizeof(data), "%s/..2026_12_07_01", dir);
    rmdir(data);
    while (due_within(w, 200))
        ;
    /* the directory goes away and comes back: watched again, and that is a change */
    CHECK(rmdir(dir) == 0);
    CHECK(due_within(w, 1000));
    mkdir(dir, 0700);
    CHECK(due_within(w, 2500));
    write_at(dir, "b.cfg", "name = \"b\";\n");
    CHECK(due_within(w, 1000));
    sources_watch_stop(w);
    snprintf(path, sizeof(path), "%s/b.cfg", dir);
    unlink(path);
    rmdir(dir);
    CHECK(sources_watch_due(NULL, 0) == 0);
}

int main(void)
{
    test_debounce();
    test_directory();
    return check_summary("sources_watch");
}
