/* Runs in wardend's only thread, driven by the loop. Each connection holds an input
 * buffer of raw bytes, at most one running request, and an output buffer. A request
 * runs only when the previous one on its connection has completed, which is what keeps
 * replies strictly in order while other connections go on. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "proto.h"
#include "req.h"
#include "unixsock.h"
#include "util.h"
#include "wardend.h"

#define READ_CHUNK 65536
#define STALL_MS 10000 /* drop a client that reads nothing this long */

struct buf {
    char *data;
    size_t len, cap, off; /* off: bytes already consumed (out: written) */
};

struct conn {
    int fd;
    struct buf in, out;
    struct req *cur;
    int eof;     /* peer closed its side: finish queued work, then close */
    int closing; /* close once the output is flushed */
    int writing; /* LOOP_WRITE registered */
    int reading; /* LOOP_READ registered */
    int paused;  /* input waits for the output backlog to drain */
    int in_pump; /* conn_pump is on the stack: it runs the next request itself */
    long long last_progress;
    int outq; /* SIOCOUTQ at the last sweep: what the kernel holds unread */
    uint64_t *refs;
    size_t nrefs;
    /* Descriptors that go with the first byte of a reply still queued behind pass_at
     * bytes (SCM_RIGHTS on a stream socket ride with the byte they are sent with). */
    int pass[FDPASS_MAX], npass;
    size_t pass_at;
    struct conn *prev, *next;
};

static int listen_fd = -1;
static struct conn *conns;
static struct conn *dead; /* closed, freed from a timer once no caller holds them */
static long long reap_timer;
static long long sweep_timer;
static void (*closed_cb)(uint64_t serial);
static int draining;             /* SIGUSR2: no new connections or requests */
static void (*drained_cb)(void); /* once the last connection has closed */
static long long drained_timer;
static void (*dispatch)(struct req *r);

static void conn_pump(struct conn *c);
static void conn_close(struct conn *c);
static void set_reading(struct conn *c, int on);

