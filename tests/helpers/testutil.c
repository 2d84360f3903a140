/* SPDX-License-Identifier: MIT */
/* Temporary directories and paths, and local fake servers, for unit tests. */
#include "testutil.h"

#include "net/http.h"
#include "store/store.h"
#include "util/strbuf.h"
#include "util/timeutil.h"
#include "util/xalloc.h"

#include <jansson.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[256];
static unsigned counter;

static void remove_tmpdir(void)
{
    char cmd[300];
    if (!tmpdir[0] || getenv("CK_KEEP_TMP"))
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "testutil: could not remove %s\n", tmpdir);
}

const char *test_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof(tmpdir), "%s/cktest.XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(remove_tmpdir);
    }
    return tmpdir;
}

char *test_tmpfile(const char *suffix)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s/f%u%s", test_tmpdir(), counter++, suffix ? suffix : "");
    return strbuf_detach(&sb, NULL);
}

const char *test_source_dir(void)
{
    const char *d = getenv("CK_SOURCE_DIR");
    return d && *d ? d : ".";
}

char *test_fixture_read(const char *subdir, const char *name, size_t *len)
{
    struct strbuf path = STRBUF_INIT, body = STRBUF_INIT;
    char buf[4096];
    size_t n;
    FILE *f;

    strbuf_addf(&path, "%s/tests/fixtures/%s/%s", test_source_dir(), subdir, name);
    f = fopen(path.buf, "rb");
    if (!f)
        fail_msg("cannot open fixture %s", path.buf);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&body, buf, n);
    fclose(f);
    strbuf_release(&path);
    return strbuf_detach(&body, len);
}

int64_t test_utc(int year, int month, int day, int hour, int min)
{
    struct civil_time c = {.year = year, .month = month, .day = day, .hour = hour, .min = min};
    return time_from_civil(&c);
}

char *test_store_url(void)
{
    const char *u = getenv("CK_TEST_STORE_URL");
    struct strbuf sb = STRBUF_INIT;
    char *f;
    if (u && *u)
        return xstrdup(u);
    f = test_tmpfile(".db");
    strbuf_addf(&sb, "sqlite:%s", f);
    free(f);
    return strbuf_detach(&sb, NULL);
}

int test_fake_start(struct test_fake *f, const char *script, const char *const *args)
{
    char *portfile = test_tmpfile(".port");
    struct strbuf path = STRBUF_INIT;
    const char *argv[32];
    size_t argc = 0;
    long port = 0;
    pid_t pid;

    f->pid = -1;
    f->url[0] = '\0';
    strbuf_addf(&path, "%s/tests/helpers/%s", test_source_dir(), script);
    argv[argc++] = "python3";
    argv[argc++] = path.buf;
    argv[argc++] = "--port-file";
    argv[argc++] = portfile;
    for (size_t i = 0; args && args[i]; i++) {
        if (argc + 2 > sizeof(argv) / sizeof(argv[0])) {
            fprintf(stderr, "testutil: too many arguments for %s\n", script);
            abort();
        }
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    pid = fork();
    if (pid < 0) {
        perror("fork");
        goto fail;
    }
    if (pid == 0) {
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    f->pid = (int)pid;
    /* Up to 15 s: a loaded machine (a sanitizer build running in parallel) is slow to start python.
     */
    for (int i = 0; i < 1500 && !port; i++) {
        FILE *fp = fopen(portfile, "r");
        int status;
        if (fp) {
            if (fscanf(fp, "%ld", &port) != 1)
                port = 0;
            fclose(fp);
        }
        if (port)
            break;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "testutil: %s exited early (status %d)\n", script, status);
            f->pid = -1;
            goto fail;
        }
        usleep(10000);
    }
    if (!port) {
        fprintf(stderr, "testutil: %s did not write its port\n", script);
        test_fake_stop(f);
        goto fail;
    }
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%ld", port);
    strbuf_release(&path);
    free(portfile);
    return 0;
fail:
    strbuf_release(&path);
    free(portfile);
    return -1;
}

void test_fake_stop(struct test_fake *f)
{
    if (f->pid > 0) {
        kill((pid_t)f->pid, SIGTERM);
        waitpid((pid_t)f->pid, NULL, 0);
    }
    f->pid = -1;
}

