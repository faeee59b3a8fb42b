/* wshd: starts on the host (run by the start.sh hook), clones the container's init
 * and becomes it. Roles:
 *   parent  host namespaces: parent-before-clone.sh, clone, (--userns: the child's
 *           uid_map and gid_map, the idmapped rootfs sent to it), parent-after-clone.sh,
 *           waits for the child's "ready", writes <run>/wshd.pid, exits 0.
 *   child   new namespaces, pid 1: (--userns: waits for "go", becomes root of its user
 *           namespace, attaches the idmapped rootfs), child-before-pivot.sh (without
 *           --userns while the parent runs parent-after-clone.sh), opens what it needs
 *           from the host (jobs dir, socket, log, /dev/null, the after-pivot hook),
 *           pivot_root, drops the old root and the capabilities outside --caps, waits
 *           for "go" (it is in the container's cgroups then), child-after-pivot.sh,
 *           detaches, says "ready", serves.
 * The two talk over two pipes; EOF on a pipe means the peer died. The child reports a
 * failure as 'E' + message on its pipe, then waits for "go" (or EOF) before it exits,
 * so that parent-after-clone.sh never meets a dead child: the parent prints one precise
 * last line, its own hook's failure, else the child's. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "caps.h"
#include "confine.h"
#include "devfilter.h"
#include "error.h"
#include "fdpass.h"
#include "hookrun.h"
#include "serve.h"
#include "spawnp.h"
#include "unixsock.h"
#include "util.h"

#define EXIT_USAGE 100
#define EXIT_SYSTEM 111
/* Container uids and gids 0..USERNS_SIZE-1 are mapped (--userns). */
#define USERNS_SIZE 65536

struct opts {
    const char *run, *hooks, *root, *title, *devfilter;
    const char *idmap_lower; /* with userns: DIR, idmapped onto <container>/overlay/lower */
    long long userns_root;   /* host uid (and gid) of the container's root; -1: no userns */
    char container[PATH_MAX];
    uint64_t caps;     /* the container's bounding set */
    int seccomp;       /* load the default filter (on wshd: every job inherits it) */
    int zygote;        /* --zygote: a socket to the zygote start.sh forked (hookrun.h), or -1 */
    const char *after; /* --after: a pipe whose "G" says setup.sh is done, or NULL */
    int after_fd;      /* it, open from the start until read, or -1 */
};

static void usage(FILE *f)
{
    fprintf(f, "usage: wshd --run DIR --hooks DIR --root DIR [--title STR] [--caps LIST]\n"
               "            [--no-seccomp] [--userns HOST_UID [--idmap-lower DIR]] [--zygote FD]\n"
               "            [--after PIPE]\n"
               "       wshd --device-filter CGROUP_DIR\n"
               "       wshd --help | --version\n");
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"run", required_argument, NULL, 'r'},
        {"hooks", required_argument, NULL, 'k'},
        {"root", required_argument, NULL, 'R'},
        {"title", required_argument, NULL, 't'},
        {"caps", required_argument, NULL, 'c'},
        {"no-seccomp", no_argument, NULL, 'S'},
        {"device-filter", required_argument, NULL, 'D'},
        {"userns", required_argument, NULL, 'U'},
        {"idmap-lower", required_argument, NULL, 'L'},
        {"zygote", required_argument, NULL, 'Z'},
        {"after", required_argument, NULL, 'A'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *caps = CAPS_DEFAULT;
    struct w_error err;
    char tmp[PATH_MAX];
    int c;

    o->seccomp = 1;
    o->userns_root = -1;
    o->zygote = -1;
    o->after_fd = -1;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'r':
            o->run = optarg;
            break;
        case 'k':
            o->hooks = optarg;
            break;
        case 'R':
            o->root = optarg;
            break;
        case 't':
            o->title = optarg;
            break;
        case 'c':
            caps = optarg;
            break;
        case 'S':
            o->seccomp = 0;
            break;
        case 'D':
            o->devfilter = optarg;
            break;
        case 'U': {
            char *end;
            errno = 0;
            o->userns_root = strtoll(optarg, &end, 10);
            if (errno || *optarg < '0' || *optarg > '9' || *end || o->userns_root < 1 ||
                o->userns_root + USERNS_SIZE - 1 > 0xfffffffeLL) {
                fprintf(stderr, "wshd: --userns: '%s' is not a host uid 1..%lld\n", optarg,
                        0xfffffffeLL - USERNS_SIZE + 1);
                exit(EXIT_USAGE);
            }
            break;
        }
        case 'L':
            o->idmap_lower = optarg;
            break;
        case 'A':
            o->after = optarg;
            break;
        case 'Z': {
            /* Not a socket (or no number): the hooks are run without it. */
            struct stat st;
            char *end;
            long fd = strtol(optarg, &end, 10);

            if (*optarg >= '0' && *optarg <= '9' && !*end && fd > 2 && fd < INT_MAX &&
                fstat((int)fd, &st) == 0 && S_ISSOCK(st.st_mode))
                o->zygote = (int)fd;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("wshd %s\n", PACKAGE_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(EXIT_USAGE);
        }
    }
    if (o->devfilter != NULL && optind == argc && !o->run && !o->hooks && !o->root)
        return;
    if (optind != argc || !o->run || !o->hooks || !o->root || o->devfilter) {
        usage(stderr);
        exit(EXIT_USAGE);
    }
    if (o->idmap_lower != NULL && o->userns_root < 0) {
        fprintf(stderr, "wshd: --idmap-lower needs --userns\n");
        exit(EXIT_USAGE);
    }
    if (caps_parse_list(caps, &o->caps, &err) < 0) {
        fprintf(stderr, "wshd: --caps: %s\n", err.msg);
        exit(EXIT_USAGE);
    }
    if (strlcpy(tmp, o->run, sizeof(tmp)) >= sizeof(tmp)) {
        fprintf(stderr, "wshd: --run path too long\n");
        exit(EXIT_USAGE);
    }
    strlcpy(o->container, dirname(tmp), sizeof(o->container));
    if (o->title == NULL)
        o->title = "wshd";
}

