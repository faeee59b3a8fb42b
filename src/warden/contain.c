/* warden contain (also installed as `contain`): run one program in a throwaway
 * container as if it ran here. Runs in the warden CLI, as root (it talks to the
 * container's wshd directly, like wsh):
 *   1. create on wardend with grace_time 0, so the daemon destroys the container as soon
 *      as this connection closes (kill -9 of this process included);
 *   2. exec PROG through the container's wshd, passing our own stdin, stdout and stderr
 *      (or, when stdin is a terminal, a pty whose bytes we copy, our terminal raw);
 *   3. forward INT TERM HUP QUIT USR1 USR2 (and window size changes) until wshd says
 *      how PROG ended; destroy; exit with PROG's status, or 128+N for signal N.
 * Exit status: PROG's; 100 usage (the message names the option); 111 cannot talk to
 * wardend or wshd; 1 wardend refused (e.g. create failed). */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "jsonh.h"
#include "util.h"
#include "wshd_proto.h"

#define MAX_CPUS 4096

static const char contain_usage[] =
    "[--chroot|--rootfs DIR] [--memory-limit SIZE] [--cpu-core-ids|--cpu-coreids LIST]\n"
    "       [--network-address ADDR[/LEN]] [--bind SRC:DST[:ro|rw]]... [--env K=V]...\n"
    "       [--privileged] -- PROG [ARG...]";
static const char contain_help[] =
    "run PROG in a throwaway container as if it ran here: your stdin, stdout, stderr\n"
    "  (or terminal), signals forwarded, its exit status (128+N for signal N); the\n"
    "  container is destroyed on every exit path. SIZE: bytes, or N with K, KB, M, MB, G,\n"
    "  GB (powers of 1024). LIST: CPUs like 0,2-3. Also `contain chroot DIR ... -- PROG`,\n"
    "  and -flag for --flag. Exit: PROG's status, 100 usage, 111 system failure, 1 refused.";

struct contain {
    const char *rootfs;
    long long mem;
    const char *cpus;
    char address[48];
    int privileged;
    struct json_object *binds, *env; /* owned */
    char **prog;
    const char *name; /* "warden contain" or "contain", for messages */
};

