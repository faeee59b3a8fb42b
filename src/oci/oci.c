/* warden-oci (also `warden oci`): the OCI runtime command line as runc and crun
 * implement it, backed by wardend: create/start/state/kill/delete/run on a bundle. An
 * OCI container is a wardend container whose handle is the OCI id, with one job: the
 * config's process, started through the keeper (keeper.c). One-shot tool: errors go to
 * stderr and to --log, and end the command (exit 1; 100 usage; 111 wardend cannot be
 * reached). Runs as root on the host wardend runs on (it reads the depot). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "jsonh.h"
#include "oci.h"
#include "unixsock.h"
#include "util.h"

#define DEFAULT_ROOT "/run/warden-oci"

static const char *g_root = DEFAULT_ROOT, *g_log, *g_sock;
static int g_log_json;

/* One message to --log (text, or runc's JSON lines) and errors to stderr too; without
 * --log, warnings go to stderr. With --log they do not: an engine hands create the
 * container's own stderr, and a warning there would become the program's output. */
static void log_line(const char *level, const char *msg)
{
    char t[UTIL_TIME_ISO_MAX];
    FILE *f;

    if (strcmp(level, "error") == 0)
        fprintf(stderr, "warden-oci: %s\n", msg);
    else if (strcmp(level, "warning") == 0 && g_log == NULL)
        fprintf(stderr, "warden-oci: warning: %s\n", msg);
    if (g_log == NULL || (f = fopen(g_log, "ae")) == NULL)
        return;
    util_time_iso(t, NULL, 9);
    if (g_log_json) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "level", json_object_new_string(level));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        json_object_object_add(o, "time", json_object_new_string(t));
        fprintf(f, "%s\n", jsonh_str(o, NULL));
        json_object_put(o);
    } else {
        fprintf(f, "%s %s %s\n", t, level, msg);
    }
    fclose(f);
}

static void warn_cb(const char *msg)
{
    log_line("warning", msg);
}

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int status, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_line("error", msg);
    return status;
}

static int usage_error(const char *cmd, const char *why)
{
    return fail(EXIT_USAGE, "%s: %s (see warden-oci --help)", cmd, why);
}

struct json_object *oci_call(const char *sock, struct json_object *req, struct w_error *err)
{
    struct client c;
    struct json_object *reply = NULL, *payload = NULL;

    client_init(&c, sock);
    if (client_send(&c, req, err) == 0 && (reply = client_recv(&c, err)) != NULL &&
        client_reply(reply, &payload, err) == 0)
        payload = json_object_get(payload);
    else
        payload = NULL;
    json_object_put(reply);
    json_object_put(req);
    client_close(&c);
    free(c.path);
    free(c.buf);
    return payload;
}

static struct json_object *request(const char *name, const char *handle)
{
    struct json_object *r = json_object_new_array();

    json_object_array_add(r, json_object_new_string(name));
    if (handle)
        json_object_array_add(r, json_object_new_string(handle));
    return r;
}

static int parse_signal(const char *s)
{
    static const struct {
        const char *name;
        int sig;
    } names[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT},   {"KILL", SIGKILL},
                 {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2},   {"STOP", SIGSTOP},
                 {"CONT", SIGCONT}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH}, {"PIPE", SIGPIPE},
                 {"ABRT", SIGABRT}, {"TSTP", SIGTSTP}};
    char *end;
    long n;

    if (strncasecmp(s, "SIG", 3) == 0)
        s += 3;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(names[i].name, s) == 0)
            return names[i].sig;
    n = strtol(s, &end, 10);
    return (*s && *end == '\0' && n > 0 && n < NSIG) ? (int)n : -1;
}

/* The container's directory and state; an error status (printed) when it has none. */
static int open_state(const char *id, char *dir, size_t cap, struct oci_state *st)
{
    struct w_error err;

    if (state_dir(g_root, id, dir, cap, &err) < 0 || state_load(dir, st, &err) < 0)
        return fail(1, "%s", err.msg);
    if (g_sock == NULL)
        g_sock = st->socket;
    return 0;
}

