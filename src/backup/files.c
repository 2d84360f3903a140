/* SPDX-License-Identifier: MIT */
/*
 * File helpers of backup/: durable renames (fsync of the file and of its
 * directory), private directories, and a SQLite file's companions.
 */
#include "backup/backup_internal.h"

#include "util/error.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/banned.h"

int fsync_path(const char *path, struct strbuf *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0) {
        strbuf_addf(err, "cannot open '%s': %s", path, strerror(errno));
        return CK_EIO;
    }
    if (fsync(fd)) {
        strbuf_addf(err, "cannot fsync '%s': %s", path, strerror(errno));
        rc = CK_EIO;
    }
    close(fd);
    return rc;
}

int fsync_dir(const char *dir, struct strbuf *err)
{
    return fsync_path(dir, err);
}

void remove_db_files(const char *path)
{
    struct strbuf p = STRBUF_INIT;
    unlink(path);
    strbuf_addf(&p, "%s-wal", path);
    unlink(p.buf);
    strbuf_reset(&p);
    strbuf_addf(&p, "%s-shm", path);
    unlink(p.buf);
    strbuf_reset(&p);
    strbuf_addf(&p, "%s-journal", path);
    unlink(p.buf);
    strbuf_release(&p);
}

char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

int make_private_dir(const char *dir, struct strbuf *err)
{
    struct stat st;
    char *parent;

    if (!stat(dir, &st)) {
        if (!S_ISDIR(st.st_mode)) {
            strbuf_addf(err, "'%s' is not a directory", dir);
            return CK_EINVAL;
        }
        return 0;
    }
    parent = dir_of(dir);
    if (strcmp(parent, dir) && strcmp(parent, ".") && strcmp(parent, "/") &&
        make_private_dir(parent, err)) {
        free(parent);
        return CK_EIO;
    }
    free(parent);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        strbuf_addf(err, "cannot create the directory '%s': %s", dir, strerror(errno));
        return CK_EIO;
    }
    /* The umask may have taken bits the mode asked for; it cannot add any. */
    chmod(dir, 0700);
    return 0;
}

int write_file_atomic(const char *path, const char *text, struct strbuf *err)
{
    struct strbuf tmp = STRBUF_INIT;
    char *dir = dir_of(path);
    size_t n = strlen(text);
    int fd, rc = 0;

    strbuf_addf(&tmp, "%s.tmp", path);
    unlink(tmp.buf);
    fd = open(tmp.buf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_addf(err, "cannot create '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    if (write(fd, text, n) != (ssize_t)n || fsync(fd)) {
        strbuf_addf(err, "cannot write '%s': %s", tmp.buf, strerror(errno));
        rc = CK_EIO;
    }
    close(fd);
    if (!rc && rename(tmp.buf, path)) {
        strbuf_addf(err, "cannot rename '%s' to '%s': %s", tmp.buf, path, strerror(errno));
        rc = CK_EIO;
    }
    if (rc)
        unlink(tmp.buf);
    else
        rc = fsync_dir(dir, err);
out:
    strbuf_release(&tmp);
    free(dir);
    return rc;
}