static int buf_append(struct buf *b, const char *data, size_t len)
{
    if (b->off > 0 && b->off == b->len)
        b->off = b->len = 0;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *nd;
        if (b->off > 0) { /* compact first */
            memmove(b->data, b->data + b->off, b->len - b->off);
            b->len -= b->off;
            b->off = 0;
        }
        while (cap < b->len + len)
            cap *= 2;
        if (cap != b->cap) {
            nd = realloc(b->data, cap);
            if (nd == NULL)
                return -1;
            b->data = nd;
            b->cap = cap;
        }
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

static size_t buf_used(const struct buf *b)
{
    return b->len - b->off;
}

static void buf_free(struct buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* ---- output ---- */

static void on_writable(struct loop *loop, int fd, int mask, void *data);

static void conn_flush(struct conn *c)
{
    if (c->fd < 0)
        return;
    while (buf_used(&c->out) > 0) {
        ssize_t n;
        if (c->npass > 0 && c->pass_at == 0) {
            struct w_error err;
            /* the first byte alone: a short sendmsg must not take the fds with it twice */
            if (fdpass_send(c->fd, c->out.data + c->out.off, 1, c->pass, c->npass, &err) < 0) {
                if (err.errnum == EAGAIN || err.errnum == EWOULDBLOCK)
                    break;
                log_msg(LOG_DEBUG, "client fd %d: %s", c->fd, err.msg);
                conn_close(c);
                return;
            }
            for (int i = 0; i < c->npass; i++)
                close(c->pass[i]);
            c->npass = 0;
            c->out.off += 1;
            continue;
        }
        n = write(c->fd, c->out.data + c->out.off, c->npass > 0 ? c->pass_at : buf_used(&c->out));
        if (n > 0 && c->npass > 0)
            c->pass_at -= (size_t)n;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            log_msg(LOG_DEBUG, "client fd %d: write: %s", c->fd, strerror(errno));
            conn_close(c);
            return;
        }
        c->out.off += (size_t)n;
        c->last_progress = loop_now_ms();
    }
    if (buf_used(&c->out) == 0) {
        c->out.off = c->out.len = 0;
        if (c->out.cap > (1u << 20)) { /* give back what a big reply took */
            free(c->out.data);
            memset(&c->out, 0, sizeof(c->out));
        }
    }
    if (buf_used(&c->out) > 0 && !c->writing) {
        if (loop_add_fd(g_loop, c->fd, LOOP_WRITE, on_writable, c, NULL) == 0)
            c->writing = 1;
    } else if (buf_used(&c->out) == 0 && c->writing) {
        loop_del_fd(g_loop, c->fd, LOOP_WRITE);
        c->writing = 0;
    }
    if (c->closing && buf_used(&c->out) == 0) {
        conn_close(c);
        return;
    }
    if (buf_used(&c->out) < REQ_BACKLOG_HIGH / 2) {
        if (c->cur && req_run_drain(c->cur)) {
            /* the request goes on writing; input waits for it */
        } else if (c->paused) {
            c->paused = 0;
            conn_pump(c);
        }
    }
}

static void on_writable(struct loop *loop, int fd, int mask, void *data)
{
    (void)loop, (void)fd, (void)mask;
    conn_flush(data);
}

static void conn_write(struct conn *c, char *line, size_t len)
{
    if (line == NULL) {
        log_msg(LOG_ERR, "client fd %d: out of memory building a reply", c->fd);
        c->closing = 1;
        return;
    }
    if (buf_used(&c->out) == 0)
        c->last_progress = loop_now_ms();
    if (c->npass > 0) { /* its descriptors go out with it: conn_flush writes it */
        if (buf_append(&c->out, line, len) < 0) {
            log_msg(LOG_ERR, "client fd %d: out of memory queueing a reply", c->fd);
            c->closing = 1;
        }
        free(line);
        if (!c->writing && c->fd >= 0 &&
            loop_add_fd(g_loop, c->fd, LOOP_WRITE, on_writable, c, NULL) == 0)
            c->writing = 1;
        return;
    }
    if (buf_used(&c->out) == 0 && c->fd >= 0) {
        /* Nothing queued: straight to the socket, without a copy or a turn of the loop.
         * A failure is left for conn_flush to find, so the caller's connection stays. */
        ssize_t n;
        do
            n = write(c->fd, line, len);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)len) {
            free(line);
            return;
        }
        if (n > 0 && len - (size_t)n >= (64u << 10)) {
            free(c->out.data);
            c->out.data = line;
            c->out.off = (size_t)n;
            c->out.len = c->out.cap = len;
            return;
        }
        if (n > 0) {
            memmove(line, line + n, len - (size_t)n);
            len -= (size_t)n;
        }
    }
    if (buf_used(&c->out) == 0 && len >= (64u << 10)) {
        /* A big reply (link, a stream chunk) becomes the buffer instead of a copy. */
        free(c->out.data);
        c->out.data = line;
        c->out.off = 0;
        c->out.len = c->out.cap = len;
        return;
    }
    if (buf_append(&c->out, line, len) < 0) {
        log_msg(LOG_ERR, "client fd %d: out of memory queueing a reply", c->fd);
        c->closing = 1;
    }
    free(line);
}

/* ---- requests: the callbacks of struct req_host ---- */

static void host_finish(struct req *r, void *conn, char *line, size_t len)
{
    struct conn *c = conn;

    conn_write(c, line, len);
    c->cur = NULL;
    req_free(r);
    /* A request that completes later starts the next queued one; one that completed
     * inside conn_pump returns there, which loops instead of recursing. */
    if (!c->in_pump)
        conn_pump(c);
}

static void host_send(void *conn, char *line, size_t len)
{
    struct conn *c = conn;

    conn_write(c, line, len);
    /* Not conn_flush: it could close the connection under the caller's feet. */
    if (buf_used(&c->out) > 0 && !c->writing &&
        loop_add_fd(g_loop, c->fd, LOOP_WRITE, on_writable, c, NULL) == 0)
        c->writing = 1;
}

static size_t host_backlog(void *conn)
{
    struct conn *c = conn;

    return buf_used(&c->out);
}

