/* Runs in wardend's loop: spawn and run. The request goes to the container's wshd over
 * a fresh non-blocking connection; wshd's answer (or hook_timeout without one) finishes
 * the request later, so a slow or hung wshd blocks no other client. Once wshd accepted
 * the job, job.c follows its files. */
#include "job_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "fdpass.h"
#include "jsonh.h"
#include "proto.h"
#include "registry.h"
#include "req.h"
#include "snapshot.h"
#include "unixsock.h"
#include "wardend.h"
#include "wshd_proto.h"

static void spawn_cancel(struct req *r, void *data)
{
    struct job *j = data;

    (void)r;
    j->spawn_req = NULL; /* the job still runs; its output stays for link */
}

static void spawn_reply(struct loop *loop, int fd, int mask, void *data)
{
    struct job *j = data;
    struct req *r = j->spawn_req;
    struct w_error err;
    int fds[FDPASS_MAX], nfds = FDPASS_MAX;
    struct json_object *reply = wshd_recv(fd, fds, &nfds, &err);
    const char *e = reply ? jsonh_get_str(reply, "error", NULL) : err.msg;

    (void)mask;
    if (reply == NULL)
        nfds = 0;
    loop_del_fd(loop, fd, LOOP_READ);
    close(fd);
    j->wshd_fd = -1;
    loop_del_timer(loop, j->spawn_timer);
    j->spawn_timer = 0;
    if (e != NULL || !jsonh_get_bool(reply, "ok", 0)) {
        struct w_error why; /* e may point into err.msg: never format a buffer into itself */

        for (int i = 0; i < nfds; i++)
            close(fds[i]);
        w_err(&why, "could not spawn job: %s", e ? e : "wshd said no");
        json_object_put(reply);
        if (r) {
            req_set_cancel(r, NULL, NULL);
            req_fail(r, &why);
        }
        job_remove(j);
        return;
    }
    json_object_put(reply);
    j->spawned = 1;
    if (j->base64 || j->discard)
        snapshot_save(j->ct);
    job_watch(j);
    /* It may have ended before the watch existed: read the status (run's link does). */
    if (!j->link_after_spawn || r == NULL)
        job_read_status(j);
    j->spawn_req = NULL;
    if (r != NULL) {
        req_set_cancel(r, NULL, NULL);
        if (j->link_after_spawn) {
            if (job_add_waiter(j, r, 0, -1, 0, &err) < 0)
                req_fail(r, &err);
        } else if (nfds > 0) {
            /* pass_fds: the job's stdin pipe or pty master rides with the reply */
            if (req_reply_fds(r, json_object_new_int64(j->id), fds, nfds) < 0) {
                w_err(&err, "job %lld started, but its descriptors could not be passed", j->id);
                req_fail(r, &err);
            }
        } else
            req_reply(r, json_object_new_int64(j->id));
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]); /* the client has its copies; without one, its stdin is at EOF */
}

/* wshd did not answer the spawn: give up on it (the job may still have started; its
 * files stay, but no id was handed out for it). */
static void spawn_timeout(struct loop *loop, long long id, void *data)
{
    struct job *j = data;
    struct req *r = j->spawn_req;
    struct w_error err;

    (void)loop, (void)id;
    j->spawn_timer = 0;
    if (r) {
        req_set_cancel(r, NULL, NULL);
        w_err(&err, "could not spawn job: wshd did not answer within %g s",
              g_cfg->server.hook_timeout);
        req_fail(r, &err);
    }
    job_remove(j);
}

static struct json_object *merged_rlimits(struct json_object *opt)
{
    struct json_object *out = json_object_new_object();

    json_object_object_foreach(g_cfg->server.container_rlimits, k, v)
        json_object_object_add(out, k, json_object_get(v));
    if (opt) {
        json_object_object_foreach(opt, k2, v2)
            json_object_object_add(out, k2, json_object_get(v2));
    }
    return out;
}

/* SCRIPT and OPTS of spawn and run, field by field (the dispatcher checks the state
 * after this). */
