/* wshd as pid 1 of the container: one loop over the listening socket, the clients,
 * the job pipes (job.c) and a SIGCHLD signalfd. Every child is reaped here, including
 * orphans the kernel reparents to us. Nothing a client sends ends this loop: a bad
 * request gets {"error":...}, a broken connection is closed alone. */
#include "config.h"

#include "serve.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "copy.h"
#include "fdpass.h"
#include "job.h"
#include "jsonh.h"
#include "log.h"
#include "spawn.h"
#include "wshd_proto.h"

#define ARGV_MAX 4096

struct client;

/* A process started by "exec"; its client may go away before it ends. */
struct exec_proc {
    pid_t pid;
    int master; /* pty master (our copy, for winsize), or -1 */
    struct client *client;
};

struct client {
    int fd;
    struct exec_proc *exec;
    struct client *next;
};

struct watch {
    pid_t pid;
    serve_exit_cb *cb;
    void *data;
    struct watch *next;
};

static struct wshd_ctx *g_ctx;
static struct watch *g_watches;
static struct client *g_clients;

int serve_watch_pid(pid_t pid, serve_exit_cb *cb, void *data)
{
    struct watch *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return -1;
    w->pid = pid;
    w->cb = cb;
    w->data = data;
    w->next = g_watches;
    g_watches = w;
    return 0;
}

static void client_close(struct client *c)
{
    loop_del_fd(g_ctx->loop, c->fd, LOOP_READ);
    close(c->fd);
    if (c->exec)
        c->exec->client = NULL; /* the process keeps running */
    job_waiter_gone(c);
    for (struct client **p = &g_clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    free(c);
}

/* Send msg (consumed); a client that cannot take it (full buffer, gone) is closed.
 * Returns -1 if c was closed. */
static int client_send(struct client *c, struct json_object *msg, const int *fds, int nfds)
{
    struct w_error err;
    int rc = wshd_send(c->fd, msg, fds, nfds, &err);

    json_object_put(msg);
    if (rc < 0) {
        log_msg(LOG_INFO, "client %d: %s; closing it", c->fd, err.msg);
        client_close(c);
    }
    return rc;
}

static int reply_error(struct client *c, const char *msg)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "error", json_object_new_string(msg));
    return client_send(c, o, NULL, 0);
}

static int reply_ok_pid(struct client *c, pid_t pid, const int *fds, int nfds)
{
    struct json_object *o = json_object_new_object();

    json_object_object_add(o, "ok", json_object_new_boolean(1));
    json_object_object_add(o, "pid", json_object_new_int(pid));
    return client_send(c, o, fds, nfds);
}

void serve_stdin_done(void *waiter, const char *why)
{
    struct client *c = waiter;
    struct json_object *o;

    if (why != NULL) {
        reply_error(c, why);
        return;
    }
    o = json_object_new_object();
    json_object_object_add(o, "ok", json_object_new_boolean(1));
    client_send(c, o, NULL, 0);
}

static void exec_exited(struct wshd_ctx *ctx, pid_t pid, int status, void *data)
{
    struct exec_proc *e = data;

    (void)ctx;
    (void)pid;
    if (e->client) {
        struct json_object *o = json_object_new_object();
        if (WIFEXITED(status))
            json_object_object_add(o, "exit", json_object_new_int(WEXITSTATUS(status)));
        else
            json_object_object_add(o, "signal", json_object_new_int(WTERMSIG(status)));
        e->client->exec = NULL;
        client_send(e->client, o, NULL, 0);
    }
    if (e->master >= 0)
        close(e->master);
    free(e);
}

/* argv from the request: a non-empty array of strings (a malloc'd vector of borrowed
 * strings). */
