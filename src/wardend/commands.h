/* The command table of PROTOCOL.md: argument counts, handle lookup, dispatch. */
#ifndef W_COMMANDS_H
#define W_COMMANDS_H

struct req;

/* Run one request; it completes now or later through req_reply/req_error. */
void commands_dispatch(struct req *r);
/* The container states the request's command may run in (the table in commands.c). */
int commands_states(struct req *r);

#endif
