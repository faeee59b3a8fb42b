/* The hook runner (hookrun.h). The request on the runner's stdin is NUL-separated:
 * PATH, LOG, N, N arguments, then K=V environment entries. bash reads a pipe a byte at a
 * time (0.2 us a byte here), so a request longer than HOOKRUN_INLINE goes into a memfd
 * and the socket carries only "@/proc/<pid>/fd/<n>", which bash reads buffered. Its
 * stdin is a socket, not a pipe, so that it can say "R" when it has read the libraries. */
#include "hookrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "hookrun_become.h"
#include "spawnp.h"
#include "util.h"

#define HOOKRUN_INLINE 256
/* How long the zygote may take to fork: past it, it is given up and the hook exec'd. */
#define HOOKRUN_FORK_MS 2000

/* $1: the hooks directory. The libraries that ask for it are sourced with w_preload set
 * (each defines its functions and returns; its part that reads the hook's environment
 * runs when the hook sources it), the two most hooks use first, and no more once a
 * request is waiting (BREAK; not in a zygote, which is started once): the hook then
 * sources the rest itself, so a runner that had no time ahead costs no more than an
 * exec'd hook (but for one library at most). The hook's own variables must not meet
 * ours: every w_ name is unset before the hook file is sourced. */
#define PRELOAD(BREAK)                                                                             \
    "w_d=$1 w_preload=1 w_done=\n"                                                                 \
    "for w_f in \"$w_d\"/lib/common.sh \"$w_d\"/lib/cgroup.sh \"$w_d\"/lib/*.sh; do\n"             \
    "\t[[ $w_done != *\" $w_f \"* ]] || continue\n"                                                \
    "\tw_done+=\" $w_f \"\n" BREAK "\tw_l=()\n"                                                    \
    "\t{ mapfile -n 2 -t w_l <\"$w_f\"; } 2>/dev/null || continue\n"                               \
    "\t[[ ${w_l[1]-} != '# hook-runner: preload' ]] || . \"$w_f\"\n"                               \
    "done\n"                                                                                       \
    "unset w_preload w_f w_l w_done\n"                                                             \
    "printf R >&0 2>/dev/null || :\n"
static const char runner[] = PRELOAD("\tread -r -t 0 && break\n") HOOKRUN_BECOME_HOOK;

/* $2: warden-builtins.so. The zygote builtin returns 0 in each child it forks, which
 * goes on as a runner that has its request; in the zygote it returns at EOF (1: exit 0)
 * or on an error (2: exit 1). Without the builtin, status 112 before the "R". */
static const char zygote[] = "enable -f \"$2\" zygote 2>/dev/null || exit 112\n" PRELOAD(
    "") "zygote || exit $(($? - 1))\n" HOOKRUN_BECOME_HOOK;

static int is_lib(const char *name)
{
    size_t n = strlen(name);

    return n > 3 && n < sizeof(((struct hookrun_stamp *)0)->name) && name[0] != '.' &&
           strcmp(name + n - 3, ".sh") == 0;
}

static void stamp_of(struct hookrun_stamp *s, const char *name, const struct stat *st)
{
    strlcpy(s->name, name, sizeof(s->name));
    s->dev = st->st_dev;
    s->ino = st->st_ino;
    s->size = st->st_size;
    s->mtime = st->st_mtim;
    s->ctime = st->st_ctim;
}