extern char **environ;

/* Copy the hook's output (pipe fd) to our stderr until it closes it; its last non-empty
 * line into last (for the error, as wardend does for its own hooks). */
static void pass_output(int fd, char *last, size_t size)
{
    char buf[4096], line[512];
    size_t len = 0;
    ssize_t n;

    last[0] = '\0';
    while ((n = read(fd, buf, sizeof(buf))) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        (void)!write(STDERR_FILENO, buf, (size_t)n);
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (len < sizeof(line) - 1)
                    line[len++] = buf[i];
                continue;
            }
            if (len > 0) {
                line[len] = '\0';
                strlcpy(last, line, size);
            }
            len = 0;
        }
    }
    if (len > 0) {
        line[len] = '\0';
        strlcpy(last, line, size);
    }
}

/* A hook's end as every error of wshd says it (wait_hook). */
static int hook_status(const char *name, int status, const char *last, struct w_error *err)
{
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return w_err(err, "hook %s exited with status %d%s%s", name, WEXITSTATUS(status),
                     last[0] ? ": " : "", last);
    return w_err(err, "hook %s killed by signal %d", name, WTERMSIG(status));
}

/* Run argv[0] = path (named name in messages) with our environment plus extra ("K=V"
 * or NULL), stdin from stdin_fd (-1: /dev/null), stdout and stderr through a pipe onto
 * our stderr, as spawnp starts every hook; wait for it. A failure's error ends with the
 * hook's last line. */
static pid_t start_hook(const char *path, char *const argv[], const char *name, const char *extra,
                        int stdin_fd, int *outfd, struct w_error *err)
{
    struct spawnp sp = {.path = path, .argv = argv, .envp = environ};
    char **envp = NULL;
    int out[2];
    pid_t pid;

    if (pipe2(out, O_CLOEXEC) < 0)
        return w_errno(err, errno, "hook %s: pipe", name);
    sp.fd[0] = stdin_fd >= 0 ? stdin_fd : SPAWNP_NULL;
    sp.fd[1] = sp.fd[2] = out[1];
    if (extra != NULL) {
        size_t n = 0;
        while (environ[n])
            n++;
        envp = calloc(n + 2, sizeof(*envp));
        if (envp == NULL) {
            close(out[0]);
            close(out[1]);
            return w_err(err, "hook %s: out of memory", name);
        }
        memcpy(envp, environ, n * sizeof(*envp));
        envp[n] = (char *)extra;
        sp.envp = envp;
    }
    pid = spawnp_start(&sp, err);
    free(envp);
    close(out[1]);
    if (pid < 0) {
        close(out[0]);
        return w_errno(err, err->errnum, "hook %s: cannot run %s", name, path);
    }
    *outfd = out[0];
    return pid;
}

/* Pass a started hook's output on until it closes it, then its end. */
static int wait_hook(pid_t pid, int outfd, const char *name, struct w_error *err)
{
    char last[400];
    int status;

    pass_output(outfd, last, sizeof(last));
    close(outfd);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return w_errno(err, errno, "waitpid hook %s", name);
    return hook_status(name, status, last, err);
}

