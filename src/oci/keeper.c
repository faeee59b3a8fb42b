/* The keeper: the host process an engine sees as the container's program. It runs the
 * config's job through wardend (spawn, then stream its output as base64 to its own
 * stdout and stderr, byte-exact, then link), passes every catchable signal it receives
 * on to the job's host process, and ends the way the job ended. Runs in warden-oci
 * (create's child, or run itself); it is a child of whoever ran warden-oci (or of that
 * process's subreaper), so the engine can wait for it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "jsonh.h"
#include "oci.h"
#include "util.h"

static volatile pid_t job_pid;
int keeper_term_in = -1, keeper_term_out = -1;
static volatile int job_master = -1; /* the job's pty master (passed), with a terminal */

/* The window of our terminal onto the job's. */
static void copy_winsize(void)
{
    struct winsize ws;

    if (job_master >= 0 && ioctl(keeper_term_in, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
        ioctl(job_master, TIOCSWINSZ, &ws);
}

static void forward(int sig)
{
    pid_t p = job_pid;
    int e = errno;

    if (sig == SIGWINCH && job_master >= 0)
        copy_winsize(); /* the kernel tells the job's foreground group itself */
    else if (p > 0)
        kill(p, sig);
    errno = e;
}

static const int forwarded[] = {SIGTERM, SIGINT,   SIGHUP,  SIGQUIT, SIGUSR1,
                                SIGUSR2, SIGWINCH, SIGCONT, SIGALRM};

static void forward_signals(void)
{
    struct sigaction sa = {.sa_handler = forward, .sa_flags = SA_RESTART};

    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
        sigaction(forwarded[i], &sa, NULL);
}

static long ppid_of(const char *pid)
{
    char path[300], buf[512], *p;
    long ppid = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    if ((f = fopen(path, "re")) == NULL)
        return -1;
    if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) != NULL)
        sscanf(p + 2, "%*c %ld", &ppid);
    fclose(f);
    return ppid;
}

/* The job's host pid: wshd starts each job as its own child, and an OCI container has
 * one job, so it is wshd's youngest child. 0 when it has already ended. */
static pid_t find_job(const char *ct_path)
{
    char path[PATH_MAX], *buf;
    struct w_error err;
    unsigned long long best_start = 0;
    pid_t best = 0;
    long wshd;
    struct dirent *de;
    size_t len;
    DIR *d;

    snprintf(path, sizeof(path), "%s/run/wshd.pid", ct_path);
    if ((buf = util_read_file(AT_FDCWD, path, 64, &len, &err)) == NULL)
        return 0;
    wshd = strtol(buf, NULL, 10);
    free(buf);
    if (wshd <= 0 || (d = opendir("/proc")) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        unsigned long long st;
        if (de->d_name[0] < '1' || de->d_name[0] > '9' || ppid_of(de->d_name) != wshd)
            continue;
        st = proc_start_time((pid_t)atoi(de->d_name));
        if (st >= best_start) {
            best_start = st;
            best = (pid_t)atoi(de->d_name);
        }
    }
    closedir(d);
    return best;
}

static int b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    return ch == '+' ? 62 : ch == '/' ? 63 : -1;
}

/* Decode base64 s to fd (a closed reader is not our error: the output is dropped). */
static void write_b64(int fd, const char *s, size_t n)
{
    unsigned char out[3 * 1024];
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    struct w_error err;

    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
        if (o == sizeof(out)) {
            util_write_all(fd, out, o, &err);
            o = 0;
        }
    }
    if (o)
        util_write_all(fd, out, o, &err);
}

static struct json_object *call(struct client *c, struct json_object *req, struct w_error *err)
{
    struct json_object *reply, *payload;
    int r = client_send(c, req, err);

    json_object_put(req);
    if (r < 0 || (reply = client_recv(c, err)) == NULL)
        return NULL;
    if (client_reply(reply, &payload, err) != 0) {
        json_object_put(reply);
        return NULL;
    }
    payload = json_object_get(payload);
    json_object_put(reply);
    return payload;
}

static struct json_object *req3(const char *name, const char *h, long long j)
{
    struct json_object *r = json_object_new_array();

    json_object_array_add(r, json_object_new_string(name));
    json_object_array_add(r, json_object_new_string(h));
    if (j >= 0)
        json_object_array_add(r, json_object_new_int64(j));
    return r;
}

static int stream_out(struct client *c, const char *id, long long job, int out, struct w_error *err)
{
    struct json_object *p;

    /* The job was spawned with base64 output: its chunks are base64 of its bytes. */
    if ((p = call(c, req3("stream", id, job), err)) == NULL)
        return -1;
    for (;;) {
        struct json_object *reply, *payload;
        const char *which, *chunk;
        if (!json_object_is_type(p, json_type_array) || json_object_array_length(p) < 2) {
            json_object_put(p);
            return 0; /* [] ends the stream */
        }
        which = json_object_get_string(json_object_array_get_idx(p, 0));
        chunk = json_object_get_string(json_object_array_get_idx(p, 1));
        if (chunk)
            write_b64(out >= 0 ? out : strcmp(which, "stderr") == 0 ? 2 : 1, chunk, strlen(chunk));
        json_object_put(p);
        if ((reply = client_recv(c, err)) == NULL)
            return -1;
        if (client_reply(reply, &payload, err) != 0) {
            json_object_put(reply);
            return -1;
        }
        p = json_object_get(payload);
        json_object_put(reply);
    }
}

