/* copy in / copy out (PROTOCOL.md, DESIGN.md "Files"). wardend's loop checks the
 * request, then forks a worker so a big copy blocks no client. The worker asks the
 * container's wshd for the container half ({"op":"copy"}: a child inside the container,
 * as its user) and passes it the data pipe and a status pipe; it runs the host half
 * itself: copy in packs the host SRC into the pipe, copy out unpacks the pipe into the
 * host DST (setuid bits dropped, OWNER applied to what it writes). Container paths are
 * only ever resolved inside the container, host paths never through a link inside the
 * tree (copytree.h). The worker ends by writing one line on its result pipe ("ok" or the
 * error), which the loop turns into the reply; wardend's SIGCHLD reaper collects it.
 * A worker still running after server.copy_timeout is killed (through a pidfd, so a
 * reaped and reused pid is never hit) and the request fails: its pipes close, so the
 * container half ends too. */
#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "copytree.h"
#include "jsonh.h"
#include "log.h"
#include "registry.h"
#include "req.h"
#include "util.h"
#include "wardend.h"
#include "wshd_proto.h"

#define RESULT_MAX 1400

struct copy_job {
    struct req *req; /* NULL once its connection went away: the copy still completes */
    int fd;          /* the worker's result pipe */
    char result[RESULT_MAX];
    size_t len;
    char what[16];   /* "copy in" / "copy out" */
    int pidfd;       /* the worker's; -1 without pidfds (no timeout then) */
    long long timer; /* server.copy_timeout; 0 none */
};

struct copy_args {
    int in;
    char sock[PATH_MAX];
    const char *src, *dst;
    uid_t uid;
    gid_t gid;
};

/* ---- the worker (a fork of wardend; exits, never returns) ---- */

static void worker_init(int result_fd)
{
    sigset_t none;

    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* wardend blocks its signalfd's signals */
    if (dup2(result_fd, 3) < 0)
        _exit(111);
    (void)syscall(SYS_close_range, 4U, ~0U, 0U); /* clients, listener, job watches */
}

/* The container half: request, data and status pipes. Returns the wshd connection, or
 * -1. *data is the worker's end of the data pipe, *status the read end of the status. */
static int start_container_half(const struct copy_args *a, int *data, int *status,
                                struct w_error *err)
{
    int dp[2], sp[2], pass[2], sock;
    struct json_object *req, *reply;
    const char *e;

    if (pipe2(dp, O_CLOEXEC) < 0 || pipe2(sp, O_CLOEXEC) < 0)
        return w_errno(err, errno, "pipe");
    (void)fcntl(dp[1], F_SETPIPE_SZ, 1 << 20); /* fewer wake-ups; the default 64 KiB is ok */
    if ((sock = wshd_connect(a->sock, 0, err)) < 0)
        return w_err_prefix(err, "cannot reach the container's wshd");
    req = json_object_new_object();
    json_object_object_add(req, "op", json_object_new_string("copy"));
    json_object_object_add(req, "direction", json_object_new_string(a->in ? "in" : "out"));
    json_object_object_add(req, "path", json_object_new_string(a->in ? a->dst : a->src));
    json_object_object_add(req, "user", json_object_new_string("vcap"));
    pass[0] = a->in ? dp[0] : dp[1];
    pass[1] = sp[1];
    if (wshd_send(sock, req, pass, 2, err) < 0) {
        json_object_put(req);
        return w_err_prefix(err, "cannot reach the container's wshd");
    }
    json_object_put(req);
    close(pass[0]); /* only the container's child may hold them now, so EOF means it ended */
    close(pass[1]);
    *data = a->in ? dp[1] : dp[0];
    *status = sp[0];
    if ((reply = wshd_recv(sock, NULL, NULL, err)) == NULL)
        return w_err_prefix(err, "the container's wshd did not answer");
    e = jsonh_get_str(reply, "error", NULL);
    if (e != NULL || !jsonh_get_bool(reply, "ok", 0)) {
        w_err(err, "container: %s", e ? e : "wshd said no");
        json_object_put(reply);
        return -1;
    }
    json_object_put(reply);
    return sock;
}

/* Which error explains a failure: a half that failed only because the other went away
 * (EPIPE) gives way to the other's; a container half that left no status was killed. */
static void worker_result(int rc, struct w_error *host, int st, const char *ct_msg, char *out,
                          size_t size)
{
    if (rc == 0 && st == COPY_ST_OK)
        snprintf(out, size, "ok");
    else if (rc < 0 && (host->errnum != EPIPE || st == COPY_ST_EPIPE || st == COPY_ST_OK))
        snprintf(out, size, "%s", host->msg);
    else if (st == COPY_ST_ERROR || st == COPY_ST_EPIPE)
        snprintf(out, size, "container: %s", ct_msg);
    else
        snprintf(out, size,
                 "container: the copy process ended without a result (killed by "
                 "stop, destroy or the OOM killer?); DST may hold part of the copy");
}

