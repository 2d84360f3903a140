/* SPDX-License-Identifier: MIT */
/*
 * The worker pool. One mutex guards the queue, the completion list and the
 * worker table; workers sleep on `work_cond`, the owner on `done_cond`.
 *
 * Item life cycle: QUEUED (in `queue`) -> RUNNING (a worker took it) ->
 * DONE (in `completed`) -> reaped (done() called on the owner's thread,
 * item freed). An abandoned RUNNING item keeps running on its detached
 * thread; when it returns it goes to `completed` flagged abandoned and the
 * thread exits, freeing its local slot.
 *
 * Workers are joinable while attached; an abandoned worker is detached so
 * that nobody has to join a thread that may never return.
 */
#include "sched/pool.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/sync.h"
#include "util/xalloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/banned.h"

enum item_state {
    ITEM_QUEUED,
    ITEM_RUNNING,
    ITEM_DONE,
};

struct worker;

struct pool_item {
    pool_run_fn *run;
    pool_done_fn *done;
    void *arg;
    enum item_state state;
    bool abandoned;
    struct worker *worker; /* while running */
    struct pool_item *next;
};

struct worker {
    struct pool *pool;
    pthread_t thread;
    bool detached; /* abandoned: exits after its current item */
    bool exited;
    void *local;
    struct worker *next;
};

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t work_cond; /* items queued or stopping */
    pthread_cond_t done_cond; /* completions queued */
    size_t nworkers;
    bool started, stopping;
    struct pool_item *queue, *queue_tail;
    struct pool_item *completed;
    size_t running, queued, ncompleted;
    size_t ndetached;       /* abandoned workers still alive */
    struct worker *workers; /* attached workers */
    pool_local_free_fn *local_free;
    pool_notify_fn *notify;
    void *notify_arg;
};

struct pool *pool_new(size_t workers, pool_local_free_fn *local_free, pool_notify_fn *notify,
                      void *notify_arg)
{
    struct pool *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work_cond, NULL);
    /* Waited on with deadlines: monotonic, so a wall clock step does not stretch them. */
    cond_init_monotonic(&p->done_cond);
    p->nworkers = workers ? workers : 1;
    p->local_free = local_free;
    p->notify = notify;
    p->notify_arg = notify_arg;
    return p;
}

