/* wshd's {"op":"copy"}: the container half of copy in/out (copy.c). */
#ifndef W_WSHD_COPY_H
#define W_WSHD_COPY_H

#include <json-c/json.h>
#include <sys/types.h>

#include "error.h"
#include "serve.h"

/* Check the request and start the child; returns its pid. fds stay the caller's. */
pid_t copy_start(struct wshd_ctx *ctx, struct json_object *req, const int *fds, int nfds,
                 struct w_error *err);

#endif
