/* Runs in wardend's loop: the requests on a running job that Garden's process API has,
 * signal, stdin and resize. wshd owns the job's process, its stdin pipe and its pty
 * (doc/wshd-protocol.md), so they outlive a restart of wardend; each request here is
 * one message to the container's wshd on a fresh non-blocking connection, and wshd's
 * answer completes it. */
#include "job_int.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cfg.h"
#include "jsonh.h"
#include "proto.h"
#include "registry.h"
#include "req.h"
#include "util.h"
#include "wardend.h"
#include "wshd_proto.h"

#define STDIN_DATA_MAX (1 << 20) /* bytes of one stdin request */

static const struct {
    const char *name;
    int sig;
} signals[] = {
    {"HUP", SIGHUP},       {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"ILL", SIGILL},
    {"TRAP", SIGTRAP},     {"ABRT", SIGABRT}, {"BUS", SIGBUS},     {"FPE", SIGFPE},
    {"KILL", SIGKILL},     {"USR1", SIGUSR1}, {"SEGV", SIGSEGV},   {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE},     {"ALRM", SIGALRM}, {"TERM", SIGTERM},   {"CHLD", SIGCHLD},
    {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},   {"TTIN", SIGTTIN},
    {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},   {"XFSZ", SIGXFSZ},
    {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
    {"PWR", SIGPWR},       {"SYS", SIGSYS},
};

/* "TERM", "SIGTERM", "term" or a number 1..64; 0 when it is none of them. */
static int signal_of(struct json_object *v)
{
    const char *s;

    if (json_object_is_type(v, json_type_int))
        return json_object_get_int64(v) >= 1 && json_object_get_int64(v) <= 64
                   ? (int)json_object_get_int64(v)
                   : 0;
    if (!json_object_is_type(v, json_type_string))
        return 0;
    s = json_object_get_string(v);
    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
        if (strcasecmp(s, signals[i].name) == 0)
            return signals[i].sig;
    return 0;
}

int job_check_signal(struct req *r, struct w_error *err)
{
    if (signal_of(req_arg(r, 3)) == 0) {
        const char *s = json_object_get_string(req_arg(r, 3));
        return w_err(err,
                     "Unknown signal `%.64s` (a name such as TERM, KILL, HUP, INT, "
                     "QUIT, USR1, USR2, WINCH, with or without SIG, or a number 1 to 64).",
                     s ? s : "null");
    }
    return 0;
}

int job_check_stdin(struct req *r, struct w_error *err)
{
    struct json_object *data = req_arg(r, 3);
    struct json_object *opts = req_nargs(r) > 4 ? req_arg(r, 4) : NULL;
    size_t len;

    if (!json_object_is_type(data, json_type_string))
        return w_err(err, "Data must be a string");
    if (opts && !json_object_is_type(opts, json_type_object))
        return w_err(err, "Options must be a hash");
    if (opts) {
        json_object_object_foreach(opts, k, v)
        {
            if (strcmp(k, "base64") != 0 && strcmp(k, "eof") != 0)
                return w_err(err, "Unknown stdin option `%s`.", k);
            if (!json_object_is_type(v, json_type_boolean))
                return w_err(err, "Expected `%s` to hold a boolean.", k);
        }
    }
    len = (size_t)json_object_get_string_len(data);
    if (jsonh_get_bool(opts, "base64", 0)) {
        char *tmp = malloc(len / 4 * 3 + 3);
        ssize_t n = tmp ? util_base64_decode(json_object_get_string(data), len, tmp) : -1;
        free(tmp);
        if (n < 0)
            return w_err(err, "Data is not base64 (RFC 4648, padded, no whitespace).");
        len = (size_t)n;
    }
    if (len > STDIN_DATA_MAX)
        return w_err(err, "Data must be at most %d bytes.", STDIN_DATA_MAX);
    return 0;
}

int job_check_resize(struct req *r, struct w_error *err)
{
    for (size_t i = 3; i < 5; i++) {
        struct json_object *v = req_arg(r, i);
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
            json_object_get_int64(v) > 65535)
            return w_err(err, "Expected %s to be an integer from 1 to 65535.",
                         i == 3 ? "rows" : "cols");
    }
    return 0;
}

/* ---- one message to wshd, its answer the request's reply ---- */

struct call {
    struct req *req; /* NULL once the client went away */
    long long job;
    int fd;
    long long timer;
};

static void call_free(struct call *c)
{
    if (c->fd >= 0) {
        loop_del_fd(g_loop, c->fd, LOOP_READ);
        close(c->fd);
    }
    if (c->timer)
        loop_del_timer(g_loop, c->timer);
    free(c);
}

static void call_cancel(struct req *r, void *data)
{
    struct call *c = data;

    (void)r;
    call_free(c); /* wshd goes on: a write in progress still reaches the job */
}

