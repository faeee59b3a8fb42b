/* Jobs (the "spawn" request): wshd owns the job's output. The job writes into two
 * pipes; this loop appends every read to jobs/<n>/stdout or stderr at once, enforces
 * output_limit, and writes jobs/<n>/status atomically once the job has been reaped AND
 * both pipes are done. A background child may keep the pipes open after the job's main
 * process exited: one second after the exit we drain what is there, close them and
 * write the status anyway. With log_tag, each line also goes to syslog (user.info for
 * stdout, user.err for stderr, tag warden.<log_tag>) on the datagram socket wardend
 * connected and passed with the request: wshd sends them itself, so they go on while
 * wardend restarts. A line longer than LOG_LINE_MAX goes in pieces; a syslog that
 * cannot take a line right now loses it (wshd never waits on syslog). When the file
 * system is full (ENOSPC, EDQUOT) a stream's pipe is no longer read (the job blocks once
 * it is full) and the write is tried again every FULL_RETRY_MS, so the files get every
 * byte, in order, once there is room; the status waits for them. */
#include "config.h"

#include "job.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "jsonh.h"
#include "log.h"
#include "spawn.h"
#include "util.h"

#define SCRIPT_ARG_MAX 100000 /* longer scripts go to the shell's stdin */
#define LINGER_MS 1000
#define LOG_LINE_MAX 4096
#define LOG_TAG_MAX 64
#define STDIN_QUEUE_MAX (8 << 20) /* bytes of stdin queued for a job that does not read */

/* A job_stdin request waiting for its bytes to reach the job; replied to through
 * serve_stdin_done once they have (or once they cannot). */
struct inwrite {
    char *data;
    size_t len, off;
    int eof;
    void *waiter; /* serve's client, NULL once it went away */
    struct inwrite *next;
};
#define FULL_RETRY_MS 250

struct job {
    struct wshd_ctx *ctx;
    int id;
    pid_t pid;
    int pipes[2]; /* read ends of the job's stdout and stderr, -1 when closed */
    int files[2]; /* jobs/<n>/stdout and stderr, written at off[] (splice needs no O_APPEND) */
    off_t off[2];
    long long limit, written;
    int discard, exited, status, limit_hit;
    long long timer;
    int script_fd; /* write end of the shell's stdin for long scripts, or -1 */
    char *script;
    size_t script_len, script_off;
    int log_fd;     /* syslog datagram socket (log_tag), or -1 */
    int log_failed; /* a send failed: said once in wshd's log */
    char log_tag[LOG_TAG_MAX + 1];
    char *line[2]; /* the unfinished line of stdout and stderr */
    size_t line_len[2];
    int tty;         /* on a pty: pipes[0] is the master, pipes[1] unused */
    int in_fd;       /* write end of the job's stdin pipe, or a dup of the master; -1 */
    int in_watch;    /* in_fd is in the loop for LOOP_WRITE */
    int stdin_state; /* STDIN_* below */
    struct inwrite *in_head, *in_tail;
    size_t in_queued;
    struct job *next; /* g_jobs */
    int full[2];      /* the file system is full: pipe i is not read until a retry */
    char *pend[2];    /* read from pipe i, not yet written (read path only) */
    size_t pend_len[2];
    long long full_timer; /* the retry, 0 none */
    int full_said;        /* logged once */
};

enum { STDIN_NONE, STDIN_OPEN, STDIN_CLOSED, STDIN_PASSED };

static struct job *g_jobs;

static void in_fail_all(struct job *j, const char *why);

static void job_free(struct job *j)
{
    for (struct job **p = &g_jobs; *p; p = &(*p)->next)
        if (*p == j) {
            *p = j->next;
            break;
        }
    in_fail_all(j, "the job ended before it read all of its input");
    if (j->in_fd >= 0) {
        if (j->in_watch)
            loop_del_fd(j->ctx->loop, j->in_fd, LOOP_WRITE);
        close(j->in_fd);
    }
    for (int i = 0; i < 2; i++) {
        if (j->pipes[i] >= 0) {
            loop_del_fd(j->ctx->loop, j->pipes[i], LOOP_READ);
            close(j->pipes[i]);
        }
        if (j->files[i] >= 0)
            close(j->files[i]);
    }
    if (j->script_fd >= 0) {
        loop_del_fd(j->ctx->loop, j->script_fd, LOOP_WRITE);
        close(j->script_fd);
    }
    if (j->timer > 0)
        loop_del_timer(j->ctx->loop, j->timer);
    if (j->log_fd >= 0)
        close(j->log_fd);
    if (j->full_timer > 0)
        loop_del_timer(j->ctx->loop, j->full_timer);
    free(j->pend[0]);
    free(j->pend[1]);
    free(j->line[0]);
    free(j->line[1]);
    free(j->script);
    free(j);
}