static int usage_error(const struct contain *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const struct contain *o, const char *fmt, ...)
{
    va_list ap;

    if (fmt) {
        fprintf(stderr, "%s: ", o->name);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    fprintf(stderr, "usage: %s %s\n", o->name, contain_usage);
    return EXIT_USAGE;
}

static void complain(const struct contain *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void complain(const struct contain *o, const char *fmt, ...)
{
    va_list ap;

    util_tty_restore();
    fprintf(stderr, "%s: ", o->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* ---- option values ---- */

/* Bytes, or a number with K, KB, M, MB, G, GB (powers of 1024, any case). */
static int parse_size(const char *s, long long *out)
{
    static const struct {
        const char *suffix;
        int shift;
    } units[] = {{"", 0}, {"k", 10}, {"kb", 10}, {"m", 20}, {"mb", 20}, {"g", 30}, {"gb", 30}};
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcasecmp(end, units[i].suffix) == 0) {
            if (v == 0 || v > (unsigned long long)LLONG_MAX >> units[i].shift)
                return -1;
            *out = (long long)(v << units[i].shift);
            return 0;
        }
    return -1;
}

/* A CPU list like 0,2-3 into a bitmap; -1 when malformed. */
static int parse_cpus(const char *s, unsigned char *set)
{
    const char *p = s;

    memset(set, 0, MAX_CPUS);
    if (*p == '\0')
        return -1;
    while (*p) {
        char *end;
        long lo, hi;
        if (*p < '0' || *p > '9')
            return -1;
        lo = hi = strtol(p, &end, 10);
        if (*end == '-') {
            if (end[1] < '0' || end[1] > '9')
                return -1;
            hi = strtol(end + 1, &end, 10);
        }
        if (lo > hi || hi >= MAX_CPUS)
            return -1;
        for (long c = lo; c <= hi; c++)
            set[c] = 1;
        if (*end == ',' && end[1] != '\0')
            end++;
        else if (*end != '\0')
            return -1;
        p = end;
    }
    return 0;
}

static int check_cpus(const struct contain *o, const char *list)
{
    static unsigned char want[MAX_CPUS], online[MAX_CPUS];
    struct w_error err;
    char *text;

    if (parse_cpus(list, want) < 0)
        return usage_error(o, "--cpu-core-ids: \"%s\" is not a CPU list like 0,2-3", list);
    text = util_read_file(AT_FDCWD, "/sys/devices/system/cpu/online", 4096, NULL, &err);
    if (text == NULL)
        return 0; /* cannot tell here: the daemon's cgroup write will */
    text[strcspn(text, "\n")] = '\0';
    if (parse_cpus(text, online) == 0)
        for (int c = 0; c < MAX_CPUS; c++)
            if (want[c] && !online[c]) {
                usage_error(o, "--cpu-core-ids: CPU %d is not online (online: %s)", c, text);
                free(text);
                return EXIT_USAGE;
            }
    free(text);
    return 0;
}

/* ADDR[/LEN] into "ADDR/LEN" (LEN 32 when absent). */
static int parse_address(const char *s, char *out, size_t size)
{
    char buf[48], *slash;
    struct in_addr a;
    long len = 32;

    if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
        return -1;
    if ((slash = strchr(buf, '/')) != NULL) {
        char *end;
        *slash++ = '\0';
        if (*slash < '0' || *slash > '9')
            return -1;
        len = strtol(slash, &end, 10);
        if (*end || len < 1 || len > 32)
            return -1;
    }
    if (inet_pton(AF_INET, buf, &a) != 1)
        return -1;
    inet_ntop(AF_INET, &a, buf, sizeof(buf)); /* at most 15 bytes now */
    return snprintf(out, size, "%.15s/%ld", buf, len) < (int)size ? 0 : -1;
}

static int add_bind(struct json_object *binds, const char *spec)
{
    char buf[PATH_MAX * 2 + 8], *dst, *mode;
    struct json_object *b, *m;

    if (strlcpy(buf, spec, sizeof(buf)) >= sizeof(buf) || (dst = strchr(buf, ':')) == NULL)
        return -1;
    *dst++ = '\0';
    if ((mode = strchr(dst, ':')) != NULL) {
        *mode++ = '\0';
        if (strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
            return -1;
    }
    if (buf[0] != '/' || dst[0] != '/')
        return -1;
    b = json_object_new_array();
    json_object_array_add(b, json_object_new_string(buf));
    json_object_array_add(b, json_object_new_string(dst));
    m = json_object_new_object();
    json_object_object_add(m, "mode", json_object_new_string(mode ? mode : "ro"));
    json_object_array_add(b, m);
    json_object_array_add(binds, b);
    return 0;
}

/* ---- arguments ---- */

static int parse_args(struct contain *o, struct client *c, int argc, char **argv)
{
    enum { ROOTFS = CLI_O_FIRST, MEM, CPUS, ADDR, BIND, ENV, PRIV, BRIDGE, SOCKET };
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"chroot", required_argument, NULL, ROOTFS},
                                       {"rootfs", required_argument, NULL, ROOTFS},
                                       {"memory-limit", required_argument, NULL, MEM},
                                       {"cpu-core-ids", required_argument, NULL, CPUS},
                                       {"cpu-coreids", required_argument, NULL, CPUS},
                                       {"network-address", required_argument, NULL, ADDR},
                                       {"bind", required_argument, NULL, BIND},
                                       {"env", required_argument, NULL, ENV},
                                       {"privileged", no_argument, NULL, PRIV},
                                       {"bridge", required_argument, NULL, BRIDGE},
                                       {"socket", required_argument, NULL, SOCKET},
                                       {0}};
    struct stat st;
    int ch, r;

    /* The seed's form: contain chroot DIR [options] -- PROG */
    if (argc > 2 && strcmp(argv[1], "chroot") == 0) {
        o->rootfs = argv[2];
        argv[2] = argv[0];
        argv += 2;
        argc -= 2;
    }
    for (optind = 0, opterr = 1; (ch = getopt_long_only(argc, argv, "+h", lo, NULL)) != -1;) {
        switch (ch) {
        case 'h':
            printf("usage: %s %s\n  %s\n", o->name, contain_usage, contain_help);
            return -1;
        case ROOTFS:
            o->rootfs = optarg;
            break;
        case MEM:
            if (parse_size(optarg, &o->mem) < 0)
                return usage_error(o,
                                   "--memory-limit: \"%s\" is not a size (bytes, or a number "
                                   "with K, KB, M, MB, G, GB)",
                                   optarg);
            break;
        case CPUS:
            if ((r = check_cpus(o, optarg)) != 0)
                return r;
            o->cpus = optarg;
            break;
        case ADDR:
            if (parse_address(optarg, o->address, sizeof(o->address)) < 0)
                return usage_error(o, "--network-address: \"%s\" is not ADDRESS[/PREFIX]", optarg);
            break;
        case BIND:
            if (add_bind(o->binds, optarg) < 0)
                return usage_error(o, "--bind: \"%s\" is not SRC:DST[:ro|rw] (absolute paths)",
                                   optarg);
            break;
        case ENV:
            if (cli_add_kv(o->env, optarg, 0) < 0)
                return usage_error(o, "--env: \"%s\" is not K=V", optarg);
            break;
        case PRIV:
            o->privileged = 1;
            break;
        case BRIDGE: /* the seed's: containers of one subnet meet through the host here */
            break;
        case SOCKET:
            free(c->path);
            c->path = strdup(optarg);
            break;
        default:
            return usage_error(o, NULL);
        }
    }
    if (optind < 1 || strcmp(argv[optind - 1], "--") != 0) {
        if (optind < argc)
            return usage_error(o, "\"%s\": options end with -- before PROG", argv[optind]);
        return usage_error(o, "missing -- PROG");
    }
    if (optind >= argc)
        return usage_error(o, "no PROG after --");
    if (o->rootfs && (stat(o->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)))
        return usage_error(o, "--chroot: %s is not a directory", o->rootfs);
    o->prog = argv + optind;
    return 0;
}

/* ---- talking to wardend ---- */

static struct json_object *create_request(const struct contain *o)
{
    struct json_object *req = cli_request("create"), *cfg = json_object_new_object();

    json_object_object_add(cfg, "grace_time", json_object_new_int(0));
    if (o->rootfs) {
        char path[PATH_MAX];
        json_object_object_add(
            cfg, "rootfs", json_object_new_string(realpath(o->rootfs, path) ? path : o->rootfs));
    }
    if (json_object_array_length(o->binds) > 0)
        json_object_object_add(cfg, "bind_mounts", json_object_get(o->binds));
    if (o->mem || o->cpus) {
        struct json_object *l = json_object_new_object();
        if (o->mem)
            json_object_object_add(l, "mem", json_object_new_int64(o->mem));
        if (o->cpus)
            json_object_object_add(l, "cpuset", json_object_new_string(o->cpus));
        json_object_object_add(cfg, "limits", l);
    }
    if (o->address[0])
        json_object_object_add(cfg, "network_address", json_object_new_string(o->address));
    json_object_array_add(req, cfg);
    return req;
}

/* One request, one reply: 0 with *payload (a new reference), else an exit status. */
static int call(const struct contain *o, struct client *c, struct json_object *req,
                struct json_object **payload)
{
    struct json_object *reply, *p;
    struct w_error err;
    int r = client_send(c, req, &err);

    json_object_put(req);
    *payload = NULL;
    if (r < 0 || (reply = client_recv(c, &err)) == NULL) {
        complain(o, "%s", err.msg);
        return EXIT_SYS;
    }
    r = client_reply(reply, &p, &err);
    if (r == 0)
        *payload = json_object_get(p);
    else
        complain(o, "%s", err.msg);
    json_object_put(reply);
    return r == 0 ? 0 : r > 0 ? EXIT_ERRREPLY : EXIT_SYS;
}

static int destroy(const struct contain *o, struct client *c, const char *handle)
{
    struct json_object *req = cli_request("destroy"), *p;
    int r;

    cli_add_str(req, handle);
    r = call(o, c, req, &p);
    json_object_put(p);
    return r;
}

/* ---- running PROG through wshd ---- */

static int send_op(int sock, const char *op, const char *k1, int v1, const char *k2, int v2)
{
    struct json_object *m = json_object_new_object();
    struct w_error err;
    int r;

    json_object_object_add(m, "op", json_object_new_string(op));
    json_object_object_add(m, k1, json_object_new_int(v1));
    if (k2)
        json_object_object_add(m, k2, json_object_new_int(v2));
    r = wshd_send(sock, m, NULL, 0, &err);
    json_object_put(m);
    return r;
}

static void send_winsize(int sock)
{
    struct winsize ws;

    if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        send_op(sock, "winsize", "rows", ws.ws_row, "cols", ws.ws_col);
}

/* Until wshd reports the end: forward signals, copy the pty. Returns the exit status
 * to use, or -1 (message printed) when wshd went away. */
static int wait_prog(const struct contain *o, int sock, int master, int sfd)
{
    struct pollfd p[4] = {{.fd = sock, .events = POLLIN},
                          {.fd = sfd, .events = POLLIN},
                          {.fd = master, .events = POLLIN},
                          {.fd = master >= 0 ? STDIN_FILENO : -1, .events = POLLIN}};
    struct w_error err;

    for (;;) {
        if (poll(p, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            complain(o, "poll: %s", strerror(errno));
            return -1;
        }
        if (p[2].revents && !util_copy_once(master, STDOUT_FILENO))
            p[2].fd = -1;
        if (p[3].revents && !util_copy_once(STDIN_FILENO, master))
            p[3].fd = -1;
        if (p[1].revents) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGWINCH)
                    send_winsize(sock);
                else
                    send_op(sock, "signal", "signal", (int)si.ssi_signo, NULL, 0);
            }
        }
        if (p[0].revents) {
            struct json_object *m = wshd_recv(sock, NULL, NULL, &err), *v;
            int code = -2;
            if (m == NULL) {
                complain(o, "wshd: %s", err.errnum == EPIPE ? "closed before PROG ended" : err.msg);
                return -1;
            }
            if ((v = jsonh_get(m, "exit")) != NULL && json_object_is_type(v, json_type_int))
                code = json_object_get_int(v) & 0xff;
            else if ((v = jsonh_get(m, "signal")) != NULL && json_object_is_type(v, json_type_int))
                code = 128 + json_object_get_int(v);
            else if ((v = jsonh_get(m, "error")) != NULL) {
                complain(o, "wshd: %s", json_object_get_string(v));
                code = -1;
            }
            json_object_put(m);
            if (code >= 0 && master >= 0) /* what PROG wrote before it ended */
                while (p[2].fd >= 0 && poll(&p[2], 1, 0) > 0 &&
                       util_copy_once(master, STDOUT_FILENO))
                    ;
            if (code != -2)
                return code;
        }
    }
}

