/* SPDX-License-Identifier: MIT */
/*
 * What every maintenance task shares: its result, a message and a JSON
 * object of details that the job history keeps as the run's details.
 */
#include "maint/maint.h"

#include <jansson.h>

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#include "util/banned.h"

void maint_result_init(struct maint_result *r)
{
    memset(r, 0, sizeof(*r));
    strbuf_init(&r->message, 0);
    r->details = json_object();
}

void maint_result_release(struct maint_result *r)
{
    strbuf_release(&r->message);
    json_decref(r->details);
    for (size_t i = 0; i < r->nalerts; i++) {
        free(r->alerts[i].key);
        free(r->alerts[i].title);
        free(r->alerts[i].details);
    }
    free(r->alerts);
    memset(r, 0, sizeof(*r));
    strbuf_init(&r->message, 0);
}

static struct maint_alert *add_alert(struct maint_result *r, const char *key)
{
    struct maint_alert *a;
    ALLOC_GROW(r->alerts, r->nalerts + 1, r->alerts_alloc);
    a = &r->alerts[r->nalerts++];
    memset(a, 0, sizeof(*a));
    a->key = xstrdup(key);
    return a;
}

void maint_alert_fire(struct maint_result *r, const char *key, enum notify_severity severity,
                      const char *title, const char *details)
{
    struct maint_alert *a = add_alert(r, key);
    a->firing = true;
    a->severity = severity;
    a->title = xstrdup(title);
    a->details = xstrdup(details ? details : "");
}

void maint_alert_clear(struct maint_result *r, const char *key, const char *details)
{
    struct maint_alert *a = add_alert(r, key);
    a->details = details ? xstrdup(details) : NULL;
}

void maint_detail_int(struct maint_result *r, const char *key, int64_t v)
{
    json_object_set_new(r->details, key, json_integer((json_int_t)v));
}

void maint_detail_str(struct maint_result *r, const char *key, const char *v)
{
    json_object_set_new(r->details, key, v ? json_string(v) : json_null());
}

void maint_details_text(const struct maint_result *r, struct strbuf *out)
{
    char *text = r->details ? json_dumps(r->details, JSON_COMPACT) : NULL;
    strbuf_addstr(out, text ? text : "{}");
    free(text);
}
