/* The wshd wire protocol: one JSON object per SOCK_SEQPACKET message on
 * <container>/run/wshd.sock, with descriptors attached where a request says so.
 * See doc/wshd-protocol.md for the requests and replies. */
#ifndef W_WSHD_PROTO_H
#define W_WSHD_PROTO_H

#include <json-c/json.h>

#include "error.h"

#define WSHD_MSG_MAX (2 * 1024 * 1024) /* a script up to 1 MiB fits comfortably */

/* Connect to a wshd socket (CLOEXEC). With nonblock, a wshd whose backlog is full
 * fails at once (EAGAIN) instead of blocking the caller, and so do later sends. */
int wshd_connect(const char *path, int nonblock, struct w_error *err);
/* Send msg with nfds descriptors as one message. */
int wshd_send(int sock, struct json_object *msg, const int *fds, int nfds, struct w_error *err);
/* Receive one message and up to *nfds descriptors (*nfds updated; pass NULL for none).
 * Returns a new reference; NULL on error or EOF. err->errnum tells them apart: EPIPE
 * at EOF, EAGAIN when nothing is there yet, another errno when the connection is no
 * longer usable (EMSGSIZE: truncated), 0 when the message was read whole but is not a
 * JSON object (the connection is fine). */
struct json_object *wshd_recv(int sock, int *fds, int *nfds, struct w_error *err);

#endif
