/* The warden CLI: a client of wardend's line protocol (doc: PROTOCOL.md).
 * client.c owns the connection and request/reply I/O; warden.c, jobs.c and request.c
 * (sharing cli.h) parse arguments and print results; repl.c is the interactive prompt. */
#ifndef W_CLIENT_H
#define W_CLIENT_H

#include <json-c/json.h>
#include <stddef.h>

#include "error.h"

/* Exit statuses (a contract, see warden(1)). */
enum { EXIT_ERRREPLY = 1, EXIT_USAGE = 100, EXIT_BUG = 101, EXIT_SYS = 111 };

struct client {
    int fd;     /* -1 when not connected */
    char *path; /* socket path, owned */
    char *buf;  /* bytes received; buf[start, len) not yet consumed as lines */
    size_t start, len, cap;
    int fds[4]; /* descriptors that came with replies, not yet taken (FDPASS_MAX) */
    int nfds;
};

/* client.c */
void client_init(struct client *c, const char *path);
void client_close(struct client *c);
/* The oldest descriptor that came with a reply (the caller owns it), or -1. */
int client_take_fd(struct client *c);
/* Connect if not connected; the error names the socket. */
int client_connect(struct client *c, struct w_error *err);
/* Send one request line (a newline is appended). */
int client_send_line(struct client *c, const char *line, size_t len, struct w_error *err);
int client_send(struct client *c, struct json_object *req, struct w_error *err);
/* Read one reply line and parse it; returns a new reference, or NULL (closed or bad reply;
 * the connection is then closed). A reply that is not JSON sets err->errnum EBADMSG. */
struct json_object *client_recv(struct client *c, struct w_error *err);
/* Read one reply line without parsing it: a pointer into c's buffer (no '\n', not
 * NUL-terminated) that the caller may change in place, valid until the next receive. */
char *client_recv_line(struct client *c, size_t *len, struct w_error *err);
/* Parse a line from client_recv_line as client_recv does. */
struct json_object *client_parse_reply(struct client *c, const char *line, size_t len,
                                       struct w_error *err);
/* Split a reply: returns 0 and sets *payload (borrowed) for {"type":"object"}, 1 for
 * {"type":"error"} with err holding its message, -1 for a malformed reply (errnum
 * EBADMSG). */
int client_reply(struct json_object *reply, struct json_object **payload, struct w_error *err);
/* The exit status for a failed call: EXIT_BUG when the server's reply was malformed
 * (a bug on one side or the other), EXIT_SYS for a connection that failed. */
int client_exit_status(const struct w_error *err);

/* warden.c: run one command (argv[0] is its name) on c; returns an exit status. */
int warden_command(struct client *c, int argc, char **argv);
void warden_print_commands(void);
/* Print "warden: <msg>" to stderr. */
void warden_complain(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* repl.c: the interactive prompt; returns the last command's status. */
int repl_run(struct client *c);

#endif
