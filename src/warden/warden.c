/* warden: command-line client of wardend. Parses `warden [-s SOCKET] [--json] COMMAND
 * ARGS...`, turns each command into one protocol request and prints the reply readably
 * (or raw with --json). Runs as any user that can open the socket. This file holds main,
 * the command table and the container commands; jobs.c the job commands; request.c
 * request building and reply printing. */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jsonh.h"
#include "util.h"

#ifndef WARDEN_SOCKET
#define WARDEN_SOCKET "/run/warden/warden.sock"
#endif
#define DEFAULT_SOCKET WARDEN_SOCKET

int cli_json; /* --json: print raw payloads */

/* One entry of the command table. */
struct cli_cmd {
    const char *name;
    int (*fn)(struct client *c, int argc, char **argv);
    const char *usage; /* after "warden NAME " */
    const char *help;
};

void warden_complain(const char *fmt, ...)
{
    va_list ap;

    fflush(stdout);
    fputs("warden: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_show_help(const struct cli_cmd *cmd)
{
    printf("usage: warden %s %s\n  %s\n", cmd->name, cmd->usage, cmd->help);
    return 0;
}

int cli_usage_error(const struct cli_cmd *cmd, const char *why)
{
    if (why != NULL)
        warden_complain("%s", why);
    fprintf(stderr, "usage: warden %s %s\n", cmd->name, cmd->usage);
    return EXIT_USAGE;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash ? slash + 1 : path;
}

static int parse_ll(const char *s, long long *out)
{
    char *end;

    errno = 0;
    *out = strtoll(s, &end, 10);
    return (*s == '\0' || *end != '\0' || errno != 0) ? -1 : 0;
}

/* ---- commands ---- */

static int cmd_noargs(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int ch;

    CLI_FOR_OPTS(argc, argv, "+h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (optind != argc)
        return cli_usage_error(cmd, "too many arguments");
    return cli_simple(c, cli_request(argv[0]));
}

/* Commands that take only a handle: destroy, info. */
static int cmd_handle(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    struct json_object *req;
    int ch;

    CLI_FOR_OPTS(argc, argv, "+h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind != 1)
        return cli_usage_error(cmd, "expected one handle");
    req = cli_request(argv[0]);
    cli_add_str(req, argv[optind]);
    return cli_simple(c, req);
}

static int cmd_echo(struct client *c, int argc, char **argv)
{
    struct json_object *req = cli_request("echo");
    char *msg = NULL;
    size_t len = 0;
    FILE *f;

    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        json_object_put(req);
        return cli_show_help(cli_find_cmd("echo"));
    }
    f = open_memstream(&msg, &len);
    for (int i = 1; f != NULL && i < argc; i++)
        fprintf(f, "%s%s", i > 1 ? " " : "", argv[i]);
    if (f == NULL || fclose(f) != 0) {
        json_object_put(req);
        warden_complain("out of memory");
        return EXIT_SYS;
    }
    cli_add_str(req, msg);
    free(msg);
    return cli_simple(c, req);
}

static int parse_bind_mount(struct json_object *arr, const char *spec)
{
    char buf[PATH_MAX * 2 + 8];
    char *src = buf, *dst, *mode;
    struct json_object *m;

    if (strlcpy(buf, spec, sizeof(buf)) >= sizeof(buf) || (dst = strchr(buf, ':')) == NULL)
        return -1;
    *dst++ = '\0';
    mode = strchr(dst, ':');
    if (mode != NULL)
        *mode++ = '\0';
    if (mode != NULL && strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
        return -1;
    m = json_object_new_array();
    json_object_array_add(m, json_object_new_string(src));
    json_object_array_add(m, json_object_new_string(dst));
    if (mode != NULL) { /* without one the server mounts read-write */
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "mode", json_object_new_string(mode));
        json_object_array_add(m, o);
    }
    json_object_array_add(arr, m);
    return 0;
}

/* A size (64M, 1G, bytes) as a JSON integer, or NULL when s is not one. */
static struct json_object *size_value(const char *s)
{
    unsigned long long n;

    if (util_parse_size(s, &n) < 0 || n > (unsigned long long)LLONG_MAX)
        return NULL;
    return json_object_new_int64((long long)n);
}

#define SIZE_HELP "a size (bytes, or a number with K, M, G or T: powers of 1024)"

/* --limit-bandwidth RATE,BURST */
static int parse_bandwidth(struct json_object *limits, const char *s)
{
    char buf[64];
    char *comma;
    unsigned long long rate, burst;
    struct json_object *o;

    if (strlcpy(buf, s, sizeof(buf)) >= sizeof(buf) || (comma = strchr(buf, ',')) == NULL)
        return -1;
    *comma = '\0';
    if (util_parse_size(buf, &rate) < 0 || util_parse_size(comma + 1, &burst) < 0 ||
        rate > LLONG_MAX || burst > LLONG_MAX)
        return -1;
    o = json_object_new_object();
    json_object_object_add(o, "rate", json_object_new_int64((long long)rate));
    json_object_object_add(o, "burst", json_object_new_int64((long long)burst));
    json_object_object_add(limits, "bandwidth", o);
    return 0;
}

static int cmd_create(struct client *c, int argc, char **argv)
{
    enum {
        HANDLE = CLI_O_FIRST,
        GRACE,
        NOGRACE,
        NET,
        ROOTFS,
        BIND,
        DISK,
        PROP,
        LMEM,
        LDISK,
        LCPU,
        LCPUSET,
        LBW
    };
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"handle", required_argument, NULL, HANDLE},
                                       {"grace-time", required_argument, NULL, GRACE},
                                       {"no-grace-time", no_argument, NULL, NOGRACE},
                                       {"network", required_argument, NULL, NET},
                                       {"rootfs", required_argument, NULL, ROOTFS},
                                       {"bind-mount", required_argument, NULL, BIND},
                                       {"disk-size-mb", required_argument, NULL, DISK},
                                       {"property", required_argument, NULL, PROP},
                                       {"limit-mem", required_argument, NULL, LMEM},
                                       {"limit-disk", required_argument, NULL, LDISK},
                                       {"limit-cpu", required_argument, NULL, LCPU},
                                       {"limit-cpuset", required_argument, NULL, LCPUSET},
                                       {"limit-bandwidth", required_argument, NULL, LBW},
                                       {0}};
    const struct cli_cmd *cmd = cli_find_cmd("create");
    struct json_object *cfg = json_object_new_object(), *req;
    const char *bad = NULL;
    long long n;
    int ch;

    CLI_FOR_OPTS(argc, argv, "h", lo, ch)
    {
        switch (ch) {
        case 'h':
            json_object_put(cfg);
            return cli_show_help(cmd);
        case HANDLE:
            json_object_object_add(cfg, "handle", json_object_new_string(optarg));
            break;
        case NOGRACE:
            json_object_object_add(cfg, "grace_time", NULL);
            break;
        case GRACE: {
            char *end;
            double d = strtod(optarg, &end);
            if (*optarg == '\0' || *end != '\0' || !isfinite(d) || d < 0)
                bad = "--grace-time wants a number of seconds";
            else if (d == floor(d) && d < 1e15)
                json_object_object_add(cfg, "grace_time", json_object_new_int64((long long)d));
            else
                json_object_object_add(cfg, "grace_time", json_object_new_double(d));
            break;
        }
        case NET:
            json_object_object_add(cfg, "network", json_object_new_string(optarg));
            break;
        case ROOTFS:
            json_object_object_add(cfg, "rootfs", json_object_new_string(optarg));
            break;
        case BIND: {
            struct json_object *arr = jsonh_get(cfg, "bind_mounts");
            if (arr == NULL) {
                arr = json_object_new_array();
                json_object_object_add(cfg, "bind_mounts", arr);
            }
            if (parse_bind_mount(arr, optarg) < 0)
                bad = "--bind-mount wants SRC:DST[:ro|rw]";
            break;
        }
        case DISK:
            if (parse_ll(optarg, &n) < 0)
                bad = "--disk-size-mb wants an integer";
            else
                json_object_object_add(cfg, "disk_size_mb", json_object_new_int64(n));
            break;
        case PROP:
            if (cli_add_kv(cli_sub_object(cfg, "properties"), optarg, 0) < 0)
                bad = "--property wants KEY=VALUE";
            break;
        case LMEM:
        case LDISK: {
            struct json_object *v = size_value(optarg);
            if (v == NULL)
                bad = ch == LMEM ? "--limit-mem wants " SIZE_HELP : "--limit-disk wants " SIZE_HELP;
            else
                json_object_object_add(cli_sub_object(cfg, "limits"), ch == LMEM ? "mem" : "disk",
                                       v);
            break;
        }
        case LCPU:
            if (parse_ll(optarg, &n) < 0)
                bad = "--limit-cpu wants an integer (shares, 2..262144)";
            else
                json_object_object_add(cli_sub_object(cfg, "limits"), "cpu",
                                       json_object_new_int64(n));
            break;
        case LCPUSET:
            json_object_object_add(cli_sub_object(cfg, "limits"), "cpuset",
                                   json_object_new_string(optarg));
            break;
        case LBW:
            if (parse_bandwidth(cli_sub_object(cfg, "limits"), optarg) < 0)
                bad = "--limit-bandwidth wants RATE,BURST (bytes/s,bytes)";
            break;
        default:
            bad = "";
            break;
        }
        if (bad != NULL) {
            json_object_put(cfg);
            return cli_usage_error(cmd, *bad ? bad : NULL);
        }
    }
    if (optind != argc) {
        json_object_put(cfg);
        return cli_usage_error(cmd, "too many arguments");
    }
    req = cli_request("create");
    if (json_object_object_length(cfg) > 0)
        json_object_array_add(req, cfg);
    else
        json_object_put(cfg);
    return cli_simple(c, req);
}

static int cmd_stop(struct client *c, int argc, char **argv)
{
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"kill", no_argument, NULL, 'k'},
                                       {"background", no_argument, NULL, 'b'},
                                       {0}};
    const struct cli_cmd *cmd = cli_find_cmd("stop");
    struct json_object *opts = json_object_new_object(), *req;
    int ch;

    CLI_FOR_OPTS(argc, argv, "hkb", lo, ch)
    {
        if (ch == 'k' || ch == 'b') {
            json_object_object_add(opts, ch == 'k' ? "kill" : "background",
                                   json_object_new_boolean(1));
            continue;
        }
        json_object_put(opts);
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind != 1) {
        json_object_put(opts);
        return cli_usage_error(cmd, "expected one handle");
    }
    req = cli_request("stop");
    cli_add_str(req, argv[optind]);
    if (json_object_object_length(opts) > 0)
        json_object_array_add(req, opts);
    else
        json_object_put(opts);
    return cli_simple(c, req);
}

