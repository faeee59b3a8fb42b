/* What happens to a container over time: the op queue (operations on one container run
 * one at a time, because each runs hooks that must not interleave; other containers go
 * on meanwhile), the grace timer, stop, destroy, and what a dead wshd means. create.c
 * and restore.c build on it. */
#ifndef W_LIFECYCLE_H
#define W_LIFECYCLE_H

#include <json-c/json.h>
#include <stdint.h>

#include "error.h"
#include "registry.h"

struct req;

struct ct_op {
    void (*run)(struct container *ct, struct ct_op *op);
    struct req *req;  /* NULL once replied to, or when its connection went away */
    int kill;         /* stop: skip TERM */
    int step;         /* create: the next step to run */
    int pending;      /* create: hooks of the current step still running */
    char error[1024]; /* first error of a multi-step op */
    /* create, with start.sh beside setup.sh: "G" goes down go[1] once setup.sh is done
     * (wshd reads it through /proc/<wardend>/fd/<go[0]>), each end closed (-1) when the
     * hook it serves ends; start the hook start.sh, whose log file setup.sh makes. */
    int go[2];
    struct hook *start;
    /* create of a warm pool container: runs instead of the reply (error NULL: it is up) */
    void (*done)(struct container *ct, const char *error);
    struct ct_op *next;
};

/* The op queue: ops of one container run one at a time, in order. */
struct ct_op *op_new(void (*run)(struct container *, struct ct_op *), struct req *r);
void op_submit(struct container *ct, struct ct_op *op);
void op_reply(struct ct_op *op, struct json_object *payload);
void op_error(struct ct_op *op, const char *msg);
/* The head op finished: free it and run the next one. ct must still be registered. */
void op_done(struct container *ct);
/* The head op ended by removing ct: free it, then lifecycle_remove(ct). */
void op_done_remove(struct container *ct);

/* Unregister ct (from the registry or the teardowns) in state destroyed, end its grace timer, watch
 * and jobs, release its pools and free it; queued ops get `unknown handle`. */
void lifecycle_remove(struct container *ct);
/* A connection referenced ct: cancel its grace timer. */
void ct_ref(struct container *ct, struct req *r);
/* Start the grace timer unless a connection references ct or it has none. */
void arm_grace(struct container *ct);
/* server_on_conn_closed's callback: one reference to the container serial is gone. */
void lifecycle_conn_closed(uint64_t serial);
/* wshd_watch_init's callback: ct's wshd died, and every process of ct with it. */
void lifecycle_wshd_exited(struct container *ct);
/* oom_init's callback: the kernel killed a process of ct for lack of memory. The event
 * `oom` is added (once), and an active ct is stopped at once (KILL, as `stop` with
 * `kill`: TERM would only wake processes with no memory to handle it). */
void lifecycle_oom(struct container *ct);

/* Park r until a teardown ends (destroy.sh, run after destroy replied, succeeded or
 * failed) or, with delay_ms >= 0, until delay_ms passed, whichever comes first; then
 * again(r) runs from the loop. A closed connection just drops it. wants_net: the /30
 * number r asks for by name, or < 0 (lifecycle_parked_wants). -1 when out of memory. */
int lifecycle_park(struct req *r, long long delay_ms, void (*again)(struct req *r), int wants_net,
                   struct w_error *err);
/* Does a parked request ask for /30 number net_index by name? */
int lifecycle_parked_wants(int net_index);

/* Argument checks of stop (the command table's check column). */
int lifecycle_check_stop(struct req *r, struct w_error *err);
/* The handlers: -1 with err when the request fails at once (the command layer replies),
 * else the op replies when it ends. */
int cmd_stop(struct req *r, struct container *ct, struct w_error *err);
int cmd_destroy(struct req *r, struct container *ct, struct w_error *err);

#endif
