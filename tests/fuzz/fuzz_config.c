/* fuzz_config.c — config_load on arbitrary files (libconfig syntax, then crmstream's checks of
 * every setting, duration and connector option). The text goes through a memfd, no disk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "connector.h"

static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fd = memfd_create("crmstream-fuzz.cfg", 0);
    if (fd < 0) {
        perror("memfd_create");
        exit(2);
    }
    /* the secrets the configs name: every connector's default secret variables */
    for (const connector *const *c = crm_connectors; *c; c++)
        for (const connector_option *o = (*c)->options; o && o->name; o++)
            if (o->type == OPT_ENV && o->default_value)
                setenv(o->default_value, "fuzz-secret", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    char path[64], err[1024];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    crm_config *cfg = config_load(path, err, sizeof(err));
    config_free(cfg);
    return 0;
}
