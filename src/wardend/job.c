/* Runs in wardend's loop. wshd owns every job: it appends output to
 * <container>/jobs/<n>/stdout|stderr as it arrives and renames jobs/<n>/status into
 * place when the job has ended, after the last byte. wardend only reads those files:
 * an inotify watch per unfinished job tells it about new bytes and the status, so a
 * link or stream never waits on wshd and a restart of wardend loses nothing. */
#include "job_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "jsonh.h"
#include "log.h"
#include "proto.h"
#include "registry.h"
#include "req.h"
#include "snapshot.h"
#include "util.h"
#include "wardend.h"
#include "wshd_proto.h"

#define CHUNK (256 * 1024)
#define SEQ_BLOCK 1000

static int inotify_fd = -1;
static long long next_id = 1, reserved_until = 0;
static char seq_path[PATH_MAX];

/* ---- ids: reserved in blocks in the depot so they never repeat across restarts ---- */

long long job_next_id(struct w_error *err)
{
    if (next_id >= reserved_until) {
        char buf[32];
        int n = snprintf(buf, sizeof(buf), "%lld\n", next_id + SEQ_BLOCK);
        if (util_write_file_atomic(AT_FDCWD, seq_path, buf, (size_t)n, err) < 0)
            return w_err_prefix(err, "job id sequence");
        reserved_until = next_id + SEQ_BLOCK;
    }
    return next_id++;
}

/* ---- files ---- */

static int job_dir(struct job *j, char *buf, size_t size)
{
    return snprintf(buf, size, "%s/jobs/%lld", j->ct->path, j->id) < (int)size ? 0 : -1;
}

static int job_open(struct job *j, const char *name)
{
    char path[PATH_MAX + 64];

    if (job_dir(j, path, sizeof(path) - 16) < 0)
        return -1;
    strlcat(path, "/", sizeof(path));
    strlcat(path, name, sizeof(path));
    return open(path, O_RDONLY | O_CLOEXEC);
}

/* Read jobs/<n>/status if it is there: 1 when the job has ended. */
int job_read_status(struct job *j)
{
    char buf[512];
    struct json_object *st, *ex;
    struct w_error err;
    ssize_t n;
    int fd;

    if (j->done)
        return 1;
    fd = job_open(j, "status");
    if (fd < 0)
        return 0;
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    st = jsonh_parse(buf, (size_t)n, &err);
    if (st == NULL) {
        log_msg(LOG_WARNING, "job %lld: bad status file: %s", j->id, err.msg);
        j->exit_status = -1;
    } else {
        ex = jsonh_get(st, "exit");
        j->exit_status = json_object_is_type(ex, json_type_int) ? json_object_get_int(ex) : -1;
        if (strcmp(jsonh_get_str(st, "reason", ""), "output limit") == 0) {
            ct_add_event(j->ct, "command exceeded maximum output");
            snapshot_save(j->ct);
        }
        json_object_put(st);
    }
    j->done = 1;
    events_job_exited(j->ct->handle, j->id, j->exit_status);
    if (j->wd >= 0) {
        inotify_rm_watch(inotify_fd, j->wd);
        j->wd = -1;
    }
    return 1;
}

/* Room for one output of n bytes as a JSON string (or null): base64, or text. */
static size_t enc_max(int base64, size_t n)
{
    return (base64 ? util_base64_len(n) + 2 : util_json_quote_max(n)) + 4;
}

/* One output as a JSON string at line + *pos: base64, or text with invalid UTF-8 as
 * U+FFFD; null when data is NULL (the file could not be read). */
static void put_output(int base64, const char *data, size_t n, char *line, size_t *pos)
{
    if (data == NULL) {
        memcpy(line + *pos, "null", 4);
        *pos += 4;
    } else if (base64) {
        line[(*pos)++] = '"';
        util_base64_into(data, n, line + *pos);
        *pos += util_base64_len(n);
        line[(*pos)++] = '"';
    } else {
        util_json_quote(data, n, line, pos);
    }
}

