/* Runs in wardend. A hook is a child in its own process group, so a timeout kills
 * everything it started. stdout goes straight to the log file; stderr comes back
 * through a pipe, is copied to the log, and its last line is kept for the error.
 * Completion waits for both the exit (SIGCHLD) and EOF on the pipe -- or, if something
 * the hook left running holds the pipe, for a short grace after the exit.
 * server.hook_runners bash runners (src/lib/hookrun.h) wait started, each with its
 * stderr pipe, libraries preloaded: a hook goes to the oldest one whose libraries are
 * unchanged, and a new runner starts in its place; with none (or for a hook that is not
 * executable) the hook is exec'd as before. With server.hook_zygote and the builtins'
 * zygote, one bash forks every hook instead (hookrun_fork) and no runner starts. */
#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hookrun.h"
#include "log.h"
#include "spawnp.h"
#include "util.h"
#include "wardend.h"

#define HOOK_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define PIPE_GRACE_MS 200
#define EARLY_MAX 65536

struct hook {
    char name[64];
    pid_t pid;
    int errfd, logfd;
    struct hookrun run; /* the runner it runs in (run.pid 0: exec'd directly) */
    int exited, status, timed_out;
    int late;    /* hook_run_log_later: its output waits in early until hook_log_open */
    char *early; /* that output (stdout and stderr), at most EARLY_MAX bytes */
    size_t nearly;
    long long started, timer;
    char last[512]; /* last complete stderr line */
    char partial[512];
    size_t plen;
    hook_cb *cb;
    void *data;
    struct hook *next;
};

static struct hook *running;

/* Runners started ahead of need, oldest first, each with its stderr pipe's read end. */
struct runner {
    struct hookrun r;
    int errfd;
    int watched; /* r.req is in the loop until the runner says it is ready */
};
static struct runner runners[16];
static int nrunners, cannot_start;
static void runners_fill(void);

/* The zygote (hookrun_zygote_start): z.pid 0 none; broken once one ended before it was
 * ready (no builtin, a library that exits): runners from then on. */
static struct {
    struct hookrun z;
    int watched, broken;
} zyg = {.z = {.req = -1, .keep = -1}};

static void log_line(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(int fd, const char *fmt, ...)
{
    char line[1024], ts[UTIL_TIME_ISO_MAX];
    va_list ap;
    int n;

    if (fd < 0)
        return;
    util_time_iso(ts, NULL, 3);
    n = snprintf(line, sizeof(line), "%s ", ts);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    (void)!write(fd, line, (size_t)n);
}

/* A hook without a log file (host-setup.sh, destroy.sh) has the lines it writes itself
 * ("NAME: ...", lib/common.sh's warn) in wardend's log as warnings, so what it reports
 * without failing is seen; its tools' chatter (iptables' notes) is not logged. */
static void forward_own_line(const struct hook *h)
{
    size_t n = strlen(h->name);

    if (h->logfd < 0 && strncmp(h->last, h->name, n) == 0 && h->last[n] == ':')
        log_msg(LOG_WARNING, "hook %s", h->last);
}

/* Keep the last non-empty line of what the hook wrote to stderr. */
static void track_stderr(struct hook *h, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            if (h->plen > 0) {
                memcpy(h->last, h->partial, h->plen);
                h->last[h->plen] = '\0';
                forward_own_line(h);
            }
            h->plen = 0;
        } else if (h->plen < sizeof(h->partial) - 1) {
            h->partial[h->plen++] = buf[i];
        }
    }
}

static void drain_stderr(struct hook *h)
{
    char buf[4096];

    while (h->errfd >= 0) {
        ssize_t n = read(h->errfd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            loop_del_fd(g_loop, h->errfd, LOOP_READ);
            close(h->errfd);
            h->errfd = -1;
            return;
        }
        if (h->logfd >= 0) {
            (void)!write(h->logfd, buf, (size_t)n);
        } else if (h->late && h->nearly < EARLY_MAX) {
            size_t k = (size_t)n < EARLY_MAX - h->nearly ? (size_t)n : EARLY_MAX - h->nearly;
            char *e = h->early ? h->early : malloc(EARLY_MAX);
            if (e) {
                memcpy(e + h->nearly, buf, k);
                h->early = e;
                h->nearly += k;
            }
        }
        track_stderr(h, buf, (size_t)n);
    }
}

