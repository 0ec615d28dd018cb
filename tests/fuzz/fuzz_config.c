/* fuzz_config.c — config_load on arbitrary files (libconfig syntax, then crmstream's checks of
 * every setting, duration and connector option). The text goes through a memfd, no disk. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

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
    /* the secrets the simulators' configs name */
    setenv("TESTCRM_TOKEN", "t", 1);
    setenv("CLOSE_API_KEY", "k", 1);
    setenv("PIPEDRIVE_API_TOKEN", "p", 1);
    setenv("COPPER_API_KEY", "c", 1);
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