/* The whole of jobs/<n>/NAME (at most the output limit and a chunk), or NULL. */
static char *read_output(struct job *j, const char *name, size_t *len)
{
    size_t max = (size_t)g_cfg->server.job_output_limit + CHUNK;
    struct w_error err;
    char path[PATH_MAX + 64], *data;

    *len = 0;
    if (j->discard)
        return strdup("");
    if (job_dir(j, path, sizeof(path) - 16) < 0)
        return NULL;
    strlcat(path, "/", sizeof(path));
    strlcat(path, name, sizeof(path));
    data = util_read_file(AT_FDCWD, path, max ? max : (size_t)1 << 30, len, &err);
    /* wshd makes the file with its first byte: none yet is nothing yet (a job whose
     * wshd was killed before it could end may leave it so). */
    if (data == NULL && err.errnum == ENOENT)
        data = strdup("");
    return data;
}

/* The reply line of link, [status, stdout, stderr], built here rather than by json-c:
 * escaping in one pass is many times faster, and json-c cannot hold a reply past
 * 2 GiB (a big output where every byte needs a \u escape). NULL: out of memory. */
static char *link_line(struct job *j, int base64, size_t *len)
{
    static const char head[] = "{\"type\":\"object\",\"payload\":[";
    static const char tail[] = "]}\n";
    size_t n[2], cap, pos;
    char *data[2], *line;

    data[0] = read_output(j, "stdout", &n[0]);
    data[1] = read_output(j, "stderr", &n[1]);
    cap = sizeof(head) + 16 + enc_max(base64, n[0]) + enc_max(base64, n[1]) + sizeof(tail);
    line = malloc(cap);
    if (line != NULL) {
        if (j->done && j->exit_status >= 0)
            pos = (size_t)snprintf(line, cap, "%s%d,", head, j->exit_status);
        else
            pos = (size_t)snprintf(line, cap, "%snull,", head);
        put_output(base64, data[0], n[0], line, &pos);
        line[pos++] = ',';
        put_output(base64, data[1], n[1], line, &pos);
        memcpy(line + pos, tail, sizeof(tail) - 1);
        *len = pos + sizeof(tail) - 1;
    }
    free(data[0]);
    free(data[1]);
    return line;
}

/* ---- waiters ---- */

