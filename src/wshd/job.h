/* Jobs: processes whose output wshd appends to <container>/jobs/<n>/{stdout,stderr}
 * and whose end it records in jobs/<n>/status (doc/wshd-protocol.md, "spawn"). */
#ifndef W_WSHD_JOB_H
#define W_WSHD_JOB_H

#include <json-c/json.h>
#include <sys/types.h>

#include "error.h"
#include "serve.h"

/* Validate a spawn request and start the job; returns its pid or -1. fds (borrowed):
 * the request's descriptors, exactly one (the syslog socket) with log_tag, else none. */
pid_t job_start(struct wshd_ctx *ctx, struct json_object *req, const int *fds, int nfds,
                struct w_error *err);

#endif
