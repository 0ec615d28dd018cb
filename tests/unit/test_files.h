/* test_files.h — writing and removing small files in a test's scratch directory (the config,
 * sources_dir and watcher tests build directories of source files). Include after check.h. */
#ifndef CRM_TEST_FILES_H
#define CRM_TEST_FILES_H

#include <stdio.h>
#include <unistd.h>

/* Writes text to dir/name (replacing it); a failure to open counts as a failed check. */
static inline void write_at(const char *dir, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f)
        return;
    fputs(text, f);
    fclose(f);
}

static inline void remove_at(const char *dir, const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

#endif