/* limit H NAME [VALUE...]: mem, disk and bandwidth take sizes (64M), cpu a number,
 * cpuset a string; another name goes as it is, for the server to refuse. */
static int cmd_limit(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd("limit");
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    struct json_object *req, *v;
    const char *name;
    char why[128];
    int ch, sizes;

    CLI_FOR_OPTS(argc, argv, "+h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind < 2 || argc - optind > 4)
        return cli_usage_error(cmd, "expected a handle, a limit name and its value(s)");
    name = argv[optind + 1];
    sizes = strcmp(name, "mem") == 0 || strcmp(name, "disk") == 0 || strcmp(name, "bandwidth") == 0;
    if (strcmp(name, "bandwidth") == 0 && argc - optind == 3)
        return cli_usage_error(cmd, "bandwidth wants RATE and BURST (bytes/s, bytes)");
    req = cli_request("limit");
    cli_add_str(req, argv[optind]);
    cli_add_str(req, name);
    for (int i = optind + 2; i < argc; i++) {
        if (strcmp(name, "cpuset") == 0)
            v = json_object_new_string(argv[i]);
        else if (sizes)
            v = size_value(argv[i]);
        else
            v = cli_num_or_str(argv[i]);
        if (v == NULL) {
            json_object_put(req);
            snprintf(why, sizeof(why), "%s: '%s' is not %s", name, argv[i], SIZE_HELP);
            return cli_usage_error(cmd, why);
        }
        json_object_array_add(req, v);
    }
    return cli_simple(c, req);
}

static int cmd_net(struct client *c, int argc, char **argv)
{
    enum { PROTO = CLI_O_FIRST, LOG };
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"protocol", required_argument, NULL, PROTO},
                                       {"log", no_argument, NULL, LOG},
                                       {0}};
    const struct cli_cmd *cmd = cli_find_cmd("net");
    struct json_object *opts = json_object_new_object(), *req;
    int ch, nargs;

    CLI_FOR_OPTS(argc, argv, "h", lo, ch)
    {
        if (ch == PROTO || ch == LOG) {
            json_object_object_add(opts, ch == PROTO ? "protocol" : "log",
                                   ch == PROTO ? json_object_new_string(optarg)
                                               : json_object_new_boolean(1));
            continue;
        }
        json_object_put(opts);
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    nargs = argc - optind;
    if (nargs < 2 || nargs > 4) {
        json_object_put(opts);
        return cli_usage_error(cmd, "expected a handle, in|out and their arguments");
    }
    req = cli_request("net");
    cli_add_str(req, argv[optind]);
    cli_add_str(req, argv[optind + 1]);
    if (strcmp(argv[optind + 1], "out") == 0) {
        for (int i = optind + 2; i < argc; i++)
            cli_add_str(req, argv[i]);
        if (json_object_object_length(opts) > 0) {
            json_object_array_add(req, opts);
            opts = NULL;
        }
    } else {
        for (int i = optind + 2; i < argc; i++)
            json_object_array_add(req, cli_num_or_str(argv[i]));
    }
    json_object_put(opts);
    return cli_simple(c, req);
}

