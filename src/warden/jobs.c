/* The warden CLI's job commands: spawn, run, link and stream. run and link exit with
 * the job's status; run and stream print the output as it arrives. Runs in warden, as any
 * user that can open the socket. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "jsonh.h"
#include "util.h"

/* Results of the fast paths below that are not an exit status. */
enum { FAST_OTHER = -1, FAST_DONE = -2, FAST_LAST = -3 };

/* A job's output goes to stdout and stderr in pieces of a stream chunk (256 KiB): when
 * they are pipes of the default 64 KiB, each piece is a few turns of writer and reader.
 * Make them 1 MiB (pipe-max-size for any user), best effort, before the first byte. */
static void widen_pipes(void)
{
    static int done;
    struct stat st;

    if (done++)
        return;
    for (int fd = STDOUT_FILENO; fd <= STDERR_FILENO; fd++)
        if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fcntl(fd, F_GETPIPE_SZ) < (1 << 20))
            fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

/* The job's bytes go out with write(2), as cat's do: a reader that went away ends
 * the CLI with SIGPIPE (or, when that is ignored, exit 111 with a message). 0 or
 * EXIT_SYS. */
static int out_write(int fd, const char *buf, size_t n)
{
    struct w_error err;

    widen_pipes();
    if (fd == STDOUT_FILENO)
        fflush(stdout);
    if (util_write_all(fd, buf, n, &err) < 0) {
        warden_complain("writing the job's %s: %s", fd == STDOUT_FILENO ? "stdout" : "stderr",
                        err.msg);
        return EXIT_SYS;
    }
    return 0;
}

/* Output that does not decode is the server's bug (101). */
static int not_base64(void)
{
    warden_complain("the server sent output that is not base64");
    return EXIT_BUG;
}

/* A payload string holding base64 (we always ask for it), decoded and written to fd;
 * anything but a string writes nothing. 0, or the exit status of a failure. */
static int write_b64(struct json_object *s, int fd)
{
    size_t n;
    char *buf;
    ssize_t k;
    int r;

    if (s == NULL || !json_object_is_type(s, json_type_string))
        return 0;
    n = (size_t)json_object_get_string_len(s);
    if ((buf = malloc(n / 4 * 3 + 1)) == NULL) {
        warden_complain("out of memory");
        return EXIT_SYS;
    }
    k = util_base64_decode(json_object_get_string(s), n, buf);
    r = k < 0 ? not_base64() : out_write(fd, buf, (size_t)k);
    free(buf);
    return r;
}

/* An exit status payload element: the job's status, 255 when null or absent. */
static int exit_of(struct json_object *st)
{
    if (st == NULL || !json_object_is_type(st, json_type_int))
        return 255;
    return json_object_get_int(st) & 0xff;
}

/* Skip a JSON string of base64 (no escapes can occur in it) or null at *p (< end);
 * sets *s and *n to its characters, *s NULL for null. 0, or -1 on another shape. */
/* --json: send req (link or run), print the payload as JSON, exit with the job's status. */
static int json_link(struct client *c, struct json_object *req)
{
    struct json_object *reply, *payload;
    int r;

    if ((r = cli_call(c, req, &reply, &payload)) != 0)
        return r;
    cli_print_payload(payload);
    r = json_object_is_type(payload, json_type_array)
            ? exit_of(json_object_array_get_idx(payload, 0))
            : EXIT_BUG;
    json_object_put(reply);
    return r;
}

static int take_b64(char **p, char *end, char **s, size_t *n)
{
    char *q;

    if (end - *p >= 4 && memcmp(*p, "null", 4) == 0) {
        *s = NULL;
        *n = 0;
        *p += 4;
        return 0;
    }
    if (*p >= end || **p != '"' || (q = memchr(*p + 1, '"', (size_t)(end - *p - 1))) == NULL)
        return -1;
    *s = *p + 1;
    *n = (size_t)(q - *s);
    *p = q + 1;
    return 0;
}

/* The link reply as wardend builds it for base64, {"type":"object","payload":[ST,"..",".."]},
 * decoded in place and written without a JSON parser: a job's output may be far larger
 * than json-c holds. FAST_DONE with *status set to ST, FAST_OTHER for another shape
 * (parse it), or the exit status of a failure. */
