/* SPDX-License-Identifier: MIT */
/*
 * The public side of the store's upkeep (upkeep.h): the wrappers over the
 * backends' optional ops, which refuse to run inside a transaction (VACUUM
 * cannot, and an integrity check inside one would see only its snapshot).
 */
#include "store/store_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <stdlib.h>
#include <string.h>

#include "util/banned.h"

int store_check_integrity(struct store *st, bool full, bool *out_ok, bool *out_checked,
                          struct strbuf *problems, struct strbuf *err)
{
    if (store_in_transaction(st))
        BUG("store_check_integrity inside a transaction");
    *out_ok = true;
    *out_checked = st->ops->check_integrity != NULL;
    if (!st->ops->check_integrity)
        return 0;
    return st->ops->check_integrity(st, full, out_ok, problems, err);
}

int store_upkeep(struct store *st, struct store_upkeep *u, struct strbuf *err)
{
    if (store_in_transaction(st))
        BUG("store_upkeep inside a transaction");
    u->analyzed = u->checkpointed = u->vacuumed = false;
    u->wal_frames = 0;
    u->vacuum_note[0] = '\0';
    u->size_before = u->size_after = u->free_bytes = 0;
    u->disk_free = -1;
    u->tables = NULL;
    u->ntables = 0;
    if (!st->ops->upkeep)
        return 0;
    return st->ops->upkeep(st, u, err);
}

void store_upkeep_release(struct store_upkeep *u)
{
    for (size_t i = 0; u->tables && i < u->ntables; i++)
        free(u->tables[i].name);
    free(u->tables);
    u->tables = NULL;
    u->ntables = 0;
}
