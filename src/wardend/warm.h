/* The warm pool (server.warm_pool): containers made ahead with default options, kept
 * apart from the registry (not listed, no info, no grace timer) until create hands one
 * out; refilled one at a time in the background, drained on stop, re-adopted at
 * restart from a snapshot that says "pooled". */
#ifndef W_WARM_H
#define W_WARM_H

#include "error.h"

struct container;

/* How the pool makes one container: start the create of a container with default
 * options (handle = id, ct->pooled set, not registered); done runs exactly once, later,
 * with error NULL when it is active with its wshd watched, else after it was torn down
 * and just before it is freed. -1 with err when nothing was started. Set once at
 * start-up by main (create.c's create_pooled), so this module calls nothing above it. */
typedef int warm_prepare_fn(void (*done)(struct container *ct, const char *error),
                            struct w_error *err);

/* Start-up, after restore: begin filling the pool up to server.warm_pool. */
int warm_init(warm_prepare_fn *prepare, struct w_error *err);
/* restore.c: ct (pools taken, wshd answers, snapshot says pooled) joins the pool, or is
 * torn down at once when the pool is full already. */
void warm_adopt(struct container *ct);
/* create.c: a ready pooled container, renamed to handle (NULL: it keeps its id, and
 * one whose id is another container's handle is skipped) and out of the pool; the
 * caller registers it. NULL when the pool has none; a refill is scheduled either way. */
struct container *warm_take(const char *handle);
/* Stop: no more refills; destroy every pooled container (waiting for a refill in
 * flight to end first), then call done. done may run before this returns. */
void warm_drain(void (*done)(void));
/* SIGUSR2: start no further refill (the ready containers stay, for the next wardend). */
void warm_hold(void);
/* Refills and pooled destroys in flight. */
int warm_busy(void);

#endif