static int fast_link(char *line, size_t len, int *status)
{
    static const char head[] = "{\"type\":\"object\",\"payload\":[";
    char *p = line + sizeof(head) - 1, *end = line + len - 2, *out[2];
    size_t n[2];
    long st = -1;

    if (len < sizeof(head) + 2 || memcmp(line, head, sizeof(head) - 1) != 0 ||
        memcmp(end, "]}", 2) != 0)
        return FAST_OTHER;
    if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
        p += 4;
    } else {
        char *q;
        st = strtol(p, &q, 10);
        if (q == p || st < 0)
            return FAST_OTHER;
        p = q;
    }
    for (int i = 0; i < 2; i++)
        if (p >= end || *p++ != ',' || take_b64(&p, end, &out[i], &n[i]) < 0)
            return FAST_OTHER;
    if (p != end)
        return FAST_OTHER;
    for (int i = 0; i < 2; i++) {
        ssize_t k = out[i] ? util_base64_decode(out[i], n[i], out[i]) : 0;
        int r;
        if (k < 0)
            return not_base64();
        if (k > 0 && (r = out_write(i == 0 ? STDOUT_FILENO : STDERR_FILENO, out[i], (size_t)k)))
            return r;
    }
    *status = st < 0 ? 255 : (int)(st & 0xff);
    return FAST_DONE;
}

/* link: wait for the job's end; its exact bytes to stdout and stderr, exit with its
 * status. With --json the plain link's payload as the server sends it. */
static int link_job(struct client *c, const char *h, const char *j)
{
    struct json_object *req = cli_request("link"), *reply, *payload, *o;
    struct w_error err;
    size_t len;
    char *line;
    int r, status = 255;

    cli_add_str(req, h);
    json_object_array_add(req, cli_num_or_str(j));
    if (cli_json)
        return json_link(c, req);
    o = json_object_new_object();
    json_object_object_add(o, "output", json_object_new_string("base64"));
    json_object_array_add(req, o);
    r = client_send(c, req, &err);
    json_object_put(req);
    if (r < 0 || (line = client_recv_line(c, &len, &err)) == NULL) {
        warden_complain("%s", err.msg);
        return client_exit_status(&err);
    }
    switch ((r = fast_link(line, len, &status))) {
    case FAST_DONE:
        return status;
    case FAST_OTHER:
        break;
    default:
        return r;
    }
    if ((reply = client_parse_reply(c, line, len, &err)) == NULL) {
        warden_complain("%s", err.msg);
        return client_exit_status(&err);
    }
    r = client_reply(reply, &payload, &err);
    if (r != 0) {
        warden_complain("%s", err.msg);
        r = r > 0 ? EXIT_ERRREPLY : EXIT_BUG;
    } else if (!json_object_is_type(payload, json_type_array)) {
        warden_complain("malformed link reply: %s", jsonh_str(payload, NULL));
        r = EXIT_BUG;
    } else if ((r = write_b64(json_object_array_get_idx(payload, 1), STDOUT_FILENO)) == 0 &&
               (r = write_b64(json_object_array_get_idx(payload, 2), STDERR_FILENO)) == 0) {
        r = exit_of(json_object_array_get_idx(payload, 0));
    } /* else r is the failure's: the server's bytes (EXIT_BUG) or our writes (EXIT_SYS) */
    json_object_put(reply);
    return r;
}

/* A stream line of the shape wardend sends for base64 chunks,
 * {"type":"object","payload":["stdout"|"stderr","<base64>"]}, decoded in place and
 * written without a JSON parser: this is the path of a job's whole output. FAST_DONE,
 * FAST_LAST (the last line), FAST_OTHER (another shape: parse it), or the exit status
 * of a failure. */
static int fast_chunk(char *line, size_t len)
{
    static const char head[] = "{\"type\":\"object\",\"payload\":[";
    static const char last[] = "{\"type\":\"object\",\"payload\":[]}";
    const size_t hl = sizeof(head) - 1;
    ssize_t n;
    int fd;

    if (len == sizeof(last) - 1 && memcmp(line, last, len) == 0)
        return FAST_LAST;
    if (len < hl + 12 || memcmp(line, head, hl) != 0 || memcmp(line + len - 3, "\"]}", 3) != 0)
        return FAST_OTHER;
    if (memcmp(line + hl, "\"stdout\",\"", 10) == 0)
        fd = STDOUT_FILENO;
    else if (memcmp(line + hl, "\"stderr\",\"", 10) == 0)
        fd = STDERR_FILENO;
    else
        return FAST_OTHER;
    line += hl + 10;
    len -= hl + 10 + 3;
    if (memchr(line, '"', len) != NULL)
        return FAST_OTHER;
    if ((n = util_base64_decode(line, len, line)) < 0)
        return not_base64();
    return out_write(fd, line, (size_t)n) ? EXIT_SYS : FAST_DONE;
}

