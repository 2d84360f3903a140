/* SPDX-License-Identifier: MIT */
/*
 * The log backend. A line is built completely in a strbuf (timestamp,
 * level, message), redacted, and written with a single write(2) under a
 * mutex to a descriptor opened O_APPEND, so lines from several threads
 * never interleave and lines from several processes sharing the file never
 * overwrite each other.
 *
 * Every message passes through the secret redactor (util/redact.c) before
 * it is formatted, so no line can carry a registered secret or the shape
 * of a credential, whoever wrote it.
 *
 * Rotation ([log] max_size, keep, compress). After each line the logger
 * knows the file's size; when it reaches max_size the file is renamed to
 * FILE.<UTC time to the millisecond> and a new FILE is opened, both under
 * the lock, between two lines: a line is never split across files and none
 * is lost, as every line is written whole to one descriptor or the other.
 * The file is never copied and truncated. Compressing the rotated file
 * (gzip, zlib) and deleting those past `keep` happen on one background
 * thread of the logger's own, so the thread that crossed the size waits
 * for a rename and an open, not for the compression. (The logger sits
 * below the scheduler's service helper, which logs; this one small thread
 * is the exception, and it never logs.)
 *
 * Several processes may write one file (the daemon and a command run next
 * to it, an external logrotate). Each checks, at most once a second,
 * whether FILE is still the file it writes (device and inode) and reopens
 * it when it is not, and a process that rotates first makes sure FILE is
 * still its own, so two processes do not rename one file twice. A rotated
 * file modified in the last two seconds is left uncompressed until it has
 * been still for that long, so that a process that has not yet noticed the
 * rename finishes its lines before the file is compressed.
 *
 * SIGHUP's log_reopen() still reopens FILE for an external logrotate.
 */
#include "util/log.h"

#include "util/error.h"
#include "util/redact.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "util/banned.h"

enum log_level log_level_current = LOG_INFO;

/* Guards everything below up to the compressor's part. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_format log_fmt = LOG_FORMAT_LOGFMT;
static int log_fd = -1;        /* -1: stderr */
static char *log_path;         /* NULL: stderr */
static int64_t log_size;       /* bytes in the file log_fd writes, as far as this process knows */
static dev_t log_dev;          /* the file log_fd writes */
static ino_t log_ino;          /* ... */
static int64_t log_checked_ms; /* when FILE was last compared with log_fd */
static struct log_rotation log_rot = {.keep = 5};

/*
 * The compressor: one thread, started at the first rotation, that gzips
 * rotated files and deletes those past `keep`. comp_lock guards comp_*;
 * it is taken after log_lock when both are held, never before.
 */