/* One syslog datagram: <PRI>Mmm dd hh:mm:ss warden.TAG: LINE (RFC 3164, as syslog(3)). */
static void log_send(struct job *j, int i, const char *line, size_t len)
{
    char head[LOG_TAG_MAX + 64], ts[32];
    struct iovec iov[2];
    struct tm tm;
    time_t now = time(NULL);
    int n;

    localtime_r(&now, &tm);
    strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
    n = snprintf(head, sizeof(head),
                 "<%d>%s warden.%s: ", i == 0 ? LOG_USER | LOG_INFO : LOG_USER | LOG_ERR, ts,
                 j->log_tag);
    iov[0] = (struct iovec){head, (size_t)n};
    iov[1] = (struct iovec){(void *)line, len};
    if (writev(j->log_fd, iov, 2) < 0 && !j->log_failed) {
        j->log_failed = 1;
        log_msg(LOG_WARNING, "job %d: syslog: %s; lines that cannot be sent are lost", j->id,
                strerror(errno));
    }
}

/* Split what the job wrote on stream i into lines for syslog; at_eof flushes the rest. */
static void log_lines(struct job *j, int i, const char *buf, size_t n, int at_eof)
{
    if (j->log_fd < 0)
        return;
    if (j->line[i] == NULL && (j->line[i] = malloc(LOG_LINE_MAX)) == NULL)
        return;
    for (size_t k = 0; k < n; k++) {
        if (buf[k] != '\n')
            j->line[i][j->line_len[i]++] = buf[k];
        if (buf[k] == '\n' || j->line_len[i] == LOG_LINE_MAX) {
            log_send(j, i, j->line[i], j->line_len[i]);
            j->line_len[i] = 0;
        }
    }
    if (at_eof && j->line_len[i] > 0) {
        log_send(j, i, j->line[i], j->line_len[i]);
        j->line_len[i] = 0;
    }
}

static void close_pipe(struct job *j, int i)
{
    if (j->pipes[i] < 0)
        return;
    log_lines(j, i, NULL, 0, 1);
    loop_del_fd(j->ctx->loop, j->pipes[i], LOOP_READ);
    close(j->pipes[i]);
    j->pipes[i] = -1;
}

/* ---- what a finished job leaves: files shared between jobs ----
 * Every new file costs an inode, and an inode is dear on some file systems: ext4 without
 * a journal skips, one by one, every inode of the group deleted in the last half minute
 * (recently_deleted), 0.1 to 0.2 ms a file on a depot where containers come and go. So
 * a job's stdout and stderr are made when their first byte comes (an output it never
 * writes is never made: a missing one is empty, before its end and after), and when it
 * has ended, its status is a hard link to one read-only-by-convention file per content
 * in jobs/ (.status-exit-N, .status-signal-N, .status-limit), each written once per
 * wshd (tmp + rename, so the link is whole): a job that writes nothing creates its
 * directory and nothing else, and the status is the one entry its end adds (so a
 * watcher of the directory wakes once for it). A link that cannot
 * be made (EMLINK past the file system's link count, a file deleted meanwhile) writes
 * the shared file anew once, then falls back to a file of the job's own. */

#define SHARED_LIMIT 0
#define SHARED_EXIT 1                     /* + exit code 0..255 */
#define SHARED_SIGNAL (SHARED_EXIT + 256) /* + signal number */
#define SHARED_MAX (SHARED_SIGNAL + NSIG)

static unsigned char g_shared_made[SHARED_MAX]; /* written by this wshd */

static void shared_name(int k, char *buf, size_t size)
{
    if (k == SHARED_LIMIT)
        snprintf(buf, size, ".status-limit");
    else if (k < SHARED_SIGNAL)
        snprintf(buf, size, ".status-exit-%d", k - SHARED_EXIT);
    else
        snprintf(buf, size, ".status-signal-%d", k - SHARED_SIGNAL);
}

/* jobs/DST as a link to shared file k holding data: 0, or -1 (errno) when no link. */
static int link_shared(struct wshd_ctx *ctx, int k, const char *data, size_t len, const char *dst)
{
    struct w_error err;
    char name[32];

    shared_name(k, name, sizeof(name));
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt > 0 || !g_shared_made[k]) {
            if (util_write_file_atomic(ctx->jobs_fd, name, data, len, &err) < 0) {
                errno = err.errnum ? err.errnum : EIO;
                return -1;
            }
            g_shared_made[k] = 1;
        }
        if (linkat(ctx->jobs_fd, name, ctx->jobs_fd, dst, 0) == 0)
            return 0;
        if (errno != EMLINK && errno != ENOENT)
            return -1;
    }
    return -1;
}