/* --json: the stream as the server sends it, one payload per line. */
static int stream_json(struct client *c, struct json_object *req)
{
    struct json_object *reply, *payload;
    struct w_error err;
    int r = cli_call(c, req, &reply, &payload);

    while (r == 0) {
        int n = json_object_is_type(payload, json_type_array)
                    ? (int)json_object_array_length(payload)
                    : 0;
        cli_print_payload(payload);
        json_object_put(reply);
        if (n == 0)
            return 0;
        if ((reply = client_recv(c, &err)) == NULL) {
            warden_complain("%s", err.msg);
            return client_exit_status(&err);
        }
        if ((r = client_reply(reply, &payload, &err)) != 0) {
            warden_complain("%s", err.msg);
            json_object_put(reply);
            return r > 0 ? EXIT_ERRREPLY : EXIT_BUG;
        }
    }
    return r;
}

/* A line the fast path did not take: an error, ["exit_status", N], or a chunk in
 * another shape. FAST_DONE to go on, FAST_LAST at the last line, else an exit status. */
static int stream_other(struct client *c, char *line, size_t len, int *status)
{
    struct json_object *reply, *payload, *name;
    struct w_error err;
    const char *which;
    int r;

    if ((reply = client_parse_reply(c, line, len, &err)) == NULL) {
        warden_complain("%s", err.msg);
        return client_exit_status(&err);
    }
    if ((r = client_reply(reply, &payload, &err)) != 0) {
        warden_complain("%s", err.msg);
        json_object_put(reply);
        return r > 0 ? EXIT_ERRREPLY : EXIT_BUG;
    }
    if (!json_object_is_type(payload, json_type_array)) {
        warden_complain("malformed stream reply: %s", jsonh_str(payload, NULL));
        json_object_put(reply);
        return EXIT_BUG;
    }
    if (json_object_array_length(payload) == 0) {
        json_object_put(reply);
        return FAST_LAST;
    }
    name = json_object_array_get_idx(payload, 0);
    which = json_object_is_type(name, json_type_string) ? json_object_get_string(name) : "";
    r = FAST_DONE;
    if (strcmp(which, "exit_status") == 0)
        *status = exit_of(json_object_array_get_idx(payload, 1));
    else if ((r = write_b64(json_object_array_get_idx(payload, 1),
                            strcmp(which, "stderr") == 0 ? STDERR_FILENO : STDOUT_FILENO)) == 0)
        r = FAST_DONE;
    json_object_put(reply);
    return r;
}

/* Stream job j as base64, writing its exact bytes as they arrive, until the last line.
 * With status (run), asks for the exit status too and returns it (255 when null);
 * otherwise returns 0. */
static int stream_job(struct client *c, const char *h, const char *j, int status)
{
    struct json_object *req = cli_request("stream"), *o;
    struct w_error err;
    int r, st = 255;

    cli_add_str(req, h);
    json_object_array_add(req, cli_num_or_str(j));
    if (cli_json)
        return stream_json(c, req);
    o = json_object_new_object();
    json_object_object_add(o, "output", json_object_new_string("base64"));
    if (status)
        json_object_object_add(o, "exit_status", json_object_new_boolean(1));
    json_object_array_add(req, o);
    r = client_send(c, req, &err);
    json_object_put(req);
    if (r < 0) {
        warden_complain("%s", err.msg);
        return EXIT_SYS;
    }
    for (;;) {
        size_t len;
        char *line = client_recv_line(c, &len, &err);
        if (line == NULL) {
            warden_complain("%s", err.msg);
            return client_exit_status(&err);
        }
        r = fast_chunk(line, len);
        if (r == FAST_OTHER)
            r = stream_other(c, line, len, &st);
        if (r == FAST_LAST)
            return status ? st : 0;
        if (r != FAST_DONE)
            return r;
    }
}

/* Read the whole of stdin for SCRIPT "-". */
static char *read_stdin(void)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    char buf[8192];
    size_t n;

    if (f == NULL)
        return NULL;
    while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
        fwrite(buf, 1, n, f);
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* Shared by spawn and run: builds ["spawn"|"run", H, SCRIPT, OPTS]. Returns NULL after
 * printing a usage error. */