static int same_stamp(const struct hookrun_stamp *a, const struct hookrun_stamp *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec &&
           a->ctime.tv_sec == b->ctime.tv_sec && a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* The stamps of dir/lib/NAME.sh into out (at most HOOKRUN_LIBS); their number, -1 past it
 * (a missing lib directory has none). */
static int scan_libs(const char *dir, struct hookrun_stamp *out)
{
    char path[4096];
    struct dirent *e;
    int n = 0, dfd;
    DIR *d;

    if (snprintf(path, sizeof(path), "%s/lib", dir) >= (int)sizeof(path))
        return -1;
    d = opendir(path);
    if (d == NULL)
        return 0;
    dfd = dirfd(d);
    while ((e = readdir(d)) != NULL) {
        struct stat st;

        if (!is_lib(e->d_name) || fstatat(dfd, e->d_name, &st, 0) < 0)
            continue;
        if (n == HOOKRUN_LIBS) {
            n = -1;
            break;
        }
        stamp_of(&out[n++], e->d_name, &st);
    }
    closedir(d);
    return n;
}

static int start_bash(struct hookrun *r, const char *script, const char *dir, const char *builtins,
                      char *const *envp, int out_fd, int err_fd, int pgroup, struct w_error *err)
{
    char *argv[] = {"bash",        "--noprofile", "--norc",         "-c", (char *)script,
                    "warden-hook", (char *)dir,   (char *)builtins, NULL};
    struct spawnp sp = {.path = "/bin/bash", .argv = argv, .envp = envp, .pgroup = pgroup};
    struct sched_param idle = {0};
    int p[2];

    r->pid = 0;
    r->req = r->keep = -1;
    r->ready = r->sent = 0;
    /* Before the start: a library changed while the runner reads it is seen as changed. */
    r->nlibs = scan_libs(dir, r->libs);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
        return w_errno(err, errno, "hook runner: socketpair");
    sp.fd[0] = p[0];
    sp.fd[1] = out_fd;
    sp.fd[2] = err_fd;
    r->pid = spawnp_start(&sp, err);
    close(p[0]);
    if (r->pid < 0) {
        r->pid = 0;
        close(p[1]);
        return w_err_prefix(err, "hook runner");
    }
    r->req = p[1];
    /* SCHED_IDLE until it has a hook: reading the libraries takes only a CPU that nothing
     * else wants, never one from the hook running now. Set here, once it has exec'd
     * (posix_spawn waits for that): set before, a starved child would hold us up. */
    sched_setscheduler(r->pid, SCHED_IDLE, &idle);
    return 0;
}

int hookrun_start(struct hookrun *r, const char *dir, char *const *envp, int out_fd, int err_fd,
                  int pgroup, struct w_error *err)
{
    return start_bash(r, runner, dir, NULL, envp, out_fd, err_fd, pgroup, err);
}

int hookrun_zygote_start(struct hookrun *z, const char *dir, const char *builtins,
                         char *const *envp, int err_fd, struct w_error *err)
{
    return start_bash(z, zygote, dir, builtins, envp, SPAWNP_NULL, err_fd, 1, err);
}

int hookrun_ready(struct hookrun *r)
{
    char c;

    if (!r->ready && r->req >= 0 && !r->sent && recv(r->req, &c, 1, MSG_DONTWAIT) == 1)
        r->ready = 1;
    return r->ready;
}

int hookrun_current(const struct hookrun *r, const char *dir)
{
    struct hookrun_stamp now[HOOKRUN_LIBS];
    int n;

    if (r->pid <= 0 || r->req < 0 || r->sent || r->nlibs < 0)
        return 0;
    n = scan_libs(dir, now);
    if (n != r->nlibs)
        return 0;
    for (int i = 0; i < n; i++) {
        int j;

        for (j = 0; j < n && strcmp(r->libs[j].name, now[i].name) != 0; j++)
            ;
        if (j == n || !same_stamp(&r->libs[j], &now[i]))
            return 0;
    }
    return 1;
}

/* The request, NUL-separated, into *out (malloc'd): its length, or -1. */
static ssize_t request_of(const char *path, const char *log, const char *const *args,
                          char *const *env, char **out)
{
    size_t len = 0, nargs = 0;
    FILE *f = open_memstream(out, &len);

    if (f == NULL)
        return -1;
    while (args && args[nargs])
        nargs++;
    fprintf(f, "%s%c%s%c%zu%c", path, 0, log ? log : "", 0, nargs, 0);
    for (size_t i = 0; i < nargs; i++)
        fprintf(f, "%s%c", args[i], 0);
    for (size_t i = 0; env && env[i]; i++)
        fprintf(f, "%s%c", env[i], 0);
    if (fclose(f) != 0) {
        free(*out);
        return -1;
    }
    return (ssize_t)len;
}

/* The request on sock (then EOF): inline, or in a memfd (*keep) that sock names. Writes
 * to a runner's socket: the caller ignores SIGPIPE (wardend and wshd do), so a runner
 * that died before its request is an error here, not the caller's death. */
static int send_request(int sock, const char *path, const char *log, const char *const *args,
                        char *const *env, int *keep, struct w_error *err)
{
    char *req, ref[64];
    ssize_t len;
    int ok, fd = -1;

    if ((len = request_of(path, log, args, env, &req)) < 0)
        return w_err(err, "out of memory");
    if (len <= HOOKRUN_INLINE) {
        ok = util_write_all(sock, req, (size_t)len, err) == 0;
    } else {
        fd = memfd_create("warden-hook-request", MFD_CLOEXEC);
        snprintf(ref, sizeof(ref), "@/proc/%d/fd/%d", (int)getpid(), fd);
        ok = fd >= 0 && util_write_all(fd, req, (size_t)len, err) == 0 &&
             util_write_all(sock, ref, strlen(ref) + 1, err) == 0;
        if (fd < 0)
            w_errno(err, errno, "memfd_create");
    }
    free(req);
    /* EOF ends the request; the socket stays open so that a late "R" finds a reader. */
    shutdown(sock, SHUT_WR);
    *keep = fd;
    return ok ? 0 : -1;
}

int hookrun_send(struct hookrun *r, const char *path, const char *log, const char *const *args,
                 char *const *env, struct w_error *err)
{
    struct sched_param normal = {0};

    if (r->req < 0 || r->sent)
        return w_err(err, "hook runner: already used");
    /* From now on it is the hook, on the critical path: the normal policy again. */
    sched_setscheduler(r->pid, SCHED_OTHER, &normal);
    r->sent = 1;
    if (send_request(r->req, path, log, args, env, &r->keep, err) < 0)
        return w_err_prefix(err, "hook runner %d: send the request", (int)r->pid);
    return 0;
}

int hookrun_fork(struct hookrun *z, struct hookrun *r, int pgroup, int out_fd, int err_fd,
                 const char *path, const char *log, const char *const *args, char *const *env,
                 struct w_error *err)
{
    struct pollfd pfd = {z->req, POLLIN, 0};
    int p[2], fds[3], reply = 0, null = -1;
    ssize_t n;

    r->pid = 0;
    r->req = r->keep = -1;
    r->ready = r->sent = 0;
    r->nlibs = -1;
    if (z->req < 0 || !z->ready)
        return w_err(err, "hook zygote: not ready");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p) < 0)
        return w_errno(err, errno, "hook zygote: socketpair");
    if (out_fd < 0 && (out_fd = null = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
        w_errno(err, errno, "hook zygote: /dev/null");
        goto fail;
    }
    fds[0] = p[0], fds[1] = out_fd, fds[2] = err_fd;
    if (fdpass_send(z->req, "F", 1, fds, 3, err) < 0) {
        w_err_prefix(err, "hook zygote %d", (int)z->pid);
        goto fail;
    }
    /* Its pid before anything else: it is our child (CLONE_PARENT), and we must know it
     * before our next waitpid. The request goes after it: a child whose pid we never
     * learnt (the zygote too slow) reads EOF and exits 0, having run nothing. */
    while ((n = poll(&pfd, 1, HOOKRUN_FORK_MS)) < 0 && errno == EINTR)
        ;
    if (n == 1)
        n = recv(z->req, &reply, sizeof(reply), MSG_WAITALL);
    if (n != (ssize_t)sizeof(reply) || reply <= 0) {
        if (n == 0)
            w_err(err, "hook zygote %d: no answer in %d ms", (int)z->pid, HOOKRUN_FORK_MS);
        else if (n == (ssize_t)sizeof(reply))
            w_errno(err, -reply, "hook zygote %d: clone", (int)z->pid);
        else
            w_errno(err, n < 0 ? errno : EPIPE, "hook zygote %d: its answer", (int)z->pid);
        goto fail;
    }
    close(p[0]);
    p[0] = -1;
    if (null >= 0)
        close(null);
    r->pid = reply;
    r->req = p[1];
    r->ready = r->sent = 1;
    if (pgroup)
        setpgid(r->pid, r->pid); /* as the child does: whichever comes first */
    if (send_request(r->req, path, log, args, env, &r->keep, err) < 0) {
        /* Without all of its request it would run something else: end it here. */
        kill(r->pid, SIGKILL);
        while (waitpid(r->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        hookrun_release(r);
        return w_err_prefix(err, "hook forked by the zygote: send the request");
    }
    return 0;
fail:
    if (p[0] >= 0)
        close(p[0]);
    close(p[1]);
    if (null >= 0)
        close(null);
    return -1;
}

void hookrun_release(struct hookrun *r)
{
    if (r->req >= 0)
        close(r->req);
    if (r->keep >= 0)
        close(r->keep);
    r->req = r->keep = -1;
    r->pid = 0;
}

void hookrun_discard(struct hookrun *r)
{
    if (r->pid > 0 && kill(-r->pid, SIGKILL) < 0)
        kill(r->pid, SIGKILL);
    hookrun_release(r);
}