static void write_status(struct job *j)
{
    struct json_object *o = json_object_new_object();
    struct w_error err;
    char path[32];
    const char *s;
    size_t len;
    int k;

    if (j->limit_hit) {
        json_object_object_add(o, "exit", NULL);
        json_object_object_add(o, "signal", json_object_new_int(SIGKILL));
        json_object_object_add(o, "reason", json_object_new_string("output limit"));
        k = SHARED_LIMIT;
    } else if (WIFEXITED(j->status)) {
        json_object_object_add(o, "exit", json_object_new_int(WEXITSTATUS(j->status)));
        k = SHARED_EXIT + WEXITSTATUS(j->status);
    } else {
        json_object_object_add(o, "exit", NULL);
        json_object_object_add(o, "signal", json_object_new_int(WTERMSIG(j->status)));
        k = WTERMSIG(j->status) > 0 && WTERMSIG(j->status) < NSIG
                ? SHARED_SIGNAL + WTERMSIG(j->status)
                : -1;
    }
    s = jsonh_str(o, &len);
    snprintf(path, sizeof(path), "%d/status", j->id);
    if ((k < 0 || link_shared(j->ctx, k, s, len, path) < 0) &&
        util_write_file_atomic(j->ctx->jobs_fd, path, s, len, &err) < 0)
        log_msg(LOG_ERR, "job %d: %s", j->id, err.msg);
    json_object_put(o);
}

static void maybe_finish(struct job *j);

/* Past the limit: keep nothing more, kill the job (it leads its own process group). */
static void hit_limit(struct job *j, int *again)
{
    j->limit_hit = 1;
    kill(-j->pid, SIGKILL);
    close_pipe(j, 0);
    close_pipe(j, 1);
    *again = 0;
}

/* jobs/<n>/stdout or stderr, made when the first byte for it comes: 0, or -1 (errno). */
static int open_output(struct job *j, int i)
{
    char path[32];

    if (j->files[i] >= 0)
        return 0;
    snprintf(path, sizeof(path), "%d/%s", j->id, i ? "stderr" : "stdout");
    j->files[i] = openat(j->ctx->jobs_fd, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    return j->files[i] < 0 ? -1 : 0;
}

/* Move what the pipe holds into the file in the kernel, without copying it through
 * wshd: up to the output limit. Returns bytes moved, 0 at EOF, -1 (errno) otherwise. */
static ssize_t splice_once(struct job *j, int i)
{
    size_t max = 1 << 20;

    if (j->limit > 0 && (long long)max > j->limit - j->written)
        max = (size_t)(j->limit - j->written);
    return splice(j->pipes[i], NULL, j->files[i], &j->off[i], max, SPLICE_F_NONBLOCK);
}

/* ---- a full file system: stop reading, retry the write later ---- */

static void on_output(struct loop *loop, int fd, int mask, void *data);
static void on_full_retry(struct loop *loop, long long id, void *data);

static int is_full(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT;
}

/* Stream i cannot be written: stop reading its pipe, keep buf[0..len) (what was read and
 * not written; len 0 on the splice path, where the pipe keeps it), retry later. */
static void full_block(struct job *j, int i, const char *buf, size_t len, int errnum)
{
    if (len > 0) {
        char *p = realloc(j->pend[i], j->pend_len[i] + len);
        if (p == NULL) {
            log_msg(LOG_ERR, "job %d: out of memory keeping %zu bytes of output", j->id, len);
        } else {
            memcpy(p + j->pend_len[i], buf, len);
            j->pend[i] = p;
            j->pend_len[i] += len;
        }
    }
    if (!j->full_said) {
        j->full_said = 1;
        log_msg(LOG_WARNING, "job %d: write output: %s; the job waits until it can be written",
                j->id, strerror(errnum));
    }
    if (!j->full[i]) {
        j->full[i] = 1;
        loop_del_fd(j->ctx->loop, j->pipes[i], LOOP_READ);
    }
    if (j->full_timer == 0)
        j->full_timer = loop_add_timer(j->ctx->loop, FULL_RETRY_MS, on_full_retry, j);
}

/* Write what stream i kept; 0 once it is all in the file. */
static int pend_flush(struct job *j, int i)
{
    if (j->pend_len[i] > 0 && open_output(j, i) < 0)
        return -1;
    while (j->pend_len[i] > 0) {
        ssize_t n = pwrite(j->files[i], j->pend[i], j->pend_len[i], j->off[i]);
        if (n <= 0)
            return n < 0 && errno == EINTR ? 0 : -1;
        j->off[i] += n;
        j->pend_len[i] -= (size_t)n;
        memmove(j->pend[i], j->pend[i] + n, j->pend_len[i]);
    }
    return 0;
}

static void on_full_retry(struct loop *loop, long long id, void *data)
{
    struct job *j = data;
    struct w_error err;

    (void)id;
    j->full_timer = 0;
    for (int i = 0; i < 2; i++) {
        if (!j->full[i])
            continue;
        if (pend_flush(j, i) < 0) {
            j->full_timer = loop_add_timer(loop, FULL_RETRY_MS, on_full_retry, j);
            continue;
        }
        j->full[i] = 0;
        /* on_output tries the write again; a full file system blocks it once more. */
        if (j->pipes[i] >= 0 && loop_add_fd(loop, j->pipes[i], LOOP_READ, on_output, j, &err) < 0)
            log_msg(LOG_ERR, "job %d: %s", j->id, err.msg);
    }
    maybe_finish(j);
}

/* Append what the pipe holds to the file; past the limit keep only up to it and kill
 * the job. */
static void drain_once(struct job *j, int i, int *again)
{
    static char buf[256 * 1024]; /* wshd is single-threaded */
    ssize_t n = -1;
    size_t keep;

    *again = 0;
    /* splice moves the bytes without wshd seeing them: not when syslog needs them, and
     * not before the file exists (the first read tells output from EOF). */
    if (!j->tty && !j->discard && j->log_fd < 0 && j->files[i] >= 0 &&
        !(j->limit > 0 && j->written >= j->limit)) {
        n = splice_once(j, i);
        if (n > 0) {
            j->written += n;
            *again = 1;
            return;
        }
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0 && is_full(errno)) { /* nothing left the pipe */
            full_block(j, i, NULL, 0, errno);
            return;
        }
    }
    /* discard, at the limit, or a file system without splice: read. */
    if (n != 0)
        n = read(j->pipes[i], buf, sizeof(buf));
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            close_pipe(j, i);
        return;
    }
    if (n == 0) {
        close_pipe(j, i);
        return;
    }
    *again = 1;
    if (j->discard) {
        log_lines(j, i, buf, (size_t)n, 0);
        return;
    }
    keep = (size_t)n;
    if (j->limit > 0 && j->written + n > j->limit)
        keep = (size_t)(j->limit - j->written);
    if (keep > 0) {
        ssize_t w = open_output(j, i) < 0 ? -1 : pwrite(j->files[i], buf, keep, j->off[i]);
        int errnum = errno; /* log_lines may set it */

        j->written += (long long)keep;
        log_lines(j, i, buf, keep, 0);
        if (w < 0 && is_full(errnum)) {
            full_block(j, i, buf, keep, errnum);
            *again = 0;
        } else if (w >= 0 && (size_t)w < keep) { /* a short write: the rest when there is room */
            j->off[i] += w;
            full_block(j, i, buf + w, keep - (size_t)w, ENOSPC);
            *again = 0;
        } else {
            if (w != (ssize_t)keep)
                log_msg(LOG_ERR, "job %d: write output: %s", j->id, strerror(errnum));
            j->off[i] += (off_t)keep;
        }
    }
    if (keep < (size_t)n)
        hit_limit(j, again);
}