static void complete_locked(struct pool *p, struct pool_item *it)
{
    it->state = ITEM_DONE;
    it->worker = NULL;
    it->next = p->completed;
    p->completed = it;
    p->ncompleted++;
    pthread_cond_broadcast(&p->done_cond);
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    bool detached = false;

    pthread_mutex_lock(&p->lock);
    for (;;) {
        struct pool_item *it;
        while (!p->queue && !p->stopping)
            pthread_cond_wait(&p->work_cond, &p->lock);
        if (!p->queue)
            break; /* stopping and nothing left */
        it = p->queue;
        p->queue = it->next;
        if (!p->queue)
            p->queue_tail = NULL;
        p->queued--;
        if (p->stopping) {
            /* Shutting down: complete without running. */
            it->abandoned = true;
            complete_locked(p, it);
            continue;
        }
        it->state = ITEM_RUNNING;
        it->worker = w;
        p->running++;
        pthread_mutex_unlock(&p->lock);

        it->run(&w->local, it->arg);

        pthread_mutex_lock(&p->lock);
        if (!it->abandoned)
            p->running--;
        detached = w->detached;
        complete_locked(p, it);
        if (p->notify) {
            /* Not under our lock: the owner's callback takes its own lock, and
             * the owner calls into the pool while holding it. */
            pthread_mutex_unlock(&p->lock);
            p->notify(p->notify_arg);
            pthread_mutex_lock(&p->lock);
        }
        if (detached)
            break;
    }
    w->exited = true;
    pthread_mutex_unlock(&p->lock);
    if (p->local_free && w->local)
        p->local_free(w->local);
    w->local = NULL;
    if (detached) {
        free(w); /* nobody joins or frees a detached worker */
        pthread_mutex_lock(&p->lock);
        p->ndetached--;
        pthread_cond_broadcast(&p->done_cond);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* Start one attached worker. Caller holds the lock. */
static int spawn_locked(struct pool *p, struct strbuf *err)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    int rc;
    w->pool = p;
    rc = pthread_create(&w->thread, NULL, worker_main, w);
    if (rc) {
        if (err)
            strbuf_addf(err, "pool: cannot start a worker thread: %s", strerror(rc));
        free(w);
        return CK_EIO;
    }
    w->next = p->workers;
    p->workers = w;
    return 0;
}

int pool_start(struct pool *p, struct strbuf *err)
{
    int rc = 0;
    pthread_mutex_lock(&p->lock);
    if (!p->started) {
        p->started = true;
        for (size_t i = 0; i < p->nworkers && !rc; i++)
            rc = spawn_locked(p, err);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

struct pool_item *pool_submit(struct pool *p, pool_run_fn *run, pool_done_fn *done, void *arg)
{
    struct pool_item *it = xcalloc(1, sizeof(*it));
    it->run = run;
    it->done = done;
    it->arg = arg;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        it->abandoned = true;
        complete_locked(p, it);
    } else {
        it->state = ITEM_QUEUED;
        if (p->queue_tail)
            p->queue_tail->next = it;
        else
            p->queue = it;
        p->queue_tail = it;
        p->queued++;
        pthread_cond_signal(&p->work_cond);
    }
    pthread_mutex_unlock(&p->lock);
    return it;
}

void pool_abandon(struct pool *p, struct pool_item *it)
{
    pthread_mutex_lock(&p->lock);
    if (it->state == ITEM_RUNNING && !it->abandoned) {
        struct worker *w = it->worker, **pp;
        it->abandoned = true;
        p->running--;
        w->detached = true;
        p->ndetached++;
        for (pp = &p->workers; *pp; pp = &(*pp)->next) {
            if (*pp == w) {
                *pp = w->next;
                break;
            }
        }
        pthread_detach(w->thread);
        if (!p->stopping)
            spawn_locked(p, NULL);
    }
    pthread_mutex_unlock(&p->lock);
}

size_t pool_reap(struct pool *p)
{
    struct pool_item *list, *next;
    size_t n = 0;

    pthread_mutex_lock(&p->lock);
    list = p->completed;
    p->completed = NULL;
    p->ncompleted = 0;
    pthread_mutex_unlock(&p->lock);
    /* Oldest first, so that completions are handled in the order they happened. */
    struct pool_item *rev = NULL;
    for (; list; list = next) {
        next = list->next;
        list->next = rev;
        rev = list;
    }
    for (; rev; rev = next) {
        next = rev->next;
        rev->done(rev->arg, rev->abandoned);
        free(rev);
        n++;
    }
    return n;
}

size_t pool_busy(struct pool *p)
{
    size_t n;
    pthread_mutex_lock(&p->lock);
    n = p->running + p->queued;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t pool_pending(struct pool *p)
{
    size_t n;
    pthread_mutex_lock(&p->lock);
    n = p->running + p->queued + p->ncompleted;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void pool_wait(struct pool *p, long timeout_ms)
{
    struct timespec ts = mono_deadline(timeout_ms);

    pthread_mutex_lock(&p->lock);
    while (!p->completed) {
        if (pthread_cond_timedwait(&p->done_cond, &p->lock, &ts) == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&p->lock);
}

void pool_stop(struct pool *p)
{
    struct worker *w, *next;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work_cond);
    w = p->workers;
    p->workers = NULL;
    pthread_mutex_unlock(&p->lock);
    for (; w; w = next) {
        next = w->next;
        pthread_join(w->thread, NULL);
        free(w);
    }
    /* Anything still queued (no worker left to take it) completes as abandoned. */
    pthread_mutex_lock(&p->lock);
    while (p->queue) {
        struct pool_item *it = p->queue;
        p->queue = it->next;
        p->queued--;
        it->abandoned = true;
        complete_locked(p, it);
    }
    p->queue_tail = NULL;
    pthread_mutex_unlock(&p->lock);
}

void pool_free(struct pool *p)
{
    struct timespec ts;
    bool leak = false;

    if (!p)
        return;
    /*
     * An abandoned worker still uses the pool's lock when its run returns.
     * Give such stragglers a moment; one that is stuck for good keeps the
     * pool alive (a small, deliberate leak) rather than touching freed memory.
     */
    ts = mono_deadline(2000);
    pthread_mutex_lock(&p->lock);
    while (p->ndetached) {
        if (pthread_cond_timedwait(&p->done_cond, &p->lock, &ts) == ETIMEDOUT) {
            leak = p->ndetached > 0;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (leak)
        return;
    /* A straggler's run completed after the owner's last reap: hand it back now. */
    pool_reap(p);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->work_cond);
    pthread_cond_destroy(&p->done_cond);
    free(p);
}