static void __attribute__((noreturn)) worker(const struct copy_args *a, int result_fd)
{
    struct copy_unpack_opts uo = {.strip_suid = 1, .uid = a->uid, .gid = a->gid};
    char ct_msg[1200], out[RESULT_MAX];
    struct w_error err = {0};
    int data = -1, status = -1, sock, rc, st = COPY_ST_NONE;

    worker_init(result_fd);
    sock = start_container_half(a, &data, &status, &err);
    if (sock < 0) {
        rc = -1;
        err.errnum = 0;
    } else {
        rc = a->in ? copy_pack(data, a->src, &err) : copy_unpack(data, a->dst, &uo, &err);
        close(data); /* the container half sees EOF or EPIPE, and ends */
        st = copy_status_read(status, ct_msg, sizeof(ct_msg));
    }
    worker_result(rc, &err, st, ct_msg, out, sizeof(out));
    (void)copy_write_full(3, out, strlen(out), NULL);
    _exit(0);
}

/* ---- wardend's side ---- */

static int nrunning; /* copy jobs, from start to job_free */

int copy_running(void)
{
    return nrunning;
}

static void job_free(struct copy_job *j)
{
    nrunning--;
    loop_del_fd(g_loop, j->fd, LOOP_READ);
    close(j->fd);
    if (j->timer > 0)
        loop_del_timer(g_loop, j->timer);
    if (j->pidfd >= 0)
        close(j->pidfd);
    free(j);
}

static void on_timeout(struct loop *loop, long long id, void *data)
{
    struct copy_job *j = data;

    (void)loop, (void)id;
    j->timer = 0;
    (void)syscall(SYS_pidfd_send_signal, j->pidfd, SIGKILL, NULL, 0U);
    if (j->req) {
        req_set_cancel(j->req, NULL, NULL);
        req_error(j->req,
                  "%s: timed out after %g s (server.copy_timeout); DST may hold part of "
                  "the copy",
                  j->what, g_cfg->server.copy_timeout);
    }
    log_msg(LOG_WARNING, "%s: timed out after %g s; worker killed", j->what,
            g_cfg->server.copy_timeout);
    job_free(j);
}

static void on_cancel(struct req *r, void *data)
{
    struct copy_job *j = data;

    (void)r;
    j->req = NULL;
}

static void on_result(struct loop *loop, int fd, int mask, void *data)
{
    struct copy_job *j = data;
    ssize_t n;

    (void)loop, (void)mask;
    n = read(fd, j->result + j->len, sizeof(j->result) - 1 - j->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0) {
        j->len += (size_t)n;
        if (j->len < sizeof(j->result) - 1)
            return;
    }
    j->result[j->len] = '\0';
    if (j->req) {
        req_set_cancel(j->req, NULL, NULL);
        if (strcmp(j->result, "ok") == 0)
            req_reply(j->req, json_object_new_string("ok"));
        else if (j->len == 0)
            req_error(j->req, "%s: the copy worker died", j->what);
        else
            req_error(j->req, "%s: %s", j->what, j->result);
    }
    if (strcmp(j->result, "ok") != 0)
        log_msg(LOG_INFO, "%s: %s", j->what, j->len ? j->result : "the copy worker died");
    job_free(j);
}

/* OWNER as "user", "user:group", numeric ids allowed; the group defaults to the user's. */
static int parse_owner(const char *owner, uid_t *uid, gid_t *gid, struct w_error *err)
{
    char user[256], *colon, *end;
    struct passwd *pw;
    struct group *gr;
    unsigned long v;

    if (strlcpy(user, owner, sizeof(user)) >= sizeof(user) || user[0] == '\0')
        return w_err(err, "Invalid owner \"%.64s\", expected user:group", owner);
    colon = strchr(user, ':');
    if (colon)
        *colon++ = '\0';
    if ((pw = getpwnam(user)) != NULL) {
        *uid = pw->pw_uid, *gid = pw->pw_gid;
    } else if (errno = 0, v = strtoul(user, &end, 10),
               user[0] && *end == '\0' && !errno && v < (unsigned long)(uid_t)-1) {
        *uid = (uid_t)v, *gid = (gid_t)v;
    } else {
        return w_err(err, "Unknown user \"%.64s\" in owner", user);
    }
    if (colon == NULL)
        return 0;
    if ((gr = getgrnam(colon)) != NULL) {
        *gid = gr->gr_gid;
    } else if (errno = 0, v = strtoul(colon, &end, 10),
               colon[0] && *end == '\0' && !errno && v < (unsigned long)(gid_t)-1) {
        *gid = (gid_t)v;
    } else {
        return w_err(err, "Unknown group \"%.64s\" in owner", colon);
    }
    return 0;
}