static int run_and_wait(const char *path, char *const argv[], const char *name, const char *extra,
                        int stdin_fd, struct w_error *err)
{
    int outfd;
    pid_t pid = start_hook(path, argv, name, extra, stdin_fd, &outfd, err);

    return pid < 0 ? -1 : wait_hook(pid, outfd, name, err);
}

/* A hook runner (src/lib/hookrun.h) started before its hook is due, so bash's start and
 * the libraries' parse happen while something else runs: parent-after-clone.sh's while
 * parent-before-clone.sh runs. (child-before-pivot.sh has none: it is due as soon as the
 * child exists.) out: the read end of its stdout and stderr. */
struct early {
    struct hookrun r;
    int out;
};

static void early_start(struct early *e, const char *hooks)
{
    struct w_error err;
    int out[2];

    e->r.pid = 0;
    e->r.req = e->r.keep = -1;
    e->out = -1;
    if (pipe2(out, O_CLOEXEC) < 0)
        return;
    if (hookrun_start(&e->r, hooks, environ, out[1], out[1], 0, &err) < 0) {
        close(out[0]); /* the hook is exec'd when due */
    } else {
        e->out = out[0];
    }
    close(out[1]);
}

/* Forget a runner without ending it: what the other side of clone() does with its
 * copies of the other's descriptors. */
static void early_close(struct early *e)
{
    hookrun_release(&e->r);
    if (e->out >= 0)
        close(e->out);
    e->out = -1;
}

/* Hand path to e: the runner's pid, with *outfd its output as start_hook gives them,
 * or 0 when e cannot take it (it is then ended and reaped: exec the hook instead). e's
 * socket stays open until early_close, after the hook's end. */
static pid_t early_take(struct early *e, const struct opts *o, const char *path, const char *extra,
                        int *outfd, struct w_error *err)
{
    char *const env[] = {(char *)extra, NULL};
    pid_t pid = e->r.pid;

    if (pid <= 0)
        return 0;
    if (access(path, X_OK) < 0 || !hookrun_current(&e->r, o->hooks) ||
        hookrun_send(&e->r, path, NULL, NULL, extra ? env : NULL, err) < 0) {
        hookrun_discard(&e->r);
        early_close(e);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return 0;
    }
    *outfd = e->out;
    e->out = -1; /* wait_hook closes it */
    return pid;
}

/* The zygote start.sh forked before it exec'd us (--zygote; zygote -c of
 * warden-builtins.so): a fork of the hook that had the libraries read, whose children
 * are ours (CLONE_PARENT) and become the hook they are sent. zyg.req -1: none. */
static struct hookrun zyg = {.req = -1, .keep = -1};
/* The last hook it forked: its request (a memfd, for a long one) open until the next. */
static struct hookrun zyg_last = {.req = -1, .keep = -1};

/* Fork path from the zygote: its pid with *outfd its output as start_hook gives them, or
 * 0 when it cannot (the zygote is then given up: exec the hook). */
static pid_t zygote_take(const char *path, const char *extra, int *outfd, struct w_error *err)
{
    char *const env[] = {(char *)extra, NULL};
    int out[2];

    hookrun_release(&zyg_last);
    if (zyg.req < 0 || access(path, X_OK) < 0 || pipe2(out, O_CLOEXEC) < 0)
        return 0;
    /* In our process group, as an exec'd hook: a kill of start.sh's group ends it. */
    if (hookrun_fork(&zyg, &zyg_last, 0, out[1], out[1], path, NULL, NULL, extra ? env : NULL,
                     err) < 0) {
        fprintf(stderr, "wshd: %s; hooks are exec'd\n", err->msg);
        close(out[0]);
        close(out[1]);
        close(zyg.req);
        zyg.req = -1;
        return 0;
    }
    close(out[1]);
    *outfd = out[0];
    return zyg_last.pid;
}

/* Start a hook of the hooks directory (argv[0] its name, extra "K=V" or NULL added to
 * our environment) without waiting for it: forked by the zygote, or in e if one was
 * started for it, or exec'd. */
static pid_t start_named_hook(const struct opts *o, const char *name, const char *extra,
                              struct early *e, int *outfd, struct w_error *err)
{
    char path[PATH_MAX];
    char *argv[] = {(char *)name, NULL};
    pid_t pid;

    if (snprintf(path, sizeof(path), "%s/%s", o->hooks, name) >= (int)sizeof(path))
        return w_err(err, "hook path too long");
    if ((pid = zygote_take(path, extra, outfd, err)) > 0)
        return pid;
    if (e != NULL && (pid = early_take(e, o, path, extra, outfd, err)) > 0)
        return pid;
    return start_hook(path, argv, name, extra, -1, outfd, err);
}

