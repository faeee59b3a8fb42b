/* The container half of copy in/out: {"op":"copy"} (doc/wshd-protocol.md). wshd checks
 * the request, then forks a child that, inside the container's namespaces and root,
 * becomes the container's user, keeps no descriptor but /dev/null, the data pipe and
 * the status pipe, and unpacks the stream into the path (copy in) or packs the path
 * into the stream (copy out) with copytree.c, confined as a job is (confine.h: an
 * unprivileged user's empty bounding set, no_new_privs, and the seccomp filter it
 * inherits from wshd).
 * wshd does not wait for it: the reaper collects it, and the requester learns the
 * result from the status pipe. */
#include "config.h"

#include "copy.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine.h"
#include "copytree.h"
#include "jsonh.h"
#include "passwd.h"

struct copy_req {
    int in; /* 1: unpack into path; 0: pack path */
    const char *path;
    struct pw_user user;
};

static int parse(struct json_object *req, int nfds, struct copy_req *c, struct w_error *err)
{
    struct json_object *dir = jsonh_get(req, "direction"), *path = jsonh_get(req, "path");
    struct json_object *user = jsonh_get(req, "user");

    if (dir == NULL || !json_object_is_type(dir, json_type_string) ||
        (strcmp(json_object_get_string(dir), "in") != 0 &&
         strcmp(json_object_get_string(dir), "out") != 0))
        return w_err(err, "direction: must be \"in\" or \"out\"");
    c->in = strcmp(json_object_get_string(dir), "in") == 0;
    if (path == NULL || !json_object_is_type(path, json_type_string) ||
        json_object_get_string_len(path) == 0 || json_object_get_string_len(path) >= PATH_MAX ||
        strlen(json_object_get_string(path)) != (size_t)json_object_get_string_len(path))
        return w_err(err, "path: must be a non-empty path");
    c->path = json_object_get_string(path);
    if (user != NULL && !json_object_is_type(user, json_type_string))
        return w_err(err, "user: must be a string");
    if (passwd_lookup("/", user ? json_object_get_string(user) : "vcap", &c->user, err) < 0)
        return -1;
    if (nfds != 2)
        return w_err(err, "copy needs 2 descriptors (data, status), got %d", nfds);
    return 0;
}

static void __attribute__((noreturn)) child_fail(int status_fd, const char *what)
{
    struct w_error err;

    w_errno(&err, errno, "%s", what);
    copy_status_write(status_fd, -1, &err);
    _exit(1);
}

/* The child: fds[0] data, fds[1] status; devnull becomes 0, 1 and 2. */
static void __attribute__((noreturn)) child(const struct copy_req *c, const int *fds, int devnull)
{
    const struct pw_user *u = &c->user;
    struct copy_unpack_opts uo = {.uid = (uid_t)-1, .gid = (gid_t)-1};
    struct w_error err;
    sigset_t none;
    int data, st, rc, nul;

    for (int s = 1; s < NSIG; s++)
        signal(s, SIG_DFL);
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is an error we report, not a death */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* The container's own /dev/null when it has one (wshd's is the host's, opened before
     * pivot_root: harmless, but nothing of the host's need stay). */
    if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        nul = devnull;
    /* Up high first, so no dup2 below clobbers one; then 0-2, 3 (data), 4 (status). */
    if ((data = fcntl(fds[0], F_DUPFD_CLOEXEC, 10)) < 0 ||
        (st = fcntl(fds[1], F_DUPFD_CLOEXEC, 10)) < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 ||
        dup2(nul, 2) < 0 || dup2(data, 3) < 0 || dup2(st, 4) < 0)
        _exit(1);
    /* Nothing of wshd's may stay open: no host-side directory, no socket. */
    if (syscall(SYS_close_range, 5U, ~0U, 0U) < 0)
        child_fail(4, "close_range");
    if (setsid() < 0)
        child_fail(4, "setsid");
    if (confine_child_caps(u->uid) < 0)
        child_fail(4, "drop the bounding set");
    if (setgroups((size_t)u->ngroups, u->groups) < 0)
        child_fail(4, "setgroups");
    if (setgid(u->gid) < 0)
        child_fail(4, "setgid");
    if (setuid(u->uid) < 0)
        child_fail(4, "setuid");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        child_fail(4, "prctl no_new_privs");
    if (chdir(u->home) < 0 && chdir("/") < 0)
        child_fail(4, "chdir /");
    umask(022); /* for the directories made on the way to the destination */
    /* From here on the copy does what the container's own processes may do: it is the
     * container's user, and wshd's seccomp filter came with the fork. */
    if (c->in)
        rc = copy_unpack(3, c->path, &uo, &err);
    else
        rc = copy_pack(3, c->path, &err);
    close(3);
    copy_status_write(4, rc, &err);
    _exit(rc < 0 ? 1 : 0);
}

pid_t copy_start(struct wshd_ctx *ctx, struct json_object *req, const int *fds, int nfds,
                 struct w_error *err)
{
    struct copy_req c;
    pid_t pid;

    if (parse(req, nfds, &c, err) < 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return w_errno(err, errno, "fork");
    if (pid == 0)
        child(&c, fds, ctx->devnull);
    return pid;
}