static int host_add_ref(void *conn, uint64_t serial)
{
    struct conn *c = conn;
    uint64_t *nr;

    for (size_t i = 0; i < c->nrefs; i++)
        if (c->refs[i] == serial)
            return 0;
    nr = realloc(c->refs, (c->nrefs + 1) * sizeof(*nr));
    if (nr == NULL)
        return -1;
    c->refs = nr;
    c->refs[c->nrefs++] = serial;
    return 1;
}

/* The next reply line carries copies of fds. */
static int host_pass_fds(void *conn, const int *fds, int nfds)
{
    struct conn *c = conn;

    if (c->npass > 0 || nfds < 1 || nfds > FDPASS_MAX)
        return -1;
    for (int i = 0; i < nfds; i++) {
        c->pass[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
        if (c->pass[i] < 0) {
            while (i-- > 0)
                close(c->pass[i]);
            return -1;
        }
    }
    c->npass = nfds;
    c->pass_at = buf_used(&c->out);
    return 0;
}

static void host_set_sndbuf(void *conn, int bytes)
{
    struct conn *c = conn;

    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

static const struct req_host host = {host_finish,  host_send,     host_backlog,
                                     host_add_ref, host_pass_fds, host_set_sndbuf};

/* ---- input ---- */

static void on_readable(struct loop *loop, int fd, int mask, void *data);

static void set_reading(struct conn *c, int on)
{
    if (on && !c->reading && !c->eof) {
        if (loop_add_fd(g_loop, c->fd, LOOP_READ, on_readable, c, NULL) == 0)
            c->reading = 1;
    } else if (!on && c->reading) {
        loop_del_fd(g_loop, c->fd, LOOP_READ);
        c->reading = 0;
    }
}

static void reply_error_now(struct conn *c, const char *msg)
{
    size_t len = 0;
    char *line = proto_reply_error(msg, &len);

    conn_write(c, line, len);
}

/* Run queued lines until one blocks (c->cur stays set) or input runs out. */
static void conn_pump(struct conn *c)
{
    size_t max = (size_t)g_cfg->server.max_request_bytes;

    if (c->fd < 0)
        return;
    while (c->cur == NULL && !c->closing) {
        size_t avail = buf_used(&c->in), len;
        const char *start = avail ? c->in.data + c->in.off : NULL;
        long nl = avail ? proto_find_line(start, avail) : -1;
        struct json_object *args;
        struct w_error err;

        if (buf_used(&c->out) >= REQ_BACKLOG_HIGH) {
            c->paused = 1;
            break;
        }
        if (nl < 0) {
            if (avail > max) {
                reply_error_now(c, "request too large");
                c->closing = 1;
            } else if (c->eof) {
                c->closing = 1; /* a trailing partial line is dropped */
            }
            break;
        }
        len = (size_t)nl;
        c->in.off += len + 1;
        if (len > max) {
            reply_error_now(c, "request too large");
            c->closing = 1;
            break;
        }
        switch (proto_parse_line(start, len, &args, &err)) {
        case PROTO_EMPTY:
            continue;
        case PROTO_INVALID:
            reply_error_now(c, err.msg);
            continue;
        case PROTO_BAD_JSON:
            reply_error_now(c, err.msg);
            c->closing = 1;
            continue;
        case PROTO_REQUEST:
            break;
        }
        c->cur = req_new(&host, c, args);
        if (c->cur == NULL) {
            json_object_put(args);
            reply_error_now(c, "out of memory");
            c->closing = 1;
            break;
        }
        /* Completes at once, or later (then host_finish pumps the next line). */
        c->in_pump = 1;
        dispatch(c->cur);
        c->in_pump = 0;
        if (c->fd < 0)
            return;
    }
    if (buf_used(&c->in) == 0)
        c->in.off = c->in.len = 0;
    /* Read more only while the buffered input can still hold one request. */
    set_reading(c, !c->closing && buf_used(&c->in) <= max);
    conn_flush(c);
}

static void on_readable(struct loop *loop, int fd, int mask, void *data)
{
    struct conn *c = data;
    char chunk[READ_CHUNK];
    ssize_t n;

    (void)loop, (void)mask;
    if (c->fd < 0)
        return;
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0) {
        if (errno == EINTR || errno == EAGAIN)
            return;
        log_msg(LOG_DEBUG, "client fd %d: read: %s", fd, strerror(errno));
        conn_close(c);
        return;
    }
    if (n == 0) {
        c->eof = 1;
        set_reading(c, 0);
        /* (An empty buffer may have no memory yet: no pointer arithmetic on NULL.) */
        if (c->cur == NULL && (buf_used(&c->in) == 0 ||
                               proto_find_line(c->in.data + c->in.off, buf_used(&c->in)) < 0)) {
            conn_close(c);
            return;
        }
    } else if (buf_append(&c->in, chunk, (size_t)n) < 0) {
        log_msg(LOG_ERR, "client fd %d: out of memory", fd);
        conn_close(c);
        return;
    }
    if (c->cur == NULL && !c->paused)
        conn_pump(c);
    else if (buf_used(&c->in) > (size_t)g_cfg->server.max_request_bytes)
        set_reading(c, 0);
}

/* ---- connections ---- */

static void reap_dead(struct loop *loop, long long id, void *data)
{
    (void)loop, (void)id, (void)data;
    reap_timer = 0;
    while (dead) {
        struct conn *c = dead;
        dead = c->next;
        free(c);
    }
}

static void on_drained(struct loop *loop, long long id, void *data)
{
    (void)loop, (void)id, (void)data;
    drained_timer = 0;
    log_msg(LOG_INFO, "drain: every connection is closed");
    drained_cb();
}

static void conn_close(struct conn *c)
{
    if (c->fd < 0)
        return;
    if (c->cur) {
        struct req *r = c->cur;
        c->cur = NULL;
        req_run_cancel(r);
        req_free(r);
    }
    loop_del_fd(g_loop, c->fd, LOOP_READ | LOOP_WRITE);
    close(c->fd);
    c->fd = -1;
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    /* A drain leaves every container as it is, grace time included: the next wardend
     * arms the grace timers of the containers nobody references. */
    for (size_t i = 0; i < c->nrefs; i++)
        if (closed_cb && !draining)
            closed_cb(c->refs[i]);
    free(c->refs);
    for (int i = 0; i < c->npass; i++)
        close(c->pass[i]);
    c->npass = 0;
    buf_free(&c->in);
    buf_free(&c->out);
    /* Callers up the stack may still hold c: free it from a timer. */
    c->prev = NULL;
    c->next = dead;
    dead = c;
    if (reap_timer == 0)
        reap_timer = loop_add_timer(g_loop, 0, reap_dead, NULL);
    if (draining && conns == NULL && drained_timer == 0)
        drained_timer = loop_add_timer(g_loop, 0, on_drained, NULL);
}

void server_on_conn_closed(void (*cb)(uint64_t serial))
{
    closed_cb = cb;
}

#define ACCEPT_PAUSE_MS 100

static void on_accept(struct loop *loop, int fd, int mask, void *data)
{
    struct w_error err;
    struct conn *c;
    int cfd;

    (void)mask, (void)data;
    cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) {
        int e = errno;

        /* Waiting clients are served once descriptors free up. */
        if (loop_accept_failed(loop, fd, e, ACCEPT_PAUSE_MS)) {
            log_msg(LOG_WARNING, "accept: %s; not accepting for %d ms", strerror(e),
                    ACCEPT_PAUSE_MS);
        } else if (e != EAGAIN && e != EINTR && e != ECONNABORTED) {
            log_msg(LOG_WARNING, "accept: %s", strerror(e));
        }
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        log_msg(LOG_ERR, "accept: out of memory");
        close(cfd);
        return;
    }
    c->fd = cfd;
    c->last_progress = loop_now_ms();
    {
        /* A stream line is ~350 KiB: let a few be in flight so that wardend and the
         * client run side by side instead of in turns (the kernel charges only what is
         * queued). FORCE: past net.core.wmem_max, which root may. */
        int sz = 4 << 20;
        setsockopt(cfd, SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof(sz));
    }
    if (loop_add_fd(loop, cfd, LOOP_READ, on_readable, c, &err) < 0) {
        log_msg(LOG_ERR, "refusing client: %s", err.msg);
        close(cfd);
        free(c);
        return;
    }
    c->reading = 1;
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
}

