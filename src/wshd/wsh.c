/* wsh: host-side client of a container's wshd. With a command it runs it with wsh's own
 * stdin, stdout and stderr (passed as descriptors) and exits with its exit code; without
 * one it opens the user's login shell on a pty, with the local terminal in raw mode.
 * Exit codes: the process's exit code; 255 if it was killed by a signal or the
 * connection failed; 100 usage. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>

#include "jsonh.h"
#include "util.h"
#include "wshd_proto.h"

#define EXIT_USAGE 100
#define EXIT_SYSTEM 111   /* wsh's own failures: connection, refusal */
#define EXIT_NOSTATUS 255 /* the process has no exit status (a signal ended it) */

static void __attribute__((noreturn)) die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static void die(const char *fmt, ...)
{
    va_list ap;

    util_tty_restore();
    fputs("wsh: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_SYSTEM);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: wsh --socket PATH [--user NAME] [--env K=V]... [--rlimit NAME=N]...\n"
               "           [--] [CMD ARGS...]\n"
               "       wsh --help | --version\n"
               "Without CMD: an interactive login shell on a pty.\n");
}

struct opts {
    const char *socket, *user;
    struct json_object *env, *rlimits;
    char **cmd;
};

static void add_kv(struct json_object *obj, const char *arg, const char *what, int integer)
{
    const char *eq = strchr(arg, '=');
    char key[256];

    if (eq == NULL || eq == arg || (size_t)(eq - arg) >= sizeof(key)) {
        fprintf(stderr, "wsh: --%s wants NAME=VALUE, got \"%s\"\n", what, arg);
        exit(EXIT_USAGE);
    }
    memcpy(key, arg, (size_t)(eq - arg));
    key[eq - arg] = '\0';
    if (integer) {
        char *end;
        long long v;
        errno = 0;
        v = strtoll(eq + 1, &end, 10);
        if (errno || end == eq + 1 || *end || v < 0) {
            fprintf(stderr, "wsh: --rlimit %s: not a number >= 0\n", key);
            exit(EXIT_USAGE);
        }
        json_object_object_add(obj, key, json_object_new_int64(v));
    } else {
        json_object_object_add(obj, key, json_object_new_string(eq + 1));
    }
}

static void parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"socket", required_argument, NULL, 's'},
        {"user", required_argument, NULL, 'u'},
        {"env", required_argument, NULL, 'e'},
        {"rlimit", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int c;

    o->env = json_object_new_object();
    o->rlimits = json_object_new_object();
    /* "+": options end at the first non-option, so `wsh -s S ls -l` works. */
    while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
        switch (c) {
        case 's':
            o->socket = optarg;
            break;
        case 'u':
            o->user = optarg;
            break;
        case 'e':
            add_kv(o->env, optarg, "env", 0);
            break;
        case 'r':
            add_kv(o->rlimits, optarg, "rlimit", 1);
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("wsh %s\n", PACKAGE_VERSION);
            exit(0);
        default:
            usage(stderr);
            exit(EXIT_USAGE);
        }
    }
    if (o->socket == NULL) {
        usage(stderr);
        exit(EXIT_USAGE);
    }
    o->cmd = optind < argc ? argv + optind : NULL;
}

static struct json_object *exec_request(const struct opts *o)
{
    struct json_object *req = json_object_new_object();

    json_object_object_add(req, "op", json_object_new_string("exec"));
    if (o->cmd) {
        struct json_object *a = json_object_new_array();
        for (char **p = o->cmd; *p; p++)
            json_object_array_add(a, json_object_new_string(*p));
        json_object_object_add(req, "argv", a);
    }
    if (o->user)
        json_object_object_add(req, "user", json_object_new_string(o->user));
    json_object_object_add(req, "env", json_object_get(o->env));
    json_object_object_add(req, "rlimits", json_object_get(o->rlimits));
    return req;
}

static void send_msg(int sock, struct json_object *msg)
{
    struct w_error err;

    if (wshd_send(sock, msg, NULL, 0, &err) < 0)
        die("%s", err.msg);
    json_object_put(msg);
}

static void send_signal(int sock, int sig)
{
    struct json_object *m = json_object_new_object();

    json_object_object_add(m, "op", json_object_new_string("signal"));
    json_object_object_add(m, "signal", json_object_new_int(sig));
    send_msg(sock, m);
}

static void send_winsize(int sock)
{
    struct winsize ws;
    struct json_object *m;

    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
        return;
    m = json_object_new_object();
    json_object_object_add(m, "op", json_object_new_string("winsize"));
    json_object_object_add(m, "rows", json_object_new_int(ws.ws_row));
    json_object_object_add(m, "cols", json_object_new_int(ws.ws_col));
    send_msg(sock, m);
}