static pthread_mutex_t comp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t comp_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t comp_idle = PTHREAD_COND_INITIALIZER;
static pthread_t comp_thread;
static bool comp_started;
static bool comp_stop;
static unsigned comp_asked; /* passes asked for */
static unsigned comp_done;  /* passes finished */
static char *comp_path;     /* the log file whose rotations it handles (owned) */
static struct log_rotation comp_rot;
static int64_t comp_bytes_freed; /* by compression and deletion, since start */

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (!strcasecmp(s, level_names[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (!strcasecmp(s, "warning")) {
        *out = LOG_WARN;
        return 0;
    }
    return CK_EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (!strcasecmp(s, "logfmt") || !strcasecmp(s, "text")) {
        *out = LOG_FORMAT_LOGFMT;
        return 0;
    }
    if (!strcasecmp(s, "json")) {
        *out = LOG_FORMAT_JSON;
        return 0;
    }
    return CK_EINVAL;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int open_locked(struct strbuf *err)
{
    struct stat sb;
    int fd;

    if (!log_path)
        return 0;
    /* Logs may say more than they should: readable by their owner only. */
    fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        strbuf_addf(err, "log: cannot open '%s': %s", log_path, strerror(errno));
        return CK_EIO;
    }
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    log_size = 0;
    log_dev = 0;
    log_ino = 0;
    if (!fstat(fd, &sb)) {
        log_size = (int64_t)sb.st_size;
        log_dev = sb.st_dev;
        log_ino = sb.st_ino;
    }
    log_checked_ms = wall_ms();
    return 0;
}

int log_setup(enum log_level level, enum log_format format, const char *path, struct strbuf *err)
{
    int rc = 0;
    pthread_mutex_lock(&log_lock);
    log_level_current = level;
    log_fmt = format;
    free(log_path);
    log_path = path && *path ? xstrdup(path) : NULL;
    if (log_fd >= 0) {
        close(log_fd);
        log_fd = -1;
    }
    rc = open_locked(err);
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void log_set_rotation(const struct log_rotation *rot)
{
    pthread_mutex_lock(&log_lock);
    log_rot = *rot;
    if (log_rot.keep < 1)
        log_rot.keep = 1;
    pthread_mutex_unlock(&log_lock);
}

int log_reopen(struct strbuf *err)
{
    int rc;
    pthread_mutex_lock(&log_lock);
    rc = open_locked(err);
    pthread_mutex_unlock(&log_lock);
    return rc;
}

/* ---- the compressor ---- */

/* Is `name` (in the log's directory) a rotation of log file `base`? Sets *gz. */
static bool is_rotation(const char *name, const char *base, bool *gz)
{
    size_t bl = strlen(base), nl = strlen(name);
    const char *stamp;

    if (nl <= bl + 1 || strncmp(name, base, bl) || name[bl] != '.')
        return false;
    stamp = name + bl + 1;
    /* YYYYmmddTHHMMSS.mmmZ, then optionally .gz */
    if (strlen(stamp) < 20 || stamp[8] != 'T' || stamp[15] != '.' || stamp[19] != 'Z')
        return false;
    *gz = !strcmp(stamp + 20, ".gz");
    return *gz || !stamp[20];
}

struct rotated {
    char *name;
    bool gz;
};

static int cmp_rotated(const void *a, const void *b)
{
    return strcmp(((const struct rotated *)a)->name, ((const struct rotated *)b)->name);
}

/* The rotations of `path`, oldest first. */
static size_t list_rotated(const char *dir, const char *base, struct rotated **out)
{
    struct rotated *v = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *de;
    DIR *d = opendir(dir);

    *out = NULL;
    if (!d)
        return 0;
    while ((de = readdir(d))) {
        bool gz;
        if (!is_rotation(de->d_name, base, &gz))
            continue;
        ALLOC_GROW(v, n + 1, alloc);
        v[n].name = xstrdup(de->d_name);
        v[n].gz = gz;
        n++;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), cmp_rotated);
    *out = v;
    return n;
}

static void free_rotated(struct rotated *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

size_t log_rotations(const char *path, char ***out)
{
    char *dcopy = xstrdup(path), *bcopy = xstrdup(path);
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    struct rotated *v;
    size_t n = list_rotated(dir, base, &v);
    char **paths = xcalloc(n + 1, sizeof(*paths));

    for (size_t i = 0; i < n; i++) {
        struct strbuf full = STRBUF_INIT;
        strbuf_addf(&full, "%s/%s", dir, v[i].name);
        paths[i] = strbuf_detach(&full, NULL);
    }
    free_rotated(v, n);
    free(dcopy);
    free(bcopy);
    *out = paths;
    return n;
}

void log_rotations_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/*
 * gzip `src` to `src`.gz (through a temporary name, so a reader never sees
 * half a file), keeping its mode, then delete `src`. Bytes saved go to
 * *freed. 0, or -1 leaving `src` as it was.
 */
static int gzip_file(const char *src, int64_t *freed)
{
    struct strbuf tmp = STRBUF_INIT, dst = STRBUF_INIT;
    struct stat sb, gb;
    char buf[65536];
    gzFile gz = NULL;
    int in = -1, out = -1, rc = -1;
    ssize_t n;

    strbuf_addf(&dst, "%s.gz", src);
    strbuf_addf(&tmp, "%s.gz.tmp", src);
    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &sb))
        goto out;
    out = open(tmp.buf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, sb.st_mode & 0777);
    if (out < 0)
        goto out;
    gz = gzdopen(out, "wb6");
    if (!gz)
        goto out;
    out = -1; /* gzclose closes it */
    while ((n = read(in, buf, sizeof(buf))) > 0)
        if (gzwrite(gz, buf, (unsigned)n) != (int)n)
            goto out;
    if (n < 0)
        goto out;
    rc = gzclose(gz) == Z_OK ? 0 : -1;
    gz = NULL;
    if (!rc && (stat(tmp.buf, &gb) || rename(tmp.buf, dst.buf)))
        rc = -1;
    if (!rc) {
        unlink(src);
        if (sb.st_size > gb.st_size)
            *freed += (int64_t)sb.st_size - (int64_t)gb.st_size;
    }
out:
    if (gz)
        gzclose(gz);
    if (out >= 0)
        close(out);
    if (in >= 0)
        close(in);
    if (rc)
        unlink(tmp.buf);
    strbuf_release(&tmp);
    strbuf_release(&dst);
    return rc;
}

/*
 * One pass: compress what has been still for two seconds, then delete the
 * oldest rotations past `keep`. Returns true when a file was left for
 * later (too recently written).
 */
static bool compress_pass(const char *path, const struct log_rotation *rot)
{
    char *dcopy = xstrdup(path), *bcopy = xstrdup(path);
    const char *dir = dirname(dcopy), *base = basename(bcopy);
    struct strbuf full = STRBUF_INIT;
    struct rotated *v;
    size_t n = list_rotated(dir, base, &v);
    bool later = false;
    int64_t now = wall_ms();

    for (size_t i = 0; rot->compress && i < n; i++) {
        struct stat sb;
        if (v[i].gz)
            continue;
        strbuf_reset(&full);
        strbuf_addf(&full, "%s/%s", dir, v[i].name);
        if (stat(full.buf, &sb))
            continue;
        if ((int64_t)sb.st_mtim.tv_sec * 1000 + sb.st_mtim.tv_nsec / 1000000 > now - 2000) {
            later = true;
            continue;
        }
        int64_t freed = 0;
        if (!gzip_file(full.buf, &freed)) {
            pthread_mutex_lock(&comp_lock);
            comp_bytes_freed += freed;
            pthread_mutex_unlock(&comp_lock);
        }
    }
    free_rotated(v, n);
    n = list_rotated(dir, base, &v);
    for (size_t i = 0; n > (size_t)rot->keep && i < n - (size_t)rot->keep; i++) {
        struct stat sb;
        strbuf_reset(&full);
        strbuf_addf(&full, "%s/%s", dir, v[i].name);
        if (!stat(full.buf, &sb) && !unlink(full.buf)) {
            pthread_mutex_lock(&comp_lock);
            comp_bytes_freed += (int64_t)sb.st_size;
            pthread_mutex_unlock(&comp_lock);
        }
    }
    free_rotated(v, n);
    strbuf_release(&full);
    free(dcopy);
    free(bcopy);
    return later;
}

static void *compressor(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&comp_lock);
    for (;;) {
        while (!comp_stop && comp_asked == comp_done)
            pthread_cond_wait(&comp_cond, &comp_lock);
        if (comp_stop && comp_asked == comp_done)
            break;
        unsigned asked = comp_asked;
        char *path = xstrdup(comp_path);
        struct log_rotation rot = comp_rot;
        pthread_mutex_unlock(&comp_lock);
        bool later = compress_pass(path, &rot);
        free(path);
        pthread_mutex_lock(&comp_lock);
        if (later && !comp_stop) {
            /* Come back when the file has been still long enough. */
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 500 * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&comp_cond, &comp_lock, &until);
            continue;
        }
        comp_done = asked;
        pthread_cond_broadcast(&comp_idle);
    }
    comp_done = comp_asked;
    pthread_cond_broadcast(&comp_idle);
    pthread_mutex_unlock(&comp_lock);
    return NULL;
}