static void waiter_unlink(struct waiter *w)
{
    for (int i = 0; i < 2; i++)
        if (w->fd[i] >= 0)
            close(w->fd[i]);
    for (struct waiter **p = &w->job->waiters; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
}

static void waiter_cancel(struct req *r, void *data)
{
    struct waiter *w = data;

    (void)r;
    waiter_unlink(w);
    free(w);
}

/* End w's request: with payload, or (payload NULL) with the job's link reply. */
static void waiter_end(struct waiter *w, struct json_object *payload)
{
    struct req *r = w->req;
    struct job *j = w->job;
    int base64 = w->base64;

    waiter_unlink(w);
    free(w);
    req_set_cancel(r, NULL, NULL);
    req_set_drain(r, NULL, NULL);
    if (payload != NULL) {
        req_reply(r, payload);
    } else {
        size_t len = 0;
        char *line = link_line(j, base64, &len);
        req_reply_line(r, line, len);
    }
}

static void stream_pump(struct req *r, void *data);

/* The stream's last line, [], after ["exit_status", N|null] when the client asked. */
static void stream_end(struct waiter *w)
{
    if (w->exit_status) {
        struct job *j = w->job;
        struct json_object *p = json_object_new_array();
        json_object_array_add(p, json_object_new_string("exit_status"));
        json_object_array_add(p, j->exit_status >= 0 ? json_object_new_int(j->exit_status) : NULL);
        req_send(w->req, p);
    }
    waiter_end(w, json_object_new_array());
}

/* One stream line, {"type":"object","payload":["stdout","<chunk>"]}, built straight
 * from the bytes: no JSON objects on the path that carries a job's whole output. */
static char *stream_line(int base64, const char *name, const char *buf, size_t n, size_t *len)
{
    static const char head[] = "{\"type\":\"object\",\"payload\":[\"";
    static const char tail[] = "]}\n";
    size_t cap = sizeof(head) + 16 + enc_max(base64, n) + sizeof(tail);
    char *line = malloc(cap);
    size_t pos;

    if (line == NULL)
        return NULL;
    pos = (size_t)snprintf(line, cap, "%s%s\",", head, name);
    put_output(base64, buf, n, line, &pos);
    memcpy(line + pos, tail, sizeof(tail) - 1);
    *len = pos + sizeof(tail) - 1;
    return line;
}

/* Send what the files hold past the stream's offsets; end it once the job has ended
 * and everything is sent. A line is made only when nothing waits for the client, so
 * each goes to the socket whole or becomes the connection's buffer (never a copy);
 * the 4 MiB socket buffer keeps the client fed meanwhile. */
static void stream_pump(struct req *r, void *data)
{
    static const char *const names[2] = {"stdout", "stderr"};
    static char buf[CHUNK];
    struct waiter *w = data;
    struct job *j = w->job;
    int ended = j->done; /* read before the files: bytes precede the status */

    if (j->discard) {
        if (ended)
            stream_end(w);
        return;
    }
    for (;;) {
        int progress = 0;
        for (int s = 0; s < 2; s++) {
            ssize_t n;
            size_t k, len;
            char *line;

            if (req_backlog(r) > 0) {
                req_set_drain(r, stream_pump, w);
                return;
            }
            if (w->fd[s] < 0 && (w->fd[s] = job_open(j, names[s])) < 0)
                continue;
            n = pread(w->fd[s], buf, CHUNK, w->off[s]);
            if (n <= 0)
                continue;
            k = w->base64 ? (size_t)n : util_utf8_complete_prefix(buf, (size_t)n);
            if (k == 0 && ended)
                k = (size_t)n; /* a cut-off character at the very end */
            if (k == 0)
                continue;
            line = stream_line(w->base64, names[s], buf, k, &len);
            if (line == NULL)
                return;
            w->off[s] += (off_t)k;
            req_send_line(r, line, len);
            progress = 1;
        }
        if (!progress)
            break;
    }
    if (ended)
        stream_end(w);
}

/* Something changed in the job's directory (or the job ended): serve its waiters. */
static void job_notify(struct job *j)
{
    struct waiter *w = j->waiters, *next;

    job_read_status(j);
    for (; w; w = next) {
        next = w->next;
        if (w->stream)
            stream_pump(w->req, w);
        else if (j->done)
            waiter_end(w, NULL);
    }
}

static int has_stream(const struct job *j)
{
    for (const struct waiter *w = j->waiters; w; w = w->next)
        if (w->stream)
            return 1;
    return 0;
}

/* Every unfinished job, once: after an overflow of the inotify queue, when events for
 * any of them may be lost. */
static void notify_all(void)
{
    for (struct container *ct = ct_first(); ct; ct = ct->next)
        for (struct job *j = ct->jobs, *next; j; j = next) {
            next = j->next;
            if (!j->done && j->spawned)
                job_notify(j);
        }
}

static void on_inotify(struct loop *loop, int fd, int mask, void *data)
{
    char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
    ssize_t n;

    (void)loop, (void)mask, (void)data;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            struct job *found = NULL;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                notify_all();
                continue;
            }
            for (struct container *ct = ct_first(); ct && !found; ct = ct->next)
                for (struct job *j = ct->jobs; j && !found; j = j->next)
                    if (j->wd == ev->wd && !j->done)
                        found = j;
            /* Only the status ends a job: the output files matter to streams alone (a
             * link reads them once the status is there). */
            if (found && ev->len > 0 && strcmp(ev->name, "status") != 0 && !has_stream(found))
                continue;
            /* Look it up again per event: serving waiters may end other requests. */
            if (found)
                job_notify(found);
        }
    }
}