static void finish(struct hook *h)
{
    char msg[1024];
    const char *error = NULL;
    double ms = (double)(loop_now_ms() - h->started);

    for (struct hook **p = &running; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    if (h->errfd >= 0) {
        loop_del_fd(g_loop, h->errfd, LOOP_READ);
        close(h->errfd);
    }
    if (h->timer)
        loop_del_timer(g_loop, h->timer);
    if (h->plen > 0) {
        memcpy(h->last, h->partial, h->plen);
        h->last[h->plen] = '\0';
    }
    if (h->timed_out) {
        snprintf(msg, sizeof(msg), "hook %s timed out after %g s", h->name,
                 g_cfg->server.hook_timeout);
        error = msg;
    } else if (WIFSIGNALED(h->status)) {
        snprintf(msg, sizeof(msg), "hook %s killed by signal %d", h->name, WTERMSIG(h->status));
        error = msg;
    } else if (WEXITSTATUS(h->status) != 0) {
        snprintf(msg, sizeof(msg), "hook %s exited with status %d%s%s", h->name,
                 WEXITSTATUS(h->status), h->last[0] ? ": " : "", h->last);
        error = msg;
    }
    log_line(h->logfd, "end %s: %s (%.0f ms)", h->name, error ? error : "ok", ms);
    if (error)
        log_msg(LOG_WARNING, "%s", error);
    else
        log_msg(LOG_DEBUG, "hook %s ok (%.0f ms%s)", h->name, ms,
                h->run.pid <= 0    ? ""
                : h->run.nlibs < 0 ? ", forked by the zygote"
                                   : ", in a runner");
    if (h->logfd >= 0)
        close(h->logfd);
    hookrun_release(&h->run);
    h->cb(h->data, error);
    free(h->early);
    free(h);
    runners_fill();
}

static void on_stderr(struct loop *loop, int fd, int mask, void *data)
{
    struct hook *h = data;

    (void)loop, (void)fd, (void)mask;
    drain_stderr(h);
    if (h->errfd < 0 && h->exited)
        finish(h);
}

static void on_timer(struct loop *loop, long long id, void *data)
{
    struct hook *h = data;

    (void)loop, (void)id;
    h->timer = 0;
    if (h->exited) { /* exited, but something it left holds stderr: stop waiting */
        drain_stderr(h);
        finish(h);
        return;
    }
    h->timed_out = 1;
    kill(-h->pid, SIGKILL);
}

/* server.hook_timeout from now: then the hook's process group is killed. */
static void arm_deadline(struct hook *h)
{
    h->timer = loop_add_timer(g_loop, (long long)(g_cfg->server.hook_timeout * 1000), on_timer, h);
}

static char *const runner_env[] = {(char *)HOOK_PATH, NULL};

static void runner_unwatch(struct runner *r)
{
    if (r->watched)
        loop_del_fd(g_loop, r->r.req, LOOP_READ);
    r->watched = 0;
}

static void runner_remove(int i)
{
    runner_unwatch(&runners[i]);
    if (runners[i].errfd >= 0)
        close(runners[i].errfd);
    memmove(&runners[i], &runners[i + 1], (size_t)(nrunners - i - 1) * sizeof(runners[0]));
    nrunners--;
}

/* An unused runner exited (it cannot preload): forget it. The next one starts when a
 * hook ends, so a broken library costs one start per hook. */
static void zygote_unwatch(void)
{
    if (zyg.watched)
        loop_del_fd(g_loop, zyg.z.req, LOOP_READ);
    zyg.watched = 0;
}

static void runner_died(pid_t pid, int status)
{
    if (zyg.z.pid > 0 && pid == zyg.z.pid) {
        /* No builtin (112): runners from now on. Else a new one when a hook ends, so a
         * broken library costs one start per hook, as a runner does. */
        zyg.broken = !zyg.z.ready && WIFEXITED(status) && WEXITSTATUS(status) == 112;
        log_msg(LOG_WARNING, "hook zygote %d ended%s (status 0x%x)%s", (int)pid,
                zyg.z.ready ? "" : " before it was ready", status,
                zyg.broken ? ": no zygote builtin in server.builtins_path; hook runners from now on"
                           : "");
        zygote_unwatch();        /* before its socket closes */
        hookrun_release(&zyg.z); /* reaped: no kill */
        if (zyg.broken)
            runners_fill();
        return;
    }
    for (int i = 0; i < nrunners; i++)
        if (runners[i].r.pid == pid) {
            log_msg(LOG_WARNING, "hook runner %d ended before it had a hook (status 0x%x)",
                    (int)pid, status);
            runner_unwatch(&runners[i]);    /* before its socket closes */
            hookrun_release(&runners[i].r); /* reaped: no kill, its pid may be another's now */
            runner_remove(i);
            return;
        }
}

/* A runner has read the libraries: the next one may start. */
static void on_runner_ready(struct loop *loop, int fd, int mask, void *data)
{
    (void)loop, (void)mask, (void)data;
    for (int i = 0; i < nrunners; i++)
        if (runners[i].r.req == fd) {
            hookrun_ready(&runners[i].r);
            runner_unwatch(&runners[i]);
        }
    runners_fill();
}

/* The zygote has read the libraries: from now on its forks are on the critical path. */
static void on_zygote_ready(struct loop *loop, int fd, int mask, void *data)
{
    struct sched_param normal = {0};

    (void)loop, (void)fd, (void)mask, (void)data;
    zygote_unwatch(); /* on EOF too: its end is seen by hook_reap */
    if (hookrun_ready(&zyg.z))
        sched_setscheduler(zyg.z.pid, SCHED_OTHER, &normal);
}

static void zygote_discard(void)
{
    zygote_unwatch();
    hookrun_discard(&zyg.z); /* reaped later, as an unknown child */
}

/* 1 if bash hooks go to the zygote (started here if there is none), 0 if to runners. */
static int zygote_fill(void)
{
    struct w_error err;

    if (!g_cfg->server.hook_zygote || !g_cfg->server.builtins_path[0] || zyg.broken)
        return 0;
    if (zyg.z.pid > 0)
        return 1;
    if (hookrun_zygote_start(&zyg.z, g_cfg->server.hooks_path, g_cfg->server.builtins_path,
                             runner_env, SPAWNP_INHERIT, &err) < 0) {
        log_msg(LOG_WARNING, "%s; hook runners from now on", err.msg);
        zyg.broken = 1;
        return 0;
    }
    zyg.watched = loop_add_fd(g_loop, zyg.z.req, LOOP_READ, on_zygote_ready, NULL, &err) == 0;
    return 1;
}

/* One runner more, if there are fewer than server.hook_runners and none is still
 * reading the libraries: one at a time, so that their starts take one core at most. */
static void runners_fill(void)
{
    int max = g_cfg->server.hook_runners;

    if (zygote_fill())
        max = 0;

    if (max > (int)(sizeof(runners) / sizeof(runners[0])))
        max = (int)(sizeof(runners) / sizeof(runners[0]));
    if (cannot_start)
        return;
    for (int i = 0; i < nrunners; i++)
        if (!hookrun_ready(&runners[i].r))
            return;
    while (nrunners > max) { /* the zygote took over */
        hookrun_discard(&runners[0].r);
        runner_remove(0);
    }
    if (nrunners < max) {
        struct runner *r = &runners[nrunners];
        struct w_error err;
        int p[2];

        if (pipe2(p, O_CLOEXEC) < 0)
            return;
        if (hookrun_start(&r->r, g_cfg->server.hooks_path, runner_env, SPAWNP_NULL, p[1], 1, &err) <
            0) {
            /* No bash to start (or no resources): say so once, exec hooks from now on. */
            log_msg(LOG_WARNING, "%s; hooks are exec'd from now on", err.msg);
            cannot_start = 1;
            close(p[0]);
            close(p[1]);
            return;
        }
        close(p[1]);
        r->errfd = p[0];
        r->watched = loop_add_fd(g_loop, r->r.req, LOOP_READ, on_runner_ready, NULL, &err) == 0;
        nrunners++;
    }
}

/* Fork the hook from the zygote: 0 with h->pid and h->errfd set, -1 if it cannot. Its
 * stdout is the log wardend has open (not reopened by path, as in a runner). */
static int run_in_zygote(struct hook *h, const char *path, const char *const *args,
                         char *const *env)
{
    struct w_error err;
    int p[2];

    if (zyg.z.pid <= 0 || !hookrun_ready(&zyg.z))
        return -1;
    if (!hookrun_current(&zyg.z, g_cfg->server.hooks_path)) {
        log_msg(LOG_INFO, "hook libraries changed: the hook zygote starts again");
        zygote_discard();
        zygote_fill();
        return -1;
    }
    if (pipe2(p, O_CLOEXEC) < 0)
        return -1;
    if (hookrun_fork(&zyg.z, &h->run, 1, h->late ? p[1] : h->logfd, p[1], path, NULL, args, env,
                     &err) < 0) {
        log_msg(LOG_WARNING, "%s; the hook zygote starts again", err.msg);
        close(p[0]);
        close(p[1]);
        zygote_discard();
        return -1;
    }
    close(p[1]);
    h->pid = h->run.pid;
    h->errfd = p[0];
    return 0;
}

/* Give the hook to the zygote or a runner: 0 with h->pid and h->errfd set, -1 if none
 * can take it. */
static int run_in_runner(struct hook *h, const char *path, const char *const *args,
                         char *const *env, const char *log_path)
{
    if (access(path, X_OK) < 0) /* exec'd, it fails with the reason */
        return -1;
    if (run_in_zygote(h, path, args, env) == 0)
        return 0;
    while (nrunners > 0) {
        struct runner r = runners[0];
        struct w_error err;

        runners[0].errfd = -1;
        runner_remove(0);
        if (hookrun_current(&r.r, g_cfg->server.hooks_path) &&
            hookrun_send(&r.r, path, log_path, args, env, &err) == 0) {
            h->run = r.r;
            h->pid = r.r.pid;
            h->errfd = r.errfd;
            return 0;
        }
        hookrun_discard(&r.r); /* a library changed, or it died: reaped later */
        close(r.errfd);
    }
    return -1;
}

int hook_running(void)
{
    int n = 0;

    for (struct hook *h = running; h; h = h->next)
        n++;
    return n;
}

void hook_reap(void)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        struct hook *h;

        if (pid <= 0)
            return;
        for (h = running; h && h->pid != pid; h = h->next)
            ;
        if (h == NULL) {
            runner_died(pid, status);
            continue;
        }
        h->exited = 1;
        h->status = status;
        drain_stderr(h);
        if (h->errfd < 0) {
            finish(h);
        } else { /* a background child still holds the pipe */
            if (h->timer)
                loop_del_timer(g_loop, h->timer);
            h->timer = loop_add_timer(g_loop, PIPE_GRACE_MS, on_timer, h);
        }
    }
}

