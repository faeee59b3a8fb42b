/* A small select() event loop (after redis's ae_select.c): read/write callbacks per
 * fd, one-shot timers, signals as fd events via loop_signalfd(). Single-threaded. */
#ifndef W_LOOP_H
#define W_LOOP_H

#include "error.h"

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

struct loop;
typedef void loop_fd_cb(struct loop *loop, int fd, int mask, void *data);
typedef void loop_timer_cb(struct loop *loop, long long id, void *data);

struct loop *loop_new(void);
void loop_free(struct loop *loop);
/* Register cb for the events in mask (LOOP_READ and/or LOOP_WRITE) on fd.
 * Fails with a clear error for fd >= FD_SETSIZE instead of corrupting memory. */
int loop_add_fd(struct loop *loop, int fd, int mask, loop_fd_cb *cb, void *data,
                struct w_error *err);
void loop_del_fd(struct loop *loop, int fd, int mask);
/* Stop watching fd for reading for ms, keeping its callback; then watch it again. For
 * a listening socket whose accept() failed with EMFILE: the client stays queued and
 * the socket readable, so without a pause select() would spin. */
void loop_pause_read(struct loop *loop, int fd, long long ms);
/* After accept() on the listening fd failed with errnum: when that leaves the client
 * queued (out of descriptors or memory), pause fd for ms and return 1; else 0. */
int loop_accept_failed(struct loop *loop, int fd, int errnum, long long ms);
/* One-shot timer after ms milliseconds; returns its id (> 0). */
long long loop_add_timer(struct loop *loop, long long ms, loop_timer_cb *cb, void *data);
void loop_del_timer(struct loop *loop, long long id);
/* Runs until loop_stop(); returns 0, or -1 if select() failed. */
int loop_run(struct loop *loop, struct w_error *err);
void loop_stop(struct loop *loop);
/* Monotonic clock in milliseconds. */
long long loop_now_ms(void);
/* Block the given signals and return a non-blocking CLOEXEC signalfd for them. */
int loop_signalfd(const int *signals, int n, struct w_error *err);

#endif
