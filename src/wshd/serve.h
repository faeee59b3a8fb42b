/* wshd's serving half: pid 1 of the container, one event loop over the listening
 * socket, its clients, job pipes and a SIGCHLD signalfd. */
#ifndef W_WSHD_SERVE_H
#define W_WSHD_SERVE_H

#include <sys/types.h>

#include "loop.h"

struct wshd_ctx {
    struct loop *loop;
    int listen_fd; /* <run>/wshd.sock, bound before pivot_root */
    int jobs_fd;   /* <container>/jobs as a detached mount (see wshd.c open_detached) */
    int devnull;   /* the container's /dev/null */
};

typedef void serve_exit_cb(struct wshd_ctx *ctx, pid_t pid, int status, void *data);

/* Call cb with the wait status when pid is reaped. */
int serve_watch_pid(pid_t pid, serve_exit_cb *cb, void *data);
/* A job_stdin request of waiter (a client) is done: why NULL for {"ok":true}. */
void serve_stdin_done(void *waiter, const char *why);
/* Serve until a fatal loop error (never because of a client). */
int serve_run(struct wshd_ctx *ctx, struct w_error *err);

#endif