/* Once a second: drop clients that let replies pile up without reading any of them. A
 * big reply (link of a 10 MiB job) read slowly is fine: only no progress at all counts.
 * Progress is a write, or the kernel's queue for the client shrinking: a Unix socket
 * says it is writable only once 3/4 of its (big) buffer is free, which a slow but
 * steady reader may take minutes to consume. */
static void on_sweep(struct loop *loop, long long id, void *data)
{
    long long now = loop_now_ms();
    struct conn *c = conns;

    (void)id, (void)data;
    while (c) {
        struct conn *next = c->next;
        size_t used = buf_used(&c->out);
        int q;
        if (used > 0 && ioctl(c->fd, SIOCOUTQ, &q) == 0) {
            if (q < c->outq)
                c->last_progress = now;
            c->outq = q;
        }
        if (used > 0 && now - c->last_progress > STALL_MS) {
            log_msg(LOG_WARNING, "dropping client fd %d: %zu reply bytes unread for %lld ms", c->fd,
                    used, now - c->last_progress);
            conn_close(c);
        }
        c = next;
    }
    sweep_timer = loop_add_timer(loop, 1000, on_sweep, NULL);
}

static int make_parent(const char *path, struct w_error *err)
{
    char dir[PATH_MAX];
    char *slash;

    if (strlcpy(dir, path, sizeof(dir)) >= sizeof(dir))
        return w_err(err, "socket path too long: %s", path);
    slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir)
        return 0;
    *slash = '\0';
    return util_mkdir_p(dir, 0755, err);
}