static struct json_object *job_request(const char *name, int argc, char **argv, int *status)
{
    enum { ENV = CLI_O_FIRST, RLIMIT, DISCARD, OUTPUT, PRIV, LOGTAG };
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'},
                                       {"stdin", no_argument, NULL, 'i'},
                                       {"tty", no_argument, NULL, 't'},
                                       {"privileged", no_argument, NULL, PRIV},
                                       {"env", required_argument, NULL, ENV},
                                       {"rlimit", required_argument, NULL, RLIMIT},
                                       {"discard-output", no_argument, NULL, DISCARD},
                                       {"output", required_argument, NULL, OUTPUT},
                                       {"log-tag", required_argument, NULL, LOGTAG},
                                       {0}};
    const struct cli_cmd *cmd = cli_find_cmd(name);
    struct json_object *opts = json_object_new_object(), *req;
    const char *bad = NULL;
    char *script;
    int ch;

    CLI_FOR_OPTS(argc, argv, "hit", lo, ch)
    {
        switch (ch) {
        case 'h':
            bad = "help";
            break;
        case 'i':
            json_object_object_add(opts, "stdin", json_object_new_boolean(1));
            break;
        case 't': {
            struct winsize ws = {.ws_row = 24, .ws_col = 80};
            struct json_object *tty = json_object_new_object();
            if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0 || ws.ws_row == 0 || ws.ws_col == 0)
                ws.ws_row = 24, ws.ws_col = 80;
            json_object_object_add(tty, "rows", json_object_new_int(ws.ws_row));
            json_object_object_add(tty, "cols", json_object_new_int(ws.ws_col));
            json_object_object_add(opts, "tty", tty);
            if (getenv("TERM") && *getenv("TERM"))
                json_object_object_add(cli_sub_object(opts, "env"), "TERM",
                                       json_object_new_string(getenv("TERM")));
            break;
        }
        case PRIV:
            json_object_object_add(opts, "privileged", json_object_new_boolean(1));
            break;
        case DISCARD:
            json_object_object_add(opts, "discard_output", json_object_new_boolean(1));
            break;
        case OUTPUT:
            json_object_object_add(opts, "output", json_object_new_string(optarg));
            break;
        case LOGTAG:
            json_object_object_add(opts, "log_tag", json_object_new_string(optarg));
            break;
        case ENV:
            if (cli_add_kv(cli_sub_object(opts, "env"), optarg, 0) < 0)
                bad = "--env wants KEY=VALUE";
            break;
        case RLIMIT:
            if (cli_add_kv(cli_sub_object(opts, "rlimits"), optarg, 1) < 0)
                bad = "--rlimit wants NAME=NUMBER";
            break;
        default:
            bad = "";
            break;
        }
        if (bad != NULL)
            break;
    }
    if (bad == NULL && argc - optind != 2)
        bad = "expected a handle and a script";
    if (bad != NULL) {
        json_object_put(opts);
        if (strcmp(bad, "help") == 0) {
            *status = cli_show_help(cmd);
        } else {
            *status = cli_usage_error(cmd, *bad ? bad : NULL);
        }
        return NULL;
    }
    if (strcmp(argv[optind + 1], "-") == 0 &&
        (jsonh_get(opts, "stdin") || jsonh_get(opts, "tty"))) {
        json_object_put(opts);
        *status =
            cli_usage_error(cmd, "SCRIPT - reads stdin, which --stdin and --tty give the job");
        return NULL;
    }
    req = cli_request(name);
    cli_add_str(req, argv[optind]);
    if (strcmp(argv[optind + 1], "-") == 0) {
        if ((script = read_stdin()) == NULL) {
            warden_complain("cannot read the script from stdin");
            json_object_put(opts);
            json_object_put(req);
            *status = EXIT_SYS;
            return NULL;
        }
        cli_add_str(req, script);
        free(script);
    } else {
        cli_add_str(req, argv[optind + 1]);
    }
    if (json_object_object_length(opts) > 0)
        json_object_array_add(req, opts);
    else
        json_object_put(opts);
    return req;
}

int cli_cmd_spawn(struct client *c, int argc, char **argv)
{
    int status;
    struct json_object *req = job_request("spawn", argc, argv, &status);

    return req == NULL ? status : cli_simple(c, req);
}

/* ---- run -i / run -t: the job's stdin or pty from the server, over the socket ---- */

