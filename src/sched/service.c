/* SPDX-License-Identifier: MIT */
/*
 * Background services (see service.h).
 *
 * Locking: `lock` guards `wake` and `stop`; `cond` (monotonic) is signalled
 * when either changes. Everything else belongs to the service's thread
 * once it runs: the store connection is opened, used and closed there
 * only, and freed by service_stop() after the join.
 *
 * The loop clears `wake` before each pass, so a wake-up that arrives
 * during the pass is seen after it and starts the next pass at once:
 * a wake-up is never lost between "work looked for" and "going to sleep".
 */
#include "sched/service.h"

#include "store/store.h"
#include "util/error.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/sync.h"
#include "util/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

struct service {
    char *name;
    service_pass_fn *pass;
    void *arg;
    char *store_url;
    struct store *st; /* the thread's own */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool wake; /* (lock) a pass is wanted now */
    bool stop; /* (lock) */
};

static void *service_main(void *arg)
{
    struct service *svc = arg;

    pthread_mutex_lock(&svc->lock);
    while (!svc->stop) {
        int64_t wait;
        svc->wake = false;
        pthread_mutex_unlock(&svc->lock);
        wait = svc->pass(svc, svc->arg);
        pthread_mutex_lock(&svc->lock);
        if (wait > 0 && !svc->wake && !svc->stop) {
            struct timespec until = mono_deadline(wait);
            while (!svc->wake && !svc->stop &&
                   pthread_cond_timedwait(&svc->cond, &svc->lock, &until) == 0)
                ;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    return NULL;
}

int service_start(struct service **out, const struct service_config *cfg, struct strbuf *err)
{
    struct service *svc = xcalloc(1, sizeof(*svc));
    int rc;

    *out = NULL;
    svc->name = xstrdup(cfg->name);
    svc->pass = cfg->pass;
    svc->arg = cfg->arg;
    svc->store_url = cfg->store_url ? xstrdup(cfg->store_url) : NULL;
    pthread_mutex_init(&svc->lock, NULL);
    cond_init_monotonic(&svc->cond);
    /* Before the thread starts: its first pass may read the owner's pointer to it. */
    *out = svc;
    rc = pthread_create(&svc->thread, NULL, service_main, svc);
    if (rc) {
        *out = NULL;
        strbuf_addf(err, "%s: cannot start its thread: %s", svc->name, strerror(rc));
        pthread_mutex_destroy(&svc->lock);
        pthread_cond_destroy(&svc->cond);
        free(svc->store_url);
        free(svc->name);
        free(svc);
        return CK_EIO;
    }
    return 0;
}

void service_wake(struct service *svc)
{
    if (!svc)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->wake = true;
    pthread_cond_signal(&svc->cond);
    pthread_mutex_unlock(&svc->lock);
}

bool service_stopping(struct service *svc)
{
    bool stop;
    pthread_mutex_lock(&svc->lock);
    stop = svc->stop;
    pthread_mutex_unlock(&svc->lock);
    return stop;
}

struct store *service_store(struct service *svc, struct strbuf *err)
{
    if (!svc->store_url)
        BUG("service '%s' has no store", svc->name);
    if (!svc->st && store_open(&svc->st, svc->store_url, err)) {
        redact_message(err);
        svc->st = NULL;
    }
    return svc->st;
}

void service_store_drop(struct service *svc)
{
    store_close(svc->st);
    svc->st = NULL;
}

void service_stop(struct service *svc)
{
    if (!svc)
        return;
    pthread_mutex_lock(&svc->lock);
    svc->stop = true;
    pthread_cond_broadcast(&svc->cond);
    pthread_mutex_unlock(&svc->lock);
    pthread_join(svc->thread, NULL);
    pthread_mutex_destroy(&svc->lock);
    pthread_cond_destroy(&svc->cond);
    store_close(svc->st);
    free(svc->store_url);
    free(svc->name);
    free(svc);
}
