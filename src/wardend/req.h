/* One client request as the modules that answer it see it: its arguments, its reply,
 * its lines of a multi-line reply, and the events of its connection. The server makes
 * each request with a struct req_host of callbacks into itself, so nothing here (or in
 * any handler) knows about connections: the calls up are those callbacks. */
#ifndef W_REQ_H
#define W_REQ_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct req;

/* What the server provides for its requests; conn is the server's own pointer. */
struct req_host {
    /* The request completed with this line (ending in '\n', taken; NULL: out of
     * memory, close the connection). The server frees r (req_free) in here. */
    void (*finish)(struct req *r, void *conn, char *line, size_t len);
    /* One line of a multi-line reply; the request goes on. Takes line. */
    void (*send)(void *conn, char *line, size_t len);
    /* Bytes queued for the client and not yet written. */
    size_t (*backlog)(void *conn);
    /* Remember that the connection references the container with this serial: 1 when
     * new, 0 when already known, -1 out of memory. */
    int (*add_ref)(void *conn, uint64_t serial);
    /* The next reply line goes out with copies of these descriptors (SCM_RIGHTS);
     * -1 when it cannot. */
    int (*pass_fds)(void *conn, const int *fds, int nfds);
    /* Set the kernel's send buffer of the connection's socket (bytes). */
    void (*set_sndbuf)(void *conn, int bytes);
};

/* The server's side: a request owning args; NULL when out of memory. */
struct req *req_new(const struct req_host *host, void *conn, struct json_object *args);
void req_free(struct req *r);
/* The connection went away first: run the cancel callback (if any) before req_free. */
void req_run_cancel(struct req *r);
/* The backlog fell below the low-water mark: run the drain callback once; 1 if one ran. */
int req_run_drain(struct req *r);

/* The request array (borrowed) and its number of elements. */
struct json_object *req_args(struct req *r);
size_t req_nargs(struct req *r);
struct json_object *req_arg(struct req *r, size_t i);
/* Complete the request: payload ownership passes to the server. */
void req_reply(struct req *r, struct json_object *payload);
/* The command layer's only: complete the request with an error reply. */
void req_error(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Complete the request with payload and copies of fds on its line (the caller keeps
 * its own); -1 (nothing sent) when the connection cannot pass descriptors. */
int req_reply_fds(struct req *r, struct json_object *payload, const int *fds, int nfds);
/* Complete the request with err from below the command layer (an op or a job ending
 * later): the completion the command layer installed with req_on_fail replies. */
void req_fail(struct req *r, const struct w_error *err);
void req_on_fail(void (*fn)(struct req *r, const struct w_error *err));
/* Complete the request with a reply line (ending in '\n') built by the caller; takes
 * line (NULL: out of memory, the connection is closed). */
void req_reply_line(struct req *r, char *line, size_t len);
/* Send one line of a multi-line reply (stream) without completing; payload is consumed. */
void req_send(struct req *r, struct json_object *payload);
/* Same with a complete reply line (ending in '\n') built by the caller; takes line. */
void req_send_line(struct req *r, char *line, size_t len);
/* Bytes queued for the client and not yet written (flow control for stream). */
size_t req_backlog(struct req *r);
/* The kernel's send buffer of the request's connection: bytes the kernel holds for the
 * client beyond the backlog above (the server's default is large, for stream lines). */
void req_set_sndbuf(struct req *r, int bytes);
/* The request's connection now references the container `serial` (grace time). */
int req_add_ref(struct req *r, uint64_t serial);
/* Called if the connection goes away before the request completes; the request is freed
 * right after, so the handler must drop every pointer to it. */
void req_set_cancel(struct req *r, void (*cb)(struct req *r, void *data), void *data);
/* Called when the backlog falls below the low-water mark (after req_backlog was high). */
void req_set_drain(struct req *r, void (*cb)(struct req *r, void *data), void *data);

/* The request waits on something with no bound (a job's end or its output: link,
 * stream, run), not on work of ours; a drain (SIGUSR2) may then close its connection,
 * and the client asks again after the restart. */
void req_set_parked(struct req *r, int parked);
int req_parked(const struct req *r);

/* Above this many unwritten bytes a connection reads no more requests and a stream
 * waits; below half of it they go on. */
#define REQ_BACKLOG_HIGH (1u << 20)

#endif