int job_watch(struct job *j)
{
    char path[PATH_MAX + 32];

    if (job_dir(j, path, sizeof(path)) < 0)
        return -1;
    j->wd =
        inotify_add_watch(inotify_fd, path, IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE);
    if (j->wd < 0)
        log_msg(LOG_WARNING, "job %lld: inotify_add_watch %s: %s", j->id, path, strerror(errno));
    return j->wd;
}

/* ---- the job list ---- */

static struct job *find_job(struct container *ct, long long id)
{
    for (struct job *j = ct->jobs; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

static void job_free(struct job *j)
{
    if (j->spawn_timer)
        loop_del_timer(g_loop, j->spawn_timer);
    if (j->wd >= 0)
        inotify_rm_watch(inotify_fd, j->wd);
    if (j->wshd_fd >= 0) {
        loop_del_fd(g_loop, j->wshd_fd, LOOP_READ);
        close(j->wshd_fd);
    }
    free(j);
}

void job_remove(struct job *j)
{
    for (struct job **p = &j->ct->jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    job_free(j);
}

int job_add_waiter(struct job *j, struct req *r, int stream, int base64, int exit_status,
                   struct w_error *err)
{
    struct waiter *w = calloc(1, sizeof(*w));

    if (w == NULL)
        return w_err(err, "out of memory");
    w->req = r;
    w->job = j;
    w->stream = stream;
    w->base64 = base64 < 0 ? j->base64 : base64;
    w->exit_status = exit_status;
    w->fd[0] = w->fd[1] = -1;
    w->next = j->waiters;
    j->waiters = w;
    req_set_cancel(r, waiter_cancel, w);
    req_set_parked(r, 1); /* it waits on the job: a drain may close it */
    if (stream)
        stream_pump(r, w);
    else if (job_read_status(j))
        waiter_end(w, NULL);
    return 0;
}

struct job *job_arg(struct req *r, struct container *ct, struct w_error *err)
{
    long long id = proto_job_id(req_arg(r, 2));
    struct job *j = id > 0 ? find_job(ct, id) : NULL;

    if (j == NULL || !j->spawned) {
        w_err(err, "no such job");
        return NULL;
    }
    return j;
}

/* OPTS of link and stream: {"output":"base64"|"text"} (the encoding of this reply,
 * whatever the job was spawned with) and, for stream, {"exit_status":true}. Sets
 * *base64 (-1: as spawned); -1 with err set on bad input. */
static int waiter_opts(struct req *r, const char *cmd, int *base64, int *exit_status,
                       struct w_error *err)
{
    struct json_object *opts = req_nargs(r) > 3 ? req_arg(r, 3) : NULL;

    *base64 = -1;
    *exit_status = 0;
    if (opts == NULL)
        return 0;
    if (!json_object_is_type(opts, json_type_object))
        return w_err(err, "Options must be a hash");
    json_object_object_foreach(opts, k, v)
    {
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (strcmp(k, "output") == 0) {
            if (strcmp(s, "base64") != 0 && strcmp(s, "text") != 0)
                return w_err(err, "Expected `output` to be \"base64\" or \"text\".");
            *base64 = strcmp(s, "base64") == 0;
        } else if (strcmp(k, "exit_status") == 0 && strcmp(cmd, "stream") == 0) {
            if (!json_object_is_type(v, json_type_boolean))
                return w_err(err, "Expected `exit_status` to hold a boolean.");
            *exit_status = json_object_get_boolean(v);
        } else {
            return w_err(err, "Unknown %s option `%s`.", cmd, k);
        }
    }
    return 0;
}

int cmd_link(struct req *r, struct container *ct, struct w_error *err)
{
    struct job *j = job_arg(r, ct, err);
    int base64, exit_status;

    if (j == NULL || waiter_opts(r, "link", &base64, &exit_status, err) < 0)
        return -1;
    return job_add_waiter(j, r, 0, base64, 0, err);
}

int cmd_stream(struct req *r, struct container *ct, struct w_error *err)
{
    struct job *j = job_arg(r, ct, err);
    int base64, exit_status;

    if (j == NULL || waiter_opts(r, "stream", &base64, &exit_status, err) < 0)
        return -1;
    return job_add_waiter(j, r, 1, base64, exit_status, err);
}

struct json_object *job_running_ids(struct container *ct)
{
    struct json_object *a = json_object_new_array();

    for (struct job *j = ct->jobs; j; j = j->next)
        if (j->spawned && !job_read_status(j))
            json_object_array_add(a, json_object_new_int64(j->id));
    return a;
}

void job_container_stopping(struct container *ct)
{
    for (struct job *j = ct->jobs; j; j = j->next) {
        /* Whatever has not ended by now never will: it ends as killed. */
        if (!job_read_status(j) && j->spawned)
            events_job_exited(ct->handle, j->id, -1);
        j->done = 1;
        job_notify(j);
    }
}

void job_container_gone(struct container *ct)
{
    struct w_error gone;

    w_err(&gone, "container was destroyed");
    while (ct->jobs) {
        struct job *j = ct->jobs;
        ct->jobs = j->next;
        while (j->waiters) { /* none should be left; answer them rather than leak */
            struct waiter *w = j->waiters;
            waiter_unlink(w);
            req_set_cancel(w->req, NULL, NULL);
            req_set_drain(w->req, NULL, NULL);
            req_fail(w->req, &gone);
            free(w);
        }
        if (j->spawn_req) {
            req_set_cancel(j->spawn_req, NULL, NULL);
            req_fail(j->spawn_req, &gone);
        }
        job_free(j);
    }
}

struct json_object *job_snapshot(struct container *ct)
{
    struct json_object *o = json_object_new_object();

    for (struct job *j = ct->jobs; j; j = j->next) {
        struct json_object *opt;
        char key[32];
        if (!j->spawned || (!j->base64 && !j->discard))
            continue;
        opt = json_object_new_object();
        json_object_object_add(opt, "base64", json_object_new_boolean(j->base64));
        json_object_object_add(opt, "discard", json_object_new_boolean(j->discard));
        snprintf(key, sizeof(key), "%lld", j->id);
        json_object_object_add(o, key, opt);
    }
    return o;
}

void job_restore(struct container *ct, struct json_object *snapshot)
{
    char path[PATH_MAX + 8];
    struct dirent *e;
    DIR *d;

    snprintf(path, sizeof(path), "%s/jobs", ct->path);
    d = opendir(path);
    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        struct json_object *opt = jsonh_get(snapshot, e->d_name);
        long long id;
        struct job *j;

        if (e->d_name[0] == '\0' || strspn(e->d_name, "0123456789") != strlen(e->d_name))
            continue;
        id = atoll(e->d_name);
        if (id <= 0 || (j = calloc(1, sizeof(*j))) == NULL)
            continue;
        j->id = id;
        j->ct = ct;
        j->wd = j->wshd_fd = -1;
        j->exit_status = -1;
        j->spawned = 1;
        j->base64 = jsonh_get_bool(opt, "base64", 0);
        j->discard = jsonh_get_bool(opt, "discard", 0);
        j->next = ct->jobs;
        ct->jobs = j;
        if (!job_read_status(j)) {
            job_watch(j);
            job_read_status(j); /* it may have ended before the watch */
        }
        if (id >= next_id) /* the sequence file is ahead of every id; be safe anyway */
            next_id = reserved_until = id + 1;
    }
    closedir(d);
}

int job_init(struct w_error *err)
{
    char *text;

    if (snprintf(seq_path, sizeof(seq_path), "%s/.job_seq", g_cfg->server.container_depot_path) >=
        (int)sizeof(seq_path))
        return w_err(err, "depot path too long");
    text = util_read_file(AT_FDCWD, seq_path, 64, NULL, err);
    if (text) {
        next_id = atoll(text) > 0 ? atoll(text) : 1;
        free(text);
    } else if (err->errnum != ENOENT) {
        return -1;
    }
    inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotify_fd < 0)
        return w_errno(err, errno, "inotify_init1");
    return loop_add_fd(g_loop, inotify_fd, LOOP_READ, on_inotify, NULL, err);
}