static void on_output(struct loop *loop, int fd, int mask, void *data)
{
    struct job *j = data;
    int again;

    (void)loop;
    (void)mask;
    drain_once(j, fd == j->pipes[0] ? 0 : 1, &again);
    maybe_finish(j);
}

static void on_linger(struct loop *loop, long long id, void *data)
{
    struct job *j = data;
    int again;

    (void)loop;
    (void)id;
    j->timer = 0;
    for (int i = 0; i < 2; i++) {
        if (j->full[i])
            continue; /* its pipe still holds output: maybe_finish waits on */
        do
            again = 0, j->pipes[i] >= 0 ? drain_once(j, i, &again) : (void)0;
        while (again && j->pipes[i] >= 0);
        close_pipe(j, i);
    }
    maybe_finish(j);
}

static void maybe_finish(struct job *j)
{
    if (!j->exited)
        return;
    if (j->pipes[0] < 0 && j->pipes[1] < 0 && !j->full[0] && !j->full[1]) {
        write_status(j);
        job_free(j);
    } else if (j->timer == 0) {
        j->timer = loop_add_timer(j->ctx->loop, LINGER_MS, on_linger, j);
    }
}

static void job_exited(struct wshd_ctx *ctx, pid_t pid, int status, void *data)
{
    struct job *j = data;

    (void)ctx;
    (void)pid;
    j->exited = 1;
    j->status = status;
    maybe_finish(j);
}

static void on_script_writable(struct loop *loop, int fd, int mask, void *data)
{
    struct job *j = data;
    ssize_t n = write(fd, j->script + j->script_off, j->script_len - j->script_off);

    (void)mask;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n > 0)
        j->script_off += (size_t)n;
    if (n < 0 || j->script_off == j->script_len) {
        loop_del_fd(loop, fd, LOOP_WRITE);
        close(fd);
        j->script_fd = -1;
        free(j->script);
        j->script = NULL;
    }
}

/* ---- the job's stdin: job_stdin requests queue bytes, written as the job reads ---- */

static void in_free(struct inwrite *w)
{
    free(w->data);
    free(w);
}

static void in_done(struct inwrite *w, const char *why)
{
    if (w->waiter)
        serve_stdin_done(w->waiter, why);
    in_free(w);
}

static void in_fail_all(struct job *j, const char *why)
{
    while (j->in_head) {
        struct inwrite *w = j->in_head;
        j->in_head = w->next;
        in_done(w, why);
    }
    j->in_tail = NULL;
    j->in_queued = 0;
}

