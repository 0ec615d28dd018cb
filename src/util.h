/* util.h — small shared helpers: growable byte buffer, hashing, safe allocation. */
#ifndef CRM_UTIL_H
#define CRM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* A growable byte buffer; always NUL-terminated after `len` bytes. */
typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf;

void buf_init(buf *b);
void buf_free(buf *b);
void buf_reset(buf *b);
/* Makes room for extra more bytes (and the NUL); the slow path of buf_append. */
void buf_grow(buf *b, size_t extra);
/* Inline: the record hot path appends a few bytes at a time, millions of times. */
static inline int buf_append(buf *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap)
        buf_grow(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}
int buf_append_str(buf *b, const char *s);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s percent-encoded for a URL query value. */
int buf_append_urlencoded(buf *b, const char *s);

/* Aborts the process on allocation failure (there is no sane recovery from OOM here). */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* 64-bit FNV-1a, then a murmur-style finalizer for good bit spread. Byte at a time: the
 * content hash of crmstream before 2026-11 (still recognized in restored state). */
uint64_t hash64(const void *data, size_t len);
/* The content hash of published records (persisted in the state topic, so it must never
 * change): eight bytes per step, a multiply and a shift, then a murmur-style finalizer; the top
 * bit is always 0 (set, it marks a legacy hash64 value restored from old state). */
uint64_t content_hash(const void *data, size_t len);
#define CONTENT_HASH_LEGACY (1ULL << 63)

/* Monotonic milliseconds. */
int64_t now_monotonic_ms(void);
/* Wall-clock milliseconds since the epoch. */
int64_t now_wall_ms(void);
/* Sleeps up to ms milliseconds; returns early (1) when *stop becomes non-zero. */
int sleep_interruptible(int64_t ms, volatile int *stop);

/* Stop flags (engine_stop_requested, a source's stop) are set by signal handlers and other
 * threads while threads poll them: read and set them atomically (a flag needs no ordering), so
 * that ThreadSanitizer sees no race and the compiler no plain shared access. */
static inline int flag_is_set(const volatile int *flag)
{
    return __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
}
static inline void flag_set(volatile int *flag, int value)
{
    __atomic_store_n(flag, value, __ATOMIC_RELAXED);
}

#endif