/* The wait status of job from its status file: {"exit":N} or {"signal":N}. */
static int job_wait_status(const char *ct_path, long long job)
{
    char path[PATH_MAX], *buf;
    struct json_object *o;
    struct w_error err;
    size_t len;
    int st = -1;

    snprintf(path, sizeof(path), "%s/jobs/%lld/status", ct_path, job);
    if ((buf = util_read_file(AT_FDCWD, path, 4096, &len, &err)) == NULL)
        return W_EXITCODE(255, 0);
    if ((o = jsonh_parse(buf, len, &err)) != NULL) {
        if (json_object_is_type(jsonh_get(o, "exit"), json_type_int))
            st = W_EXITCODE(jsonh_get_int(o, "exit", 255) & 0xff, 0);
        else if (jsonh_get_int(o, "signal", 0) > 0)
            st = (int)jsonh_get_int(o, "signal", 0) & 0x7f;
        json_object_put(o);
    }
    free(buf);
    return st < 0 ? W_EXITCODE(255, 0) : st;
}

int keeper_run(const char *sock, const char *id, struct spec *s, const char *dir,
               struct w_error *err)
{
    struct client c;
    struct json_object *req, *p;
    char ct_path[PATH_MAX] = "";
    long long job;
    int r = -1, in_fd = -1;
    pid_t feeder = -1;

    client_init(&c, sock);
    if ((p = call(&c, req3("info", id, -1), err)) == NULL)
        goto out;
    strlcpy(ct_path, jsonh_get_str(p, "container_path", ""), sizeof(ct_path));
    json_object_put(p);
    /* Our stdin (create's, as runc gives the process) is the job's: wshd passes its
     * stdin pipe back, and a child copies into it; its end is the job's EOF. With a
     * terminal, the job runs on a pty in the container whose master comes back: a child
     * copies our terminal's keys into it, its output comes by stream. */
    if (keeper_term_in >= 0) {
        struct json_object *tty = json_object_new_object();
        struct winsize ws = {.ws_row = 24, .ws_col = 80};
        if (ioctl(keeper_term_in, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col) {
            ws.ws_row = s->rows > 0 ? (unsigned short)s->rows : 24;
            ws.ws_col = s->cols > 0 ? (unsigned short)s->cols : 80;
        }
        json_object_object_add(tty, "rows", json_object_new_int(ws.ws_row));
        json_object_object_add(tty, "cols", json_object_new_int(ws.ws_col));
        json_object_object_add(s->spawn, "tty", tty);
    } else {
        json_object_object_add(s->spawn, "stdin", json_object_new_boolean(1));
    }
    json_object_object_add(s->spawn, "pass_fds", json_object_new_boolean(1));
    req = req3("spawn", id, -1);
    json_object_array_add(req, json_object_new_string(s->script));
    json_object_array_add(req, json_object_get(s->spawn));
    if ((p = call(&c, req, err)) == NULL)
        goto out;
    job = json_object_get_int64(p);
    json_object_put(p);
    if ((in_fd = client_take_fd(&c)) >= 0) {
        feeder = util_feeder(keeper_term_in >= 0 ? keeper_term_in : STDIN_FILENO, in_fd, 0);
        if (keeper_term_in >= 0) {
            job_master = in_fd; /* kept for the window size */
            copy_winsize();     /* a resize since the spawn */
        } else {
            close(in_fd);
        }
    }
    job_pid = find_job(ct_path);
    forward_signals();
    if (dir) {
        char path[PATH_MAX], line[128];
        int n = snprintf(line, sizeof(line), "{\"pid\":%d,\"start\":%llu,\"job\":%lld}",
                         (int)job_pid, job_pid > 0 ? proc_start_time(job_pid) : 0ULL, job);
        snprintf(path, sizeof(path), "%s/job.json", dir);
        if (util_write_file_atomic(AT_FDCWD, path, line, (size_t)n, err) < 0)
            goto out;
    }
    if (stream_out(&c, id, job, keeper_term_out, err) < 0)
        goto out;
    if ((p = call(&c, req3("link", id, job), err)) == NULL)
        goto out;
    json_object_put(p);
    r = job_wait_status(ct_path, job);
out:
    if (feeder > 0) { /* the job ended: what is left of our stdin is not its */
        kill(feeder, SIGKILL);
        while (waitpid(feeder, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    if (job_master >= 0) {
        int m = job_master;
        job_master = -1;
        close(m);
    }
    client_close(&c);
    free(c.path);
    free(c.buf);
    return r;
}