static int tty_fd = -1;       /* run -t: the job's pty master (for the window size) */
static pid_t feeder_pid = -1; /* the child copying our stdin into the job */

static void on_winch(int sig)
{
    struct winsize ws;
    int e = errno;

    (void)sig;
    if (tty_fd >= 0 && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0)
        ioctl(tty_fd, TIOCSWINSZ, &ws);
    errno = e;
}

/* SIGTERM, SIGHUP, SIGINT, SIGQUIT while the terminal is raw: put it back, then die of
 * the signal as we would have. */
static void on_fatal(int sig)
{
    util_tty_restore();
    if (feeder_pid > 0)
        kill(feeder_pid, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Spawned with pass_fds: fd is the job's stdin (tty 0) or its pty master (tty 1).
 * Feed our stdin to it from a child, stream the output here, exit with the job's
 * status; the terminal is raw meanwhile with tty, and restored on every way out. */
static int interact(struct client *c, const char *handle, const char *job, int fd, int tty)
{
    struct sigaction sa = {0};
    int raw = 0, r, st;

    if (tty) {
        tty_fd = fd;
        sa.sa_handler = on_winch;
        sa.sa_flags = SA_RESTART;
        sigaction(SIGWINCH, &sa, NULL);
        on_winch(SIGWINCH); /* a size change since the spawn */
        if (util_tty_raw() == 0) {
            raw = 1;
            sa.sa_handler = on_fatal;
            sa.sa_flags = SA_RESETHAND;
            for (int s = 0, sigs[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT}; s < 4; s++)
                sigaction(sigs[s], &sa, NULL);
        }
    }
    fflush(stdout);
    if ((feeder_pid = util_feeder(STDIN_FILENO, fd, tty)) < 0) {
        warden_complain("fork: %s", strerror(errno));
        feeder_pid = -1;
    }
    if (!tty) {
        close(fd); /* the feeder's copy is the job's stdin now: its exit is the EOF */
        fd = -1;
    }
    r = stream_job(c, handle, job, 1);
    if (feeder_pid > 0) {
        kill(feeder_pid, SIGKILL); /* the job ended: what is left of our stdin is not for it */
        while (waitpid(feeder_pid, &st, 0) < 0 && errno == EINTR)
            ;
        feeder_pid = -1;
    }
    if (raw) {
        util_tty_restore();
        for (int s = 0, sigs[] = {SIGTERM, SIGHUP, SIGINT, SIGQUIT}; s < 4; s++)
            signal(sigs[s], SIG_DFL);
    }
    if (tty) {
        signal(SIGWINCH, SIG_DFL);
        tty_fd = -1;
    }
    if (fd >= 0)
        close(fd);
    return r;
}

/* run: spawn, then stream the job's exact bytes live and take the exit status from
 * the stream's end: the output is fetched once, whatever its size. With --json one
 * plain run request, its payload printed as the server sends it. With --stdin or
 * --tty, the spawn passes the job's stdin pipe or pty master back (pass_fds). */
int cli_cmd_run(struct client *c, int argc, char **argv)
{
    int status, r, tty, in, fd;
    struct json_object *req = job_request("run", argc, argv, &status), *reply, *payload, *opts;
    char job[32], handle[256];

    if (req == NULL)
        return status;
    opts = json_object_array_get_idx(req, 3);
    tty = jsonh_get(opts, "tty") != NULL;
    in = jsonh_get_bool(opts, "stdin", 0);
    if (cli_json && !tty && !in)
        return json_link(c, req);
    if (tty || in)
        json_object_object_add(opts, "pass_fds", json_object_new_boolean(1));
    json_object_array_put_idx(req, 0, json_object_new_string("spawn"));
    strlcpy(handle, json_object_get_string(json_object_array_get_idx(req, 1)), sizeof(handle));
    if ((r = cli_call(c, req, &reply, &payload)) != 0)
        return r;
    snprintf(job, sizeof(job), "%s", jsonh_str(payload, NULL));
    json_object_put(reply);
    if (!tty && !in)
        return stream_job(c, handle, job, 1);
    if ((fd = client_take_fd(c)) < 0) {
        warden_complain("job %s started, but the server passed no descriptor for its %s", job,
                        tty ? "pty" : "stdin");
        return EXIT_BUG;
    }
    return interact(c, handle, job, fd, tty);
}

/* NAME HANDLE JOB ARG...: the handle and nwords - 1 more words, each a number where it is
 * one; the reply printed as cli_simple does. signal and resize. */
static int job_words(struct client *c, int argc, char **argv, int nwords, const char *usage)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    struct json_object *req;
    int ch;

    CLI_FOR_OPTS(argc, argv, "h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind != nwords)
        return cli_usage_error(cmd, usage);
    req = cli_request(argv[0]);
    cli_add_str(req, argv[optind]);
    for (int i = 1; i < nwords; i++)
        json_object_array_add(req, cli_num_or_str(argv[optind + i]));
    return cli_simple(c, req);
}

/* signal HANDLE JOB SIG. */
int cli_cmd_signal(struct client *c, int argc, char **argv)
{
    return job_words(c, argc, argv, 3, "expected a handle, a job id and a signal");
}

/* One stdin request of len bytes (base64 on the wire: any bytes), eof after them if asked;
 * the reply ({}) is not printed. Returns 0 or an exit status. */
static int stdin_request(struct client *c, const char *handle, const char *job, const void *buf,
                         size_t len, int eof)
{
    struct json_object *req = cli_request("stdin"), *opts = json_object_new_object(), *reply,
                       *payload;
    char *b64 = util_base64(buf, len);
    int r;

    if (b64 == NULL) {
        json_object_put(req);
        json_object_put(opts);
        warden_complain("out of memory");
        return EXIT_BUG;
    }
    cli_add_str(req, handle);
    json_object_array_add(req, cli_num_or_str(job));
    json_object_array_add(req, json_object_new_string(b64));
    free(b64);
    json_object_object_add(opts, "base64", json_object_new_boolean(1));
    if (eof)
        json_object_object_add(opts, "eof", json_object_new_boolean(1));
    json_object_array_add(req, opts);
    r = cli_call(c, req, &reply, &payload);
    json_object_put(reply);
    return r;
}

/* stdin HANDLE JOB [--data TEXT] [--eof]: TEXT, or all of our stdin in pieces well within
 * the server's request limit, exactly as bytes; then the job's EOF with --eof. */
int cli_cmd_stdin(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    static const struct option lo[] = {
        {"help", no_argument, NULL, 'h'},
        {"eof", no_argument, NULL, 'e'},
        {"data", required_argument, NULL, 'd'},
        {0},
    };
    const char *data = NULL, *handle, *job;
    static char buf[256 << 10];
    int ch, eof = 0, r;

    CLI_FOR_OPTS(argc, argv, "hed:", lo, ch)
    {
        switch (ch) {
        case 'h':
            return cli_show_help(cmd);
        case 'e':
            eof = 1;
            break;
        case 'd':
            data = optarg;
            break;
        default:
            return cli_usage_error(cmd, NULL);
        }
    }
    if (argc - optind != 2)
        return cli_usage_error(cmd, "expected a handle and a job id");
    handle = argv[optind];
    job = argv[optind + 1];
    if (data != NULL)
        return stdin_request(c, handle, job, data, strlen(data), eof);
    for (;;) {
        size_t len = 0;
        ssize_t n = 0;

        while (len < sizeof(buf) && (n = read(STDIN_FILENO, buf + len, sizeof(buf) - len)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                warden_complain("read stdin: %s", strerror(errno));
                return EXIT_BUG;
            }
            len += (size_t)n;
        }
        if (len > 0 || eof) {
            r = stdin_request(c, handle, job, buf, len, eof && n == 0);
            if (r != 0)
                return r;
        }
        if (n == 0)
            return 0;
    }
}

/* resize HANDLE JOB ROWS COLS. */
int cli_cmd_resize(struct client *c, int argc, char **argv)
{
    return job_words(c, argc, argv, 4, "expected a handle, a job id, rows and columns");
}

int cli_cmd_link_or_stream(struct client *c, int argc, char **argv)
{
    const struct cli_cmd *cmd = cli_find_cmd(argv[0]);
    static const struct option lo[] = {{"help", no_argument, NULL, 'h'}, {0}};
    int ch;

    CLI_FOR_OPTS(argc, argv, "h", lo, ch)
    {
        return ch == 'h' ? cli_show_help(cmd) : cli_usage_error(cmd, NULL);
    }
    if (argc - optind != 2)
        return cli_usage_error(cmd, "expected a handle and a job id");
    if (strcmp(argv[0], "link") == 0)
        return link_job(c, argv[optind], argv[optind + 1]);
    return stream_job(c, argv[optind], argv[optind + 1], 0);
}