/* Ask the compressor for a pass over the rotations of log_path. Under log_lock. */
static void kick_compressor_locked(void)
{
    pthread_mutex_lock(&comp_lock);
    free(comp_path);
    comp_path = xstrdup(log_path);
    comp_rot = log_rot;
    comp_asked++;
    if (!comp_started) {
        comp_stop = false;
        comp_started = !pthread_create(&comp_thread, NULL, compressor, NULL);
    }
    pthread_cond_signal(&comp_cond);
    pthread_mutex_unlock(&comp_lock);
    if (!comp_started) /* no thread to be had: do it here rather than never */
        compress_pass(log_path, &log_rot);
}

void log_rotation_wait(void)
{
    pthread_mutex_lock(&comp_lock);
    unsigned want = comp_asked;
    while (comp_started && (int)(comp_done - want) < 0)
        pthread_cond_wait(&comp_idle, &comp_lock);
    pthread_mutex_unlock(&comp_lock);
}

int64_t log_rotation_bytes_freed(void)
{
    pthread_mutex_lock(&comp_lock);
    int64_t n = comp_bytes_freed;
    pthread_mutex_unlock(&comp_lock);
    return n;
}

/* ---- rotation ---- */

/* Does FILE still name the file log_fd writes? */
static bool path_is_ours_locked(void)
{
    struct stat sb;
    return !stat(log_path, &sb) && sb.st_dev == log_dev && sb.st_ino == log_ino;
}

/*
 * Rename FILE to FILE.<time> and open a new FILE. Under log_lock. The name
 * of the rotation goes to `out_name` (may be NULL). 0, or CK_EIO when the
 * rename failed (logging goes on in the same file).
 */
