/* Run by wardend's loop only. Each connection reads its request head (up to 8 KiB, at
 * most 5 s), then gets one fixed reply and is closed: reading first means the close
 * never finds unread bytes (which would reset the connection before the client read the
 * reply). Never more than HEALTH_MAX connections; beyond, new ones are closed at once. */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "wardend.h"

#define HEALTH_MAX 64
#define HEALTH_HEAD 8192
#define HEALTH_TIMEOUT_MS 5000

struct hconn {
    int fd;
    size_t len;
    long long timer;
    struct hconn *next;
    char buf[HEALTH_HEAD];
};

static int listen_fd = -1;
static struct hconn *hconns;
static int nhconns;

static const char reply[] = "HTTP/1.1 200 OK\r\n"
                            "Content-Type: text/plain\r\n"
                            "Content-Length: 3\r\n"
                            "Connection: close\r\n"
                            "\r\n"
                            "ok\n";

static void hconn_close(struct hconn *h)
{
    for (struct hconn **p = &hconns; *p; p = &(*p)->next)
        if (*p == h) {
            *p = h->next;
            break;
        }
    loop_del_fd(g_loop, h->fd, LOOP_READ);
    loop_del_timer(g_loop, h->timer);
    close(h->fd);
    nhconns--;
    free(h);
}

/* The whole reply fits any socket buffer: one write, then an orderly close. */
static void hconn_answer(struct hconn *h)
{
    (void)!write(h->fd, reply, sizeof(reply) - 1);
    shutdown(h->fd, SHUT_WR);
    hconn_close(h);
}

static int head_complete(const struct hconn *h)
{
    return memmem(h->buf, h->len, "\r\n\r\n", 4) != NULL ||
           memmem(h->buf, h->len, "\n\n", 2) != NULL;
}

static void on_read(struct loop *loop, int fd, int mask, void *data)
{
    struct hconn *h = data;
    ssize_t n;

    (void)loop, (void)mask;
    n = read(fd, h->buf + h->len, sizeof(h->buf) - h->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n < 0) {
        hconn_close(h);
        return;
    }
    h->len += (size_t)n;
    /* A complete head, a client that stopped sending, or a head too long to be one. */
    if (n == 0 || h->len == sizeof(h->buf) || head_complete(h))
        hconn_answer(h);
}

static void on_timeout(struct loop *loop, long long id, void *data)
{
    struct hconn *h = data;

    (void)loop, (void)id;
    h->timer = 0;
    hconn_close(h);
}

static void on_accept(struct loop *loop, int fd, int mask, void *data)
{
    struct w_error err;
    struct hconn *h;
    int c;

    (void)mask, (void)data;
    c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
        if (!loop_accept_failed(loop, fd, errno, 100) && errno != EAGAIN && errno != EINTR)
            log_msg(LOG_WARNING, "health check: accept: %s", strerror(errno));
        return;
    }
    if (nhconns >= HEALTH_MAX || (h = calloc(1, sizeof(*h))) == NULL) {
        close(c);
        return;
    }
    h->fd = c;
    if (loop_add_fd(loop, c, LOOP_READ, on_read, h, &err) < 0) {
        close(c);
        free(h);
        return;
    }
    h->timer = loop_add_timer(loop, HEALTH_TIMEOUT_MS, on_timeout, h);
    h->next = hconns;
    hconns = h;
    nhconns++;
}

int health_listen(int port, struct w_error *err)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int one = 1, fd;

    if (port == 0)
        return 0;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return w_errno(err, errno, "health check: socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
        return w_errno(err, e, "health check: listen on 127.0.0.1:%d", port);
    }
    if (loop_add_fd(g_loop, fd, LOOP_READ, on_accept, NULL, err) < 0) {
        close(fd);
        return -1;
    }
    listen_fd = fd;
    return 0;
}

void health_close(void)
{
    if (listen_fd >= 0) {
        loop_del_fd(g_loop, listen_fd, LOOP_READ);
        close(listen_fd);
        listen_fd = -1;
    }
    while (hconns)
        hconn_close(hconns);
}
