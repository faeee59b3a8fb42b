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
                int *pass_fd, struct w_error *err);
/* With pass_fds the spawn reply carries *pass_fd (the caller closes it after sending):
 * the write end of the job's stdin pipe (wshd keeps none) or a copy of its pty master. */

/* wshd, once idle (its start, each spawn's reply sent): make the directory the next
 * job's start renames into place, unless there is one. */
void job_make_spare(struct wshd_ctx *ctx);
/* job_stdin: queue the request's bytes ("data", base64) and "eof" for the job's stdin.
 * 0: queued; serve_stdin_done(waiter, NULL or why) follows once written (maybe before
 * this returns). -1 with err: refused now. */
int job_stdin(struct json_object *req, void *waiter, struct w_error *err);
/* The client of waiter went away: nothing to tell it any more. */
void job_waiter_gone(void *waiter);
/* job_signal: the job's process group gets "signal"; job_resize: its pty's window. */
int job_signal(struct json_object *req, struct w_error *err);
int job_resize(struct json_object *req, struct w_error *err);

#endif
