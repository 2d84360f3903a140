/* SPDX-License-Identifier: MIT */
/*
 * What every maintenance task shares: its result, a message and a JSON
 * object of details that the job history keeps as the run's details.
 */
#include "maint/maint.h"

#include <jansson.h>

#include <stdlib.h>

#include "util/banned.h"

void maint_result_init(struct maint_result *r)
{
    strbuf_init(&r->message, 0);
    r->details = json_object();
    r->high = false;
}

void maint_result_release(struct maint_result *r)
{
    strbuf_release(&r->message);
    json_decref(r->details);
    r->details = NULL;
    r->high = false;
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
