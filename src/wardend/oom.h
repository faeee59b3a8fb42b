/* OOM events of containers with a memory limit, watched from wardend's loop. A watch
 * only tells; what an OOM does to the container is the caller's (a callback up). */
#ifndef W_OOM_H
#define W_OOM_H

#include "error.h"

struct container;

/* Called from the loop when the kernel's OOM killer has killed a process of ct since
 * its watch was armed (v1 `oom_kill` of memory.oom_control, v2 of memory.events). */
typedef void oom_cb(struct container *ct);

void oom_init(oom_cb *cb);
/* Arm the watch of ct's memory cgroup (idempotent). Must run before the limit is
 * written, so that no OOM goes unseen. since_start: count every kill the cgroup has
 * seen so far as new (after a restart, a kill while wardend was down), else only kills
 * from now on. */
int oom_watch(struct container *ct, int since_start, struct w_error *err);
/* Drop ct's watch, if any (destroy, free). */
void oom_unwatch(struct container *ct);

#endif
