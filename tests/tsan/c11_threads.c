/* c11_threads.c — linked into the ThreadSanitizer build only (make SAN=tsan). librdkafka makes
 * its threads, mutexes and condition variables with C11 <threads.h> (thrd_create, mtx_lock,
 * cnd_wait...), which glibc implements by calling its pthread functions internally, where
 * neither gcc-12's nor clang-14's TSan runtime sees them: a librdkafka thread then crashes in
 * TSan's allocator, and its locks are invisible. These definitions take precedence over glibc's
 * (the executable's symbols come first) and call the pthread functions TSan intercepts. glibc
 * lays out thrd_t, mtx_t, cnd_t and once_flag as pthread_t, pthread_mutex_t, pthread_cond_t and
 * pthread_once_t. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

static int thrd_result(int rc)
{
    return rc == 0           ? thrd_success
           : rc == ENOMEM    ? thrd_nomem
           : rc == EBUSY     ? thrd_busy
           : rc == ETIMEDOUT ? thrd_timedout
                             : thrd_error;
}

typedef struct start_arg {
    thrd_start_t fn;
    void *arg;
} start_arg;

static void *start_thread(void *p)
{
    start_arg a = *(start_arg *)p;
    free(p);
    return (void *)(intptr_t)a.fn(a.arg);
}

int thrd_create(thrd_t *thr, thrd_start_t fn, void *arg)
{
    start_arg *a = malloc(sizeof(*a));
    if (!a)
        return thrd_nomem;
    a->fn = fn;
    a->arg = arg;
    int rc = pthread_create((pthread_t *)thr, NULL, start_thread, a);
    if (rc)
        free(a);
    return thrd_result(rc);
}

int thrd_join(thrd_t thr, int *res)
{
    void *r;
    int rc = pthread_join((pthread_t)thr, &r);
    if (rc == 0 && res)
        *res = (int)(intptr_t)r;
    return thrd_result(rc);
}

int thrd_detach(thrd_t thr)
{
    return thrd_result(pthread_detach((pthread_t)thr));
}

thrd_t thrd_current(void)
{
    return (thrd_t)pthread_self();
}

int mtx_init(mtx_t *m, int type)
{
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    if (type & mtx_recursive)
        pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init((pthread_mutex_t *)m, &attr);
    pthread_mutexattr_destroy(&attr);
    return thrd_result(rc);
}

int mtx_lock(mtx_t *m)
{
    return thrd_result(pthread_mutex_lock((pthread_mutex_t *)m));
}

int mtx_trylock(mtx_t *m)
{
    return thrd_result(pthread_mutex_trylock((pthread_mutex_t *)m));
}

int mtx_timedlock(mtx_t *restrict m, const struct timespec *restrict ts)
{
    return thrd_result(pthread_mutex_timedlock((pthread_mutex_t *)m, ts));
}

int mtx_unlock(mtx_t *m)
{
    return thrd_result(pthread_mutex_unlock((pthread_mutex_t *)m));
}

void mtx_destroy(mtx_t *m)
{
    pthread_mutex_destroy((pthread_mutex_t *)m);
}

int cnd_init(cnd_t *c)
{
    return thrd_result(pthread_cond_init((pthread_cond_t *)c, NULL));
}

int cnd_signal(cnd_t *c)
{
    return thrd_result(pthread_cond_signal((pthread_cond_t *)c));
}

int cnd_broadcast(cnd_t *c)
{
    return thrd_result(pthread_cond_broadcast((pthread_cond_t *)c));
}

int cnd_wait(cnd_t *c, mtx_t *m)
{
    return thrd_result(pthread_cond_wait((pthread_cond_t *)c, (pthread_mutex_t *)m));
}

int cnd_timedwait(cnd_t *restrict c, mtx_t *restrict m, const struct timespec *restrict ts)
{
    return thrd_result(pthread_cond_timedwait((pthread_cond_t *)c, (pthread_mutex_t *)m, ts));
}

void cnd_destroy(cnd_t *c)
{
    pthread_cond_destroy((pthread_cond_t *)c);
}

void call_once(once_flag *flag, void (*fn)(void))
{
    pthread_once((pthread_once_t *)flag, fn);
}