/* env plus wardend's PATH for hooks; the strings stay env's. */
static char **hook_envp(char *const *env)
{
    size_t n = 0;
    char **out;

    while (env && env[n])
        n++;
    out = calloc(n + 2, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        out[i] = env[i];
    out[n] = (char *)HOOK_PATH;
    return out;
}

/* The hook in a process group of its own: stdin /dev/null, stdout the log (or
 * /dev/null), stderr the pipe. */
static pid_t spawn_hook(const char *path, const char *name, const char *const *args,
                        char *const *env, int logfd, int errfd, struct w_error *err)
{
    const char *argv[16];
    struct spawnp sp = {.path = path, .argv = (char *const *)argv, .pgroup = 1};
    size_t n = 0;
    pid_t pid;

    argv[n++] = path;
    while (args && args[n - 1] && n < 15) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    sp.envp = hook_envp(env);
    if (sp.envp == NULL)
        return w_err(err, "hook %s: out of memory", name);
    sp.fd[0] = SPAWNP_NULL;
    sp.fd[1] = logfd >= 0 ? logfd : SPAWNP_NULL;
    sp.fd[2] = errfd;
    pid = spawnp_start(&sp, err);
    free((void *)sp.envp);
    if (pid < 0)
        return w_err_prefix(err, "hook %s", name);
    return pid;
}

static int run(const char *name, const char *const *args, char *const *env, const char *log_path,
               int late, hook_cb *cb, void *data, struct hook **hp, struct w_error *err)
{
    struct hook *h = calloc(1, sizeof(*h));
    int pipefd[2];

    char path[4096];

    if (h == NULL)
        return w_err(err, "hook %s: out of memory", name);
    if (snprintf(path, sizeof(path), "%s/%s", g_cfg->server.hooks_path, name) >=
        (int)sizeof(path)) {
        free(h);
        return w_err(err, "hook %s: path too long", name);
    }
    strlcpy(h->name, name, sizeof(h->name));
    h->cb = cb;
    h->data = data;
    h->late = late;
    h->run.req = h->run.keep = -1;
    h->logfd = log_path ? open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    log_line(h->logfd, "begin %s%s%s", name, args && args[0] ? " " : "",
             args && args[0] ? args[0] : "");
    h->started = loop_now_ms();
    if (run_in_runner(h, path, args, env, log_path) < 0) {
        if (pipe2(pipefd, O_CLOEXEC) < 0) {
            int e = errno;
            if (h->logfd >= 0)
                close(h->logfd);
            free(h);
            return w_errno(err, e, "hook %s: pipe", name);
        }
        h->pid = spawn_hook(path, name, args, env, late ? pipefd[1] : h->logfd, pipefd[1], err);
        close(pipefd[1]);
        h->errfd = pipefd[0];
    }
    if (h->pid < 0 || util_set_nonblock(h->errfd, 1, err) < 0 ||
        loop_add_fd(g_loop, h->errfd, LOOP_READ, on_stderr, h, err) < 0) {
        if (h->pid > 0) {
            kill(-h->pid, SIGKILL);
            waitpid(h->pid, NULL, 0);
        }
        close(h->errfd);
        if (h->logfd >= 0)
            close(h->logfd);
        hookrun_release(&h->run);
        free(h);
        return -1;
    }
    if (!late)
        arm_deadline(h);
    h->next = running;
    running = h;
    if (hp)
        *hp = h;
    return 0;
}

int hook_run(const char *name, const char *const *args, char *const *env, const char *log_path,
             hook_cb *cb, void *data, struct w_error *err)
{
    return run(name, args, env, log_path, 0, cb, data, NULL, err);
}

int hook_run_log_later(const char *name, char *const *env, hook_cb *cb, void *data,
                       struct hook **hp, struct w_error *err)
{
    return run(name, NULL, env, NULL, 1, cb, data, hp, err);
}

void hook_log_open(struct hook *h, const char *log_path)
{
    if (!h->late || h->logfd >= 0)
        return;
    h->logfd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    log_line(h->logfd, "begin %s (%lld ms ago)", h->name, loop_now_ms() - h->started);
    if (h->logfd >= 0 && h->nearly > 0)
        (void)!write(h->logfd, h->early, h->nearly);
    free(h->early);
    h->early = NULL;
    h->nearly = 0;
}

void hook_start_clock(struct hook *h)
{
    if (h->late && !h->timer && !h->exited)
        arm_deadline(h);
}

struct sync_result {
    int done;
    char error[1024];
};

static void sync_done(void *data, const char *error)
{
    struct sync_result *r = data;

    r->done = 1;
    if (error)
        strlcpy(r->error, error, sizeof(r->error));
}

/* Start-up only (host-setup.sh before the socket listens, restore's destroy.sh): nothing
 * else is served yet, so wait here rather than in the loop, on the hook's pidfd and its
 * stderr, under the same hook_timeout as every other hook: past it the hook's process
 * group is killed. Without a pidfd (before Linux 5.3) poll the exit every 20 ms. */
static void wait_sync(struct hook *h)
{
    long long deadline = h->started + (long long)(g_cfg->server.hook_timeout * 1000);
    long long exited_at = 0;
    int pidfd = util_pidfd_open(h->pid, NULL);

    while (!h->exited || h->errfd >= 0) {
        long long now = loop_now_ms(), until = h->exited ? exited_at + PIPE_GRACE_MS : deadline;
        struct pollfd p[2] = {{h->errfd, POLLIN, 0}, {h->exited ? -1 : pidfd, POLLIN, 0}};
        int status;

        if (now >= until) {
            if (h->exited) /* something it left holds stderr: stop waiting */
                break;
            h->timed_out = 1;
            kill(-h->pid, SIGKILL);
            if (waitpid(h->pid, &status, 0) == h->pid)
                h->status = status;
            h->exited = 1;
            exited_at = loop_now_ms();
            continue;
        }
        if (!h->exited && pidfd < 0 && until - now > 20)
            until = now + 20;
        if (poll(p, 2, (int)(until - now)) < 0 && errno != EINTR)
            break;
        drain_stderr(h);
        if (!h->exited && waitpid(h->pid, &status, WNOHANG) == h->pid) {
            h->exited = 1;
            h->status = status;
            exited_at = loop_now_ms();
        }
    }
    if (pidfd >= 0)
        close(pidfd);
    drain_stderr(h);
}

int hook_run_sync(const char *name, const char *const *args, char *const *env, const char *log_path,
                  struct w_error *err)
{
    struct sync_result r = {0};
    struct hook *h;

    if (hook_run(name, args, env, log_path, sync_done, &r, err) < 0)
        return -1;
    for (h = running; h && h->data != &r; h = h->next)
        ;
    if (h != NULL) {
        wait_sync(h);
        finish(h);
    }
    if (r.error[0])
        return w_err(err, "%s", r.error);
    return 0;
}
