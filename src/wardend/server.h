/* wardend's socket server: connections, line framing, one request at a time per
 * connection (strict order, pipelining allowed), replies that may complete later.
 * It knows no command: main gives it the dispatcher, and every request it makes
 * (req.h) reaches back to its connection through callbacks. */
#ifndef W_SERVER_H
#define W_SERVER_H

#include <stdint.h>

#include "error.h"

struct req;

/* Listen on server.unix_domain_path; every request line goes to dispatcher, which
 * completes it now or later through req_reply/req_error. */
int server_listen(void (*dispatcher)(struct req *r), struct w_error *err);
/* Stop accepting, close every client (SIGTERM/SIGINT path). */
void server_shutdown(void);
/* SIGUSR2: stop accepting; close idle connections and those whose request is parked
 * (req_set_parked: link, stream, run waiting on a job); let every other request in
 * flight finish and its reply go out, reading nothing more; then call done once (from
 * the loop) when no connection is left. Closing them starts no grace timer. */
void server_drain(void (*done)(void));
/* When a connection closes, cb runs once for each container serial it referenced. */
void server_on_conn_closed(void (*cb)(uint64_t serial));

#endif