static void in_close(struct job *j)
{
    if (j->in_fd < 0)
        return;
    if (j->in_watch)
        loop_del_fd(j->ctx->loop, j->in_fd, LOOP_WRITE);
    j->in_watch = 0;
    close(j->in_fd);
    j->in_fd = -1;
}

/* EOF on a pty: the terminal's EOF character (what ^D at a line's start does), which
 * leaves the terminal open for the job's output. */
static int tty_eof(struct job *j)
{
    struct termios t;
    char c = 4;

    if (tcgetattr(j->in_fd, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
        c = (char)t.c_cc[VEOF];
    return write(j->in_fd, &c, 1) == 1 ? 0 : -1;
}

static void on_stdin_writable(struct loop *loop, int fd, int mask, void *data);

/* Write what the queue holds; what the job does not take now waits for LOOP_WRITE. */
static void in_pump(struct job *j)
{
    while (j->in_head) {
        struct inwrite *w = j->in_head;
        while (w->off < w->len) {
            ssize_t n = write(j->in_fd, w->data + w->off, w->len - w->off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN) {
                if (!j->in_watch && loop_add_fd(j->ctx->loop, j->in_fd, LOOP_WRITE,
                                                on_stdin_writable, j, NULL) == 0)
                    j->in_watch = 1;
                return;
            }
            if (n < 0) {
                char why[128];
                snprintf(why, sizeof(why), "the job's stdin: %s", strerror(errno));
                in_fail_all(j, errno == EPIPE ? "the job closed its stdin" : why);
                in_close(j);
                j->stdin_state = STDIN_CLOSED;
                return;
            }
            w->off += (size_t)n;
            j->in_queued -= (size_t)n;
        }
        j->in_head = w->next;
        if (j->in_head == NULL)
            j->in_tail = NULL;
        if (w->eof) {
            if (j->tty)
                (void)tty_eof(j);
            else
                in_close(j);
            /* a tty stays writable: ^D ends one read, and more input may follow */
            if (!j->tty)
                j->stdin_state = STDIN_CLOSED;
        }
        in_done(w, NULL);
    }
    if (j->in_watch) {
        loop_del_fd(j->ctx->loop, j->in_fd, LOOP_WRITE);
        j->in_watch = 0;
    }
}

static void on_stdin_writable(struct loop *loop, int fd, int mask, void *data)
{
    (void)loop, (void)fd, (void)mask;
    in_pump(data);
}

static struct job *job_find(int id, struct w_error *err)
{
    for (struct job *j = g_jobs; j; j = j->next)
        if (j->id == id && !j->exited)
            return j;
    w_err(err, "job %d is not running", id);
    return NULL;
}

static int job_id_field(struct json_object *req, int *id, struct w_error *err)
{
    struct json_object *v = jsonh_get(req, "job");

    if (v == NULL || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) <= 0 ||
        json_object_get_int64(v) > INT_MAX)
        return w_err(err, "job: must be an integer between 1 and %d", INT_MAX);
    *id = (int)json_object_get_int64(v);
    return 0;
}

int job_stdin(struct json_object *req, void *waiter, struct w_error *err)
{
    struct json_object *v = jsonh_get(req, "data");
    struct inwrite *w;
    struct job *j;
    ssize_t n = 0;
    int id;

    if (job_id_field(req, &id, err) < 0)
        return -1;
    if (v && !json_object_is_type(v, json_type_string))
        return w_err(err, "data: must be a base64 string");
    if (jsonh_get(req, "eof") && !json_object_is_type(jsonh_get(req, "eof"), json_type_boolean))
        return w_err(err, "eof: must be a boolean");
    if ((j = job_find(id, err)) == NULL)
        return -1;
    if (j->stdin_state == STDIN_NONE)
        return w_err(err, "job %d has no stdin (spawn it with stdin or a tty)", id);
    if (j->stdin_state == STDIN_PASSED)
        return w_err(err, "job %d's stdin was passed to the client that spawned it", id);
    if (j->stdin_state == STDIN_CLOSED || (j->in_tail && j->in_tail->eof && !j->tty))
        return w_err(err, "job %d's stdin is closed", id);
    if ((w = calloc(1, sizeof(*w))) == NULL)
        return w_err(err, "out of memory");
    if (v && json_object_get_string_len(v) > 0) {
        size_t len = (size_t)json_object_get_string_len(v);
        if ((w->data = malloc(len / 4 * 3 + 3)) == NULL) {
            free(w);
            return w_err(err, "out of memory");
        }
        n = util_base64_decode(json_object_get_string(v), len, w->data);
        if (n < 0) {
            in_free(w);
            return w_err(err, "data: not base64");
        }
    }
    if (j->in_queued + (size_t)n > STDIN_QUEUE_MAX) {
        in_free(w);
        return w_err(err, "job %d has %zu bytes of input it has not read yet; try again later", id,
                     j->in_queued);
    }
    w->len = (size_t)n;
    w->eof = jsonh_get_bool(req, "eof", 0);
    w->waiter = waiter;
    j->in_queued += w->len;
    if (j->in_tail)
        j->in_tail->next = w;
    else
        j->in_head = w;
    j->in_tail = w;
    in_pump(j);
    return 0;
}

void job_waiter_gone(void *waiter)
{
    for (struct job *j = g_jobs; j; j = j->next)
        for (struct inwrite *w = j->in_head; w; w = w->next)
            if (w->waiter == waiter)
                w->waiter = NULL;
}

int job_signal(struct json_object *req, struct w_error *err)
{
    struct job *j;
    int id, sig;
    struct json_object *v = jsonh_get(req, "signal");

    if (job_id_field(req, &id, err) < 0)
        return -1;
    if (v == NULL || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
        json_object_get_int64(v) >= NSIG)
        return w_err(err, "signal: must be an integer between 1 and %d", NSIG - 1);
    sig = (int)json_object_get_int64(v);
    if ((j = job_find(id, err)) == NULL)
        return -1;
    /* The job leads its own process group (setsid): everything it started that stayed
     * in it gets the signal too, as a terminal's ^C would. */
    if (kill(-j->pid, sig) < 0 && kill(j->pid, sig) < 0 && errno != ESRCH)
        return w_errno(err, errno, "kill job %d", id);
    return 0;
}

int job_resize(struct json_object *req, struct w_error *err)
{
    struct winsize ws = {0};
    struct job *j;
    int id;
    struct json_object *rv = jsonh_get(req, "rows"), *cv = jsonh_get(req, "cols");

    if (job_id_field(req, &id, err) < 0)
        return -1;
    if (rv == NULL || cv == NULL || !json_object_is_type(rv, json_type_int) ||
        !json_object_is_type(cv, json_type_int) || json_object_get_int64(rv) < 1 ||
        json_object_get_int64(rv) > 65535 || json_object_get_int64(cv) < 1 ||
        json_object_get_int64(cv) > 65535)
        return w_err(err, "rows, cols: must be integers between 1 and 65535");
    if ((j = job_find(id, err)) == NULL)
        return -1;
    if (!j->tty)
        return w_err(err, "job %d is not on a tty", id);
    ws.ws_row = (unsigned short)json_object_get_int64(rv);
    ws.ws_col = (unsigned short)json_object_get_int64(cv);
    if (ioctl(j->pipes[0] >= 0 ? j->pipes[0] : j->in_fd, TIOCSWINSZ, &ws) < 0)
        return w_errno(err, errno, "job %d: TIOCSWINSZ", id);
    return 0;
}

struct job_req {
    int id;
    const char *script;
    size_t script_len;
    long long limit;
    int discard;
    const char *log_tag; /* NULL: none */
    int stdin, pty, rows, cols, pass_fds;
};

static int parse_job_req(struct json_object *req, struct job_req *r, struct w_error *err)
{
    struct json_object *v;

    v = jsonh_get(req, "job");
    if (v == NULL || !json_object_is_type(v, json_type_int))
        return w_err(err, "job: required integer");
    if (json_object_get_int64(v) <= 0 || json_object_get_int64(v) > INT_MAX)
        return w_err(err, "job: must be between 1 and %d", INT_MAX);
    r->id = (int)json_object_get_int64(v);
    v = jsonh_get(req, "script");
    if (v == NULL || !json_object_is_type(v, json_type_string))
        return w_err(err, "script: required string");
    r->script = json_object_get_string(v);
    r->script_len = (size_t)json_object_get_string_len(v);
    if (strlen(r->script) != r->script_len)
        return w_err(err, "script: contains a NUL byte");
    v = jsonh_get(req, "output_limit");
    if (v && (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0))
        return w_err(err, "output_limit: must be an integer >= 0");
    r->limit = v ? json_object_get_int64(v) : 0;
    v = jsonh_get(req, "discard_output");
    if (v && !json_object_is_type(v, json_type_boolean))
        return w_err(err, "discard_output: must be a boolean");
    r->discard = v ? json_object_get_boolean(v) : 0;
    v = jsonh_get(req, "log_tag");
    if (v && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) == 0 ||
              json_object_get_string_len(v) > LOG_TAG_MAX ||
              strchr(json_object_get_string(v), ' ') != NULL))
        return w_err(err, "log_tag: must be a string of 1 to %d characters, no spaces",
                     LOG_TAG_MAX);
    r->log_tag = v ? json_object_get_string(v) : NULL;
    for (int k = 0; k < 3; k++) {
        static const char *const names[3] = {"stdin", "pty", "pass_fds"};
        int *dst[3] = {&r->stdin, &r->pty, &r->pass_fds};
        v = jsonh_get(req, names[k]);
        if (v && !json_object_is_type(v, json_type_boolean))
            return w_err(err, "%s: must be a boolean", names[k]);
        *dst[k] = v ? json_object_get_boolean(v) : 0;
    }
    r->rows = 24, r->cols = 80;
    for (int k = 0; k < 2; k++) {
        int *dst = k ? &r->cols : &r->rows;
        v = jsonh_get(req, k ? "cols" : "rows");
        if (v && (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 1 ||
                  json_object_get_int64(v) > 65535))
            return w_err(err, "%s: must be an integer between 1 and 65535", k ? "cols" : "rows");
        if (v)
            *dst = (int)json_object_get_int64(v);
    }
    if (r->pty)
        r->stdin = 1;
    if (r->stdin && r->script_len > SCRIPT_ARG_MAX)
        return w_err(err, "script: a job with stdin takes a script of at most %d bytes",
                     SCRIPT_ARG_MAX);
    if (r->pass_fds && !r->stdin)
        return w_err(err, "pass_fds: needs stdin or pty");
    return 0;
}

