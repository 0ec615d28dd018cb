/* allocator.c — keeps glibc's malloc from handing memory back to the kernel in the middle of a
 * pass. By default glibc serves blocks above an adaptive threshold (128 KiB..32 MiB) with mmap
 * and trims each thread arena's free top beyond twice that threshold; librdkafka allocates and
 * frees its ~1 MiB produce and compression buffers per batch, so every batch came back as fresh
 * pages (measured: 61,000 page faults per million records, ~0.5 us of CPU per record on a
 * virtual machine, most of it zeroing those pages). With fixed thresholds the buffers are reused
 * while a pass runs; the tables' idle time between polls returns what is free, and so does a
 * long pass every few seconds (a 1 M-record backfill kept 22 MiB of freed memory otherwise). */
#include "allocator.h"

#include <malloc.h>
#include <stdatomic.h>

#include "log.h"
#include "util.h"

enum {
    /* Larger blocks still come from mmap: nothing a pass allocates is this big. */
    MMAP_THRESHOLD = 32 << 20,
    /* A free top below this stays in its arena while a pass runs. */
    TRIM_THRESHOLD = 64 << 20,
};

/* 1 once glibc's malloc took the settings: it is the allocator in use. Under a sanitizer's
 * allocator mallopt refuses them, and malloc_trim would walk glibc arenas that were never set
 * up (it crashed the ASan build). */
static atomic_int glibc_malloc_in_use;

void allocator_tune_for_streaming(void)
{
#ifdef __GLIBC__
    if (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 ||
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1)
        log_warn(NULL, NULL, "mallopt refused the allocator settings; running with defaults");
    else
        atomic_store(&glibc_malloc_in_use, 1);
#endif
}

/* How often a pass gives memory back: rarely enough that what librdkafka reuses per batch is
 * not re-faulted per batch (a trim of ~100 MiB of arenas takes about a millisecond). */
#define RELEASE_INTERVAL_MS 5000

void allocator_release_now_and_then(void)
{
    static atomic_llong last_ms;
    long long now = (long long)now_monotonic_ms(), last = atomic_load(&last_ms);
    if (now - last < RELEASE_INTERVAL_MS || !atomic_compare_exchange_strong(&last_ms, &last, now))
        return;
    allocator_release_idle();
}

void allocator_release_idle(void)
{
#ifdef __GLIBC__
    if (atomic_load(&glibc_malloc_in_use))
        malloc_trim(0);
#endif
}
