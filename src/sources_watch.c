/* sources_watch.c — when sources_dir is re-read while running (sources_watch.h). Any change in
 * the directory counts: a *.cfg file written, added, removed or renamed, a secret file beside
 * them, or the `..data` symlink a Kubernetes ConfigMap/Secret volume renames over on update
 * (the files there are links through it, so their content changes with no event of their own).
 * The re-read compares settings, so a change that changes nothing costs one directory read.
 * Bursts (an editor's save, a kubelet update, a deploy copying many files) are debounced. */
#include "sources_watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

void sources_debounce_init(sources_debounce *d, int quiet_ms, int max_delay_ms)
{
    memset(d, 0, sizeof(*d));
    d->quiet_ms = quiet_ms;
    d->max_delay_ms = max_delay_ms;
}

void sources_debounce_note(sources_debounce *d, int64_t now_ms)
{
    if (!d->first_ms)
        d->first_ms = now_ms ? now_ms : 1;
    d->last_ms = now_ms;
}

int sources_debounce_due(sources_debounce *d, int64_t now_ms)
{
    if (!d->first_ms)
        return 0;
    if (now_ms - d->last_ms < d->quiet_ms && now_ms - d->first_ms < d->max_delay_ms)
        return 0;
    d->first_ms = d->last_ms = 0;
    return 1;
}

struct sources_watch {
    char *dir;
    int fd;           /* inotify instance */
    int wd;           /* the directory's watch; -1 while it is gone (re-added when back) */
    int64_t retry_ms; /* next try to watch a directory that is gone */
    sources_debounce debounce;
};

#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO |            \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)

static int add_watch(sources_watch *w)
{
    w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
    return w->wd < 0 ? -1 : 0;
}

sources_watch *sources_watch_dir(const char *dir, int quiet_ms, int max_delay_ms)
{
    sources_watch *w = xcalloc(1, sizeof(*w));
    w->dir = xstrdup(dir);
    sources_debounce_init(&w->debounce, quiet_ms, max_delay_ms);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0 || add_watch(w)) {
        log_warn(NULL, NULL,
                 "cannot watch sources_dir %s for changes (%s): it is re-read on SIGHUP only", dir,
                 strerror(errno));
        sources_watch_stop(w);
        return NULL;
    }
    return w;
}

sources_watch *sources_watch_start(const crm_config *cfg)
{
    char *dir = config_sources_dir_path(cfg);
    if (!dir)
        return NULL;
    sources_watch *w = sources_watch_dir(dir, SOURCES_WATCH_QUIET_MS, SOURCES_WATCH_MAX_DELAY_MS);
    if (w)
        log_info(NULL, NULL, "watching sources_dir %s: a change re-reads it", dir);
    free(dir);
    return w;
}

/* Reads every pending event; each one is a change. The directory itself going away (deleted,
 * renamed, unmounted) drops its watch: it is watched again once it is back. */
static void take_events(sources_watch *w, int64_t now_ms)
{
    char events[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;
    while ((n = read(w->fd, events, sizeof(events))) > 0) {
        for (char *p = events; p < events + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->mask & IN_MOVE_SELF) /* watched elsewhere now: the path is what counts */
                inotify_rm_watch(w->fd, ev->wd);
            if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT))
                w->wd = -1;
            sources_debounce_note(&w->debounce, now_ms);
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
}

static void rewatch_if_gone(sources_watch *w, int64_t now_ms)
{
    if (w->wd >= 0 || now_ms < w->retry_ms)
        return;
    w->retry_ms = now_ms + 1000;
    if (add_watch(w) == 0) {
        log_info(NULL, NULL, "sources_dir %s is back: watching it again", w->dir);
        sources_debounce_note(&w->debounce, now_ms);
    }
}

int sources_watch_due(sources_watch *w, int64_t now_ms)
{
    if (!w)
        return 0;
    take_events(w, now_ms);
    rewatch_if_gone(w, now_ms);
    return sources_debounce_due(&w->debounce, now_ms);
}

void sources_watch_stop(sources_watch *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    free(w->dir);
    free(w);
}