/* A message from wshd while the process runs: returns the exit code to use, or -1. */
static int handle_msg(struct json_object *m)
{
    struct json_object *v;

    if ((v = jsonh_get(m, "exit")) != NULL && json_object_is_type(v, json_type_int))
        return json_object_get_int(v) & 0xff;
    if (jsonh_get(m, "signal") != NULL)
        return EXIT_NOSTATUS;
    if ((v = jsonh_get(m, "error")) != NULL)
        die("%s", json_object_get_string(v));
    return -1;
}

static int recv_msg(int sock, int *fds, int *nfds, struct json_object **out)
{
    struct w_error err;

    *out = wshd_recv(sock, fds, nfds, &err);
    if (*out == NULL)
        die("%s",
            err.errnum == EPIPE ? "connection to wshd closed before the process ended" : err.msg);
    return 0;
}

static int block_signals(const int *sigs, int n)
{
    sigset_t set;
    int fd;

    sigemptyset(&set);
    for (int i = 0; i < n; i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        die("signalfd: %s", strerror(errno));
    return fd;
}

/* Wait for the end of the process; master (pty mode) is copied to stdout meanwhile and
 * stdin to master. Signals are forwarded; SIGWINCH sends the window size. */
static int run_loop(int sock, int master, int sfd)
{
    struct pollfd p[4] = {
        {.fd = sock, .events = POLLIN},
        {.fd = sfd, .events = POLLIN},
        {.fd = master, .events = POLLIN},
        {.fd = master >= 0 ? STDIN_FILENO : -1, .events = POLLIN},
    };

    for (;;) {
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            die("poll: %s", strerror(errno));
        }
        if (p[2].revents && !util_copy_once(master, STDOUT_FILENO))
            p[2].fd = -1; /* EIO: every slave is closed; the exit message follows */
        if (p[3].revents && !util_copy_once(STDIN_FILENO, master))
            p[3].fd = -1; /* the terminal went away: keep waiting for the shell */
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGWINCH)
                    send_winsize(sock);
                else
                    send_signal(sock, (int)si.ssi_signo);
            }
        }
        if (p[0].revents) {
            struct json_object *m;
            int code;
            recv_msg(sock, NULL, NULL, &m);
            code = handle_msg(m);
            json_object_put(m);
            if (code >= 0) {
                if (master >= 0) /* what the process wrote before it ended */
                    while (p[2].fd >= 0 && poll(&p[2], 1, 0) > 0 &&
                           util_copy_once(master, STDOUT_FILENO))
                        ;
                return code;
            }
        }
    }
}

static void raw_mode(void)
{
    if (util_tty_raw() == 0)
        atexit(util_tty_restore);
}

int main(int argc, char **argv)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    struct opts o = {0};
    struct w_error err;
    struct json_object *req, *reply, *v;
    int sock, sfd, master = -1, fds[1], nfds = 0, code;

    parse_args(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    sfd = block_signals(sigs, 5);
    if ((sock = wshd_connect(o.socket, 0, &err)) < 0)
        die("%s", err.msg);
    req = exec_request(&o);
    json_object_put(o.env); /* the request holds them now */
    json_object_put(o.rlimits);
    /* A login shell gets a pty only when we have a terminal (like ssh): with input from
     * a pipe or file it reads our stdin directly and ends at its EOF. */
    if (o.cmd == NULL && isatty(STDIN_FILENO)) {
        struct winsize ws;
        const char *term = getenv("TERM");
        json_object_object_add(req, "pty", json_object_new_boolean(1));
        if (term)
            json_object_object_add(req, "term", json_object_new_string(term));
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            json_object_object_add(req, "rows", json_object_new_int(ws.ws_row));
            json_object_object_add(req, "cols", json_object_new_int(ws.ws_col));
        }
        if (wshd_send(sock, req, NULL, 0, &err) < 0)
            die("%s", err.msg);
        nfds = 1;
    } else {
        static const int std[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
        if (wshd_send(sock, req, std, 3, &err) < 0)
            die("%s", err.msg);
    }
    json_object_put(req);
    recv_msg(sock, fds, &nfds, &reply);
    if ((v = jsonh_get(reply, "error")) != NULL)
        die("%s", json_object_get_string(v));
    if (o.cmd == NULL && isatty(STDIN_FILENO)) {
        if (nfds != 1)
            die("wshd sent no pty");
        master = fds[0];
        raw_mode();
    }
    json_object_put(reply);
    code = run_loop(sock, master, sfd);
    util_tty_restore();
    return code;
}