static struct json_object *exec_request(const struct contain *o, int tty)
{
    struct json_object *req = json_object_new_object(), *argv = json_object_new_array();

    json_object_object_add(req, "op", json_object_new_string("exec"));
    for (char **p = o->prog; *p; p++)
        json_object_array_add(argv, json_object_new_string(*p));
    json_object_object_add(req, "argv", argv);
    json_object_object_add(req, "user", json_object_new_string(o->privileged ? "root" : "vcap"));
    json_object_object_add(req, "env", json_object_get(o->env));
    if (tty) {
        struct winsize ws;
        const char *term = getenv("TERM");
        json_object_object_add(req, "pty", json_object_new_boolean(1));
        if (term)
            json_object_object_add(req, "term", json_object_new_string(term));
        if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col) {
            json_object_object_add(req, "rows", json_object_new_int(ws.ws_row));
            json_object_object_add(req, "cols", json_object_new_int(ws.ws_col));
        }
    }
    return req;
}

/* Start PROG in the container at path and wait for it; returns its status or -1. */
static int run_prog(const struct contain *o, const char *path, int sfd)
{
    static const int std[3] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO};
    char sock_path[PATH_MAX + 32];
    struct json_object *req, *reply, *v;
    struct w_error err;
    int tty = isatty(STDIN_FILENO), sock, fds[1], nfds = 1, code = -1, master = -1;

    snprintf(sock_path, sizeof(sock_path), "%s/run/wshd.sock", path);
    if ((sock = wshd_connect(sock_path, 0, &err)) < 0) {
        complain(o, "%s", err.msg);
        return -1;
    }
    req = exec_request(o, tty);
    if (wshd_send(sock, req, tty ? NULL : std, tty ? 0 : 3, &err) < 0) {
        complain(o, "%s", err.msg);
        goto out;
    }
    if ((reply = wshd_recv(sock, fds, &nfds, &err)) == NULL) {
        complain(o, "wshd: %s", err.msg);
        goto out;
    }
    if ((v = jsonh_get(reply, "error")) != NULL) {
        complain(o, "wshd: %s", json_object_get_string(v));
        json_object_put(reply);
        goto out;
    }
    json_object_put(reply);
    if (tty && nfds == 1) {
        master = fds[0];
        util_tty_raw();
    }
    code = wait_prog(o, sock, master, sfd);
    util_tty_restore();