static int run_named_hook(const struct opts *o, const char *name, const char *extra,
                          struct early *e, struct w_error *err)
{
    int outfd, ret;
    pid_t pid = start_named_hook(o, name, extra, e, &outfd, err);

    if (pid < 0)
        return -1;
    ret = wait_hook(pid, outfd, name, err);
    if (e != NULL)
        early_close(e);
    return ret;
}

/* ---- child side: runs in the new namespaces ---- */

struct child_res {
    int jobs_fd, log_fd, devnull, listen_fd;
    char *after_pivot; /* content of child-after-pivot.sh */
};

/* A directory of the host as a detached mount of its own (a clone attached nowhere):
 * ".." at its top stays there, so neither this descriptor nor /proc/1/fd/N leads to the
 * rest of the host's tree (the runc CVE-2024-21626 family). Returns an O_RDONLY fd. */
static int open_detached(const char *dir, struct w_error *err)
{
    int tree = open_tree(AT_FDCWD, dir, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), fd;

    if (tree < 0)
        return w_errno(err, errno, "open_tree %s", dir);
    fd = openat(tree, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        w_errno(err, errno, "open %s", dir);
    close(tree);
    return fd;
}

/* What wshd keeps of the host: jobs/ and log/wshd.log, each reached only through a
 * detached mount of its directory. */
static int open_host_side(const struct opts *o, struct child_res *r, struct w_error *err)
{
    char path[PATH_MAX];
    size_t len;
    int log_dir;

    if (snprintf(path, sizeof(path), "%s/jobs", o->container) >= (int)sizeof(path))
        return w_err(err, "container path too long");
    if (mkdir(path, 0755) < 0 && errno != EEXIST)
        return w_errno(err, errno, "mkdir %s", path);
    if ((r->jobs_fd = open_detached(path, err)) < 0)
        return -1;
    if (snprintf(path, sizeof(path), "%s/log", o->container) >= (int)sizeof(path))
        return w_err(err, "container path too long");
    if ((log_dir = open_detached(path, err)) >= 0) {
        r->log_fd = openat(log_dir, "wshd.log", O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        close(log_dir);
    } /* no log: /dev/null, once we are in the container */
    if (snprintf(path, sizeof(path), "%s/child-after-pivot.sh", o->hooks) >= (int)sizeof(path))
        return w_err(err, "hooks path too long");
    r->after_pivot = util_read_file(AT_FDCWD, path, 1024 * 1024, &len, err);
    if (r->after_pivot == NULL && err->errnum == ENOENT)
        r->after_pivot = strdup(""); /* none: the container's /bin/sh is not started */
    if (r->after_pivot == NULL)
        return err->errnum == ENOENT ? w_err(err, "out of memory")
                                     : w_err_prefix(err, "hook child-after-pivot.sh");
    return 0;
}

static int listen_socket(const struct opts *o, struct child_res *r, struct w_error *err)
{
    char path[PATH_MAX];
    int fd;

    if (snprintf(path, sizeof(path), "%s/wshd.sock", o->run) >= (int)sizeof(path))
        return w_err(err, "socket path too long: %s/wshd.sock", o->run);
    fd = unixsock_listen(path, SOCK_SEQPACKET | SOCK_NONBLOCK, 0600, 128, err);
    if (fd < 0)
        return -1;
    r->listen_fd = fd;
    return 0;
}

static int do_pivot(const struct opts *o, struct child_res *r, struct w_error *err)
{
    /* pivot_root(".", ".") (pivot_root(2)): the old root ends up stacked on the new one
     * and is detached at once, so no directory is made in the new root, which may be
     * read-only already (create's read_only_root). */
    if (chdir(o->root) < 0)
        return w_errno(err, errno, "chdir %s", o->root);
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return w_errno(err, errno, "pivot_root %s", o->root);
    if (umount2(".", MNT_DETACH) < 0)
        return w_errno(err, errno, "umount the old root");
    if (chdir("/") < 0)
        return w_errno(err, errno, "chdir /");
    /* The container's own /dev/null (child-before-pivot.sh made it), not the host's. */
    if ((r->devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
        return w_errno(err, errno, "open /dev/null in the container");
    if (r->log_fd < 0 && (r->log_fd = fcntl(r->devnull, F_DUPFD_CLOEXEC, 3)) < 0)
        return w_errno(err, errno, "dup /dev/null");
    return 0;
}

/* Whether shell text S has a line that is neither blank nor a comment. */
static int has_commands(const char *s)
{
    while (*s != '\0') {
        s += strspn(s, " \t\r");
        if (*s != '\0' && *s != '\n' && *s != '#')
            return 1;
        s += strcspn(s, "\n");
        if (*s == '\n')
            s++;
    }
    return 0;
}

/* child-after-pivot.sh runs the container's /bin/sh, which comes with the rootfs: only
 * once the old root is gone and the bounding set is the container's, like a job. The
 * shipped one holds only comments: missing, or without a command, nothing runs (the
 * container's shell would cost a create about 1 ms for nothing). */
static int run_after_pivot(struct child_res *r, struct w_error *err)
{
    char *argv[] = {"sh", "-c", r->after_pivot, "child-after-pivot.sh", NULL};

    if (!has_commands(r->after_pivot))
        return 0;
    return run_and_wait("/bin/sh", argv, "child-after-pivot.sh", NULL, r->devnull, err);
}

/* With --userns, once the parent has written our uid_map and gid_map: become root of the
 * namespace (we are still the host's uid 0, which it does not map), so that what we and
 * the hooks create belongs to the container's root, an unprivileged host uid. The
 * capabilities stay (they are the namespace's own). */
static int become_userns_root(struct w_error *err)
{
    if (setresgid(0, 0, 0) < 0)
        return w_errno(err, errno, "setresgid 0 in the user namespace");
    if (setgroups(0, NULL) < 0)
        return w_errno(err, errno, "setgroups in the user namespace");
    if (setresuid(0, 0, 0) < 0)
        return w_errno(err, errno, "setresuid 0 in the user namespace");
    return 0;
}

/* The idmapped rootfs the parent made (only the host's root may): attach it at
 * <container>/overlay/lower in our mount namespace, for child-before-pivot.sh. */
static int attach_idmapped_lower(const struct opts *o, int sock, struct w_error *err)
{
    char path[PATH_MAX], c;
    int fd = -1, nfds = 1, ret;

    if (fdpass_recv(sock, &c, 1, &fd, &nfds, err) != 1 || nfds != 1) {
        if (fd >= 0)
            close(fd);
        return nfds == 1 ? w_err_prefix(err, "receive the idmapped rootfs")
                         : w_err(err, "receive the idmapped rootfs: no descriptor");
    }
    if (snprintf(path, sizeof(path), "%s/overlay/lower", o->container) >= (int)sizeof(path)) {
        close(fd);
        return w_err(err, "container path too long");
    }
    ret = move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH);
    if (ret < 0)
        w_errno(err, errno, "move_mount the idmapped %s on %s", o->idmap_lower, path);
    close(fd);
    return ret;
}

/* The parent's "go": parent-after-clone.sh has put us into the container's cgroups and
 * made the veth. Read once; *go_fd is -1 after. */
static int wait_go(int *go_fd, struct w_error *err)
{
    char c;
    ssize_t n;

    if (*go_fd < 0)
        return 0;
    do
        n = read(*go_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    close(*go_fd);
    *go_fd = -1;
    if (n != 1)
        return w_err(err, "parent died before the child could go on");
    return 0;
}

/* --after: open the pipe at our start, while its writer surely is there (the byte stays
 * once it is gone). Non-blocking only for the open: a pipe opened through /proc with no
 * writer left would wait for one. */
static int open_after(struct opts *o, struct w_error *err)
{
    struct stat st;
    int fd = open(o->after, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return w_errno(err, errno, "--after %s", o->after);
    if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode) || fcntl(fd, F_SETFL, 0) < 0) {
        close(fd);
        return w_err(err, "--after %s: not a pipe", o->after);
    }
    o->after_fd = fd;
    return 0;
}

/* Before clone(): wait for "G" on --after (setup.sh, which makes the container's
 * directory and may mount there, ran beside us; the child's mount namespace is a copy
 * of ours at clone); end of file without it: setup.sh failed, or what started us went
 * away. */
static int wait_after(struct opts *o, struct w_error *err)
{
    char c = 0;
    ssize_t n;

    if (o->after_fd < 0)
        return 0;
    do
        n = read(o->after_fd, &c, 1);
    while (n < 0 && errno == EINTR);
    close(o->after_fd);
    o->after_fd = -1;
    if (n != 1 || c != 'G')
        return w_err(err, "setup.sh did not finish (no go on --after %s)", o->after);
    return 0;
}

/* Everything the child does before "ready"; any failure goes back to the parent. Without
 * --userns, child-before-pivot.sh runs at once, concurrently with parent-after-clone.sh
 * (it works in our own mount namespace and waits itself for our end of the veth); we
 * wait for "go" only before the first process of the container's own, so that it starts
 * in the container's cgroups. With --userns we wait first: the parent writes our maps
 * before it says go, and we must be root of the namespace before any hook. */
static int child_setup(const struct opts *o, int *go_fd, int idmap_sock, struct child_res *r,
                       struct w_error *err)
{
    if (o->userns_root >= 0 && (wait_go(go_fd, err) < 0 || become_userns_root(err) < 0))
        return -1;
    /* No ptrace, no /proc/1/fd, /proc/1/environ or /proc/1/mem for anyone in the
     * container, root included (it lacks CAP_SYS_PTRACE); exec resets it in jobs. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return w_errno(err, errno, "prctl PR_SET_DUMPABLE");
    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return w_errno(err, errno, "make / rprivate");
    if (o->idmap_lower != NULL && attach_idmapped_lower(o, idmap_sock, err) < 0)
        return -1;
    if (idmap_sock >= 0)
        close(idmap_sock);
    if (run_named_hook(o, "child-before-pivot.sh", NULL, NULL, err) < 0)
        return -1;
    if (open_host_side(o, r, err) < 0 || listen_socket(o, r, err) < 0)
        return -1;
    if (do_pivot(o, r, err) < 0 || confine_bounding_set(o->caps, err) < 0 ||
        wait_go(go_fd, err) < 0 || run_after_pivot(r, err) < 0)
        return -1;
    free(r->after_pivot);
    r->after_pivot = NULL;
    if (setsid() < 0)
        return w_errno(err, errno, "setsid");
    if (dup2(r->devnull, STDIN_FILENO) < 0 || dup2(r->log_fd, STDOUT_FILENO) < 0 ||
        dup2(r->log_fd, STDERR_FILENO) < 0)
        return w_errno(err, errno, "redirect stdio to the log");
    close(r->log_fd);
    return 0;
}

static void __attribute__((noreturn))
child_main(const struct opts *o, int go_fd, int ready_fd, int idmap_sock)
{
    struct child_res r = {-1, -1, -1, -1, NULL};
    struct wshd_ctx ctx;
    struct w_error err;

    if (child_setup(o, &go_fd, idmap_sock, &r, &err) < 0) {
        char sock[PATH_MAX];
        struct w_error ignored;
        if (r.listen_fd >= 0 && snprintf(sock, sizeof(sock), "%s/wshd.sock", o->run) > 0)
            unlink(sock); /* the host still sees it unless pivot_root succeeded */
        dprintf(ready_fd, "E%s", err.msg);
        /* Alive until the parent is done with parent-after-clone.sh (it reads our
         * message then, and kills us), so that its hook does not fail for our death. */
        wait_go(&go_fd, &ignored);
        _exit(EXIT_SYSTEM);
    }
    setproctitle("-%s", o->title);
    prctl(PR_SET_PDEATHSIG, 0); /* from now on we outlive the parent */
    ctx.listen_fd = r.listen_fd;
    ctx.jobs_fd = r.jobs_fd;
    ctx.devnull = r.devnull;
    /* Once, on wshd itself: every job and copy child inherits it (confine.h). */
    if (o->seccomp && confine_seccomp(&err) < 0) {
        dprintf(ready_fd, "E%s", err.msg);
        _exit(EXIT_SYSTEM);
    }
    ctx.loop = loop_new();
    if (ctx.loop == NULL) {
        dprintf(ready_fd, "Eout of memory");
        _exit(EXIT_SYSTEM);
    }
    if (write(ready_fd, "R", 1) != 1)
        _exit(EXIT_SYSTEM);
    close(ready_fd);
    if (serve_run(&ctx, &err) < 0) {
        fprintf(stderr, "wshd: %s\n", err.msg);
        _exit(EXIT_SYSTEM);
    }
    _exit(0);
}

/* ---- parent side: host namespaces ---- */

/* The child's socket, once there is a child: a failed start removes it, as the child
 * may have bound it while parent-after-clone.sh still ran, and a killed child cannot. */
static char child_sock[PATH_MAX];
/* parent-before-clone.sh while it runs beside the clone (its pid, its output), or 0. */
static pid_t pbc_pid;
static int pbc_out = -1;

static void __attribute__((noreturn)) fail(pid_t child, const char *msg)
{
    if (pbc_pid > 0) { /* its cgroups must not come after destroy.sh's look */
        kill(pbc_pid, SIGKILL);
        while (waitpid(pbc_pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (child > 0) {
        kill(child, SIGKILL); /* pid 1 of its namespace: takes every process in it along */
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (child_sock[0] != '\0')
        unlink(child_sock);
    fprintf(stderr, "wshd: %s\n", msg);
    exit(EXIT_SYSTEM);
}

/* Read the child's answer: "R" (ready), "E<message>", or EOF (it died). */
static void wait_ready(pid_t child, int ready_fd)
{
    char buf[sizeof(((struct w_error *)0)->msg) + 2];
    size_t len = 0;
    ssize_t n;

    while (len < sizeof(buf) - 1) {
        n = read(ready_fd, buf + len, sizeof(buf) - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (buf[0] == 'R')
            return;
    }
    buf[len] = '\0';
    if (len > 1 && buf[0] == 'E')
        fail(child, buf + 1);
    {
        int status = 0;
        char msg[128];
        if (waitpid(child, &status, 0) == child && WIFSIGNALED(status))
            snprintf(msg, sizeof(msg), "container init killed by signal %d before it was ready",
                     WTERMSIG(status));
        else
            snprintf(msg, sizeof(msg), "container init exited with status %d before it was ready",
                     WEXITSTATUS(status));
        fail(0, msg);
    }
}

/* --userns: the child's uid_map and gid_map, container 0..USERNS_SIZE-1 at the host's
 * userns_root..; written by us, the host's root, so setgroups stays allowed inside. */
static int write_maps(const struct opts *o, pid_t child, struct w_error *err)
{
    static const char *const files[] = {"uid_map", "gid_map"};
    char path[64], line[64];
    int len = snprintf(line, sizeof(line), "0 %lld %d\n", o->userns_root, USERNS_SIZE);

    for (int i = 0; i < 2; i++) {
        int fd;

        snprintf(path, sizeof(path), "/proc/%d/%s", (int)child, files[i]);
        if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
            return w_errno(err, errno, "open %s", path);
        if (write(fd, line, (size_t)len) != len) {
            int e = errno;
            close(fd);
            return w_errno(err, e, "write %s", path);
        }
        close(fd);
    }
    return 0;
}

/* --idmap-lower: a detached clone of DIR whose owners are shifted by the child's user
 * namespace (host uid 0 shows as the container's 0), handed to the child, which attaches
 * it (see attach_idmapped_lower). Making it needs CAP_SYS_ADMIN over DIR's file system,
 * which only we have. */
static int send_idmapped_lower(const struct opts *o, pid_t child, int sock, struct w_error *err)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP};
    char path[64];
    int tree, ret = -1;

    snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)child);
    attr.userns_fd = (uint64_t)open(path, O_RDONLY | O_CLOEXEC);
    if ((int)attr.userns_fd < 0)
        return w_errno(err, errno, "open %s", path);
    tree = open_tree(AT_FDCWD, o->idmap_lower, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (tree < 0)
        w_errno(err, errno, "open_tree %s", o->idmap_lower);
    else if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
        w_errno(err, errno, "mount_setattr MOUNT_ATTR_IDMAP on %s", o->idmap_lower);
    else if (fdpass_send(sock, "L", 1, &tree, 1, err) == 0)
        ret = 0;
    if (tree >= 0)
        close(tree);
    close((int)attr.userns_fd);
    return ret;
}

static void write_pidfile(const struct opts *o, pid_t child)
{
    char path[PATH_MAX], buf[32];
    struct w_error err;
    int len = snprintf(buf, sizeof(buf), "%d\n", (int)child);

    if (snprintf(path, sizeof(path), "%s/wshd.pid", o->run) >= (int)sizeof(path))
        fail(child, "run path too long");
    if (util_write_file_atomic(AT_FDCWD, path, buf, (size_t)len, &err) < 0)
        fail(child, err.msg);
}

/* 1 if the hook NAME has the line LINE (a "# hook-runner: ..." promise) in its first
 * 8 KiB. */
static int hook_says(const struct opts *o, const char *name, const char *line)
{
    char path[PATH_MAX];

    return snprintf(path, sizeof(path), "%s/%s", o->hooks, name) < (int)sizeof(path) &&
           util_file_has_line(path, line, 8192);
}

int main(int argc, char **argv, char **envp)
{
    struct opts o = {0};
    struct early pac;
    struct w_error err;
    int go[2], ready[2], idmap[2] = {-1, -1}, outfd;
    char pidenv[32];
    pid_t child, pbc;

    setproctitle_init(argc, argv, envp);
    parse_args(argc, argv, &o);
    /* Whatever our starter leaked must not live on in the container: all but the
     * zygote's socket, which the container's side closes at once. */
    if (o.zygote > 3)
        close_range(3, (unsigned)o.zygote - 1, 0);
    closefrom(o.zygote >= 3 ? o.zygote + 1 : 3);
    if (o.zygote >= 3 && fcntl(o.zygote, F_SETFD, FD_CLOEXEC) == 0) {
        zyg.req = o.zygote;
        zyg.ready = 1;
    }
    if (o.devfilter != NULL) {
        int rc = devfilter_attach(o.devfilter, &err);

        if (rc < 0) {
            fprintf(stderr, "wshd: device filter: %s\n", err.msg);
            return EXIT_SYSTEM;
        }
        if (rc == 1)
            fprintf(stderr, "wshd: %s is not on a cgroup2 file system: no device filter\n",
                    o.devfilter);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    if (o.after != NULL && open_after(&o, &err) < 0)
        fail(0, err.msg);
    /* parent-before-clone.sh first, then the runner of parent-after-clone.sh, which
     * reads the libraries while the first runs; with the zygote both are its forks. */
    pbc = start_named_hook(&o, "parent-before-clone.sh", NULL, NULL, &outfd, &err);
    if (pbc < 0)
        fail(0, err.msg);
    pac.r.pid = 0;
    pac.r.req = pac.r.keep = pac.out = -1;
    if (zyg.req < 0)
        early_start(&pac, o.hooks);
    /* A parent-before-clone.sh that says so (the shipped one: the cgroups, which only
     * parent-after-clone.sh needs) runs beside the clone and child-before-pivot.sh. */
    if (hook_says(&o, "parent-before-clone.sh", "# hook-runner: beside clone")) {
        pbc_pid = pbc;
        pbc_out = outfd;
    } else if (wait_hook(pbc, outfd, "parent-before-clone.sh", &err) < 0) {
        fail(0, err.msg);
    }
    if (wait_after(&o, &err) < 0)
        fail(0, err.msg);
    if (pipe2(go, O_CLOEXEC) < 0 || pipe2(ready, O_CLOEXEC) < 0) {
        w_errno(&err, errno, "pipe2 for the child's go and ready");
        fail(0, err.msg);
    }
    if (o.idmap_lower != NULL && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, idmap) < 0) {
        w_errno(&err, errno, "socketpair for the idmapped rootfs");
        fail(0, err.msg);
    }
    if (snprintf(child_sock, sizeof(child_sock), "%s/wshd.sock", o.run) >= (int)sizeof(child_sock))
        child_sock[0] = '\0'; /* the child refuses such a path: nothing to remove */
    child = (pid_t)syscall(SYS_clone,
                           CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID | CLONE_NEWNET |
                               (o.userns_root >= 0 ? CLONE_NEWUSER : 0) | SIGCHLD,
                           NULL, NULL, NULL, 0);
    if (child < 0) {
        w_errno(&err, errno, "clone the container's init");
        fail(0, err.msg);
    }
    if (child == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* until ready: the parent's death is ours */
        early_close(&pac);
        if (zyg.req >= 0) /* a host-side shell is not the container's to reach */
            close(zyg.req);
        zyg.req = -1;
        hookrun_release(&zyg_last);
        close(go[1]);
        close(ready[0]);
        if (idmap[0] >= 0)
            close(idmap[0]);
        if (pbc_out >= 0) /* the parent's hook */
            close(pbc_out);
        pbc_pid = 0;
        pbc_out = -1;
        child_main(&o, go[0], ready[1], idmap[1]);
    }
    close(go[0]);
    close(ready[1]);
    if (idmap[1] >= 0)
        close(idmap[1]);
    if (o.userns_root >= 0 && write_maps(&o, child, &err) < 0)
        fail(child, err.msg);
    if (o.idmap_lower != NULL && send_idmapped_lower(&o, child, idmap[0], &err) < 0)
        fail(child, err.msg);
    if (idmap[0] >= 0)
        close(idmap[0]);
    if (pbc_pid > 0) { /* parent-after-clone.sh puts the child into its cgroups */
        int rc = wait_hook(pbc_pid, pbc_out, "parent-before-clone.sh", &err);

        pbc_pid = 0;
        pbc_out = -1;
        if (rc < 0)
            fail(child, err.msg);
    }
    snprintf(pidenv, sizeof(pidenv), "PID=%d", (int)child);
    if (run_named_hook(&o, "parent-after-clone.sh", pidenv, &pac, &err) < 0)
        fail(child, err.msg);
    if (write(go[1], "G", 1) != 1) {
        w_errno(&err, errno, "tell the child to go on");
        fail(child, err.msg);
    }
    close(go[1]);
    wait_ready(child, ready[0]);
    write_pidfile(&o, child);
    return 0;
}