static int rotate_locked(struct strbuf *out_name, struct strbuf *err)
{
    struct strbuf name = STRBUF_INIT, gz = STRBUF_INIT;
    int64_t ms = wall_ms();
    int rc = 0;

    if (!path_is_ours_locked()) {
        /* Another process rotated FILE already: write to the new one. */
        rc = open_locked(err);
        goto out;
    }
    for (;;) {
        struct civil_time ct;
        time_to_civil(ms / 1000, &ct);
        strbuf_reset(&name);
        strbuf_addf(&name, "%s.%04d%02d%02dT%02d%02d%02d.%03dZ", log_path, ct.year, ct.month,
                    ct.day, ct.hour, ct.min, ct.sec, (int)(ms % 1000));
        strbuf_reset(&gz);
        strbuf_addf(&gz, "%s.gz", name.buf);
        if (access(name.buf, F_OK) && access(gz.buf, F_OK))
            break;
        ms++; /* names stay in time order */
    }
    if (rename(log_path, name.buf)) {
        strbuf_addf(err, "log: cannot rename '%s': %s", log_path, strerror(errno));
        rc = CK_EIO;
        goto out;
    }
    rc = open_locked(err);
    if (out_name)
        strbuf_addbuf(out_name, &name);
    kick_compressor_locked();
out:
    strbuf_release(&name);
    strbuf_release(&gz);
    return rc;
}

int log_rotate(struct strbuf *out_name, struct strbuf *err)
{
    int rc = 0;
    pthread_mutex_lock(&log_lock);
    if (!log_path) {
        strbuf_addstr(err, "log: no log file is configured (logging to stderr)");
        rc = CK_ENOTFOUND;
    } else if (!path_is_ours_locked()) {
        rc = open_locked(err);
    } else if (log_size > 0) {
        rc = rotate_locked(out_name, err);
    } else {
        /* Nothing to rotate; still give the compressor a pass over what is left. */
        kick_compressor_locked();
    }
    pthread_mutex_unlock(&log_lock);
    return rc;
}

void log_shutdown(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    free(log_path);
    log_path = NULL;
    pthread_mutex_unlock(&log_lock);

    pthread_mutex_lock(&comp_lock);
    bool started = comp_started;
    comp_stop = true;
    pthread_cond_signal(&comp_cond);
    pthread_mutex_unlock(&comp_lock);
    if (started)
        pthread_join(comp_thread, NULL);
    pthread_mutex_lock(&comp_lock);
    comp_started = false;
    free(comp_path);
    comp_path = NULL;
    pthread_mutex_unlock(&comp_lock);
}

static void add_logfmt_value(struct strbuf *line, const char *s, size_t len)
{
    strbuf_addch(line, '"');
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '"' || c == '\\')
            strbuf_addch(line, '\\');
        if (c == '\n') {
            strbuf_addstr(line, "\\n");
            continue;
        }
        strbuf_addch(line, c);
    }
    strbuf_addch(line, '"');
}

/* Write all of `buf` to `fd`, going on after short writes and EINTR. */
static void write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

void log_write(enum log_level level, const char *fmt, ...)
{
    struct strbuf msg = STRBUF_INIT, line = STRBUF_INIT, err = STRBUF_INIT;
    char ts[TIME_BUFSZ];
    struct timespec now;
    va_list ap;

    va_start(ap, fmt);
    strbuf_vaddf(&msg, fmt, ap);
    va_end(ap);

    clock_gettime(CLOCK_REALTIME, &now);
    time_format_iso8601((int64_t)now.tv_sec, ts);
    /* Milliseconds make the order of lines within a second visible. */
    ts[19] = '\0';

    redact_message(&msg);
    pthread_mutex_lock(&log_lock);
    if (log_fmt == LOG_FORMAT_JSON) {
        strbuf_addf(&line, "{\"ts\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"", ts,
                    now.tv_nsec / 1000000, level_names[level]);
        strbuf_add_json_escaped(&line, msg.buf, msg.len);
        strbuf_addstr(&line, "\"}\n");
    } else {
        strbuf_addf(&line, "ts=%s.%03ldZ level=%s msg=", ts, now.tv_nsec / 1000000,
                    level_names[level]);
        add_logfmt_value(&line, msg.buf, msg.len);
        strbuf_addch(&line, '\n');
    }
    if (log_fd >= 0) {
        int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
        /* Another process (or logrotate) may have moved FILE: follow it, once a second. */
        if (ms - log_checked_ms >= 1000) {
            log_checked_ms = ms;
            if (!path_is_ours_locked())
                open_locked(&err);
        }
        write_all(log_fd, line.buf, line.len);
        log_size += (int64_t)line.len;
        if (log_rot.max_size > 0 && log_size >= log_rot.max_size && rotate_locked(NULL, &err))
            log_rot.max_size = 0; /* cannot rename here: stop trying rather than on every line */
    } else {
        write_all(STDERR_FILENO, line.buf, line.len);
    }
    pthread_mutex_unlock(&log_lock);
    strbuf_release(&msg);
    strbuf_release(&line);
    strbuf_release(&err);
}