out:
    json_object_put(req);
    if (master >= 0)
        close(master);
    close(sock);
    return code;
}

static int contain_run(struct contain *o, struct client *c)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
    struct json_object *handle = NULL, *info = NULL, *req;
    char h[256];
    sigset_t set;
    int sfd, r, code;

    /* Signals wait in the signalfd from here on: one that arrives during create is
     * forwarded once PROG runs (or, before that, ends us through destroy below). */
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&set, sigs[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if ((sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        complain(o, "signalfd: %s", strerror(errno));
        return EXIT_SYS;
    }
    signal(SIGPIPE, SIG_IGN);
    if ((r = call(o, c, create_request(o), &handle)) != 0) {
        close(sfd);
        return r;
    }
    strlcpy(h, json_object_get_string(handle), sizeof(h));
    json_object_put(handle);
    req = cli_request("info");
    cli_add_str(req, h);
    if ((r = call(o, c, req, &info)) != 0) {
        destroy(o, c, h);
        close(sfd);
        return r;
    }
    code = run_prog(o, jsonh_get_str(info, "container_path", ""), sfd);
    json_object_put(info);
    close(sfd);
    r = destroy(o, c, h);
    if (code < 0)
        return EXIT_SYS;
    return r == EXIT_SYS ? EXIT_SYS : code;
}

int cli_contain(struct client *c, int argc, char **argv, int seed_name)
{
    struct contain o = {.name = seed_name ? "contain" : "warden contain"};
    int r;

    o.binds = json_object_new_array();
    o.env = json_object_new_object();
    r = parse_args(&o, c, argc, argv);
    if (r == 0)
        r = contain_run(&o, c);
    else if (r < 0)
        r = 0; /* --help */
    json_object_put(o.binds);
    json_object_put(o.env);
    return r;
}

int cli_cmd_contain(struct client *c, int argc, char **argv)
{
    return cli_contain(c, argc, argv, 0);
}
