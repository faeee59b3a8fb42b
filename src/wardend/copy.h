/* copy in / copy out: the request checks and the host half (copy.c). */
#ifndef W_COPY_H
#define W_COPY_H

#include "error.h"

struct req;
struct container;

/* The check column of the command table: direction, paths, OWNER (PROTOCOL.md's errors). */
int copy_check(struct req *r, struct w_error *err);
/* Start the copy (it replies when the worker is done); -1 with err if it cannot start. */
int cmd_copy(struct req *r, struct container *ct, struct w_error *err);
/* Copies whose worker has not finished (their client may have gone). */
int copy_running(void);

#endif