int server_listen(void (*dispatcher)(struct req *r), struct w_error *err)
{
    int fd;

    dispatch = dispatcher;
    /* Under systemd RuntimeDirectory= made it; by hand, the default /run/warden may not
     * exist yet. */
    if (make_parent(g_cfg->server.unix_domain_path, err) < 0)
        return -1;
    fd = unixsock_listen(g_cfg->server.unix_domain_path, SOCK_STREAM | SOCK_NONBLOCK,
                         (mode_t)g_cfg->server.unix_domain_permissions, 512, err);
    if (fd < 0)
        return -1;
    if (loop_add_fd(g_loop, fd, LOOP_READ, on_accept, NULL, err) < 0) {
        close(fd);
        return -1;
    }
    listen_fd = fd;
    sweep_timer = loop_add_timer(g_loop, 1000, on_sweep, NULL);
    return 0;
}

static void stop_listening(void)
{
    if (listen_fd >= 0) {
        loop_del_fd(g_loop, listen_fd, LOOP_READ);
        close(listen_fd);
        listen_fd = -1;
        unlink(g_cfg->server.unix_domain_path);
    }
}

void server_drain(void (*done)(void))
{
    int idle = 0, parked = 0, busy = 0;

    draining = 1;
    drained_cb = done;
    stop_listening();
    for (struct conn *c = conns, *next; c; c = next) {
        next = c->next;
        if (c->cur == NULL || req_parked(c->cur)) {
            /* Idle, or waiting on a job (link, stream, run): the job goes on in wshd and
             * the client asks the next wardend. */
            c->cur ? parked++ : idle++;
            conn_close(c);
            continue;
        }
        /* The request in flight finishes and its reply goes out; nothing after it. */
        busy++;
        c->in.off = c->in.len = 0;
        c->eof = 1;
        set_reading(c, 0);
    }
    log_msg(LOG_INFO, "drain: closed %d idle and %d waiting connections, %d finishing", idle,
            parked, busy);
    if (conns == NULL && drained_timer == 0)
        drained_timer = loop_add_timer(g_loop, 0, on_drained, NULL);
}

void server_shutdown(void)
{
    stop_listening();
    loop_del_timer(g_loop, sweep_timer);
    while (conns)
        conn_close(conns);
    reap_dead(g_loop, 0, NULL);
}