static void remove_job_dir(struct job *j)
{
    char path[32];

    snprintf(path, sizeof(path), "%d/stdout", j->id);
    unlinkat(j->ctx->jobs_fd, path, 0);
    snprintf(path, sizeof(path), "%d/stderr", j->id);
    unlinkat(j->ctx->jobs_fd, path, 0);
    snprintf(path, sizeof(path), "%d", j->id);
    unlinkat(j->ctx->jobs_fd, path, AT_REMOVEDIR);
}

/* ---- the job's directory ----
 * A new directory is an inode too (above), and mkdir the dearest call of a job's start
 * on such a depot (0.1 ms here): so wshd keeps one made ahead, jobs/.spare, renamed to
 * jobs/<n> at the spawn (10 us) and made anew once the spawn has been answered, while
 * the job runs. RENAME_NOREPLACE keeps an existing jobs/<n> an error. On a depot with
 * no block or inode left for others than root, the spare is left alone and the spawn
 * does what it did without one: the mkdir says whether there is room (ENOSPC to the
 * client), so a full depot still refuses a new job rather than lose its output. */

static int g_spare; /* jobs/.spare is there, made by this wshd */

void job_make_spare(struct wshd_ctx *ctx)
{
    if (!g_spare && (mkdirat(ctx->jobs_fd, ".spare", 0755) == 0 || errno == EEXIST))
        g_spare = 1;
}