void test_fake_post(const struct test_fake *f, const char *path, json_t *body)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    const struct http_header h[] = {{"Content-Type", "application/json"}};
    char *text = body ? json_dumps(body, JSON_COMPACT) : xstrdup("{}");
    struct http_request req = {.method = "POST", .headers = h, .nheaders = 1, .body = text};
    struct http_client *hc = http_client_new();

    req.body_len = strlen(text);
    strbuf_addf(&url, "%s%s", f->url, path);
    req.url = url.buf;
    if (http_do(hc, &req, &resp, &err))
        fail_msg("POST %s: %s", path, err.buf);
    if (resp.status != 200)
        fail_msg("POST %s: HTTP %ld: %s", path, resp.status, resp.body.buf);
    json_decref(body);
    free(text);
    http_client_free(hc);
    strbuf_release(&url);
    strbuf_release(&err);
    http_response_release(&resp);
}

json_t *test_fake_get_json(const struct test_fake *f, const char *path)
{
    struct strbuf url = STRBUF_INIT, err = STRBUF_INIT;
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct http_request req = {0};
    struct http_client *hc = http_client_new();
    json_t *j;

    strbuf_addf(&url, "%s%s", f->url, path);
    req.url = url.buf;
    if (http_do(hc, &req, &resp, &err))
        fail_msg("GET %s: %s", path, err.buf);
    if (resp.status != 200)
        fail_msg("GET %s: HTTP %ld: %s", path, resp.status, resp.body.buf);
    j = json_loadb(resp.body.buf, resp.body.len, 0, NULL);
    if (!j)
        fail_msg("GET %s: the answer is not JSON", path);
    http_client_free(hc);
    strbuf_release(&url);
    strbuf_release(&err);
    http_response_release(&resp);
    return j;
}

int store_fixture_setup(void **state)
{
    static unsigned sources;
    struct store_fixture *f = xcalloc(1, sizeof(*f));

    strbuf_init(&f->err, 0);
    f->url = test_store_url();
    snprintf(f->source, sizeof(f->source), "t%ld_%u", (long)getpid(), sources++);
    if (store_open(&f->st, f->url, &f->err)) {
        fprintf(stderr, "cannot open store: %s\n", f->err.buf);
        free(f->url);
        strbuf_release(&f->err);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int store_fixture_teardown(void **state)
{
    struct store_fixture *f = *state;
    store_close(f->st);
    free(f->url);
    strbuf_release(&f->err);
    free(f);
    return 0;
}

char *store_fixture_name(const struct store_fixture *f, const char *what)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s_%s", f->source, what);
    return strbuf_detach(&sb, NULL);
}

struct job_run store_fixture_start_run(struct store_fixture *f, const char *job, int64_t scheduled,
                                       int64_t started)
{
    struct job_run r = {
        .job_id = (char *)job,
        .instance = (char *)"inst-A",
        .scheduled = scheduled,
        .started = started,
        .status = JOB_RUNNING,
        .message = (char *)"",
        .details = (char *)"{}",
    };
    CHECK_OK(store_job_run_insert(f->st, &r, &f->err), &f->err);
    assert_true(r.id > 0);
    return r;
}

struct job_state store_fixture_job(struct store_fixture *f, const char *job_id)
{
    struct job_state js;
    CHECK_OK(store_job_get(f->st, job_id, &js, &f->err), &f->err);
    return js;
}

size_t store_fixture_gaps(struct store_fixture *f, const struct series_key *k,
                          struct gap_record **out)
{
    struct gap_query q = {.source = k->source, .symbol = k->symbol, .has_tf = true, .tf = k->tf};
    size_t n = 0;
    CHECK_OK(store_list_gaps(f->st, &q, out, &n, &f->err), &f->err);
    return n;
}

#define PROMTOOL "/usr/bin/promtool"

int test_promtool_check(const char *text, struct strbuf *report)
{
    char *in = test_tmpfile(".prom"), *outp = test_tmpfile(".txt");
    struct strbuf cmd = STRBUF_INIT;
    char buf[512];
    FILE *fp;
    size_t n;
    int st;

    if (access(PROMTOOL, X_OK) != 0)
        fail_msg("%s not found: install the Debian package 'prometheus' ('make test' installs "
                 "it through 'make deps')",
                 PROMTOOL);
    fp = fopen(in, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    strbuf_addf(&cmd, "%s check metrics < '%s' > '%s' 2>&1", PROMTOOL, in, outp);
    st = system(cmd.buf);
    fp = fopen(outp, "r");
    assert_non_null(fp);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(report, buf, n);
    fclose(fp);
    strbuf_release(&cmd);
    free(in);
    free(outp);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}