/* A path argument: a string without NUL, shorter than PATH_MAX; a host path absolute. */
static const char *path_arg(struct req *r, size_t i, const char *name, int host,
                            struct w_error *err)
{
    struct json_object *v = req_arg(r, i);
    const char *s;

    if (!json_object_is_type(v, json_type_string)) {
        w_err(err, "Expected %s to be a path", name);
        return NULL;
    }
    s = json_object_get_string(v);
    if (s[0] == '\0' || strlen(s) != (size_t)json_object_get_string_len(v) ||
        strlen(s) >= PATH_MAX) {
        w_err(err, "Expected %s to be a path", name);
        return NULL;
    }
    if (host && s[0] != '/') {
        w_err(err, "%s must be an absolute path on the host: %.256s", name, s);
        return NULL;
    }
    return s;
}

/* The request's arguments as copy_args (borrowed strings); -1 with err for a bad one. */
static int parse_args(struct req *r, struct copy_args *a, struct w_error *err)
{
    struct json_object *dir = req_arg(r, 2);

    a->uid = (uid_t)-1, a->gid = (gid_t)-1;
    if (!json_object_is_type(dir, json_type_string) ||
        (strcmp(json_object_get_string(dir), "in") != 0 &&
         strcmp(json_object_get_string(dir), "out") != 0))
        return w_err(err, "Invalid direction, must be 'in' or 'out'.");
    a->in = strcmp(json_object_get_string(dir), "in") == 0;
    if (a->in && req_nargs(r) > 5)
        return w_err(err, "You can only supply a target owner when copying out");
    if ((a->src = path_arg(r, 3, "SRC", a->in, err)) == NULL ||
        (a->dst = path_arg(r, 4, "DST", !a->in, err)) == NULL)
        return -1;
    if (req_nargs(r) > 5) {
        struct json_object *o = req_arg(r, 5);
        if (!json_object_is_type(o, json_type_string))
            return w_err(err, "Expected OWNER to be a string user:group");
        return parse_owner(json_object_get_string(o), &a->uid, &a->gid, err);
    }
    return 0;
}

static int start(struct req *r, struct container *ct, struct copy_args *a, struct w_error *err)
{
    struct copy_job *j;
    int rp[2];
    pid_t pid;

    snprintf(a->sock, sizeof(a->sock), "%.*s/run/wshd.sock", PATH_MAX - 16, ct->path);
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return w_err(err, "out of memory");
    strlcpy(j->what, a->in ? "copy in" : "copy out", sizeof(j->what));
    if (pipe2(rp, O_CLOEXEC) < 0) {
        free(j);
        return w_errno(err, errno, "%s: pipe2 for the worker's result",
                       a->in ? "copy in" : "copy out");
    }
    pid = fork();
    if (pid == 0)
        worker(a, rp[1]);
    close(rp[1]);
    j->fd = rp[0];
    /* Not reaped before the loop runs again, so the pid is still this worker's. */
    j->pidfd = pid > 0 ? util_pidfd_open(pid, NULL) : -1;
    if (pid < 0 || loop_add_fd(g_loop, j->fd, LOOP_READ, on_result, j, err) < 0) {
        if (pid < 0)
            w_errno(err, errno, "%s: fork of the worker", j->what);
        else
            w_err_prefix(err, "%s", j->what);
        if (pid > 0)
            kill(pid, SIGKILL);
        close(j->fd);
        if (j->pidfd >= 0)
            close(j->pidfd);
        free(j);
        return -1;
    }
    if (j->pidfd >= 0 && g_cfg->server.copy_timeout >= 0)
        j->timer =
            loop_add_timer(g_loop, (long long)(g_cfg->server.copy_timeout * 1000), on_timeout, j);
    j->req = r;
    req_set_cancel(r, on_cancel, j);
    nrunning++;
    return 0;
}

int copy_check(struct req *r, struct w_error *err)
{
    struct copy_args a;

    return parse_args(r, &a, err);
}

int cmd_copy(struct req *r, struct container *ct, struct w_error *err)
{
    struct copy_args a;

    if (parse_args(r, &a, err) < 0) /* checked already: cannot fail, but stays safe */
        return -1;
    /* The states column allows stopped for copy out; copy in needs the container running. */
    if (a.in && ct->state != CT_ACTIVE)
        return w_err(err, "Container state must be one of 'active', current state is '%s'",
                     ct_state_name(ct->state));
    return start(r, ct, &a, err);
}
