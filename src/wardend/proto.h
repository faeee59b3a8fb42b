/* The wire format of PROTOCOL.md: request lines in, reply lines out. Pure functions,
 * no I/O, so the unit tests drive them directly. */
#ifndef W_PROTO_H
#define W_PROTO_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

enum proto_parse {
    PROTO_REQUEST, /* *req is a non-empty array: run it */
    PROTO_EMPTY,   /* [] : no reply at all */
    PROTO_INVALID, /* JSON, but not an array: reply `invalid request`, keep the connection */
    PROTO_BAD_JSON /* not JSON: reply with err->msg, then close the connection */
};

/* Parse one request line (without its '\n'). */
enum proto_parse proto_parse_line(const char *line, size_t len, struct json_object **req,
                                  struct w_error *err);
/* Find the end of the next line in buf: index of '\n', or -1 if there is none yet. */
long proto_find_line(const char *buf, size_t len);
/* Reply lines, '\n'-terminated and malloc'd; *len gets the length. payload is borrowed. */
char *proto_reply_object(struct json_object *payload, size_t *len);
char *proto_reply_error(const char *msg, size_t *len);
/* `unknown command "x"` or, for a non-string name, `unknown command <json>`. */
void proto_unknown_command(struct json_object *name, char *buf, size_t size);
/* A job id argument: an integer, or a string of digits. Returns the id or -1. */
long long proto_job_id(struct json_object *v);

#endif