static char **parse_argv(struct json_object *a, struct w_error *err)
{
    size_t n;
    char **argv;

    if (!json_object_is_type(a, json_type_array)) {
        w_err(err, "argv: must be an array of strings");
        return NULL;
    }
    n = json_object_array_length(a);
    if (n == 0 || n > ARGV_MAX) {
        w_err(err, "argv: must have 1 to %d elements", ARGV_MAX);
        return NULL;
    }
    argv = calloc(n + 1, sizeof(*argv));
    if (argv == NULL) {
        w_err(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct json_object *s = json_object_array_get_idx(a, i);
        if (!json_object_is_type(s, json_type_string) || json_object_get_string_len(s) == 0) {
            free(argv);
            w_err(err, "argv[%zu]: must be a non-empty string", i);
            return NULL;
        }
        argv[i] = (char *)json_object_get_string(s);
    }
    return argv;
}

static int int_field(struct json_object *req, const char *key, int dflt, int max, int *out,
                     struct w_error *err)
{
    struct json_object *v = jsonh_get(req, key);
    long long x;

    *out = dflt;
    if (v == NULL)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return w_err(err, "%s: must be an integer", key);
    x = json_object_get_int64(v);
    if (x < 0 || x > max)
        return w_err(err, "%s: must be between 0 and %d", key, max);
    *out = (int)x;
    return 0;
}

/* Open a pty pair in the container's /dev/pts; slave owned by the user. */
static int open_pty(struct json_object *req, uid_t uid, int *master, int *slave,
                    struct w_error *err)
{
    int rows, cols;

    if (int_field(req, "rows", 24, 65535, &rows, err) < 0 ||
        int_field(req, "cols", 80, 65535, &cols, err) < 0)
        return -1;
    return spawn_open_pty(rows, cols, uid, master, slave, err);
}

/* The login shell of the user, for "exec" without "argv": argv[0] "-sh". */
static char **login_argv(struct spawn_opts *o, char *argv0, size_t cap)
{
    static char *argv[2];
    char shell[PATH_MAX];

    strlcpy(shell, o->user.shell, sizeof(shell));
    snprintf(argv0, cap, "-%s", basename(shell));
    argv[0] = argv0;
    argv[1] = NULL;
    o->path = o->user.shell;
    return argv;
}

static int handle_exec(struct client *c, struct json_object *req, int *fds, int nfds,
                       struct w_error *err)
{
    struct spawn_opts o = {0};
    w_autofree char **argv = NULL;
    char argv0[PATH_MAX + 1];
    char **args;
    int pty = jsonh_get_bool(req, "pty", 0), master = -1, slave = -1;
    struct exec_proc *e;
    pid_t pid;

    if (c->exec)
        return w_err(err, "a process is already running on this connection");
    if (jsonh_get(req, "pty") && !json_object_is_type(jsonh_get(req, "pty"), json_type_boolean))
        return w_err(err, "pty: must be a boolean");
    if (spawn_parse_common(req, &o, err) < 0)
        return -1;
    if (jsonh_get(req, "argv") == NULL) {
        args = login_argv(&o, argv0, sizeof(argv0));
    } else {
        if ((argv = parse_argv(jsonh_get(req, "argv"), err)) == NULL)
            return -1;
        args = argv;
    }
    o.argv = args;
    if (pty) {
        if (nfds != 0)
            return w_err(err, "exec with pty takes no descriptors (got %d)", nfds);
        o.term = jsonh_get_str(req, "term", NULL);
        if (open_pty(req, o.user.uid, &master, &slave, err) < 0)
            return -1;
        o.fds[0] = o.fds[1] = o.fds[2] = slave;
        o.ctty = 1;
    } else {
        if (nfds != 3)
            return w_err(err, "exec needs 3 descriptors (stdin, stdout, stderr), got %d", nfds);
        memcpy(o.fds, fds, sizeof(o.fds));
    }
    pid = spawn_start(&o, err);
    if (slave >= 0)
        close(slave);
    if (pid < 0 || (e = calloc(1, sizeof(*e))) == NULL) {
        if (master >= 0)
            close(master);
        return pid < 0 ? -1 : w_err(err, "out of memory");
    }
    e->pid = pid;
    e->master = master;
    e->client = c;
    c->exec = e;
    serve_watch_pid(pid, exec_exited, e);
    reply_ok_pid(c, pid, master >= 0 ? &master : NULL, master >= 0 ? 1 : 0);
    return 0;
}

static int handle_running(struct client *c, const char *op, struct json_object *req,
                          struct w_error *err)
{
    struct exec_proc *e = c->exec;

    if (e == NULL)
        return w_err(err, "%s: no process is running on this connection", op);
    if (strcmp(op, "signal") == 0) {
        int sig;
        if (jsonh_get(req, "signal") == NULL)
            return w_err(err, "signal: required");
        if (int_field(req, "signal", 0, 64, &sig, err) < 0 || sig == 0)
            return w_err(err, "signal: must be between 1 and 64");
        if (kill(e->pid, sig) < 0 && errno != ESRCH)
            return w_errno(err, errno, "kill %d", (int)e->pid);
        return 0;
    } else {
        struct winsize ws = {0};
        int rows, cols;
        if (e->master < 0)
            return w_err(err, "winsize: the process has no pty");
        if (int_field(req, "rows", 24, 65535, &rows, err) < 0 ||
            int_field(req, "cols", 80, 65535, &cols, err) < 0)
            return -1;
        ws.ws_row = (unsigned short)rows;
        ws.ws_col = (unsigned short)cols;
        if (ioctl(e->master, TIOCSWINSZ, &ws) < 0)
            return w_errno(err, errno, "ioctl TIOCSWINSZ");
        return 0;
    }
}

/* One request. Returns -1 with err set for an error reply. Replies on success are
 * sent by the handler. */
static int dispatch(struct client *c, struct json_object *req, int *fds, int nfds,
                    struct w_error *err)
{
    struct json_object *opv = jsonh_get(req, "op");
    const char *op;

    if (opv == NULL || !json_object_is_type(opv, json_type_string))
        return w_err(err, "op: required string");
    op = json_object_get_string(opv);
    if (strcmp(op, "exec") == 0)
        return handle_exec(c, req, fds, nfds, err);
    if (strcmp(op, "copy") == 0) {
        pid_t pid = copy_start(g_ctx, req, fds, nfds, err);
        if (pid < 0)
            return -1;
        reply_ok_pid(c, pid, NULL, 0);
        return 0;
    }
    if (strcmp(op, "spawn") == 0) {
        int pass = -1;
        pid_t pid = job_start(g_ctx, req, fds, nfds, &pass, err);
        if (pid < 0)
            return -1;
        reply_ok_pid(c, pid, pass >= 0 ? &pass : NULL, pass >= 0);
        if (pass >= 0)
            close(pass);
        job_make_spare(g_ctx); /* while the job runs */
        return 0;
    }
    if (nfds != 0)
        return w_err(err, "%.32s takes no descriptors", op);
    if (strcmp(op, "ping") == 0)
        return reply_ok_pid(c, getpid(), NULL, 0), 0;
    if (strcmp(op, "signal") == 0 || strcmp(op, "winsize") == 0)
        return handle_running(c, op, req, err);
    if (strcmp(op, "job_stdin") == 0)
        return job_stdin(req, c, err); /* replies through serve_stdin_done */
    if (strcmp(op, "job_signal") == 0 || strcmp(op, "job_resize") == 0) {
        struct json_object *o;
        if ((op[4] == 's' ? job_signal(req, err) : job_resize(req, err)) < 0)
            return -1;
        o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(1));
        client_send(c, o, NULL, 0);
        return 0;
    }
    return w_err(err, "unknown op \"%.32s\"", op);
}

