/* wardend's socket server: connections, line framing, one request at a time per
 * connection (strict order, pipelining allowed), replies that may complete later. */
#ifndef W_SERVER_H
#define W_SERVER_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "error.h"
#include "loop.h"

struct conn;
struct req;

extern struct loop *g_loop;
extern struct w_config *g_cfg;

int server_listen(struct w_error *err);
/* Stop accepting, close every client (SIGTERM/SIGINT path). */
void server_shutdown(void);

/* The request array (borrowed) and its number of elements. */
struct json_object *req_args(struct req *r);
size_t req_nargs(struct req *r);
struct json_object *req_arg(struct req *r, size_t i);
struct conn *req_conn(struct req *r);
/* Complete the request: payload ownership passes to the server. */
void req_reply(struct req *r, struct json_object *payload);
void req_error(struct req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Complete the request with a reply line (ending in '\n') built by the caller; takes
 * line (NULL: out of memory, the connection is closed). */
void req_reply_line(struct req *r, char *line, size_t len);
/* Send one line of a multi-line reply (stream) without completing; payload is consumed. */
void req_send(struct req *r, struct json_object *payload);
/* Same with a complete reply line (ending in '\n') built by the caller; takes line. */
void req_send_line(struct req *r, char *line, size_t len);
/* Bytes queued for the client and not yet written (flow control for stream). */
size_t req_backlog(struct req *r);
/* Called if the connection goes away before the request completes; the request is freed
 * right after, so the handler must drop every pointer to it. */
void req_set_cancel(struct req *r, void (*cb)(struct req *r, void *data), void *data);
/* Called when the backlog falls below the low-water mark (after req_backlog was high). */
void req_set_drain(struct req *r, void (*cb)(struct req *r, void *data), void *data);

/* A connection references containers (grace time): the server calls back into the
 * container registry with each serial when the connection closes. */
int conn_add_ref(struct conn *c, uint64_t serial);
void server_on_conn_closed(void (*cb)(uint64_t serial));

#define SERVER_BACKLOG_HIGH (1u << 20)

#endif