static void call_reply(struct loop *loop, int fd, int mask, void *data)
{
    struct call *c = data;
    struct w_error err;
    struct json_object *reply = wshd_recv(fd, NULL, NULL, &err);
    const char *e = reply ? jsonh_get_str(reply, "error", NULL) : err.msg;

    (void)loop, (void)mask;
    if (reply == NULL && err.errnum == EAGAIN)
        return;
    req_set_cancel(c->req, NULL, NULL);
    if (e != NULL || !jsonh_get_bool(reply, "ok", 0)) {
        struct w_error why;
        w_err(&why, "%s", e ? e : "wshd said no");
        req_fail(c->req, &why);
    } else {
        req_reply(c->req, json_object_new_object());
    }
    json_object_put(reply);
    call_free(c);
}

static void call_timeout(struct loop *loop, long long id, void *data)
{
    struct call *c = data;
    struct w_error err;

    (void)loop, (void)id;
    c->timer = 0;
    req_set_cancel(c->req, NULL, NULL);
    w_err(&err, "job %lld: wshd did not answer within %g s", c->job, g_cfg->server.hook_timeout);
    req_fail(c->req, &err);
    call_free(c);
}

/* Send msg (consumed) about job j to its wshd; the reply completes r. timeout: give up
 * after hook_timeout (signal, resize); stdin waits as long as the job takes to read. */
static int call_wshd(struct req *r, struct job *j, struct json_object *msg, int timeout,
                     struct w_error *err)
{
    char sock[PATH_MAX + 32];
    struct call *c = calloc(1, sizeof(*c));
    int rc;

    if (c == NULL) {
        json_object_put(msg);
        return w_err(err, "out of memory");
    }
    c->req = r;
    c->job = j->id;
    json_object_object_add(msg, "job", json_object_new_int64(j->id));
    snprintf(sock, sizeof(sock), "%s/run/wshd.sock", j->ct->path);
    c->fd = wshd_connect(sock, 1, err);
    rc = c->fd < 0 || wshd_send(c->fd, msg, NULL, 0, err) < 0 ||
         loop_add_fd(g_loop, c->fd, LOOP_READ, call_reply, c, err) < 0;
    json_object_put(msg);
    if (rc) {
        if (c->fd >= 0)
            close(c->fd);
        free(c);
        return w_err_prefix(err, "job %lld", j->id);
    }
    if (timeout)
        c->timer =
            loop_add_timer(g_loop, (long long)(g_cfg->server.hook_timeout * 1000), call_timeout, c);
    else
        req_set_parked(r, 1); /* it waits on the job reading: a drain may close it */
    req_set_cancel(r, call_cancel, c);
    return 0;
}

/* The job of argument 2, running. */
static struct job *running_job(struct req *r, struct container *ct, struct w_error *err)
{
    struct job *j = job_arg(r, ct, err);

    if (j == NULL)
        return NULL;
    if (job_read_status(j)) {
        w_err(err, "job %lld has already exited", j->id);
        return NULL;
    }
    return j;
}

int cmd_signal(struct req *r, struct container *ct, struct w_error *err)
{
    struct job *j = running_job(r, ct, err);
    struct json_object *msg;

    if (j == NULL)
        return -1;
    msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("job_signal"));
    json_object_object_add(msg, "signal", json_object_new_int(signal_of(req_arg(r, 3))));
    return call_wshd(r, j, msg, 1, err);
}

int cmd_resize(struct req *r, struct container *ct, struct w_error *err)
{
    struct job *j = running_job(r, ct, err);
    struct json_object *msg;

    if (j == NULL)
        return -1;
    msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("job_resize"));
    json_object_object_add(msg, "rows", json_object_get(req_arg(r, 3)));
    json_object_object_add(msg, "cols", json_object_get(req_arg(r, 4)));
    return call_wshd(r, j, msg, 1, err);
}

int cmd_stdin(struct req *r, struct container *ct, struct w_error *err)
{
    struct job *j = running_job(r, ct, err);
    struct json_object *opts = req_nargs(r) > 4 ? req_arg(r, 4) : NULL, *msg, *data = req_arg(r, 3);

    if (j == NULL)
        return -1;
    msg = json_object_new_object();
    json_object_object_add(msg, "op", json_object_new_string("job_stdin"));
    if (jsonh_get_bool(opts, "base64", 0)) {
        json_object_object_add(msg, "data", json_object_get(data));
    } else {
        char *b =
            util_base64(json_object_get_string(data), (size_t)json_object_get_string_len(data));
        if (b == NULL) {
            json_object_put(msg);
            return w_err(err, "out of memory");
        }
        json_object_object_add(msg, "data", json_object_new_string(b));
        free(b);
    }
    json_object_object_add(msg, "eof", json_object_new_boolean(jsonh_get_bool(opts, "eof", 0)));
    return call_wshd(r, j, msg, 0, err);
}
