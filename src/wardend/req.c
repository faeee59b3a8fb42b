/* Runs in wardend's loop, on behalf of whichever handler holds the request. */
#include "req.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "proto.h"

struct req {
    const struct req_host *host;
    void *conn;
    struct json_object *args;
    void (*cancel)(struct req *, void *);
    void *cancel_data;
    void (*drain)(struct req *, void *);
    void *drain_data;
    int parked;
};

struct req *req_new(const struct req_host *host, void *conn, struct json_object *args)
{
    struct req *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->host = host;
    r->conn = conn;
    r->args = args;
    return r;
}

void req_free(struct req *r)
{
    if (r == NULL)
        return;
    json_object_put(r->args);
    free(r);
}

void req_run_cancel(struct req *r)
{
    if (r->cancel)
        r->cancel(r, r->cancel_data);
}

int req_run_drain(struct req *r)
{
    void (*cb)(struct req *, void *) = r->drain;

    if (cb == NULL)
        return 0;
    r->drain = NULL; /* one shot: the handler re-arms it */
    cb(r, r->drain_data);
    return 1;
}

struct json_object *req_args(struct req *r)
{
    return r->args;
}

size_t req_nargs(struct req *r)
{
    return json_object_array_length(r->args);
}

struct json_object *req_arg(struct req *r, size_t i)
{
    return json_object_array_get_idx(r->args, i);
}

void req_set_parked(struct req *r, int parked)
{
    r->parked = parked;
}

int req_parked(const struct req *r)
{
    return r->parked;
}

void req_set_cancel(struct req *r, void (*cb)(struct req *, void *), void *data)
{
    r->cancel = cb;
    r->cancel_data = data;
}

void req_set_drain(struct req *r, void (*cb)(struct req *, void *), void *data)
{
    r->drain = cb;
    r->drain_data = data;
}

size_t req_backlog(struct req *r)
{
    return r->host->backlog(r->conn);
}

void req_set_sndbuf(struct req *r, int bytes)
{
    r->host->set_sndbuf(r->conn, bytes);
}

int req_add_ref(struct req *r, uint64_t serial)
{
    return r->host->add_ref(r->conn, serial);
}

void req_reply(struct req *r, struct json_object *payload)
{
    size_t len;
    char *line = proto_reply_object(payload, &len);

    json_object_put(payload);
    r->host->finish(r, r->conn, line, len);
}

int req_reply_fds(struct req *r, struct json_object *payload, const int *fds, int nfds)
{
    if (r->host->pass_fds == NULL || r->host->pass_fds(r->conn, fds, nfds) < 0)
        return -1;
    req_reply(r, payload);
    return 0;
}

void req_reply_line(struct req *r, char *line, size_t len)
{
    r->host->finish(r, r->conn, line, len);
}

void req_error(struct req *r, const char *fmt, ...)
{
    char msg[2048], *line;
    size_t len = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    line = proto_reply_error(msg, &len);
    r->host->finish(r, r->conn, line, len);
}

static void (*fail_fn)(struct req *, const struct w_error *);

void req_on_fail(void (*fn)(struct req *r, const struct w_error *err))
{
    fail_fn = fn;
}

void req_fail(struct req *r, const struct w_error *err)
{
    if (fail_fn)
        fail_fn(r, err);
    else
        req_error(r, "%s", err->msg);
}

void req_send(struct req *r, struct json_object *payload)
{
    size_t len = 0;
    char *line = proto_reply_object(payload, &len);

    json_object_put(payload);
    r->host->send(r->conn, line, len);
}

void req_send_line(struct req *r, char *line, size_t len)
{
    r->host->send(r->conn, line, len);
}