static void rm_state_dir(const char *dir)
{
    static const char *const files[] = {"state.json", "job.json", "exec.fifo", "pid"};
    char path[PATH_MAX + 64];

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int write_pid_file(const char *path, pid_t pid, struct w_error *err)
{
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", (int)pid);

    return path ? util_write_file_atomic(AT_FDCWD, path, buf, (size_t)n, err) : 0;
}

/* End this process the way the job ended (the keeper), so its waiter sees the same. */
static int exit_like(int wstatus)
{
    if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        sigset_t set;
        signal(sig, SIG_DFL);
        sigemptyset(&set);
        sigaddset(&set, sig);
        sigprocmask(SIG_UNBLOCK, &set, NULL);
        raise(sig);
        return 128 + sig;
    }
    return WEXITSTATUS(wstatus);
}

/* ---- start ---- */

/* Let the keeper go (one byte on exec.fifo), then wait until the job runs (job.json)
 * or the keeper is gone, so that state says running once start returns. */
static int start_container(const char *dir, const struct oci_state *st)
{
    char fifo[PATH_MAX + 64], job[PATH_MAX + 64];
    enum oci_status s = state_status(dir, st);
    int fd;

    if (s != OCI_CREATED)
        return fail(1, "cannot start a container that is %s", state_status_name(s));
    snprintf(fifo, sizeof(fifo), "%s/exec.fifo", dir);
    snprintf(job, sizeof(job), "%s/job.json", dir);
    if ((fd = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0)
        return fail(1, "container %s: its keeper is not waiting on %s: %s", st->id, fifo,
                    strerror(errno));
    if (write(fd, "s", 1) != 1) {
        int e = errno;
        close(fd);
        return fail(1, "container %s: write %s: %s", st->id, fifo, strerror(e));
    }
    close(fd);
    for (int i = 0; i < 3000; i++) { /* 30 s: spawn answers within server.hook_timeout */
        if (access(job, F_OK) == 0)
            return 0;
        if (state_status(dir, st) == OCI_STOPPED)
            return fail(1, "container %s: its process ended before it ran (see stderr)", st->id);
        usleep(10000);
    }
    return fail(1, "container %s: its process did not start within 30 s", st->id);
}

/* ---- create and run ---- */

struct create_opts {
    const char *bundle, *pid_file, *console_socket;
    int detach;
};

static int parse_create(int argc, char **argv, struct create_opts *o, int run)
{
    static const struct option lo[] = {{"bundle", required_argument, NULL, 'b'},
                                       {"pid-file", required_argument, NULL, 'p'},
                                       {"console-socket", required_argument, NULL, 'c'},
                                       {"detach", no_argument, NULL, 'd'},
                                       {"no-pivot", no_argument, NULL, 'P'},
                                       {"no-new-keyring", no_argument, NULL, 'K'},
                                       {"preserve-fds", required_argument, NULL, 'f'},
                                       {0}};
    int ch;

    memset(o, 0, sizeof(*o));
    o->bundle = ".";
    optind = 1;
    while ((ch = getopt_long(argc, argv, "+b:d", lo, NULL)) != -1) {
        switch (ch) {
        case 'b':
            o->bundle = optarg;
            break;
        case 'p':
            o->pid_file = optarg;
            break;
        case 'c':
            o->console_socket = optarg;
            break;
        case 'd':
            if (!run)
                return usage_error(argv[0], "--detach is an option of run");
            o->detach = 1;
            break;
        case 'f':
            if (strcmp(optarg, "0") != 0)
                return usage_error(argv[0], "--preserve-fds: passing descriptors is not "
                                            "supported");
            break;
        case 'P': /* warden always pivots; asking not to is harmless */
        case 'K': /* no session keyring is made: nothing to skip */
            break;
        default:
            return usage_error(argv[0], "unknown option");
        }
    }
    if (argc - optind != 1)
        return usage_error(argv[0], "expected one container id");
    return 0;
}

/* The wardend container of id from the bundle's config. */
static int make_container(const char *id, const char *bundle, struct spec *s)
{
    struct json_object *cfg = json_object_get(s->create), *props = json_object_new_object(), *p;
    struct w_error err;

    json_object_object_add(cfg, "handle", json_object_new_string(id));
    json_object_object_add(cfg, "grace_time", NULL);
    json_object_object_add(props, "oci.bundle", json_object_new_string(bundle));
    json_object_object_add(cfg, "properties", props);
    p = request("create", NULL);
    json_object_array_add(p, cfg);
    if ((p = oci_call(g_sock, p, &err)) == NULL)
        return fail(err.errnum ? EXIT_SYS : 1, "create %s: %s", id, err.msg);
    json_object_put(p);
    return 0;
}

static void destroy_container(const char *id)
{
    struct w_error err;
    struct json_object *p = oci_call(g_sock, request("destroy", id), &err);

    if (p == NULL && strcmp(err.msg, "unknown handle") != 0)
        fail(1, "destroy %s: %s", id, err.msg);
    json_object_put(p);
}

/* process.terminal with --console-socket, as runc does it: a pty pair here, its master
 * sent to the socket (SCM_RIGHTS, the data its name), the slave kept (raw: the job's
 * own pty in the container does the line discipline) for the keeper to relay between
 * it and the job's pty. The slave, or -1 with err set. */
static int console_open(const char *path, const struct spec *s, struct w_error *err)
{
    struct termios t;
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    char name[64];
    int master, slave = -1, sock;

    if ((master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0)
        return w_errno(err, errno, "open /dev/ptmx");
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) ||
        (slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0) {
        w_errno(err, errno, "a pty for the console");
        goto fail;
    }
    if (tcgetattr(slave, &t) == 0) {
        cfmakeraw(&t);
        tcsetattr(slave, TCSANOW, &t);
    }
    if (s->rows > 0 && s->cols > 0)
        ws.ws_row = (unsigned short)s->rows, ws.ws_col = (unsigned short)s->cols;
    ioctl(master, TIOCSWINSZ, &ws);
    if ((sock = unixsock_connect(path, SOCK_STREAM, err)) < 0) {
        w_err_prefix(err, "--console-socket %s", path);
        goto fail;
    }
    if (fdpass_send(sock, name, strlen(name), &master, 1, err) < 0) {
        close(sock);
        w_err_prefix(err, "--console-socket %s", path);
        goto fail;
    }
    close(sock);
    close(master);
    return slave;
fail:
    close(master);
    if (slave >= 0)
        close(slave);
    return -1;
}

/* The keeper, forked by create: waits for start on exec.fifo, then runs the job. */
static void keeper_main(const char *dir, const char *id, struct spec *s, int ready)
{
    char fifo[PATH_MAX + 64], b;
    struct pollfd pfd;
    struct w_error err;
    int fd, st;

    signal(SIGPIPE, SIG_IGN);
    /* With a console: a session of our own with it as the controlling terminal, so that
     * the engine's resize of its master reaches us as SIGWINCH. */
    if (keeper_term_in >= 0 && (setsid() < 0 || ioctl(keeper_term_in, TIOCSCTTY, 0) < 0)) {
        char m[256];
        snprintf(m, sizeof(m),
                 "the console as controlling terminal: %s (resizes will not "
                 "reach the process)",
                 strerror(errno));
        warn_cb(m);
    }
    snprintf(fifo, sizeof(fifo), "%s/exec.fifo", dir);
    /* Open before saying ready, so start's non-blocking open finds a reader. */
    if ((fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        fail(1, "open %s: %s", fifo, strerror(errno));
        _exit(1);
    }
    if (write(ready, "r", 1) != 1)
        _exit(1);
    close(ready);
    pfd.fd = fd;
    pfd.events = POLLIN;
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
        ;
    if (read(fd, &b, 1) != 1)
        _exit(1); /* start never wrote: delete came first */
    close(fd);
    unlink(fifo);
    if ((st = keeper_run(g_sock, id, s, dir, &err)) < 0) {
        fail(1, "container %s: %s", id, err.msg);
        _exit(1);
    }
    _exit(exit_like(st));
}

static int do_create(int argc, char **argv, int run)
{
    struct create_opts o;
    struct oci_state st = {0};
    struct spec s;
    struct w_error err;
    char dir[PATH_MAX], fifo[PATH_MAX + 64], bundle[PATH_MAX];
    const char *id;
    int r, p[2], tty_raw = 0;
    pid_t pid;
    char b;

    if ((r = parse_create(argc, argv, &o, run)) != 0)
        return r;
    id = argv[optind];
    if (realpath(o.bundle, bundle) == NULL)
        return fail(1, "bundle %s: %s", o.bundle, strerror(errno));
    if (state_dir(g_root, id, dir, sizeof(dir), &err) < 0)
        return fail(1, "%s", err.msg);
    if (spec_load(bundle, &s, warn_cb, &err) < 0)
        return fail(1, "%s", err.msg);
    if (o.console_socket && !s.terminal) {
        spec_free(&s);
        return fail(1, "--console-socket given, but config.json process.terminal is false");
    }
    if (s.terminal && !o.console_socket && (!run || o.detach)) {
        spec_free(&s);
        return fail(1, "config.json process.terminal is true: --console-socket is needed (the "
                       "pty's master goes there)");
    }
    if (util_mkdir_p(g_root, 0700, &err) < 0) {
        spec_free(&s);
        return fail(1, "--root %s: %s", g_root, err.msg);
    }
    if (mkdir(dir, 0700) < 0) {
        r = errno;
        spec_free(&s);
        if (r == EEXIST)
            return fail(1, "container \"%s\" already exists", id);
        return fail(1, "mkdir %s: %s", dir, strerror(r));
    }
    if ((r = make_container(id, bundle, &s)) != 0) {
        rm_state_dir(dir);
        spec_free(&s);
        return r;
    }
    strlcpy(st.id, id, sizeof(st.id));
    strlcpy(st.bundle, bundle, sizeof(st.bundle));
    strlcpy(st.rootfs, s.rootfs, sizeof(st.rootfs));
    strlcpy(st.socket, g_sock, sizeof(st.socket));
    util_time_iso(st.created, NULL, 9);
    st.annotations = json_object_get(s.annotations);
    snprintf(fifo, sizeof(fifo), "%s/exec.fifo", dir);
    if (s.terminal && o.console_socket) {
        if ((keeper_term_in = console_open(o.console_socket, &s, &err)) < 0) {
            r = fail(1, "%s", err.msg);
            goto undo;
        }
        keeper_term_out = keeper_term_in;
    }
    if (!run || o.detach) {
        if (mkfifo(fifo, 0600) < 0 || pipe2(p, O_CLOEXEC) < 0) {
            r = fail(1, "exec.fifo: %s", strerror(errno));
            goto undo;
        }
        fflush(NULL);
        if ((pid = fork()) < 0) {
            r = fail(1, "fork: %s", strerror(errno));
            goto undo;
        }
        if (pid == 0) {
            close(p[0]);
            keeper_main(dir, id, &s, p[1]);
        }
        close(p[1]);
        if (keeper_term_in >= 0) /* the keeper's now */
            close(keeper_term_in);
        keeper_term_in = keeper_term_out = -1;
        r = (int)read(p[0], &b, 1);
        close(p[0]);
        if (r != 1) {
            r = fail(1, "container %s: its keeper died before it was ready", id);
            goto undo;
        }
        st.pid = pid;
        st.start = proc_start_time(pid);
        if (state_save(dir, &st, &err) < 0 || write_pid_file(o.pid_file, pid, &err) < 0) {
            kill(pid, SIGKILL);
            r = fail(1, "%s", err.msg);
            goto undo;
        }
        if (o.detach) { /* run --detach: create, then start */
            if (start_container(dir, &st) != 0) {
                r = 1;
                goto out;
            }
        }
        r = 0;
        goto out;
    }
    /* run in the foreground: this process is the keeper. */
    st.pid = getpid();
    st.start = proc_start_time(st.pid);
    if (state_save(dir, &st, &err) < 0 || write_pid_file(o.pid_file, st.pid, &err) < 0) {
        r = fail(1, "%s", err.msg);
        goto undo;
    }
    if (s.terminal && keeper_term_in < 0) {
        /* run in the foreground on a terminal, no console socket: ours, raw meanwhile */
        keeper_term_in = STDIN_FILENO, keeper_term_out = STDOUT_FILENO;
        tty_raw = util_tty_raw() == 0;
    }
    r = keeper_run(g_sock, id, &s, dir, &err);
    if (tty_raw)
        util_tty_restore();
    if (r < 0)
        r = fail(1, "container %s: %s", id, err.msg);
    else
        r = WIFSIGNALED(r) ? 128 + WTERMSIG(r) : WEXITSTATUS(r);
undo:
    destroy_container(id);
    rm_state_dir(dir);
out:
    state_free(&st);
    spec_free(&s);
    return r;
}

static int one_id(int argc, char **argv, const char *what)
{
    if (argc != 2 || argv[1][0] == '-')
        return usage_error(argv[0], what);
    return 0;
}

static int cmd_start(int argc, char **argv)
{
    struct oci_state st;
    char dir[PATH_MAX];
    int r;

    if ((r = one_id(argc, argv, "expected one container id")) != 0 ||
        (r = open_state(argv[1], dir, sizeof(dir), &st)) != 0)
        return r;
    r = start_container(dir, &st);
    state_free(&st);
    return r;
}

static int cmd_state(int argc, char **argv)
{
    struct oci_state st;
    struct json_object *o;
    char dir[PATH_MAX];
    enum oci_status s;
    int r;

    if ((r = one_id(argc, argv, "expected one container id")) != 0 ||
        (r = open_state(argv[1], dir, sizeof(dir), &st)) != 0)
        return r;
    s = state_status(dir, &st);
    o = json_object_new_object();
    json_object_object_add(o, "ociVersion", json_object_new_string(OCI_VERSION));
    json_object_object_add(o, "id", json_object_new_string(st.id));
    json_object_object_add(o, "pid", json_object_new_int(s == OCI_STOPPED ? 0 : st.pid));
    json_object_object_add(o, "status", json_object_new_string(state_status_name(s)));
    json_object_object_add(o, "bundle", json_object_new_string(st.bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st.rootfs));
    json_object_object_add(o, "created", json_object_new_string(st.created));
    json_object_object_add(o, "owner", json_object_new_string(""));
    json_object_object_add(o, "annotations", json_object_get(st.annotations));
    puts(json_object_to_json_string_ext(o,
                                        JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(o);
    state_free(&st);
    return 0;
}

static int cmd_kill(int argc, char **argv)
{
    static const struct option lo[] = {{"all", no_argument, NULL, 'a'}, {0}};
    struct oci_state st;
    char dir[PATH_MAX];
    enum oci_status s;
    int sig = SIGTERM, r, ch, all = 0;
    pid_t pid;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "+a", lo, NULL)) != -1) {
        if (ch != 'a')
            return usage_error("kill", "unknown option");
        all = 1; /* the job's process group: wshd starts each job as a group leader */
    }
    if (argc - optind < 1 || argc - optind > 2)
        return usage_error("kill", "expected a container id and an optional signal");
    if (argc - optind == 2 && (sig = parse_signal(argv[optind + 1])) < 0)
        return fail(1, "kill: unknown signal \"%s\"", argv[optind + 1]);
    if ((r = open_state(argv[optind], dir, sizeof(dir), &st)) != 0)
        return r;
    s = state_status(dir, &st);
    if (s == OCI_STOPPED || s == OCI_CREATING) {
        state_free(&st);
        return fail(1, "container %s is not running", argv[optind]);
    }
    /* Before start the keeper stands for the process; after, the job's host pid. */
    pid = s == OCI_RUNNING ? state_job_pid(dir) : st.pid;
    if (pid <= 0)
        pid = st.pid; /* the job has ended; the keeper is passing on its last output */
    else if (all && s == OCI_RUNNING)
        pid = -pid;
    state_free(&st);
    if (kill(pid, sig) < 0 && errno != ESRCH)
        return fail(1, "kill %d: %s", (int)pid, strerror(errno));
    return 0;
}

/* Kill the job and the keeper, bounded. */
static void end_processes(const char *dir, const struct oci_state *st)
{
    pid_t job = state_job_pid(dir);

    if (job > 0)
        kill(job, SIGKILL);
    if (state_status(dir, st) != OCI_STOPPED)
        kill(st->pid, SIGKILL);
    for (int i = 0; i < 1000 && st->pid > 0 && state_status(dir, st) != OCI_STOPPED; i++)
        usleep(10000);
}

static int cmd_delete(int argc, char **argv)
{
    static const struct option lo[] = {{"force", no_argument, NULL, 'f'}, {0}};
    struct oci_state st;
    struct w_error err;
    char dir[PATH_MAX];
    enum oci_status s;
    int force = 0, ch;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "+f", lo, NULL)) != -1) {
        if (ch != 'f')
            return usage_error("delete", "unknown option");
        force = 1;
    }
    if (argc - optind != 1)
        return usage_error("delete", "expected one container id");
    if (state_dir(g_root, argv[optind], dir, sizeof(dir), &err) < 0)
        return fail(1, "%s", err.msg);
    if (state_load(dir, &st, &err) < 0) {
        if (!force)
            return fail(1, "%s", err.msg);
        if (g_sock) /* a create that died part way: whatever wardend has of it */
            destroy_container(argv[optind]);
        rm_state_dir(dir);
        return 0;
    }
    if (g_sock == NULL)
        g_sock = st.socket;
    s = state_status(dir, &st);
    if (s == OCI_RUNNING && !force) {
        state_free(&st);
        return fail(1, "cannot delete container %s that is not stopped: running", argv[optind]);
    }
    end_processes(dir, &st);
    destroy_container(argv[optind]);
    rm_state_dir(dir);
    state_free(&st);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: warden-oci [--root DIR] [--log FILE] [--log-format text|json]\n"
            "                  [--socket PATH] COMMAND ...\n"
            "  create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID\n"
            "  start ID          state ID          kill [--all] ID [SIGNAL]\n"
            "  delete [--force] ID\n"
            "  run [--bundle DIR] [--pid-file FILE] [--detach] ID\n"
            "--root: state directory (default %s); --socket: wardend's socket (default\n"
            "$WARDEN_SOCKET, else %s; later commands use the one create used).\n"
            "exit status: 0 ok, 1 error, 100 usage, 111 wardend cannot be reached;\n"
            "run exits with the process's status (128+N after signal N)\n",
            DEFAULT_ROOT, DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"root", required_argument, NULL, 'r'},
                                       {"log", required_argument, NULL, 'l'},
                                       {"log-format", required_argument, NULL, 'F'},
                                       {"socket", required_argument, NULL, 's'},
                                       {"debug", no_argument, NULL, 'D'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"version", no_argument, NULL, 'v'},
                                       {0}};
    const char *cmd;
    int ch;

    while ((ch = getopt_long(argc, argv, "+hv", lo, NULL)) != -1) {
        switch (ch) {
        case 'r':
            g_root = optarg;
            break;
        case 'l':
            g_log = optarg;
            break;
        case 'F':
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0)
                return usage_error("--log-format", "must be text or json");
            g_log_json = strcmp(optarg, "json") == 0;
            break;
        case 's':
            g_sock = optarg;
            break;
        case 'D':
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'v':
            printf("warden-oci version %s\nspec: %s\n", PACKAGE_VERSION, OCI_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind == argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[optind];
    if (g_sock == NULL && strcmp(cmd, "delete") == 0)
        g_sock = getenv("WARDEN_SOCKET");
    argc -= optind;
    argv += optind;
    if (strcmp(cmd, "create") == 0 || strcmp(cmd, "run") == 0) {
        if (g_sock == NULL && (g_sock = getenv("WARDEN_SOCKET")) == NULL)
            g_sock = DEFAULT_SOCKET;
        return do_create(argc, argv, strcmp(cmd, "run") == 0);
    }
    if (strcmp(cmd, "start") == 0)
        return cmd_start(argc, argv);
    if (strcmp(cmd, "state") == 0)
        return cmd_state(argc, argv);
    if (strcmp(cmd, "kill") == 0)
        return cmd_kill(argc, argv);
    if (strcmp(cmd, "delete") == 0)
        return cmd_delete(argc, argv);
    if (strcmp(cmd, "version") == 0) {
        printf("warden-oci version %s\nspec: %s\n", PACKAGE_VERSION, OCI_VERSION);
        return 0;
    }
    return usage_error(cmd, "not a command warden-oci implements (create, start, state, kill, "
                            "delete, run)");
}