static int cmd_copy(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd("copy");
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    struct json_object *req;
    int ch;

    CLI_FOR_OPTS(argc, argv, "+h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind < 4 || argc - optind > 5)
        return cli_usage_error(cmd, "expected a handle, in|out, SRC and DST");
    req = cli_request("copy");
    for (int i = optind; i < argc; i++) {
        /* The host path (SRC in, DST out) is the caller's: relative to our directory. */
        int host = i - optind == (strcmp(argv[optind + 1], "out") == 0 ? 3 : 2);
        char cwd[PATH_MAX], *abs = NULL;

        if (host && argv[i][0] != '/' && argv[i][0] != '\0' && getcwd(cwd, sizeof(cwd)) &&
            asprintf(&abs, "%s/%s", strcmp(cwd, "/") == 0 ? "" : cwd, argv[i]) >= 0) {
            cli_add_str(req, abs);
            free(abs);
        } else {
            cli_add_str(req, argv[i]);
        }
    }
    return cli_simple(c, req);
}

static int cmd_list(struct client *c, int argc, char **argv)
{
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'}, {"property", required_argument, NULL, 'p'}, {0}};
    const struct cli_cmd *cmd = cli_find_cmd("list");
    struct json_object *props = json_object_new_object(), *req, *o;
    int ch;

    CLI_FOR_OPTS(argc, argv, "hp:", lo, ch)
    {
        if (ch == 'p' && cli_add_kv(props, optarg, 0) == 0)
            continue;
        json_object_put(props);
        if (ch == 'h')
            return cli_show_help(cmd);
        return cli_usage_error(cmd, ch == 'p' ? "--property wants KEY=VALUE" : NULL);
    }
    if (optind != argc) {
        json_object_put(props);
        return cli_usage_error(cmd, "too many arguments");
    }
    req = cli_request("list");
    if (json_object_object_length(props) > 0) {
        o = json_object_new_object();
        json_object_object_add(o, "properties", props);
        json_object_array_add(req, o);
    } else {
        json_object_put(props);
    }
    return cli_simple(c, req);
}

/* raw LINE: send the line as-is and print the reply payload(s) as JSON. */
static int cmd_raw(struct client *c, int argc, char **argv)
{
    struct json_object *req, *reply, *payload;
    struct w_error err;
    int multi = 0, r;

    if (argc != 2)
        return cli_usage_error(cli_find_cmd("raw"), "expected one request line");
    if (strcmp(argv[1], "--help") == 0)
        return cli_show_help(cli_find_cmd("raw"));
    req = jsonh_parse(argv[1], strlen(argv[1]), &err);
    if (req != NULL && json_object_is_type(req, json_type_array)) {
        const char *name = json_object_get_string(json_object_array_get_idx(req, 0));
        if (json_object_array_length(req) == 0) {
            json_object_put(req); /* the server sends no reply to [] */
            if (client_send_line(c, argv[1], strlen(argv[1]), &err) < 0) {
                warden_complain("%s", err.msg);
                return EXIT_SYS;
            }
            return 0;
        }
        multi = name != NULL && strcmp(name, "stream") == 0;
    }
    json_object_put(req);
    if (client_send_line(c, argv[1], strlen(argv[1]), &err) < 0) {
        warden_complain("%s", err.msg);
        return EXIT_SYS;
    }
    do {
        if ((reply = client_recv(c, &err)) == NULL) {
            warden_complain("%s", err.msg);
            return client_exit_status(&err);
        }
        r = client_reply(reply, &payload, &err);
        if (r == 0)
            puts(jsonh_str(payload, NULL));
        else
            warden_complain("%s", err.msg);
        fflush(stdout);
        multi = multi && r == 0 && json_object_is_type(payload, json_type_array) &&
                json_object_array_length(payload) > 0;
        json_object_put(reply);
    } while (multi);
    /* A raw line may be one the server answers and then hangs up on (not JSON, too
     * large): start the prompt's next command on a fresh connection. */
    if (r != 0)
        client_close(c);
    return r == 0 ? 0 : r > 0 ? EXIT_ERRREPLY : EXIT_BUG;
}

static int cmd_help(struct client *c, int argc, char **argv);

static const struct cli_cmd cmds[] = {
    {"ping", cmd_noargs, "", "check that the server answers (prints pong)"},
    {"echo", cmd_echo, "MESSAGE...", "the server echoes MESSAGE back"},
    {"create", cmd_create,
     "[--handle H] [--grace-time S|--no-grace-time] [--network IP] [--rootfs PATH]\n"
     "       [--bind-mount SRC:DST[:ro|rw]]... [--disk-size-mb N] [--property K=V]...\n"
     "       [--limit-mem SIZE] [--limit-disk SIZE] [--limit-cpu SHARES]\n"
     "       [--limit-cpuset CPUS] [--limit-bandwidth RATE,BURST]\n"
     "  SIZE, RATE, BURST: bytes, or a number with K, M, G, T (64M, 1G: powers of 1024)",
     "create a container, print its handle"},
    {"stop", cmd_stop, "HANDLE [--kill] [--background]", "stop every process in a container"},
    {"destroy", cmd_handle, "HANDLE", "stop and remove a container"},
    {"spawn", cli_cmd_spawn,
     "HANDLE SCRIPT|- [-i|--stdin] [-t|--tty] [--privileged] [--env K=V]...\n"
     "       [--rlimit NAME=N]... [--discard-output] [--output base64] [--log-tag TAG]\n"
     "  -i, -t: the job's stdin is a pipe, or it runs on a pty; `warden stdin` and\n"
     "  `warden resize` feed and size it",
     "start SCRIPT with /bin/sh in the container, print the job id"},
    {"link", cli_cmd_link_or_stream, "HANDLE JOB",
     "wait for a job, print its output, exit with its status"},
    {"run", cli_cmd_run,
     "HANDLE SCRIPT|- [-i|--stdin] [-t|--tty] [--privileged] [--env K=V]...\n"
     "       [--rlimit NAME=N]... [--discard-output] [--output base64] [--log-tag TAG]\n"
     "  -i: our stdin is the job's (EOF closes it); -t: the job runs on a pty of our\n"
     "  window size, our terminal raw meanwhile",
     "spawn, print the output live, exit with the job's status (255: none)"},
    {"stream", cli_cmd_link_or_stream, "HANDLE JOB", "print a job's output as it arrives"},
    {"signal", cli_cmd_signal, "HANDLE JOB SIG",
     "send a running job's process group SIG (TERM, KILL, HUP, INT, ... or a number)"},
    {"stdin", cli_cmd_stdin, "HANDLE JOB [--data TEXT] [--eof]",
     "write our stdin (or TEXT), byte for byte, to a job's; --eof then closes it"},
    {"resize", cli_cmd_resize, "HANDLE JOB ROWS COLS",
     "set the window size of a job spawned with -t"},
    {"limit", cmd_limit,
     "HANDLE mem|disk [SIZE] | HANDLE cpu [SHARES] | HANDLE cpuset [CPUS]\n"
     "       | HANDLE bandwidth [RATE BURST]",
     "get or set a resource limit (sizes like 64M, 1G; rate in bytes/s)"},
    {"net", cmd_net, "HANDLE in [CPORT [HPORT]] | HANDLE out SPEC [--protocol P] [--log]",
     "forward a host port in, or allow traffic out"},
    {"copy", cmd_copy, "HANDLE in|out SRC DST [OWNER]", "copy files in or out"},
    {"info", cmd_handle, "HANDLE", "show a container's state, limits and stats"},
    {"list", cmd_list, "[--property K=V]...", "list container handles"},
    {"contain", cli_cmd_contain,
     "[--chroot|--rootfs DIR] [--memory-limit SIZE] [--cpu-core-ids LIST]\n"
     "       [--network-address ADDR[/LEN]] [--bind SRC:DST[:ro|rw]]... [--env K=V]...\n"
     "       [--privileged] -- PROG [ARG...]",
     "run PROG in a throwaway container as if it ran here (--help: details)"},
    {"bulk_info", cli_cmd_bulk_info, "[HANDLE...]", "info of many containers (all by default)"},
    {"events", cli_cmd_events, "[--count N]", "print one line per event until interrupted (or N)"},
    {"raw", cmd_raw, "'[\"COMMAND\",ARG...]'", "send one request line as-is, print the payload(s)"},
    {"help", cmd_help, "[COMMAND]", "list commands, or show one command's usage"},
};

const struct cli_cmd *cli_find_cmd(const char *name)
{
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

const struct cli_cmd *cli_cmd_at(size_t i)
{
    return i < sizeof(cmds) / sizeof(cmds[0]) ? &cmds[i] : NULL;
}

const char *cli_cmd_name(const struct cli_cmd *cmd)
{
    return cmd->name;
}

const char *cli_cmd_usage(const struct cli_cmd *cmd)
{
    return cmd->usage;
}

void warden_print_commands(void)
{
    puts("commands:");
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
        printf("  %-8s %s\n", cmds[i].name, cmds[i].help);
    puts("`warden COMMAND --help` shows a command's options.");
}

static int cmd_help(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd;

    (void)c;
    if (argc < 2) {
        warden_print_commands();
        return 0;
    }
    if ((cmd = cli_find_cmd(argv[1])) == NULL) {
        warden_complain("unknown command \"%s\"", argv[1]);
        return EXIT_USAGE;
    }
    return cli_show_help(cmd);
}

int warden_command(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);

    if (cmd == NULL) {
        warden_complain("unknown command \"%s\" (try `warden help`)", argv[0]);
        return EXIT_USAGE;
    }
    return cmd->fn(c, argc, argv);
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: warden [-s SOCKET] [--json] COMMAND [ARGS...]\n"
        "       warden [-s SOCKET] [--json]      (interactive prompt)\n"
        "  -s, --socket PATH  wardend socket (default $WARDEN_SOCKET, else %s)\n"
        "  -j, --json         print reply payloads as raw JSON\n"
        "  -h, --help         this help;  -V, --version  the version\n"
        "exit status: 0 ok, 1 error reply, 100 usage, 101 malformed reply, 111 cannot connect;\n"
        "run and link exit with the job's status (255 when it has none)\n",
        DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {{"socket", required_argument, NULL, 's'},
                                       {"json", no_argument, NULL, 'j'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"version", no_argument, NULL, 'V'},
                                       {0}};
    const char *sock = getenv("WARDEN_SOCKET");
    struct client c;
    int ch, r;

    if (sock == NULL || *sock == '\0')
        sock = DEFAULT_SOCKET;
    /* Installed as `contain` too: the one-shot executor with the seed's syntax. */
    if (strcmp(base_name(argv[0]), "contain") == 0) {
        client_init(&c, sock);
        r = cli_contain(&c, argc, argv, 1);
        client_close(&c);
        free(c.path);
        free(c.buf);
        return r;
    }
    /* "+": options end at the command name; each command parses its own. */
    while ((ch = getopt_long(argc, argv, "+s:jhV", lo, NULL)) != -1) {
        switch (ch) {
        case 's':
            sock = optarg;
            break;
        case 'j':
            cli_json = 1;
            break;
        case 'h':
            usage(stdout);
            warden_print_commands();
            return 0;
        case 'V':
            printf("warden %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    /* A stream brings a reply of a few hundred KiB per line: keep freed memory for the
     * next one instead of mapping and faulting in fresh pages each time. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    if (optind < argc && strcmp(argv[optind], "oci") == 0)
        return cli_exec_oci(argc - optind, argv + optind);
    client_init(&c, sock);
    if (optind == argc) {
        r = repl_run(&c);
    } else {
        /* Connects lazily, at the first request: usage errors and --help need no daemon. */
        r = warden_command(&c, argc - optind, argv + optind);
    }
    client_close(&c);
    free(c.path);
    free(c.buf);
    return r;
}