int job_check_spawn(struct req *r, struct w_error *err)
{
    struct json_object *script = req_arg(r, 2);
    struct json_object *opts = req_nargs(r) > 3 ? req_arg(r, 3) : NULL;
    struct w_error rl;

    if (!json_object_is_type(script, json_type_string))
        return w_err(err, "Script must be a string");
    if (opts == NULL)
        return 0;
    if (!json_object_is_type(opts, json_type_object))
        return w_err(err, "Options must be a hash");
    json_object_object_foreach(opts, k, val)
    {
        if (strcmp(k, "privileged") == 0 || strcmp(k, "discard_output") == 0 ||
            strcmp(k, "stdin") == 0 || strcmp(k, "pass_fds") == 0) {
            if (!json_object_is_type(val, json_type_boolean))
                return w_err(err, "Expected `%s` to hold a boolean.", k);
        } else if (strcmp(k, "env") == 0) {
            if (!json_object_is_type(val, json_type_object))
                return w_err(err, "Expected `env` to hold an object of strings.");
            json_object_object_foreach(val, ek, ev)
            {
                if (!json_object_is_type(ev, json_type_string) || *ek == '\0' || strchr(ek, '='))
                    return w_err(err, "Expected `env` to hold an object of strings.");
            }
        } else if (strcmp(k, "rlimits") == 0) {
            if (config_check_rlimits(val, "rlimits", &rl) < 0)
                return w_err(err, "Invalid `rlimits`: %s", rl.msg);
        } else if (strcmp(k, "output") == 0) {
            if (!json_object_is_type(val, json_type_string) ||
                (strcmp(json_object_get_string(val), "base64") != 0 &&
                 strcmp(json_object_get_string(val), "text") != 0))
                return w_err(err, "Expected `output` to be \"base64\" or \"text\".");
        } else if (strcmp(k, "tty") == 0) {
            struct json_object *rows = jsonh_get(val, "rows"), *cols = jsonh_get(val, "cols");
            if (!json_object_is_type(val, json_type_object) ||
                json_object_object_length(val) != 2 || !json_object_is_type(rows, json_type_int) ||
                !json_object_is_type(cols, json_type_int) || json_object_get_int64(rows) < 1 ||
                json_object_get_int64(rows) > 65535 || json_object_get_int64(cols) < 1 ||
                json_object_get_int64(cols) > 65535)
                return w_err(err, "Expected `tty` to hold {\"rows\":N,\"cols\":N} (1 to 65535).");
        } else if (strcmp(k, "log_tag") == 0) {
            const char *t =
                json_object_is_type(val, json_type_string) ? json_object_get_string(val) : "";
            size_t n = strlen(t);
            if (n == 0 || n > 64 ||
                strspn(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
                return w_err(err, "Expected `log_tag` to hold 1 to 64 letters, digits, '.', '_' "
                                  "or '-'.");
        } else {
            return w_err(err, "Unknown spawn option `%s`.", k);
        }
    }
    if (jsonh_get_bool(opts, "pass_fds", 0)) {
        if (strcmp(json_object_get_string(req_arg(r, 0)), "spawn") != 0)
            return w_err(err, "`pass_fds` is for spawn (run replies only once the job ended).");
        if (!jsonh_get_bool(opts, "stdin", 0) && jsonh_get(opts, "tty") == NULL)
            return w_err(err, "`pass_fds` needs `stdin` or `tty`: nothing to pass otherwise.");
    }
    return 0;
}

/* wshd's spawn request for job j of request r (doc/wshd-protocol.md). */
static struct json_object *spawn_msg(struct req *r, const struct job *j, struct json_object *opts)
{
    struct json_object *msg = json_object_new_object(), *env = jsonh_get(opts, "env");
    int root = jsonh_get_bool(opts, "privileged", 0);

    json_object_object_add(msg, "op", json_object_new_string("spawn"));
    json_object_object_add(msg, "job", json_object_new_int64(j->id));
    json_object_object_add(msg, "script", json_object_get(req_arg(r, 2)));
    json_object_object_add(msg, "user", json_object_new_string(root ? "root" : "vcap"));
    json_object_object_add(msg, "env", env ? json_object_get(env) : json_object_new_object());
    json_object_object_add(msg, "rlimits", merged_rlimits(jsonh_get(opts, "rlimits")));
    json_object_object_add(msg, "output_limit",
                           json_object_new_int64(g_cfg->server.job_output_limit));
    json_object_object_add(msg, "discard_output", json_object_new_boolean(j->discard));
    if (jsonh_get(opts, "log_tag") != NULL)
        json_object_object_add(msg, "log_tag", json_object_get(jsonh_get(opts, "log_tag")));
    if (jsonh_get_bool(opts, "stdin", 0))
        json_object_object_add(msg, "stdin", json_object_new_boolean(1));
    if (jsonh_get(opts, "tty") != NULL) {
        struct json_object *tty = jsonh_get(opts, "tty");
        json_object_object_add(msg, "pty", json_object_new_boolean(1));
        json_object_object_add(msg, "rows", json_object_get(jsonh_get(tty, "rows")));
        json_object_object_add(msg, "cols", json_object_get(jsonh_get(tty, "cols")));
    }
    if (jsonh_get_bool(opts, "pass_fds", 0))
        json_object_object_add(msg, "pass_fds", json_object_new_boolean(1));
    return msg;
}

/* log_tag: a datagram socket connected to server.syslog_socket, for wshd to keep. wshd
 * sends the job's lines on it itself, so they go on when wardend restarts; a syslog
 * daemon that replaces its socket (not journald's, which systemd holds) ends them.
 * -2 when the job has no log_tag. */
static int syslog_connect(struct json_object *opts, struct w_error *err)
{
    int fd;

    if (jsonh_get(opts, "log_tag") == NULL)
        return -2;
    fd = unixsock_connect(g_cfg->server.syslog_socket, SOCK_DGRAM, err);
    if (fd < 0)
        return w_err_prefix(err, "log_tag: the syslog socket");
    return fd;
}

static int spawn(struct req *r, struct container *ct, int link, struct w_error *err)
{
    struct json_object *opts = req_nargs(r) > 3 ? req_arg(r, 3) : NULL, *msg;
    char sock[PATH_MAX + 32];
    struct job *j = calloc(1, sizeof(*j));
    int fd, rc, logfd;

    if (j == NULL)
        return w_err(err, "out of memory");
    j->wd = j->wshd_fd = -1;
    j->exit_status = -1;
    j->ct = ct;
    j->base64 = strcmp(jsonh_get_str(opts, "output", ""), "base64") == 0;
    j->discard = jsonh_get_bool(opts, "discard_output", 0);
    j->link_after_spawn = link;
    j->id = job_next_id(err);
    if (j->id < 0) {
        free(j);
        return -1;
    }
    snprintf(sock, sizeof(sock), "%s/run/wshd.sock", ct->path);
    if ((fd = wshd_connect(sock, 1, err)) < 0) {
        free(j);
        return w_err_prefix(err, "could not spawn job");
    }
    msg = spawn_msg(r, j, opts);
    logfd = syslog_connect(opts, err);
    rc = logfd == -1 || wshd_send(fd, msg, &logfd, logfd >= 0, err) < 0 ||
         loop_add_fd(g_loop, fd, LOOP_READ, spawn_reply, j, err) < 0;
    json_object_put(msg);
    if (logfd >= 0)
        close(logfd); /* wshd has its own */
    if (rc) {
        close(fd);
        free(j);
        return w_err_prefix(err, "could not spawn job");
    }
    j->wshd_fd = fd;
    j->spawn_req = r;
    j->spawn_timer =
        loop_add_timer(g_loop, (long long)(g_cfg->server.hook_timeout * 1000), spawn_timeout, j);
    req_set_cancel(r, spawn_cancel, j);
    j->next = ct->jobs;
    ct->jobs = j;
    return 0;
}

int cmd_spawn(struct req *r, struct container *ct, struct w_error *err)
{
    return spawn(r, ct, 0, err);
}

int cmd_run(struct req *r, struct container *ct, struct w_error *err)
{
    return spawn(r, ct, 1, err);
}