/* Room on jobs/'s file system for more than root: a block and an inode to spare. */
static int room(int fd)
{
    struct statfs s;

    return fstatfs(fd, &s) == 0 && s.f_bavail > 0 && (s.f_files == 0 || s.f_ffree > 0);
}

/* Make jobs/<n>/ (stdout and stderr come with their first byte: open_output). */
static int make_job_dir(struct job *j, struct w_error *err)
{
    char path[32];

    snprintf(path, sizeof(path), "%d", j->id);
    if (g_spare && room(j->ctx->jobs_fd)) {
        if (renameat2(j->ctx->jobs_fd, ".spare", j->ctx->jobs_fd, path, RENAME_NOREPLACE) == 0) {
            g_spare = 0;
            return 0;
        }
        if (errno == EEXIST)
            return w_err(err, "job %d already exists", j->id);
        g_spare = 0; /* gone or unusable: mkdir, and a new one after */
    }
    if (mkdirat(j->ctx->jobs_fd, path, 0755) < 0) {
        if (errno == EEXIST)
            return w_err(err, "job %d already exists", j->id);
        return w_errno(err, errno, "mkdir jobs/%d", j->id);
    }
    return 0;
}

/* Pipes (or a pty), fork, and registration in the loop. On failure the caller cleans
 * up. */
static int start_process(struct job *j, struct spawn_opts *o, const struct job_req *r,
                         struct w_error *err)
{
    char *argv_c[] = {"/bin/sh", "-c", (char *)r->script, NULL};
    char *argv_s[] = {"/bin/sh", "-s", NULL};
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, in[2] = {-1, -1}, master = -1, slave = -1;
    int rc = -1;

