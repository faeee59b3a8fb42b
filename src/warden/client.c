/* Connection to wardend and request/reply I/O: one JSON array per line out, one JSON
 * object per line back. Blocking I/O: the CLI waits for each reply in order. */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdpass.h"
#include "jsonh.h"
#include "unixsock.h"
#include "util.h"

/* The longest reply line: a link of a job with the server's largest output limit, as
 * base64, fits; a runaway server cannot make the CLI take all memory. */
#define REPLY_MAX (sizeof(size_t) > 4 ? (size_t)8 << 30 : (size_t)1 << 30)
#define BUF_MIN ((size_t)1 << 20) /* a stream line is ~350 KiB: several per read */

void client_init(struct client *c, const char *path)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->path = strdup(path);
}

int client_take_fd(struct client *c)
{
    int fd;

    if (c->nfds == 0)
        return -1;
    fd = c->fds[0];
    memmove(c->fds, c->fds + 1, sizeof(int) * (size_t)--c->nfds);
    return fd;
}

void client_close(struct client *c)
{
    for (int i = 0; i < c->nfds; i++)
        close(c->fds[i]);
    c->nfds = 0;
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->start = c->len = 0;
}

int client_connect(struct client *c, struct w_error *err)
{
    if (c->fd >= 0)
        return 0;
    if (c->path == NULL)
        return w_err(err, "out of memory");
    c->fd = unixsock_connect(c->path, SOCK_STREAM, err);
    if (c->fd < 0)
        return err->errnum ? w_errno(err, err->errnum, "cannot connect to %s", c->path)
                           : w_err_prefix(err, "cannot connect to %s", c->path);
    c->start = c->len = 0;
    return 0;
}

int client_send_line(struct client *c, const char *line, size_t len, struct w_error *err)
{
    struct iovec iov[2] = {{(void *)line, len}, {"\n", 1}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    /* A kept connection (the prompt's) may have been closed by the server since the last
     * request; then nothing of this line was read, and it is safe to send it again. */
    int may_retry = c->fd >= 0, sent = 0;

    if (client_connect(c, err) < 0)
        return -1;
    while (msg.msg_iovlen > 0) {
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            client_close(c);
            if (may_retry && !sent && (e == EPIPE || e == ECONNRESET))
                return client_send_line(c, line, len, err);
            return w_errno(err, e, "send to %s", c->path);
        }
        sent = 1;
        while (msg.msg_iovlen > 0 && (size_t)n >= msg.msg_iov[0].iov_len) {
            n -= (ssize_t)msg.msg_iov[0].iov_len;
            msg.msg_iov++;
            msg.msg_iovlen--;
        }
        if (msg.msg_iovlen > 0) {
            msg.msg_iov[0].iov_base = (char *)msg.msg_iov[0].iov_base + n;
            msg.msg_iov[0].iov_len -= (size_t)n;
        }
    }
    return 0;
}

int client_send(struct client *c, struct json_object *req, struct w_error *err)
{
    size_t len;
    const char *s = jsonh_str(req, &len);

    return client_send_line(c, s, len, err);
}

/* Read more. When the buffer is full, first move the unconsumed bytes to the front
 * (not once per line: a stream's lines are large and many arrive per read), else grow
 * it; *scanned (an offset into buf) moves with the bytes. 0 on data, -1 on error/close. */
static int fill(struct client *c, size_t *scanned, struct w_error *err)
{
    ssize_t n;

    if (c->len == c->cap && c->start > 0) {
        memmove(c->buf, c->buf + c->start, c->len - c->start);
        c->len -= c->start;
        *scanned -= c->start;
        c->start = 0;
    }
    if (c->len == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : BUF_MIN;
        char *nb;
        if (ncap > REPLY_MAX) {
            client_close(c);
            return w_err(err, "reply from %s longer than %zu bytes", c->path, REPLY_MAX);
        }
        nb = realloc(c->buf, ncap);
        if (nb == NULL)
            return w_err(err, "out of memory");
        c->buf = nb;
        c->cap = ncap;
    }
    /* recvmsg, not read: a reply may bring descriptors (spawn with pass_fds). */
    {
        int fds[FDPASS_MAX], nfds = FDPASS_MAX;
        n = fdpass_recv(c->fd, c->buf + c->len, c->cap - c->len, fds, &nfds, err);
        for (int i = 0; i < nfds; i++) {
            if (c->nfds < FDPASS_MAX)
                c->fds[c->nfds++] = fds[i];
            else
                close(fds[i]);
        }
    }
    if (n <= 0) {
        int e = err->errnum;
        client_close(c);
        if (n == 0)
            return w_err(err, "connection to %s closed by the server", c->path);
        return w_errno(err, e, "read from %s", c->path);
    }
    c->len += (size_t)n;
    return 0;
}

char *client_recv_line(struct client *c, size_t *len, struct w_error *err)
{
    size_t scanned = c->start;
    char *nl, *line;

    if (c->fd < 0) {
        w_err(err, "not connected to %s", c->path);
        return NULL;
    }
    while ((nl = c->len > scanned ? memchr(c->buf + scanned, '\n', c->len - scanned) : NULL) ==
           NULL) {
        scanned = c->len;
        if (fill(c, &scanned, err) < 0)
            return NULL;
    }
    line = c->buf + c->start;
    *len = (size_t)(nl - line);
    c->start += *len + 1;
    if (c->start == c->len)
        c->start = c->len = 0; /* the line stays where it is until the next fill */
    return line;
}

struct json_object *client_parse_reply(struct client *c, const char *line, size_t len,
                                       struct w_error *err)
{
    struct json_object *reply = jsonh_parse(line, len, err);

    if (reply == NULL) {
        w_err_prefix(err, "bad reply from %s", c->path);
        err->errnum = EBADMSG;
        client_close(c);
    }
    return reply;
}

struct json_object *client_recv(struct client *c, struct w_error *err)
{
    size_t len;
    char *line = client_recv_line(c, &len, err);

    return line == NULL ? NULL : client_parse_reply(c, line, len, err);
}

int client_reply(struct json_object *reply, struct json_object **payload, struct w_error *err)
{
    const char *type = jsonh_get_str(reply, "type", NULL);
    struct json_object *p = jsonh_get(reply, "payload");

    *payload = p;
    if (type != NULL && strcmp(type, "object") == 0 && p != NULL)
        return 0;
    if (type != NULL && strcmp(type, "error") == 0) {
        w_err(err, "%s",
              p != NULL && json_object_is_type(p, json_type_string) ? json_object_get_string(p)
                                                                    : jsonh_str(reply, NULL));
        return 1;
    }
    w_err(err, "malformed reply: %s", jsonh_str(reply, NULL));
    err->errnum = EBADMSG;
    return -1;
}

int client_exit_status(const struct w_error *err)
{
    return err->errnum == EBADMSG ? EXIT_BUG : EXIT_SYS;
}