static void on_client(struct loop *loop, int fd, int mask, void *data)
{
    struct client *c = data;
    struct w_error err;
    int fds[FDPASS_MAX], nfds = FDPASS_MAX;
    struct json_object *req = wshd_recv(fd, fds, &nfds, &err);

    (void)loop;
    (void)mask;
    if (req == NULL) {
        if (err.errnum == EAGAIN)
            return;
        if (err.errnum != 0) { /* EOF, a failed or truncated receive: the link is gone */
            client_close(c);
            return;
        }
        reply_error(c, err.msg); /* unparsable: say so, keep the connection */
        return;
    }
    if (dispatch(c, req, fds, nfds, &err) < 0)
        reply_error(c, err.msg); /* may close c */
    for (int i = 0; i < nfds; i++)
        close(fds[i]); /* the child has its copies */
    json_object_put(req);
}

static void on_accept(struct loop *loop, int fd, int mask, void *data)
{
    struct w_error err;
    struct client *c;
    int cfd;

    (void)mask;
    (void)data;
    cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (cfd < 0) {
        int e = errno;

        if (loop_accept_failed(loop, fd, e, 100))
            log_msg(LOG_WARNING, "accept: %s; not accepting for 100 ms", strerror(e));
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        close(cfd);
        return;
    }
    c->fd = cfd;
    if (loop_add_fd(loop, cfd, LOOP_READ, on_client, c, &err) < 0) {
        log_msg(LOG_WARNING, "refusing a client: %s", err.msg);
        close(cfd);
        free(c);
        return;
    }
    c->next = g_clients;
    g_clients = c;
}

static void reap(void)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (struct watch **p = &g_watches; *p; p = &(*p)->next) {
            struct watch *w = *p;
            if (w->pid == pid) {
                *p = w->next;
                w->cb(g_ctx, pid, status, w->data);
                free(w);
                break;
            }
        }
    }
}

static void on_signal(struct loop *loop, int fd, int mask, void *data)
{
    struct signalfd_siginfo si;

    (void)loop;
    (void)mask;
    (void)data;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        ;
    reap();
}

int serve_run(struct wshd_ctx *ctx, struct w_error *err)
{
    static const int sigs[] = {SIGCHLD};
    int sfd;

    g_ctx = ctx;
    if ((sfd = loop_signalfd(sigs, 1, err)) < 0)
        return -1;
    if (loop_add_fd(ctx->loop, sfd, LOOP_READ, on_signal, NULL, err) < 0 ||
        loop_add_fd(ctx->loop, ctx->listen_fd, LOOP_READ, on_accept, NULL, err) < 0)
        return -1;
    reap(); /* children that ended before the signalfd existed (hooks are waited) */
    job_make_spare(ctx);
    return loop_run(ctx->loop, err);
}