    if (r->pty) {
        if (spawn_open_pty(r->rows, r->cols, o->user.uid, &master, &slave, err) < 0)
            return -1;
        if ((j->in_fd = fcntl(master, F_DUPFD_CLOEXEC, 3)) < 0) {
            w_errno(err, errno, "dup the pty master");
            goto out;
        }
        if (o->term == NULL)
            o->term = "xterm";
        o->argv = argv_c;
        o->fds[0] = o->fds[1] = o->fds[2] = slave;
        o->ctty = 1;
        if ((j->pid = spawn_start(o, err)) < 0)
            goto out;
        j->tty = 1;
        j->pipes[0] = master, master = -1;
        util_set_nonblock(j->pipes[0], 1, NULL);
        if (loop_add_fd(j->ctx->loop, j->pipes[0], LOOP_READ, on_output, j, err) < 0)
            kill(j->pid, SIGKILL);
        util_set_nonblock(j->in_fd, 1, NULL);
        j->stdin_state = STDIN_OPEN;
        rc = 0;
        goto out;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0)
        goto sys;
    /* Bigger pipes: fewer wake-ups per MiB for a job that writes a lot. Best effort. */
    (void)fcntl(out[0], F_SETPIPE_SZ, 1 << 20);
    (void)fcntl(errp[0], F_SETPIPE_SZ, 1 << 20);
    if ((r->stdin || r->script_len > SCRIPT_ARG_MAX) && pipe2(in, O_CLOEXEC) < 0)
        goto sys;
    o->argv = in[0] >= 0 && !r->stdin ? argv_s : argv_c;
    o->fds[0] = in[0] >= 0 ? in[0] : j->ctx->devnull;
    o->fds[1] = out[1];
    o->fds[2] = errp[1];
    if ((j->pid = spawn_start(o, err)) < 0)
        goto out;
    j->pipes[0] = out[0], out[0] = -1;
    j->pipes[1] = errp[0], errp[0] = -1;
    for (int i = 0; i < 2; i++) {
        util_set_nonblock(j->pipes[i], 1, NULL);
        if (loop_add_fd(j->ctx->loop, j->pipes[i], LOOP_READ, on_output, j, err) < 0)
            kill(j->pid, SIGKILL); /* unwatchable: end it, status says killed */
    }
    if (in[1] >= 0 && r->stdin) {
        j->in_fd = in[1], in[1] = -1;
        util_set_nonblock(j->in_fd, 1, NULL);
        j->stdin_state = STDIN_OPEN;
    } else if (in[1] >= 0) {
        j->script = malloc(r->script_len);
        if (j->script)
            memcpy(j->script, r->script, r->script_len);
        j->script_len = r->script_len;
        j->script_fd = in[1], in[1] = -1;
        util_set_nonblock(j->script_fd, 1, NULL);
        if (j->script == NULL ||
            loop_add_fd(j->ctx->loop, j->script_fd, LOOP_WRITE, on_script_writable, j, NULL) < 0)
            kill(j->pid, SIGKILL);
    }
    rc = 0;
    goto out;
sys:
    w_errno(err, errno, "pipe2 for job %lld", (long long)j->id);
out:
    for (int i = 0; i < 2; i++) {
        if (out[i] >= 0)
            close(out[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        if (in[i] >= 0)
            close(in[i]);
    }
    if (master >= 0)
        close(master);
    if (slave >= 0)
        close(slave);
    if (rc < 0 && j->in_fd >= 0) {
        close(j->in_fd);
        j->in_fd = -1;
    }
    return rc;
}

pid_t job_start(struct wshd_ctx *ctx, struct json_object *req, const int *fds, int nfds,
                int *pass_fd, struct w_error *err)
{
    struct spawn_opts o = {0};
    struct job_req r = {0};
    struct job *j;

    if (parse_job_req(req, &r, err) < 0 || spawn_parse_common(req, &o, err) < 0)
        return -1;
    if (nfds != (r.log_tag != NULL))
        return w_err(err, "spawn takes %s descriptor%s (got %d)",
                     r.log_tag ? "one (the syslog socket of log_tag)" : "no", r.log_tag ? "" : "s",
                     nfds);
    if ((j = calloc(1, sizeof(*j))) == NULL)
        return w_err(err, "out of memory");
    j->ctx = ctx;
    j->id = r.id;
    j->limit = r.limit;
    j->discard = r.discard;
    j->pipes[0] = j->pipes[1] = j->files[0] = j->files[1] = j->script_fd = j->log_fd = -1;
    j->in_fd = -1;
    *pass_fd = -1;
    if (r.log_tag != NULL) {
        strlcpy(j->log_tag, r.log_tag, sizeof(j->log_tag));
        /* The caller closes the received descriptors: keep a copy of ours. */
        if ((j->log_fd = fcntl(fds[0], F_DUPFD_CLOEXEC, 3)) < 0) {
            w_errno(err, errno, "log_tag: dup");
            job_free(j);
            return -1;
        }
        util_set_nonblock(j->log_fd, 1, NULL);
    }
    if (make_job_dir(j, err) < 0) {
        job_free(j);
        return -1;
    }
    if (start_process(j, &o, &r, err) < 0) {
        remove_job_dir(j);
        job_free(j);
        return -1;
    }
    if (r.pass_fds) {
        /* The pty master: a copy (wshd keeps reading its output). The stdin pipe: ours,
         * so the client's close is the job's EOF. */
        if (j->tty)
            *pass_fd = fcntl(j->in_fd, F_DUPFD_CLOEXEC, 3);
        else
            *pass_fd = j->in_fd, j->in_fd = -1, j->stdin_state = STDIN_PASSED;
        if (*pass_fd >= 0 && !j->tty) /* the master's flags are wshd's too: not there */
            util_set_nonblock(*pass_fd, 0, NULL);
    }
    j->next = g_jobs;
    g_jobs = j;
    serve_watch_pid(j->pid, job_exited, j);
    return j->pid;
}
