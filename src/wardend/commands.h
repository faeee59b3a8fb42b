/* The command table of PROTOCOL.md: argument counts, handle lookup, argument checks,
 * allowed states, dispatch; the only module that knows every command. */
#ifndef W_COMMANDS_H
#define W_COMMANDS_H

struct req;

/* Run one request (server_listen's dispatcher); it completes now or later through
 * req_reply/req_error. */
void commands_dispatch(struct req *r);
/* Install the completion that turns the errors of ops and jobs into replies. */
void commands_init(void);

#endif
